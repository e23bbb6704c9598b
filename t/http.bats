#!/usr/bin/env bats
# The http backend against a real HTTP server on loopback that speaks each
# provider's documented protocol (t/standin/videoapi.py; the facts and
# their sources are in its head and in cosmos(7)): Google's Gemini API
# for Veo (ai.google.dev/gemini-api/docs/video) and Replicate's
# predictions API (replicate.com/docs/reference/http).

load helper
load videoapi

setup_file() {
	videoapi_start
	export COSMOS_CONFIG="$VIDEOAPI_DIR/hosts"
	{
		videoapi_host gem gemini
		videoapi_host rep replicate generate_model=google/veo-3
		videoapi_host rep-paced replicate min_interval_ms=700
		videoapi_host rep-short replicate io_timeout=2
		videoapi_host rep-bad-key replicate "key_file=$VIDEOAPI_DIR/key"
		videoapi_host rep-no-key replicate "key_file=$VIDEOAPI_DIR/missing"
		videoapi_host gem-closed gemini url=http://127.0.0.1:1/v1beta
		videoapi_host rep-wide replicate "credential_hosts=127.0.0.1 localhost"
		videoapi_host gem-small gemini max_download_mb=1 io_timeout=2
	} >"$COSMOS_CONFIG"
	chmod 644 "$VIDEOAPI_DIR/key" # readable by others: refused as a key file
}

teardown_file() {
	videoapi_stop
}

setup() {
	export COSMOS_DIR="$BATS_TEST_TMPDIR/store"
	export CLIPS="$BATS_FILE_TMPDIR/clips"
	if [ ! -e "$CLIPS/full/color.mp4" ]; then
		mkdir -p "$CLIPS/full" && cp "$VIDEOAPI_DIR/video.mp4" "$CLIPS/full/color.mp4"
	fi
	videoapi_control '{"run_seconds": 0.3}'
	: >"$VIDEOAPI_DIR/requests.jsonl"
}

key() { cat "$VIDEOAPI_DIR/key"; }
wait_all() { cosmos-sync --wait --interval 1 --timeout 60 "$@"; }
record() {
	local id=$1
	shift
	jq -c "${@:-.}" "$COSMOS_DIR/runs/$id.json"
}

# The key appears in no file of the store, and only in the header of
# requests to the credential host.
key_kept_secret() {
	run grep -rF "$(key)" "$COSMOS_DIR"
	assert_failure
	run videoapi_requests "select(.host | startswith(\"127.0.0.1\") | not) | .headers | to_entries[] | select(.value | contains(\"$(key)\"))"
	assert_output ""
	run videoapi_requests "select(.path | contains(\"$(key)\"))"
	assert_output ""
}

@test "generate on gemini: the documented request, the operation polled, the video downloaded through the redirect" {
	run bash -c "cosmos-spec generate --aspect 16:9 --resolution 720p --duration 8 --negative blur 'a red kite over dunes' | cosmos-submit --host gem"
	assert_success
	id=$(jq -r .id <<<"$output")
	assert_equal "$(jq -r '[.status, .backend, .host, .model_type, .job.provider, .job.model] | join(" ")' <<<"$output")" \
		"submitted http gem generate gemini veo-3.1-generate-preview"
	assert_regex "$(jq -r .job.handle <<<"$output")" '^models/veo-3.1-generate-preview/operations/[a-z0-9]+$'
	# [doc G1]: one instance with the prompt; the rest are parameters.
	run videoapi_requests 'select(.method == "POST") | .path'
	assert_output '"/v1beta/models/veo-3.1-generate-preview:predictLongRunning"'
	run wait_all "$id"
	assert_success
	assert_equal "$(record "$id" '[.status, .outputs.files["output.mp4"] > 0] | join(" ")')" '"completed true"'
	cmp "$(record "$id" -r .outputs.video)" "$VIDEOAPI_DIR/video.mp4"
	# [doc G1b]: the key on the API host; the redirect's host gets no key.
	run videoapi_requests 'select(.provider == "delivery") | [.host, (.headers | has("x-goog-api-key") or has("authorization"))] | join(" ")'
	assert_output "\"localhost:$VIDEOAPI_PORT false\""
	run videoapi_requests 'select(.provider == "gemini") | .headers["x-goog-api-key"] == "'"$(key)"'"'
	refute_output --partial false
	key_kept_secret
}

@test "upscale on replicate: the file goes up once by content, the prediction runs, the output comes from the delivery host" {
	run bash -c "cosmos-spec upscale --video '$CLIPS/full/color.mp4' --param target_resolution=4k | cosmos-submit --host rep"
	assert_success
	id=$(jq -r .id <<<"$output")
	assert_regex "$(jq -r .job.handle <<<"$output")" '^[a-z0-9]+$'
	assert_equal "$(jq -r .job.model <<<"$output")" topazlabs/video-upscale
	run videoapi_requests 'select(.method == "POST") | .path'
	assert_output $'"/v1/files"\n"/v1/models/topazlabs/video-upscale/predictions"'
	run wait_all "$id"
	assert_success
	cmp "$(record "$id" -r .outputs.video)" "$VIDEOAPI_DIR/video.mp4"
	# The same file again: asked about, not sent again.
	run bash -c "cosmos-spec upscale --video '$CLIPS/full/color.mp4' | cosmos-submit --host rep"
	assert_success
	assert_equal "$(videoapi_requests 'select(.method == "POST" and .path == "/v1/files")' | wc -l)" 1
	# [doc R1]: output files come from another host; the token stays home.
	run videoapi_requests 'select(.provider == "delivery") | .headers | has("authorization")'
	assert_output false
	key_kept_secret
}

@test "a gemini video upscaled on replicate: generate, then upscale --from-run, each item checked before it is sent" {
	gen=$(cosmos-spec generate 'a lighthouse at dusk' | cosmos-submit --host gem | jq -r .id)
	# Not completed yet: refused by cosmos-spec, nothing sent.
	run cosmos-spec upscale --from-run "$gen"
	assert_failure 1
	assert_output --partial "not completed"
	wait_all "$gen"
	run cosmos upscale --from-run "$gen" --host rep --wait
	assert_success
	up=$(cosmos-manifest --type upscale | jq -r .id)
	assert_equal "$(record "$up" '[.status, .execution_config.source_run_id == "'"$gen"'"] | join(" ")')" '"completed true"'
}

@test "an upscale sent to gemini fails with the reason, before anything is sent; generate is refused where no hosted model runs" {
	run bash -c "cosmos-spec upscale --video '$CLIPS/full/color.mp4' | cosmos-submit --host gem"
	assert_failure 1
	assert_output --partial "gemini has no upscale of an existing video"
	id=$(cosmos-manifest | jq -r .id)
	assert_equal "$(record "$id" '[.status, .reason_code] | join(" ")')" '"failed bad_request"'
	run videoapi_requests
	assert_output ""
	run bash -c "cosmos-spec generate 'a cat' | cosmos-submit --host local"
	assert_failure 1
	assert_output --partial "does not generate from text"
}

@test "finished without a video is failed, never completed: filtered, failed, empty, removed, aborted" {
	videoapi_control '{"run_seconds": 0.3, "outcomes": ["filtered", "fail", "empty", "removed", "aborted"]}'
	ids=$(for i in 1 2 3 4 5; do cosmos-spec upscale --video "$CLIPS/full/color.mp4"; done | cosmos-submit --host rep | jq -r .id)
	run wait_all $ids
	assert_failure 1
	run cosmos-manifest --type upscale
	# [doc R1] E005 is the content filter; [doc R2] aborted is final.
	assert_equal "$(jq -r '.reason_code' <<<"$output" | sort | tr '\n' ' ')" \
		"aborted filtered provider_error provider_error remote_lost "
	refute_output --partial '"status":"completed"'
	assert_equal "$(cosmos-manifest --reason-code filtered | jq -r .reason)" \
		"replicate: The input or output was flagged as sensitive. Please try again with different inputs. (E005)"
	# gemini [issue I1]: done, raiMediaFilteredCount, no samples.
	id=$(cosmos-spec generate 'a storm [filtered]' | cosmos-submit --host gem | jq -r .id)
	run wait_all "$id"
	assert_failure 1
	assert_equal "$(record "$id" .reason_code)" '"filtered"'
	assert_regex "$(record "$id" -r .reason)" "^filtered by gemini's safety filters: "
}

@test "429: waits as the answer says (body or Retry-After), then succeeds; a daily quota fails at once; too many waits fail rate_limited" {
	videoapi_control '{"run_seconds": 0.3, "submit_faults": [{"status": 429, "retry_after": 1}, {"status": 429, "retry_after": 1, "header": true}]}'
	run bash -c "cosmos-spec generate 'a fox' | cosmos-submit --host gem"
	assert_success
	run videoapi_requests 'select(.method == "POST") | .t'
	assert_equal "${#lines[@]}" 3
	# Each retry a second or more after the one before (server's own clock).
	run jq -n --argjson t "[$(echo "${lines[*]}" | tr ' ' ',')]" '($t[1] - $t[0]) >= 1 and ($t[2] - $t[1]) >= 1'
	assert_output true
	: >"$VIDEOAPI_DIR/requests.jsonl"
	videoapi_control '{"submit_faults": [{"status": 429, "daily": true}]}'
	run bash -c "cosmos-spec generate 'a fox' | cosmos-submit --host gem"
	assert_failure 5
	id=$(cosmos-manifest --status failed | jq -r .id)
	assert_equal "$(record "$id" .reason_code)" '"quota_exhausted"'
	assert_equal "$(videoapi_requests 'select(.method == "POST")' | wc -l)" 1
	: >"$VIDEOAPI_DIR/requests.jsonl"
	videoapi_control '{"submit_faults": [{"status": 429, "retry_after": 0}, {"status": 429, "retry_after": 0}, {"status": 429, "retry_after": 0}, {"status": 429, "retry_after": 0}, {"status": 429, "retry_after": 0}, {"status": 429, "retry_after": 0}]}'
	run bash -c "cosmos-spec upscale --video '$CLIPS/full/color.mp4' | cosmos-submit --host rep"
	assert_failure 5
	assert_equal "$(cosmos-manifest --reason-code rate_limited --count)" 1
	assert_equal "$(videoapi_requests 'select(.method == "POST" and (.path | endswith("predictions")))' | wc -l)" 6
}

@test "retry on an http host: rate_limited gets a new attempt there that completes; quota_exhausted does not; the key stays out" {
	videoapi_control '{"run_seconds": 0.3, "submit_faults": [{"status": 429, "retry_after": 0}, {"status": 429, "retry_after": 0}, {"status": 429, "retry_after": 0}, {"status": 429, "retry_after": 0}, {"status": 429, "retry_after": 0}, {"status": 429, "retry_after": 0}]}'
	run bash -c "cosmos-spec generate 'a fox' | cosmos-submit --host rep"
	assert_failure 5
	a=$(cosmos-manifest --reason-code rate_limited | jq -r .id)
	videoapi_control '{"run_seconds": 0.3}'
	run --separate-stderr cosmos retry "$a"
	assert_success
	b=$(jq -r .id <<<"$output")
	assert_equal "$(jq -c '[.status, .host, .backend, .retry_of, .attempt]' <<<"$output")" "[\"submitted\",\"rep\",\"http\",\"$a\",2]"
	run wait_all "$b"
	assert_success
	assert_equal "$(record "$b" .status)" '"completed"'
	assert_equal "$(record "$a" '[.status, .reason_code, .retried_by]')" "[\"failed\",\"rate_limited\",\"$b\"]"
	# A daily quota is not cured by trying again.
	videoapi_control '{"submit_faults": [{"status": 429, "daily": true}]}'
	run bash -c "cosmos-spec generate 'a fox' | cosmos-submit --host gem"
	assert_failure 5
	q=$(cosmos-manifest --reason-code quota_exhausted | jq -r .id)
	run --separate-stderr cosmos retry "$q"
	assert_failure 1
	assert_equal "$stderr" "cosmos-submit: argument 1: $q: failed with reason quota_exhausted, which a new attempt does not cure: not retried (--any retries it)"
	key_kept_secret
}

@test "a 5xx is retried; a connection that never opened is retried, then the host is unavailable" {
	videoapi_control '{"run_seconds": 0.3, "submit_faults": [{"status": 503}, {"status": 500}]}'
	run bash -c "cosmos-spec generate 'a heron' | cosmos-submit --host gem"
	assert_success
	assert_equal "$(videoapi_requests 'select(.method == "POST")' | wc -l)" 3
	run bash -c "cosmos-spec generate 'a heron' | cosmos-submit --host gem-closed"
	assert_failure 4
	assert_output --partial "cannot reach the provider"
	id=$(cosmos-manifest --status failed | jq -r .id)
	assert_equal "$(record "$id" .reason_code)" '"provider_error"'
}

@test "a submit whose answer is lost after it was sent fails submit_unknown, and is never sent again" {
	videoapi_control '{"submit_faults": [{"hang": 4}]}'
	run bash -c "cosmos-spec upscale --video '$CLIPS/full/color.mp4' | cosmos-submit --host rep-short"
	assert_failure 1
	id=$(cosmos-manifest | jq -r .id)
	assert_equal "$(record "$id" '[.status, .reason_code] | join(" ")')" '"failed submit_unknown"'
	assert_equal "$(videoapi_requests 'select(.path | endswith("predictions"))' | wc -l)" 1
}

@test "an operation the provider forgot, or a video it no longer has, is failed remote_lost; a poll that errors changes nothing" {
	id=$(cosmos-spec generate 'a bridge' | cosmos-submit --host gem | jq -r .id)
	videoapi_control '{"poll_faults": [{"status": 500}]}'
	before=$(record "$id")
	run cosmos-sync "$id"
	assert_failure 5
	assert_equal "$(record "$id")" "$before"
	videoapi_control '{"poll_faults": [{"status": 404}]}'
	run cosmos-sync "$id"
	assert_equal "$(record "$id" '[.status, .reason_code] | join(" ")')" '"failed remote_lost"'
	# Expired before it was fetched (gemini keeps videos 2 days [doc G1]).
	id=$(cosmos-spec generate 'a bridge [expired]' | cosmos-submit --host gem | jq -r .id)
	run wait_all "$id"
	assert_failure 1
	assert_equal "$(record "$id" '[.status, .reason_code] | join(" ")')" '"failed remote_lost"'
	# Status never goes back: a later sync leaves it alone.
	run cosmos-sync "$id"
	assert_output ""
}

@test "the key: a key file others can read is refused, a missing one fails the item; neither sends anything" {
	run bash -c "cosmos-spec upscale --video '$CLIPS/full/color.mp4' | cosmos-submit --host rep-bad-key"
	assert_failure 4
	assert_output --partial "others may read or write it: chmod 600 it"
	refute_output --partial "$(key)"
	run bash -c "cosmos-spec generate --model google/veo-3 'x' | cosmos-submit --host rep-no-key"
	assert_failure 4
	assert_output --partial "missing: No such file or directory"
	assert_equal "$(cosmos-manifest --reason-code auth --count)" 2
	run videoapi_requests
	assert_output ""
}

@test "the key is in no argv while a request is in flight, in no record, log, message or URL" {
	videoapi_control '{"submit_faults": [{"hang": 3}]}'
	cosmos-spec upscale --video "$CLIPS/full/color.mp4" >"$BATS_TEST_TMPDIR/req"
	cosmos-submit --host rep <"$BATS_TEST_TMPDIR/req" >"$BATS_TEST_TMPDIR/out" 2>"$BATS_TEST_TMPDIR/err" &
	pid=$!
	for i in $(seq 50); do [ "$(videoapi_requests 'select(.path | endswith("predictions"))' | wc -l)" = 1 ] && break; sleep 0.1; done
	run ps -eo args
	refute_output --partial "$(key)"
	run cat "/proc/$pid/cmdline" "/proc/$pid/environ"
	refute_output --partial "$(key)"
	wait "$pid"
	run cat "$BATS_TEST_TMPDIR/out" "$BATS_TEST_TMPDIR/err"
	refute_output --partial "$(key)"
	key_kept_secret
}

@test "credentials go only to credential hosts: a redirect to another host gets no key unless that host is listed" {
	id=$(cosmos-spec generate 'a wave' | cosmos-submit --host gem | jq -r .id)
	wait_all "$id"
	run videoapi_requests 'select(.provider == "delivery") | .headers | has("x-goog-api-key")'
	assert_output false
	# Listed (a proxy the user trusts): then it goes.
	: >"$VIDEOAPI_DIR/requests.jsonl"
	id=$(cosmos-spec upscale --video "$CLIPS/full/color.mp4" | cosmos-submit --host rep-wide | jq -r .id)
	wait_all "$id"
	run videoapi_requests 'select(.provider == "delivery") | .headers.authorization == "Bearer '"$(key)"'"'
	assert_output true
}

@test "a hosts file that would send a key in the clear, or to a host not its own, is refused with the key named" {
	cfg=$BATS_TEST_TMPDIR/hosts
	printf '[h]\nbackend = http\nprovider = gemini\nkey_file = /k\nurl = http://example.com/v1beta\n' >"$cfg"
	run env COSMOS_CONFIG="$cfg" cosmos generate 'x' --host h
	assert_failure
	assert_output --partial "neither https nor http to this machine"
	# Loopback is the IP literals 127.0.0.0/8 and ::1 and the name
	# localhost, not a name that begins with "127." (#22, finding 7).
	for url in http://127.example.invalid/v1beta http://127.0.0.1.nip.io/v1beta http://[::2]/v1beta; do
		printf '[h]\nbackend = http\nprovider = gemini\nkey_file = /k\nurl = %s\ncredential_hosts = *\n' "$url" >"$cfg"
		run env COSMOS_CONFIG="$cfg" cosmos generate 'x' --host h
		assert_failure
		assert_output --partial "'$url' is neither https nor http to this machine"
	done
	printf '[h]\nbackend = http\nprovider = gemini\nkey_file = /k\nurl = https://proxy.example.com/v1beta\n' >"$cfg"
	run env COSMOS_CONFIG="$cfg" cosmos generate 'x' --host h
	assert_output --partial "the url's host proxy.example.com is not in credential_hosts (generativelanguage.googleapis.com)"
	printf '[h]\nbackend = http\nprovider = flow\nkey_file = /k\n' >"$cfg"
	run env COSMOS_CONFIG="$cfg" cosmos generate 'x' --host h
	assert_output --partial "provider is not gemini or replicate"
	printf '[h]\nbackend = http\nprovider = gemini\nmin_interval_ms = -5\n' >"$cfg"
	run env COSMOS_CONFIG="$cfg" cosmos generate 'x' --host h
	assert_output --partial "$cfg:4: min_interval_ms: '-5' is not a number of milliseconds"
	assert_equal "$(cosmos-manifest --count)" 0
}

@test "a video without end is cut at max_download_mb and fails the run; a trickle fails the download, not the run; no part is left" {
	# #22, finding 6: an endless body was written without bound (11 GB in
	# 45 s), and only a 1 byte/s stall failed a download.  The server
	# stops either by itself after 40 s; these must end well before.
	videoapi_control '{"run_seconds": 0.3, "blob": "endless"}'
	id=$(cosmos-spec generate 'a red kite' | cosmos-submit --host gem-small | jq -r .id)
	run timeout 20 cosmos-sync --wait --interval 1 "$id"
	assert_failure 1
	assert_equal "$(record "$id" -r '[.status, .reason_code, .reason] | join(" ")')" \
		"failed download_failed download of output.mp4: the video is larger than the host's max_download_mb (1 MB)"
	run find "$COSMOS_DIR" -name '.*part*'
	assert_output ""
	videoapi_control '{"run_seconds": 0.3, "blob": "trickle"}'
	id=$(cosmos-spec generate 'a blue kite' | cosmos-submit --host gem-small | jq -r .id)
	sleep 1 # the operation done: the next sync downloads
	run timeout 20 cosmos-sync "$id"
	assert_failure 5
	assert_output --partial "the video came slower than 1024 bytes a second for 2 s"
	assert_equal "$(record "$id" -r .status)" submitted # not judged: the next sync tries again
	run find "$COSMOS_DIR" -name '.*part*'
	assert_output ""
	videoapi_control '{"run_seconds": 0.3}'
	run timeout 20 cosmos-sync --wait --interval 1 "$id"
	assert_success
	assert_equal "$(record "$id" -r .status)" completed
}

@test "cosmos kill: replicate cancels at the provider; gemini, which cannot, is cancelled here with a reason that says so" {
	id=$(cosmos-spec generate 'a slow river [slow]' | cosmos-submit --host rep | jq -r .id)
	run cosmos kill "$id"
	assert_success
	assert_equal "$(record "$id" .status)" '"cancelled"'
	run curl -s "$VIDEOAPI_URL/_control/operations"
	assert_equal "$(jq -r --arg h "$(record "$id" -r .job.handle)" '.[] | select(.id == $h) | .status' <<<"$output")" canceled
	id=$(cosmos-spec generate 'a slow river [slow]' | cosmos-submit --host gem | jq -r .id)
	run cosmos kill "$id"
	assert_success
	assert_equal "$(record "$id" -r .reason)" \
		"cancelled by the user; cancelled here only: gemini has no cancel, so the operation may still finish and be billed"
	run cosmos-sync "$id"
	assert_output ""
}

@test "min_interval_ms spaces submits to a host across processes (on the server's clock)" {
	for p in 1 2; do
		{ cosmos-spec upscale --video "$CLIPS/full/color.mp4"; cosmos-spec upscale --video "$CLIPS/full/color.mp4"; } |
			cosmos-submit --host rep-paced >/dev/null &
	done
	wait
	run videoapi_requests 'select(.method == "POST" and (.path | endswith("predictions"))) | .t'
	assert_equal "${#lines[@]}" 4
	run jq -s '[range(1; length) as $i | .[$i] - .[$i-1]] | min >= 0.7' <<<"$output"
	assert_output true
}

@test "a batch of five upscales with one invalid source and one filtered: events in order, counts right, the batch goes on" {
	gen=$(cosmos-spec generate 'a meadow' | cosmos-submit --host gem | jq -r .id)
	wait_all "$gen"
	videoapi_control '{"run_seconds": 0.3, "outcomes": ["ok", "filtered", "ok", "ok"]}'
	cp "$CLIPS/full/color.mp4" "$BATS_TEST_TMPDIR/gone.mp4"
	{
		cosmos-spec upscale --from-run "$gen"
		cosmos-spec upscale --video "$CLIPS/full/color.mp4"
		cosmos-spec upscale --video "$BATS_TEST_TMPDIR/gone.mp4"
		cosmos-spec upscale --video "$CLIPS/full/color.mp4"
		cosmos-spec upscale --video "$CLIPS/full/color.mp4"
	} >"$BATS_TEST_TMPDIR/reqs"
	rm "$BATS_TEST_TMPDIR/gone.mp4" # gone before it is sent
	run --separate-stderr cosmos-batch --host rep <"$BATS_TEST_TMPDIR/reqs"
	assert_failure 1
	assert_equal "$(jq -r .event <<<"$output" | tr '\n' ' ')" \
		"batch.started batch.progress batch.progress batch.progress batch.progress batch.progress batch.completed "
	assert_equal "$(jq -r 'select(.event == "batch.progress") | "\(.index) \(.success)"' <<<"$output" | tr '\n' ,)" \
		"0 true,1 true,2 false,3 true,4 true,"
	# Progress names the source run and the provider's operation.
	assert_equal "$(jq -r 'select(.index == 0) | .source_run_id' <<<"$output")" "$gen"
	assert_regex "$(jq -r 'select(.index == 1) | .operation' <<<"$output")" '^[a-z0-9]+$'
	assert_equal "$(jq -r 'select(.event == "batch.completed") | "\(.success_count) \(.failure_count)"' <<<"$output")" "4 1"
	b=$(jq -r .batch_id <<<"${lines[0]}")
	run cosmos-sync --wait --interval 1 --timeout 60 "$b"
	assert_failure 1
	run cosmos-manifest --type upscale
	assert_equal "$(jq -r .status <<<"$output" | sort | uniq -c | tr -s ' ' | tr '\n' ';')" " 3 completed; 2 failed;"
	assert_equal "$(cosmos-manifest --type upscale --reason-code filtered --count)" 1
}

@test "sync of many operations: one connection, the list endpoint page by page, finished ones read whole" {
	videoapi_control '{"run_seconds": 30, "page_size": 2}'
	ids=$(for i in 1 2 3 4 5; do cosmos-spec generate "a cloud $i [slow]"; done | cosmos-submit --host rep | jq -r .id)
	: >"$VIDEOAPI_DIR/requests.jsonl"
	run env COSMOS_HTTP_STATS=1 cosmos-sync $ids
	assert_success
	assert_line "cosmos-sync: http: rep: 1 connections, 3 requests"
	run videoapi_requests '.conn'
	assert_equal "$(sort -u <<<"$output" | wc -l)" 1
	run videoapi_requests '.path'
	refute_output --regexp '/v1/predictions/[a-z0-9]+"'
	for h in $(for i in $ids; do record "$i" -r .job.handle; done); do curl -s -X POST "$VIDEOAPI_URL/_control/finish/$h" >/dev/null; done
	run env COSMOS_HTTP_STATS=1 cosmos-sync $ids
	assert_success
	assert_equal "$(cosmos-manifest --status completed --count)" 5
}

@test "cosmos logs shows a replicate prediction's log; gemini says it keeps none" {
	id=$(cosmos-spec generate 'a comet' | cosmos-submit --host rep | jq -r .id)
	wait_all "$id"
	run cosmos-sync --log "$id"
	assert_success
	assert_output --partial "frame"
}

@test "a batch killed mid-way and resumed: every child's operation is created exactly once" {
	for i in 1 2 3 4 5; do cosmos-spec upscale --video "$CLIPS/full/color.mp4"; done >"$BATS_TEST_TMPDIR/reqs"
	setsid cosmos-batch --host rep-paced <"$BATS_TEST_TMPDIR/reqs" >"$BATS_TEST_TMPDIR/events" 2>/dev/null &
	pid=$!
	posts() { videoapi_requests 'select(.method == "POST" and (.path | endswith("/predictions")))' | wc -l; }
	for i in $(seq 100); do [ "$(posts)" -ge 2 ] && break; sleep 0.1; done
	kill -KILL -- "-$pid" # the batch and its cosmos-submit, mid-way
	wait "$pid" || true
	b=$(head -n 1 "$BATS_TEST_TMPDIR/events" | jq -r .batch_id)
	run cosmos-batch --resume "$b" --delay 0
	assert_success
	assert_equal "$(posts)" 5
	run cosmos-batch --resume "$b" --delay 0
	assert_equal "$(posts)" 5
	run cosmos-sync --wait --interval 1 --timeout 60 "$b"
	assert_success
	assert_equal "$(cosmos-manifest --batch "$b" | jq -r .job.handle | sort -u | wc -l)" 5
	assert_equal "$(record "$b" -r .status)" completed
}

@test "--async: the batch goes on after the terminal is gone" {
	for i in 1 2 3; do cosmos-spec upscale --video "$CLIPS/full/color.mp4"; done >"$BATS_TEST_TMPDIR/reqs"
	run setsid bash -c "cosmos-batch --async --host rep-paced <'$BATS_TEST_TMPDIR/reqs'"
	assert_success
	b=$(jq -r .id <<<"$output")
	run timeout 30 cosmos-batch --follow "$b"
	assert_success
	assert_equal "$(jq -r 'select(.event == "batch.completed") | .success_count' <<<"$output")" 3
	run cosmos-sync --wait --interval 1 --timeout 60 "$b"
	assert_success
	assert_equal "$(cosmos-manifest --batch "$b" --status completed --count)" 3
}

@test "a submit cut off by a kill is never sent twice: after 'sending' it fails submit_unknown; after the answer it keeps the handle" {
	for mark in sending "handle abc123"; do
		id=$(make_run pending '.model_type = "upscale"')
		mkdir -p "$COSMOS_DIR/runs/$id"
		printf '%s\n' "$mark" >"$COSMOS_DIR/runs/$id/.submit"
		cosmos-spec upscale --video "$CLIPS/full/color.mp4" | jq -c --arg id "$id" '.run_id = $id' |
			cosmos-submit --host rep >/dev/null 2>&1 || true
	done
	run cosmos-manifest
	assert_equal "$(jq -r '[.status, .reason_code // .job.handle] | join(" ")' <<<"$output" | sort | tr '\n' ,)" \
		"failed submit_unknown,submitted abc123,"
	run videoapi_requests 'select(.method == "POST" and (.path | endswith("/predictions")))'
	assert_output ""
}

@test "a run whose submit died after the provider answered is adopted by the next sync (its handle was kept)" {
	id=$(cosmos-spec generate 'an owl' | cosmos-submit --host gem | jq -r .id)
	handle=$(record "$id" -r .job.handle)
	orphan "$id"
	run wait_all "$id"
	assert_success
	assert_equal "$(record "$id" -r '[.status, .job.handle, .job.adopted] | join(" ")')" "completed $handle true"
	assert_equal "$(videoapi_requests 'select(.method == "POST")' | wc -l)" 1
}
