#!/usr/bin/env bats
# cosmos hosts: each host asked once (backend.h's describe).  This machine
# with the process runtime and the stand-in nvidia-smi ($STANDIN_STATE/gpus
# GPUs, busy while a stand-in model runs on them), the SSH test host with
# the stand-in docker and the same nvidia-smi, a host at a closed port,
# and the stand-in video API for the http backend.  The runs are real
# (cosmos-submit, the stand-in model sleeping), so who holds which GPU and
# who waits is what cosmos-slot really did.

load helper
load sshd
load videoapi

setup_file() {
	standin_local_gpus
	sshd_start
	# The host's nvidia-smi, counting its calls.
	cp "$BATS_TEST_DIRNAME/standin/nvidia-smi" "$SSHD_DIR/bin/nvidia-smi.standin"
	printf '#!/bin/sh\necho "$*" >>"$STANDIN_STATE/nvidia-smi.log"\nexec "%s" "$@"\n' \
		"$SSHD_DIR/bin/nvidia-smi.standin" >"$SSHD_DIR/bin/nvidia-smi"
	chmod 755 "$SSHD_DIR/bin/nvidia-smi" "$SSHD_DIR/bin/nvidia-smi.standin"
	export REMOTE_HOSTS=$COSMOS_CONFIG
	export COSMOS_CONFIG=$BATS_FILE_TMPDIR/no-hosts
	videoapi_start
	export NO_COLOR=1
}

teardown_file() {
	sshd_stop
	videoapi_stop
}

setup() {
	standin_gpus 3
}

teardown() {
	standin_teardown
	[ -z "${SSHD_DIR:-}" ] || rm -f "$SSHD_DIR/state/gpus" "$SSHD_DIR/state/model-sleep"
}

# Four one-GPU runs of the stand-in model sleeping 5 s, on three GPUs;
# their ids, in the order sent, into $BATS_TEST_TMPDIR/ids.
four_runs() {
	local p i
	p=$(make_prompt "a robot arm" "$CLIPS/full")
	for i in 1 2 3 4; do cosmos-spec transfer "$p"; done | cosmos-submit "$@" | jq -r .id >"$BATS_TEST_TMPDIR/ids"
	[ "$(wc -l <"$BATS_TEST_TMPDIR/ids")" = 4 ]
}

# cosmos hosts --json ARGS into $BATS_TEST_TMPDIR/hosts.json once every
# GPU of the first host shows busy (the models have started), or after 10 s.
hosts_busy() {
	local i
	for i in $(seq 50); do
		cosmos hosts --json "$@" >"$BATS_TEST_TMPDIR/hosts.json" || true
		[ "$(jq -s '[.[0].gpus[] | select(.memory_used_mib > 1)] | length' "$BATS_TEST_TMPDIR/hosts.json")" = 3 ] && return
		sleep 0.2
	done
}

# cosmos hosts ARGS on a terminal (script(1)): the panel, without the
# terminal's carriage returns; its exit status.
panel() {
	script -qec "cosmos hosts $*" /dev/null | tr -d '\r'
	return "${PIPESTATUS[0]}"
}

# GPU index -> run, as the host says, and as the records say after a sync.
held_by_host() { jq -r '.gpus[] | "\(.index) \(.run)"' "$BATS_TEST_TMPDIR/hosts.json"; }
held_by_records() {
	cosmos-sync >/dev/null
	jq -r 'select(.job.gpus) | "\(.job.gpus | join(",")) \(.id)"' "$COSMOS_DIR"/runs/rs_*.json | sort -n
}

# The checks both hosts share: three GPUs, each busy and held by the run
# whose record names it; the fourth run (the one that got none: over SSH
# the starts go side by side, in no set order) waiting for one GPU, since
# a moment ago.
check_busy_and_waiting() {
	local h=$BATS_TEST_TMPDIR/hosts.json fourth
	assert_equal "$(wc -l <"$h")" 1
	assert_equal "$(jq -c '[.reachable, (.gpus | length)]' "$h")" "[true,3]"
	assert_equal "$(jq -c '[.gpus[] | [.memory_used_mib, .memory_total_mib, .utilization, .name]] | unique' "$h")" \
		'[[61440,81559,97,"NVIDIA H100 80GB HBM3"]]'
	assert_equal "$(held_by_host)" "$(held_by_records)"
	fourth=$(held_by_host | cut -d' ' -f2 | grep -vxF -f - "$BATS_TEST_TMPDIR/ids")
	assert_equal "$(wc -w <<<"$fourth")" 1
	assert_equal "$(jq -c '[.waiting[] | [.run, .gpus]]' "$h")" "[[\"$fourth\",1]]"
	local since now
	since=$(date -d "$(jq -r '.waiting[0].since' "$h")" +%s)
	now=$(date +%s)
	assert [ "$since" -le "$now" ] && assert [ "$since" -ge $((now - 60)) ]
}

@test "local: each GPU names the run holding it (the run its record says), busy; the fourth run waits for 1 GPU" {
	echo 5 >"$STANDIN_STATE/model-sleep"
	four_runs
	hosts_busy
	run jq -c '[.host, .backend]' "$BATS_TEST_TMPDIR/hosts.json"
	assert_output '["local","local"]'
	check_busy_and_waiting
	# For a person: a panel, a line per GPU and per waiting run.
	run panel
	assert_success
	assert_line --index 0 "local (local): 3 GPUs, 1 run waiting"
	assert_line --index 1 --regexp "^  GPU 0  NVIDIA H100 80GB HBM3  +61440/81559 MiB   97%  rs_[0-9a-f]{32}$"
	assert_line --index 4 --regexp "^  waiting: $(jq -r '.waiting[0].run' "$BATS_TEST_TMPDIR/hosts.json") wants 1 GPU since [0-9:]{8}$"
}

@test "a killed waiter is not in the line, and a killed run's GPU is free (their files left behind)" {
	echo 5 >"$STANDIN_STATE/model-sleep"
	four_runs
	hosts_busy
	local work=$COSMOS_DIR/local waiter holder gpu
	waiter=$(jq -r '.waiting[0].run' "$BATS_TEST_TMPDIR/hosts.json")
	# Each a session of its own, killed whole (a child would keep its locks).
	kill -KILL -- "-$(cat "$work/runs/$waiter.pid")"
	read -r gpu holder < <(held_by_host | head -n 1)
	kill -KILL -- "-$(cat "$work/runs/$holder.pid")"
	sleep 0.2
	# What cosmos-slot leaves for the next waiter to clear is still there.
	assert_equal "$(ls "$work/queue" | grep -c "$waiter")" 1
	assert_equal "$(cat "$work/slots/$gpu")" "$holder cosmos_transfer_${holder:0:8}"
	run cosmos hosts
	assert_success
	assert_equal "$(jq -c '.waiting' <<<"$output")" "[]"
	assert_equal "$(jq -c --argjson g "$gpu" '.gpus[] | select(.index == $g) | [.run, .memory_used_mib]' <<<"$output")" "[null,1]"
	assert_equal "$(jq -c '[.gpus[] | select(.run)] | length' <<<"$output")" 2
}

@test "a host without GPUs: its slots, who holds them, and the line" {
	rm -f "$STANDIN_STATE/gpus"
	printf '[here]\nbackend = local\nslots = 2\n' >"$BATS_TEST_TMPDIR/hosts"
	export COSMOS_CONFIG=$BATS_TEST_TMPDIR/hosts
	echo 5 >"$STANDIN_STATE/model-sleep"
	four_runs
	run cosmos hosts
	assert_success
	ids=$BATS_TEST_TMPDIR/ids
	assert_equal "$(jq -c '[.host, .slots, .gpus, ([.holding[].run] | sort)]' <<<"$output")" \
		"[\"here\",2,[],$(head -n 2 "$ids" | sort | jq -R . | jq -sc .)]"
	assert_equal "$(jq -c '[.waiting[] | [.run, .slots]]' <<<"$output")" \
		"$(tail -n 2 "$ids" | jq -R '[., 1]' | jq -sc .)"
}

@test "over SSH: the same, in one cosmos-ctl hosts on one connection" {
	export COSMOS_CONFIG=$REMOTE_HOSTS
	echo 3 >"$SSHD_DIR/state/gpus"
	echo 5 >"$SSHD_DIR/state/model-sleep"
	four_runs
	hosts_busy
	run jq -c '[.host, .backend]' "$BATS_TEST_TMPDIR/hosts.json"
	assert_output '["testhost","docker"]'
	check_busy_and_waiting
	# One connection, and on it the install and the one cosmos-ctl hosts
	# (whose one nvidia-smi --query-gpu is the host's GPUs).
	local log=$SSHD_DIR/sshd.log smi=$SSHD_DIR/state/nvidia-smi.log
	conns=$(grep -c 'Accepted publickey' "$log")
	cmds=$(grep -c 'Starting session: command' "$log")
	queries=$(grep -c -- '--query-gpu' "$smi")
	run cosmos hosts
	assert_success
	assert_equal "$(jq -r .host <<<"$output")" testhost
	assert_equal "$(( $(grep -c 'Accepted publickey' "$log") - conns ))" 1
	assert_equal "$(( $(grep -c 'Starting session: command' "$log") - cmds ))" 2
	assert_equal "$(( $(grep -c -- '--query-gpu' "$smi") - queries ))" 1
}

@test "an unreachable host: reachable false, exit 4, and the other hosts are still shown" {
	{
		printf '[down]\naddress = 127.0.0.1\nport = 1\nuser = nobody\nworkdir = /tmp/cosmos-down\n'
		printf 'identity = %s\nknown_hosts = %s\nconnect_timeout = 5\n' "$SSHD_DIR/id_ed25519" "$SSHD_DIR/known_hosts"
		sed -n '/^\[testhost\]/,$p' "$REMOTE_HOSTS"
		printf '[here]\nbackend = local\n'
	} >"$BATS_TEST_TMPDIR/hosts"
	export COSMOS_CONFIG=$BATS_TEST_TMPDIR/hosts
	run --separate-stderr cosmos hosts
	assert_failure 4
	assert_equal "$(jq -c '[.host, .backend, .reachable]' <<<"$output" | tr '\n' ' ')" \
		'["down","docker",false] ["testhost","docker",true] ["here","local",true] '
	assert_equal "$(jq -r 'select(.host == "down") | .error' <<<"$output")" \
		"nobody@127.0.0.1:1: cannot connect: Connection refused"
	assert_equal "$(jq -c 'select(.host == "here") | .gpus | length' <<<"$output")" 3
	# Names given: those hosts alone, in that order; the panel says it too.
	run panel here down
	assert_failure 4
	assert_line --index 0 "here (local): 3 GPUs, 0 runs waiting"
	assert_line "down (docker): unreachable: nobody@127.0.0.1:1: cannot connect: Connection refused"
	# A name the hosts file lacks: said, 1; an option: usage, 2.
	run --separate-stderr cosmos hosts here nosuch
	assert_failure 1
	assert_equal "$(jq -c '[.host, .error]' <<<"$output" | tail -n 1)" \
		"[\"nosuch\",\"no host 'nosuch' in $COSMOS_CONFIG\"]"
	run cosmos hosts --all
	assert_failure 2
	# No hosts file: this machine.
	export COSMOS_CONFIG=$BATS_TEST_TMPDIR/none
	run cosmos hosts
	assert_success
	assert_equal "$(jq -c '[.host, .backend, .reachable]' <<<"$output")" '["local","local",true]'
}

@test "http: the provider, its models, whether the API answers (asked without the key)" {
	{
		videoapi_host gem gemini
		videoapi_host rep replicate generate_model=google/veo-3
		videoapi_host gem-closed gemini url=http://127.0.0.1:1/v1beta
	} >"$BATS_TEST_TMPDIR/hosts"
	export COSMOS_CONFIG=$BATS_TEST_TMPDIR/hosts
	: >"$VIDEOAPI_DIR/requests.jsonl"
	run --separate-stderr cosmos hosts
	assert_failure 4
	assert_equal "$(jq -c '[.host, .provider, .reachable, .answers, (.models | [.generate, .upscale] | map(. != null))]' <<<"$output" | tr '\n' ' ')" \
		'["gem","gemini",true,true,[true,false]] ["rep","replicate",true,true,[true,true]] ["gem-closed","gemini",false,false,[true,false]] '
	assert_equal "$(jq -r 'select(.host == "rep") | .models.generate' <<<"$output")" google/veo-3
	assert_equal "$(jq -r 'select(.host == "gem-closed") | .error' <<<"$output")" \
		"http://127.0.0.1:1/v1beta: Couldn't connect to server"
	# One GET of each base URL that answers, and never the key.
	assert_equal "$(videoapi_requests '[.method, .path]' | tr '\n' ' ')" '["GET","/v1beta"] ["GET","/v1"] '
	run grep -c "$(cat "$VIDEOAPI_DIR/key")" "$VIDEOAPI_DIR/requests.jsonl"
	assert_output 0
	assert_equal "$(videoapi_requests '.headers | keys | map(select(test("auth|key"))) | length' | sort -u)" 0
}
