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
	# Four runs' videos, and the original files of the batch's two upscales.
	assert_equal "$(ls "$COSMOS_DIR/gallery/videos" | wc -l)" 6
	assert_equal "$(ls "$COSMOS_DIR/gallery/videos" | grep -c '_original\.mp4$')" 2
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

@test "a Transfer2.5 run's card: its control videos beside the result, labelled, and the prompt upstream used as text; a Transfer1 card has neither" {
	# A store of its own: a Transfer2.5 run as cosmos-sync leaves it (its
	# outputs.files, the controls upstream computed, its output.txt), and
	# a Transfer1 run.
	export COSMOS_DIR=$BATS_TEST_TMPDIR/store25
	mkdir -p "$CLIPS/full"
	cp "$CLIPS/shot/color.mp4" "$CLIPS/full/color.mp4"
	t1=$(make_run completed '.execution_config.prompt = "a Transfer1 run"')
	t25=$(make_run completed '.execution_config.prompt = "a Transfer2.5 run" | .outputs.files =
		{"output.mp4": 1, "output.json": 1, "output.txt": 1, "output_control_edge.mp4": 1,
		 "output_control_depth.mp4": 1, "output_control_a/b.mp4": 1, "output_control_.x.mp4": 1}')
	d=$COSMOS_DIR/runs/$t25/outputs
	ffmpeg -loglevel error -f lavfi -i testsrc=size=160x90:rate=24 -t 1 -pix_fmt yuv420p "$d/output_control_edge.mp4"
	ffmpeg -loglevel error -f lavfi -i testsrc=size=192x108:rate=24 -t 1 -pix_fmt yuv420p "$d/output_control_depth.mp4"
	mkdir "$d/output_control_a"
	cp "$d/output_control_edge.mp4" "$d/output_control_a/b.mp4"
	cp "$d/output_control_edge.mp4" "$d/output_control_.x.mp4"
	printf '%s' 'a robot <img src=x onerror=alert(1)></script><script>document.title="pwned"</script> & co' >"$d/output.txt"
	echo '{}' >"$d/output.json"
	run cosmos gallery
	assert_success
	# Only the result and the two controls upstream names are linked.
	assert_equal "$(ls "$COSMOS_DIR/gallery/videos" | sort | tr '\n' ' ')" \
		"$(printf '%s\n' "$t1.mp4" "$t25.mp4" "${t25}_control_depth.mp4" "${t25}_control_edge.mp4" | sort | tr '\n' ' ')"
	run page "(async () => {
		const c = document.querySelector('article[data-id=$t25]');
		const buttons = [...c.querySelectorAll('.toggle button')].map(b => b.dataset.show + ':' + b.textContent);
		c.querySelector('button[data-show=edge]').click();
		const v = c.querySelector('.media video');
		await new Promise(r => v.readyState >= 1 ? r() : v.addEventListener('loadedmetadata', r, {once: true}));
		const edge = [c.dataset.showing, v.src.split('/').pop(), v.videoWidth];
		c.querySelector('button[data-show=side]').click();
		const figs = [...c.querySelectorAll('.media figure')];
		await Promise.all(figs.map(f => f.querySelector('video')).map(v => new Promise(r => v.readyState >= 1 ? r() : v.addEventListener('loadedmetadata', r, {once: true}))));
		return {buttons, edge, side: figs.map(f => f.querySelector('figcaption').textContent + ':' + f.querySelector('video').videoWidth)};
	})()" \
		"(() => { const u = document.querySelector('article[data-id=$t25] details.used'); return [u.open, u.querySelector('.prompt').textContent, u.querySelector('.prompt').children.length]; })()" \
		'document.title' 'document.querySelectorAll("script").length' 'document.querySelectorAll("main img:not([src^=posters])").length' \
		"[...document.querySelector('article[data-id=$t1]').children].map(e => e.className)" \
		"document.querySelector('article[data-id=$t1]').querySelectorAll('button, details, figure').length"
	assert_success
	assert_equal "$(jq -c '.results[0]' <<<"$output")" \
		'{"buttons":["result:Result","edge:edge","depth:depth","side:Side by side"],"edge":["edge","'"$t25"'_control_edge.mp4",160],"side":["result:320","edge:160","depth:192"]}'
	assert_equal "$(jq -c '.results[1]' <<<"$output")" \
		'[true,"a robot <img src=x onerror=alert(1)></script><script>document.title=\"pwned\"</script> & co",0]'
	assert_equal "$(jq -c '.results[2:]' <<<"$output")" '["cosmos gallery",2,0,["media","body"],0]'
	assert_equal "$(jq -c .errors <<<"$output")" '[]'
	assert_equal "$(jq -r '.requests[] | select(test("^(https?|wss?):"))' <<<"$output")" ""
}

@test "the prompt upstream used is read only when outputs.files names it, and only its first 8 KiB" {
	export COSMOS_DIR=$BATS_TEST_TMPDIR/store25
	mkdir -p "$CLIPS/full"
	cp "$CLIPS/shot/color.mp4" "$CLIPS/full/color.mp4"
	long=$(make_run completed '.outputs.files = {"output.mp4": 1, "output.txt": 1}')
	unnamed=$(make_run completed '.outputs.files = {"output.mp4": 1}')
	head -c 20000 /dev/zero | tr '\0' x >"$COSMOS_DIR/runs/$long/outputs/output.txt"
	echo 'not listed' >"$COSMOS_DIR/runs/$unnamed/outputs/output.txt"
	run cosmos gallery
	assert_success
	data=$(sed -n 's/^<script id="runs" type="application\/json">\(.*\)<\/script>$/\1/p' "$COSMOS_DIR/gallery/index.html")
	assert_equal "$(jq -r --arg id "$long" '.runs[] | select(.id == $id) | .prompt_used | [length, .[-2:]] | @tsv' <<<"$data")" "$(printf '8193\tx…')"
	assert_equal "$(jq -c --arg id "$unnamed" '.runs[] | select(.id == $id) | [.prompt_used, .controls]' <<<"$data")" '[null,null]'
}

# #20: an upscale made with --video FILE gets the card an upscale of a
# run gets, the file as its original, while the file is readable.
@test "an upscale of a file: its original on the same card (toggle, side by side, the original's real size as a badge); a file gone is said so" {
	export COSMOS_DIR=$BATS_TEST_TMPDIR/store
	ffmpeg -loglevel error -f lavfi -i testsrc=size=256x144:rate=24 -t 0.5 -pix_fmt yuv420p "$BATS_TEST_TMPDIR/kept.mp4"
	cp "$BATS_TEST_TMPDIR/kept.mp4" "$BATS_TEST_TMPDIR/later.mp4"
	a=$(cosmos-spec upscale --video "$BATS_TEST_TMPDIR/kept.mp4" | cosmos-submit | jq -r .id)
	b=$(cosmos-spec upscale --video "$BATS_TEST_TMPDIR/later.mp4" | cosmos-submit | jq -r .id)
	cosmos-sync --wait --interval 1 --timeout 60 "$a" "$b" >/dev/null
	rm "$BATS_TEST_TMPDIR/later.mp4"
	cosmos gallery >/dev/null
	run page "(async () => {
		const c = document.querySelector('article.pair[data-id=$a]'), v = c.querySelector('video');
		const meta = () => new Promise(r => v.readyState >= 1 ? r() : v.addEventListener('loadedmetadata', r, {once: true}));
		await meta();
		c.querySelector('button[data-show=original]').click();
		await new Promise(r => v.addEventListener('loadedmetadata', r, {once: true}));
		const was = [c.dataset.showing, v.src.split('/').pop(), v.videoWidth];
		c.querySelector('button[data-show=side]').click();
		const side = [...c.querySelectorAll('.side video')].map(x => x.src.split('/').pop());
		const badges = [...c.querySelectorAll('details .badge')].map(x => x.textContent);
		return was.concat([side.join(' '), badges[0], c.dataset.source]);
	})()" \
		"document.querySelectorAll('article.pair[data-id=$b]').length" \
		"document.querySelector('article[data-id=$b] .original-missing').textContent"
	assert_success
	assert_equal "$(jq -c '.results[0]' <<<"$output")" "[\"original\",\"${a}_original.mp4\",256,\"${a}_original.mp4 $a.mp4\",\"144p 256×144\",\"kept.mp4\"]"
	assert_equal "$(jq -c '.results[1:]' <<<"$output")" "[0,\"original $BATS_TEST_TMPDIR/later.mp4: no longer readable\"]"
	assert_equal "$(jq -c .errors <<<"$output")" '[]'
}
