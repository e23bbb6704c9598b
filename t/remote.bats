#!/usr/bin/env bats
# cosmos-submit and cosmos-sync against a real sshd on 127.0.0.1 whose
# docker is a stand-in running our real remote scripts (t/sshd.bash).

load helper
load sshd

setup_file() {
	sshd_start
}

teardown_file() {
	sshd_stop
}

teardown() {
	standin_model clear
}

work() { echo "$SSHD_DIR/work"; }

# submit_one: stdin request -> the submitted record on stdout
submit_one() {
	cosmos-submit | tee "$BATS_TEST_TMPDIR/submitted" | tail -n 1
}

wait_all() {
	cosmos-sync --wait --interval 1 --timeout 60 "$@"
}

accepted() { grep -c 'Accepted publickey' "$SSHD_DIR/sshd.log" || true; }

@test "transfer: submitted as cosmos_transfer_<id[:8]>, the model gets the spec, sync completes and downloads" {
	p=$(make_prompt "a robot arm" "$CLIPS/full")
	run bash -c "cosmos-spec transfer --weights vis=0.6,depth=0.4 --seed 7 $p | cosmos-submit"
	assert_success
	rec=$output
	id=$(jq -r .id <<<"$rec")
	assert_equal "$(jq -r '[.status, .backend, .host, .prompt_id, .job.handle] | join(" ")' <<<"$rec")" \
		"submitted docker testhost $p cosmos_transfer_${id:0:8}"
	run wait_all "$id"
	assert_success
	assert_equal "$(jq -r .status <<<"${lines[-1]}")" completed
	assert_equal "$(jq -r .exit_code <<<"${lines[-1]}")" 0
	# What the model read: our spec, with inputs by content on the host.
	used=$(work)/outputs/run_$id/spec_used.json
	sha=$(sha256sum "$CLIPS/full/color.mp4" | cut -c1-64)
	assert_equal "$(jq -c . "$used")" "$(jq -c --arg v "cas/$sha.mp4" '
		{prompt:"a robot arm", input_video_path:$v, vis:{control_weight:0.6},
		 depth:{control_weight:0.4, input_control:$v}, num_steps:35, guidance:5, seed:7,
		 fps:24, sigma_max:70, blur_strength:"medium", canny_threshold:"medium"}' <<<null)"
	assert_equal "$(sed -n 4,5p "$(work)/outputs/run_$id/model_args" | tr '\n' ' ')" "--num_steps 35 "
	grep -qx -- '--seed' "$(work)/outputs/run_$id/model_args"
	# Downloaded, at the size the host had.
	out=$COSMOS_DIR/runs/$id/outputs/output.mp4
	assert_equal "$(stat -c %s "$out")" "$(stat -c %s "$(work)/outputs/run_$id/output.mp4")"
	assert_equal "$(jq -r .outputs.video "$COSMOS_DIR/runs/$id.json")" "$out"
	tail -n 1 "$COSMOS_DIR/runs/$id/outputs/run.log" | grep -qx '\[COSMOS_COMPLETE\] exit_code=0'
}

@test "upscale from a run: no upload, the run's output on the host; prompt only when given; 3840x2112" {
	p=$(make_prompt "a robot arm" "$CLIPS/full")
	src=$(cosmos-spec transfer "$p" | submit_one | jq -r .id)
	wait_all "$src" >/dev/null
	up=$(cosmos-spec upscale --from-run "$src" --prompt "crisp" --weight 0.7 | submit_one)
	id=$(jq -r .id <<<"$up")
	assert_equal "$(jq -r '.job.uploaded_bytes' <<<"$up")" 0
	assert_equal "$(jq -r '.execution_config.source_run_id' <<<"$up")" "$src"
	run wait_all "$id"
	assert_success
	assert_equal "$(jq -c . "$(work)/outputs/run_$id/spec_used.json")" \
		"{\"input_video_path\":\"outputs/run_$src/output.mp4\",\"upscale\":{\"control_weight\":0.7},\"num_steps\":10,\"prompt\":\"crisp\"}"
	run ffprobe -v error -select_streams v:0 -show_entries stream=width,height -of csv=p=0 \
		"$COSMOS_DIR/runs/$id/outputs/output.mp4"
	assert_output 3840,2112
}

@test "upscale from a file, without a prompt: the spec has no prompt key" {
	id=$(cosmos-spec upscale --video "$CLIPS/color-only/color.mp4" | submit_one | jq -r .id)
	run wait_all "$id"
	assert_success
	sha=$(sha256sum "$CLIPS/color-only/color.mp4" | cut -c1-64)
	assert_equal "$(jq -c . "$(work)/outputs/run_$id/spec_used.json")" \
		"{\"input_video_path\":\"cas/$sha.mp4\",\"upscale\":{\"control_weight\":0.5},\"num_steps\":10}"
}

@test "an input goes up once: the second run on the same video uploads 0 bytes" {
	cp "$CLIPS/full/color.mp4" "$BATS_TEST_TMPDIR/fresh.mp4"
	printf 'x' >>"$BATS_TEST_TMPDIR/fresh.mp4" # content no other test has sent
	first=$(cosmos-spec upscale --video "$BATS_TEST_TMPDIR/fresh.mp4" | submit_one)
	second=$(cosmos-spec upscale --video "$BATS_TEST_TMPDIR/fresh.mp4" | submit_one)
	assert_equal "$(jq -r .job.uploaded_bytes <<<"$first")" "$(stat -c %s "$BATS_TEST_TMPDIR/fresh.mp4")"
	assert_equal "$(jq -r .job.uploaded_bytes <<<"$second")" 0
	wait_all >/dev/null
}

@test "a large input over a link with latency goes up in two SFTP lanes, each its own part, and arrives whole" {
	# Through t/bench/relay.py, 3 ms each way: a round trip long enough
	# for a second lane (on bare loopback one lane is used).
	python3 "$BATS_TEST_DIRNAME/bench/relay.py" "$BATS_TEST_TMPDIR/relay.port" "$SSHD_PORT" 3 &
	relay_pid=$!
	for _ in $(seq 50); do [ -s "$BATS_TEST_TMPDIR/relay.port" ] && break; sleep 0.1; done
	relay=$(cat "$BATS_TEST_TMPDIR/relay.port")
	sed "s/^port = $SSHD_PORT\$/port = $relay/; s|^known_hosts = .*|known_hosts = $BATS_TEST_TMPDIR/known_hosts|" \
		"$SSHD_DIR/hosts" >"$BATS_TEST_TMPDIR/hosts"
	sed "s/^\[127.0.0.1\]:$SSHD_PORT /[127.0.0.1]:$relay /" "$SSHD_DIR/known_hosts" >"$BATS_TEST_TMPDIR/known_hosts"
	big=$BATS_TEST_TMPDIR/big.mp4
	cp "$CLIPS/full/color.mp4" "$big"
	head -c $((17 * 1048576 + 12345)) /dev/urandom >>"$big" # odd-sized, over the two-lane size
	lanes0=$(grep -c "subsystem 'sftp'" "$SSHD_DIR/sshd.log" || true)
	rec=$(cosmos-spec upscale --video "$big" | COSMOS_CONFIG=$BATS_TEST_TMPDIR/hosts submit_one)
	kill "$relay_pid"
	assert_equal "$(( $(grep -c "subsystem 'sftp'" "$SSHD_DIR/sshd.log") - lanes0 ))" 2
	assert_equal "$(jq -r .job.uploaded_bytes <<<"$rec")" "$(stat -c %s "$big")"
	sum=$(sha256sum "$big" | cut -c1-64)
	assert_equal "$(sha256sum "$(work)/cas/$sum.mp4" | cut -c1-64)" "$sum"
	refute [ -n "$(find "$(work)/cas" -name '*.part*')" ]
	wait_all >/dev/null
}

@test "enhance replaces the prompt's text and keeps the old one; --create-new makes a child prompt" {
	p=$(make_prompt "a cube" "$CLIPS/full")
	id=$(cosmos-spec enhance "$p" | submit_one | jq -r .id)
	run wait_all "$id"
	assert_success
	enhanced="a cube, in rich detail, with soft cinematic light"
	assert_equal "$(jq -r .outputs.enhanced_prompt "$COSMOS_DIR/runs/$id.json")" "$enhanced"
	assert_equal "$(jq -c '[.prompt_text, .previous_texts, .enhanced]' "$COSMOS_DIR/prompts/$p.json")" \
		"[\"$enhanced\",[\"a cube\"],true]"

	q=$(make_prompt "a ball" "$CLIPS/full")
	id=$(cosmos-spec enhance --create-new "$q" | submit_one | jq -r .id)
	run wait_all "$id"
	assert_success
	new=$(jq -r .outputs.enhanced_prompt_id "$COSMOS_DIR/runs/$id.json")
	assert_equal "$(jq -c '[.prompt_text, .parent_prompt_id, .enhanced]' "$COSMOS_DIR/prompts/$new.json")" \
		"[\"a ball, in rich detail, with soft cinematic light\",\"$q\",true]"
	assert_equal "$(jq -r .prompt_text "$COSMOS_DIR/prompts/$q.json")" "a ball"
	assert_line --partial "\"parent_prompt_id\":\"$q\""
}

@test "a model that exits 3 gives failed with exit code 3 and the log" {
	standin_model exit 3
	id=$(cosmos-spec upscale --video "$CLIPS/full/color.mp4" | submit_one | jq -r .id)
	run wait_all "$id"
	assert_failure 1
	assert_equal "$(jq -c '[.status, .exit_code]' "$COSMOS_DIR/runs/$id.json")" '["failed",3]'
	grep -q 'exit_code=3' "$COSMOS_DIR/runs/$id/outputs/run.log"
}

@test "a container removed behind our back is failed, reason lost" {
	standin_model sleep 30
	rec=$(cosmos-spec upscale --video "$CLIPS/full/color.mp4" | submit_one)
	id=$(jq -r .id <<<"$rec")
	STANDIN_STATE=$SSHD_DIR/state "$SSHD_DIR/bin/docker" rm -f "$(jq -r .job.handle <<<"$rec")"
	run cosmos-sync "$id"
	assert_success
	assert_equal "$(jq -r .status <<<"$output")" failed
	assert_equal "$(jq -r .reason <<<"$output")" "lost: the container is gone and left no completion marker"
}

@test "a container state sync does not know is failed, never completed" {
	standin_model sleep 30
	rec=$(cosmos-spec upscale --video "$CLIPS/full/color.mp4" | submit_one)
	id=$(jq -r .id <<<"$rec")
	echo weird >"$SSHD_DIR/state/c/$(jq -r .job.handle <<<"$rec")/status"
	run cosmos-sync "$id"
	assert_equal "$(jq -r '[.status, .reason] | join(": ")' <<<"$output")" "failed: unknown container state 'weird'"
	cosmos-sync --cancel "$id" || true # stop it; already failed
}

@test "cancel stops the container and the run is cancelled; cancelling again is an error" {
	standin_model sleep 30
	rec=$(cosmos-spec upscale --video "$CLIPS/full/color.mp4" | submit_one)
	id=$(jq -r .id <<<"$rec")
	name=$(jq -r .job.handle <<<"$rec")
	run cosmos-sync --cancel "$id"
	assert_success
	assert_equal "$(jq -r '[.status, .reason] | join(": ")' <<<"$output")" "cancelled: cancelled by the user"
	run env STANDIN_STATE="$SSHD_DIR/state" "$SSHD_DIR/bin/docker" ps
	refute_output --partial "$name"
	run cosmos-sync --cancel "$id"
	assert_failure 1
	assert_output "cosmos-sync: $id: already cancelled"
	# A sync afterwards leaves it cancelled.
	run cosmos-sync "$id"
	assert_output ""
}

@test "logs: --log prints the log; --log --follow follows until the run ends" {
	standin_model sleep 2
	id=$(cosmos-spec upscale --video "$CLIPS/full/color.mp4" | submit_one | jq -r .id)
	run timeout 30 cosmos-sync --log --follow "$id"
	assert_success
	assert_line --partial "[COSMOS_START] run=$id"
	assert_line "[COSMOS_COMPLETE] exit_code=0"
	run cosmos-sync --log "$id"
	assert_success
	assert_line "[COSMOS_COMPLETE] exit_code=0"
}

@test "sync: one connection and one status round trip for all runs of a host" {
	before=$(accepted)
	standin_model sleep 30
	for i in 1 2 3; do cosmos-spec upscale --video "$CLIPS/full/color.mp4"; done | cosmos-submit >"$BATS_TEST_TMPDIR/recs"
	assert_equal "$(accepted)" $((before + 1))
	: >"$SSHD_DIR/state/calls.log"
	run cosmos-sync $(jq -r .id "$BATS_TEST_TMPDIR/recs")
	assert_success
	assert_equal "${#lines[@]}" 3
	assert_equal "$(jq -r .status <<<"$output" | sort -u)" running
	assert_equal "$(grep -c '^inspect' "$SSHD_DIR/state/calls.log")" 1
	assert_equal "$(accepted)" $((before + 2))
	cosmos-sync --cancel $(jq -r .id "$BATS_TEST_TMPDIR/recs") >/dev/null
}

@test "--wait gives up after --timeout with exit 5, leaving the run as it was" {
	standin_model sleep 30
	id=$(cosmos-spec upscale --video "$CLIPS/full/color.mp4" | submit_one | jq -r .id)
	run cosmos-sync --wait --interval 1 --timeout 2 "$id"
	assert_failure 5
	assert_line --partial "1 run still unfinished after 2 s"
	assert_equal "$(jq -r .status "$COSMOS_DIR/runs/$id.json")" running
	cosmos-sync --cancel "$id" >/dev/null
}

@test "a changed host key is refused: one line, exit 4, no record" {
	ssh-keygen -q -t ed25519 -N '' -f "$BATS_TEST_TMPDIR/other"
	echo "[127.0.0.1]:$SSHD_PORT $(cut -d' ' -f1,2 "$BATS_TEST_TMPDIR/other.pub")" >"$BATS_TEST_TMPDIR/kh"
	COSMOS_HOST_KNOWN_HOSTS="$BATS_TEST_TMPDIR/kh" COSMOS_HOST_ACCEPT_NEW=yes \
		run bash -c "cosmos-spec upscale --video '$CLIPS/full/color.mp4' | cosmos-submit"
	assert_failure 4
	assert_output "cosmos-submit: stdin:1: $SSH_USER@127.0.0.1:$SSHD_PORT: HOST KEY HAS CHANGED (known_hosts: $BATS_TEST_TMPDIR/kh); refusing to connect"
	assert_equal "$(ls "$COSMOS_DIR/runs" | wc -l)" 0
}

@test "an unknown host key is refused, unless accept_new, which records it" {
	kh=$BATS_TEST_TMPDIR/kh
	COSMOS_HOST_KNOWN_HOSTS=$kh run bash -c "cosmos-spec upscale --video '$CLIPS/full/color.mp4' | cosmos-submit"
	assert_failure 4
	assert_output --partial "host key is not in $kh"
	COSMOS_HOST_KNOWN_HOSTS=$kh COSMOS_HOST_ACCEPT_NEW=yes \
		run bash -c "cosmos-spec upscale --video '$CLIPS/full/color.mp4' | cosmos-submit"
	assert_success
	assert_equal "$(cut -d' ' -f1,2 "$kh")" "[127.0.0.1]:$SSHD_PORT ssh-ed25519"
	assert_equal "$(cut -d' ' -f3 "$kh")" "$(cut -d' ' -f2 "$SSHD_DIR/host_key.pub")"
	wait_all >/dev/null
	# accept_new = no, said by us, wins over ssh_config's accept-new.
	printf 'Host 127.0.0.1\n\tStrictHostKeyChecking accept-new\n' >"$BATS_TEST_TMPDIR/ssh_config"
	rm -f "$kh"
	COSMOS_SSH_CONFIG=$BATS_TEST_TMPDIR/ssh_config COSMOS_HOST_KNOWN_HOSTS=$kh COSMOS_HOST_ACCEPT_NEW=no \
		run bash -c "cosmos-spec upscale --video '$CLIPS/full/color.mp4' | cosmos-submit"
	assert_failure 4
	assert_output --partial "host key is not in $kh"
}

@test "an unreachable host and a refused key: one line each, exit 4, records unchanged" {
	r=$(make_run completed)
	before=$(store_snapshot)
	COSMOS_HOST_PORT=1 run bash -c "cosmos-spec upscale --from-run $r | cosmos-submit"
	assert_failure 4
	assert_output "cosmos-submit: stdin:1: $SSH_USER@127.0.0.1:1: cannot connect: Connection refused"
	ssh-keygen -q -t ed25519 -N '' -f "$BATS_TEST_TMPDIR/stranger"
	COSMOS_HOST_IDENTITY=$BATS_TEST_TMPDIR/stranger run bash -c "cosmos-spec upscale --from-run $r | cosmos-submit"
	assert_failure 4
	assert_output "cosmos-submit: stdin:1: $SSH_USER@127.0.0.1:$SSHD_PORT: authentication refused (tried ssh-agent and $BATS_TEST_TMPDIR/stranger)"
	# A sync that cannot reach the host changes nothing either.
	running=$(make_run running '.host = "testhost" | .job.container = "cosmos_transfer_rs_00000"')
	before=$(store_snapshot)
	COSMOS_HOST_PORT=1 run cosmos-sync "$running"
	assert_failure 4
	assert_equal "$(store_snapshot)" "$before"
}

hostile=(
	'$(touch /tmp/cosmos-pwned)'
	'`touch /tmp/cosmos-pwned`'
	"it's \"quoted\" twice"
	$'two\nlines'
	'--rm -rf /'
	'-e'
	"'; touch /tmp/cosmos-pwned; '"
	'back\slash \$HOME ${PATH}'
	'ünïcödé 日本語 🎥'
)

@test "shquote: every hostile string reaches a shell as exactly itself" {
	for s in "${hostile[@]}"; do
		run sh -c "printf '%s' $(shq "$s")"
		assert_success
		assert_equal "$output" "$s"
	done
	assert_not_exist /tmp/cosmos-pwned
}

@test "hostile prompts, names and paths reach the model intact and run nothing" {
	rm -f /tmp/cosmos-pwned
	dir="$BATS_TEST_TMPDIR/-rf \$(touch \\tmp\\x) 'q' \`b\`"
	mkdir -p "$dir"
	cp "$CLIPS/full/color.mp4" "$dir/color.mp4"
	ids=()
	for s in "${hostile[@]}"; do
		ids+=("$(cosmos-spec prompt --name "$s" --negative "$s" -- "$s" "$dir" | jq -r .id)")
	done
	cosmos-spec transfer "${ids[@]}" | cosmos-submit >"$BATS_TEST_TMPDIR/recs"
	run wait_all $(jq -r .id "$BATS_TEST_TMPDIR/recs")
	assert_success
	i=0
	for id in $(jq -r .id "$BATS_TEST_TMPDIR/recs"); do
		assert_equal "$(jq -r .prompt "$(work)/outputs/run_$id/spec_used.json")" "${hostile[$i]}"
		assert_equal "$(jq -r .negative_prompt "$(work)/outputs/run_$id/spec_used.json")" "${hostile[$i]}"
		i=$((i + 1))
	done
	assert_equal "$i" "${#hostile[@]}"
	assert_not_exist /tmp/cosmos-pwned
}

@test "--dry-run prints what would go up and touches nothing" {
	before=$(store_snapshot)
	: >"$SSHD_DIR/state/calls.log"
	n=$(accepted)
	run bash -c "cosmos-spec upscale --video '$CLIPS/full/color.mp4' | cosmos-submit --dry-run"
	assert_success
	assert_equal "$(jq -r '.uploads[0].sha256' <<<"$output")" "$(sha256sum "$CLIPS/full/color.mp4" | cut -c1-64)"
	assert_equal "$(jq -r .dry_run <<<"$output")" true
	assert_equal "$(store_snapshot)" "$before"
	assert_equal "$(accepted)" "$n"
	assert_equal "$(wc -c <"$SSHD_DIR/state/calls.log")" 0
}

@test "bad request lines are named by line number; the good ones still run" {
	good=$(cosmos-spec upscale --video "$CLIPS/full/color.mp4")
	run --separate-stderr cosmos-submit <<EOF
{"model_type":"upscale"
$good
{"model_type":"paint","spec":{}}
{"model_type":"upscale","spec":[]}
EOF
	assert_failure 1
	assert_equal "$stderr" 'cosmos-submit: stdin:1: malformed JSON
cosmos-submit: stdin:3: "model_type" is not transfer, upscale, generate, enhance, batch or enhance_batch
cosmos-submit: stdin:4: "spec" is missing or of the wrong type'
	assert_equal "$(jq -r .status <<<"$output")" submitted
	wait_all >/dev/null
}

@test "a model that prints a completion marker itself does not end its run" {
	standin_model sleep 30
	echo "[COSMOS_COMPLETE] exit_code=0" >"$SSHD_DIR/state/model-say"
	chmod 644 "$SSHD_DIR/state/model-say"
	id=$(cosmos-spec upscale --video "$CLIPS/full/color.mp4" | submit_one | jq -r .id)
	sleep 1
	run cosmos-sync "$id"
	assert_success
	assert_equal "$(jq -r .status "$COSMOS_DIR/runs/$id.json")" running
	cosmos-sync --cancel "$id" >/dev/null
}

@test "docker failing on the host is an error, not every run lost" {
	standin_model sleep 30
	id=$(cosmos-spec upscale --video "$CLIPS/full/color.mp4" | submit_one | jq -r .id)
	before=$(store_snapshot)
	# The session user has no sudo: "sudo -n docker" fails as a broken docker would.
	COSMOS_HOST_SUDO=yes run cosmos-sync "$id"
	assert_failure 1
	assert_output --partial "cosmos-sync: testhost: status: cosmos-ctl: docker inspect failed: "
	assert_equal "$(store_snapshot)" "$before"
	cosmos-sync --cancel "$id" >/dev/null
}

@test "a start slower than io_timeout (a first image pull): the run stays pending, the host runs it, and the next sync adopts it" {
	# #22, finding 2: it was recorded failed ("timed out") while the host
	# ran it; a retry would have run it twice.
	# io_timeout 3 s, the start 9 s: time enough for the handshake and
	# the upload on a loaded machine, not for the start.
	echo 9 >"$SSHD_DIR/state/docker-run-sleep"
	chmod 644 "$SSHD_DIR/state/docker-run-sleep"
	COSMOS_HOST_IO_TIMEOUT=3 run --separate-stderr bash -c "cosmos-spec upscale --video '$CLIPS/full/color.mp4' | cosmos-submit"
	rm -f "$SSHD_DIR/state/docker-run-sleep"
	assert_regex "$stderr" 'timed out after 3 s; left pending: the next cosmos-sync adopts it if it started'
	assert_equal "$status" 4
	id=$(ls "$COSMOS_DIR/runs" | sed -n 's/^\(rs_[0-9a-f]*\)\.json$/\1/p')
	assert_equal "$(jq -r '[.status, .host, (.reason // "-")] | join(" ")' "$COSMOS_DIR/runs/$id.json")" "pending testhost -"
	run cosmos-sync --wait --interval 1 --timeout 60 "$id"
	assert_success
	assert_equal "$(jq -r .status "$COSMOS_DIR/runs/$id.json")" completed
	assert_equal "$(grep -c '^\[COSMOS_START\]' "$SSHD_DIR/work/outputs/run_$id/run.log")" 1
}

@test "a container name another run's container holds: the run starts under its long name; status, logs and cancel find it" {
	# #22, finding 11: cosmos_MODEL_ID[:8] keeps 20 bits of the id; at
	# 2,000 runs on a host two share them more often than not, and the
	# second failed "Conflict. The container name ... is already in use".
	standin_model sleep 30
	a=$(cosmos-spec upscale --video "$CLIPS/full/color.mp4" | submit_one | jq -r .id)
	b=${a:0:8}$(od -An -N14 -tx1 /dev/urandom | tr -d ' \n' | cut -c1-27)
	jq -nc --arg id "$b" '{id:$id, model_type:"upscale", status:"pending", execution_config:{},
		created_at:"2026-01-01T00:00:00.000Z", updated_at:"2026-01-01T00:00:00.000Z"}' >"$COSMOS_DIR/runs/$b.json"
	run bash -c "cosmos-spec upscale --video '$CLIPS/full/color.mp4' | jq -c --arg id '$b' '.run_id = \$id' | cosmos-submit"
	assert_success
	assert_equal "$(cat "$SSHD_DIR/work/runs/$b.name")" "cosmos_upscale_$b"
	[ -d "$SSHD_DIR/state/c/cosmos_upscale_$b" ]
	cosmos-sync "$a" "$b" >/dev/null
	assert_equal "$(jq -r .status "$COSMOS_DIR/runs/$b.json")" running
	run cosmos-sync --log "$b"
	assert_success
	assert_output --partial "[COSMOS_START] run=$b"
	run cosmos-sync --cancel "$b"
	assert_success
	assert_equal "$(jq -r .status "$COSMOS_DIR/runs/$b.json") $(jq -r .status "$COSMOS_DIR/runs/$a.json")" "cancelled running"
	[ ! -d "$SSHD_DIR/state/c/cosmos_upscale_$b" ]
	cosmos-sync --cancel "$a" >/dev/null
}

@test "a host named by its ~/.ssh/config alias needs nothing repeated" {
	cat >"$BATS_TEST_TMPDIR/ssh_config" <<-EOF
		Host other
		    HostName 192.0.2.1
		Host gpu-alias
		    HostName 127.0.0.1
		    Port $SSHD_PORT
		    User $SSH_USER
		    IdentityFile $SSHD_DIR/id_ed25519
		    UserKnownHostsFile $SSHD_DIR/known_hosts
		Host *
		    Port 1
	EOF
	printf '[gpu]\naddress = gpu-alias\nworkdir = %s\ndocker_options = -e COSMOS_ENGINE=%s\n' \
		"$SSHD_DIR/work" "$SSHD_DIR/bin/model" >"$BATS_TEST_TMPDIR/hosts"
	COSMOS_CONFIG=$BATS_TEST_TMPDIR/hosts COSMOS_SSH_CONFIG=$BATS_TEST_TMPDIR/ssh_config \
		run bash -c "cosmos-spec upscale --video '$CLIPS/full/color.mp4' | cosmos-submit"
	assert_success
	assert_equal "$(jq -r '[.host, .status] | join(" ")' <<<"$output")" "gpu submitted"
	COSMOS_CONFIG=$BATS_TEST_TMPDIR/hosts COSMOS_SSH_CONFIG=$BATS_TEST_TMPDIR/ssh_config run wait_all
	assert_success
}

@test "a bad hosts file is reported with its line; nothing is submitted" {
	h=$BATS_TEST_TMPDIR/hosts
	for body in "[a]\nworkdir = /w\ncolour = red" "[a]\nworkdir =" "address = x" "[a]\nport = 99999\nworkdir = /w" \
		"[a]\nworkdir = /w\n[b]\nworkdir = /w" "[a]\nworkdir = /w\ndefault = yes\n[b]\ncolour = red"; do
		printf "$body\n" >"$h"
		COSMOS_CONFIG=$h run bash -c "cosmos-spec upscale --video '$CLIPS/full/color.mp4' | cosmos-submit"
		assert_failure 1
		assert_equal "${#lines[@]}" 1
		assert_output --regexp "^cosmos-submit: stdin:1: ($h:[0-9]+: |$h names several hosts)"
	done
	assert_equal "$(ls "$COSMOS_DIR/runs" 2>/dev/null | wc -l)" 0
}

@test "runs ending while a sync looks are never taken for lost (sync in a tight loop)" {
	for i in $(seq 12); do cosmos-spec upscale --video "$CLIPS/color-only/color.mp4"; done |
		cosmos-submit >"$BATS_TEST_TMPDIR/recs"
	for i in $(seq 200); do
		cosmos-sync $(jq -r .id "$BATS_TEST_TMPDIR/recs") >/dev/null || true
		[ "$(cosmos-manifest --count --status submitted,running)" = 0 ] && break
	done
	run cosmos-manifest --status failed
	assert_output ""
	assert_equal "$(cosmos-manifest --count --status completed)" 12
}

@test "an ecdsa key, and a key held only by ssh-agent, both log in" {
	ssh-keygen -q -t ecdsa -b 256 -N '' -f "$BATS_TEST_TMPDIR/ec"
	ssh-keygen -q -t ed25519 -N '' -f "$BATS_TEST_TMPDIR/agentkey"
	cp "$SSHD_DIR/authorized_keys" "$BATS_TEST_TMPDIR/ak.orig"
	cat "$BATS_TEST_TMPDIR/ec.pub" "$BATS_TEST_TMPDIR/agentkey.pub" >>"$SSHD_DIR/authorized_keys"
	COSMOS_HOST_IDENTITY=$BATS_TEST_TMPDIR/ec run bash -c "cosmos-spec upscale --video '$CLIPS/full/color.mp4' | cosmos-submit"
	assert_success
	eval "$(ssh-agent -s)" >/dev/null
	ssh-add -q "$BATS_TEST_TMPDIR/agentkey"
	# No identity file: the hosts file's is overridden by one that does not exist.
	COSMOS_HOST_IDENTITY=$BATS_TEST_TMPDIR/none HOME=$BATS_TEST_TMPDIR \
		run bash -c "cosmos-spec upscale --video '$CLIPS/full/color.mp4' | cosmos-submit"
	ssh-agent -k >/dev/null
	cp "$BATS_TEST_TMPDIR/ak.orig" "$SSHD_DIR/authorized_keys"
	assert_success
	assert_equal "$(jq -r .status <<<"$output")" submitted
	wait_all >/dev/null
}

@test "our scripts go up only when their content changed" {
	cosmos-spec upscale --video "$CLIPS/full/color.mp4" | cosmos-submit >/dev/null
	before=$(stat -c %Y.%i "$(work)/bashscripts/cosmos-job")
	sleep 1
	cosmos-spec upscale --video "$CLIPS/full/color.mp4" | cosmos-submit >/dev/null
	assert_equal "$(stat -c %Y.%i "$(work)/bashscripts/cosmos-job")" "$before"
	# A changed script set (COSMOS_SHARE pointing at a copy with one more file) goes up.
	cp -r "$COSMOS_BIN/../share/cosmos" "$BATS_TEST_TMPDIR/share" 2>/dev/null ||
		cp -r "$BATS_TEST_DIRNAME/../share/cosmos" "$BATS_TEST_TMPDIR/share"
	echo "# changed" >>"$BATS_TEST_TMPDIR/share/remote/cosmos-job"
	COSMOS_SHARE=$BATS_TEST_TMPDIR/share cosmos-spec upscale --video "$CLIPS/full/color.mp4" |
		COSMOS_SHARE=$BATS_TEST_TMPDIR/share cosmos-submit >/dev/null
	tail -n 1 "$(work)/bashscripts/cosmos-job" | grep -qx '# changed'
	# and back
	cosmos-spec upscale --video "$CLIPS/full/color.mp4" | cosmos-submit >/dev/null
	run tail -n 1 "$(work)/bashscripts/cosmos-job"
	refute_output '# changed'
	wait_all >/dev/null
}

@test "four syncs at once: each change is made and printed exactly once" {
	for i in 1 2 3 4 5; do cosmos-spec upscale --video "$CLIPS/color-only/color.mp4"; done |
		cosmos-submit >"$BATS_TEST_TMPDIR/recs"
	sleep 4
	for k in 1 2 3 4; do cosmos-sync >"$BATS_TEST_TMPDIR/out$k" & done
	wait
	cosmos-sync --wait --interval 1 >"$BATS_TEST_TMPDIR/out5"
	# Every run reached completed once, in exactly one of the outputs.
	assert_equal "$(cat "$BATS_TEST_TMPDIR"/out* | jq -r 'select(.status == "completed") | .id' | sort | uniq -c | awk '{print $1}' | sort -u)" 1
	assert_equal "$(cat "$BATS_TEST_TMPDIR"/out* | jq -r 'select(.status == "completed") | .id' | wc -l)" 5
}

@test "cancel on a host whose run.log is root's: cancelled, and stays so; the log says so" {
	standin_model sleep 30
	rec=$(cosmos-spec upscale --video "$CLIPS/full/color.mp4" | submit_one)
	id=$(jq -r .id <<<"$rec")
	sleep 1
	# As on a real host: the container owns the log, the SSH user cannot write it.
	assert_equal "$(stat -c %a "$(work)/outputs/run_$id/run.log")" 444
	run cosmos-sync --cancel "$id"
	assert_success
	assert_equal "$(jq -r .status <<<"$output")" cancelled
	run cosmos-sync "$id"
	assert_output ""
	assert_equal "$(jq -r .status "$COSMOS_DIR/runs/$id.json")" cancelled
	run cosmos-sync --log "$id"
	assert_line --regexp '^\[COSMOS_CANCELLED\] 20[0-9-]+T'
}

@test "a docker kill that fails is a failed cancel: exit 4, the run unchanged and still running" {
	standin_model sleep 30
	rec=$(cosmos-spec upscale --video "$CLIPS/full/color.mp4" | submit_one)
	id=$(jq -r .id <<<"$rec")
	touch "$SSHD_DIR/state/docker-kill-fails"
	before=$(store_snapshot)
	run --separate-stderr cosmos-sync --cancel "$id"
	rm -f "$SSHD_DIR/state/docker-kill-fails"
	assert_failure 4
	assert_equal "$stderr" "cosmos-sync: $id: cannot cancel: cosmos-ctl: cancel: docker kill $(jq -r .job.handle <<<"$rec"): Error response from daemon: permission denied"
	assert_equal "$(store_snapshot)" "$before"
	run env STANDIN_STATE="$SSHD_DIR/state" "$SSHD_DIR/bin/docker" ps
	assert_output --partial "$(jq -r .job.handle <<<"$rec")"
	cosmos-sync --cancel "$id" >/dev/null
}

@test "sync --wait: a download that failed once and then succeeded ends 0 when every run completes" {
	# The output cannot be read at first (a host-side hiccup), then can.
	standin_model after 'chmod 000 output.mp4; (sleep 3; chmod 644 output.mp4) >/dev/null 2>&1 &'
	id=$(cosmos-spec upscale --video "$CLIPS/full/color.mp4" | submit_one | jq -r .id)
	run --separate-stderr cosmos-sync --wait --interval 1 --timeout 60 "$id"
	assert_success
	assert_equal "$(jq -r .status "$COSMOS_DIR/runs/$id.json")" completed
	[ -n "$stderr" ] # the failed download was said
}

@test "a record without a status is reported by its file and skipped; the others sync" {
	bad=$(make_run running '.host = "testhost" | .job.handle = "cosmos_upscale_rs_00000" | del(.status)')
	id=$(cosmos-spec upscale --video "$CLIPS/full/color.mp4" | submit_one | jq -r .id)
	run --separate-stderr cosmos-sync --wait --interval 1 --timeout 60 "$bad" "$id"
	assert_failure 1
	assert_equal "$stderr" "cosmos-sync: $COSMOS_DIR/runs/$bad.json: the record has no \"status\"; skipped"
	assert_equal "$(jq -r .status "$COSMOS_DIR/runs/$id.json")" completed
	run --separate-stderr cosmos-sync
	assert_failure 1
	assert_equal "$stderr" "cosmos-sync: $COSMOS_DIR/runs/$bad.json: the record has no \"status\"; skipped"
}

@test "an empty COSMOS_HOST_<KEY> is an error naming it, never a key set to nothing (cosmos(7))" {
	before=$(store_snapshot)
	COSMOS_HOST_WORKDIR= run bash -c "cosmos-spec upscale --video '$CLIPS/full/color.mp4' | cosmos-submit"
	assert_failure 1
	assert_output "cosmos-submit: stdin:1: COSMOS_HOST_WORKDIR: '' is empty"
	assert_equal "$(store_snapshot)" "$before"
	grep -q "empty one" "$BATS_TEST_DIRNAME/../man/cosmos.7"
}

@test "a run whose submit died after docker run is adopted by the next sync; cancelling one such run kills its container" {
	id=$(cosmos-spec upscale --video "$CLIPS/full/color.mp4" | submit_one | jq -r .id)
	# What a submit killed between the start and its record leaves (#15).
	orphan "$id"
	run wait_all "$id"
	assert_success
	assert_equal "$(jq -r '[.status, .job.adopted] | join(" ")' "$COSMOS_DIR/runs/$id.json")" "completed true"
	assert_equal "$(grep -c "^run .*cosmos_upscale_${id:0:8}" "$SSHD_DIR/state/calls.log")" 1
	standin_model sleep 30
	id=$(cosmos-spec upscale --video "$CLIPS/full/color.mp4" | submit_one | jq -r .id)
	orphan "$id"
	run cosmos kill "$id"
	assert_success
	assert_equal "$(jq -r .status "$COSMOS_DIR/runs/$id.json")" cancelled
	assert_equal "$(grep -c "^kill cosmos_upscale_${id:0:8}" "$SSHD_DIR/state/calls.log")" 1
}

@test "a download killed half-way leaves only a hidden part file, which the next sync clears" {
	id=$(cosmos-spec upscale --video "$CLIPS/full/color.mp4" | submit_one | jq -r .id)
	mkdir -p "$COSMOS_DIR/runs/$id/outputs"
	sh -c 'exit 0' &
	dead=$!
	wait "$dead"
	head -c 4096 /dev/urandom >"$COSMOS_DIR/runs/$id/outputs/.output.mp4.part$dead"
	echo live >"$COSMOS_DIR/runs/$id/outputs/.output.mp4.part$$" # a sync at work now: left alone
	run wait_all "$id"
	assert_success
	assert_file_not_exists "$COSMOS_DIR/runs/$id/outputs/.output.mp4.part$dead"
	assert_file_exists "$COSMOS_DIR/runs/$id/outputs/.output.mp4.part$$"
	run ls -a "$COSMOS_DIR/runs/$id/outputs"
	refute_output --partial "part$dead"
}

@test "a host known_hosts records by its ECDSA key (as OpenSSH left it) is checked by that key; nothing is added" {
	known=$BATS_TEST_TMPDIR/known_hosts
	echo "[127.0.0.1]:$SSHD_PORT $(cut -d' ' -f1,2 "$SSHD_DIR/host_key_ecdsa.pub")" >"$known"
	cp "$known" "$known.before"
	run bash -c "cosmos-spec upscale --video '$CLIPS/full/color.mp4' | COSMOS_HOST_KNOWN_HOSTS='$known' cosmos-submit"
	assert_success
	run bash -c "cosmos-spec upscale --video '$CLIPS/full/color.mp4' | COSMOS_HOST_KNOWN_HOSTS='$known' COSMOS_HOST_ACCEPT_NEW=yes cosmos-submit"
	assert_success
	refute_output --partial "added host key"
	cmp "$known" "$known.before"
	# A wrong key of the recorded type is still a changed key.
	ssh-keygen -q -t ecdsa -b 256 -N '' -f "$BATS_TEST_TMPDIR/other"
	echo "[127.0.0.1]:$SSHD_PORT $(cut -d' ' -f1,2 "$BATS_TEST_TMPDIR/other.pub")" >"$known"
	run bash -c "cosmos-spec upscale --video '$CLIPS/full/color.mp4' | COSMOS_HOST_KNOWN_HOSTS='$known' COSMOS_HOST_ACCEPT_NEW=yes cosmos-submit"
	assert_failure 4
	assert_output --partial "HOST KEY HAS CHANGED"
}

@test "a host behind a jump host, as ssh_config says (Include, Match, ProxyJump; or ProxyCommand): reached through it, its own key checked" {
	kh=$BATS_TEST_TMPDIR/known_hosts
	cp "$SSHD_DIR/known_hosts" "$kh"
	cat >"$BATS_TEST_TMPDIR/behind.conf" <<-EOF
		Match originalhost gpu-behind
		    HostName 127.0.0.1
		    Port $SSHD_PORT
		    User $SSH_USER
		    IdentityFile $SSHD_DIR/id_ed25519
		    UserKnownHostsFile $kh
		    ProxyJump jump
	EOF
	cat >"$BATS_TEST_TMPDIR/ssh_config" <<-EOF
		Include $BATS_TEST_TMPDIR/behind.conf
		Host jump
		    HostName 127.0.0.1
		    Port $SSHD_PORT
		    User $SSH_USER
		    IdentityFile $SSHD_DIR/id_ed25519
		    UserKnownHostsFile $SSHD_DIR/known_hosts
	EOF
	printf '[gpu]\naddress = gpu-behind\nworkdir = %s\ndocker_options = -e COSMOS_ENGINE=%s\n' \
		"$SSHD_DIR/work" "$SSHD_DIR/bin/model" >"$BATS_TEST_TMPDIR/hosts"
	export COSMOS_CONFIG=$BATS_TEST_TMPDIR/hosts COSMOS_SSH_CONFIG=$BATS_TEST_TMPDIR/ssh_config
	# Two logins per connection: the jump host's, then the host's through it.
	before=$(accepted)
	run bash -c "cosmos-spec upscale --video '$CLIPS/full/color.mp4' | cosmos-submit"
	assert_success
	assert_equal "$(( $(accepted) - before ))" 2
	run wait_all
	assert_success
	# A ProxyCommand instead, its tokens expanded.
	sed -i "s|ProxyJump jump|ProxyCommand ssh -F $BATS_TEST_TMPDIR/ssh_config -W %h:%p jump|" "$BATS_TEST_TMPDIR/behind.conf"
	before=$(accepted)
	run bash -c "cosmos-spec upscale --video '$CLIPS/full/color.mp4' | cosmos-submit"
	assert_success
	assert_equal "$(( $(accepted) - before ))" 2
	run wait_all
	assert_success
	# Behind the jump host a changed key is still refused.
	sed -i "s|ProxyCommand .*|ProxyJump jump|" "$BATS_TEST_TMPDIR/behind.conf"
	ssh-keygen -q -t ed25519 -N '' -f "$BATS_TEST_TMPDIR/other"
	echo "[127.0.0.1]:$SSHD_PORT $(cut -d' ' -f1,2 "$BATS_TEST_TMPDIR/other.pub")" >"$kh"
	run bash -c "cosmos-spec upscale --video '$CLIPS/full/color.mp4' | cosmos-submit"
	assert_failure 4
	assert_output --partial "HOST KEY HAS CHANGED"
}

@test "tokens in ssh_config are OpenSSH's to expand: HostName %h reaches the host the alias names" {
	cat >"$BATS_TEST_TMPDIR/ssh_config" <<-EOF
		Host 127.0.0.*
		    HostName %h
		    Port $SSHD_PORT
		    User $SSH_USER
		    IdentityFile $SSHD_DIR/id_ed25519
		    UserKnownHostsFile $SSHD_DIR/known_hosts
	EOF
	printf '[gpu]\naddress = 127.0.0.1\nworkdir = %s\ndocker_options = -e COSMOS_ENGINE=%s\n' \
		"$SSHD_DIR/work" "$SSHD_DIR/bin/model" >"$BATS_TEST_TMPDIR/hosts"
	export COSMOS_CONFIG=$BATS_TEST_TMPDIR/hosts COSMOS_SSH_CONFIG=$BATS_TEST_TMPDIR/ssh_config
	run bash -c "cosmos-spec upscale --video '$CLIPS/full/color.mp4' | cosmos-submit"
	assert_success
	run wait_all
	assert_success
}

@test "48 starts through one cosmos-submit: one login, no channel each (sshd allows 10), every run submitted in input order" {
	req=$(cosmos-spec upscale --video "$CLIPS/full/color.mp4")
	before=$(accepted)
	sessions=$(grep -c 'Starting session: command' "$SSHD_DIR/sshd.log" || true)
	run bash -c "for i in \$(seq 48); do printf '%s\n' '$req'; done | cosmos-submit"
	assert_success
	assert_equal "$(( $(accepted) - before ))" 1
	# The scripts' install, and at most four shells that take the starts.
	assert [ "$(( $(grep -c 'Starting session: command' "$SSHD_DIR/sshd.log") - sessions ))" -le 5 ]
	assert_equal "$(jq -r .status <<<"$output" | sort | uniq -c | awk '{print $1, $2}')" "48 submitted"
	# In input order: the records were made one after another.
	assert_equal "$(jq -r .created_at <<<"$output" | sort -c && echo sorted)" sorted
	run wait_all
	assert_success
}

@test "a sync brings the outputs of every ended run back to back over one shell: no SFTP session, each file whole" {
	req=$(cosmos-spec upscale --video "$CLIPS/full/color.mp4")
	ids=$(for i in 1 2 3; do printf '%s\n' "$req"; done | cosmos-submit | jq -r .id)
	for _ in $(seq 100); do
		[ -z "$(env STANDIN_STATE="$SSHD_DIR/state" "$SSHD_DIR/bin/docker" ps -q)" ] && break
		sleep 0.2
	done
	sftp0=$(grep -c "subsystem 'sftp'" "$SSHD_DIR/sshd.log" || true)
	run cosmos-sync $ids
	assert_success
	assert_equal "$(( $(grep -c "subsystem 'sftp'" "$SSHD_DIR/sshd.log") - sftp0 ))" 0
	for id in $ids; do
		assert_equal "$(jq -r .status "$COSMOS_DIR/runs/$id.json")" completed
		for f in "$(work)/outputs/run_$id"/*; do
			cmp "$f" "$COSMOS_DIR/runs/$id/outputs/$(basename "$f")"
		done
	done
	refute [ -n "$(find "$COSMOS_DIR/runs" -name '.*.part*')" ]
}
