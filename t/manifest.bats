#!/usr/bin/env bats
# cosmos-manifest: filters, ordering, ids, and read-only behaviour.

load helper

# make_at TIME STATUS [JQ]: a run created at a given time.
make_at() {
	make_run "$2" ".created_at = \"$1\" | ${3:-.}"
}

@test "lists runs newest first, printed exactly as stored" {
	a=$(make_at 2026-01-01T00:00:01.000Z running)
	b=$(make_at 2026-01-03T00:00:00.000Z completed)
	c=$(make_at 2026-01-02T00:00:00.000Z failed)
	run cosmos-manifest
	assert_success
	assert_equal "$(jq -r .id <<<"$output" | tr '\n' ' ')" "$b $c $a "
	assert_equal "${lines[0]}" "$(cat "$COSMOS_DIR/runs/$b.json")"
}

@test "filters by status, type, prompt and batch; --count and --limit" {
	p=ps_0123456789abcdef0123456789abcdef
	batch=rs_0123456789abcdef0123456789abcdef
	t1=$(make_at 2026-01-01T00:00:01.000Z completed ".prompt_id = \"$p\"")
	t2=$(make_at 2026-01-01T00:00:02.000Z failed)
	u1=$(make_at 2026-01-01T00:00:03.000Z completed '.model_type = "upscale"')
	c2=$(make_at 2026-01-01T00:00:04.000Z running ".execution_config = {batch_run_id: \"$batch\", batch_index: 2}")
	c0=$(make_at 2026-01-01T00:00:05.000Z pending ".execution_config = {batch_run_id: \"$batch\", batch_index: 0}")
	c1=$(make_at 2026-01-01T00:00:00.000Z pending ".execution_config = {batch_run_id: \"$batch\", batch_index: 1}")

	run cosmos-manifest --status completed
	assert_equal "$(jq -r .id <<<"$output" | tr '\n' ' ')" "$u1 $t1 "
	run cosmos-manifest --status completed,failed --type transfer
	assert_equal "$(jq -r .id <<<"$output" | tr '\n' ' ')" "$t2 $t1 "
	run cosmos-manifest --prompt "$p"
	assert_equal "$(jq -r .id <<<"$output")" "$t1"
	run cosmos-manifest --batch "$batch"
	assert_equal "$(jq -r .id <<<"$output" | tr '\n' ' ')" "$c0 $c1 $c2 "
	run cosmos-manifest --count
	assert_output 6
	run cosmos-manifest --count --status pending
	assert_output 2
	run cosmos-manifest --limit 2
	assert_equal "$(jq -r .id <<<"$output" | tr '\n' ' ')" "$c0 $c2 "
}

@test "prompts with --type prompt, and by id" {
	p=$(make_prompt "one" "$CLIPS/full")
	r=$(make_run running)
	run cosmos-manifest --type prompt
	assert_equal "$(jq -r .id <<<"$output")" "$p"
	run cosmos-manifest --type prompt,transfer --count
	assert_output 2
	run cosmos-manifest "$r" "$p"
	assert_success
	assert_equal "$(jq -r .id <<<"$output" | tr '\n' ' ')" "$r $p "
	run cosmos-manifest --type prompt --status failed
	assert_failure 2
}

@test "records named by id are printed byte for byte as stored" {
	r=$(make_run running '.execution_config.guidance = 1.50 | .name = "caf\u00e9"')
	# jq writes 1.50 as 1.50 and \u00e9 as é; rewrite the file by hand.
	printf '{"id":"%s","status":"running","model_type":"transfer","x":1.50,"y":"\\u00e9"}\n' "$r" \
		>"$COSMOS_DIR/runs/$r.json"
	run cosmos-manifest "$r"
	assert_output "$(cat "$COSMOS_DIR/runs/$r.json")"
}

@test "ids from stdin and operands, in the order given; bad ones named, others printed" {
	a=$(make_run running)
	b=$(make_run completed)
	missing=rs_0123456789abcdef0123456789abcdef
	run --separate-stderr cosmos-manifest "$b" - "$missing" <<EOF
$a
{"id":"$b","status":"whatever"}
not-an-id
EOF
	assert_failure 1
	assert_equal "$(jq -r .id <<<"$output" | tr '\n' ' ')" "$b $a $b "
	assert_equal "$stderr" "cosmos-manifest: stdin:3: 'not-an-id' is not a run or prompt id (rs_ or ps_ + 32 lowercase hex digits)
cosmos-manifest: argument 3: $missing: no such record"
	# Filters apply to named records too.
	run cosmos-manifest --status completed "$a" "$b"
	assert_equal "$(jq -r .id <<<"$output")" "$b"
}

@test "bad options are usage errors" {
	for o in "--status done" "--type movie" "--prompt rs_0123456789abcdef0123456789abcdef" \
		"--batch ../x" "--limit -1" "--limit x" "--status ,"; do
		run cosmos-manifest $o
		assert_failure 2
		assert_output --partial "cosmos-manifest: ${o%% *}: "
	done
}

@test "read-only: takes no lock and changes nothing" {
	make_run running >/dev/null
	make_prompt "one" "$CLIPS/full" >/dev/null
	chmod -R a-w "$COSMOS_DIR"
	run cosmos-manifest --type prompt,transfer
	chmod -R u+w "$COSMOS_DIR"
	assert_success
	assert_equal "${#lines[@]}" 2
	run find "$COSMOS_DIR" -name '.*'
	assert_output ""
}

@test "an empty store lists nothing" {
	run cosmos-manifest
	assert_success
	assert_output ""
	run cosmos-manifest --count
	assert_output 0
}
