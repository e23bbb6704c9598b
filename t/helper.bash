# helper.bash - loaded by every t/*.bats file.
#
# COSMOS_BIN (the programs) and COSMOS_TESTBIN (test drivers) come from the
# Makefile, so that the same suite runs against the normal and the
# sanitizer build.  Every test gets its own empty store in COSMOS_DIR.

bats_require_minimum_version 1.5.0
bats_load_library bats-support
bats_load_library bats-assert
bats_load_library bats-file

: "${COSMOS_BIN:=$BATS_TEST_DIRNAME/../bin}"
: "${COSMOS_TESTBIN:=$BATS_TEST_DIRNAME/../build/t}"
PATH="$COSMOS_BIN:$COSMOS_TESTBIN:$PATH"

setup() {
	export COSMOS_DIR="$BATS_TEST_TMPDIR/store"
	export CLIPS="$BATS_FILE_TMPDIR/clips"
	if [ ! -e "$CLIPS/full/color.mp4" ]; then
		mkdir -p "$CLIPS/full" "$CLIPS/color-only" "$CLIPS/empty"
		ffmpeg -loglevel error -f lavfi -i testsrc=size=320x180:rate=24 -t 1 \
			-pix_fmt yuv420p "$CLIPS/full/color.mp4"
		cp "$CLIPS/full/color.mp4" "$CLIPS/full/depth.mp4"
		cp "$CLIPS/full/color.mp4" "$CLIPS/full/segmentation.mp4"
		cp "$CLIPS/full/color.mp4" "$CLIPS/color-only/color.mp4"
	fi
}

# make_prompt [cosmos-spec prompt options...] TEXT DIR: print the new id.
make_prompt() {
	cosmos-spec prompt "$@" | jq -r .id
}

# make_run STATUS [JQ-EXPR]: write a run record the way the store does
# (documented in cosmos(7)), with an output video when completed.
make_run() {
	local status=$1 expr=${2:-.} id dir
	id=rs_$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
	dir="$COSMOS_DIR/runs/$id"
	mkdir -p "$dir"
	local out=null
	if [ "$status" = completed ]; then
		mkdir -p "$dir/outputs"
		cp "$CLIPS/full/color.mp4" "$dir/outputs/output.mp4"
		out="\"$dir/outputs/output.mp4\""
	fi
	jq -nc --arg id "$id" --arg st "$status" --argjson out "$out" '
		{id:$id, model_type:"transfer", status:$st, prompt_id:null,
		 execution_config:{}, outputs:(if $out then {video:$out} else {} end),
		 created_at:"2026-01-01T00:00:00.000Z", updated_at:"2026-01-01T00:00:00.000Z"}
		| del(.prompt_id)' | jq -c "$expr" >"$COSMOS_DIR/runs/$id.json"
	echo "$id"
}

# orphan ID: the record as a submit killed between starting the job and
# recording it leaves it: pending, its backend and host named, no job.
orphan() {
	jq -c 'del(.job, .submitted_at) | .status = "pending"' "$COSMOS_DIR/runs/$1.json" >"$COSMOS_DIR/runs/$1.json.new"
	mv "$COSMOS_DIR/runs/$1.json.new" "$COSMOS_DIR/runs/$1.json"
}

# The store's files, with their contents, as one string: to show that
# something changed nothing.
store_snapshot() {
	(cd "$COSMOS_DIR" 2>/dev/null && find . -type f ! -name '.*.lock' | sort | xargs -r sha256sum) || true
}

# The local backend with the stand-in model (t/standin/model), for a
# file's setup_file: processes, no hosts, the model's orders in
# STANDIN_STATE.
standin_local() {
	export COSMOS_CONFIG=$BATS_FILE_TMPDIR/no-hosts
	export COSMOS_LOCAL_RUNTIME=process
	export STANDIN_STATE=$BATS_FILE_TMPDIR/standin
	mkdir -p "$STANDIN_STATE"
}

# For a GPU-slot file's setup_file: standin_local, with the stand-in
# nvidia-smi on PATH and the stand-in model as the engine.
standin_local_gpus() {
	standin_local
	mkdir -p "$BATS_FILE_TMPDIR/bin"
	ln -s "$BATS_TEST_DIRNAME/standin/nvidia-smi" "$BATS_FILE_TMPDIR/bin/nvidia-smi"
	export PATH="$BATS_FILE_TMPDIR/bin:$PATH"
	export COSMOS_LOCAL_ENGINE=$BATS_TEST_DIRNAME/standin/model
}

# For a GPU-slot file's setup (gpus.bats, hosts.bats): a store of the
# test's own, a short clip in CLIPS, the stand-in model's orders and log
# cleared, and N stand-in GPUs (t/standin/nvidia-smi).
standin_gpus() {
	export COSMOS_DIR="$BATS_TEST_TMPDIR/store"
	export CLIPS="$BATS_FILE_TMPDIR/clips"
	[ -e "$CLIPS/full/color.mp4" ] || {
		mkdir -p "$CLIPS/full"
		ffmpeg -loglevel error -f lavfi -i testsrc=size=160x90:rate=24 -t 0.5 -pix_fmt yuv420p "$CLIPS/full/color.mp4"
	}
	rm -f "$STANDIN_STATE"/intervals "$STANDIN_STATE"/model-*
	echo "$1" >"$STANDIN_STATE/gpus"
}

# For its teardown: the model's orders gone, and whatever a test left
# running on this machine stopped (each run's process group, by its pid).
standin_teardown() {
	rm -f "$STANDIN_STATE"/model-*
	for p in "$COSMOS_DIR"/local/runs/*.pid; do
		[ -f "$p" ] && kill -KILL -- "-$(cat "$p")" 2>/dev/null
	done
	true
}
