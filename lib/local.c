/*
 * local.c - the local transport: the same shell commands and file copies
 * the SSH transport makes, done on this machine (fork/exec, no network).
 */
#define _GNU_SOURCE
#include "local.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

int local_exec(const char *cmd, const char *in, size_t inlen, struct sbuf *out, struct sbuf *errout)
{
	int pin[2], pout[2], perr[2];
	if (pipe2(pin, O_CLOEXEC) < 0 || pipe2(pout, O_CLOEXEC) < 0 || pipe2(perr, O_CLOEXEC) < 0)
		return -1;
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		dup2(pin[0], 0);
		dup2(pout[1], 1);
		dup2(perr[1], 2);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	close(pin[0]);
	close(pout[1]);
	close(perr[1]);
	signal(SIGPIPE, SIG_IGN);
	size_t off = 0;
	if (!in || !inlen) {
		close(pin[1]);
		pin[1] = -1;
	}
	int open_fds = 2;
	char buf[32768];
	while (open_fds > 0 || pin[1] >= 0) {
		struct pollfd p[3] = {{pout[0], POLLIN, 0}, {perr[0], POLLIN, 0}, {pin[1], POLLOUT, 0}};
		if (poll(p, 3, -1) < 0 && errno != EINTR)
			break;
		for (int i = 0; i < 2; i++) {
			if (p[i].fd < 0 || !(p[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			ssize_t n = read(p[i].fd, buf, sizeof buf);
			struct sbuf *dst = i == 0 ? out : errout;
			if (n > 0 && dst)
				sb_add(dst, buf, (size_t)n);
			else if (n > 0 && i == 0 && (fwrite(buf, 1, (size_t)n, stdout) != (size_t)n || fflush(stdout)))
				n = 0;
			if (n <= 0) {
				close(p[i].fd);
				if (i == 0)
					pout[0] = -1;
				else
					perr[0] = -1;
				open_fds--;
			}
		}
		if (pin[1] >= 0 && (p[2].revents & (POLLOUT | POLLERR | POLLHUP))) {
			ssize_t w = write(pin[1], in + off, inlen - off);
			if (w > 0)
				off += (size_t)w;
			if (w < 0 || off == inlen) {
				close(pin[1]);
				pin[1] = -1;
			}
		}
	}
	int st;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	signal(SIGPIPE, SIG_DFL);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

int local_copy(const char *from, const char *to, uint64_t *copied)
{
	int in = open(from, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return -1;
	char *tmp = part_name(to);
	int out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
	int r = out < 0 ? -2 : 0;
	uint64_t total = 0;
	char *buf = xmalloc(1 << 20);
	while (r == 0) {
		ssize_t n = read(in, buf, 1 << 20);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			r = n < 0 ? -1 : 0;
			break;
		}
		for (ssize_t o = 0; o < n && r == 0;) {
			ssize_t w = write(out, buf + o, (size_t)(n - o));
			if (w < 0 && errno != EINTR)
				r = -2;
			o += w > 0 ? w : 0;
		}
		total += (uint64_t)n;
	}
	int e = errno;
	free(buf);
	close(in);
	if (out >= 0 && close(out) < 0 && r == 0)
		r = -2, e = errno;
	if (r == 0 && rename(tmp, to) < 0)
		r = -2, e = errno;
	if (r < 0)
		unlink(tmp);
	free(tmp);
	if (copied)
		*copied = r == 0 ? total : 0;
	errno = e;
	return r;
}
