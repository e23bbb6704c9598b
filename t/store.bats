#!/usr/bin/env bats
# The run store (lib/store.c): atomic create, locked updates, crash safety,
# and ids checked before any path is built from them.

load helper

@test "16 processes x 200 locked read-modify-writes lose no update" {
	id=$(storetool create)
	pids=()
	for i in $(seq 16); do
		storetool bump "$id" 200 &
		pids+=($!)
	done
	for p in "${pids[@]}"; do wait "$p"; done
	run jq -r .n "$COSMOS_DIR/runs/$id.json"
	assert_output 3200
	# The record is one JSON line, and the lock file is hidden beside it.
	assert_equal "$(wc -l <"$COSMOS_DIR/runs/$id.json")" 1
	assert_file_exists "$COSMOS_DIR/runs/.$id.lock"
}

@test "a writer killed with SIGKILL 200 times never leaves a torn, empty or missing record" {
	id=$(storetool create)
	f="$COSMOS_DIR/runs/$id.json"
	prev=0
	for i in $(seq 200); do
		storetool churn "$id" &
		pid=$!
		sleep "0.$(printf '%03d' $((RANDOM % 40)))"
		kill -9 "$pid"
		wait "$pid" 2>/dev/null || true
		[ -s "$f" ] || fail "kill $i: record missing or empty"
		n=$(jq -er .n "$f") || fail "kill $i: record is not whole JSON: $(head -c 200 "$f")"
		[ "$n" -ge "$prev" ] || fail "kill $i: counter went back from $prev to $n"
		prev=$n
	done
	# The writer got somewhere, and nothing but hidden temporaries was left.
	[ "$prev" -gt 0 ]
	run ls "$COSMOS_DIR/runs"
	assert_output "$id.json"
	temps=$(find "$COSMOS_DIR/runs" -name ".$id.json.tmp*" | wc -l)
	echo "# $prev updates survived; $temps kills landed mid-write" >&3
}

@test "creating never replaces an existing record" {
	id=$(storetool create)
	storetool bump "$id" 3
	# A second record with a fresh id is a new file; the first is untouched.
	id2=$(storetool create)
	[ "$id" != "$id2" ]
	run jq -r .n "$COSMOS_DIR/runs/$id.json"
	assert_output 3
}

@test "ids are 32 lowercase hex digits from the kernel, unique" {
	for i in $(seq 50); do storetool create; done >"$BATS_TEST_TMPDIR/ids"
	run grep -cvE '^rs_[0-9a-f]{32}$' "$BATS_TEST_TMPDIR/ids"
	assert_output 0
	assert_equal "$(sort -u "$BATS_TEST_TMPDIR/ids" | wc -l)" 50
}

hostile_ids=(
	'../prompts/x'
	'rs_../../../../etc/passwd'
	'/etc/passwd'
	'rs_0123456789abcdef0123456789abcdef/../x'
	'rs_0123456789abcdef0123456789abcdef0'
	'rs_0123456789ABCDEF0123456789ABCDEF'
	'rs_'
	''
)

@test "ids that could escape the store are rejected before any path is built" {
	mkdir -p "$COSMOS_DIR/runs"
	long="rs_$(printf 'a%.0s' $(seq 5000))"
	for bad in "${hostile_ids[@]}" "$long"; do
		# LeakSanitizer cannot run under ptrace; other tests leak-check.
		ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" \
			run strace -f -qq -e trace=%file -o "$BATS_TEST_TMPDIR/trace" cosmos-manifest -- "$bad"
		assert_failure 1
		assert_line --partial "argument 1: '"
		assert_equal "${#lines[@]}" 1
		# No file system call saw any part of the hostile text.
		if [ -n "$bad" ]; then
			run grep -F -- "${bad:0:40}" <(grep -v execve "$BATS_TEST_TMPDIR/trace")
			assert_failure
		fi
	done
}

@test "an id with a NUL byte on stdin is rejected, never truncated into another id" {
	good=$(make_run completed)
	# "<good id>\0junk" would be the good id if the NUL cut the line.
	run bash -c 'printf "%s\0/../junk\n%s\n" "$1" "$1" | cosmos-manifest -' _ "$good"
	assert_failure 1
	assert_line --partial "stdin:1: line holds a NUL byte"
	assert_equal "$(printf '%s\n' "${lines[@]}" | grep -c '"id"')" 1
	# Also inside a JSON string.
	run bash -c 'printf "{\"id\":\"%s\\\\u0000x\"}\n" "$1" | cosmos-manifest -' _ "$good"
	assert_failure 1
	assert_output --partial "stdin:1: JSON string holds \\u0000"
	refute_output --partial '"id"'
}

@test "a corrupt record is reported by name and skipped; the others still print" {
	a=$(make_run running)
	b=$(make_run running)
	printf '{"id":"%s","status":' "$b" >"$COSMOS_DIR/runs/$b.json"
	run cosmos-manifest
	assert_failure 1
	assert_line --partial "runs/$b.json: not a JSON object; skipped"
	assert_line --partial "\"id\":\"$a\""
}

@test "the store root defaults under XDG_STATE_HOME, then ~/.local/state" {
	unset COSMOS_DIR
	XDG_STATE_HOME="$BATS_TEST_TMPDIR/xdg" HOME=/nonexistent run cosmos-spec prompt x "$CLIPS/full"
	assert_success
	assert_file_exists "$BATS_TEST_TMPDIR/xdg/cosmos/prompts/$(jq -r .id <<<"$output").json"
	unset XDG_STATE_HOME
	HOME="$BATS_TEST_TMPDIR/home" run cosmos-spec prompt x "$CLIPS/full"
	assert_file_exists "$BATS_TEST_TMPDIR/home/.local/state/cosmos/prompts/$(jq -r .id <<<"$output").json"
	# Readers create nothing: a store that does not exist lists as empty.
	HOME="$BATS_TEST_TMPDIR/other" run cosmos-manifest --count
	assert_success
	assert_output 0
	assert_not_exist "$BATS_TEST_TMPDIR/other"
}

@test "an unusable store root is a store error (exit 3), also where items are read" {
	touch "$BATS_TEST_TMPDIR/file"
	COSMOS_DIR="$BATS_TEST_TMPDIR/file/store" run cosmos-manifest
	assert_failure 3
	assert_output "cosmos-manifest: $BATS_TEST_TMPDIR/file/store: Not a directory"
	COSMOS_DIR="$BATS_TEST_TMPDIR/file/store" run cosmos-spec transfer ps_0123456789abcdef0123456789abcdef
	assert_failure 3
	COSMOS_DIR="$BATS_TEST_TMPDIR/file/store" run cosmos-spec prompt x "$CLIPS/full"
	assert_failure 3
}

@test "an unreadable record is reported by name, not skipped in silence" {
	a=$(make_run running)
	b=$(make_run running)
	rm "$COSMOS_DIR/runs/$b.json"
	ln -s "$COSMOS_DIR/runs/$a.json" "$COSMOS_DIR/runs/$b.json"
	run cosmos-manifest
	assert_failure 1
	assert_line "cosmos-manifest: $COSMOS_DIR/runs/$b.json: Too many levels of symbolic links; skipped"
	assert_line --partial "\"id\":\"$a\""
}

@test "a reader started before the store exists sees what a writer adds later" {
	# cosmos-spec transfer starts (no store yet) while the prompts are made upstream.
	run bash -c "{ sleep 0.3; cosmos-spec prompt one '$CLIPS/full' | jq -r .id; } | cosmos-spec transfer | jq -r .prompt_id"
	assert_success
	[[ $output =~ ^ps_[0-9a-f]{32}$ ]]
}
