#!/bin/bash
# A fan-out batch of 1,000 children on the loopback Slurm cluster (one
# sbatch: a job array), and a sync of the 1,000 (one squeue), against the
# baselines measured in the same run over the same login node: a loop of
# one "ssh host sbatch" per child, and of one "ssh host squeue -j" per job.
# Jobs are held (sbatch --hold), so the cluster's two fake GPUs are not
# the limit; every job is cancelled at the end.  Needs root (slurmd).
set -eu
N=${N:-1000}
[ "$(id -u)" = 0 ] || { echo "slurm: skipped (slurmd needs root)"; exit 0; }
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${COSMOS_BIN:-$ROOT/bin}
BATS_TEST_DIRNAME=$ROOT/t
export COSMOS_SHARE=$ROOT/share/cosmos
. "$ROOT/t/sshd.bash"
. "$ROOT/t/slurm.bash"
slurm_prepare
SSHD_SETENV="SLURM_CONF=$SLURM_CONF" sshd_start
trap 'slurm_stop; sshd_stop' EXIT INT TERM
slurm_start
export COSMOS_DIR=$SSHD_DIR/store
slurm_host cluster engine=reference sbatch_options=--hold >"$COSMOS_CONFIG"
ffmpeg -loglevel error -f lavfi -i testsrc=size=320x180:rate=24 -t 1 -pix_fmt yuv420p "$SSHD_DIR/clip.mp4"
req=$("$BIN/cosmos-spec" upscale --video "$SSHD_DIR/clip.mp4")
for i in $(seq "$N"); do echo "$req"; done >"$SSHD_DIR/reqs"
now() { date +%s.%N; }
sshh() {
	ssh -n -q -i "$SSHD_DIR/id_ed25519" -p "$SSHD_PORT" -o UserKnownHostsFile="$SSHD_DIR/known_hosts" \
		-o BatchMode=yes "$SSH_USER@127.0.0.1" "$@"
}

t0=$(now)
"$BIN/cosmos-batch" --host cluster --delay 0 <"$SSHD_DIR/reqs" >"$SSHD_DIR/events"
t1=$(now)
ok=$(grep -c '"success":true' "$SSHD_DIR/events")
"$BIN/cosmos-sync" >/dev/null || true # the first sync records each job's queue reason
t2=$(now)
"$BIN/cosmos-sync" >/dev/null
t3=$(now)
queued=$(squeue -h -r -t PENDING -o %i | wc -l)

t4=$(now)
for i in $(seq "$N"); do
	sshh "cd $SSHD_DIR/cluster && sbatch --parsable --hold --gres=gpu:1 --wrap true"
done >"$SSHD_DIR/ids"
t5=$(now)
while read -r id; do sshh "squeue -h -j $id -o %T"; done <"$SSHD_DIR/ids" >/dev/null
t6=$(now)
scancel --user="$SSH_USER"

awk -v n="$N" -v ok="$ok" -v q="$queued" -v a="$t0" -v b="$t1" -v c="$t2" -v d="$t3" -v e="$t4" -v f="$t5" -v g="$t6" 'BEGIN {
	sub_ours = b - a; sync_ours = d - c; sub_loop = f - e; sync_loop = g - f
	printf "fan-out of %d children on the cluster (%d submitted, %d array tasks queued): %.2f s, one sbatch\n", n, ok, q, sub_ours
	printf "a loop of %d ssh sbatch: %.2f s; ratio %.1fx\n", n, sub_loop, sub_loop / sub_ours
	printf "cosmos-sync of the %d, one squeue: %.2f s; a loop of %d ssh squeue -j: %.2f s; ratio %.1fx\n", n, sync_ours, n, sync_loop, sync_loop / sync_ours
}'
