#!/bin/bash
# GPU slots: N (64) one-second runs on the loopback test host with G (4)
# stand-in GPUs (t/standin/nvidia-smi, docker and model), sent by one
# cosmos-submit, against the same N one-second jobs run by xargs -P G on
# the host itself: the best any queue can do there, measured in the same
# run.  From the stand-in model's own log (start/end, ms, GPUs):
#   makespan  first start to last end, against the ideal: N/G times the
#             runs' mean length as the model logged it (a run is its
#             one-second sleep and the model's own few ms), and against
#             xargs's (goal: ideal/makespan >= 0.95);
#   hand-off  for each run's end, the gap until the next run starts on
#             the GPU it freed: median and 90th percentile (goal: median
#             <= 50 ms; task-spooler looks every 30 s).
# The runs are prompt enhancements, whose reference engine is one jq:
# each run is the model's one-second sleep and little else.
set -eu
N=${N:-64}
G=${G:-4}
. "$(dirname "$0")/lib.sh"
cp "$ROOT/t/standin/nvidia-smi" "$SSHD_DIR/bin/"
chmod 755 "$SSHD_DIR/bin/nvidia-smi"
echo "$G" >"$SSHD_DIR/state/gpus"
echo 1 >"$SSHD_DIR/state/model-sleep"
chmod 644 "$SSHD_DIR/state"/*
ffmpeg -loglevel error -f lavfi -i testsrc=size=160x120:rate=24 -t 1 -pix_fmt yuv420p "$SSHD_DIR/color.mp4"
mkdir -p "$SSHD_DIR/shot"
cp "$SSHD_DIR/color.mp4" "$SSHD_DIR/shot/color.mp4"
for i in $(seq "$N"); do
	"$BIN/cosmos-spec" prompt "shot $i: a robot arm stacks cubes" "$SSHD_DIR/shot" | jq -r .id
done | "$BIN/cosmos-spec" enhance >"$SSHD_DIR/reqs"

# stats FILE: "MAKESPAN_S MEDIAN_MS P90_MS MEAN_S" of a log of "start|end RUN MS GPUS"
# lines; a hand-off is an end and the next start on one of its GPUs
# (GPUS "-": any).
stats() {
	sort -k3,3n -k1,1 "$1" | awk '
		NR == 1 || $3 < first { first = $3 }
		$3 > last { last = $3 }
		$1 == "start" { t0[$2] = $3 }
		$1 == "end" && ($2 in t0) { sum += $3 - t0[$2]; runs++ }
		{ n = split($4, d, ",")
		  for (i = 1; i <= n; i++) {
			if ($1 == "end") { free[d[i]] = $3; continue }
			if (d[i] in free) { gap[++k] = $3 - free[d[i]]; delete free[d[i]] }
		  } }
		END {
			for (i = 1; i <= k; i++) for (j = i + 1; j <= k; j++) if (gap[j] < gap[i]) { t = gap[i]; gap[i] = gap[j]; gap[j] = t }
			printf "%.3f %d %d %.3f\n", (last - first) / 1000, k ? gap[int((k + 1) / 2)] : -1, k ? gap[int(k * 0.9 + 0.5)] : -1, runs ? sum / runs / 1000 : 0
		}'
}

# The baseline: xargs -P G on the host, each job the model's sleep and a
# line each end into the same kind of log (one shared "-" slot list: a
# freed slot is any slot).
: >"$SSHD_DIR/xargs.log"
seq "$N" | xargs -P "$G" -I{} sh -c '
	printf "start x{} %s -\n" "$(date +%s%3N)" >>"$1"; sleep 1
	printf "end x{} %s -\n" "$(date +%s%3N)" >>"$1"' sh "$SSHD_DIR/xargs.log"
read -r xm xmed xp90 xmean <<<"$(stats "$SSHD_DIR/xargs.log")"

rm -f "$SSHD_DIR/state/intervals"
t0=$(date +%s.%N)
"$BIN/cosmos-submit" --host testhost <"$SSHD_DIR/reqs" >"$SSHD_DIR/recs"
"$BIN/cosmos-sync" --wait --interval 1 >/dev/null
t1=$(date +%s.%N)
ok=$("$BIN/cosmos-manifest" --status completed --count)
read -r cm cmed cp90 cmean <<<"$(stats "$SSHD_DIR/state/intervals")"
peak=$(sort -k3,3n -k1,1 "$SSHD_DIR/state/intervals" | awk '$1 == "start" { if (++n > m) m = n } $1 == "end" { n-- } END { print m }')
awk -v n="$N" -v g="$G" -v ok="$ok" -v peak="$peak" -v wall="$(echo "$t1 - $t0" | bc)" \
    -v cm="$cm" -v cmed="$cmed" -v cp90="$cp90" -v cmean="$cmean" -v xm="$xm" -v xmed="$xmed" -v xp90="$xp90" 'BEGIN {
	ideal = n / g * cmean
	printf "%d one-second runs on %d GPUs: %d completed, at most %d at once; %.1f s from submit to the last synced\n", n, g, ok, peak, wall
	printf "makespan: cosmos %.2f s, xargs -P %d %.2f s, ideal %.2f s (%d x %.3f s runs on %d GPUs)\n", cm, g, xm, ideal, n, cmean, g
	printf "ratio: ideal/makespan %.3f (goal >= 0.95); xargs/cosmos %.3f\n", ideal / cm, xm / cm
	printf "hand-off (a run ends, the next starts on its GPU): median %d ms, p90 %d ms; xargs median %d ms, p90 %d ms (goal: median <= 50 ms)\n", cmed, cp90, xmed, xp90
}'
