#!/usr/bin/env bats
# Checkpoints and secrets (#21): weights come from Hugging Face on first
# use, into the host's hf_home (mounted into the container); the Hugging
# Face token stays in a file on the host, hf_token_file (mode 0600), that
# the job finds by its path: HF_TOKEN_PATH.  Its content is never read by
# cosmos, and is in no argv, environment, record, job file or log.
#
# huggingface_hub (and the hf CLI upstream downloads with) reads the token
# from the file HF_TOKEN_PATH names, by default $HF_HOME/token, and HF_TOKEN
# wins over that file when set: "HF_TOKEN ... will overwrite the token
# stored on the machine (in either $HF_TOKEN_PATH or "$HF_HOME/token" if the
# former is not set)", https://huggingface.co/docs/huggingface_hub/
# package_reference/environment_variables; huggingface_hub's
# src/huggingface_hub/constants.py: HF_TOKEN_PATH = os.getenv("HF_TOKEN_PATH",
# os.path.join(HF_HOME, "token")).
#
# The engine is t/standin/hf-model: it writes what it found (HF_HOME,
# HF_TOKEN_PATH, the sha256 of the file as it read it) and sleeps, while
# every process's argv and environment are sampled, as t/http.bats does
# for API keys.  The token is only ever looked for with grep -f FILE, so
# that no grep of ours holds it in its argv.

load helper
load sshd

setup_file() {
	standin_local
	export COSMOS_LOCAL_ENGINE=$BATS_TEST_DIRNAME/standin/hf-model
	sshd_start
	cp "$BATS_TEST_DIRNAME/standin/hf-model" "$SSHD_DIR/bin/"
	chmod 755 "$SSHD_DIR/bin/hf-model"
	export REMOTE_HOSTS=$COSMOS_CONFIG
	export COSMOS_CONFIG=$BATS_FILE_TMPDIR/no-hosts
}

teardown_file() {
	sshd_stop
}

setup() {
	export COSMOS_DIR="$BATS_TEST_TMPDIR/store"
	export CLIPS="$BATS_FILE_TMPDIR/clips"
	if [ ! -e "$CLIPS/full/color.mp4" ]; then
		mkdir -p "$CLIPS/full"
		ffmpeg -loglevel error -f lavfi -i testsrc=size=160x90:rate=24 -t 0.5 -pix_fmt yuv420p "$CLIPS/full/color.mp4"
	fi
	rm -f "$STANDIN_STATE"/hf-seen "$STANDIN_STATE"/intervals "$STANDIN_STATE"/model-*
	rm -f "$SSHD_DIR"/state/hf-seen "$SSHD_DIR"/state/intervals "$SSHD_DIR"/state/calls.log
	# The token: a file outside the store and every work dir.
	SECRET=$BATS_TEST_TMPDIR/secret
	mkdir -m 700 "$SECRET"
	TOKEN=$SECRET/hf.token
	printf 'hf_%s\n' "$(od -An -N20 -tx1 /dev/urandom | tr -d ' \n')" >"$TOKEN"
	chmod 600 "$TOKEN"
	HF=$BATS_TEST_TMPDIR/hf
}

teardown() {
	standin_teardown
	standin_model clear
}

# This machine as the host [here] (process runtime), with hf_home and the
# hf_token_file $1.
local_host() {
	printf '[here]\nbackend = local\nhf_home = %s\nhf_token_file = %s\n' "$HF" "$1" >"$BATS_TEST_TMPDIR/hosts"
	export COSMOS_CONFIG=$BATS_TEST_TMPDIR/hosts
}

# The SSH test host (the stand-in docker) running hf-model, with hf_home
# and hf_token_file in folders of the SSH user's; the token is copied
# there with mode $1, and TOKEN names the copy.
ssh_host() {
	local dir=$SSHD_DIR/t$BATS_TEST_NUMBER
	mkdir -p "$dir/secret" "$dir/hf"
	cp "$TOKEN" "$dir/secret/hf.token"
	chown -R "$SSH_USER" "$dir"
	chmod 700 "$dir/secret"
	chmod "$1" "$dir/secret/hf.token"
	TOKEN=$dir/secret/hf.token HF=$dir/hf
	sed "s|-e COSMOS_ENGINE=[^ ]*|-e COSMOS_ENGINE=$SSHD_DIR/bin/hf-model|" "$REMOTE_HOSTS" >"$BATS_TEST_TMPDIR/hosts"
	printf 'hf_home = %s\nhf_token_file = %s\n' "$HF" "$TOKEN" >>"$BATS_TEST_TMPDIR/hosts"
	export COSMOS_CONFIG=$BATS_TEST_TMPDIR/hosts
}

# Every process's argv (ps -eo args) into $BATS_TEST_TMPDIR/ps, and the
# /proc/PID/environ files that hold the token into .../environ, every
# 0.1 s until the stand-in model's span in $1/intervals has ended (20 s
# at most).
sample_while_running() {
	local i
	: >"$BATS_TEST_TMPDIR/ps"
	: >"$BATS_TEST_TMPDIR/environ"
	for i in $(seq 200); do
		ps -eo args >>"$BATS_TEST_TMPDIR/ps"
		grep -lF -f "$TOKEN" /proc/[0-9]*/environ >>"$BATS_TEST_TMPDIR/environ" 2>/dev/null || true
		grep -q '^end ' "$1/intervals" 2>/dev/null && break
		sleep 0.1
	done
}

# The token in none of these files or folders (FIFOs, as the stand-in
# docker's waiters, skipped), nor in any process's environment sampled.
never_token() {
	run grep -rlF -D skip -f "$TOKEN" -- "$@"
	assert_failure 1
	assert_output ""
	run cat "$BATS_TEST_TMPDIR/environ"
	assert_output ""
}

@test "local: the engine reads the token through HF_TOKEN_PATH; it is in no argv, environment, record, job file or log" {
	local_host "$TOKEN"
	echo 2 >"$STANDIN_STATE/model-sleep"
	p=$(make_prompt "a robot arm" "$CLIPS/full")
	# A token of the user's own environment is not the host's: not passed on.
	id=$(cosmos-spec transfer "$p" | HF_TOKEN=not-the-hosts-token cosmos-submit | jq -r .id)
	sample_while_running "$STANDIN_STATE"
	run cosmos-sync --wait --interval 1 --timeout 60 "$id"
	assert_success
	assert_equal "$(jq -r .status "$COSMOS_DIR/runs/$id.json")" completed
	# What the engine found: the cache folder, the token file by its path,
	# readable, and no HF_TOKEN to win over it.
	run cat "$STANDIN_STATE/hf-seen"
	assert_output "HF_HOME=$HF
HF_TOKEN_PATH=$TOKEN
HF_TOKEN=
token_sha256=$(sha256sum <"$TOKEN" | cut -c1-64)"
	assert_file_exists "$HF/hub/standin-download"
	# Sampled while it ran: the model was there, the token never.
	grep -q 'standin/model' "$BATS_TEST_TMPDIR/ps"
	cosmos logs "$id" >"$BATS_TEST_TMPDIR/log" 2>&1
	grep -q 'COSMOS_COMPLETE' "$BATS_TEST_TMPDIR/log"
	# The store holds the records and the work dir ($COSMOS_DIR/local:
	# runs/ID.sh, outputs/ with run.log).
	assert_file_exists "$COSMOS_DIR/local/runs/$id.sh"
	never_token "$BATS_TEST_TMPDIR/ps" "$BATS_TEST_TMPDIR/log" "$COSMOS_DIR"
}

@test "local: a token file group or others may read, a missing one, a folder: refused in one line naming hf_token_file; nothing starts" {
	p=$(make_prompt "a robot arm" "$CLIPS/full")
	chmod 644 "$TOKEN"
	local_host "$TOKEN"
	for bad in open missing folder; do
		case $bad in
		missing) rm -f "$TOKEN" ;;
		folder) rm -f "$TOKEN" && mkdir "$TOKEN" ;;
		esac
		run -4 --separate-stderr bash -c "cosmos-spec transfer $p | cosmos-submit"
		id=$(jq -r .id <<<"$output")
		assert_equal "$(wc -l <<<"$stderr")" 1
		case $bad in
		open) why="others may read or write it: chmod 600 it" ;;
		missing) why="no such file on the host" ;;
		folder) why="not a regular file" ;;
		esac
		assert_equal "${stderr#cosmos-submit: *: $id: }" "host 'here': hf_token_file $TOKEN: $why"
		assert_equal "$(jq -r '[.status, .reason_code] | join(" ")' "$COSMOS_DIR/runs/$id.json")" "failed auth"
		assert_file_not_exists "$COSMOS_DIR/local/runs/$id.sh"
		assert_file_not_exists "$STANDIN_STATE/hf-seen"
	done
	# A path that is neither absolute nor from ~/ (docker would take it
	# for a volume's name), or holds a ':' (docker's -v separator).
	for path in secret/hf.token "/a:b"; do
		printf '[here]\nbackend = local\nhf_token_file = %s\n' "$path" >"$COSMOS_CONFIG"
		run bash -c "cosmos-spec transfer $p | cosmos-submit"
		assert_failure
		assert_output --partial "hf_token_file: '$path' is not"
	done
}

@test "docker over SSH: the token file is mounted read-only and named by HF_TOKEN_PATH, the cache by HF_HOME; the token is in no argv, record, job file or log" {
	ssh_host 600
	standin_model sleep 2
	p=$(make_prompt "a robot arm" "$CLIPS/full")
	id=$(cosmos-spec transfer "$p" | cosmos-submit | jq -r .id)
	sample_while_running "$SSHD_DIR/state"
	run cosmos-sync --wait --interval 1 --timeout 60 "$id"
	assert_success
	assert_equal "$(jq -r .status "$COSMOS_DIR/runs/$id.json")" completed
	# docker run got the file's path, mounted read-only, and the
	# variables naming the mounts' targets.
	run grep -c -- "^run .* -v $HF:/root/.cache/huggingface -e HF_HOME=/root/.cache/huggingface -v $TOKEN:/run/secrets/hf_token:ro -e HF_TOKEN_PATH=/run/secrets/hf_token cosmos-transfer1:standin sh bashscripts/cosmos-job $id\$" "$SSHD_DIR/state/calls.log"
	assert_output 1
	# In the container, the stand-in's mounts are the host's paths: the
	# engine read the token through HF_TOKEN_PATH, and downloaded into the
	# host's cache.
	run cat "$SSHD_DIR/state/hf-seen"
	assert_output "HF_HOME=$HF
HF_TOKEN_PATH=$TOKEN
HF_TOKEN=
token_sha256=$(sha256sum <"$TOKEN" | cut -c1-64)"
	assert_file_exists "$HF/hub/standin-download"
	grep -q 'bin/model' "$BATS_TEST_TMPDIR/ps"
	cosmos logs "$id" >"$BATS_TEST_TMPDIR/log" 2>&1
	grep -q 'COSMOS_COMPLETE' "$BATS_TEST_TMPDIR/log"
	assert_file_exists "$SSHD_DIR/work/runs/$id.sh"
	never_token "$BATS_TEST_TMPDIR/ps" "$BATS_TEST_TMPDIR/log" "$COSMOS_DIR" \
		"$SSHD_DIR/work" "$SSHD_DIR/state" "$SSHD_DIR/sshd.log"
}

@test "docker over SSH: a token file others may read is refused in one line naming hf_token_file; no job file, no docker run" {
	ssh_host 644
	p=$(make_prompt "a robot arm" "$CLIPS/full")
	run -4 --separate-stderr bash -c "cosmos-spec transfer $p | cosmos-submit"
	id=$(jq -r .id <<<"$output")
	assert_equal "$(wc -l <<<"$stderr")" 1
	assert_equal "${stderr#cosmos-submit: *: $id: }" "host 'testhost': hf_token_file $TOKEN: others may read or write it: chmod 600 it"
	assert_equal "$(jq -r '[.status, .reason_code] | join(" ")' "$COSMOS_DIR/runs/$id.json")" "failed auth"
	assert_file_not_exists "$SSHD_DIR/work/runs/$id.sh"
	[ ! -e "$SSHD_DIR/state/calls.log" ] || ! grep -q '^run ' "$SSHD_DIR/state/calls.log"
	# Mode 0600 again: the same request starts.
	chmod 600 "$TOKEN"
	run bash -c "cosmos-spec transfer $p | cosmos-submit | jq -r .status"
	assert_output submitted
}

@test "a slurm host refuses hf_token_file, which its jobs would not get" {
	printf '[cl]\nbackend = slurm\nworkdir = %s\nhf_token_file = %s\n' "$BATS_TEST_TMPDIR/cluster" "$TOKEN" >"$BATS_TEST_TMPDIR/hosts"
	export COSMOS_CONFIG=$BATS_TEST_TMPDIR/hosts
	p=$(make_prompt "a robot arm" "$CLIPS/full")
	run -4 bash -c "cosmos-spec transfer $p | cosmos-submit"
	assert_output --partial "host 'cl': hf_token_file: not passed to Slurm jobs"
}
