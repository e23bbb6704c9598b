#!/usr/bin/env bats
# cosmos-spec: prompt records, and the three request kinds compared field by
# field with what NVIDIA Cosmos Transfer expects.

load helper

# Compare JSON regardless of key order.
assert_json() {
	assert_equal "$(jq -S . <<<"$1")" "$(jq -S . <<<"$2")"
}

@test "prompt: stores a record with absolute input paths and prints it" {
	cd "$CLIPS"
	run cosmos-spec prompt --name robot --negative "blurry" "a robot arm picks a cube" full
	assert_success
	rec=$output
	id=$(jq -r .id <<<"$rec")
	[[ $id =~ ^ps_[0-9a-f]{32}$ ]]
	assert_json "$(jq 'del(.id, .created_at, .updated_at)' <<<"$rec")" "$(jq -n --arg d "$CLIPS/full" '
		{name:"robot", prompt_text:"a robot arm picks a cube", negative_prompt:"blurry",
		 inputs:{video:"\($d)/color.mp4", depth:"\($d)/depth.mp4", seg:"\($d)/segmentation.mp4"}}')"
	# What was printed is what was stored, byte for byte.
	assert_equal "$(cat "$COSMOS_DIR/prompts/$id.json")" "$rec"
}

@test "prompt: depth and segmentation are optional; the name defaults to the directory" {
	run cosmos-spec prompt "a cube" "$CLIPS/color-only"
	assert_success
	assert_json "$(jq '{name, inputs}' <<<"$output")" \
		"{\"name\":\"color-only\",\"inputs\":{\"video\":\"$CLIPS/color-only/color.mp4\"}}"
	refute_output --partial negative_prompt
}

@test "prompt: a directory without color.mp4, or missing, is an error naming it and stores nothing" {
	run cosmos-spec prompt "x" "$CLIPS/empty"
	assert_failure 1
	assert_output "cosmos-spec: argument 2: $CLIPS/empty: no readable color.mp4 in it"
	run cosmos-spec prompt "x" "$CLIPS/nope"
	assert_failure 1
	assert_output --partial "$CLIPS/nope: No such file"
	run cosmos-spec prompt "" "$CLIPS/full"
	assert_failure 2
	run cosmos-spec prompt --negative "" x "$CLIPS/full"
	assert_failure 2
	assert_equal "$(ls "$COSMOS_DIR/prompts" 2>/dev/null | wc -l)" 0
}

@test "transfer: default spec, field by field" {
	p=$(make_prompt --negative "low quality" "drive at night" "$CLIPS/full")
	run cosmos-spec transfer "$p"
	assert_success
	d=$CLIPS/full
	assert_json "$output" "$(jq -n --arg p "$p" --arg d "$d" '
		{model_type:"transfer", prompt_id:$p,
		 execution_config:{weights:{vis:0.25, edge:0.25, depth:0.25, seg:0.25},
			num_steps:35, guidance:5, seed:1, fps:24, sigma_max:70,
			blur_strength:"medium", canny_threshold:"medium"},
		 spec:{prompt:"drive at night", negative_prompt:"low quality",
			input_video_path:"\($d)/color.mp4",
			vis:{control_weight:0.25}, edge:{control_weight:0.25},
			depth:{control_weight:0.25, input_control:"\($d)/depth.mp4"},
			seg:{control_weight:0.25, input_control:"\($d)/segmentation.mp4"},
			num_steps:35, guidance:5, seed:1, fps:24, sigma_max:70,
			blur_strength:"medium", canny_threshold:"medium"}}')"
}

@test "transfer: named weights and parameters; unnamed and zero controls are left out" {
	p=$(make_prompt "drive" "$CLIPS/color-only")
	run cosmos-spec transfer --weights vis=0.7,depth=0.3,edge=0 --steps 50 --guidance 7.5 \
		--seed 42 --fps 30 --sigma-max 80 --blur-strength high --canny-threshold very_low "$p"
	assert_success
	assert_json "$(jq .spec <<<"$output")" "$(jq -n --arg d "$CLIPS/color-only" '
		{prompt:"drive", input_video_path:"\($d)/color.mp4",
		 vis:{control_weight:0.7}, depth:{control_weight:0.3},
		 num_steps:50, guidance:7.5, seed:42, fps:30, sigma_max:80,
		 blur_strength:"high", canny_threshold:"very_low"}')"
	assert_json "$(jq -c .execution_config.weights <<<"$output")" '{"vis":0.7,"edge":0,"depth":0.3,"seg":0}'
}

@test "transfer: execution_config.given names guidance and sigma_max when the user gives them, and only then" {
	p=$(make_prompt "drive" "$CLIPS/full")
	assert_equal "$(cosmos-spec transfer "$p" | jq -c '.execution_config | [.given, .guidance, .sigma_max]')" '[null,5,70]'
	assert_equal "$(cosmos-spec transfer --guidance 5 "$p" | jq -c '[.execution_config.given, .execution_config.guidance, .spec.guidance]')" \
		'[["guidance"],5,5]'
	assert_equal "$(cosmos-spec transfer --sigma-max 70 --guidance 2 "$p" | jq -c '[.execution_config.given, .spec.sigma_max, .spec.given]')" \
		'[["guidance","sigma_max"],70,null]'
}

@test "transfer: bad weights and parameters are usage errors and print nothing" {
	p=$(make_prompt "drive" "$CLIPS/full")
	for w in vis=1.5 vis=-0.1 vis=abc vis= blur=0.5 vis0.5 vis=0.5,vis=0.2 vis=0,edge=0 vis=nan; do
		run --separate-stderr cosmos-spec transfer --weights "$w" "$p"
		assert_failure 2
		assert_equal "$output" ""
		[[ $stderr == "cosmos-spec: --weights: "* ]] || fail "for $w: $stderr"
		assert_equal "$(wc -l <<<"$stderr")" 1
	done
	for o in "--steps 0" "--steps 1.5" "--guidance -1" "--fps 0" "--sigma-max 0" \
		"--blur-strength extreme" "--canny-threshold MEDIUM" "--seed -1"; do
		run cosmos-spec transfer $o "$p"
		assert_failure 2
		assert_output --partial "cosmos-spec: ${o%% *}: "
	done
}

@test "transfer: prompt ids and prompt records on stdin; bad lines named by line number, others still done" {
	p1=$(make_prompt "one" "$CLIPS/full")
	p2=$(make_prompt "two" "$CLIPS/full")
	missing=ps_0123456789abcdef0123456789abcdef
	input=$(printf '%s\n\n{"id":"%s","name":"rec"}\n{"id":\n%s\n../etc/passwd\n"%s"\n{"name":"no id"}\n' \
		"$p1" "$p2" "$missing" "$p1")
	run --separate-stderr cosmos-spec transfer <<<"$input"
	assert_failure 1
	assert_equal "$(jq -r .prompt_id <<<"$output" | tr '\n' ' ')" "$p1 $p2 $p1 "
	assert_equal "$stderr" "cosmos-spec: stdin:4: malformed JSON
cosmos-spec: stdin:5: $missing: no such prompt in $COSMOS_DIR
cosmos-spec: stdin:6: '../etc/passwd' is not a prompt id (ps_ + 32 lowercase hex digits)
cosmos-spec: stdin:8: JSON line has no \"id\" string"
}

@test "transfer: operands, with - reading stdin in between" {
	p1=$(make_prompt "one" "$CLIPS/full")
	p2=$(make_prompt "two" "$CLIPS/full")
	run cosmos-spec transfer "$p1" - "$p1" <<<"$p2"
	assert_success
	assert_equal "$(jq -r .prompt_id <<<"$output" | tr '\n' ' ')" "$p1 $p2 $p1 "
	run cosmos-spec transfer "$p1" rs_0123456789abcdef0123456789abcdef
	assert_failure 1
	assert_line "cosmos-spec: argument 2: 'rs_0123456789abcdef0123456789abcdef' is not a prompt id (ps_ + 32 lowercase hex digits)"
	run cosmos-spec transfer </dev/null
	assert_failure 2
}

@test "upscale: from a file, without and with a prompt" {
	run cosmos-spec upscale --video "$CLIPS/full/color.mp4"
	assert_success
	v=$CLIPS/full/color.mp4
	assert_json "$output" "$(jq -n --arg v "$v" '
		{model_type:"upscale",
		 execution_config:{input_video_source:$v, control_weight:0.5, num_steps:10},
		 spec:{input_video_path:$v, upscale:{control_weight:0.5}, num_steps:10}}')"
	run cosmos-spec upscale --video "$CLIPS/full/color.mp4" --weight 0.8 --prompt "crisp 4K detail"
	assert_success
	assert_json "$output" "$(jq -n --arg v "$v" '
		{model_type:"upscale",
		 execution_config:{input_video_source:$v, control_weight:0.8, num_steps:10, prompt:"crisp 4K detail"},
		 spec:{input_video_path:$v, upscale:{control_weight:0.8}, num_steps:10, prompt:"crisp 4K detail"}}')"
}

@test "upscale: from a completed run, without and with a prompt" {
	p=$(make_prompt "one" "$CLIPS/full")
	r=$(make_run completed ".prompt_id = \"$p\"")
	v=$COSMOS_DIR/runs/$r/outputs/output.mp4
	run cosmos-spec upscale --from-run "$r"
	assert_success
	assert_json "$output" "$(jq -n --arg v "$v" --arg r "$r" --arg p "$p" '
		{model_type:"upscale", prompt_id:$p,
		 execution_config:{input_video_source:$v, source_run_id:$r, control_weight:0.5, num_steps:10},
		 spec:{input_video_path:$v, upscale:{control_weight:0.5}, num_steps:10}}')"
	run cosmos-spec upscale --from-run "$r" --prompt "sharpen" --weight 0
	assert_success
	assert_json "$(jq -c .spec <<<"$output")" \
		"$(jq -nc --arg v "$v" '{input_video_path:$v, upscale:{control_weight:0}, num_steps:10, prompt:"sharpen"}')"
	assert_equal "$(jq -r .execution_config.prompt <<<"$output")" sharpen
}

@test "upscale: both sources, neither, or a bad weight are usage errors" {
	r=$(make_run completed)
	run cosmos-spec upscale --from-run "$r" --video "$CLIPS/full/color.mp4"
	assert_failure 2
	assert_line --partial "give one source"
	run cosmos-spec upscale </dev/null
	assert_failure 2
	assert_output --partial "nothing to do"
	for w in 1.01 -1 x ""; do
		run cosmos-spec upscale --video "$CLIPS/full/color.mp4" --weight "$w"
		assert_failure 2
		assert_output --partial "cosmos-spec: --weight: "
	done
	run cosmos-spec upscale --video "$CLIPS/full/color.mp4" --prompt ""
	assert_failure 2
}

@test "upscale: an unknown, unfinished or output-less run is an error naming it" {
	unknown=rs_0123456789abcdef0123456789abcdef
	running=$(make_run running)
	failed=$(make_run failed)
	gone=$(make_run completed)
	rm "$COSMOS_DIR/runs/$gone/outputs/output.mp4"
	before=$(store_snapshot)
	run cosmos-spec upscale --from-run "$unknown"
	assert_failure 1
	assert_output "cosmos-spec: --from-run: $unknown: no such run"
	run cosmos-spec upscale --from-run "$running"
	assert_failure 1
	assert_output "cosmos-spec: --from-run: $running: run is running, not completed"
	run cosmos-spec upscale --from-run "$failed"
	assert_output "cosmos-spec: --from-run: $failed: run is failed, not completed"
	run cosmos-spec upscale --from-run "$gone"
	assert_output "cosmos-spec: --from-run: $gone: output video $COSMOS_DIR/runs/$gone/outputs/output.mp4 is missing"
	run cosmos-spec upscale --from-run ../../x
	assert_failure 1
	assert_output --partial "is not a run id"
	run cosmos-spec upscale --video "$CLIPS/nope.mp4"
	assert_failure 1
	assert_output --partial "cosmos-spec: --video: $CLIPS/nope.mp4: No such file"
	assert_equal "$(store_snapshot)" "$before"
}

@test "upscale: sources on stdin (runs, records, files); bad lines named, others done" {
	r=$(make_run completed)
	running=$(make_run running)
	cp "$CLIPS/full/color.mp4" "$BATS_TEST_TMPDIR/rs_clip.mp4"
	cd "$BATS_TEST_TMPDIR"
	input=$(printf '%s\n%s\n{"video":"rs_clip.mp4"}\n./rs_clip.mp4\n%s\n{"id":"%s","status":"completed"}\n{"from_run":"rs_x"}\n[1]\n' \
		"$r" "$CLIPS/full/color.mp4" "$running" "$r")
	run --separate-stderr cosmos-spec upscale --weight 0.6 <<<"$input"
	assert_failure 1
	assert_equal "$(jq -r '.execution_config | "\(.source_run_id // "-") \(.input_video_source|split("/")|last)"' <<<"$output" | tr '\n' ,)" \
		"$r output.mp4,- color.mp4,- rs_clip.mp4,- rs_clip.mp4,$r output.mp4,"
	assert_equal "$(jq -r .spec.upscale.control_weight <<<"$output" | sort -u)" 0.6
	assert_equal "$stderr" "cosmos-spec: stdin:5: $running: run is running, not completed
cosmos-spec: stdin:7: 'rs_x' is not a run id (rs_ + 32 lowercase hex digits)
cosmos-spec: stdin:8: neither a JSON object nor a string"
}

@test "enhance: one request per prompt, as the prompt upsampler reads it" {
	p=$(make_prompt "a cube" "$CLIPS/color-only")
	run cosmos-spec enhance "$p"
	assert_success
	assert_json "$output" "$(jq -n --arg p "$p" --arg d "$CLIPS/color-only" '
		{model_type:"enhance", prompt_id:$p,
		 execution_config:{model:"pixtral", create_new:false, original_prompt:"a cube"},
		 spec:[{name:$p, prompt:"a cube", video_path:"\($d)/color.mp4"}]}')"
	run cosmos-spec enhance --create-new --model pixtral "$p"
	assert_equal "$(jq .execution_config.create_new <<<"$output")" true
	run cosmos-spec enhance --model gpt "$p"
	assert_failure 2
	assert_output "cosmos-spec: --model: 'gpt' is not a known prompt upsampler (pixtral)"
}

@test "enhance: prompt records piped from cosmos-manifest" {
	make_prompt "one" "$CLIPS/full" >/dev/null
	make_prompt "two" "$CLIPS/full" >/dev/null
	run bash -c 'cosmos-manifest --type prompt | cosmos-spec enhance | jq -r .spec[0].prompt | sort'
	assert_success
	assert_output "one
two"
}

@test "a closed stdout is an error, not silence" {
	p=$(make_prompt "one" "$CLIPS/full")
	run bash -c 'cosmos-spec transfer "$1" >&-' _ "$p"
	assert_failure 3
	assert_output --partial "cosmos-spec: stdout: Bad file descriptor"
	run bash -c 'cosmos-spec transfer "$1" >/dev/full' _ "$p"
	assert_failure 3
	assert_output --partial "cosmos-spec: stdout: No space left on device"
}

@test "usage errors" {
	run cosmos-spec
	assert_failure 2
	assert_output --partial "usage: cosmos-spec prompt"
	run cosmos-spec frobnicate
	assert_failure 2
	run cosmos-spec transfer --bogus x
	assert_failure 2
}
