#!/bin/bash
# Remote execution against the loopback test host (t/sshd.bash), each
# against its baseline measured in the same run:
#  1. 200 requests through one cosmos-submit  vs  a shell loop of
#     `ssh host docker run ...`, without and with ControlMaster;
#  1b. the sync that downloads those runs' outputs  vs  one scp -r;
#  2. cosmos-sync of 2,000 running runs (one round trip)  vs  a per-run
#     `ssh host docker inspect` loop (timed on 200 runs, scaled to 2,000);
#  3. a 1 GiB upload through our SFTP layer  vs  scp.
set -eu
N=${N:-200}
SYNC_N=${SYNC_N:-2000}
. "$(dirname "$0")/lib.sh"
standin_model exit 0 # containers end at once: we measure the control path

now() { date +%s.%N; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", a / b }'; }
ssh_base=(ssh -q -o BatchMode=yes -o UserKnownHostsFile="$SSHD_DIR/known_hosts" -i "$SSHD_DIR/id_ed25519" -p "$SSHD_PORT")
target=$SSH_USER@127.0.0.1

ffmpeg -loglevel error -f lavfi -i testsrc=size=320x240:rate=24 -t 1 -pix_fmt yuv420p "$SSHD_DIR/clip.mp4"
req=$("$BIN/cosmos-spec" upscale --video "$SSHD_DIR/clip.mp4")

# 1. submit.  The baselines start the same job in the same kind of
# container (a copy of one of our job files), as a shell loop would.
t0=$(now)
for i in $(seq "$N"); do echo "$req"; done | "$BIN/cosmos-submit" >"$SSHD_DIR/submitted"
t1=$(now)
ours=$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')
job=$SSHD_DIR/work/runs/$(head -n 1 "$SSHD_DIR/submitted" | jq -r .id).sh
base_id() { printf 'rs_%s%027d' "$1" "$2"; }
for p in a b; do for i in $(seq "$N"); do cp "$job" "$SSHD_DIR/work/runs/$(base_id $p "$i").sh"; done; done
chown -R "$SSH_USER" "$SSHD_DIR/work/runs"
opts="--gpus all --ipc=host --shm-size=8g -e COSMOS_ENGINE=$SSHD_DIR/bin/model"
dock() { # the command a user's loop would send for run $2 of pass $1
	echo "cd $SSHD_DIR/work && docker run -d --rm --name cosmos_upscale_$1$2 $opts -v \$PWD:/workspace -w /workspace img sh bashscripts/cosmos-job $(base_id "$1" "$2")"
}
t0=$(now)
for i in $(seq "$N"); do
	"${ssh_base[@]}" "$target" "$(dock a "$i")" >/dev/null
done
t1=$(now)
plain=$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')
ctl=$SSHD_DIR/cm.sock
"${ssh_base[@]}" -o ControlMaster=yes -o ControlPath="$ctl" -o ControlPersist=60 "$target" true
t0=$(now)
for i in $(seq "$N"); do
	"${ssh_base[@]}" -o ControlPath="$ctl" "$target" "$(dock b "$i")" >/dev/null
done
t1=$(now)
cm=$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')
"${ssh_base[@]}" -o ControlPath="$ctl" -O exit "$target" 2>/dev/null || true
printf '%d requests: cosmos-submit %.2f s (%.1f ms each); ssh loop %.2f s; ssh loop with ControlMaster %.2f s\n' \
	"$N" "$ours" "$(awk -v a="$ours" -v n="$N" 'BEGIN { print 1000 * a / n }')" "$plain" "$cm"
echo "ratio: cosmos-submit is $(ratio "$plain" "$ours")x faster than the ssh loop, $(ratio "$cm" "$ours")x faster than ControlMaster"

# 1b. the sync that brings the N runs of part 1 home (each has ended: its
# outputs to download)  vs  one scp -r of their output directories.
for _ in $(seq 300); do
	[ -z "$(env STANDIN_STATE="$SSHD_DIR/state" "$SSHD_DIR/bin/docker" ps -q)" ] && break
	sleep 0.2
done
t0=$(now)
"$BIN/cosmos-sync" >/dev/null
t1=$(now)
ours=$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')
files=$(find "$COSMOS_DIR/runs" -mindepth 2 -type f | wc -l)
# One scp -r (one connection) of the output directories of the first (up
# to) 40 runs, put aside on the host after our sync, scaled to all N: a
# file costs scp round trips, and 1,000 of them take minutes on a link.
mkdir -p "$SSHD_DIR/scp-out" "$SSHD_DIR/work/sample"
k=0
for id in $(head -n 40 "$SSHD_DIR/submitted" | jq -r .id); do
	cp -r "$SSHD_DIR/work/outputs/run_$id" "$SSHD_DIR/work/sample/" && k=$((k + 1))
done
chown -R "$SSH_USER" "$SSHD_DIR/work/sample"
t0=$(now)
scp -q -r -o BatchMode=yes -o UserKnownHostsFile="$SSHD_DIR/known_hosts" -i "$SSHD_DIR/id_ed25519" -P "$SSHD_PORT" \
	"$target:$SSHD_DIR/work/sample" "$SSHD_DIR/scp-out/"
t1=$(now)
scp_t=$(awk -v a="$t0" -v b="$t1" -v k="$k" -v n="$N" 'BEGIN { print (b - a) * n / k }')
printf 'sync of %d ended runs (%d files downloaded): cosmos-sync %.2f s; scp -r of their outputs %.2f s (timed on %d runs, one scp, scaled)\n' \
	"$N" "$files" "$ours" "$scp_t" "$k"
if awk -v a="$ours" -v b="$scp_t" 'BEGIN { exit !(a <= b) }'; then
	echo "ratio: cosmos-sync (records, checks and ffprobe too) is $(ratio "$scp_t" "$ours")x faster than scp -r"
else
	echo "ratio: cosmos-sync (records, checks and ffprobe too) takes $(ratio "$ours" "$scp_t")x the time of scp -r"
fi

# 2. sync of SYNC_N running runs, made directly: records here, containers there.
# The runs of part 1 leave the store first: this measures learning the
# state of every run, not downloading outputs.
rm -f "$COSMOS_DIR"/runs/*.json
mkdir -p "$COSMOS_DIR/runs" "$SSHD_DIR/state/c"
awk -v n="$SYNC_N" -v runs="$COSMOS_DIR/runs" -v c="$SSHD_DIR/state/c" 'BEGIN {
	for (i = 0; i < n; i++) {
		id = sprintf("rs_%08x%024x", 3000000 + i, i)
		name = "cosmos_transfer_" substr(id, 1, 8)
		printf "{\"id\":\"%s\",\"model_type\":\"transfer\",\"status\":\"running\",\"backend\":\"docker\",\"host\":\"testhost\",\"job\":{\"container\":\"%s\"},\"execution_config\":{},\"outputs\":{},\"created_at\":\"2026-01-01T00:00:00.000Z\",\"updated_at\":\"2026-01-01T00:00:00.000Z\"}\n", id, name > (runs "/" id ".json")
		close(runs "/" id ".json")
		system("mkdir -p " c "/" name)
		print "running" > (c "/" name "/status")
		close(c "/" name "/status")
		print name > (runs "/../names")
	}
}'
chown -R "$SSH_USER" "$SSHD_DIR/state"
: >"$SSHD_DIR/state/calls.log"
t0=$(now)
"$BIN/cosmos-sync" >/dev/null
t1=$(now)
ours=$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')
trips=$(grep -c '^inspect' "$SSHD_DIR/state/calls.log")
sample=200
t0=$(now)
head -n "$sample" "$COSMOS_DIR/names" | while read -r name; do
	"${ssh_base[@]}" "$target" docker inspect --format '{{.State.Status}}' "$name" >/dev/null </dev/null
done
t1=$(now)
loop=$(awk -v a="$t0" -v b="$t1" -v s="$sample" -v n="$SYNC_N" 'BEGIN { print (b - a) * n / s }')
t0=$(now)
"${ssh_base[@]}" "$target" true
t1=$(now)
one=$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')
printf 'sync of %d running runs: cosmos-sync %.2f s in %d docker inspect call(s); per-run ssh inspect loop %.1f s (timed on %d, scaled); one ssh host true %.2f s\n' \
	"$SYNC_N" "$ours" "$trips" "$loop" "$sample" "$one"
echo "ratio: cosmos-sync is $(ratio "$loop" "$ours")x faster than the per-run loop, and takes $(ratio "$ours" "$one")x the time of one ssh host true"

# 3. 1 GiB upload
big=$SSHD_DIR/big.bin
head -c 1073741824 /dev/urandom >"$big"
t0=$(now)
"$TBIN/put" testhost "$big" "$SSHD_DIR/work/big.ours" >/dev/null
t1=$(now)
ours=$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')
t0=$(now)
scp -q -o BatchMode=yes -o UserKnownHostsFile="$SSHD_DIR/known_hosts" -i "$SSHD_DIR/id_ed25519" -P "$SSHD_PORT" \
	"$big" "$target:$SSHD_DIR/work/big.scp"
t1=$(now)
scp_t=$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')
cmp -s "$big" "$SSHD_DIR/work/big.ours" || { echo "upload differs" >&2; exit 1; }
printf '1 GiB upload: ours %.2f s (%.0f MiB/s); scp %.2f s (%.0f MiB/s)\n' "$ours" \
	"$(awk -v t="$ours" 'BEGIN { print 1024 / t }')" "$scp_t" "$(awk -v t="$scp_t" 'BEGIN { print 1024 / t }')"
echo "ratio: our throughput is $(ratio "$scp_t" "$ours")x scp's"
rm -f "$big"
