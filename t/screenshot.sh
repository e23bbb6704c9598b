#!/bin/bash
# screenshot.sh OUT.png - the gallery as the README shows it: a scratch
# store on this machine (a transfer, its upscale, a batch with a failed
# child), its page, and a picture of it taken by headless Chromium.
set -eu
out=$(realpath -m "$1")
ROOT=$(cd "$(dirname "$0")/.." && pwd)
export PATH="$ROOT/bin:$PATH" COSMOS_SHARE=$ROOT/share/cosmos COSMOS_LOCAL_RUNTIME=process
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export COSMOS_DIR=$tmp/store COSMOS_CONFIG=$tmp/no-hosts
mkdir -p "$tmp/kite"
ffmpeg -loglevel error -f lavfi -i testsrc2=size=320x180:rate=24 -t 2 -pix_fmt yuv420p "$tmp/kite/color.mp4"
p=$(cosmos-spec prompt 'a red kite over dunes at dusk, slow pan' "$tmp/kite" | jq -r .id)
t=$(cosmos-spec transfer "$p" | cosmos-submit | jq -r .id)
cosmos-sync --wait --interval 1 "$t" >/dev/null
cosmos-spec upscale --from-run "$t" | cosmos-submit >/dev/null
{
	cosmos-spec upscale --video "$tmp/kite/color.mp4"
	cosmos-spec upscale --video "$tmp/missing.mp4" 2>/dev/null || echo "{\"model_type\":\"upscale\",\"spec\":{\"input_video_path\":\"$tmp/missing.mp4\"}}"
} | cosmos-batch --delay 0 >/dev/null 2>&1 || true
cosmos-sync --wait --interval 1 >/dev/null || true
page=$(cosmos gallery)
python3 "$ROOT/t/cdp.py" "file://$page" "$out" >/dev/null
echo "$out"
