#!/usr/bin/env bats
# cosmos gallery in a real headless Chromium (Debian's chromium, driven
# over the DevTools protocol by t/cdp.py): the page as a person sees it,
# from file://, with no network.  One store for the file: a transfer with
# a hostile prompt and its upscale, and a fan-out batch with a failed child.

load helper

setup_file() {
	export COSMOS_CONFIG=$BATS_FILE_TMPDIR/no-hosts COSMOS_LOCAL_RUNTIME=process
	export COSMOS_DIR=$BATS_FILE_TMPDIR/store CLIPS=$BATS_FILE_TMPDIR/clips
	mkdir -p "$CLIPS/shot"
	ffmpeg -loglevel error -f lavfi -i testsrc=size=320x180:rate=24 -t 1 -pix_fmt yuv420p "$CLIPS/shot/color.mp4"
	local p t
	p=$(cosmos-spec prompt 'a robot <script>document.title="pwned"</script><img src=x onerror=alert(1)> & friends' "$CLIPS/shot" | jq -r .id)
	t=$(cosmos-spec transfer "$p" | cosmos-submit | jq -r .id)
	cosmos-sync --wait --interval 1 --timeout 60 "$t" >/dev/null
	cosmos-spec upscale --from-run "$t" | cosmos-submit >/dev/null
	cp "$CLIPS/shot/color.mp4" "$BATS_FILE_TMPDIR/gone.mp4"
	{
		cosmos-spec upscale --video "$CLIPS/shot/color.mp4"
		cosmos-spec upscale --video "$BATS_FILE_TMPDIR/gone.mp4"
		cosmos-spec upscale --video "$CLIPS/shot/color.mp4"
	} >"$BATS_FILE_TMPDIR/reqs"
	rm "$BATS_FILE_TMPDIR/gone.mp4"
	cosmos-batch --delay 0 <"$BATS_FILE_TMPDIR/reqs" >/dev/null 2>&1 || true
	cosmos-sync --wait --interval 1 --timeout 60 >/dev/null || true
	cosmos gallery >"$BATS_FILE_TMPDIR/printed"
}

setup() {
	export COSMOS_DIR=$BATS_FILE_TMPDIR/store CLIPS=$BATS_FILE_TMPDIR/clips
}

# page EXPRESSION...: the gallery loaded in Chromium, each expression's
# value, the console's errors and every URL asked for, as JSON.
page() {
	python3 "$BATS_TEST_DIRNAME/cdp.py" "file://$COSMOS_DIR/gallery/index.html" \
		"${COSMOS_ARTIFACTS:-$BATS_FILE_TMPDIR}/gallery-$BATS_TEST_NUMBER.png" "$@"
}

@test "cosmos gallery writes the page, its posters and video links, and prints its path" {
	assert_equal "$(cat "$BATS_FILE_TMPDIR/printed")" "$COSMOS_DIR/gallery/index.html"
	assert_equal "$(ls "$COSMOS_DIR/gallery/posters" | wc -l)" 4
	assert_equal "$(ls "$COSMOS_DIR/gallery/videos" | wc -l)" 4
	# Nothing in the page reaches out: no URL with a scheme.
	run grep -Eo '(https?|wss?|ftp)://' "$COSMOS_DIR/gallery/index.html"
	assert_output ""
	# Again: the posters are not made twice.
	before=$(stat -c %Y "$COSMOS_DIR"/gallery/posters/* | sort | tr '\n' ' ')
	run cosmos gallery --out "$COSMOS_DIR/gallery"
	assert_success
	assert_equal "$(stat -c %Y "$COSMOS_DIR"/gallery/posters/* | sort | tr '\n' ' ')" "$before"
}

@test "Chromium shows a card per video, badges with ffprobe's numbers, no console error and no network request" {
	run page 'document.querySelectorAll("article.card:not(.failed-child)").length' \
		'[...document.querySelectorAll("article.pair .badge")].map(b => b.textContent).slice(0, 3)'
	assert_success
	r=$output
	assert_equal "$(jq -c .results <<<"$r")" '[3,["4K 3840×2112","1.0 s","24 fps"]]'
	assert_equal "$(jq -c .errors <<<"$r")" '[]'
	assert_equal "$(jq -r '.requests[] | select(test("^(https?|wss?):"))' <<<"$r")" ""
	# The numbers are the record's (ffprobe's).
	up=$(cosmos-manifest --type upscale | jq -c 'select(.execution_config.source_run_id) | .outputs | [.width, .height, .fps]')
	assert_equal "$up" '[3840,2112,24]'
	assert_file_exists "${COSMOS_ARTIFACTS:-$BATS_FILE_TMPDIR}/gallery-$BATS_TEST_NUMBER.png"
}

@test "an upscale and its source on one card: Original and Upscaled keep the playing position; side by side shows both" {
	run page '(async () => {
		const c = document.querySelector("article.pair"), v = c.querySelector("video");
		const meta = () => new Promise(r => v.readyState >= 1 ? r() : v.addEventListener("loadedmetadata", r, {once: true}));
		await meta();
		v.currentTime = 0.5;
		c.querySelector("button[data-show=original]").click();
		await new Promise(r => v.addEventListener("loadedmetadata", r, {once: true}));
		await new Promise(r => setTimeout(r, 100));
		const was = [c.dataset.showing, v.src.split("/").pop(), Math.round(v.currentTime * 10) / 10];
		c.querySelector("button[data-show=side]").click();
		return was.concat([c.querySelectorAll(".side video").length, c.dataset.source + ".mp4"]);
	})()'
	assert_success
	read -r showing src at side want <<<"$(jq -r '.results[0] | @tsv' <<<"$output")"
	assert_equal "$showing $at $side" "original 0.5 2"
	assert_equal "$src" "$want"
	assert_equal "$(cosmos-manifest --type transfer | jq -r .id).mp4" "$src"
}

@test "a hostile prompt is shown as text: no script runs, no element is made from it" {
	run page 'document.title' 'document.querySelectorAll("script").length' 'document.querySelectorAll("main img:not([src^=posters])").length' \
		'[...document.querySelectorAll(".prompt")].map(p => p.textContent).find(t => t.includes("robot"))'
	assert_success
	assert_equal "$(jq -c '.results[0:3]' <<<"$output")" '["cosmos gallery",2,0]'
	assert_equal "$(jq -r '.results[3]' <<<"$output")" 'a robot <script>document.title="pwned"</script><img src=x onerror=alert(1)> & friends'
	assert_equal "$(jq -c .errors <<<"$output")" '[]'
	run grep -c '<script>document' "$COSMOS_DIR/gallery/index.html"
	assert_output 0
}

@test "a batch is one group: its counts, its children in order, the failed one with its reason; filters work without reloading" {
	run page 'document.querySelector("section.batch h2").textContent' \
		'[...document.querySelectorAll("section.batch article")].map(a => a.querySelector(".status").textContent)' \
		'document.querySelector("section.batch .reason").textContent' \
		'(() => { const s = document.getElementById("f-status"); s.value = "failed"; s.dispatchEvent(new Event("change")); return document.querySelectorAll("article").length; })()' \
		'(() => { document.getElementById("f-status").value = ""; const t = document.getElementById("f-text"); t.value = "ROBOT"; t.dispatchEvent(new Event("input")); return [...document.querySelectorAll("article")].map(a => a.dataset.type); })()'
	assert_success
	assert_regex "$(jq -r '.results[0]' <<<"$output")" '^batch rs_[0-9a-f]{32} · failed · 3 children: 2 completed, 1 failed$'
	assert_equal "$(jq -c '.results[1]' <<<"$output")" '["completed","failed","completed"]'
	assert_regex "$(jq -r '.results[2]' <<<"$output")" 'gone.mp4: No such file or directory'
	assert_equal "$(jq -c '.results[3:]' <<<"$output")" '[1,["upscale"]]'
}
