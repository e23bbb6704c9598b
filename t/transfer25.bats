#!/usr/bin/env bats
# engine = transfer2.5: NVIDIA Cosmos-Transfer2.5 as a second engine.
#
# Requests translate into upstream's spec on this side, or are refused
# before anything is sent (lib/transfer25.c).  Runs go through the whole
# pipeline: cosmos-submit, the local backend (process runtime) whose work
# dir is the cosmos-transfer2.5 checkout, cosmos-job, our engine-transfer25,
# then torchrun and examples/inference.py, both stand-ins from
# t/upstream25 that state upstream's interface rule by rule with upstream's
# file and line, and fail where upstream would.

load helper
load sshd

setup_file() {
	standin_local
	export COSMOS_LOCAL_ENGINE=transfer2.5
	PATH="$BATS_TEST_DIRNAME/upstream25:$PATH"
}

setup() {
	export COSMOS_DIR="$BATS_TEST_TMPDIR/store"
	export CLIPS="$BATS_FILE_TMPDIR/clips"
	if [ ! -e "$CLIPS/full/color.mp4" ]; then
		mkdir -p "$CLIPS/full" "$CLIPS/color-only"
		ffmpeg -loglevel error -f lavfi -i testsrc=size=160x90:rate=24 -t 0.5 -pix_fmt yuv420p "$CLIPS/full/color.mp4"
		cp "$CLIPS/full/color.mp4" "$CLIPS/full/depth.mp4"
		cp "$CLIPS/full/color.mp4" "$CLIPS/full/segmentation.mp4"
		cp "$CLIPS/full/color.mp4" "$CLIPS/color-only/color.mp4"
	fi
	# The host's work dir: a cosmos-transfer2.5 checkout, here holding
	# the stand-in of its examples/inference.py.
	export COSMOS_LOCAL_WORKDIR=$BATS_TEST_TMPDIR/cosmos-transfer2.5
	mkdir -p "$COSMOS_LOCAL_WORKDIR/examples"
	ln -s "$BATS_TEST_DIRNAME/upstream25/examples/inference.py" "$COSMOS_LOCAL_WORKDIR/examples/inference.py"
	rm -f "$STANDIN_STATE"/gpus
}

teardown() {
	for p in "$COSMOS_LOCAL_WORKDIR"/runs/*.pid; do
		[ -f "$p" ] && kill -KILL -- "-$(cat "$p")" 2>/dev/null
	done
	# The SSH test host of the one test that starts it.
	[ -z "${SSHD_DIR:-}" ] || sshd_stop
	true
}

wait_all() { cosmos-sync --wait --interval 1 --timeout 60 "$@"; }
out_of() { echo "$COSMOS_LOCAL_WORKDIR/outputs/run_$1"; }
inference() { python3 "$BATS_TEST_DIRNAME/upstream25/examples/inference.py" "$@"; }

# refused_with ID REASON: the run failed bad_request with REASON and its host
# received neither a job nor an input.
refused_with() {
	local id=$1 reason=$2
	assert_equal "$(jq -r '[.status, .reason_code] | join(" ")' "$COSMOS_DIR/runs/$id.json")" "failed bad_request"
	assert_equal "$(jq -r .reason "$COSMOS_DIR/runs/$id.json")" "$reason"
	assert_file_not_exists "$COSMOS_LOCAL_WORKDIR/runs/$id.sh"
	assert_equal "$(find "$COSMOS_LOCAL_WORKDIR/cas" -type f 2>/dev/null | wc -l)" 0
}

@test "a single transfer: upstream's spec passes its validation, one control picks --model, output.mp4 comes back" {
	p=$(make_prompt --negative "blurry" "a robot arm" "$CLIPS/full")
	id=$(cosmos-spec transfer --weights depth=0.7 --canny-threshold high "$p" | cosmos-submit | jq -r .id)
	run wait_all "$id"
	assert_success
	assert_equal "$(jq -r .status "$COSMOS_DIR/runs/$id.json")" completed
	assert_file_exists "$COSMOS_DIR/runs/$id/outputs/output.mp4"
	out=$(out_of "$id")
	# What was sent: upstream's keys only; Transfer1's default guidance
	# 5 is upstream's 3, its sigma_max 70 left to upstream's default.
	sha=$(sha256sum "$CLIPS/full/color.mp4" | cut -c1-64)
	assert_equal "$(jq -cS . "$out/spec_used.json")" \
		"{\"depth\":{\"control_path\":\"../../cas/$sha.mp4\",\"control_weight\":0.7},\"guidance\":3,\"name\":\"output\",\"negative_prompt\":\"blurry\",\"num_steps\":35,\"prompt\":\"a robot arm\",\"seed\":1,\"video_path\":\"../../cas/$sha.mp4\"}"
	# What upstream made of it (<name>.json): paths resolved against the
	# spec's folder, absolute as written (Path.absolute keeps "..").
	cas=$(cd "$out" && pwd -P)/../../cas/$sha.mp4
	assert_equal "$(jq -c '[.video_path, .depth.control_path, .guidance, .sigma_max]' "$out/output.json")" "[\"$cas\",\"$cas\",3,null]"
	argv=$(jq -c . "$out/inference_argv.json")
	assert_equal "$(jq -r '.[index("--model") + 1]' <<<"$argv")" depth
	jq -e 'index("--offload-guardrail-models")' <<<"$argv"
	grep -q '^\[COSMOS_COMPLETE\] exit_code=0' "$out/run.log"
}

@test "controls without their video are left to upstream to compute, with the presets; guidance and sigma_max given pass" {
	p=$(make_prompt "a cube" "$CLIPS/color-only")
	id=$(cosmos-spec transfer --weights vis=0.4,edge=0.6,seg=0.2 --canny-threshold high --blur-strength low \
		--guidance 7 --sigma-max 40 "$p" | cosmos-submit | jq -r .id)
	run wait_all "$id"
	assert_success
	out=$(out_of "$id")
	assert_equal "$(jq -cS '{edge, vis, seg, guidance, sigma_max}' "$out/spec_used.json")" \
		'{"edge":{"control_weight":0.6,"preset_edge_threshold":"high"},"guidance":7,"seg":{"control_weight":0.2},"sigma_max":"40","vis":{"control_weight":0.4,"preset_blur_strength":"low"}}'
	assert_equal "$(jq -c '[.edge.control_path, .vis.control_path, .seg.control_path, .guidance, .sigma_max]' "$out/output.json")" \
		'[null,null,null,7,"40"]'
	# Several controls: upstream loads its multicontrol model itself.
	jq -e 'index("--model") | not' "$out/inference_argv.json"
}

@test "refused before anything is sent: guidance outside 0-7 or not whole, upscale, enhance" {
	p=$(make_prompt "a robot arm" "$CLIPS/full")
	run --separate-stderr bash -c "cosmos-spec transfer --guidance 9 $p | cosmos-submit"
	assert_failure 1
	id=$(jq -r .id <<<"$output")
	refused_with "$id" "transfer2.5 takes guidance as a whole number from 0 to 7; this request has 9"
	assert_equal "$stderr" "cosmos-submit: stdin:1: $id: transfer2.5 takes guidance as a whole number from 0 to 7; this request has 9"
	run --separate-stderr bash -c "cosmos-spec transfer --guidance 2.5 $p | cosmos-submit"
	assert_failure 1
	refused_with "$(jq -r .id <<<"$output")" "transfer2.5 takes guidance as a whole number from 0 to 7; this request has 2.5"
	run --separate-stderr bash -c "cosmos-spec upscale --video '$CLIPS/full/color.mp4' | cosmos-submit"
	assert_failure 1
	refused_with "$(jq -r .id <<<"$output")" \
		"transfer2.5 has no 4K upscaler: send upscale requests to a Transfer1 host (engine = cosmos)"
	run --separate-stderr bash -c "cosmos-spec enhance $p | cosmos-submit"
	assert_failure 1
	refused_with "$(jq -r .id <<<"$output")" \
		"transfer2.5 has no prompt upsampler: send enhance requests to a Transfer1 host (engine = cosmos)"
	assert_file_not_exists "$COSMOS_LOCAL_WORKDIR/outputs"/run_*/spec_used.json
}

@test "a two-GPU run is one torchrun of two processes on a master port of its own" {
	mkdir -p "$BATS_TEST_TMPDIR/bin"
	ln -s "$BATS_TEST_DIRNAME/standin/nvidia-smi" "$BATS_TEST_TMPDIR/bin/nvidia-smi"
	PATH=$BATS_TEST_TMPDIR/bin:$PATH
	echo 3 >"$STANDIN_STATE/gpus"
	p=$(make_prompt "a robot arm" "$CLIPS/full")
	ids=$({ cosmos-spec transfer --gpus 2 "$p"; cosmos-spec transfer "$p"; } | cosmos-submit | jq -r .id)
	run wait_all $ids
	assert_success
	got=$(for id in $ids; do
		jq -r '"\(.nproc_per_node) \(.WORLD_SIZE) \(.CUDA_VISIBLE_DEVICES | split(",") | length)"' "$(out_of "$id")/inference_world.json"
	done | tr '\n' ' ')
	assert_equal "$got" "2 2 2 1 1 1 "
	for id in $ids; do
		port=$(jq -r .master_port "$(out_of "$id")/inference_world.json")
		[ "$port" -gt 1024 ]
	done
}

@test "a transfer the guardrail blocks fails with a reason, not a missing file" {
	p=$(make_prompt "a robot arm [standin-guardrail-blocks]" "$CLIPS/full")
	id=$(cosmos-spec transfer --weights edge=1 "$p" | cosmos-submit | jq -r .id)
	run wait_all "$id"
	assert_failure
	assert_equal "$(jq -r .status "$COSMOS_DIR/runs/$id.json")" failed
	grep -q "engine-transfer25: no output.mp4: upstream's guardrail blocked this generation" "$(out_of "$id")/run.log"
}

@test "the stand-in is not a pushover: a spec upstream would reject fails where upstream fails" {
	d=$BATS_TEST_TMPDIR/specs
	mkdir -p "$d/in"
	cp "$CLIPS/full/color.mp4" "$d/in/v.mp4"
	good='{"name":"a","prompt":"p","video_path":"in/v.mp4","edge":{"control_weight":0.5}}'
	echo "$good" >"$d/good.json"
	run inference -i "$d/good.json" -o "$d/out"
	assert_success
	assert_file_exists "$d/out/a.mp4"
	assert_file_exists "$d/out/a.json"
	# Each wrong spec, and the first line of what upstream prints.
	bad() {
		printf '%s\n' "$1" >"$d/bad.$3"
		run inference -i "$d/bad.$3" -o "$d/out"
		assert_failure 1
		assert_line "$2"
	}
	at0="Error validating parameters from '$d/bad.json' at line 0"
	bad "$(jq -c '.output_dir = "x"' <<<"$good")" "$at0" json
	bad "$(jq -c '.guidance = 2.5' <<<"$good")" "$at0" json
	bad "$(jq -c '.guidance = 9' <<<"$good")" "$at0" json
	bad "$(jq -c '.sigma_max = 70' <<<"$good")" "$at0" json
	bad "$(jq -c '.edge.control_weight = 1.5' <<<"$good")" "$at0" json
	bad "$(jq -c '.video_path = "in/missing.mp4"' <<<"$good")" "$at0" json
	bad "$(jq -c 'del(.name)' <<<"$good")" "$at0" json
	bad "$(jq -c 'del(.prompt)' <<<"$good")" "$at0" json
	bad "$(jq -c '.edge.control_path = "in/missing.mp4"' <<<"$good")" "$at0" json
	bad "$(jq -c 'del(.edge)' <<<"$good")" \
		"ValueError: No controls provided, please provide at least one control key (edge, blur, depth, seg)" json
	bad "$(printf '%s\n%s' "$good" "$good")" "Error: Inference samplename a is not unique" jsonl
	# A blank line in a .jsonl is not skipped: json.loads("") raises.
	bad "$(printf '%s\n\n%s' "$good" "$(jq -c '.name = "b"' <<<"$good")")" \
		"json.decoder.JSONDecodeError: Expecting value: line 1 column 1 (char 0)" jsonl
	bad "$good" "ValueError: Unsupported file extension: .txt" txt
	# One that passes in a .jsonl, and its two outputs flat in -o.
	printf '%s\n%s\n' "$good" "$(jq -c '.name = "b"' <<<"$good")" >"$d/two.jsonl"
	run inference -i "$d/two.jsonl" -o "$d/out2"
	assert_success
	assert_equal "$(cd "$d/out2" && ls a.* b.* | tr '\n' ' ')" "a.json a.mp4 a.txt b.json b.mp4 b.txt "
	# An unknown flag is tyro's usage error (exit 2); -o is required.
	run inference -i "$d/good.json" -o "$d/out" --num_gpus 2
	assert_failure 2
	run inference -i "$d/good.json"
	assert_failure 2
}

@test "engine = transfer2.5 in a host's section: its runs are translated and run by engine-transfer25; an unknown engine is refused" {
	unset COSMOS_LOCAL_ENGINE
	export COSMOS_CONFIG=$BATS_TEST_TMPDIR/hosts
	cat >"$COSMOS_CONFIG" <<-EOF2
		[t25]
		backend = local
		engine = transfer2.5
		workdir = $COSMOS_LOCAL_WORKDIR
	EOF2
	p=$(make_prompt "a robot arm" "$CLIPS/full")
	id=$(cosmos-spec transfer --weights edge=1 "$p" | cosmos-submit | jq -r .id)
	run wait_all "$id"
	assert_success
	assert_file_exists "$COSMOS_DIR/runs/$id/outputs/output.mp4"
	# The job file names the engine its spec was made for.
	grep -qx "COSMOS_ENGINE='transfer2.5'" "$COSMOS_LOCAL_WORKDIR/runs/$id.sh"
	grep -q ' engine=transfer2.5 ' "$(out_of "$id")/run.log"
	assert_equal "$(jq -r '.[index("--model") + 1]' "$(out_of "$id")/inference_argv.json")" edge
	printf '[t3]\nbackend = local\nengine = transfer3\n' >"$COSMOS_CONFIG"
	run bash -c "cosmos-spec transfer '$p' | cosmos-submit"
	assert_failure
	assert_output --partial "engine: 'transfer3' is not cosmos, transfer2.5, reference or a command's path"
}

@test "a packed batch of three is one upstream process: two complete, the one its guardrail blocks fails filtered" {
	# Every torchrun this test starts, counted before the stand-in runs.
	mkdir -p "$BATS_TEST_TMPDIR/bin"
	printf '#!/bin/sh\necho "$*" >>"%s"\nexec "%s" "$@"\n' "$BATS_TEST_TMPDIR/torchrun.calls" \
		"$BATS_TEST_DIRNAME/upstream25/torchrun" >"$BATS_TEST_TMPDIR/bin/torchrun"
	chmod +x "$BATS_TEST_TMPDIR/bin/torchrun"
	PATH=$BATS_TEST_TMPDIR/bin:$PATH
	ps=$(make_prompt "a robot arm" "$CLIPS/full"
		make_prompt "a robot arm [standin-guardrail-blocks]" "$CLIPS/full"
		make_prompt "a cube" "$CLIPS/color-only")
	run --separate-stderr bash -c "cosmos-spec transfer --weights edge=0.8 $(echo $ps) | cosmos-batch --packed"
	assert_success
	b=$(jq -r .batch_id <<<"${lines[0]}")
	run wait_all "$b"
	assert_failure 1
	assert_equal "$(wc -l <"$BATS_TEST_TMPDIR/torchrun.calls")" 1
	out=$(out_of "$b")
	# One .jsonl for upstream: a sample a line, no blank line, each named
	# after its child's directory; one control, so upstream's edge model.
	assert_equal "$(jq -r .name "$out/batch_input.jsonl" | tr '\n' ' ')" "video_0 video_1 video_2 "
	assert_equal "$(grep -c '^$' "$out/batch_input.jsonl")" 0
	assert_equal "$(jq -c '.edge' "$out/batch_input.jsonl" | sort -u)" '{"control_weight":0.8,"preset_edge_threshold":"medium"}'
	assert_equal "$(jq -r '.[index("--model") + 1]' "$out/inference_argv.json")" edge
	jq -e 'index("-i") as $i | .[$i + 1] | endswith("batch_input.jsonl")' "$out/inference_argv.json"
	run cosmos-manifest --batch "$b"
	assert_equal "$(jq -r .status <<<"$output" | tr '\n' ' ')" "completed failed completed "
	c=($(jq -r .id <<<"$output"))
	assert_equal "$(jq -r '[.reason_code, .reason] | join(" ")' "$COSMOS_DIR/runs/${c[1]}.json")" \
		"filtered the model's guardrail blocked video_1 (the engine left video_1/filtered)"
	assert_file_not_exists "$COSMOS_DIR/runs/${c[1]}/outputs/output.mp4"
	assert_equal "$(jq -r '.outputs.files | keys | join(" ")' "$COSMOS_DIR/runs/${c[1]}.json")" "filtered output.json"
	grep -q "engine-transfer25: no video_1.mp4: upstream's guardrail blocked this generation" "$out/run.log"
	assert_equal "$(jq -r '[.status, .exit_code] | join(" ")' "$COSMOS_DIR/runs/$b.json")" "failed 0"
	cmp "$COSMOS_DIR/runs/${c[0]}/outputs/output.mp4" "$CLIPS/full/color.mp4"
	cmp "$COSMOS_DIR/runs/${c[2]}/outputs/output.mp4" "$CLIPS/color-only/color.mp4"
	assert_equal "$(cat "$COSMOS_DIR/runs/${c[2]}/outputs/output.txt")" "a cube"
}

@test "a packed batch is refused whole, naming the item, when one child's request cannot be said to upstream" {
	p=$(make_prompt "a robot arm" "$CLIPS/full")
	q=$(make_prompt "a cube" "$CLIPS/color-only")
	run --separate-stderr bash -c "cosmos-spec transfer --guidance 2.5 $p $q | cosmos-batch --packed"
	b=$(jq -r .batch_id <<<"${lines[0]}")
	assert_equal "$(jq -r '[.status, .reason_code, .reason] | join(" ")' "$COSMOS_DIR/runs/$b.json")" \
		"failed bad_request item 0 of the packed batch: transfer2.5 takes guidance as a whole number from 0 to 7; this request has 2.5"
	assert_file_not_exists "$COSMOS_LOCAL_WORKDIR/runs/$b.sh"
	assert_equal "$(jq -r '.success' <<<"$output" | grep -c false)" 2
}

@test "on a docker host over SSH: engine = transfer2.5 runs a transfer, a packed batch of three with one blocked and a two-GPU run, and refuses what upstream cannot run" {
	unset COSMOS_LOCAL_ENGINE
	sshd_start
	# The host's work dir is the cosmos-transfer2.5 checkout; torchrun is
	# on the container's PATH (the stand-in docker runs on the host's).
	mkdir -p "$SSHD_DIR/work/examples"
	cp "$BATS_TEST_DIRNAME/upstream25/examples/inference.py" "$SSHD_DIR/work/examples/"
	cp "$BATS_TEST_DIRNAME/upstream25/torchrun" "$SSHD_DIR/bin/"
	chmod -R a+rX "$SSHD_DIR/work/examples" "$SSHD_DIR/bin"
	# testhost, renamed, with the engine key and no engine of its own.
	sed -e 's/^\[testhost\]/[t25]/' -e 's/^docker_options = .*/docker_options = --ipc=host/' \
		-e 's/^image = .*/image = cosmos-transfer2.5:standin/' "$SSHD_DIR/hosts" >"$SSHD_DIR/hosts.t25"
	echo "engine = transfer2.5" >>"$SSHD_DIR/hosts.t25"
	export COSMOS_CONFIG=$SSHD_DIR/hosts.t25
	p=$(make_prompt "a robot arm" "$CLIPS/full")
	id=$(cosmos-spec transfer --weights edge=1 "$p" | cosmos-submit --host t25 | jq -r .id)
	run wait_all "$id"
	assert_success
	assert_equal "$(jq -r '[.status, .host] | join(" ")' "$COSMOS_DIR/runs/$id.json")" "completed t25"
	cmp "$COSMOS_DIR/runs/$id/outputs/output.mp4" "$CLIPS/full/color.mp4"
	out=$SSHD_DIR/work/outputs/run_$id
	grep -qx "COSMOS_ENGINE='transfer2.5'" "$SSHD_DIR/work/runs/$id.sh"
	grep -q ' engine=transfer2.5 ' "$out/run.log"
	# Upstream validated the spec (its .json) and was run with edge's model.
	sha=$(sha256sum "$CLIPS/full/color.mp4" | cut -c1-64)
	assert_equal "$(jq -r --arg sha "$sha" '[.name, .prompt, (.video_path | endswith("/cas/\($sha).mp4"))] | join(" ")' "$out/output.json")" \
		"output a robot arm true"
	assert_equal "$(jq -r '.[index("--model") + 1]' "$out/inference_argv.json")" edge
	# In a container of the host's image, started by docker over SSH.
	grep -q -- "^run .* cosmos-transfer2.5:standin " "$SSHD_DIR/state/calls.log"

	# A packed batch of three there: one upstream process; the sample its
	# guardrail blocks fails filtered, its siblings complete.
	ps=$(make_prompt "a robot arm" "$CLIPS/full"
		make_prompt "a robot arm [standin-guardrail-blocks]" "$CLIPS/full"
		make_prompt "a cube" "$CLIPS/color-only")
	run --separate-stderr bash -c "cosmos-spec transfer --weights edge=0.8 $(echo $ps) | cosmos-batch --packed --host t25"
	assert_success
	b=$(jq -r .batch_id <<<"${lines[0]}")
	run wait_all "$b"
	assert_failure 1
	assert_equal "$(cosmos-manifest --batch "$b" | jq -r '[.status, .reason_code // "-"] | join(" ")' | tr '\n' ,)" \
		"completed -,failed filtered,completed -,"
	assert_equal "$(jq -r .name "$SSHD_DIR/work/outputs/run_$b/batch_input.jsonl" | tr '\n' ' ')" "video_0 video_1 video_2 "
	assert_equal "$(grep -c "^run .* cosmos_batch_${b:0:8} " "$SSHD_DIR/state/calls.log")" 1

	# Two of the host's two (stand-in) GPUs: one container with both,
	# torchrun of two.
	cp "$BATS_TEST_DIRNAME/standin/nvidia-smi" "$SSHD_DIR/bin/"
	chmod 755 "$SSHD_DIR/bin/nvidia-smi"
	echo 2 >"$SSHD_DIR/state/gpus"
	g=$(cosmos-spec transfer --weights edge=1 --gpus 2 "$p" | cosmos-submit --host t25 | jq -r .id)
	run wait_all "$g"
	assert_success
	grep -q -- "--gpus \"device=0,1\".* cosmos_transfer_${g:0:8}\|cosmos_transfer_${g:0:8} .*--gpus \"device=0,1\"" "$SSHD_DIR/state/calls.log"
	assert_equal "$(jq -r '"\(.nproc_per_node) \(.WORLD_SIZE)"' "$SSHD_DIR/work/outputs/run_$g/inference_world.json")" "2 2"
	rm -f "$SSHD_DIR/state/gpus"

	# Refused there as here, before anything is sent.
	calls=$(wc -l <"$SSHD_DIR/state/calls.log")
	run --separate-stderr bash -c "{ cosmos-spec transfer --guidance 9 $p; cosmos-spec upscale --video '$CLIPS/full/color.mp4'; } | cosmos-submit --host t25"
	assert_failure 1
	assert_equal "$(jq -r '[.status, .reason_code] | join(" ")' <<<"$output" | sort -u)" "failed bad_request"
	assert_equal "$(wc -l <"$SSHD_DIR/state/calls.log")" "$calls"
}

# guidance and sigma_max as the user gave them (#21): a request holds
# Transfer1's defaults (5, 70) when none is given, and its
# execution_config.given names those that were.
@test "a given guidance 5 stays 5 and a given sigma_max 70 is sent as \"70\"; not given, upstream's defaults (guidance 3, no sigma_max)" {
	p=$(make_prompt "a robot arm" "$CLIPS/full")
	ids=$({ cosmos-spec transfer --weights edge=1 --guidance 5 --sigma-max 70 "$p"; cosmos-spec transfer --weights edge=1 "$p"; } |
		cosmos-submit | jq -r .id)
	read -r given dflt <<<"$(echo $ids)"
	run wait_all $ids
	assert_success
	# What was sent, and what upstream's stand-in validated.
	for f in spec_used.json output.json; do
		assert_equal "$f $(jq -c '[.guidance, .sigma_max]' "$(out_of "$given")/$f")" "$f [5,\"70\"]"
		assert_equal "$f $(jq -c '[.guidance, .sigma_max]' "$(out_of "$dflt")/$f")" "$f [3,null]"
	done
	# The records keep what a Transfer1 run would use, and what was given.
	assert_equal "$(jq -c '.execution_config | [.guidance, .sigma_max, .given]' "$COSMOS_DIR/runs/$given.json")" '[5,70,["guidance","sigma_max"]]'
	assert_equal "$(jq -c '.execution_config | [.guidance, .sigma_max, .given]' "$COSMOS_DIR/runs/$dflt.json")" '[5,70,null]'
	# A packed batch's samples too: the batch keeps its requests' "given".
	q=$(make_prompt "a cube" "$CLIPS/color-only")
	run --separate-stderr bash -c "cosmos-spec transfer --weights edge=1 --guidance 5 $p $q | cosmos-batch --packed"
	assert_success
	b=$(jq -r .batch_id <<<"${lines[0]}")
	run wait_all "$b"
	assert_success
	assert_equal "$(jq -c '[.name, .guidance]' "$(out_of "$b")/batch_input.jsonl" | tr '\n' ' ')" '["video_0",5] ["video_1",5] '
}
