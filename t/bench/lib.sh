# lib.sh - sourced by the benchmarks that need the loopback test host:
# paths, and the sshd of t/sshd.bash started (and stopped on exit) with a
# scratch store.
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${COSMOS_BIN:-$ROOT/bin}
TBIN=${COSMOS_TESTBIN:-$ROOT/build/t}
BATS_TEST_DIRNAME=$ROOT/t
export COSMOS_SHARE=$ROOT/share/cosmos
. "$ROOT/t/sshd.bash"
sshd_start
export COSMOS_DIR=$SSHD_DIR/store
trap 'sshd_stop' EXIT INT TERM
