#!/bin/bash
# A fan-out of 1,000 children with --delay 0 against the loopback test
# host: total time, the overhead per child, and the number of SSH
# handshakes (counted in sshd's log).  Baseline in the same run: the same
# 1,000 requests through one cosmos-submit, without a batch.
set -eu
N=${N:-1000}
. "$(dirname "$0")/lib.sh"
standin_model exit 0
ffmpeg -loglevel error -f lavfi -i testsrc=size=320x240:rate=24 -t 1 -pix_fmt yuv420p "$SSHD_DIR/clip.mp4"
req=$("$BIN/cosmos-spec" upscale --video "$SSHD_DIR/clip.mp4")
for i in $(seq "$N"); do echo "$req"; done >"$SSHD_DIR/reqs"
hs() { grep -c 'Accepted publickey' "$SSHD_DIR/sshd.log" || true; }

h0=$(hs)
t0=$(date +%s.%N)
"$BIN/cosmos-batch" --delay 0 <"$SSHD_DIR/reqs" >"$SSHD_DIR/events"
t1=$(date +%s.%N)
h1=$(hs)
t2=$(date +%s.%N)
"$BIN/cosmos-submit" <"$SSHD_DIR/reqs" >/dev/null
t3=$(date +%s.%N)
ok=$(grep -c '"success":true' "$SSHD_DIR/events")
awk -v n="$N" -v ok="$ok" -v b0="$t0" -v b1="$t1" -v s0="$t2" -v s1="$t3" -v hs=$((h1 - h0)) 'BEGIN {
	b = b1 - b0; s = s1 - s0
	printf "fan-out of %d children (%d submitted): %.1f s, %.1f ms per child, %d SSH handshake(s)\n", n, ok, b, 1000 * b / n, hs
	printf "the same %d requests through cosmos-submit alone: %.1f s (%.1f ms each)\n", n, s, 1000 * s / n
	printf "ratio: the batch costs %.2fx plain submission; its overhead is %.1f ms per child\n", b / s, 1000 * (b - s) / n
}'
