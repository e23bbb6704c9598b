#!/usr/bin/env bats
# GPU slots (cosmos-slot): a host runs only as many runs as it has GPUs,
# each on GPUs of its own, first come first served.  This machine with the
# process runtime and the stand-in nvidia-smi (t/standin/nvidia-smi,
# $STANDIN_STATE/gpus GPUs), and the SSH test host with the stand-in
# docker.  What ran when, and on which GPUs, comes from the stand-in
# model's own log ($STANDIN_STATE/intervals: start|end RUN MS DEVICES),
# so what is checked is what really ran at once.

load helper
load sshd

setup_file() {
	standin_local_gpus
	sshd_start
	cp "$BATS_TEST_DIRNAME/standin/nvidia-smi" "$SSHD_DIR/bin/"
	chmod 755 "$SSHD_DIR/bin/nvidia-smi"
	export REMOTE_HOSTS=$COSMOS_CONFIG
	export COSMOS_CONFIG=$BATS_FILE_TMPDIR/no-hosts
}

teardown_file() {
	sshd_stop
}

setup() {
	standin_gpus 3
}

teardown() {
	standin_teardown
}

wait_all() { cosmos-sync --wait --interval 1 --timeout 90 "$@" >/dev/null; }

# N transfer requests of one prompt, as JSON lines.
requests() {
	local p i
	p=$(make_prompt "a robot arm" "$CLIPS/full")
	for i in $(seq "$1"); do cosmos-spec transfer "$p"; done
}

# The most runs the intervals show at once, and whether two runs that
# overlapped shared a GPU ("shared" then, else "none").
peak() {
	sort -k3,3n -k1,1 "$STANDIN_STATE/intervals" | awk '
		$1 == "start" { n++; if (n > max) max = n
			split($4, d, ","); for (i in d) { if (d[i] in busy) shared = 1; if (d[i] != "-") busy[d[i]] = 1 } }
		$1 == "end" { n--; split($4, d, ","); for (i in d) delete busy[d[i]] }
		END { print max, shared ? "shared" : "none" }'
}

# The runs in the order they started (the model's own log).
started() { awk '$1 == "start" { print $2 }' "$STANDIN_STATE/intervals"; }

@test "nine one-GPU runs on three GPUs: three at a time, each GPU its own, in the order sent; the waiting say so" {
	echo 1 >"$STANDIN_STATE/model-sleep"
	# --delay: one start at a time, so that they reach the host in order
	# (in flight at once, starts join the line as they arrive).
	run bash -c "$(declare -f requests make_prompt); requests 9 | cosmos-submit --delay 1"
	assert_success
	ids=$(jq -r .id <<<"$output")
	# The first three have their GPUs at once, and the record says which.
	assert_equal "$(jq -s -c '[.[:3][] | .job.gpus | length]' <<<"$output")" "[1,1,1]"
	assert_equal "$(jq -s -c '[.[3:][] | .job.gpus] | unique' <<<"$output")" "[null]"
	cosmos-sync >/dev/null
	run cosmos-manifest --status submitted
	assert_output --partial '"queue_reason":"waiting for 1 GPU, 1st in line"'
	run wait_all $ids
	assert_success
	assert_equal "$(cosmos-manifest --status completed | wc -l)" 9
	assert_equal "$(peak)" "3 none"
	# The six that waited started in the order they were sent: none before
	# one sent ahead of it (but by the few ms two that got their GPUs at
	# once take to reach the model).
	run awk 'NR == FNR { t[$2] = $3; next }
		{ if ($1 in t) { if (t[$1] < max - 100) print $1 " started " max - t[$1] " ms before one sent ahead of it"
		  if (t[$1] > max) max = t[$1] } }' <(grep '^start' "$STANDIN_STATE/intervals") <(tail -n 6 <<<"$ids")
	assert_output ""
	for id in $ids; do
		g=$(jq -r '.job.gpus | join(",")' "$COSMOS_DIR/runs/$id.json")
		grep -q "^start $id [0-9]* $g\$" "$STANDIN_STATE/intervals"
	done
	# Nothing is left in the line or holding a GPU.
	assert_equal "$(find "$COSMOS_DIR/local/queue" "$COSMOS_DIR/local/slots" -type f ! -name '.*')" ""
}

@test "a two-GPU run is not overtaken by one-GPU runs sent after it; never two runs on one GPU" {
	echo 1 >"$STANDIN_STATE/model-sleep"
	p=$(make_prompt "a robot arm" "$CLIPS/full")
	run bash -c "{ cosmos-spec transfer --gpus 2 $p; cosmos-spec transfer --gpus 2 $p
		cosmos-spec transfer $p; cosmos-spec transfer $p; } | cosmos-submit --delay 1"
	assert_success
	readarray -t id < <(jq -r .id <<<"$output")
	cosmos-sync >/dev/null
	assert_equal "$(jq -r .job.queue_reason "$COSMOS_DIR/runs/${id[1]}.json")" "waiting for 2 GPUs, 1st in line"
	assert_equal "$(jq -r .job.queue_reason "$COSMOS_DIR/runs/${id[2]}.json")" "waiting for 1 GPU, 2nd in line"
	run wait_all "${id[@]}"
	assert_success
	assert_equal "$(peak | cut -d' ' -f2)" none
	assert_equal "$(started | head -n 2 | tr '\n' ' ')" "${id[0]} ${id[1]} "
	assert_equal "$(jq -r '.job.gpus | length' "$COSMOS_DIR/runs/${id[1]}.json")" 2
}

@test "a run wanting more GPUs than the host has is refused before anything is sent" {
	p=$(make_prompt "a robot arm" "$CLIPS/full")
	run --separate-stderr bash -c "{ cosmos-spec transfer --gpus 4 $p; cosmos-spec transfer $p; } | cosmos-submit"
	assert_failure 1
	[[ $stderr == *"stdin:1: "*"wants 4 GPUs; host local has 3"* ]]
	assert_equal "$(jq -r 'select(.status) | .status' <<<"$output" | sort | tr '\n' ' ')" "failed submitted "
	assert_equal "$(ls "$COSMOS_DIR/local/runs" | grep -c '\.sh$')" 1
	run cosmos-spec transfer --gpus 0 "$p"
	assert_failure 2
}

@test "cancel of a waiting run: it leaves the line, never starts, ends cancelled" {
	echo 1 >"$STANDIN_STATE/gpus"
	echo 3 >"$STANDIN_STATE/model-sleep"
	run bash -c "$(declare -f requests make_prompt); requests 3 | cosmos-submit --delay 1"
	readarray -t id < <(jq -r .id <<<"$output")
	cosmos-sync >/dev/null
	run cosmos-sync # nothing has changed since: no record written again
	assert_output ""
	run cosmos kill "${id[1]}"
	assert_success
	assert_equal "$(jq -r .status "$COSMOS_DIR/runs/${id[1]}.json")" cancelled
	run wait_all "${id[0]}" "${id[2]}"
	assert_success
	assert_equal "$(started | tr '\n' ' ')" "${id[0]} ${id[2]} "
}

@test "SIGKILL of a waiting run's waiter: the line goes on past it, and the run is lost, not stuck" {
	echo 1 >"$STANDIN_STATE/gpus"
	echo 2 >"$STANDIN_STATE/model-sleep"
	run bash -c "$(declare -f requests make_prompt); requests 3 | cosmos-submit --delay 1"
	readarray -t id < <(jq -r .id <<<"$output")
	for i in $(seq 50); do [ -s "$COSMOS_DIR/local/runs/${id[1]}.pid" ] && break; sleep 0.1; done
	kill -KILL "$(cat "$COSMOS_DIR/local/runs/${id[1]}.pid")"
	run wait_all "${id[@]}"
	assert_failure
	assert_equal "$(jq -r '[.status, .reason_code] | join(" ")' "$COSMOS_DIR/runs/${id[1]}.json")" "failed remote_lost"
	assert_equal "$(jq -r .status "$COSMOS_DIR/runs/${id[2]}.json")" completed
	assert_equal "$(started | tr '\n' ' ')" "${id[0]} ${id[2]} "
}

@test "gpus as a list in the hosts file: runs only on those; CUDA_VISIBLE_DEVICES and PCI order" {
	printf '[here]\nbackend = local\ngpus = 0,2\n' >"$BATS_TEST_TMPDIR/hosts"
	export COSMOS_CONFIG=$BATS_TEST_TMPDIR/hosts
	echo 1 >"$STANDIN_STATE/model-sleep"
	echo 'env | grep -E "^CUDA_(VISIBLE_DEVICES|DEVICE_ORDER)=" | sort >cuda_env' >"$STANDIN_STATE/model-after"
	run bash -c "$(declare -f requests make_prompt); requests 3 | cosmos-submit"
	assert_success
	run wait_all $(jq -r .id <<<"$output")
	assert_success
	assert_equal "$(awk '$1 == "start" { print $4 }' "$STANDIN_STATE/intervals" | sort -u | tr '\n' ' ')" "0 2 "
	assert_equal "$(peak)" "2 none"
	id=$(started | head -n 1)
	assert_equal "$(cat "$COSMOS_DIR/local/outputs/run_$id/cuda_env" | tr '\n' ' ')" \
		"CUDA_DEVICE_ORDER=PCI_BUS_ID CUDA_VISIBLE_DEVICES=$(awk -v r="$id" '$2 == r { print $4; exit }' "$STANDIN_STATE/intervals") "
}

@test "bad GPU keys are refused naming the key: --gpus in docker_options, gpus, gpus_per_run" {
	export COSMOS_CONFIG=$BATS_TEST_TMPDIR/hosts
	p=$(make_prompt "a robot arm" "$CLIPS/full")
	printf '[here]\nbackend = local\ndocker_options = --gpus all --ipc=host\n' >"$COSMOS_CONFIG"
	run bash -c "cosmos-spec transfer $p | cosmos-submit"
	assert_failure
	assert_output --partial "docker_options: no --gpus"
	assert_output --partial "gpus key"
	printf '[here]\nbackend = local\ngpus = 0/1\n' >"$COSMOS_CONFIG"
	run bash -c "cosmos-spec transfer $p | cosmos-submit"
	assert_failure
	assert_output --partial "gpus: not auto, a count, or a list"
	printf '[here]\nbackend = local\ngpus_per_run = 4\n' >"$COSMOS_CONFIG"
	run bash -c "cosmos-spec transfer $p | cosmos-submit"
	assert_failure 1
	assert_output --partial "wants 4 GPUs (its gpus_per_run); host here has 3"
}

@test "no GPUs: the host's slots bound the runs at once (slots = 2)" {
	rm -f "$STANDIN_STATE/gpus"
	printf '[here]\nbackend = local\nslots = 2\n' >"$BATS_TEST_TMPDIR/hosts"
	export COSMOS_CONFIG=$BATS_TEST_TMPDIR/hosts
	echo 1 >"$STANDIN_STATE/model-sleep"
	run bash -c "$(declare -f requests make_prompt); requests 5 | cosmos-submit"
	assert_success
	ids=$(jq -r .id <<<"$output")
	cosmos-sync >/dev/null
	run cosmos-manifest --status submitted
	assert_output --partial '"queue_reason":"waiting for a slot, 1st in line"'
	run wait_all $ids
	assert_success
	assert_equal "$(peak)" "2 none"
	assert_equal "$(jq -s -c '[.[] | .job.gpus] | unique' "$COSMOS_DIR"/runs/*.json)" "[null]"
}

@test "a packed batch takes the GPUs its largest child asks for, once" {
	p=$(make_prompt "a robot arm" "$CLIPS/full")
	run bash -c "{ cosmos-spec transfer $p; cosmos-spec transfer --gpus 2 $p; } | cosmos-batch --packed"
	assert_success
	parent=$(jq -r 'select(.batch_id) | .batch_id' <<<"$output" | head -n 1)
	run wait_all "$parent"
	assert_success
	assert_equal "$(jq -r '.job.gpus | length' "$COSMOS_DIR/runs/$parent.json")" 2
	assert_equal "$(grep -c '^start' "$STANDIN_STATE/intervals")" 1
}

@test "docker over SSH: each container gets --gpus \"device=N\" of its own, two at a time on two GPUs" {
	export COSMOS_CONFIG=$REMOTE_HOSTS
	echo 2 >"$SSHD_DIR/state/gpus"
	echo 1 >"$SSHD_DIR/state/model-sleep"
	rm -f "$SSHD_DIR/state/intervals"
	run bash -c "$(declare -f requests make_prompt); requests 4 | cosmos-submit"
	assert_success
	run wait_all $(jq -r .id <<<"$output")
	assert_success
	STANDIN_STATE=$SSHD_DIR/state run peak
	assert_output "2 none"
	assert_equal "$(grep -c -- '--gpus "device=[01]"' "$SSHD_DIR/state/calls.log")" 4
	assert_equal "$(awk '$1 == "start" { print $4 }' "$SSHD_DIR/state/intervals" | sort -u | tr '\n' ' ')" "0 1 "
	rm -f "$SSHD_DIR/state/gpus" "$SSHD_DIR/state/model-sleep"
}

@test "cosmos inference --gpus 2 --fan-out: each child takes two GPUs of its own, so on three only one runs at a time" {
	echo 1 >"$STANDIN_STATE/model-sleep"
	p=$(make_prompt "a robot arm" "$CLIPS/full")
	q=$(make_prompt "a robot hand" "$CLIPS/full")
	run cosmos inference "$p" "$q" --gpus 2 --fan-out --json
	assert_success
	b=$(jq -r 'select(.batch_id) | .batch_id' <<<"$output" | head -n 1)
	run wait_all "$b"
	assert_success
	assert_equal "$(peak)" "1 none"
	assert_equal "$(jq -r 'select(.execution_config.batch_run_id) | .job.gpus | length' "$COSMOS_DIR"/runs/*.json | tr '\n' ' ')" "2 2 "
}
