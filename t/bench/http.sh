#!/bin/bash
# The http backend against the providers' APIs on loopback
# (t/standin/videoapi.py), each against a baseline measured in the same
# run: 200 submits through one cosmos-submit (min_interval_ms 0) against
# a shell loop of one curl per request; a sync of 1,000 running
# operations (gemini: one GET each; replicate: its list endpoint) against
# a loop of one curl per operation.  Connections and requests are
# cosmos's own count (COSMOS_HTTP_STATS), checked against the server's
# log.  The curl loops read the key from a file (-H @file), as cosmos does.
set -eu
N=${N:-1000}
S=${S:-200}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${COSMOS_BIN:-$ROOT/bin}
. "$ROOT/t/videoapi.bash"
videoapi_start
trap 'videoapi_stop' EXIT INT TERM
export COSMOS_DIR=$VIDEOAPI_DIR/store COSMOS_CONFIG=$VIDEOAPI_DIR/hosts
{
	videoapi_host gem gemini
	videoapi_host rep replicate generate_model=google/veo-3
} >"$COSMOS_CONFIG"
videoapi_control '{"run_seconds": 100000}' # every operation stays running
key=$(cat "$VIDEOAPI_DIR/key")
printf 'x-goog-api-key: %s\n' "$key" >"$VIDEOAPI_DIR/h-gem"
printf 'Authorization: Bearer %s\n' "$key" >"$VIDEOAPI_DIR/h-rep"
now() { date +%s.%N; }
ratio() { echo "scale=1; $1 / $2" | bc; }
conns() { jq -r 'select(.t >= '"$1"') | .conn' "$VIDEOAPI_DIR/requests.jsonl" | sort -u | wc -l; }

# Submits: S generate requests, one cosmos-submit against a curl loop.
for i in $(seq "$S"); do "$BIN/cosmos-spec" generate "a kite, take $i"; done >"$VIDEOAPI_DIR/reqs"
body='{"instances":[{"prompt":"a kite"}]}'
t0=$(now)
COSMOS_HTTP_STATS=1 "$BIN/cosmos-submit" --host gem <"$VIDEOAPI_DIR/reqs" >/dev/null 2>"$VIDEOAPI_DIR/stats"
t1=$(now)
for i in $(seq "$S"); do
	curl -s -o /dev/null -H @"$VIDEOAPI_DIR/h-gem" -H 'Content-Type: application/json' -d "$body" \
		"$VIDEOAPI_URL/v1beta/models/veo-3.1-generate-preview:predictLongRunning"
done
t2=$(now)
sub=$(echo "$t1 - $t0" | bc) loop=$(echo "$t2 - $t1" | bc)
echo "submit $S (gemini): cosmos-submit ${sub}s [$(tail -n 1 "$VIDEOAPI_DIR/stats" | sed 's/.*gem: //')], curl loop ${loop}s: $(ratio "$loop" "$sub")x"

# Sync: N running operations on each provider (alone in the store).
rm -rf "$COSMOS_DIR"/runs
for p in gem rep; do
	for i in $(seq "$N"); do echo "{\"model_type\":\"generate\",\"spec\":{\"prompt\":\"a cloud $i\"}}"; done |
		"$BIN/cosmos-submit" --host "$p" | jq -r .job.handle >"$VIDEOAPI_DIR/handles-$p"
	"$BIN/cosmos-sync" >/dev/null # each becomes running: the sync measured changes nothing
	ts=$(date +%s.%N)
	t0=$(now)
	COSMOS_HTTP_STATS=1 "$BIN/cosmos-sync" >/dev/null 2>"$VIDEOAPI_DIR/stats"
	t1=$(now)
	c=$(conns "$ts")
	while read -r h; do
		if [ "$p" = gem ]; then
			curl -s -o /dev/null -H @"$VIDEOAPI_DIR/h-gem" "$VIDEOAPI_URL/v1beta/$h"
		else
			curl -s -o /dev/null -H @"$VIDEOAPI_DIR/h-rep" "$VIDEOAPI_URL/v1/predictions/$h"
		fi
	done <"$VIDEOAPI_DIR/handles-$p"
	t2=$(now)
	sync=$(echo "$t1 - $t0" | bc) loop=$(echo "$t2 - $t1" | bc)
	echo "sync $N running ($p): cosmos-sync ${sync}s [$(tail -n 1 "$VIDEOAPI_DIR/stats" | sed "s/.*$p: //"); server saw $c], curl loop ${loop}s ($N connections): $(ratio "$loop" "$sync")x"
	rm -rf "$COSMOS_DIR"/runs # the next provider's sync sees its runs alone
done
