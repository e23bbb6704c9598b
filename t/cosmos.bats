#!/usr/bin/env bats
# The cosmos front door (on the local backend), the demo, and an install.

load helper

setup_file() {
	export COSMOS_CONFIG=$BATS_FILE_TMPDIR/no-hosts COSMOS_LOCAL_RUNTIME=process
}

# on_tty CMD...: run a command with a terminal as stdout; escapes kept.
on_tty() {
	script -qec "$(printf '%q ' "$@")" /dev/null | tr -d '\r'
}

@test "cosmos CMD runs cosmos-CMD, as git does; an unknown command is exit 2" {
	p=$(make_prompt "one" "$CLIPS/full")
	run cosmos manifest --type prompt
	assert_success
	assert_equal "$(jq -r .id <<<"$output")" "$p"
	run cosmos spec transfer "$p"
	assert_equal "$output" "$(cosmos-spec transfer "$p")"
	run cosmos frobnicate
	assert_failure 2
	assert_output "cosmos: 'frobnicate' is not a cosmos command (no cosmos-frobnicate); see cosmos --help"
	run cosmos
	assert_failure 2
}

@test "a table with colour on a terminal, without with NO_COLOR, JSON lines in a pipe" {
	cosmos upscale --video "$CLIPS/full/color.mp4" --wait >/dev/null
	run on_tty cosmos list
	assert_line --regexp '^RUN +TYPE +STATUS +HOST +CREATED +DETAIL$'
	assert_output --partial $'\033[32mcompleted'
	NO_COLOR=1 run on_tty cosmos list
	refute_output --partial $'\033['
	assert_line --regexp '^rs_[0-9a-f]{32} +upscale +completed +local '
	run cosmos list
	assert_equal "$(jq -r .status <<<"$output")" completed
	run on_tty cosmos --json list
	jq -e . <<<"$output" >/dev/null
}

@test "inference takes options after the prompt ids, and --wait ends with the final records" {
	p=$(make_prompt "a robot" "$CLIPS/full")
	run cosmos inference "$p" --weights vis=0.5 --steps 10 --wait
	assert_success
	assert_equal "$(jq -r .status <<<"${lines[-1]}")" completed
	id=$(jq -r .id <<<"${lines[-1]}")
	assert_equal "$(jq -c .execution_config.weights "$COSMOS_DIR/runs/$id.json")" '{"vis":0.5,"edge":0,"depth":0,"seg":0}'
	assert_equal "$(jq -r .execution_config.num_steps "$COSMOS_DIR/runs/$id.json")" 10
}

@test "create prompt, show, logs, kill and status" {
	run on_tty env NO_COLOR=1 cosmos create prompt --name robot "a robot arm" "$CLIPS/full"
	assert_line --regexp '^PROMPT +NAME +TEXT$'
	assert_line --regexp '^ps_[0-9a-f]{32} +robot +a robot arm$'
	id=$(cosmos upscale --video "$CLIPS/full/color.mp4" --wait | tail -n 1 | jq -r .id)
	run on_tty env NO_COLOR=1 cosmos show "$id"
	assert_line --regexp "^id +$id$"
	assert_line --regexp '^status +completed$'
	run cosmos logs "$id"
	assert_line "[COSMOS_COMPLETE] exit_code=0"
	mkdir -p "$BATS_TEST_TMPDIR/st"
	echo 30 >"$BATS_TEST_TMPDIR/st/model-sleep"
	slow=$(cosmos-spec upscale --video "$CLIPS/full/color.mp4" |
		STANDIN_STATE=$BATS_TEST_TMPDIR/st COSMOS_LOCAL_ENGINE=$BATS_TEST_DIRNAME/standin/model cosmos-submit | jq -r .id)
	run on_tty env NO_COLOR=1 cosmos status
	assert_line --regexp "^$slow +upscale +(submitted|running) "
	run cosmos kill "$slow"
	assert_success
	assert_equal "$(jq -r .status <<<"$output")" cancelled
	run on_tty cosmos status
	assert_line "no unfinished runs"
}

@test "make demo's script: a 3840x2112 output on the local backend" {
	run sh "$BATS_TEST_DIRNAME/../share/cosmos/demo"
	assert_success
	assert_line 3840x2112
	out=${lines[-1]}
	run ffprobe -v error -select_streams v:0 -show_entries stream=width,height -of csv=s=x:p=0 "$out"
	assert_output 3840x2112
}

@test "installed with DESTDIR and PREFIX, cosmos finds share/cosmos and works from there" {
	dest=$BATS_TEST_TMPDIR/inst
	make -s -C "$BATS_TEST_DIRNAME/.." install DESTDIR="$dest" PREFIX=/usr >/dev/null
	assert_file_exists "$dest/usr/share/bash-completion/completions/cosmos"
	assert_file_exists "$dest/usr/share/cosmos/remote/cosmos-job"
	assert_file_exists "$dest/usr/share/man/man1/cosmos.1"
	# Only the installed programs on PATH.
	PATH=$dest/usr/bin:/usr/bin:/bin run cosmos upscale --video "$CLIPS/full/color.mp4" --wait
	assert_success
	out=$(jq -r .outputs.video <<<"${lines[-1]}")
	run ffprobe -v error -select_streams v:0 -show_entries stream=width,height -of csv=s=x:p=0 "$out"
	assert_output 3840x2112
	run bash -c "source '$dest/usr/share/bash-completion/completions/cosmos' && complete -p cosmos"
	assert_output --partial "_cosmos"
}

@test "every program answers --help (usage on stdout, exit 0) and --version" {
	for p in cosmos cosmos-spec cosmos-submit cosmos-sync cosmos-batch cosmos-manifest cosmos-gallery; do
		run --separate-stderr "$p" --help
		assert_success
		assert_equal "$stderr" ""
		[[ ${lines[0]} == "usage: $p "* ]] || fail "$p --help: ${lines[0]}"
		run "$p" --version
		assert_success
		assert_output --regexp "^$p [0-9]+\.[0-9]+\.[0-9]+$"
	done
	run cosmos-spec upscale --help
	assert_success
	assert_line --partial "cosmos-spec upscale (--from-run RUN_ID | --video FILE)"
}

@test "cosmos upscale without a source says what it needs" {
	run --separate-stderr cosmos upscale </dev/null
	assert_failure 2
	assert_equal "$stderr" "cosmos: upscale: no source: give --from-run RUN_ID or --video FILE"
}
