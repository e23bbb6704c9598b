#!/usr/bin/env bats
# Regressions: each test failed before its fix.

load helper
load sshd

setup_file() {
	sshd_start
}

teardown_file() {
	sshd_stop
}

# A connect(2) that completes at once, as POSIX allows even on a
# non-blocking socket, and returns 0 with errno left at a stale value.  A
# shim preloaded into the real programs, since no socket on Linux loopback
# does that by itself.
instant_connect() {
	cat >"$BATS_TEST_TMPDIR/instant.c" <<-'EOF'
		#define _GNU_SOURCE
		#include <dlfcn.h>
		#include <errno.h>
		#include <fcntl.h>
		#include <sys/socket.h>

		int connect(int fd, const struct sockaddr *sa, socklen_t len)
		{
			int (*real)(int, const struct sockaddr *, socklen_t) =
			    (int (*)(int, const struct sockaddr *, socklen_t))dlsym(RTLD_NEXT, "connect");
			int fl = fcntl(fd, F_GETFL);
			if (fl >= 0)
				fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
			int r = real(fd, sa, len), e = errno;
			if (fl >= 0)
				fcntl(fd, F_SETFL, fl);
			errno = r == 0 ? ECONNREFUSED : e;
			return r;
		}
	EOF
	cc -shared -fPIC -o "$BATS_TEST_TMPDIR/instant.so" "$BATS_TEST_TMPDIR/instant.c" -ldl
	echo "$BATS_TEST_TMPDIR/instant.so"
}

@test "dial: a connect that succeeds at once is a connection, whatever errno holds" {
	so=$(instant_connect)
	LD_PRELOAD=$so ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0 \
		run bash -c "cosmos-spec upscale --video '$CLIPS/full/color.mp4' | cosmos-submit"
	assert_success
	assert_equal "$(jq -r '[.status, .host] | join(" ")' <<<"${lines[-1]}")" "submitted testhost"
	cosmos-sync --wait --interval 1 --timeout 60 >/dev/null
}

@test "dial: a connect to the sshd succeeds; to a closed loopback port, exit 4 and why" {
	run bash -c "cosmos-spec upscale --video '$CLIPS/full/color.mp4' | cosmos-submit"
	assert_success
	assert_equal "$(jq -r '[.status, .host] | join(" ")' <<<"${lines[-1]}")" "submitted testhost"
	cosmos-sync --wait --interval 1 --timeout 60 >/dev/null
	COSMOS_HOST_PORT=1 run bash -c "cosmos-spec upscale --video '$CLIPS/full/color.mp4' | cosmos-submit"
	assert_failure 4
	assert_output "cosmos-submit: stdin:1: $SSH_USER@127.0.0.1:1: cannot connect: Connection refused"
}

@test "cosmos: a program that cannot be run does not print the records before it again" {
	# cosmos alone with spec and submit: --wait's cosmos-sync is missing.
	dir=$BATS_TEST_TMPDIR/alone
	mkdir -p "$dir/bin"
	cp "$COSMOS_BIN/cosmos" "$COSMOS_BIN/cosmos-spec" "$COSMOS_BIN/cosmos-submit" "$dir/bin/"
	ln -s "$(cd "$COSMOS_BIN/.." && pwd)/share" "$dir/share"
	COSMOS_CONFIG=$BATS_TEST_TMPDIR/no-hosts COSMOS_LOCAL_RUNTIME=process PATH=/usr/bin:/bin \
		run -127 "$dir/bin/cosmos" upscale --video "$CLIPS/full/color.mp4" --wait
	assert_line "cosmos: cosmos-sync: No such file or directory"
	assert_equal "$(grep -c '^{' <<<"$output")" 1
	COSMOS_CONFIG=$BATS_TEST_TMPDIR/no-hosts COSMOS_LOCAL_RUNTIME=process \
		cosmos-sync --wait --interval 1 --timeout 60 >/dev/null
}
