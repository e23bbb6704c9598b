#!/usr/bin/env bats
# Nothing lost, whatever happens (#15): a failed run's retry is a new
# attempt linked to it (cosmos retry, cosmos-batch --retry-failed), only
# for reasons a new attempt may cure, up to a bound; and a batch killed
# while it is being made leaves nothing that --resume cannot finish.
# On the local backend, with the stand-in model to make runs slow or fail.

load helper

setup_file() {
	standin_local
	export STANDIN=$BATS_TEST_DIRNAME/standin/model
}

teardown() {
	standin_teardown
}

wait_all() { cosmos-sync --wait --interval 1 --timeout 60 "$@"; }

# A run of the stand-in model, sleeping until it is lost or finished.
slow_run() {
	echo 30 >"$STANDIN_STATE/model-sleep"
	cosmos-spec upscale --video "$CLIPS/full/color.mp4" | COSMOS_LOCAL_ENGINE=$STANDIN cosmos-submit | jq -r .id
}

# lose ID: its job killed behind our back, as a machine that went away;
# the sync then fails it as lost (remote_lost).
lose() {
	kill -KILL -- "-$(cat "$COSMOS_DIR/local/runs/$1.pid")"
	sleep 0.2
	cosmos-sync "$1" >/dev/null || true
}

# in_job ID WORDS: the pid of the process of ID's job whose command line
# holds WORDS.
in_job() {
	ps -o pid=,args= -g "$(cat "$COSMOS_DIR/local/runs/$1.pid")" | awk -v w="$2" 'index($0, w) { print $1; exit }'
}

@test "a lost run gets a new attempt, linked both ways, that completes; the failed run stays failed" {
	a=$(slow_run)
	lose "$a"
	assert_equal "$(jq -c '[.status, .reason_code]' "$COSMOS_DIR/runs/$a.json")" '["failed","remote_lost"]'
	rm "$STANDIN_STATE/model-sleep"
	run --separate-stderr cosmos retry "$a"
	assert_success
	assert_equal "${#lines[@]}" 1
	b=$(jq -r .id <<<"$output")
	assert_equal "$(jq -c '[.status, .retry_of, .attempt, .host]' <<<"$output")" "[\"submitted\",\"$a\",2,\"local\"]"
	assert_equal "$(jq -r .retried_by "$COSMOS_DIR/runs/$a.json")" "$b"
	run wait_all "$b"
	assert_success
	assert_equal "$(jq -r .status "$COSMOS_DIR/runs/$b.json")" completed
	assert_equal "$(jq -c '[.status, .reason_code]' "$COSMOS_DIR/runs/$a.json")" '["failed","remote_lost"]'
	# The latest attempt stands for the run in listings; --all-attempts shows both.
	assert_equal "$(cosmos-manifest | jq -r .id)" "$b"
	assert_equal "$(cosmos-manifest --all-attempts | jq -r .id | sort | tr '\n' ' ')" "$(printf '%s\n' "$a" "$b" | sort | tr '\n' ' ')"
	# Retried once, not twice; a completed run is not retried at all.
	before=$(store_snapshot)
	run --separate-stderr cosmos retry "$a" "$b"
	assert_failure 1
	assert_output ""
	assert_equal "$stderr" "cosmos-submit: argument 1: $a: already retried by $b (completed): not retried again
cosmos-submit: argument 2: $b: is completed, not failed: not retried"
	assert_equal "$(store_snapshot)" "$before"
}

@test "a model's own non-zero exit is not retried without --any; with it, even from a run kept before request.json" {
	echo 3 >"$STANDIN_STATE/model-exit"
	a=$(cosmos-spec upscale --video "$CLIPS/full/color.mp4" | COSMOS_LOCAL_ENGINE=$STANDIN cosmos-submit | jq -r .id)
	run wait_all "$a"
	assert_failure 1
	assert_equal "$(jq -c '[.status, .exit_code]' "$COSMOS_DIR/runs/$a.json")" '["failed",3]'
	rm "$STANDIN_STATE/model-exit"
	before=$(store_snapshot)
	run --separate-stderr cosmos-submit --retry "$a"
	assert_failure 1
	assert_output ""
	assert_equal "$stderr" "cosmos-submit: argument 1: $a: failed with reason exit_code, which a new attempt does not cure: not retried (--any retries it)"
	assert_equal "$(store_snapshot)" "$before"
	# A run recorded before runs kept their request: rebuilt from the record and spec.json.
	rm "$COSMOS_DIR/runs/$a/request.json"
	run --separate-stderr cosmos retry --any "$a"
	assert_success
	b=$(jq -r .id <<<"$output")
	assert_equal "$(jq -c '[.retry_of, .attempt]' <<<"$output")" "[\"$a\",2]"
	run wait_all "$b"
	assert_success
	assert_equal "$(jq -c '[.status, .exit_code]' "$COSMOS_DIR/runs/$b.json")" '["completed",0]'
}

@test "attempts are bounded: --max-attempts counts the whole chain" {
	a=$(slow_run)
	lose "$a"
	run cosmos retry --max-attempts 1 "$a"
	assert_failure 1
	assert_equal "$(jq -r .retried_by "$COSMOS_DIR/runs/$a.json")" null
	# Attempt 2 is lost too (started with the stand-in: still sleeping).
	b=$(COSMOS_LOCAL_ENGINE=$STANDIN cosmos retry --max-attempts 2 "$a" | jq -r .id)
	lose "$b"
	assert_equal "$(jq -c '[.status, .attempt]' "$COSMOS_DIR/runs/$b.json")" '["failed",2]'
	run --separate-stderr cosmos retry --max-attempts 2 "$b"
	assert_failure 1
	assert_equal "$stderr" "cosmos-submit: argument 1: $b: has had 2 attempts (--max-attempts 2): not retried"
	# The default bound is 3.
	c=$(COSMOS_LOCAL_ENGINE=$STANDIN cosmos retry "$b" | jq -r .id)
	lose "$c"
	run --separate-stderr cosmos retry "$c"
	assert_failure 1
	assert_equal "$stderr" "cosmos-submit: argument 1: $c: has had 3 attempts (--max-attempts 3): not retried"
	run cosmos-submit --retry --max-attempts 0 "$c"
	assert_failure 2
}

@test "--retry-failed retries a batch's failed children whose reason allows; counts and manifest show the latest attempts" {
	echo 30 >"$STANDIN_STATE/model-sleep"
	for i in 1 2 3; do cosmos-spec upscale --video "$CLIPS/full/color.mp4"; done >"$BATS_TEST_TMPDIR/reqs"
	bt=$(COSMOS_LOCAL_ENGINE=$STANDIN cosmos-batch --delay 0 <"$BATS_TEST_TMPDIR/reqs" | jq -r 'select(.event == "batch.started") | .batch_id')
	mapfile -t k < <(jq -r '.execution_config.child_run_ids[]' "$COSMOS_DIR/runs/$bt.json")
	# Child 0 wakes and completes; child 1's model dies (its own exit, 137);
	# child 2 is lost.
	kill -KILL "$(in_job "${k[0]}" 'sleep 30')"
	kill -KILL "$(in_job "${k[1]}" standin/model)"
	lose "${k[2]}"
	run wait_all "$bt"
	assert_failure 1
	assert_equal "$(jq -c .outputs.children "$COSMOS_DIR/runs/$bt.json")" '{"total":3,"completed":1,"failed":2,"cancelled":0}'
	rm "$STANDIN_STATE/model-sleep"
	run --separate-stderr cosmos-batch --retry-failed "$bt" --delay 0
	assert_failure 1
	assert_equal "$stderr" "cosmos-batch: $bt: child 1, ${k[1]}: failed with reason exit_code, which a new attempt does not cure: not retried (--any retries it)"
	assert_equal "$(jq -c '[.event, .resumed]' <<<"${lines[0]}")" '["batch.started",1]'
	n=$(jq -r 'select(.event == "batch.progress") | .run_id' <<<"$output")
	assert_equal "$(jq -c 'select(.event == "batch.progress") | [.index, .success]' <<<"$output")" '[2,true]'
	assert_equal "$(jq -c '[.retry_of, .attempt, .execution_config.batch_run_id, .execution_config.batch_index]' "$COSMOS_DIR/runs/$n.json")" \
		"[\"${k[2]}\",2,\"$bt\",2]"
	# The parent has the new attempt in the old one's place, and runs again.
	assert_equal "$(jq -c '[.status, .execution_config.child_run_ids]' "$COSMOS_DIR/runs/$bt.json")" \
		"[\"running\",[\"${k[0]}\",\"${k[1]}\",\"$n\"]]"
	assert_equal "$(jq -c .outputs.children "$COSMOS_DIR/runs/$bt.json")" '{"total":3,"completed":1,"failed":1,"cancelled":0}'
	run wait_all "$bt"
	assert_failure 1
	assert_equal "$(jq -c '[.status, .outputs.children]' "$COSMOS_DIR/runs/$bt.json")" \
		'["failed",{"total":3,"completed":2,"failed":1,"cancelled":0}]'
	assert_equal "$(cosmos-manifest --batch "$bt" | jq -r .id | tr '\n' ' ')" "${k[0]} ${k[1]} $n "
	assert_equal "$(cosmos-manifest --batch "$bt" --summary | jq -c '[.total, .completed, .failed]')" '[3,2,1]'
	assert_equal "$(cosmos-manifest --batch "$bt" --all-attempts --count)" 4
	# With --any the model's failure is retried too, and the batch completes.
	run cosmos retry --any "$bt"
	assert_success
	run wait_all "$bt"
	assert_success
	assert_equal "$(jq -c '[.status, .outputs.children.completed]' "$COSMOS_DIR/runs/$bt.json")" '["completed",3]'
}

@test "a batch killed at each record it makes: every child has its parent, and --resume finishes them" {
	for i in 1 2 3; do cosmos-spec upscale --video "$CLIPS/full/color.mp4"; done >"$BATS_TEST_TMPDIR/reqs"
	# Three children and a parent: four records made with link(2); the
	# kill comes instead of the Kth.
	for kth in 1 2 3 4; do
		export COSMOS_DIR=$BATS_TEST_TMPDIR/store-$kth
		run strace -o /dev/null -e trace=linkat -e "inject=linkat:error=EIO:signal=KILL:when=$kth" \
			cosmos-batch --delay 0 <"$BATS_TEST_TMPDIR/reqs"
		assert_failure 137
		parents=$(cosmos-manifest --type batch | jq -r .id)
		orphans=$(cosmos-manifest --type upscale | jq -r '.execution_config.batch_run_id' | sort -u | grep -vxF "${parents:-none}" || true)
		assert_equal "kill at $kth: orphans [$orphans]" "kill at $kth: orphans []"
		[ "$kth" -gt 1 ] || { assert_equal "$(cosmos-manifest --count)" 0; continue; }
		run cosmos-batch --resume "$parents" --delay 0
		assert_success
		run wait_all "$parents"
		assert_success
		assert_equal "$(cosmos-manifest --batch "$parents" --summary | jq -c '[.total, .completed]')" '[3,3]'
	done
}

@test "sixteen retries of one lost run at once: one new attempt, and none fails on another's temporary file" {
	# #22, finding 10: request.json was written through one shared
	# request.json.tmp, and a racing retry failed with ENOENT.
	a=$(slow_run)
	lose "$a"
	rm "$STANDIN_STATE/model-sleep"
	for i in $(seq 16); do cosmos retry "$a" >"$BATS_TEST_TMPDIR/out.$i" 2>"$BATS_TEST_TMPDIR/err.$i" & done
	wait
	run cat "$BATS_TEST_TMPDIR"/err.*
	refute_output --partial "No such file or directory"
	assert_equal "$(cat "$BATS_TEST_TMPDIR"/out.* | jq -r .id | sort -u | wc -l)" 1
	assert_equal "$(jq -r .retried_by "$COSMOS_DIR/runs/$a.json")" "$(cat "$BATS_TEST_TMPDIR"/out.* | jq -r .id | sort -u)"
	run find "$COSMOS_DIR/runs" -name '*.tmp' -o -name '.*.part*'
	assert_output ""
	run wait_all "$(jq -r .retried_by "$COSMOS_DIR/runs/$a.json")"
	assert_success
}

# #22 finding 1: a job's outputs once went into runs/<id>/ beside the
# store's request.json, so a model could write a request naming any file
# here, fail, and have `retry --any` upload it to the host.
@test "a model's outputs named request.json and spec.json land in runs/ID/outputs/; retry --any starts what the user asked, and never stages the model's file" {
	printf 'not for the host\n' >"$BATS_TEST_TMPDIR/secret.mp4"
	jq -nc --arg v "$BATS_TEST_TMPDIR/secret.mp4" \
		'{model_type: "upscale", execution_config: {input_video_source: $v}, spec: {input_video_path: $v, upscale: {control_weight: 0.5}}}' \
		>"$BATS_TEST_TMPDIR/forged"
	echo 3 >"$STANDIN_STATE/model-exit"
	echo "cp '$BATS_TEST_TMPDIR/forged' request.json; cp '$BATS_TEST_TMPDIR/forged' spec.json" >"$STANDIN_STATE/model-after"
	a=$(cosmos-spec upscale --video "$CLIPS/full/color.mp4" | COSMOS_LOCAL_ENGINE=$STANDIN cosmos-submit | jq -r .id)
	mine=$(cat "$COSMOS_DIR/runs/$a/request.json")
	run wait_all "$a"
	assert_failure 1
	assert_equal "$(cat "$COSMOS_DIR/runs/$a/request.json")" "$mine"
	assert_file_exists "$COSMOS_DIR/runs/$a/outputs/request.json"
	assert_equal "$(jq -r '.outputs.log' "$COSMOS_DIR/runs/$a.json")" "$COSMOS_DIR/runs/$a/outputs/run.log"
	rm "$STANDIN_STATE"/model-*
	run --separate-stderr cosmos retry --any "$a"
	assert_success
	b=$(jq -r .id <<<"$output")
	assert_equal "$(jq -c 'del(.run_id, .host)' "$COSMOS_DIR/runs/$b/request.json")" "$(jq -c 'del(.run_id, .host)' <<<"$mine")"
	run wait_all "$b"
	assert_success
	assert_equal "$(jq -r .outputs.video "$COSMOS_DIR/runs/$b.json")" "$COSMOS_DIR/runs/$b/outputs/output.mp4"
	# The secret's bytes were never staged for the host (inputs go there by content).
	run grep -rlF 'not for the host' "$COSMOS_DIR/local"
	assert_failure 1
}
