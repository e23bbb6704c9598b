#!/bin/sh
# cosmos-manifest over 100,000 run records, against the jq pipeline a user
# would otherwise write, measured in the same run on the same files.
#
# Baseline: cat runs/*.json | jq -c 'select(.status == "failed")'
# (the glob goes through xargs: 100,000 names overflow ARG_MAX).
set -eu
N=${N:-100000}
BIN=${COSMOS_BIN:-$(dirname "$0")/../../bin}
export COSMOS_DIR="${TMPDIR:-/tmp}/cosmos-bench-manifest.$$"
trap 'rm -rf "$COSMOS_DIR"' EXIT INT TERM
mkdir -p "$COSMOS_DIR/runs" "$COSMOS_DIR/prompts"

t0=$(date +%s.%N)
awk -v n="$N" -v dir="$COSMOS_DIR/runs" 'BEGIN {
	split("completed completed completed completed completed completed running running failed pending", st, " ")
	for (i = 0; i < n; i++) {
		id = sprintf("rs_%08x%08x%08x%08x", i, i * 7, i * 13, i * 31)
		f = dir "/" id ".json"
		s = st[i % 10 + 1]
		printf "{\"id\":\"%s\",\"model_type\":\"transfer\",\"status\":\"%s\",\"prompt_id\":\"ps_%032x\",\"backend\":\"docker\",\"host\":\"gpu1\",\"job\":{\"container\":\"cosmos_transfer_%s\"},\"execution_config\":{\"weights\":{\"vis\":0.25,\"edge\":0.25,\"depth\":0.25,\"seg\":0.25},\"num_steps\":35,\"guidance\":5,\"seed\":1,\"fps\":24,\"sigma_max\":70,\"blur_strength\":\"medium\",\"canny_threshold\":\"medium\"},\"outputs\":{\"video\":\"/data/cosmos/runs/%s/outputs/output.mp4\"},\"created_at\":\"2026-%02d-%02dT%02d:%02d:%02d.%03dZ\",\"updated_at\":\"2026-11-22T00:00:00.000Z\"}\n", id, s, i % 5000, substr(id, 1, 11), id, i % 12 + 1, i % 28 + 1, i % 24, i % 60, (i / 60) % 60, i % 1000 > f
		close(f)
	}
}'
t1=$(date +%s.%N)
echo "made $N records in $(echo "$t1 - $t0" | bc -l | cut -c1-5) s"

# best of three wall-clock times of a shell command, in seconds
best() {
	b=
	for i in 1 2 3; do
		s=$(date +%s.%N)
		sh -c "$1" >/dev/null
		e=$(date +%s.%N)
		t=$(echo "$e - $s" | bc -l)
		if [ -z "$b" ] || [ "$(echo "$t < $b" | bc -l)" = 1 ]; then b=$t; fi
	done
	echo "$b"
}

cd "$COSMOS_DIR/runs"
base='printf "%s\0" *.json | xargs -0 cat | jq -c "select(.status == \"failed\")"'
base_sorted='printf "%s\0" *.json | xargs -0 cat | jq -sc "map(select(.status == \"failed\")) | sort_by(.created_at) | reverse | .[]"'
ours="$BIN/cosmos-manifest --status failed"
# Same answer first: the same set of records.
a=$(sh -c "$base" | jq -r .id | sort | md5sum)
b=$($ours | jq -r .id | sort | md5sum)
[ "$a" = "$b" ] || { echo "manifest bench: outputs differ" >&2; exit 1; }

tb=$(best "$base")
ts=$(best "$base_sorted")
to=$(best "$ours")
tc=$(best "$BIN/cosmos-manifest --count")
printf 'jq select (unsorted)         %6.3f s\n' "$tb"
printf 'jq select + sort newest first %6.3f s\n' "$ts"
printf 'cosmos-manifest --status     %6.3f s   (sorted newest first)\n' "$to"
printf 'cosmos-manifest --count      %6.3f s\n' "$tc"
printf 'ratio: cosmos-manifest is %.1fx faster than jq select, %.1fx faster than jq select+sort\n' \
	"$(echo "$tb / $to" | bc -l)" "$(echo "$ts / $to" | bc -l)"
