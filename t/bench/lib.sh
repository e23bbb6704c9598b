# lib.sh - sourced by the benchmarks that need the loopback test host:
# paths, and the sshd of t/sshd.bash started (and stopped on exit) with a
# scratch store.  With RELAY_MS set, the host is reached through
# t/bench/relay.py, which delays each direction by RELAY_MS (so a round
# trip costs twice that; RELAY_MBIT caps the rate): every client, ours and
# the baselines', then sees the relay's port as the host's.
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${COSMOS_BIN:-$ROOT/bin}
TBIN=${COSMOS_TESTBIN:-$ROOT/build/t}
BATS_TEST_DIRNAME=$ROOT/t
export COSMOS_SHARE=$ROOT/share/cosmos
. "$ROOT/t/sshd.bash"
sshd_start
export COSMOS_DIR=$SSHD_DIR/store
RELAY_PID=
trap '[ -z "$RELAY_PID" ] || kill "$RELAY_PID"; sshd_stop' EXIT INT TERM
if [ -n "${RELAY_MS:-}" ]; then
	python3 "$ROOT/t/bench/relay.py" "$SSHD_DIR/relay.port" "$SSHD_PORT" "$RELAY_MS" ${RELAY_MBIT:+"$RELAY_MBIT"} &
	RELAY_PID=$!
	for _ in $(seq 50); do [ -s "$SSHD_DIR/relay.port" ] && break; sleep 0.1; done
	relay=$(cat "$SSHD_DIR/relay.port")
	sed -i "s/^port = $SSHD_PORT\$/port = $relay/" "$COSMOS_CONFIG"
	sed -i "s/^\[127.0.0.1\]:$SSHD_PORT /[127.0.0.1]:$relay /" "$SSHD_DIR/known_hosts"
	SSHD_PORT=$relay
	echo "(through a relay: ${RELAY_MS} ms each way${RELAY_MBIT:+, $RELAY_MBIT Mbit/s})"
fi
