#!/bin/bash
# A packed batch against a fan-out of the same N transfer requests on the
# loopback test host, each through to every child completed with its own
# output: wall time to submit, wall time until cosmos-sync --wait has
# handed out every output, and the containers started (the stand-in
# docker's call log).  The stand-in model is the reference engine (ffmpeg
# per item), so this measures cosmos's overheads, not a model's load
# time, which a packed batch pays once instead of N times.
set -eu
N=${N:-100}
. "$(dirname "$0")/lib.sh"
ffmpeg -loglevel error -f lavfi -i testsrc=size=160x120:rate=24 -t 1 -pix_fmt yuv420p "$SSHD_DIR/color.mp4"
mkdir -p "$SSHD_DIR/shot"
cp "$SSHD_DIR/color.mp4" "$SSHD_DIR/shot/color.mp4"
for i in $(seq "$N"); do
	"$BIN/cosmos-spec" prompt "shot $i: a robot arm stacks cubes" "$SSHD_DIR/shot" | jq -r .id
done >"$SSHD_DIR/prompts"
"$BIN/cosmos-spec" transfer --weights vis=0.5 - <"$SSHD_DIR/prompts" >"$SSHD_DIR/reqs"
runs() { grep -sc '^run ' "$SSHD_DIR/state/calls.log" || true; }
now() { date +%s.%N; }

# one MODE: "SUBMIT_S TOTAL_S CONTAINERS COMPLETED"
one() {
	local c0 t0 t1 t2 b
	c0=$(runs)
	t0=$(now)
	"$BIN/cosmos-batch" --host testhost "$@" <"$SSHD_DIR/reqs" >"$SSHD_DIR/events"
	t1=$(now)
	b=$(head -n 1 "$SSHD_DIR/events" | jq -r .batch_id)
	"$BIN/cosmos-sync" --wait --interval 1 "$b" >/dev/null
	t2=$(now)
	echo "$(echo "$t1 - $t0" | bc) $(echo "$t2 - $t0" | bc) $(($(runs) - c0)) $("$BIN/cosmos-manifest" --batch "$b" --status completed --count)"
}
read -r ps pt pc pok <<<"$(one --packed)"
read -r fs ft fc fok <<<"$(one --delay 0)"
awk -v n="$N" -v ps="$ps" -v pt="$pt" -v pc="$pc" -v pok="$pok" -v fs="$fs" -v ft="$ft" -v fc="$fc" -v fok="$fok" 'BEGIN {
	printf "packed batch of %d: submitted in %.2f s, %d container(s), %d children completed in %.1f s\n", n, ps, pc, pok, pt
	printf "fan-out of %d:      submitted in %.2f s, %d container(s), %d children completed in %.1f s\n", n, fs, fc, fok, ft
	printf "ratio: packed submits %.1fx faster and ends %.2fx the fan-out time, with %d container(s) instead of %d\n", fs / ps, pt / ft, pc, fc
}'
