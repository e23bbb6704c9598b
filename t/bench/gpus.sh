#!/bin/bash
# GPU slots: N (64) one-second runs on the loopback test host with G (4)
# stand-in GPUs (t/standin/nvidia-smi, docker and model), sent by one
# cosmos-submit, and the same on this machine's process runtime (no
# docker: what is left is cosmos's own queue), against the same N
# one-second jobs run by xargs -P G: the best any queue can do there,
# measured in the same run.  From the stand-in model's own log (start/end, ms, GPUs):
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

# one NAME STATE_DIR [cosmos-submit options]: the N runs through one
# submit and a sync --wait; prints the figures line.
one() {
	local name=$1 st=$2 t0 t1 ok cm cmed cp90 cmean peak
	shift 2
	rm -f "$st/intervals"
	t0=$(date +%s.%N)
	"$BIN/cosmos-submit" "$@" <"$SSHD_DIR/reqs" >/dev/null
	"$BIN/cosmos-sync" --wait --interval 1 >/dev/null
	t1=$(date +%s.%N)
	ok=$("$BIN/cosmos-manifest" --status completed --count)
	read -r cm cmed cp90 cmean <<<"$(stats "$st/intervals")"
	peak=$(sort -k3,3n -k1,1 "$st/intervals" | awk '$1 == "start" { if (++n > m) m = n } $1 == "end" { n-- } END { print m }')
	awk -v name="$name" -v n="$N" -v g="$G" -v ok="$ok" -v peak="$peak" -v wall="$(echo "$t1 - $t0" | bc)" \
	    -v cm="$cm" -v cmed="$cmed" -v cp90="$cp90" -v cmean="$cmean" -v xm="$xm" 'BEGIN {
		ideal = n / g * cmean
		printf "%s: %d one-second runs on %d GPUs: %d completed, at most %d at once; %.1f s from submit to the last synced\n", name, n, g, ok, peak, wall
		printf "  makespan %.2f s; ideal %.2f s (%d x %.3f s runs on %d GPUs); xargs -P %d %.2f s\n", cm, ideal, n, cmean, g, g, xm
		printf "  ratio: ideal/makespan %.3f (goal >= 0.95); xargs/cosmos %.3f\n", ideal / cm, xm / cm
		printf "  hand-off (a run ends, the next starts on its GPU): median %d ms, p90 %d ms (goal: median <= 50 ms)\n", cmed, cp90
	}'
}

printf 'xargs -P %d: makespan %.2f s; hand-off median %d ms, p90 %d ms\n' "$G" "$xm" "$xmed" "$xp90"
[ -n "${GPUS_LOCAL_ONLY:-}" ] || one "docker host over SSH" "$SSHD_DIR/state" --host testhost
# This machine: the process runtime, the stand-in nvidia-smi on PATH.
mkdir -p "$SSHD_DIR/local-state" "$SSHD_DIR/local-bin"
cp "$SSHD_DIR/state/gpus" "$SSHD_DIR/state/model-sleep" "$SSHD_DIR/local-state/"
ln -s "$ROOT/t/standin/nvidia-smi" "$SSHD_DIR/local-bin/nvidia-smi"
export COSMOS_DIR=$SSHD_DIR/store-local
PATH=$SSHD_DIR/local-bin:$PATH STANDIN_STATE=$SSHD_DIR/local-state COSMOS_LOCAL_RUNTIME=process \
	COSMOS_LOCAL_ENGINE=$ROOT/t/standin/model one "this machine, process runtime" "$SSHD_DIR/local-state" --host local
[ -z "${GPUS_KEEP:-}" ] || cp "$SSHD_DIR/local-state/intervals" "$GPUS_KEEP"
