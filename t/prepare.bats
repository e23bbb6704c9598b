#!/usr/bin/env bats
# cosmos-prepare: rendered frame sequences into a prompt's videos, checked
# before anything is written, built hidden and renamed into place.

load helper

setup_file() {
	standin_local
	export FRAMES=$BATS_FILE_TMPDIR/frames
	mkdir -p "$FRAMES"
	# One 12-frame 64x48 sequence, and one 65x49, made once and copied.
	ffmpeg -loglevel error -f lavfi -i testsrc=size=64x48:rate=24 -frames:v 12 "$FRAMES/color.%04d.png"
	mkdir -p "$FRAMES/odd"
	ffmpeg -loglevel error -f lavfi -i testsrc=size=65x49:rate=24 -frames:v 6 "$FRAMES/odd/color.%04d.png"
	ffmpeg -loglevel error -f lavfi -i testsrc=size=32x24:rate=24 -frames:v 12 "$FRAMES/small.%04d.png"
}

teardown() {
	standin_teardown
}

wait_all() { cosmos-sync --wait --interval 1 --timeout 60 "$@"; }

# shot DIR MODALITY...: the 12 frames as DIR/MODALITY.NNNN.png for each.
shot() {
	local dir=$1 m f
	shift
	mkdir -p "$dir"
	for m in "$@"; do
		for f in "$FRAMES"/color.*.png; do
			cp "$f" "$dir/$m.${f##*/color.}"
		done
	done
}

# What is visible in a directory (hidden entries left out).
visible() { ls "$1"; }

@test "three modalities: prepare --prompt | cosmos-spec transfer | cosmos-submit completes on this machine" {
	shot "$BATS_TEST_TMPDIR/street" color depth segmentation
	mkdir "$BATS_TEST_TMPDIR/out"
	run bash -c "cosmos-prepare --prompt 'a rainy street' --negative blurry --out '$BATS_TEST_TMPDIR/out' \
		'$BATS_TEST_TMPDIR/street' | cosmos-spec transfer | cosmos-submit"
	assert_success
	id=$(jq -r .id <<<"$output")
	run wait_all "$id"
	assert_success
	assert_equal "$(jq -r .status "$COSMOS_DIR/runs/$id.json")" completed
	dir=$(echo "$BATS_TEST_TMPDIR"/out/street_*)
	[[ $dir =~ /street_[0-9]{8}_[0-9]{6}$ ]]
	# The prompt record is the one cosmos-spec prompt would store for the dir.
	p=$(jq -r .prompt_id "$COSMOS_DIR/runs/$id.json")
	assert_equal "$(jq -c '[.name, .prompt_text, .negative_prompt, .inputs]' "$COSMOS_DIR/prompts/$p.json")" \
		"$(cosmos-spec prompt --negative blurry 'a rainy street' "$dir" |
			jq -c '[.name, .prompt_text, .negative_prompt, .inputs]')"
	assert_equal "$(jq -r '.inputs | keys | join(",")' "$COSMOS_DIR/prompts/$p.json")" depth,seg,video
	for m in color depth segmentation; do
		run ffprobe -v error -count_frames -select_streams v:0 \
			-show_entries stream=codec_name,pix_fmt,width,height,r_frame_rate,nb_read_frames -of csv=p=0 \
			"$dir/$m.mp4"
		assert_output h264,64,48,yuv420p,24/1,12
	done
	assert_equal "$(ls -A "$dir" | tr '\n' ' ')" "color.mp4 depth.mp4 metadata.json segmentation.mp4 "
	assert_equal "$(jq -c '[.frames, .first_frame, .last_frame, .size, .fps, .sources.depth.first]' "$dir/metadata.json")" \
		'[12,1,12,"64x48",24,"depth.0001.png"]'
}

@test "without --prompt: one line of what was made, in the current directory, named after the folder" {
	shot "$BATS_TEST_TMPDIR/shot1" color vis
	mkdir "$BATS_TEST_TMPDIR/cwd"
	cd "$BATS_TEST_TMPDIR/cwd"
	run --separate-stderr cosmos-prepare --fps 12 ../shot1
	assert_success
	assert_equal "$stderr" ""
	assert_equal "${#lines[@]}" 1
	assert_equal "$(jq -c '[.modalities, .frames, .size, .fps]' <<<"$output")" '[["color","vis"],12,"64x48",12]'
	dir=$(jq -r .dir <<<"$output")
	assert_equal "${dir%/*}" "$BATS_TEST_TMPDIR/cwd"
	[[ ${dir##*/} =~ ^shot1_[0-9]{8}_[0-9]{6}$ ]]
	assert_equal "$(ls "$dir" | tr '\n' ' ')" "color.mp4 metadata.json vis.mp4 "
	run ffprobe -v error -show_entries stream=r_frame_rate -of csv=p=0 "$dir/vis.mp4"
	assert_output 12/1
	# Nothing was stored: no --prompt, no store.
	assert [ ! -e "$COSMOS_DIR" ]
}

@test "a gap in a sequence is refused, naming the frame, and nothing is written" {
	shot "$BATS_TEST_TMPDIR/f" color depth
	rm "$BATS_TEST_TMPDIR/f/depth.0005.png"
	mkdir "$BATS_TEST_TMPDIR/out"
	run cosmos-prepare --out "$BATS_TEST_TMPDIR/out" "$BATS_TEST_TMPDIR/f"
	assert_failure 1
	assert_output "cosmos-prepare: depth: frame 0005 missing"
	assert_equal "$(ls -A "$BATS_TEST_TMPDIR/out")" ""
}

@test "modalities of different frame ranges are refused" {
	shot "$BATS_TEST_TMPDIR/f" color segmentation
	rm "$BATS_TEST_TMPDIR/f/segmentation.0012.png"
	run cosmos-prepare --out "$BATS_TEST_TMPDIR" "$BATS_TEST_TMPDIR/f"
	assert_failure 1
	assert_output "cosmos-prepare: segmentation: frames 0001 to 0011, but color has 0001 to 0012"
}

@test "modalities of different sizes are refused, naming the frame" {
	shot "$BATS_TEST_TMPDIR/f" color
	for f in "$FRAMES"/small.*.png; do cp "$f" "$BATS_TEST_TMPDIR/f/depth.${f##*/small.}"; done
	run cosmos-prepare --out "$BATS_TEST_TMPDIR" "$BATS_TEST_TMPDIR/f"
	assert_failure 1
	assert_output "cosmos-prepare: depth.0001.png: 32x24, but color.0001.png is 64x48"
}

@test "an unreadable frame (a truncated PNG) is refused, naming it" {
	shot "$BATS_TEST_TMPDIR/f" color depth
	f=$BATS_TEST_TMPDIR/f/color.0003.png
	truncate -s $(($(stat -c %s "$f") / 2)) "$f"
	run cosmos-prepare --out "$BATS_TEST_TMPDIR" "$BATS_TEST_TMPDIR/f"
	assert_failure 1
	assert_output "cosmos-prepare: color.0003.png: unreadable frame: truncated PNG (a chunk runs past the end)"
	echo 'not a png' >"$f"
	run cosmos-prepare --out "$BATS_TEST_TMPDIR" "$BATS_TEST_TMPDIR/f"
	assert_failure 1
	assert_output "cosmos-prepare: color.0003.png: unreadable frame: not a PNG file"
}

@test "no color is refused; an unknown modality is named in a warning and left out" {
	shot "$BATS_TEST_TMPDIR/f" depth normals
	cd "$BATS_TEST_TMPDIR"
	run cosmos-prepare f
	assert_failure 1
	assert_output --partial "cosmos-prepare: f: no color frames (color.FRAME.png or color_FRAME.png)"
	shot "$BATS_TEST_TMPDIR/f" color
	run --separate-stderr cosmos-prepare --name take f
	assert_success
	assert_equal "$stderr" \
		"cosmos-prepare: normals: not a modality (color, depth, segmentation, seg, vis, edge); its 12 frames are left out"
	assert_equal "$(jq -c .modalities <<<"$output")" '["color","depth"]'
	dir=$(jq -r .dir <<<"$output")
	[[ ${dir##*/} =~ ^take_ ]]
	assert_equal "$(jq -c .left_out "$dir/metadata.json")" '["normals"]'
	assert [ ! -e "$dir/normals.mp4" ]
}

@test "odd sizes are cropped to even, the same for every modality" {
	f=$BATS_TEST_TMPDIR/f
	mkdir "$f"
	for c in "$FRAMES"/odd/color.*.png; do cp "$c" "$f/${c##*/}"; cp "$c" "$f/depth.${c##*/color.}"; done
	run cosmos-prepare --out "$BATS_TEST_TMPDIR" "$f"
	assert_success
	assert_equal "$(jq -c '[.size, .cropped_from, .frames]' <<<"$output")" '["64x48","65x49",6]'
	dir=$(jq -r .dir <<<"$output")
	for m in color depth; do
		run ffprobe -v error -show_entries stream=width,height -of csv=p=0 "$dir/$m.mp4"
		assert_output 64,48
	done
}

@test "_ separators, mixed padding, JPEG and EXR beside PNG, seg for segmentation" {
	f=$BATS_TEST_TMPDIR/f
	mkdir "$f"
	i=0
	for c in "$FRAMES"/color.*.png; do
		i=$((i + 1))
		case $((i % 3)) in
		0) cp "$c" "$f/color_$i.png" ;;
		1) cp "$c" "$f/color.$(printf %03d $i).png" ;;
		2) cp "$c" "$f/color_$(printf %06d $i).png" ;;
		esac
		ffmpeg -loglevel error -i "$c" "$f/depth_$i.jpg"
		cp "$c" "$f/seg.$(printf %04d $i).png"
	done
	ffmpeg -loglevel error -f lavfi -i testsrc=size=64x48:rate=24 -frames:v 12 -pix_fmt rgb48le \
		-start_number 1 "$f/vis.%d.exr"
	run --separate-stderr cosmos-prepare --prompt "mixed" --out "$BATS_TEST_TMPDIR" "$f"
	assert_success
	assert_equal "$stderr" ""
	dir=$(dirname "$(jq -r .inputs.video <<<"$output")")
	assert_equal "$(jq -c '[.frames, .sources.depth.format, .sources.vis.format, .sources.segmentation.first,
		.sources.color.last]' "$dir/metadata.json")" '[12,"JPEG","EXR","seg.0001.png","color_12.png"]'
	for m in depth vis; do
		run ffprobe -v error -count_frames -show_entries stream=nb_read_frames -of csv=p=0 "$dir/$m.mp4"
		assert_output 12
	done
	# color_2 beside color.002 is one frame twice.
	cp "$f/color_000002.png" "$f/color.2.png"
	run cosmos-prepare --dry-run "$f"
	assert_failure 1
	assert_output --regexp "^cosmos-prepare: color: frame 2 twice: color(_000002|\.2)\.png and color(_000002|\.2)\.png$"
}

@test "SIGKILL while ffmpeg runs leaves nothing visible; SIGTERM leaves nothing at all" {
	shot "$BATS_TEST_TMPDIR/f" color depth
	out=$BATS_TEST_TMPDIR/out
	mkdir "$out" "$BATS_TEST_TMPDIR/bin"
	# A stand-in ffmpeg that never finishes.
	printf '#!/bin/sh\necho $$ >"%s/ffmpeg.pid"\nexec sleep 30\n' "$BATS_TEST_TMPDIR" >"$BATS_TEST_TMPDIR/bin/ffmpeg"
	chmod +x "$BATS_TEST_TMPDIR/bin/ffmpeg"
	for sig in KILL TERM; do
		rm -f "$BATS_TEST_TMPDIR/ffmpeg.pid"
		PATH="$BATS_TEST_TMPDIR/bin:$PATH" cosmos-prepare --prompt x --out "$out" "$BATS_TEST_TMPDIR/f" \
			>"$BATS_TEST_TMPDIR/stdout" 3>&- &
		pid=$!
		for _ in $(seq 100); do [ -s "$BATS_TEST_TMPDIR/ffmpeg.pid" ] && break; sleep 0.1; done
		[ -s "$BATS_TEST_TMPDIR/ffmpeg.pid" ]
		kill -$sig $pid
		st=0
		wait $pid || st=$?
		if [ $sig = KILL ]; then assert_equal $st 137; else assert_equal $st 143; fi
		assert_equal "$(visible "$out")" ""
		assert_equal "$(cat "$BATS_TEST_TMPDIR/stdout")" ""
		assert_equal "$(ls "$COSMOS_DIR/prompts" 2>/dev/null)" ""
		if [ $sig = KILL ]; then
			# Only the hidden part directory, which nothing reads.
			run ls -A "$out"
			assert_output --regexp "^\.f_[0-9]{8}_[0-9]{6}\.part$pid$"
			kill "$(cat "$BATS_TEST_TMPDIR/ffmpeg.pid")"
			rm -rf "$out"/.f_*
		else
			# The stand-in ffmpeg was stopped, and the part directory removed.
			assert_equal "$(ls -A "$out")" ""
			run kill -0 "$(cat "$BATS_TEST_TMPDIR/ffmpeg.pid")"
			assert_failure
		fi
	done
}

@test "--dry-run checks and prints what would be made, and writes nothing" {
	shot "$BATS_TEST_TMPDIR/f" color edge
	mkdir "$BATS_TEST_TMPDIR/out"
	run --separate-stderr cosmos-prepare --dry-run --prompt "a" --out "$BATS_TEST_TMPDIR/out" "$BATS_TEST_TMPDIR/f"
	assert_success
	assert_equal "$(jq -c '[.dry_run, .modalities, .frames, .size, .fps]' <<<"$output")" \
		'[true,["color","edge"],12,"64x48",24]'
	[[ $(jq -r .dir <<<"$output") =~ ^$BATS_TEST_TMPDIR/out/f_[0-9]{8}_[0-9]{6}$ ]]
	assert_equal "$(ls -A "$BATS_TEST_TMPDIR/out")" ""
	assert [ ! -e "$COSMOS_DIR" ]
	# The front door runs it as cosmos prepare.
	run cosmos prepare --dry-run --out "$BATS_TEST_TMPDIR/out" "$BATS_TEST_TMPDIR/f"
	assert_success
	assert_equal "$(jq -c '[.dry_run, .frames]' <<<"$output")" '[true,12]'
	rm "$BATS_TEST_TMPDIR/f/edge.0007.png"
	run cosmos-prepare --dry-run "$BATS_TEST_TMPDIR/f"
	assert_failure 1
	assert_output "cosmos-prepare: edge: frame 0007 missing"
}

@test "an existing target directory is never overwritten" {
	shot "$BATS_TEST_TMPDIR/f" color
	out=$BATS_TEST_TMPDIR/out
	t=$(date -u +%s)
	for i in 0 1 2 3 4 5; do
		d=$out/f_$(date -u -d "@$((t + i))" +%Y%m%d_%H%M%S)
		mkdir -p "$d"
		echo mine >"$d/keep"
	done
	before=$(cd "$out" && find . | sort)
	run cosmos-prepare --prompt x --out "$out" "$BATS_TEST_TMPDIR/f"
	assert_failure 3
	assert_output --regexp "^cosmos-prepare: $out/f_[0-9]{8}_[0-9]{6}: exists; not overwritten$"
	assert_equal "$(cd "$out" && find . | sort)" "$before"
	assert_equal "$(ls "$COSMOS_DIR/prompts" 2>/dev/null)" ""
}

@test "usage errors: exit 2, nothing done" {
	shot "$BATS_TEST_TMPDIR/f" color
	run cosmos-prepare --negative x "$BATS_TEST_TMPDIR/f"
	assert_failure 2
	assert_output "cosmos-prepare: --negative needs --prompt"
	run cosmos-prepare --fps 0 "$BATS_TEST_TMPDIR/f"
	assert_failure 2
	run cosmos-prepare --prompt "" "$BATS_TEST_TMPDIR/f"
	assert_failure 2
	run cosmos-prepare
	assert_failure 2
	run cosmos-prepare --help
	assert_success
	assert_output --partial "usage: cosmos-prepare"
}
