#!/usr/bin/env bats
# Housekeeping: cosmos-manifest --grep and cosmos search, cosmos delete,
# cosmos verify [--fix] (lib/housekeep.c).

load helper

# done_run [JQ]: a completed run as cosmos-sync leaves it: its request and
# spec beside outputs/, whose files the record names with their sizes.
done_run() {
	local size id
	size=$(stat -c %s "$CLIPS/full/color.mp4")
	id=$(make_run completed ".outputs.files = {\"output.mp4\": $size} | ${1:-.}")
	echo '{"model_type":"transfer"}' >"$COSMOS_DIR/runs/$id/request.json"
	echo '{}' >"$COSMOS_DIR/runs/$id/spec.json"
	echo "$id"
}

# A pid no process has: one that has just ended.
dead_pid() {
	sh -c 'echo $$'
}

ids() {
	jq -r .id <<<"$output" | tr '\n' ' '
}

# --- search ----------------------------------------------------------------

@test "--grep: case-insensitive, over prompt text, negative prompt, names and reasons" {
	p1=$(make_prompt --name robotarm "a Robot arm stacks red cubes" "$CLIPS/full")
	p2=$(make_prompt --name kitefield --negative "blurry FRAMES" "a kite over dunes" "$CLIPS/full")
	r1=$(make_run failed '.reason = "host GPU0 fell OFF the bus"')
	r2=$(make_run completed '.model_type = "generate" | .execution_config.prompt = "Dunes at dusk"')
	run cosmos-manifest --type prompt --grep ROBOT
	assert_success
	assert_equal "$(ids)" "$p1 "
	run cosmos-manifest --type prompt --grep KiteField
	assert_equal "$(ids)" "$p2 "
	run cosmos-manifest --type prompt --grep 'blurry frames'
	assert_equal "$(ids)" "$p2 "
	run cosmos-manifest --grep 'off the'
	assert_equal "$(ids)" "$r1 "
	run cosmos-manifest --grep DUSK
	assert_equal "$(ids)" "$r2 "
	run cosmos-manifest --grep robot
	assert_success
	assert_output ''
	# Named records pass the filter too.
	run cosmos-manifest --grep dunes "$p1" "$p2" "$r1"
	assert_equal "$(ids)" "$p2 "
	run cosmos-manifest --grep ''
	assert_failure 2
}

@test "--grep takes a hostile pattern as plain text" {
	p=$(make_prompt 'weird .*( [a- \ %s%n text' "$CLIPS/full")
	make_prompt 'plain words' "$CLIPS/full" >/dev/null
	for pat in '.*(' '[a-' '\' '%s%n' '( [A-'; do
		run cosmos-manifest --type prompt --grep "$pat"
		assert_success
		assert_equal "$(ids)" "$p "
	done
	for pat in '.+' '^weird' 'x*' '\\'; do
		run cosmos-manifest --type prompt --grep "$pat"
		assert_success
		assert_output ''
	done
}

@test "cosmos search: matching runs, then matching prompts" {
	p=$(make_prompt "a robot arm" "$CLIPS/full")
	make_prompt "a kite" "$CLIPS/full" >/dev/null
	r=$(make_run failed '.reason = "the robot fell"')
	make_run failed '.reason = "no"' >/dev/null
	run cosmos search ROBOT
	assert_success
	assert_equal "$(ids)" "$r $p "
	run cosmos search robot fell
	assert_equal "$(ids)" "$r "
	run cosmos search
	assert_failure 2
	assert_output --partial 'search: no text'
}

# --- delete ----------------------------------------------------------------

@test "delete a run: record and store files gone, outputs kept where they were" {
	r=$(done_run)
	keep=$(done_run)
	run cosmos delete "$r"
	assert_success
	assert_equal "$(jq -r .id <<<"$output")" "$r"
	assert_equal "$(jq -r .dry_run <<<"$output")" false
	assert_equal "$(jq -r '.kept[]' <<<"$output")" "$COSMOS_DIR/runs/$r/outputs"
	assert_file_not_exists "$COSMOS_DIR/runs/$r.json"
	assert_file_not_exists "$COSMOS_DIR/runs/$r/request.json"
	assert_file_not_exists "$COSMOS_DIR/runs/$r/spec.json"
	assert_file_exists "$COSMOS_DIR/runs/$r/outputs/output.mp4"
	run cosmos-manifest
	assert_equal "$(ids)" "$keep "
	[ -z "$(ls -A "$COSMOS_DIR/runs" | grep -v '\.lock$' | grep '^\.')" ]
	run cosmos verify
	assert_success
}

@test "delete --outputs: the run's whole folder goes" {
	r=$(done_run)
	run cosmos delete --outputs "$r"
	assert_success
	assert_equal "$(jq -r '.kept | length' <<<"$output")" 0
	assert_file_not_exists "$COSMOS_DIR/runs/$r.json"
	assert_file_not_exists "$COSMOS_DIR/runs/$r"
}

@test "delete an old record's run: its outputs beside the record's files are kept" {
	r=$(make_run completed)
	mv "$COSMOS_DIR/runs/$r/outputs/output.mp4" "$COSMOS_DIR/runs/$r/output.mp4"
	rmdir "$COSMOS_DIR/runs/$r/outputs"
	jq -c ".outputs = {video: \"$COSMOS_DIR/runs/$r/output.mp4\", files: {\"output.mp4\": 1}}" \
		"$COSMOS_DIR/runs/$r.json" >"$BATS_TEST_TMPDIR/x" && mv "$BATS_TEST_TMPDIR/x" "$COSMOS_DIR/runs/$r.json"
	echo '{}' >"$COSMOS_DIR/runs/$r/request.json"
	run cosmos delete "$r"
	assert_success
	assert_file_exists "$COSMOS_DIR/runs/$r/output.mp4"
	assert_file_not_exists "$COSMOS_DIR/runs/$r/request.json"
}

@test "delete a prompt: refused while it has runs not named, done with them" {
	p=$(make_prompt "a robot" "$CLIPS/full")
	r=$(done_run ".prompt_id = \"$p\"")
	alone=$(make_prompt "alone" "$CLIPS/full")
	before=$(store_snapshot)
	run cosmos delete "$p"
	assert_failure 1
	assert_output --partial "delete: $p: it has runs ($r)"
	assert_equal "$(store_snapshot)" "$before"
	run cosmos delete "$alone"
	assert_success
	assert_file_not_exists "$COSMOS_DIR/prompts/$alone.json"
	assert_file_exists "$CLIPS/full/color.mp4"
	run cosmos delete "$p" "$r"
	assert_success
	# The run goes first, then its prompt.
	assert_equal "$(ids)" "$r $p "
	assert_file_not_exists "$COSMOS_DIR/prompts/$p.json"
	assert_file_not_exists "$COSMOS_DIR/runs/$r.json"
}

# make_batch STATUS...: a batch parent with a child of each status.
make_batch() {
	local parent kids=() i=0 st
	parent=$(make_run completed '.model_type = "batch" | .outputs = {}')
	for st in "$@"; do
		if [ "$st" = completed ]; then
			kids+=("$(done_run ".execution_config = {batch_run_id: \"$parent\", batch_index: $i}")")
		else
			kids+=("$(make_run "$st" ".execution_config = {batch_run_id: \"$parent\", batch_index: $i}")")
		fi
		i=$((i + 1))
	done
	jq -c --args '.execution_config.child_run_ids = $ARGS.positional' "${kids[@]}" <"$COSMOS_DIR/runs/$parent.json" \
		>"$BATS_TEST_TMPDIR/x" && mv "$BATS_TEST_TMPDIR/x" "$COSMOS_DIR/runs/$parent.json"
	echo "$parent ${kids[*]}"
}

@test "delete a batch parent: its children go with it; a child alone is refused" {
	read -r parent k0 k1 <<<"$(make_batch completed failed)"
	other=$(done_run)
	before=$(store_snapshot)
	run cosmos delete "$k0"
	assert_failure 1
	assert_output --partial "delete: $k0: a child of batch $parent"
	assert_equal "$(store_snapshot)" "$before"
	run cosmos delete "$parent"
	assert_success
	# Children first, then the parent.
	assert_equal "$(ids)" "$k0 $k1 $parent "
	for id in "$parent" "$k0" "$k1"; do
		assert_file_not_exists "$COSMOS_DIR/runs/$id.json"
	done
	assert_file_exists "$COSMOS_DIR/runs/$k0/outputs/output.mp4"
	run cosmos-manifest
	assert_equal "$(ids)" "$other "
}

@test "delete refuses a run not terminal, and a batch with one, naming how to cancel it" {
	r=$(make_run running)
	read -r parent k0 k1 <<<"$(make_batch completed running)"
	ok=$(done_run)
	before=$(store_snapshot)
	run cosmos delete "$r" "$parent"
	assert_failure 1
	assert_line "cosmos: delete: $r: it is running: cancel it first (cosmos kill $r)"
	assert_line "cosmos: delete: $parent: its child $k1 is running: cancel the batch first (cosmos kill $parent)"
	assert_equal "$(store_snapshot)" "$before"
	# The others are still deleted.
	run cosmos delete "$r" "$ok"
	assert_failure 1
	assert_file_not_exists "$COSMOS_DIR/runs/$ok.json"
	assert_file_exists "$COSMOS_DIR/runs/$r.json"
}

@test "delete: a bad id, an unknown one, no id" {
	r=$(done_run)
	run cosmos delete rs_123 rs_0123456789abcdef0123456789abcdef "$r"
	assert_failure 1
	assert_output --partial "rs_123"
	assert_output --partial "rs_0123456789abcdef0123456789abcdef: no such record"
	assert_file_not_exists "$COSMOS_DIR/runs/$r.json"
	run cosmos delete
	assert_failure 2
	run cosmos delete --bogus "$r"
	assert_failure 2
}

@test "delete --dry-run prints what would go and changes nothing" {
	p=$(make_prompt "a robot" "$CLIPS/full")
	read -r parent k0 k1 <<<"$(make_batch completed failed)"
	r=$(done_run ".prompt_id = \"$p\"")
	before=$(store_snapshot)
	run cosmos delete --dry-run --outputs "$parent" "$p" "$r"
	assert_success
	assert_equal "$(store_snapshot)" "$before"
	assert_equal "$(jq -r .id <<<"$output" | sort | tr '\n' ' ')" "$(printf '%s\n' "$parent" "$k0" "$k1" "$p" "$r" | sort | tr '\n' ' ')"
	assert_equal "$(jq -r .dry_run <<<"$output" | sort -u)" true
	assert_equal "$(jq -r "select(.id == \"$r\") | .removed[]" <<<"$output" | sort | tr '\n' ' ')" \
		"$COSMOS_DIR/runs/$r $COSMOS_DIR/runs/$r.json "
	run cosmos delete --dry-run "$r"
	assert_equal "$(jq -r '.kept[]' <<<"$output")" "$COSMOS_DIR/runs/$r/outputs"
	run cosmos delete --dry-run "$p"
	assert_failure 1
	assert_equal "$(store_snapshot)" "$before"
}

@test "a delete killed at random points loses nothing else and shows no half record" {
	for round in 1 2 3 4 5 6; do
		export COSMOS_DIR="$BATS_TEST_TMPDIR/store$round"
		all=()
		for i in $(seq 24); do all+=("$(done_run)"); done
		declare -A orig=()
		for id in "${all[@]}"; do orig[$id]=$(cat "$COSMOS_DIR/runs/$id.json"); done
		cosmos delete "${all[@]}" >/dev/null 2>&1 &
		pid=$!
		sleep "0.0$((RANDOM % 6))$((RANDOM % 10))"
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" || true
		# What cosmos-manifest shows is whole records, as they were.
		cosmos-manifest >"$BATS_TEST_TMPDIR/shown"
		while read -r line; do
			id=$(jq -r .id <<<"$line")
			assert_equal "$line" "${orig[$id]}"
		done <"$BATS_TEST_TMPDIR/shown"
		# Every record still there is whole, with all its files.
		left=0
		for id in "${all[@]}"; do
			assert_file_exists "$COSMOS_DIR/runs/$id/outputs/output.mp4"
			if [ -e "$COSMOS_DIR/runs/$id.json" ]; then
				left=$((left + 1))
				assert_equal "$(cat "$COSMOS_DIR/runs/$id.json")" "${orig[$id]}"
				assert_file_exists "$COSMOS_DIR/runs/$id/request.json"
				assert_file_exists "$COSMOS_DIR/runs/$id/spec.json"
			fi
		done
		assert_equal "$(wc -l <"$BATS_TEST_TMPDIR/shown")" "$left"
		# verify finishes what the kill left; the rest deletes cleanly.
		run cosmos verify --fix
		[ "$status" -le 1 ]
		run cosmos verify
		assert_success
		remaining=()
		for id in "${all[@]}"; do
			[ -e "$COSMOS_DIR/runs/$id.json" ] && remaining+=("$id")
		done
		if [ "${#remaining[@]}" -gt 0 ]; then
			run cosmos delete "${remaining[@]}"
			assert_success
		fi
		run cosmos-manifest --count
		assert_output 0
		for id in "${all[@]}"; do
			assert_file_not_exists "$COSMOS_DIR/runs/$id/request.json"
			assert_file_exists "$COSMOS_DIR/runs/$id/outputs/output.mp4"
		done
		[ -z "$(ls -A "$COSMOS_DIR/runs" | grep '^\.' | grep -v '\.lock$')" ]
		unset orig
	done
}

@test "deleting again finishes a killed delete, as it was asked" {
	r=$(done_run)
	keep=$(done_run)
	dead=$(dead_pid)
	mv "$COSMOS_DIR/runs/$r.json" "$COSMOS_DIR/runs/.$r.json.delete-outputs$dead"
	mv "$COSMOS_DIR/runs/$keep.json" "$COSMOS_DIR/runs/.$keep.json.delete$dead"
	run cosmos delete --dry-run "$r"
	assert_success
	assert_file_exists "$COSMOS_DIR/runs/.$r.json.delete-outputs$dead"
	run cosmos delete "$r" "$keep"
	assert_success
	assert_equal "$(ids)" "$r $keep "
	assert_file_not_exists "$COSMOS_DIR/runs/.$r.json.delete-outputs$dead"
	assert_file_not_exists "$COSMOS_DIR/runs/$r"
	assert_file_not_exists "$COSMOS_DIR/runs/$keep/request.json"
	assert_file_exists "$COSMOS_DIR/runs/$keep/outputs/output.mp4"
}

# on_tty CMD...: run a command with a terminal as stdout.
on_tty() {
	script -qec "$(printf '%q ' "$@")" /dev/null | tr -d '\r'
}

@test "on a terminal: delete and verify print lines for a person" {
	r=$(done_run)
	run on_tty cosmos delete --dry-run "$r"
	assert_line "would delete $r"
	assert_line "  kept $COSMOS_DIR/runs/$r/outputs"
	run on_tty cosmos delete "$r"
	assert_line "deleted $r"
	run on_tty cosmos verify
	assert_output 'no problems found'
	echo '{}' >"$COSMOS_DIR/runs/$r/outputs/.x.part$(dead_pid)"
	run on_tty cosmos verify --fix
	assert_output --regexp "^dead_part +$r +$COSMOS_DIR/runs/$r/outputs/\.x\.part[0-9]+  \(fixed\)$"
}

# --- verify ----------------------------------------------------------------

@test "verify on a clean store: nothing, exit 0" {
	done_run >/dev/null
	make_run failed >/dev/null
	make_prompt "a robot" "$CLIPS/full" >/dev/null
	run cosmos verify
	assert_success
	assert_output ''
	run cosmos verify --fix
	assert_success
	assert_output ''
}

@test "verify finds each kind of problem; --fix removes the debris and changes no status" {
	gone=$(done_run)
	rm "$COSMOS_DIR/runs/$gone/outputs/output.mp4"
	short=$(done_run)
	truncate -s 100 "$COSMOS_DIR/runs/$short/outputs/output.mp4"
	fine=$(done_run)
	mkdir -p "$BATS_TEST_TMPDIR/clip"
	cp "$CLIPS/full/color.mp4" "$BATS_TEST_TMPDIR/clip/color.mp4"
	p=$(make_prompt "a robot" "$BATS_TEST_TMPDIR/clip")
	rm "$BATS_TEST_TMPDIR/clip/color.mp4"
	# A batch killed at its first record; one being made right now.
	orphan=rs_0123456789abcdef0123456789abcdef
	mkdir -p "$COSMOS_DIR/runs/$orphan"
	echo '{}' >"$COSMOS_DIR/runs/$orphan/request.json"
	touch -d '2 minutes ago' "$COSMOS_DIR/runs/$orphan/request.json" "$COSMOS_DIR/runs/$orphan"
	young=rs_00000000000000000000000000000001
	mkdir -p "$COSMOS_DIR/runs/$young"
	echo '{}' >"$COSMOS_DIR/runs/$young/request.json"
	# A dead writer's part file, and a live one's.
	dead=$(dead_pid)
	echo x >"$COSMOS_DIR/runs/$fine/outputs/.output.mp4.part$dead"
	echo x >"$COSMOS_DIR/runs/$fine/outputs/.run.log.part$$"
	# A delete killed after it hid its record.
	half=$(done_run)
	mv "$COSMOS_DIR/runs/$half.json" "$COSMOS_DIR/runs/.$half.json.delete$dead"
	# A writer's temporary record left long ago.
	echo '{}' >"$COSMOS_DIR/runs/.$fine.json.tmpabcdef"
	touch -d '2 minutes ago' "$COSMOS_DIR/runs/.$fine.json.tmpabcdef"

	statuses=$(cat "$COSMOS_DIR"/runs/rs_*.json | jq -r '.id + " " + .status' | sort)
	run cosmos verify
	assert_failure 1
	assert_equal "$(jq -r '.problem + " " + (.id // "-")' <<<"$output" | sort | tr '\n' ,)" \
		"$(printf '%s\n' "dead_part $fine" "no_record $orphan" "output_missing $gone" "output_size $short" \
			"stale_temp $fine" "unfinished_delete $half" "video_missing $p" | sort | tr '\n' ,)"
	assert_equal "$(jq -r 'select(.problem == "output_size") | "\(.expected) \(.size)"' <<<"$output")" \
		"$(stat -c %s "$CLIPS/full/color.mp4") 100"
	assert_equal "$(jq -r 'select(.problem == "dead_part") | .path' <<<"$output")" \
		"$COSMOS_DIR/runs/$fine/outputs/.output.mp4.part$dead"

	run cosmos verify --fix
	assert_failure 1
	assert_equal "$(jq -r 'select(.fixed) | .problem' <<<"$output" | sort | tr '\n' ' ')" \
		"dead_part no_record stale_temp unfinished_delete "
	assert_file_not_exists "$COSMOS_DIR/runs/$orphan"
	assert_file_exists "$COSMOS_DIR/runs/$young/request.json"
	assert_file_not_exists "$COSMOS_DIR/runs/$fine/outputs/.output.mp4.part$dead"
	assert_file_exists "$COSMOS_DIR/runs/$fine/outputs/.run.log.part$$"
	assert_file_not_exists "$COSMOS_DIR/runs/.$half.json.delete$dead"
	assert_file_not_exists "$COSMOS_DIR/runs/$half/request.json"
	assert_file_exists "$COSMOS_DIR/runs/$half/outputs/output.mp4"
	assert_file_not_exists "$COSMOS_DIR/runs/.$fine.json.tmpabcdef"
	assert_file_exists "$COSMOS_DIR/runs/$short/outputs/output.mp4"
	assert_equal "$(cat "$COSMOS_DIR"/runs/rs_*.json | jq -r '.id + " " + .status' | sort)" "$statuses"

	# What is left needs a host or a person.
	run cosmos verify
	assert_failure 1
	assert_equal "$(jq -r .problem <<<"$output" | sort | tr '\n' ' ')" "output_missing output_size video_missing "
}

@test "verify: an old record's outputs beside it; a kept outputs folder is no problem" {
	r=$(make_run completed)
	mv "$COSMOS_DIR/runs/$r/outputs/output.mp4" "$COSMOS_DIR/runs/$r/output.mp4"
	rmdir "$COSMOS_DIR/runs/$r/outputs"
	size=$(stat -c %s "$COSMOS_DIR/runs/$r/output.mp4")
	jq -c ".outputs = {video: \"$COSMOS_DIR/runs/$r/output.mp4\", files: {\"output.mp4\": $size}}" \
		"$COSMOS_DIR/runs/$r.json" >"$BATS_TEST_TMPDIR/x" && mv "$BATS_TEST_TMPDIR/x" "$COSMOS_DIR/runs/$r.json"
	d=$(done_run)
	cosmos delete "$d" >/dev/null
	touch -d '2 minutes ago' "$COSMOS_DIR/runs/$d"
	run cosmos verify
	assert_success
	assert_output ''
}

@test "verify --fix downloads again a completed run's output its host still has; the record stays as it was" {
	export COSMOS_CONFIG=$BATS_TEST_TMPDIR/no-hosts COSMOS_LOCAL_RUNTIME=process
	a=$(cosmos-spec upscale --video "$CLIPS/full/color.mp4" | cosmos-submit | jq -r .id)
	cosmos-sync --wait --interval 1 --timeout 60 "$a" >/dev/null
	out=$COSMOS_DIR/runs/$a/outputs/output.mp4
	want=$(sha256sum <"$out")
	rm "$out"
	truncate -s 10 "$COSMOS_DIR/runs/$a/outputs/run.log"
	rec=$(cat "$COSMOS_DIR/runs/$a.json")
	run cosmos verify --fix
	assert_success
	assert_equal "$(jq -r '[.problem, .fixed] | join(" ")' <<<"$output" | sort | tr '\n' ,)" "output_missing true,output_size true,"
	assert_equal "$(sha256sum <"$out")" "$want"
	assert_equal "$(cat "$COSMOS_DIR/runs/$a.json")" "$rec"
	run cosmos verify
	assert_success
}

@test "verify --fix downloads a packed child's output again from its batch's video_<i>/ on the host" {
	export COSMOS_CONFIG=$BATS_TEST_TMPDIR/no-hosts COSMOS_LOCAL_RUNTIME=process
	p=$(make_prompt "a robot arm" "$CLIPS/full")
	q=$(make_prompt "a cube" "$CLIPS/full")
	b=$(cosmos-spec transfer "$p" "$q" | cosmos-batch --packed 2>/dev/null | head -n 1 | jq -r .batch_id)
	cosmos-sync --wait --interval 1 --timeout 60 "$b" >/dev/null
	c1=$(jq -r '.execution_config.child_run_ids[1]' "$COSMOS_DIR/runs/$b.json")
	out=$COSMOS_DIR/runs/$c1/outputs/output.mp4
	want=$(sha256sum <"$out")
	rm "$out"
	run cosmos verify --fix
	assert_success
	assert_equal "$(jq -r '[.problem, .id, .fixed] | join(" ")' <<<"$output")" "output_missing $c1 true"
	assert_equal "$(sha256sum <"$out")" "$want"
	cmp "$out" "$COSMOS_DIR/local/outputs/run_$b/video_1/output.mp4"
}
