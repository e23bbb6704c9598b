#!/usr/bin/env bats
# The fault suite (#15): cosmos-submit, cosmos-sync and cosmos-batch
# SIGKILLed at random points on the local backend and on the SSH test
# host; a store on a full tmpfs and a read-only one; SSH connections cut
# in the middle of an upload and of a download; a host that accepts TCP
# and never answers; hostile hosts (#22): a start slower than io_timeout,
# answers without end or a byte a second (each cut at its cap or its
# deadline), an HTTP video without end or trickling.
#
# After every kill the store must hold: every record one line of JSON
# named by its id, no record lost, no status moved back (pending <
# submitted < running < terminal; a terminal one never changes), no job
# started twice (cosmos-job logs "[COSMOS_START]" once per start in the
# run's run.log on its host).  Then one cosmos-sync --wait (and
# cosmos-batch --resume for batches, a run_id request for runs never
# started) brings every run to a terminal state, completed with its
# output, no part file visible.
#
# FAULT_N is the number of kills per program and backend: 10 here (4
# under the sanitizers), so that `make check` stays quick; `make faults`
# runs 100 and prints the figures.  Each kill test prints "tried / landed / survived / failed" in
# TAP comments and, with FAULT_REPORT set, appends it to that file.
# "landed" counts the kills that found the program still at work.

load helper
load sshd
load videoapi

setup_file() {
	sshd_start
	export SSH_HOSTS=$COSMOS_CONFIG
	cp "$BATS_TEST_DIRNAME/standin/copy-model" "$SSHD_DIR/bin/"
	# Under the sanitizers the kills look for memory errors, not odds: 4.
	if [ -n "${COSMOS_SANITIZED:-}" ]; then
		export FAULT_N=${FAULT_N:-4}
	else
		export FAULT_N=${FAULT_N:-10}
	fi
	export COSMOS_LOCAL_RUNTIME=process
	BIG=$BATS_FILE_TMPDIR/big/color.mp4
	mkdir -p "${BIG%/*}"
	# Noise does not compress: about 6 MB, to be cut in the middle.
	ffmpeg -loglevel error -f lavfi -i "nullsrc=s=640x360:r=24,geq=random(1)*255:128:128" -t 0.7 \
		-c:v libx264 -preset ultrafast -qp 0 -pix_fmt yuv420p "$BIG"
	# About 1 MB: the output the sync kills fall on, long enough to download
	# that some land in the middle.
	MID=$BATS_FILE_TMPDIR/mid/color.mp4
	mkdir -p "${MID%/*}"
	ffmpeg -loglevel error -f lavfi -i "nullsrc=s=640x360:r=24,geq=random(1)*255:128:128" -t 0.12 \
		-c:v libx264 -preset ultrafast -qp 0 -pix_fmt yuv420p "$MID"
	export BIG MID
}

teardown_file() {
	sshd_stop
}

teardown() {
	local p
	for p in "$COSMOS_DIR"/local/runs/*.pid; do
		[ -f "$p" ] && kill -KILL -- "-$(cat "$p")" 2>/dev/null
	done
	[ -n "${RELAY_PID:-}" ] && kill "$RELAY_PID" 2>/dev/null && wait "$RELAY_PID" 2>/dev/null
	videoapi_stop
	[ -z "${HOSTILE:-}" ] || hostile_end
	if [ -n "${FAULT_MNT:-}" ] && mountpoint -q "$FAULT_MNT"; then
		umount "$FAULT_MNT" || umount -l "$FAULT_MNT"
	fi
	true
}

# The backends: this machine, or the test host; both run copy-model.
use_local() {
	export COSMOS_CONFIG=$BATS_FILE_TMPDIR/no-hosts
	export COSMOS_LOCAL_ENGINE=$BATS_TEST_DIRNAME/standin/copy-model
	JOBS=$COSMOS_DIR/local
}
use_ssh() {
	export COSMOS_CONFIG=$SSH_HOSTS
	export COSMOS_HOST_DOCKER_OPTIONS="-e COSMOS_ENGINE=$SSHD_DIR/bin/copy-model"
	JOBS=$SSHD_DIR/work
}

# requests N [VIDEO]: N upscale request lines.
requests() {
	local i
	for i in $(seq "$1"); do cosmos-spec upscale --video "${2:-$CLIPS/full/color.mp4}"; done
}

# A random delay of 0 to MAX_MS - 1 ms, for sleep.
fault_delay() {
	local ms=$(((RANDOM * 32768 + RANDOM) % MAX_MS))
	printf '%d.%03d' $((ms / 1000)) $((ms % 1000))
}

# fault_states: "id status" for every record, sorted; fails, saying why,
# when a record does not parse, is not one line or is not named by its id.
fault_states() {
	local files=("$COSMOS_DIR"/runs/rs_*.json)
	[ -e "${files[0]}" ] || return 0
	local many
	many=$(awk 'FNR == 2 { print FILENAME; nextfile }' "${files[@]}")
	[ -z "$many" ] || { echo "not one line: $many" >&2; return 1; }
	jq -r '"\(input_filename) \(.id) \(.status)"' "${files[@]}" >"$BATS_TEST_TMPDIR/states.raw" \
		2>"$BATS_TEST_TMPDIR/states.err" || {
		echo "a record does not parse: $(head -n 1 "$BATS_TEST_TMPDIR/states.err")" >&2
		return 1
	}
	awk '{ n = split($1, p, "/"); if (p[n] != $2 ".json") { print p[n] ": holds id " $2 > "/dev/stderr"; bad = 1 }
	       print $2, $3 } END { exit bad }' "$BATS_TEST_TMPDIR/states.raw" | sort
	return "${PIPESTATUS[0]}"
}

# fault_compare PREV CUR: no id of PREV missing from CUR, no status back.
fault_compare() {
	awk '
	function rank(s) {
		if (s == "pending") return 0
		if (s == "submitted") return 1
		if (s == "running") return 2
		if (s == "completed" || s == "failed" || s == "cancelled") return 3
		return -1
	}
	FILENAME == ARGV[1] { prev[$1] = $2; next }
	{ cur[$1] = $2; if (rank($2) < 0) { print $1 ": status " $2; bad = 1 } }
	END {
		for (id in prev) {
			if (!(id in cur)) { print id ": lost (was " prev[id] ")"; bad = 1 }
			else if (rank(cur[id]) < rank(prev[id]) || (rank(prev[id]) == 3 && cur[id] != prev[id])) {
				print id ": " prev[id] " -> " cur[id]; bad = 1 }
		}
		exit bad
	}' "$1" "$2" >&2
}

# fault_twice: the runs whose run.log on their host shows two starts.
fault_twice() {
	local logs=("$JOBS"/outputs/run_rs_*/run.log)
	[ -e "${logs[0]}" ] || return 0
	grep -Hc '^\[COSMOS_START\]' "${logs[@]}" | awk -F: '$NF > 1 { print $1 ": started " $NF " times" }'
}

# fault_check: the invariants against the state after the last kill;
# prints what is wrong, fails if anything is.  The state moves on anyway.
fault_check() {
	local prev=$BATS_TEST_TMPDIR/prev cur=$BATS_TEST_TMPDIR/cur twice
	touch "$prev"
	fault_states >"$cur" || return 1
	twice=$(fault_twice)
	[ -z "$twice" ] || { echo "$twice" >&2; mv "$cur" "$prev"; return 1; }
	fault_compare "$prev" "$cur" || { mv "$cur" "$prev"; return 1; }
	mv "$cur" "$prev"
}

# fault_kills NAME GROUP CMD...: N times, start CMD (its stdin FAULT_IN,
# else /dev/null; its stdout /dev/null), SIGKILL it after a random delay
# (with GROUP "children", its children too, by PID, as a machine that
# loses power kills them: cosmos-batch's cosmos-submit), then
# check the invariants.  FAULT_BEFORE, if set, is run before each start.
# The delays are drawn from 0 to the time CMD took unkilled, the quickest
# of three runs first (WHOLE_MS, at least 20; FAULT_MAX_MS if set), so
# that kills fall all along its work.  Sets TRIED LANDED SURVIVED FAILED; the failures are
# in $BATS_TEST_TMPDIR/violations.
fault_kills() {
	local name=$1 group=$2 k pid t0 kids
	shift 2
	TRIED=0 LANDED=0 SURVIVED=0 FAILED=0
	: >"$BATS_TEST_TMPDIR/violations"
	local c ms
	WHOLE_MS=
	for c in 1 2 3; do # the quickest of three: one may have waited on a busy machine
		[ -z "${FAULT_BEFORE:-}" ] || $FAULT_BEFORE
		t0=$(date +%s%N)
		"$@" <"${FAULT_IN:-/dev/null}" >/dev/null 2>>"$BATS_TEST_TMPDIR/$name.stderr" || true
		ms=$((($(date +%s%N) - t0) / 1000000))
		[ -n "$WHOLE_MS" ] && [ "$WHOLE_MS" -le "$ms" ] || WHOLE_MS=$ms
	done
	MAX_MS=${FAULT_MAX_MS:-$WHOLE_MS}
	[ "$MAX_MS" -ge 20 ] || MAX_MS=20
	fault_check 2>"$BATS_TEST_TMPDIR/violations" || return 1
	exec 4>&2 2>/dev/null # not bash's "Killed" notices
	for k in $(seq "$FAULT_N"); do
		[ -z "${FAULT_BEFORE:-}" ] || $FAULT_BEFORE
		"$@" <"${FAULT_IN:-/dev/null}" >/dev/null 2>>"$BATS_TEST_TMPDIR/$name.stderr" &
		pid=$!
		sleep "$(fault_delay)"
		TRIED=$((TRIED + 1))
		if kill -0 "$pid" 2>/dev/null; then
			LANDED=$((LANDED + 1))
			kids=
			[ "$group" != children ] || kids=$(cat "/proc/$pid/task/$pid/children" 2>/dev/null || true)
			# shellcheck disable=SC2086 # kids are PIDs
			kill -KILL "$pid" $kids 2>/dev/null || true
		fi
		wait "$pid" 2>/dev/null || true
		if fault_check 2>>"$BATS_TEST_TMPDIR/violations.$k"; then
			SURVIVED=$((SURVIVED + 1))
		else
			FAILED=$((FAILED + 1))
			sed "s/^/kill $k: /" "$BATS_TEST_TMPDIR/violations.$k" >>"$BATS_TEST_TMPDIR/violations"
		fi
		rm -f "$BATS_TEST_TMPDIR/violations.$k"
	done
	exec 2>&4 4>&-
}

# fault_figures NAME EXTRA: the figures, in TAP and in FAULT_REPORT.
fault_figures() {
	local line="$1: $TRIED kills tried, $LANDED landed mid-work, $SURVIVED survived, $FAILED failed (an unkilled run took $WHOLE_MS ms)${2:+; $2}"
	echo "# $line" >&3
	[ -z "${FAULT_REPORT:-}" ] || echo "$line" >>"$FAULT_REPORT"
}

# fault_home [INPUT]: every run is completed, with its output (a copy of
# INPUT, by default the small clip), started once; no part file is left
# anywhere in the store.
fault_home() {
	local f id out
	run jq -r 'select(.status != "completed") | "\(.id) \(.status): \(.reason // "")"' "$COSMOS_DIR"/runs/rs_*.json
	assert_output ""
	for f in "$COSMOS_DIR"/runs/rs_*.json; do
		id=$(basename "$f" .json)
		[ "$(jq -r .model_type "$f")" = batch ] && continue
		out=$(jq -r .outputs.video "$f")
		[ -s "$out" ] || fail "$id: completed without its output ($out)"
		cmp -s "$out" "${1:-$CLIPS/full/color.mp4}" || fail "$id: its output is not the copy of its input"
		assert_equal "$id $(grep -c '^\[COSMOS_START\]' "$JOBS/outputs/run_$id/run.log")" "$id 1"
	done
	run find "$COSMOS_DIR/runs" -name '*.part*'
	assert_output ""
}

# sync_wait [MAX]: one cosmos-sync --wait; fails, saying why, when its
# status is above MAX (0).
sync_wait() {
	local rc=0
	cosmos-sync --wait --interval 1 --timeout 120 >"$BATS_TEST_TMPDIR/sync.out" 2>"$BATS_TEST_TMPDIR/sync.err" || rc=$?
	[ "$rc" -le "${1:-0}" ] || fail "sync --wait: status $rc: $(cat "$BATS_TEST_TMPDIR/sync.err")
$(jq -r 'select(.status != "completed") | "\(.id) \(.model_type) \(.status): \(.reason // "")"' "$COSMOS_DIR"/runs/rs_*.json)"
}

# resubmit_pending: a run_id request for each run left pending that never
# started (no job file on its host), so that one submit starts them all.
resubmit_pending() {
	local id req
	req=$(requests 1)
	for id in $(cosmos-manifest --status pending | jq -r 'select(.model_type != "batch") | .id'); do
		[ ! -e "$JOBS/runs/$id.sh" ] || fail "$id: pending, yet its job file is on the host"
		jq -c --arg id "$id" '. + {run_id: $id}' <<<"$req"
	done
}

kill_submit() {
	requests 4 >"$BATS_TEST_TMPDIR/reqs"
	FAULT_IN=$BATS_TEST_TMPDIR/reqs fault_kills submit single cosmos-submit
	# One sync brings home every run whose job was started (adopting those
	# a killed submit left pending); the others never started.
	sync_wait 1
	local left
	left=$(cosmos-manifest --status pending --count)
	resubmit_pending >"$BATS_TEST_TMPDIR/again"
	run cosmos-submit <"$BATS_TEST_TMPDIR/again"
	assert_success
	sync_wait
	fault_check 2>"$BATS_TEST_TMPDIR/final" || fail "after the final sync: $(cat "$BATS_TEST_TMPDIR/final")"
	fault_figures "$1" "$(cosmos-manifest --count) runs, $left never started and submitted again, all completed"
	[ "$FAILED" = 0 ] || fail "$(head -n 20 "$BATS_TEST_TMPDIR/violations")"
	fault_home
}

@test "cosmos-submit SIGKILLed at random points (local): every record whole, none lost or back, none started twice; one sync brings all home" {
	use_local
	kill_submit "submit/local"
}

@test "cosmos-submit SIGKILLed at random points (SSH host): the same" {
	use_ssh
	kill_submit "submit/ssh"
}

# Two new runs before each sync, so that kills find syncs judging and
# downloading their outputs, copies of SYNC_INPUT.
two_runs() {
	if [ -n "$(find "$COSMOS_DIR/runs" -name '.*.part*' 2>/dev/null)" ]; then
		echo $(($(cat "$BATS_TEST_TMPDIR/parts") + 1)) >"$BATS_TEST_TMPDIR/parts"
	fi
	requests 2 "$SYNC_INPUT" | cosmos-submit >/dev/null
	sleep 0.2
}

kill_sync() {
	local parts
	echo 0 >"$BATS_TEST_TMPDIR/parts"
	FAULT_BEFORE=two_runs fault_kills sync single cosmos-sync
	sync_wait
	fault_check 2>"$BATS_TEST_TMPDIR/final" || fail "after the final sync: $(cat "$BATS_TEST_TMPDIR/final")"
	parts=$(cat "$BATS_TEST_TMPDIR/parts")
	fault_figures "$1" "$(cosmos-manifest --count) runs, all completed; $parts kills left a part file for the next sync to clear"
	[ "$FAILED" = 0 ] || fail "$(head -n 20 "$BATS_TEST_TMPDIR/violations")"
	fault_home "$SYNC_INPUT"
}

@test "cosmos-sync SIGKILLed at random points (local): invariants hold; the next sync completes every run with its output" {
	use_local
	SYNC_INPUT=$MID
	kill_sync "sync/local"
}

@test "cosmos-sync SIGKILLed at random points (SSH host): the same" {
	use_ssh
	SYNC_INPUT=$MID
	kill_sync "sync/ssh"
}

kill_batch() {
	requests 3 >"$BATS_TEST_TMPDIR/reqs"
	FAULT_IN=$BATS_TEST_TMPDIR/reqs fault_kills batch children cosmos-batch --delay 0
	# Each batch made is resumed; then one sync brings all home.
	local b orphans
	for b in $(cosmos-manifest --type batch | jq -r .id); do
		run cosmos-batch --resume "$b" --delay 0
		assert_success
	done
	orphans=$(jq -r 'select(.execution_config.batch_run_id) | .execution_config.batch_run_id' "$COSMOS_DIR"/runs/rs_*.json |
		sort -u | while read -r b; do [ -e "$COSMOS_DIR/runs/$b.json" ] || echo "$b"; done)
	sync_wait
	fault_check 2>"$BATS_TEST_TMPDIR/final" || fail "after the final sync: $(cat "$BATS_TEST_TMPDIR/final")"
	fault_figures "$1" "$(cosmos-manifest --type batch --count) batches, $(cosmos-manifest --count) runs, all completed"
	[ "$FAILED" = 0 ] || fail "$(head -n 20 "$BATS_TEST_TMPDIR/violations")"
	[ -z "$orphans" ] || fail "children of batches never recorded: $orphans"
	fault_home
}

@test "cosmos-batch (and its cosmos-submit) SIGKILLed at random points (local): --resume and one sync complete every child, none started twice" {
	use_local
	kill_batch "batch/local"
}

@test "cosmos-batch (and its cosmos-submit) SIGKILLed at random points (SSH host): the same" {
	use_ssh
	kill_batch "batch/ssh"
}

# store_on_tmpfs: COSMOS_DIR on a tmpfs of 2 MB of its own (unmounted in
# teardown); the local backend's jobs elsewhere, so only the store is small.
store_on_tmpfs() {
	[ "$(id -u)" = 0 ] || skip "mounting a small tmpfs needs root"
	FAULT_MNT=$COSMOS_DIR
	mkdir -p "$FAULT_MNT"
	mount -t tmpfs -o size=2m tmpfs "$FAULT_MNT" || skip "mount -t tmpfs is not permitted here"
	export COSMOS_LOCAL_WORKDIR=$BATS_TEST_TMPDIR/work
}

# jobs_ended ID...: wait until each job wrote its exit code on its host.
jobs_ended() {
	local id n
	for id; do
		for n in $(seq 100); do
			[ -e "$COSMOS_LOCAL_WORKDIR/outputs/run_$id/.exit" ] && break
			sleep 0.1
		done
	done
}

@test "a store on a full tmpfs: submit stops with one line and status 3, sync with status 5 naming the store's file; nothing torn; with room the next sync completes" {
	use_local
	store_on_tmpfs
	requests 2 >"$BATS_TEST_TMPDIR/reqs"
	ids=$(cosmos-submit <"$BATS_TEST_TMPDIR/reqs" | jq -r .id)
	jobs_ended $ids
	fault_check || fail "before"
	dd if=/dev/zero of="$FAULT_MNT/fill" bs=4k 2>/dev/null || true
	before=$(store_snapshot)
	run cosmos-submit <"$BATS_TEST_TMPDIR/reqs"
	assert_failure 3
	assert_equal "${#lines[@]}" 1
	assert_output --regexp '^cosmos-submit: cannot store run rs_[0-9a-f]{32}: No space left on device$'
	# The download fails into the full store: named there, the run left
	# as it was for the next sync (cosmos-sync(1): 5).
	run cosmos-sync
	assert_failure 5
	assert_output --partial "$COSMOS_DIR/runs/"
	assert_output --partial ": No space left on device"
	refute_output --partial "$COSMOS_LOCAL_WORKDIR"
	fault_check || fail "a record was torn, lost or moved back"
	assert_equal "$(store_snapshot)" "$before"
	run find "$COSMOS_DIR/runs" -name '*.part*'
	assert_output ""
	rm "$FAULT_MNT/fill"
	JOBS=$COSMOS_LOCAL_WORKDIR
	sync_wait
	fault_home
}

@test "a read-only store: submit stops with one line and status 3, sync with status 3 naming the run's outputs folder; every record as it was" {
	use_local
	store_on_tmpfs
	requests 2 >"$BATS_TEST_TMPDIR/reqs"
	ids=$(cosmos-submit <"$BATS_TEST_TMPDIR/reqs" | jq -r .id)
	jobs_ended $ids
	mount -o remount,ro "$FAULT_MNT"
	before=$(store_snapshot)
	run cosmos-submit <"$BATS_TEST_TMPDIR/reqs"
	assert_failure 3
	assert_equal "${#lines[@]}" 1
	assert_output --regexp "^cosmos-submit: .*Read-only file system$"
	run cosmos-sync
	assert_failure 3
	assert_output --regexp "$COSMOS_DIR/runs/rs_[0-9a-f]{32}/outputs: Read-only file system"
	refute_output --partial "$COSMOS_LOCAL_WORKDIR"
	assert_equal "$(store_snapshot)" "$before"
	mount -o remount,rw "$FAULT_MNT"
	JOBS=$COSMOS_LOCAL_WORKDIR
	sync_wait
	fault_home
}

# relay_start MODE: t/faultrelay.py in front of the test host (MODE
# up:BYTES, down:BYTES or mute); RELAY_PORT is its port.  Stopped by PID in
# teardown.
relay_start() {
	python3 "$BATS_TEST_DIRNAME/faultrelay.py" "$BATS_TEST_TMPDIR/relay.port" "$SSHD_PORT" "$1" \
		>"$BATS_TEST_TMPDIR/relay.log" 2>&1 &
	RELAY_PID=$!
	local n
	for n in $(seq 100); do
		[ -s "$BATS_TEST_TMPDIR/relay.port" ] && break
		sleep 0.05
	done
	RELAY_PORT=$(cat "$BATS_TEST_TMPDIR/relay.port")
	{ cat "$SSHD_DIR/known_hosts"
	  echo "[127.0.0.1]:$RELAY_PORT $(cut -d' ' -f1,2 "$SSHD_DIR/host_key.pub")"; } >"$BATS_TEST_TMPDIR/known_hosts"
}

# via_relay CMD...: CMD with the test host reached through the relay.
via_relay() {
	env COSMOS_HOST_PORT="$RELAY_PORT" COSMOS_HOST_KNOWN_HOSTS="$BATS_TEST_TMPDIR/known_hosts" "$@"
}

# cas_whole: every input on the host, a file named HASH.EXT, is whole:
# HASH is its content's (a part file, HASH.EXT.partPID, is not an input).
cas_whole() {
	local f
	for f in "$SSHD_DIR"/work/cas/*; do
		case ${f##*/} in *.part*) continue ;; esac
		[ -f "$f" ] || continue
		[ "$(sha256sum <"$f" | cut -c1-64)" = "$(basename "$f" | cut -d. -f1)" ] || echo "${f##*/} is not whole"
	done
}

@test "the connection cut in the middle of an upload: no partial input on the host, the run failed connection_lost (status 4); its retry uploads it whole and completes" {
	use_ssh
	relay_start up:2000000
	cosmos-spec upscale --video "$BIG" >"$BATS_TEST_TMPDIR/req"
	sha=$(sha256sum <"$BIG" | cut -c1-64)
	run --separate-stderr via_relay cosmos-submit <"$BATS_TEST_TMPDIR/req"
	grep -qx 'cut 2000000' "$BATS_TEST_TMPDIR/relay.log" || fail "the relay never cut: $stderr"
	# The link lost while the input went up (cosmos-submit(1): 4): one
	# line, the run failed with a reason a retry may cure.
	assert_failure 4
	assert_equal "$(wc -l <<<"$stderr")" 1
	[[ $stderr =~ ^cosmos-submit:\ stdin:1:\ rs_[0-9a-f]{32}:\ .*/cas/$sha\.mp4:\ write\ failed ]] || fail "$stderr"
	id=$(jq -r .id "$COSMOS_DIR"/runs/rs_*.json)
	assert_equal "$(jq -r '[.status, .reason_code] | join(" ")' "$COSMOS_DIR/runs/$id.json")" "failed connection_lost"
	assert_file_not_exists "$SSHD_DIR/work/cas/$sha.mp4"
	assert_equal "$(cas_whole)" ""
	left=$(find "$SSHD_DIR/work/cas" -name ".$sha.mp4.part*" | wc -l)
	assert [ "$left" -ge 1 ] # hidden, and nothing could remove it over a cut link
	# The link is back: its retry uploads it whole, and it completes;
	# its connection clears parts no one has written to for an hour.
	find "$SSHD_DIR/work/cas" -name ".$sha.mp4.part*" -exec touch -d '2 hours ago' {} +
	run cosmos retry "$id"
	assert_success
	assert_equal "$(find "$SSHD_DIR/work/cas" -name '*.part*' | wc -l)" 0
	assert_equal "$(jq -r .job.uploaded_bytes <<<"$output")" "$(stat -c %s "$BIG")"
	again=$(jq -r .id <<<"$output")
	assert_equal "$(jq -r .retry_of <<<"$output")" "$id"
	assert_equal "$(cas_whole)" ""
	sync_wait
	assert_equal "$(jq -r .status "$COSMOS_DIR/runs/$again.json")" completed
	cmp "$COSMOS_DIR/runs/$again/outputs/output.mp4" "$BIG"
	echo "# upload cut at 2000000 of $(stat -c %s "$BIG") bytes: $left hidden part file(s) of it left in the host's cas/, cleared by a later connection" >&3
}

@test "the connection cut in the middle of a download: no output visible, the run as it was (status 5); the next sync completes it" {
	use_ssh
	id=$(cosmos-spec upscale --video "$BIG" | cosmos-submit | jq -r .id)
	for n in $(seq 100); do
		[ -e "$SSHD_DIR/work/outputs/run_$id/.exit" ] && break
		sleep 0.1
	done
	relay_start down:3000000
	run via_relay cosmos-sync
	grep -qx 'cut 3000000' "$BATS_TEST_TMPDIR/relay.log" || fail "the relay never cut: $output"
	assert_failure 5
	assert_output --regexp "^cosmos-sync: $id: .*/output\.mp4: read failed"
	assert_equal "$(jq -r .status "$COSMOS_DIR/runs/$id.json")" submitted
	assert_file_not_exists "$COSMOS_DIR/runs/$id/outputs/output.mp4"
	run find "$COSMOS_DIR/runs" -name '*part*'
	assert_output ""
	sync_wait
	assert_equal "$(jq -r .status "$COSMOS_DIR/runs/$id.json")" completed
	cmp "$COSMOS_DIR/runs/$id/outputs/output.mp4" "$BIG"
	assert_equal "$(grep -c '^\[COSMOS_START\]' "$SSHD_DIR/work/outputs/run_$id/run.log")" 1
}

# bounded SECONDS CMD...: run CMD through the relay; fail unless it ended
# within SECONDS (stopped at twice that: a hang fails, and does not hang).
bounded() {
	local limit=$1 t0 ms
	shift
	t0=$(date +%s%N)
	run timeout -s KILL $((limit * 2)) env COSMOS_HOST_PORT="$RELAY_PORT" \
		COSMOS_HOST_KNOWN_HOSTS="$BATS_TEST_TMPDIR/known_hosts" "$@"
	ms=$((($(date +%s%N) - t0) / 1000000))
	echo "# $1 against a host that never answers: status $status after $ms ms (bound ${limit}000 ms)" >&3
	[ "$ms" -lt "${limit}000" ] || fail "$* took $ms ms"
}

@test "a host that accepts TCP and never answers: submit, sync and sync --wait end within io_timeout, status 4, one line" {
	use_ssh
	relay_start mute
	cosmos-spec upscale --video "$CLIPS/full/color.mp4" >"$BATS_TEST_TMPDIR/req"
	id=$(cosmos-submit <"$BATS_TEST_TMPDIR/req" | jq -r .id)
	before=$(store_snapshot)
	export COSMOS_HOST_IO_TIMEOUT=3
	# 3 s of io_timeout, and 3 s for the rest (under ASan too).
	bounded 6 cosmos-submit <"$BATS_TEST_TMPDIR/req"
	assert_failure 4
	assert_output "cosmos-submit: stdin:1: $SSH_USER@127.0.0.1:$RELAY_PORT: SSH handshake failed: Timed out waiting on socket"
	bounded 6 cosmos-sync
	assert_failure 4
	assert_output "cosmos-sync: $SSH_USER@127.0.0.1:$RELAY_PORT: SSH handshake failed: Timed out waiting on socket"
	bounded 6 cosmos-sync --wait --interval 1
	assert_failure 4
	assert_equal "$(store_snapshot)" "$before"
}

@test "cosmos-batch killed after its parent, before a child's record: --resume makes that child from its request.json and starts it" {
	use_local
	requests 3 >"$BATS_TEST_TMPDIR/reqs"
	# A host no hosts file names: every child is left pending.
	run cosmos-batch --delay 0 --host nowhere <"$BATS_TEST_TMPDIR/reqs"
	b=$(jq -r .batch_id <<<"${lines[0]}")
	c=$(jq -r '.execution_config.child_run_ids[1]' "$COSMOS_DIR/runs/$b.json")
	assert_file_exists "$COSMOS_DIR/runs/$c/request.json"
	rm "$COSMOS_DIR/runs/$c.json" # what the kill left
	run cosmos-batch --resume "$b" --delay 0 --host local
	assert_success
	assert_equal "$(jq -c '[(.child_run_ids | length), .total]' <<<"${lines[0]}")" "[3,3]"
	assert_equal "$(jq -r '[.status, .execution_config.batch_run_id, .execution_config.batch_index] | join(" ")' "$COSMOS_DIR/runs/$c.json")" \
		"submitted $b 1"
	sync_wait
	fault_home
}

# GPU slots under kills (#19): FAULT_N times, four one-GPU transfers sent
# to a host with two stand-in GPUs, then a random one of the host's
# waiters (cosmos-slot, waiting or holding a running run's GPUs) or the
# submit itself SIGKILLed at a random point.  Then: no two runs that ran
# at once shared a GPU (the stand-in model's own log), every run ends
# (none left waiting behind a dead waiter), nothing is left in the line.
gpu_kills() {
	local st=$1 k p pids waiters=0 submits=0
	echo 2 >"$st/gpus"
	echo 0.3 >"$st/model-sleep"
	chmod 644 "$st/gpus" "$st/model-sleep"
	rm -f "$st/intervals"
	p=$(make_prompt "a robot arm" "$CLIPS/full")
	for k in $(seq "$FAULT_N"); do
		for _ in 1 2 3 4; do cosmos-spec transfer "$p"; done >"$BATS_TEST_TMPDIR/reqs"
		cosmos-submit <"$BATS_TEST_TMPDIR/reqs" >/dev/null 2>&1 &
		sleep "$(MAX_MS=1500 fault_delay)"
		if ((k % 3 == 0)); then
			kill -KILL $! 2>/dev/null && submits=$((submits + 1))
		else
			pids=($(pgrep -f 'cosmos-slot __wait' || true))
			((${#pids[@]} == 0)) || { kill -KILL "${pids[RANDOM % ${#pids[@]}]}" 2>/dev/null && waiters=$((waiters + 1)); }
		fi
		wait $! 2>/dev/null || true
	done
	sync_wait 1
	run jq -r 'select(.status | test("pending|submitted|running")) | .id' "$COSMOS_DIR"/runs/rs_*.json
	for id in $output; do # a submit killed before it sent the run's job
		[ ! -e "$JOBS/runs/$id.sh" ] || fail "$id: its job is on the host, yet it never ended"
	done
	run sh -c "sort -k3,3n -k1,1 '$st/intervals' | awk '
		\$1 == \"start\" { n = split(\$4, d, \",\"); for (i = 1; i <= n; i++) { if (d[i] in busy) print \$2 \" shares GPU \" d[i]; busy[d[i]] = 1 } }
		\$1 == \"end\" { n = split(\$4, d, \",\"); for (i = 1; i <= n; i++) delete busy[d[i]] }'"
	assert_output ""
	assert_equal "$(find "$JOBS/queue" -type f ! -name '.*' | wc -l)" 0
	local line="$2: $FAULT_N kills tried, $waiters landed on a waiter and $submits on a submit mid-work; $(grep -c '^start' "$st/intervals") runs started, $(cosmos-manifest --status completed --count) completed, $(cosmos-manifest --status failed --count) failed (their waiter killed before they started), none on a GPU another held, none left waiting"
	echo "# $line" >&3
	[ -z "${FAULT_REPORT:-}" ] || echo "$line" >>"$FAULT_REPORT"
}

@test "GPU slots (local): waiters and submits SIGKILLed at random: never two runs on one GPU, none left waiting" {
	use_local
	export STANDIN_STATE=$BATS_TEST_TMPDIR/st COSMOS_LOCAL_ENGINE=$BATS_TEST_DIRNAME/standin/model
	mkdir -p "$STANDIN_STATE" "$BATS_TEST_TMPDIR/bin"
	ln -s "$BATS_TEST_DIRNAME/standin/nvidia-smi" "$BATS_TEST_TMPDIR/bin/nvidia-smi"
	PATH=$BATS_TEST_TMPDIR/bin:$PATH gpu_kills "$STANDIN_STATE" "gpu slots, local"
}

@test "GPU slots (SSH host, docker): the same" {
	use_ssh
	export COSMOS_HOST_DOCKER_OPTIONS="-e COSMOS_ENGINE=$SSHD_DIR/bin/model"
	cp "$BATS_TEST_DIRNAME/standin/nvidia-smi" "$SSHD_DIR/bin/"
	chmod 755 "$SSHD_DIR/bin/nvidia-smi"
	gpu_kills "$SSHD_DIR/state" "gpu slots, SSH host"
	rm -f "$SSHD_DIR/bin/nvidia-smi" "$SSHD_DIR/state/gpus" "$SSHD_DIR/state/model-sleep"
}

# --- hosts that answer slowly, without end, or a byte at a time (#22) ---

# hostile SCRIPT BODY: the test host's copy of our script SCRIPT
# (bashscripts/SCRIPT) replaced by a shell script running BODY, as a
# hostile or broken host may answer anything; the install leaves it while
# bashscripts/.version is unchanged.  hostile_sh BODY: the host's sh runs
# BODY when it is started as a shell reading commands ("exec sh": the
# starters and the prefetcher), /bin/sh otherwise.  hostile_end puts ours
# back (the next connection installs them again).
hostile() {
	HOSTILE=1
	printf '#!/bin/sh\n%s\n' "$2" >"$SSHD_DIR/work/bashscripts/$1"
}
hostile_sh() {
	HOSTILE=1
	printf '%s\n' "$1" >"$SSHD_DIR/state/sh-hostile"
	printf '#!/bin/sh\n[ $# -eq 0 ] && exec /bin/sh "$STANDIN_STATE/sh-hostile"\nexec /bin/sh "$@"\n' >"$SSHD_DIR/bin/sh"
	chmod 644 "$SSHD_DIR/state/sh-hostile"
	chmod 755 "$SSHD_DIR/bin/sh"
}
hostile_end() {
	rm -f "$SSHD_DIR/work/bashscripts/.version" "$SSHD_DIR/bin/sh" "$SSHD_DIR/state/sh-hostile"
}

# ended ID: wait until the run's job wrote its exit code on the test host.
ended() {
	local n
	for n in $(seq 100); do
		[ -e "$SSHD_DIR/work/outputs/run_$1/.exit" ] && return 0
		sleep 0.1
	done
	return 1
}

# capped LIMIT CMD...: run CMD (stdin from $BATS_TEST_TMPDIR/req when it
# exists), killed at LIMIT seconds (status 137 then: a hang fails and does
# not hang) and, unsanitized, within 1 GiB of address space (a runaway
# buffer fails, not the machine); prints its time and peak memory.
# Sets status, output (its stderr) and PEAK_KB.
capped() {
	local limit=$1 t0 ms in=/dev/null
	shift
	[ ! -e "$BATS_TEST_TMPDIR/req" ] || in=$BATS_TEST_TMPDIR/req
	t0=$(date +%s%N)
	status=0
	(
		[ -n "${COSMOS_SANITIZED:-}" ] || ulimit -v 1048576
		exec timeout -s KILL "$limit" /usr/bin/time -f %M -o "$BATS_TEST_TMPDIR/peak" "$@" <"$in" \
			>"$BATS_TEST_TMPDIR/out" 2>"$BATS_TEST_TMPDIR/err"
	) || status=$?
	ms=$((($(date +%s%N) - t0) / 1000000))
	output=$(cat "$BATS_TEST_TMPDIR/err")
	lines=()
	[ -z "$output" ] || mapfile -t lines <<<"$output"
	PEAK_KB=$(tail -n 1 "$BATS_TEST_TMPDIR/peak" 2>/dev/null)
	[[ $PEAK_KB =~ ^[0-9]+$ ]] || PEAK_KB=0
	echo "# $1: status $status after $ms ms, peak $((PEAK_KB / 1024)) MiB: $output" >&3
}

@test "#22 finding 2: a start slower than io_timeout (a first image pull): left pending, status 4, within io_timeout; the next sync adopts it, started once" {
	use_ssh
	echo 6 >"$SSHD_DIR/state/docker-run-sleep"
	chmod 644 "$SSHD_DIR/state/docker-run-sleep"
	requests 1 >"$BATS_TEST_TMPDIR/req"
	export COSMOS_HOST_IO_TIMEOUT=3
	capped 30 cosmos-submit
	unset COSMOS_HOST_IO_TIMEOUT
	rm -f "$SSHD_DIR/state/docker-run-sleep" "$BATS_TEST_TMPDIR/req"
	assert_equal "$status" 4
	assert_equal "${#lines[@]}" 1
	assert_output --regexp "^cosmos-submit: stdin:1: rs_[0-9a-f]{32}: .*: timed out after 3 s; left pending: the next cosmos-sync adopts it if it started$"
	id=$(cosmos-manifest | jq -r .id)
	assert_equal "$(jq -r '[.status, .host, (.reason // "-")] | join(" ")' "$COSMOS_DIR/runs/$id.json")" "pending testhost -"
	sync_wait
	fault_home
}

@test "#22 finding 6: an HTTP video without end is cut at max_download_mb and fails its run; one that trickles fails the download within io_timeout, the run as it was; no part is left" {
	videoapi_start
	export COSMOS_CONFIG=$BATS_TEST_TMPDIR/api-hosts
	videoapi_host api gemini max_download_mb=1 io_timeout=2 >"$COSMOS_CONFIG"
	videoapi_control '{"run_seconds": 0.3, "blob": "endless"}'
	id=$(cosmos-spec generate 'a red kite' | cosmos-submit --host api | jq -r .id)
	capped 30 cosmos-sync --wait --interval 1 "$id"
	assert_equal "$status" 1
	[ -n "${COSMOS_SANITIZED:-}" ] || [ "$PEAK_KB" -lt 400000 ] || fail "peak $PEAK_KB KiB"
	assert_equal "$(jq -r '[.status, .reason_code] | join(" ")' "$COSMOS_DIR/runs/$id.json")" "failed download_failed"
	videoapi_control '{"run_seconds": 0.3, "blob": "trickle"}'
	id=$(cosmos-spec generate 'a blue kite' | cosmos-submit --host api | jq -r .id)
	sleep 1
	capped 30 cosmos-sync "$id"
	assert_equal "$status" 5
	assert_output --partial "the video came slower than 1024 bytes a second for 2 s"
	assert_equal "$(jq -r .status "$COSMOS_DIR/runs/$id.json")" submitted
	run find "$COSMOS_DIR" -name '.*part*'
	assert_output ""
}

@test "#22 finding 4: a host that prints without end: the start's answer, the status answer and a prefetch header are cut at their caps; status 4, one line, bounded memory; nothing lost" {
	use_ssh
	id=$(requests 1 | cosmos-submit | jq -r .id)
	ended "$id"
	# cosmos-ctl status's answer: endless.
	hostile cosmos-ctl 'exec yes'
	before=$(store_snapshot)
	capped 30 cosmos-sync
	assert_equal "$status" 4
	assert_equal "${#lines[@]}" 1
	assert_output --regexp "^cosmos-sync: testhost: $SSH_USER@127\.0\.0\.1:$SSHD_PORT: an answer longer than 64 MiB: stopped reading it$"
	[ -n "${COSMOS_SANITIZED:-}" ] || [ "$PEAK_KB" -lt 400000 ] || fail "peak $PEAK_KB KiB"
	assert_equal "$(store_snapshot)" "$before"
	# The start's answer: endless, on stdout and on stderr.
	hostile cosmos-slot 'yes >&2 & exec yes'
	requests 1 >"$BATS_TEST_TMPDIR/req"
	capped 30 cosmos-submit
	assert_equal "$status" 4
	assert_equal "${#lines[@]}" 1
	assert_output --regexp "^cosmos-submit: stdin:1: rs_[0-9a-f]{32}: $SSH_USER@127\.0\.0\.1:$SSHD_PORT: an answer longer than 1 MiB: stopped reading it; left pending: the next cosmos-sync adopts it if it started$"
	[ -n "${COSMOS_SANITIZED:-}" ] || [ "$PEAK_KB" -lt 400000 ] || fail "peak $PEAK_KB KiB"
	pid=$(cosmos-manifest --status pending | jq -r .id)
	assert_equal "$(jq -r '[.status, .host] | join(" ")' "$COSMOS_DIR/runs/$pid.json")" "pending testhost"
	rm "$BATS_TEST_TMPDIR/req"
	# The prefetcher's header line: endless, without a newline.  The
	# stream is dropped and the output comes by SFTP, whole.
	hostile_end
	hostile_sh "exec tr '\\0' x </dev/zero"
	capped 30 cosmos-sync "$id"
	hostile_end
	assert_equal "$status" 0
	[ -n "${COSMOS_SANITIZED:-}" ] || [ "$PEAK_KB" -lt 400000 ] || fail "peak $PEAK_KB KiB"
	assert_equal "$(jq -r .status "$COSMOS_DIR/runs/$id.json")" completed
	cmp "$(jq -r .outputs.video "$COSMOS_DIR/runs/$id.json")" "$CLIPS/full/color.mp4"
	run find "$COSMOS_DIR/runs" -name '*part*'
	assert_output ""
}

@test "#22 finding 5: a host that sends a byte a second: the start's and the status answer end at 4 x io_timeout, status 4, one line; a prefetch slower than 1 KiB/s is dropped; nothing lost" {
	use_ssh
	export COSMOS_HOST_IO_TIMEOUT=2
	id=$(requests 1 | cosmos-submit | jq -r .id)
	ended "$id"
	hostile cosmos-ctl 'while :; do printf x; sleep 1; done'
	before=$(store_snapshot)
	capped 30 cosmos-sync
	assert_equal "$status" 4
	assert_equal "${#lines[@]}" 1
	assert_output --regexp "^cosmos-sync: testhost: $SSH_USER@127\.0\.0\.1:$SSHD_PORT: the answer was not whole after 8 s \(4 x io_timeout\)$"
	assert_equal "$(store_snapshot)" "$before"
	hostile cosmos-slot 'while :; do printf x; printf y >&2; sleep 1; done'
	requests 1 >"$BATS_TEST_TMPDIR/req"
	capped 30 cosmos-submit
	assert_equal "$status" 4
	assert_equal "${#lines[@]}" 1
	assert_output --regexp "^cosmos-submit: stdin:1: rs_[0-9a-f]{32}: $SSH_USER@127\.0\.0\.1:$SSHD_PORT: the answer was not whole after 8 s \(4 x io_timeout\); left pending: the next cosmos-sync adopts it if it started$"
	pid=$(cosmos-manifest --status pending | jq -r .id)
	assert_equal "$(jq -r '[.status, .host] | join(" ")' "$COSMOS_DIR/runs/$pid.json")" "pending testhost"
	rm "$BATS_TEST_TMPDIR/req"
	# The prefetcher: a trickle is dropped after io_timeout; SFTP brings
	# the output whole.
	hostile_end
	hostile_sh 'while :; do printf x; sleep 1; done'
	capped 30 cosmos-sync "$id"
	hostile_end
	assert_equal "$status" 0
	assert_equal "$(jq -r .status "$COSMOS_DIR/runs/$id.json")" completed
	cmp "$(jq -r .outputs.video "$COSMOS_DIR/runs/$id.json")" "$CLIPS/full/color.mp4"
}
