#!/bin/bash
# The gallery of 5,000 runs: the page rebuilt with its posters made
# (cosmos gallery) against reading the same records through
# cosmos-manifest | jq; posters for 100 new videos against a bare ffmpeg
# loop making the same posters; and, in headless Chromium, the first draw
# and a search over the 5,000 cards.
set -eu
N=${N:-5000}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${COSMOS_BIN:-$ROOT/bin}
export COSMOS_SHARE=$ROOT/share/cosmos
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export COSMOS_DIR=$tmp/store
mkdir -p "$COSMOS_DIR/runs" "$tmp/g/posters"
ffmpeg -loglevel error -f lavfi -i testsrc=size=320x180:rate=24 -t 1 -pix_fmt yuv420p "$tmp/clip.mp4"
ffmpeg -loglevel error -i "$tmp/clip.mp4" -frames:v 1 -vf scale=480:-2 "$tmp/poster.jpg"
python3 - "$COSMOS_DIR" "$tmp/clip.mp4" "$N" <<'PY'
import json, os, sys
store, clip, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
for i in range(n):
    rid = "rs_%032x" % (i + 1)
    d = os.path.join(store, "runs", rid, "outputs")
    os.makedirs(d)
    os.link(clip, os.path.join(d, "output.mp4"))
    rec = {"id": rid, "model_type": "upscale", "status": "completed", "host": "gpu1", "backend": "docker",
           "created_at": "2026-11-%02dT%02d:%02d:00.000Z" % (1 + i // 1440 % 28, i // 60 % 24, i % 60),
           "execution_config": {"prompt": "take %d of a kite" % i},
           "outputs": {"video": os.path.join(d, "output.mp4"), "width": 3840, "height": 2112,
                       "duration": 1, "fps": 24, "codec": "h264"}}
    with open(os.path.join(store, "runs", rid + ".json"), "w") as f:
        f.write(json.dumps(rec) + "\n")
PY
now() { date +%s.%N; }
ratio() { echo "scale=1; $1 / $2" | bc; }
# Posters already made (as after a first build): copies, newer than the videos.
for f in "$COSMOS_DIR"/runs/*.json; do cp "$tmp/poster.jpg" "$tmp/g/posters/$(basename "$f" .json).jpg"; done
t0=$(now)
"$BIN/cosmos-manifest" | "$BIN/cosmos-gallery" --out "$tmp/g" >/dev/null
t1=$(now)
"$BIN/cosmos-manifest" | jq -c '{id, video: .outputs.video}' >/dev/null
t2=$(now)
build=$(echo "$t1 - $t0" | bc) read=$(echo "$t2 - $t1" | bc)
echo "gallery of $N runs, posters made: ${build}s; cosmos-manifest | jq over the same records: ${read}s ($(ratio "$build" "$read")x of it)"
# 100 runs whose posters are new: cosmos-gallery against an ffmpeg loop.
ls "$tmp/g/posters" | head -n 100 | (cd "$tmp/g/posters" && xargs rm -f)
made=$(( N - $(ls "$tmp/g/posters" | wc -l) ))
t0=$(now)
"$BIN/cosmos-manifest" | "$BIN/cosmos-gallery" --out "$tmp/g" >/dev/null
t1=$(now)
for i in $(seq "$made"); do
	ffmpeg -nostdin -loglevel error -y -ss 0.3 -i "$tmp/clip.mp4" -frames:v 1 -vf scale=480:-2 -q:v 5 "$tmp/p.jpg"
done
t2=$(now)
new=$(echo "$t1 - $t0" | bc) loop=$(echo "$t2 - $t1" | bc)
echo "gallery of $N runs, $made posters new: ${new}s; an ffmpeg loop making the same $made posters: ${loop}s ($(ratio "$loop" "$new")x)"
# In Chromium: the first draw, and a search that leaves 10 cards.
python3 "$ROOT/t/cdp.py" "file://$tmp/g/index.html" "$tmp/shot.png" \
	'performance.getEntriesByType("navigation")[0].domComplete' \
	'document.querySelectorAll("article.card").length' \
	'(() => { const t0 = performance.now(); const s = document.getElementById("f-text"); s.value = "take 499"; s.dispatchEvent(new Event("input")); return [performance.now() - t0, document.querySelectorAll("article.card").length]; })()' |
	jq -r '"in Chromium: \(.results[1]) cards drawn, page complete at \(.results[0] | floor) ms; a search to \(.results[2][1]) cards in \(.results[2][0] | floor) ms"'
