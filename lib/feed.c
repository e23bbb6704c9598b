/* feed.c - see feed.h. */
#define _GNU_SOURCE
#include "feed.h"
#include "backend.h"
#include "record.h"
#include "shell.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1000 + (double)ts.tv_nsec / 1e6;
}

static pid_t start_submit(const char *host, int together, int *in, int *out, int *err)
{
	int pi[2] = {-1, -1}, po[2] = {-1, -1}, pe[2] = {-1, -1};
	pid_t pid = -1;
	if (pipe2(pi, O_CLOEXEC) < 0 || pipe2(po, O_CLOEXEC) < 0 || pipe2(pe, O_CLOEXEC) < 0 || (pid = fork()) < 0) {
		int e = errno;
		for (int i = 0; i < 2; i++) {
			if (pi[i] >= 0)
				close(pi[i]);
			if (po[i] >= 0)
				close(po[i]);
			if (pe[i] >= 0)
				close(pe[i]);
		}
		errno = e;
		return -1;
	}
	if (pid == 0) {
		dup2(pi[0], 0);
		dup2(po[1], 1);
		dup2(pe[1], 2);
		char *p = sibling("cosmos-submit");
		char *argv[5], **a = argv;
		*a++ = "cosmos-submit";
		if (together)
			*a++ = "--together";
		if (host) {
			*a++ = "--host";
			*a++ = (char *)host;
		}
		*a = NULL;
		execvp(p, argv);
		_exit(127);
	}
	close(pi[0]);
	close(po[1]);
	close(pe[1]);
	*in = pi[1];
	*out = po[0];
	*err = pe[0];
	return pid;
}

/* What is fed to one cosmos-submit: requests in order, and their outcomes. */
struct feed {
	struct feed_item *v;
	int n, fed;
	int all; /* submit said {"feed":"all"}: it starts them as one */
};

/* Lines of submit's output that tell how a fed request went. */
static void outcome_of_record(struct feed *fd, const char *line)
{
	cJSON *r = cJSON_Parse(line);
	const char *id = jstr(r, "id"), *st = jstr(r, "status");
	if (jstr(r, "feed") && !strcmp(jstr(r, "feed"), "all"))
		fd->all = 1;
	for (int i = 0; id && i < fd->n; i++) {
		struct feed_item *c = &fd->v[i];
		if (strcmp(c->id, id) || c->known)
			continue;
		c->known = 1;
		c->ok = st && strcmp(st, "failed") && strcmp(st, "pending");
		if (!c->ok)
			c->error = xstrdup(jstr(r, "reason") ? jstr(r, "reason") : "not submitted");
		if (job_handle(r))
			c->operation = xstrdup(job_handle(r));
		if (jstr(r, "reason_code"))
			c->reason_code = xstrdup(jstr(r, "reason_code"));
	}
	cJSON_Delete(r);
}

static void outcome_of_error(struct feed *fd, const char *line)
{
	long n;
	int end = 0;
	const char *p = strstr(line, ": stdin:");
	if (!p || sscanf(p, ": stdin:%ld%n", &n, &end) != 1 || p[end] != ':' || n < 1 || n > fd->fed)
		return;
	struct feed_item *c = &fd->v[n - 1];
	if (c->known)
		return;
	/* After "stdin:N:" and its blank; a line may end there. */
	const char *msg = p + end + 1;
	msg += *msg == ' ';
	/* The same text as the failed record's reason, whichever comes first. */
	if (!strncmp(msg, c->id, ID_LEN) && !strncmp(msg + ID_LEN, ": ", 2))
		msg += ID_LEN + 2;
	c->known = 1;
	c->error = xstrdup(msg);
}

void feed_outcome(struct feed_item *v, int n, int fed, int *all, const char *line, int is_err)
{
	struct feed f = {v, n, fed, *all};
	if (is_err)
		outcome_of_error(&f, line);
	else
		outcome_of_record(&f, line);
	*all = f.all;
}

/* Read whatever lines fd has and learn from each whole one. */
static int drain(int fd, struct sbuf *acc, struct feed *f, int is_err)
{
	char buf[8192];
	ssize_t r = read(fd, buf, sizeof buf);
	if (r <= 0)
		return -1;
	sb_add(acc, buf, (size_t)r);
	char *nl, *start = acc->s;
	while ((nl = memchr(start, '\n', acc->len - (size_t)(start - acc->s)))) {
		*nl = '\0';
		if (is_err)
			fprintf(stderr, "%s\n", start);
		feed_outcome(f->v, f->n, f->fed, &f->all, start, is_err);
		start = nl + 1;
	}
	size_t rest = acc->len - (size_t)(start - acc->s);
	memmove(acc->s, start, rest);
	acc->len = rest;
	acc->s[rest] = '\0';
	return 0;
}

void feed_submit(const char *host, long delay_ms, int together, struct feed_item *v, int n, feed_fn told_fn, void *arg)
{
	struct feed f = {v, n, 0, 0};
	int in, out, errfd;
	pid_t pid = start_submit(host, together, &in, &out, &errfd);
	if (pid < 0) {
		/* Nothing was fed: every item failed, with why. */
		char *why = xasprintf("cannot start cosmos-submit: %s", strerror(errno));
		for (int i = 0; i < n; i++) {
			v[i].known = 1;
			v[i].error = xstrdup(why);
			if (told_fn)
				told_fn(&v[i], arg);
		}
		free(why);
		return;
	}
	int window = delay_ms > 0 ? 1 : 32, told = 0;
	double next_at = 0;
	struct sbuf oacc = {0}, eacc = {0};
	while (told < n) {
		if (f.all)
			window = n, next_at = 0;
		if (f.fed < n && f.fed - told < window && now_ms() >= next_at) {
			const char *r = v[f.fed].request;
			if (write(in, r, strlen(r)) < 0 || write(in, "\n", 1) < 0)
				warn_("cosmos-submit");
			f.fed++;
		}
		if (f.fed == n && in >= 0) {
			close(in);
			in = -1;
		}
		if (out < 0 && errfd < 0)
			break;
		struct pollfd p[2] = {{out, POLLIN, 0}, {errfd, POLLIN, 0}};
		int may_feed = f.fed < n && f.fed - told < window;
		int wait = may_feed ? (int)(next_at - now_ms()) : -1;
		if (poll(p, 2, may_feed && wait < 0 ? 0 : wait) < 0 && errno != EINTR) {
			warn_("poll");
			break; /* the items not known yet are told of as failed */
		}
		if (p[0].revents && drain(out, &oacc, &f, 0) < 0) {
			close(out);
			out = -1;
		}
		if (p[1].revents && drain(errfd, &eacc, &f, 1) < 0) {
			close(errfd);
			errfd = -1;
		}
		for (; told < n && v[told].known; told++) {
			if (told_fn)
				told_fn(&v[told], arg);
			next_at = now_ms() + (double)delay_ms;
		}
	}
	if (in >= 0)
		close(in);
	if (out >= 0)
		close(out);
	if (errfd >= 0)
		close(errfd);
	int st;
	waitpid(pid, &st, 0);
	for (; told_fn && told < n; told++)
		told_fn(&v[told], arg); /* never known: failed */
	sb_free(&oacc);
	sb_free(&eacc);
}

