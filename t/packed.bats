#!/usr/bin/env bats
# Packed batches: every child in one container on the test host (a real
# sshd, the stand-in docker running our scripts and the reference engine),
# outputs handed to the children by cosmos-sync; enhance-batch both ways.

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

# runs_of NAME: how many containers named NAME were started on the host.
runs_of() {
	grep -c -- "^run .*--name $1 " "$SSHD_DIR/state/calls.log" || true
}

# packed ARGS...: a packed batch of the transfer requests for prompt ids
# ARGS on the test host; prints the batch's id.
packed() {
	cosmos-spec transfer "$@" | cosmos-batch --packed --host testhost >"$BATS_TEST_TMPDIR/events"
	head -n 1 "$BATS_TEST_TMPDIR/events" | jq -r .batch_id
}

# prompts_from DIR...: one prompt per directory, its ids on one line.
prompts_from() {
	local d i=0
	for d; do
		i=$((i + 1))
		make_prompt "prompt $i: a cube on a table" "$d"
	done | tr '\n' ' '
}

@test "a packed batch of three with one output missing: two completed, one failed, the parent failed with counts" {
	# The second prompt's video is not a video: the model writes nothing for it.
	mkdir -p "$BATS_TEST_TMPDIR/broken"
	head -c 4096 /dev/urandom >"$BATS_TEST_TMPDIR/broken/color.mp4"
	read -r -a ps <<<"$(prompts_from "$CLIPS/full" "$BATS_TEST_TMPDIR/broken" "$CLIPS/color-only")"
	run --separate-stderr bash -c "cosmos-spec transfer --weights vis=0.5,edge=0.3 ${ps[*]} | cosmos-batch --packed --host testhost"
	assert_success
	assert_equal "$(jq -r .event <<<"$output" | tr '\n' ' ')" \
		"batch.started batch.progress batch.progress batch.progress batch.completed "
	b=$(jq -r .batch_id <<<"${lines[0]}")
	p=$COSMOS_DIR/runs/$b.json
	# One container for the whole batch, named after the parent.
	assert_equal "$(jq -r '[.model_type, .execution_config.mode, .job.handle] | join(" ")' "$p")" \
		"batch packed cosmos_batch_${b:0:8}"
	assert_equal "$(runs_of "cosmos_batch_${b:0:8}")" 1
	run cosmos-manifest --batch "$b"
	assert_equal "$(jq -r '[.status, .host, .job.batch_container, .execution_config.batch_index] | join(" ")' <<<"$output" | tr '\n' ,)" \
		"submitted testhost cosmos_batch_${b:0:8} 0,submitted testhost cosmos_batch_${b:0:8} 1,submitted testhost cosmos_batch_${b:0:8} 2,"
	# The host got one item per child, in order, with its own controls.
	items=$SSHD_DIR/work/outputs/run_$b/batch_input.jsonl
	assert_equal "$(jq -r .prompt "$items" | tr '\n' ,)" \
		"prompt 1: a cube on a table,prompt 2: a cube on a table,prompt 3: a cube on a table,"
	assert_equal "$(jq -c '.control_overrides | {vis, edge}' "$items" | sort -u)" \
		'{"vis":{"control_weight":0.5,"input_control":null},"edge":{"control_weight":0.3,"input_control":null}}'

	run cosmos-sync --wait --interval 1 "$b"
	assert_failure 1
	run cosmos-manifest --batch "$b"
	assert_equal "$(jq -r .status <<<"$output" | tr '\n' ' ')" "completed failed completed "
	c=($(jq -r .id <<<"$output"))
	assert_equal "$(jq -r .reason "$COSMOS_DIR/runs/${c[1]}.json")" \
		"the batch wrote no video_1/output.mp4 (its model exited with code 1)"
	# Each completed child has its own video, in its own directory.
	for i in 0 2; do
		v=$(jq -r .outputs.video "$COSMOS_DIR/runs/${c[$i]}.json")
		assert_equal "$v" "$COSMOS_DIR/runs/${c[$i]}/outputs/output.mp4"
		cmp "$v" "$SSHD_DIR/work/outputs/run_$b/video_$i/output.mp4"
	done
	assert_file_not_exists "$COSMOS_DIR/runs/${c[1]}/outputs/output.mp4"
	assert_equal "$(jq -r '[.status, .exit_code, .reason] | join(" ")' "$p")" \
		"failed 1 1 of 3 children did not complete (1 failed, 0 cancelled)"
	assert_equal "$(jq -c .outputs.children "$p")" '{"total":3,"completed":2,"failed":1,"cancelled":0}'
	# A child's log is the batch's.
	run cosmos logs "${c[2]}"
	assert_success
	assert_output --partial "[reference engine] item 1 failed"
}

@test "a batch that exits 0 but loses an output fails only that child; stray names are refused; a child's request.json from the job is an output" {
	standin_model after 'rm -r video_1 && mkdir video_7 video_x && echo x >video_7/output.mp4 && echo x >video_x/output.mp4 && echo forged >video_0/request.json'
	read -r -a ps <<<"$(prompts_from "$CLIPS/full" "$CLIPS/full" "$CLIPS/full")"
	b=$(packed "${ps[@]}")
	c0=$(jq -r '.execution_config.child_run_ids[0]' "$COSMOS_DIR/runs/$b.json")
	mine=$(cat "$COSMOS_DIR/runs/$c0/request.json")
	run --separate-stderr cosmos-sync --wait --interval 1 "$b"
	assert_failure 1
	assert_equal "$(cosmos-manifest --batch "$b" | jq -r .status | tr '\n' ' ')" "completed failed completed "
	c1=$(jq -r '.execution_config.child_run_ids[1]' "$COSMOS_DIR/runs/$b.json")
	assert_equal "$(jq -r .reason "$COSMOS_DIR/runs/$c1.json")" "the batch wrote no video_1/output.mp4"
	assert_equal "$(jq -r '[.exit_code, .status] | join(" ")' "$COSMOS_DIR/runs/$b.json")" "0 failed"
	[[ "$stderr" == *"refusing output video_7/output.mp4"* ]] || fail "no refusal: $stderr"
	[[ "$stderr" == *"refusing output video_x/output.mp4"* ]] || fail "no refusal: $stderr"
	assert_file_not_exists "$COSMOS_DIR/runs/$b/outputs/video_7"
	# #22 finding 1: the child's request is still the one submitted.
	assert_equal "$(cat "$COSMOS_DIR/runs/$c0/request.json")" "$mine"
	assert_equal "$(cat "$COSMOS_DIR/runs/$c0/outputs/request.json")" forged
}

@test "cosmos inference P1 P2 P3 runs one packed batch; --wait ends completed" {
	read -r -a ps <<<"$(prompts_from "$CLIPS/full" "$CLIPS/color-only" "$CLIPS/full")"
	run --separate-stderr cosmos --json inference "${ps[@]}" --host testhost --wait
	assert_success
	b=$(jq -r 'select(.event == "batch.started") | .batch_id' <<<"$output")
	assert_equal "$(jq -r '[.model_type, .status, .execution_config.mode] | join(" ")' "$COSMOS_DIR/runs/$b.json")" \
		"batch completed packed"
	assert_equal "$(runs_of "cosmos_batch_${b:0:8}")" 1
	assert_equal "$(cosmos-manifest --batch "$b" --status completed --count)" 3
	# --fan-out: a container per child.
	run --separate-stderr cosmos --json inference "${ps[0]}" "${ps[1]}" --host testhost --fan-out --delay 0
	assert_success
	b=$(jq -r 'select(.event == "batch.started") | .batch_id' <<<"$output")
	assert_equal "$(jq -r .execution_config.mode "$COSMOS_DIR/runs/$b.json")" fan-out
	assert_equal "$(runs_of "cosmos_batch_${b:0:8}")" 0
	assert_equal "$(runs_of "cosmos_transfer_rs_.....")" 2
}

@test "requests that cannot share one container are refused by line, before anything is made" {
	read -r -a ps <<<"$(prompts_from "$CLIPS/full" "$CLIPS/full")"
	before=$(store_snapshot)
	run bash -c "{ cosmos-spec transfer ${ps[0]}; cosmos-spec transfer --seed 7 ${ps[1]}; } | cosmos-batch --packed --host testhost"
	assert_failure 1
	assert_output 'cosmos-batch: stdin:2: differs from the first request in "seed": a packed batch shares its parameters (use fan-out)'
	run bash -c "{ cosmos-spec transfer ${ps[0]}; cosmos-spec upscale --video '$CLIPS/full/color.mp4'; } | cosmos-batch --packed"
	assert_failure 1
	assert_output 'cosmos-batch: stdin:2: a packed batch takes transfer or enhance requests (upscaling runs one item at a time)'
	# A parameter only in execution_config counts too; and one host for all.
	run bash -c "{ cosmos-spec transfer ${ps[0]} | jq -c 'del(.spec.seed) | .execution_config.seed = 1'
		cosmos-spec transfer ${ps[1]} | jq -c 'del(.spec.seed) | .execution_config.seed = 999'; } | cosmos-batch --packed --host testhost"
	assert_failure 1
	assert_output 'cosmos-batch: stdin:2: differs from the first request in "seed": a packed batch shares its parameters (use fan-out)'
	run bash -c "{ cosmos-spec transfer ${ps[0]}; cosmos-spec transfer ${ps[1]} | jq -c '.host = \"nowhere\"'; } | cosmos-batch --packed --host testhost"
	assert_failure 1
	assert_output 'cosmos-batch: stdin:2: differs from the first request in "host": a packed batch runs on one host'
	assert_equal "$(store_snapshot)" "$before"
	# A request cosmos-submit would refuse is left out by line; the rest make the batch.
	run --separate-stderr bash -c "{ cosmos-spec transfer ${ps[0]}; cosmos-spec transfer ${ps[1]} | jq -c '.execution_config = \"oops\"'; } | cosmos-batch --packed --host testhost"
	assert_failure 1
	assert_equal "$stderr" 'cosmos-batch: stdin:2: "execution_config" is not an object'
	assert_equal "$(jq -r .total <<<"${lines[0]}")" 1
	# Nor can a batch job be sent without its batch.
	run bash -c "echo '{\"model_type\":\"batch\",\"spec\":{},\"batch_input\":[{}]}' | cosmos-submit --host testhost"
	assert_failure 1
	assert_output --partial 'stdin:1: a batch request needs the "run_id" of its parent'
}

@test "cancelling a packed batch cancels its children; a child alone cannot be cancelled" {
	standin_model sleep 30
	read -r -a ps <<<"$(prompts_from "$CLIPS/full" "$CLIPS/full")"
	b=$(packed "${ps[@]}")
	c0=$(jq -r '.execution_config.child_run_ids[0]' "$COSMOS_DIR/runs/$b.json")
	run cosmos-sync "$c0"
	assert_success
	assert_equal "$(jq -r .status "$COSMOS_DIR/runs/$c0.json")" running
	before=$(store_snapshot)
	run cosmos-sync --cancel "$c0"
	assert_failure 1
	assert_output "cosmos-sync: $c0: part of packed batch $b, which runs every child in one container; cancel the batch"
	assert_equal "$(store_snapshot)" "$before"
	run cosmos-sync --cancel "$b"
	assert_success
	assert_equal "$(cosmos-manifest --batch "$b" | jq -r .status | tr '\n' ' ')" "cancelled cancelled "
	assert_equal "$(jq -r .reason "$COSMOS_DIR/runs/$c0.json")" \
		"its packed batch $b ended cancelled: cancelled by the user"
	grep -q "^kill cosmos_batch_${b:0:8}\$" "$SSHD_DIR/state/calls.log"
}

@test "a packed batch that never reached its host is resumed whole, once" {
	read -r -a ps <<<"$(prompts_from "$CLIPS/full" "$CLIPS/full")"
	run --separate-stderr bash -c "cosmos-spec transfer ${ps[*]} | cosmos-batch --packed --host nowhere"
	assert_failure 1
	b=$(jq -r .batch_id <<<"${lines[0]}")
	assert_equal "$(jq -r '[.success_count, .failure_count] | join(" ")' <<<"${lines[-1]}")" "0 2"
	assert_equal "$(cosmos-manifest --batch "$b" --status pending --count)" 2
	assert_equal "$(jq -r .status "$COSMOS_DIR/runs/$b.json")" pending
	run timeout 20 cosmos-sync --wait --interval 1 "$b"
	assert_failure 1
	assert_output --partial "batch has children that never started (cosmos-batch --resume $b)"
	run cosmos-batch --resume "$b" --host testhost
	assert_success
	assert_equal "$(runs_of "cosmos_batch_${b:0:8}")" 1
	run cosmos-batch --resume "$b" --host testhost
	assert_success
	assert_output ""
	assert_equal "$(runs_of "cosmos_batch_${b:0:8}")" 1
	run cosmos-sync --wait --interval 1 "$b"
	assert_success
	assert_equal "$(cosmos-manifest --batch "$b" --status completed --count)" 2
}

@test "enhance-batch in one container: replaces each prompt's text (keeping the old), or with --create-new makes new prompts" {
	read -r -a ps <<<"$(prompts_from "$CLIPS/full" "$CLIPS/color-only")"
	run --separate-stderr cosmos --json enhance-batch "${ps[@]}" --host testhost --wait
	assert_success
	b=$(jq -r 'select(.event == "batch.started") | .batch_id' <<<"$output")
	assert_equal "$(jq -r '[.model_type, .status, .execution_config.mode] | join(" ")' "$COSMOS_DIR/runs/$b.json")" \
		"enhance_batch completed packed"
	assert_equal "$(runs_of "cosmos_enhance_batch_${b:0:8}")" 1
	for i in 0 1; do
		pr=$COSMOS_DIR/prompts/${ps[$i]}.json
		assert_equal "$(jq -r .prompt_text "$pr")" "prompt $((i + 1)): a cube on a table, in rich detail, with soft cinematic light"
		assert_equal "$(jq -c .previous_texts "$pr")" "[\"prompt $((i + 1)): a cube on a table\"]"
		c=$(jq -r ".execution_config.child_run_ids[$i]" "$COSMOS_DIR/runs/$b.json")
		assert_equal "$(jq -r '[.model_type, .execution_config.original_prompt, .outputs.enhanced_prompt] | join("|")' "$COSMOS_DIR/runs/$c.json")" \
			"enhance|prompt $((i + 1)): a cube on a table|$(jq -r .prompt_text "$pr")"
	done

	run --separate-stderr cosmos --json enhance-batch --create-new "${ps[0]}" --host testhost --wait
	assert_success
	new=$(jq -r 'select(.id? // "" | startswith("ps_")) | .id' <<<"$output")
	[ -n "$new" ] || fail "no new prompt printed: $output"
	np=$COSMOS_DIR/prompts/$new.json
	assert_equal "$(jq -r '[.parent_prompt_id, .enhanced] | join(" ")' "$np")" "${ps[0]} true"
	assert_equal "$(jq -r .prompt_text "$np")" \
		"prompt 1: a cube on a table, in rich detail, with soft cinematic light, in rich detail, with soft cinematic light"
	# The original is left as it was.
	assert_equal "$(jq -c .previous_texts "$COSMOS_DIR/prompts/${ps[0]}.json")" '["prompt 1: a cube on a table"]'
}

@test "killed after its batch started but before the children were told: --resume tells them, starting nothing" {
	standin_model sleep 8
	read -r -a ps <<<"$(prompts_from "$CLIPS/full" "$CLIPS/full")"
	b=$(packed "${ps[@]}")
	# The state such a kill leaves: the parent submitted, the children as made.
	for c in $(jq -r '.execution_config.child_run_ids[]' "$COSMOS_DIR/runs/$b.json"); do
		jq -c '.status = "pending" | del(.host, .backend, .job, .submitted_at)' "$COSMOS_DIR/runs/$c.json" >"$BATS_TEST_TMPDIR/r"
		mv "$BATS_TEST_TMPDIR/r" "$COSMOS_DIR/runs/$c.json"
	done
	# Meanwhile the batch runs.
	run cosmos-sync "$b"
	assert_success
	assert_equal "$(jq -r .status "$COSMOS_DIR/runs/$b.json")" running
	run cosmos-batch --resume "$b" --host testhost
	assert_success
	assert_equal "$(jq -c '[(.child_run_ids | length), .total]' <<<"${lines[0]}")" "[2,2]"
	assert_equal "$(jq -c '[.success_count, .total]' <<<"${lines[-1]}")" "[2,2]"
	assert_equal "$(runs_of "cosmos_batch_${b:0:8}")" 1
	assert_equal "$(cosmos-manifest --batch "$b" | jq -r '[.status, .job.batch_container] | join(" ")' | sort -u)" \
		"running cosmos_batch_${b:0:8}"
	run cosmos-sync --wait --interval 1 "$b"
	assert_success
	assert_equal "$(cosmos-manifest --batch "$b" --status completed --count)" 2
}

@test "a child its batch never told still gets its output, and --wait waits for it" {
	read -r -a ps <<<"$(prompts_from "$CLIPS/full" "$CLIPS/full")"
	standin_model sleep 2
	b=$(packed "${ps[@]}")
	c=$(jq -r '.execution_config.child_run_ids[1]' "$COSMOS_DIR/runs/$b.json")
	jq -c '.status = "pending" | del(.host, .backend, .job, .submitted_at)' "$COSMOS_DIR/runs/$c.json" >"$BATS_TEST_TMPDIR/r"
	mv "$BATS_TEST_TMPDIR/r" "$COSMOS_DIR/runs/$c.json"
	run --separate-stderr cosmos-sync --wait --interval 1 "$b"
	assert_success
	assert_equal "$stderr" ""
	assert_equal "$(jq -r .status "$COSMOS_DIR/runs/$c.json")" completed
	assert_file_exists "$COSMOS_DIR/runs/$c/outputs/output.mp4"
}
