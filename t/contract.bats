#!/usr/bin/env bats
# The contract with NVIDIA's transfer.py: what cosmos sends (specs, batch
# items, command lines) is held against the facts of the real interface.
#
# The facts come from nvidia-cosmos/cosmos-transfer1 at commit 5005e82;
# t/upstream/transfer.py states the parser's flags, the spec loading and
# validation and the batch-override merge, each with its file and line,
# and fails where the real program would.  Runs go through the whole
# pipeline: cosmos-submit or cosmos-batch, the local backend, cosmos-job,
# our engine-cosmos, then torchrun and transfer.py (both stand-ins, from
# t/upstream, first on PATH), and cosmos-sync downloads what it wrote.

load helper

setup_file() {
	export COSMOS_CONFIG=$BATS_FILE_TMPDIR/no-hosts
	export COSMOS_LOCAL_RUNTIME=process COSMOS_LOCAL_ENGINE=cosmos
	PATH="$BATS_TEST_DIRNAME/upstream:$PATH"
}

teardown() {
	for p in "$COSMOS_DIR"/local/runs/*.pid; do
		[ -f "$p" ] && kill -KILL -- "-$(cat "$p")" 2>/dev/null
	done
	true
}

wait_all() { cosmos-sync --wait --interval 1 --timeout 60 "$@"; }
out_of() { echo "$COSMOS_DIR/local/outputs/run_$1"; }

# own_clip CONTROL: a prompt dir, $BATS_TEST_TMPDIR/own, whose CONTROL.mp4
# (depth, segmentation) is a video of its own, not its color video.
own_clip() {
	mkdir -p "$BATS_TEST_TMPDIR/own"
	cp "$CLIPS/full/color.mp4" "$BATS_TEST_TMPDIR/own/color.mp4"
	ffmpeg -loglevel error -f lavfi -i testsrc2=size=320x240:rate=24 -t 1 -pix_fmt yuv420p "$BATS_TEST_TMPDIR/own/$1.mp4"
}

# packed_here: the transfer requests on stdin as one packed batch on this
# machine, waited for until it succeeds; prints the batch's id.
packed_here() {
	local b
	b=$(cosmos-batch --packed --host local 2>/dev/null | head -n 1 | jq -r .batch_id)
	[[ $b == rs_* ]] || return 1
	wait_all "$b" >/dev/null || return 1
	echo "$b"
}

# The flags transfer.py's parser defines (transfer.py l.56-172), from the
# stand-in that states them.
defined_flags() {
	python3 -c 'import sys; sys.path.insert(0, sys.argv[1]); import transfer; print("\n".join(f[0] for f in transfer.FLAGS))' \
		"$BATS_TEST_DIRNAME/upstream"
}

# Every --flag in a run's transfer.py command line is one the parser defines.
assert_flags_defined() {
	local argv=$1/transfer_argv.json
	[ -f "$argv" ] || fail "transfer.py never ran: no $argv"
	run comm -23 <(jq -r '.[] | select(startswith("--"))' "$argv" | sort -u) <(defined_flags | sort -u)
	assert_output ""
}

@test "a single transfer: every flag is transfer.py's, the spec passes its validation, output.mp4 comes back" {
	p=$(make_prompt "a robot arm" "$CLIPS/full")
	id=$(cosmos-spec transfer --weights vis=0.5,depth=0.5 "$p" | cosmos-submit | jq -r .id)
	run wait_all "$id"
	assert_success
	assert_equal "$(jq -r .status "$COSMOS_DIR/runs/$id.json")" completed
	assert_flags_defined "$(out_of "$id")"
	# As NVIDIA's single-transfer examples run it: both offloads.
	jq -e 'index("--offload_guardrail_models") and index("--offload_text_encoder_model")' \
		"$(out_of "$id")/transfer_argv.json"
	# transfer.py writes VIDEO_SAVE_FOLDER/VIDEO_SAVE_NAME.mp4 (l.397).
	assert_file_exists "$COSMOS_DIR/runs/$id/outputs/output.mp4"
}

@test "a packed batch of three, one with its own depth.mp4: upstream accepts the shared spec; the others' depth is null" {
	own_clip depth
	ps=$(for d in "$BATS_TEST_TMPDIR/own" "$CLIPS/color-only" "$CLIPS/color-only"; do
		make_prompt "a cube on a table" "$d"
	done | tr '\n' ' ')
	run packed_here < <(cosmos-spec transfer --weights vis=0.5,depth=0.5 $ps)
	assert_success
	b=$output
	out=$(out_of "$b")
	depth=cas/$(sha256sum "$BATS_TEST_TMPDIR/own/depth.mp4" | cut -c1-64).mp4
	# The shared spec carries input_video_path: validate_controlnet_specs
	# raises "Must have 'input_video' specified if sigma_max < 80" without
	# it (inference_utils.py l.1236), and holds no child's control video.
	jq -e '.input_video_path | type == "string" and length > 0' "$out/spec_used.json"
	assert_equal "$(jq -c '[.vis, .depth] | map(has("input_control"))' "$out/spec_used.json")" "[false,false]"
	# Every control of the shared spec is overridden in every item, with
	# input_control the child's own file or null: transfer.py merges with
	# dict.update (l.318), so a control left out keeps the shared one.
	assert_equal "$(jq -c '[.control_overrides | to_entries[] | [.key, (.value | has("input_control"))]]' \
		"$out/batch_input.jsonl" | sort -u)" '[["vis",true],["depth",true]]'
	assert_equal "$(jq -c '.control_overrides.depth.input_control' "$out/batch_input.jsonl" | tr '\n' ' ')" \
		"\"$depth\" null null "
	# What each item really received after upstream's merge.
	assert_equal "$(jq -c '[.index, .controls.depth.input_control, .controls.vis.input_control]' "$out/contract.jsonl" | tr '\n' ' ')" \
		"[0,\"$depth\",null] [1,null,null] [2,null,null] "
	assert_flags_defined "$out"
	# Not offloaded per item: a batch would reload its guardrails each time.
	jq -e 'index("--offload_guardrail_models") | not' "$out/transfer_argv.json"
	# Each child has its video_<i>/output.mp4 (transfer.py l.392-393).
	for c in $(jq -r '.execution_config.child_run_ids[]' "$COSMOS_DIR/runs/$b.json"); do
		assert_equal "$(jq -r .status "$COSMOS_DIR/runs/$c.json")" completed
		assert_file_exists "$COSMOS_DIR/runs/$c/outputs/output.mp4"
	done
}

@test "a packed child that does not use a control overrides it with weight 0 and no control video" {
	own_clip segmentation
	a=$(make_prompt "first" "$BATS_TEST_TMPDIR/own")
	b=$(make_prompt "second" "$CLIPS/color-only")
	run packed_here < <(cosmos-spec transfer --weights vis=0.5,seg=0.5 "$a"; cosmos-spec transfer --weights vis=0.5 "$b")
	assert_success
	out=$(out_of "$output")
	assert_equal "$(sed -n 2p "$out/batch_input.jsonl" | jq -c .control_overrides.seg)" '{"control_weight":0,"input_control":null}'
	assert_equal "$(sed -n 2p "$out/contract.jsonl" | jq -c '.controls.seg | {control_weight, input_control}')" \
		'{"control_weight":0,"input_control":null}'
}

@test "an upscale runs 10 steps, as NVIDIA's 4K upscaler example; --steps N or a request's own num_steps wins" {
	# examples/inference_cosmos_transfer1_7b_4kupscaler.md l.84: --num_steps 10
	# (transfer.py's own default is 35, l.132).
	v=$CLIPS/full/color.mp4
	ids=$({
		cosmos-spec upscale --video "$v"
		cosmos-spec upscale --video "$v" --steps 4
		cosmos-spec upscale --video "$v" | jq -c 'del(.spec.num_steps, .execution_config.num_steps)'
		cosmos-spec upscale --video "$v" | jq -c 'del(.spec.num_steps) | .execution_config.num_steps = 7'
	} | cosmos-submit | jq -r .id)
	run wait_all $ids
	assert_success
	got=
	for id in $ids; do
		assert_flags_defined "$(out_of "$id")"
		got="$got$(jq -r '[.[index("--num_steps") + 1]] | join("")' "$(out_of "$id")/transfer_argv.json") "
		got="$got$(jq -r .num_steps "$(out_of "$id")/contract.jsonl"), "
	done
	assert_equal "$got" "10 10, 4 4, 10 10, 7 7, "
	assert_equal "$(cosmos-spec upscale --video "$v" | jq -c '[.spec.num_steps, .execution_config.num_steps]')" "[10,10]"
	run cosmos-spec upscale --video "$v" --steps 0
	assert_failure 2
	assert_output "cosmos-spec: --steps: '0' is not a whole number from 1 to 1000"
}

@test "the reference engine's upscale has the real upscaler's geometry: 3x the 720p size of the nearest aspect ratio" {
	# inference_utils.py l.67-73 (VIDEO_RES_SIZE_INFO), l.339-347 (nearest
	# ratio); world_generation_pipeline.py l.408 (3x); the 4K example's
	# 1280x704 input gives 3840 x 2112 (its l.130).
	unset COSMOS_LOCAL_ENGINE
	for size in 640x360 320x240 360x640; do
		ffmpeg -loglevel error -f lavfi -i testsrc=size=$size:rate=24 -t 0.5 -pix_fmt yuv420p "$BATS_TEST_TMPDIR/$size.mp4"
	done
	ids=$(for size in 640x360 320x240 360x640; do cosmos-spec upscale --video "$BATS_TEST_TMPDIR/$size.mp4"; done |
		cosmos-submit | jq -r .id)
	run wait_all $ids
	assert_success
	got=$(for id in $ids; do
		ffprobe -v error -select_streams v:0 -show_entries stream=width,height -of csv=s=x:p=0 "$COSMOS_DIR/runs/$id/outputs/output.mp4"
	done | tr '\n' ' ')
	assert_equal "$got" "3840x2112 2880x2112 2112x3840 "
}

@test "a run's GPUs are transfer.py's world: --nproc_per_node, --num_gpus and CUDA_VISIBLE_DEVICES agree" {
	# The host's three stand-in GPUs (t/standin/nvidia-smi), lent to each
	# run by the host's line: a process gets CUDA_VISIBLE_DEVICES, and
	# engine-cosmos counts that, not nvidia-smi -L (which lists all three).
	export STANDIN_STATE=$BATS_TEST_TMPDIR/st
	mkdir -p "$STANDIN_STATE" "$BATS_TEST_TMPDIR/bin"
	echo 3 >"$STANDIN_STATE/gpus"
	ln -s "$BATS_TEST_DIRNAME/standin/nvidia-smi" "$BATS_TEST_TMPDIR/bin/nvidia-smi"
	PATH=$BATS_TEST_TMPDIR/bin:$PATH
	p=$(make_prompt "a robot arm" "$CLIPS/full")
	ids=$({ cosmos-spec transfer --gpus 2 "$p"; cosmos-spec transfer "$p"; } | cosmos-submit | jq -r .id)
	run wait_all $ids
	assert_success
	got=$(for id in $ids; do
		jq -r '[.[index("--num_gpus") + 1]] | join("")' "$(out_of "$id")/transfer_argv.json"
		jq -r '"\(.WORLD_SIZE) \(.CUDA_VISIBLE_DEVICES | split(",") | length)"' "$(out_of "$id")/transfer_world.json"
	done | tr '\n' ' ')
	assert_equal "$got" "2 2 2 1 1 1 "
}
