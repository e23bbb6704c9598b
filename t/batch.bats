#!/usr/bin/env bats
# cosmos-batch: a parent and its children, events, --async, --follow,
# --resume, and the parent's status following its children.

load helper
load sshd

setup_file() {
	export COSMOS_CONFIG=$BATS_FILE_TMPDIR/no-hosts COSMOS_LOCAL_RUNTIME=process
}

three_with_one_bad() {
	cosmos-spec upscale --video "$CLIPS/full/color.mp4"
	echo '{"model_type":"upscale","spec":{"input_video_path":"/nonexistent/clip.mp4"}}'
	cosmos-spec upscale --video "$CLIPS/color-only/color.mp4" --prompt "sharp"
}

@test "fan-out of three with one bad child: events in order, counts right, the good children run" {
	run --separate-stderr bash -c "$(declare -f three_with_one_bad); three_with_one_bad | cosmos-batch --delay 100"
	assert_failure 1
	assert_equal "$(jq -r .event <<<"$output" | tr '\n' ' ')" \
		"batch.started batch.progress batch.progress batch.progress batch.completed "
	b=$(jq -r .batch_id <<<"${lines[0]}")
	assert_equal "$(jq -r '.child_run_ids | length' <<<"${lines[0]}")" 3
	assert_equal "$(jq -c '[.index, .success]' <<<"$output" | sed -n 2,4p | tr '\n' ' ')" "[0,true] [1,false] [2,true] "
	assert_equal "$(jq -r .error <<<"${lines[2]}")" "/nonexistent/clip.mp4: No such file or directory"
	assert_equal "$(jq -c '[.success_count, .failure_count, .total]' <<<"${lines[4]}")" "[2,1,3]"
	# The same events, in the same order, in events.jsonl.
	assert_equal "$(cat "$COSMOS_DIR/runs/$b/events.jsonl")" "$output"
	# Parent and children were linked before anything ran.
	p=$COSMOS_DIR/runs/$b.json
	assert_equal "$(jq -r '[.model_type, .execution_config.batch_size, .execution_config.container_name] | join(" ")' "$p")" \
		"batch 3 cosmos_batch_${b:0:8}"
	run cosmos-manifest --batch "$b"
	assert_equal "$(jq -r '.execution_config | "\(.batch_run_id == "'"$b"'") \(.batch_index)"' <<<"$output" | tr '\n' ' ')" \
		"true 0 true 1 true 2 "
	# The good children run; the parent follows them, failed with counts.
	run cosmos-sync --wait --interval 1 "$b"
	assert_failure 1
	assert_equal "$(jq -r '[.model_type, .status] | join(" ")' "$p")" "batch failed"
	assert_equal "$(jq -c .outputs.children "$p")" '{"total":3,"completed":2,"failed":1,"cancelled":0}'
	assert_equal "$(jq -r .reason "$p")" "1 of 3 children did not complete (1 failed, 0 cancelled)"
	run cosmos-manifest --batch "$b" --summary
	assert_equal "$(jq -c '{total, completed, failed}' <<<"$output")" '{"total":3,"completed":2,"failed":1}'
}

@test "a batch whose children all complete is completed" {
	run bash -c "cosmos-spec upscale --video '$CLIPS/full/color.mp4' | cosmos-batch --delay 0"
	assert_success
	b=$(jq -r .batch_id <<<"${lines[0]}")
	run cosmos-sync --wait --interval 1 "$b"
	assert_success
	assert_equal "$(jq -r .status "$COSMOS_DIR/runs/$b.json")" completed
}

@test "--async returns within a second; the batch finishes after the shell that started it exits" {
	start=$(date +%s%N)
	# setsid: the starting shell has its own session, which then ends.
	run setsid bash -c "$(declare -f three_with_one_bad); three_with_one_bad | cosmos-batch --async --delay 500"
	elapsed=$(( ($(date +%s%N) - start) / 1000000 ))
	assert_success
	[ "$elapsed" -lt 1000 ] || fail "--async took $elapsed ms"
	b=$(jq -r .id <<<"$output")
	assert_equal "$(jq -r .model_type <<<"$output")" batch
	run timeout 30 cosmos-batch --follow "$b"
	assert_success
	assert_equal "$(jq -r .event <<<"$output" | tr '\n' ' ')" \
		"batch.started batch.progress batch.progress batch.progress batch.completed "
	assert_equal "$(wc -l <"$COSMOS_DIR/runs/$b/events.jsonl")" 5
}

@test "kill -9 after 2 of 5 children: --resume submits the other 3, none twice" {
	sshd_start
	for i in 1 2 3 4 5; do cosmos-spec upscale --video "$CLIPS/full/color.mp4"; done >"$BATS_TEST_TMPDIR/reqs"
	cosmos-batch --delay 3000 <"$BATS_TEST_TMPDIR/reqs" >"$BATS_TEST_TMPDIR/events" 2>/dev/null &
	pid=$!
	for i in $(seq 150); do
		[ "$(grep -c batch.progress "$BATS_TEST_TMPDIR/events")" -ge 2 ] && break
		sleep 0.1
	done
	kill -9 "$pid"
	wait "$pid" || true
	b=$(head -n 1 "$BATS_TEST_TMPDIR/events" | jq -r .batch_id)
	assert_equal "$(grep -c '^run ' "$SSHD_DIR/state/calls.log")" 2
	assert_equal "$(cosmos-manifest --batch "$b" --status pending --count)" 3
	run cosmos-batch --resume "$b" --delay 0
	assert_success
	assert_equal "$(grep -c '^run ' "$SSHD_DIR/state/calls.log")" 5
	assert_equal "$(jq -r .resumed <<<"${lines[0]}")" 3
	assert_equal "$(jq -c '[.success_count, .total]' <<<"${lines[-1]}")" "[3,3]"
	# Again: nothing left to send.
	run cosmos-batch --resume "$b" --delay 0
	assert_success
	assert_equal "$(grep -c '^run ' "$SSHD_DIR/state/calls.log")" 5
	run cosmos-sync --wait --interval 1 "$b"
	sshd_stop
	assert_success
	assert_equal "$(jq -r .status "$COSMOS_DIR/runs/$b.json")" completed
}

@test "bad input: malformed lines are named; no requests at all is an error" {
	run bash -c "printf '{oops\n' | cosmos-batch"
	assert_failure 1
	assert_line "cosmos-batch: stdin:1: malformed JSON"
	assert_line "cosmos-batch: no requests: nothing to batch"
	run cosmos-batch --resume ../x
	assert_failure 2
	run cosmos-batch --follow rs_0123456789abcdef0123456789abcdef
	assert_failure 1
}

@test "--wait does not wait for a batch whose children never started; --wait on one child brings its siblings" {
	run bash -c "printf '%s\\n%s\\n' \"\$(cosmos-spec upscale --video '$CLIPS/full/color.mp4')\" \"\$(cosmos-spec upscale --video '$CLIPS/full/color.mp4')\" | cosmos-batch --delay 0 --host nowhere"
	assert_failure 1
	b=$(jq -r .batch_id <<<"${lines[0]}")
	assert_equal "$(jq -r .status "$COSMOS_DIR/runs/$b.json")" pending
	run timeout 20 cosmos-sync --wait --interval 1 "$b"
	assert_failure 1
	assert_output --partial "batch has children that never started (cosmos-batch --resume $b)"
	# Resumed on a host that exists (named now: the batch keeps its own), it
	# completes; waiting on the first child ends the batch.
	run cosmos-batch --resume "$b" --delay 0 --host local
	assert_success
	first=$(jq -r '.execution_config.child_run_ids[0]' "$COSMOS_DIR/runs/$b.json")
	run timeout 30 cosmos-sync --wait --interval 1 "$first"
	assert_success
	assert_equal "$(jq -r .status "$COSMOS_DIR/runs/$b.json")" completed
}

@test "a claim is exclusive: a child another process is starting is refused, left pending, and started later" {
	# The children never reach a host ("nowhere" is not configured): pending.
	run --separate-stderr bash -c "cosmos-spec upscale --video '$CLIPS/full/color.mp4' --prompt a; cosmos-spec upscale --video '$CLIPS/full/color.mp4' --prompt b" 
	printf '%s\n' "${lines[@]}" | cosmos-batch --delay 0 --host nowhere >"$BATS_TEST_TMPDIR/events" 2>/dev/null || true
	b=$(head -n 1 "$BATS_TEST_TMPDIR/events" | jq -r .batch_id)
	c0=$(jq -r '.execution_config.child_run_ids[0]' "$COSMOS_DIR/runs/$b.json")
	assert_equal "$(jq -r .status "$COSMOS_DIR/runs/$c0.json")" pending
	# Another process is starting the first child: it holds its claim.
	flock -n -o "$COSMOS_DIR/runs/.$c0.claim" sleep 30 &
	holder=$!
	sleep 0.3
	run --separate-stderr cosmos-batch --resume "$b" --delay 0 --host local
	assert_failure 1
	assert_equal "$(jq -c 'select(.event == "batch.progress") | [.index, .success]' <<<"$output" | tr '\n' ' ')" "[0,false] [1,true] "
	assert_equal "$(jq -r 'select(.index == 0) | .error' <<<"$output")" "is being started by another process"
	# Not failed: still the other process's to start.
	assert_equal "$(jq -r .status "$COSMOS_DIR/runs/$c0.json")" pending
	kill "$holder"
	wait "$holder" 2>/dev/null || true
	run --separate-stderr cosmos-batch --resume "$b" --delay 0 --host local
	assert_success
	assert_equal "$(jq -r .status "$COSMOS_DIR/runs/$c0.json")" submitted
	run cosmos-sync --wait --interval 1 --timeout 60 "$b"
	assert_success
}

@test "a child whose job is already on the host is not started again, and keeps its handle to be synced by" {
	run --separate-stderr bash -c "cosmos-spec upscale --video '$CLIPS/full/color.mp4' | cosmos-batch --delay 0 --host nowhere"
	b=$(jq -r .batch_id <<<"${lines[0]}")
	c0=$(jq -r '.execution_config.child_run_ids[0]' "$COSMOS_DIR/runs/$b.json")
	# A submit killed after the start, before it recorded it: the job file is there.
	mkdir -p "$COSMOS_DIR/local/runs"
	: >"$COSMOS_DIR/local/runs/$c0.sh"
	run --separate-stderr cosmos-batch --resume "$b" --delay 0 --host local
	assert_success
	assert_equal "$(jq -r '[.status, .job.handle, .job.runtime] | join(" ")' "$COSMOS_DIR/runs/$c0.json")" \
		"submitted cosmos_upscale_${c0:0:8} process"
}

@test "a batch's child cannot itself be a batch (it would never end)" {
	before=$(store_snapshot)
	run --separate-stderr bash -c "echo '{\"model_type\":\"batch\",\"spec\":{},\"batch_input\":[{}]}' | cosmos-batch --delay 0"
	assert_failure 1
	assert_equal "$stderr" "cosmos-batch: stdin:1: a batch's child cannot be a batch
cosmos-batch: no requests: nothing to batch"
	assert_equal "$(store_snapshot)" "$before"
}

@test "a number too large for a number (1e999) is refused by line, never sent as inf" {
	run --separate-stderr bash -c "cosmos-spec upscale --video '$CLIPS/full/color.mp4' | jq -c '.spec.num_steps = 1e999' | sed 's/1.7976931348623157e+308/1e999/' | cosmos-submit"
	assert_failure 1
	assert_equal "$stderr" "cosmos-submit: stdin:1: a number is too large to be a number (such as 1e999)"
	assert_equal "$(ls "$COSMOS_DIR/runs" 2>/dev/null | grep -c '\.json$')" 0
}
