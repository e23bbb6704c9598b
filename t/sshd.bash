# sshd.bash - a real OpenSSH sshd on 127.0.0.1 as the test GPU host.
#
# sshd_start (from setup_file) makes keys, a config and a work dir, starts
# /usr/sbin/sshd on a free port and writes a cosmos hosts file naming it
# "testhost".  Its docker is t/standin/docker; its model t/standin/model.
# sshd_stop (from teardown_file) stops it, every stand-in container and
# every run's waiter by PID.  As root the session user is a plain user with /bin/sh (root's
# shell startup files are slow); otherwise it is the current user.

sshd_start() {
	SSHD_DIR=$(mktemp -d /tmp/cosmos-sshd.XXXXXX)
	chmod 755 "$SSHD_DIR"
	if [ "$(id -u)" = 0 ]; then
		SSH_USER=cosmos-test
		id "$SSH_USER" >/dev/null 2>&1 || useradd -m -s /bin/sh "$SSH_USER"
		# "!" (locked) is refused by sshd without PAM; "*" only disables passwords.
		usermod -p "*" "$SSH_USER"
	else
		SSH_USER=$(id -un)
	fi
	ssh-keygen -q -t ed25519 -N '' -C testhost -f "$SSHD_DIR/host_key"
	ssh-keygen -q -t ecdsa -b 256 -N '' -C testhost -f "$SSHD_DIR/host_key_ecdsa"
	ssh-keygen -q -t ed25519 -N '' -C client -f "$SSHD_DIR/id_ed25519"
	cp "$SSHD_DIR/id_ed25519.pub" "$SSHD_DIR/authorized_keys"
	chmod 644 "$SSHD_DIR/authorized_keys"
	mkdir -p "$SSHD_DIR/bin" "$SSHD_DIR/work" "$SSHD_DIR/state" /run/sshd
	cp "$BATS_TEST_DIRNAME/standin/docker" "$BATS_TEST_DIRNAME/standin/model" "$SSHD_DIR/bin/"
	chmod 755 "$SSHD_DIR/bin"/*
	chown "$SSH_USER" "$SSHD_DIR/work" "$SSHD_DIR/state"
	local try
	for try in 1 2 3 4 5 6 7 8; do
		SSHD_PORT=$((20000 + RANDOM % 40000))
		cat >"$SSHD_DIR/sshd_config" <<-EOF
			Port $SSHD_PORT
			ListenAddress 127.0.0.1
			HostKey $SSHD_DIR/host_key
			HostKey $SSHD_DIR/host_key_ecdsa
			AuthorizedKeysFile $SSHD_DIR/authorized_keys
			PidFile $SSHD_DIR/sshd.pid
			StrictModes no
			UsePAM no
			PasswordAuthentication no
			KbdInteractiveAuthentication no
			Subsystem sftp internal-sftp
			SetEnv PATH=$SSHD_DIR/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin STANDIN_STATE=$SSHD_DIR/state ${SSHD_SETENV:-}
			MaxStartups 200:30:400
			LogLevel VERBOSE
		EOF
		/usr/sbin/sshd -f "$SSHD_DIR/sshd_config" -E "$SSHD_DIR/sshd.log" && break
		SSHD_PORT=
	done
	[ -n "$SSHD_PORT" ] || { cat "$SSHD_DIR/sshd.log" >&2; return 1; }
	echo "[127.0.0.1]:$SSHD_PORT $(cut -d' ' -f1,2 "$SSHD_DIR/host_key.pub")" >"$SSHD_DIR/known_hosts"
	cat >"$SSHD_DIR/hosts" <<-EOF
		# the test GPU host: a real sshd with a stand-in docker
		[testhost]
		address = 127.0.0.1
		port = $SSHD_PORT
		user = $SSH_USER
		identity = $SSHD_DIR/id_ed25519
		known_hosts = $SSHD_DIR/known_hosts
		workdir = $SSHD_DIR/work
		image = cosmos-transfer1:standin
		docker_options = --ipc=host --shm-size=8g -e COSMOS_ENGINE=$SSHD_DIR/bin/model
		# no GPUs (no nvidia-smi): runs at once, as many as the tests start
		slots = 64
		connect_timeout = 5
		io_timeout = 30
	EOF
	export SSHD_DIR SSHD_PORT SSH_USER COSMOS_CONFIG="$SSHD_DIR/hosts"
}

sshd_stop() {
	[ -n "${SSHD_DIR:-}" ] || return 0
	local p
	# Every stand-in container, and every run's waiter on the host (its
	# session: the waiter and its docker wait; cosmos-slot).
	for p in "$SSHD_DIR"/state/c/*/pid "$SSHD_DIR"/work/runs/*.pid; do
		[ ! -f "$p" ] || kill -KILL -- "-$(cat "$p" 2>/dev/null)" 2>/dev/null || true
	done
	[ -f "$SSHD_DIR/sshd.pid" ] && kill "$(cat "$SSHD_DIR/sshd.pid")"
	rm -rf "$SSHD_DIR"
}

# Set or clear the stand-in model's orders: standin_model sleep 30 / exit 3 /
# say TEXT / after SCRIPT / clear (each call replaces the previous orders).
standin_model() {
	rm -f "$SSHD_DIR/state"/model-*
	[ "$1" = clear ] || echo "$2" >"$SSHD_DIR/state/model-$1"
	chmod 644 "$SSHD_DIR/state"/model-* 2>/dev/null || true
}
