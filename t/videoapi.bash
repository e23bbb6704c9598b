# videoapi.bash - the hosted video APIs (gemini, replicate) on 127.0.0.1,
# for the http backend.
#
# videoapi_start (from setup_file) makes a work dir with a random key and a
# video, starts t/standin/videoapi.py on a free port and exports
# VIDEOAPI_DIR, VIDEOAPI_PORT, VIDEOAPI_PID and VIDEOAPI_URL; videoapi_stop
# (from teardown_file) stops it by PID and removes the dir unless
# VIDEOAPI_KEEP is set.  videoapi_control steers the server (its
# control.json: faults, outcomes, timings; see the server's head),
# videoapi_host prints a hosts-file section naming it, and
# videoapi_requests prints its request log through jq.

VIDEOAPI_SERVER="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/standin/videoapi.py"

videoapi_start() {
	VIDEOAPI_DIR=$(mktemp -d /tmp/cosmos-videoapi.XXXXXX)
	local key
	key=sk-test-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
	echo "$key" >"$VIDEOAPI_DIR/key"
	(umask 077 && echo "$key" >"$VIDEOAPI_DIR/keyfile")
	chmod 600 "$VIDEOAPI_DIR/keyfile"
	if [ -n "${CLIPS:-}" ] && [ -f "$CLIPS/full/color.mp4" ]; then
		cp "$CLIPS/full/color.mp4" "$VIDEOAPI_DIR/video.mp4"
	else
		ffmpeg -loglevel error -f lavfi -i testsrc=size=320x180:rate=24 -t 1 \
			-pix_fmt yuv420p "$VIDEOAPI_DIR/video.mp4" || return 1
	fi
	# Its own stdout/stderr and no fd 3, so that bats does not wait for it.
	python3 "$VIDEOAPI_SERVER" "$VIDEOAPI_DIR" >"$VIDEOAPI_DIR/server.log" 2>&1 3>&- </dev/null &
	VIDEOAPI_PID=$!
	for _ in $(seq 100); do
		[ -s "$VIDEOAPI_DIR/port" ] && break
		kill -0 "$VIDEOAPI_PID" 2>/dev/null || break
		sleep 0.1
	done
	if [ ! -s "$VIDEOAPI_DIR/port" ]; then
		echo "videoapi_start: the server did not start" >&2
		cat "$VIDEOAPI_DIR/server.log" >&2
		kill "$VIDEOAPI_PID" 2>/dev/null
		return 1
	fi
	VIDEOAPI_PORT=$(cat "$VIDEOAPI_DIR/port")
	VIDEOAPI_PID=$(cat "$VIDEOAPI_DIR/pid") # the server's own, written before port
	VIDEOAPI_URL=http://127.0.0.1:$VIDEOAPI_PORT
	export VIDEOAPI_DIR VIDEOAPI_PORT VIDEOAPI_PID VIDEOAPI_URL
}

videoapi_stop() {
	[ -n "${VIDEOAPI_DIR:-}" ] || return 0
	if [ -n "${VIDEOAPI_PID:-}" ] && kill -TERM "$VIDEOAPI_PID" 2>/dev/null; then
		wait "$VIDEOAPI_PID" 2>/dev/null || true # only if this shell started it
		for _ in $(seq 50); do
			kill -0 "$VIDEOAPI_PID" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$VIDEOAPI_PID" 2>/dev/null || true
	fi
	if [ -n "${VIDEOAPI_KEEP:-}" ]; then
		echo "videoapi: kept $VIDEOAPI_DIR" >&2
	else
		rm -rf "$VIDEOAPI_DIR"
	fi
	unset VIDEOAPI_DIR VIDEOAPI_PORT VIDEOAPI_PID VIDEOAPI_URL
	return 0
}

# videoapi_control JSON: replace the server's orders (checked to be JSON).
videoapi_control() {
	local tmp="$VIDEOAPI_DIR/control.json.new.$$"
	jq . <<<"$1" >"$tmp" || { rm -f "$tmp"; return 1; }
	mv -f "$tmp" "$VIDEOAPI_DIR/control.json"
}

# videoapi_host NAME PROVIDER [KEY=VALUE...]: a hosts-file section for the
# http backend; a KEY given replaces the default line of that key.
videoapi_host() {
	local name=$1 provider=$2 base kv k i
	shift 2 || return 1
	case $provider in
	gemini) base=/v1beta ;;
	replicate) base=/v1 ;;
	*) echo "videoapi_host: unknown provider '$provider'" >&2 && return 1 ;;
	esac
	local keys=(backend provider url key_file min_interval_ms credential_hosts)
	local vals=(http "$provider" "$VIDEOAPI_URL$base" "$VIDEOAPI_DIR/keyfile" 0 127.0.0.1)
	for kv; do
		case $kv in *=*) ;; *) echo "videoapi_host: not KEY=VALUE: $kv" >&2 && return 1 ;; esac
		k=${kv%%=*} && k=${k// /}
		for i in "${!keys[@]}"; do
			[ "${keys[i]}" = "$k" ] && vals[i]=${kv#*=} && continue 2
		done
		keys+=("$k") && vals+=("${kv#*=}")
	done
	echo "[$name]"
	for i in "${!keys[@]}"; do
		echo "${keys[i]} = ${vals[i]## }"
	done
}

# videoapi_requests [JQ_FILTER]: the request log, one compact line each.
videoapi_requests() {
	[ -f "$VIDEOAPI_DIR/requests.jsonl" ] || return 0
	jq -c "${1:-.}" "$VIDEOAPI_DIR/requests.jsonl"
}
