/* util.c - see util.h. */
#define _GNU_SOURCE
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <limits.h>
#include <unistd.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int severity(int code)
{
	static const int order[] = {EX_OK, EX_SOME, EX_TEMP, EX_UNAVAIL, EX_STORE, EX_USAGE_};
	for (int i = 0; i < 6; i++)
		if (order[i] == code)
			return i;
	return 6; /* anything else (a signal's, 127) stands */
}

int exit_worst(int a, int b)
{
	return severity(b) > severity(a) ? b : a;
}

const char *progname = "cosmos";

__attribute__((format(printf, 1, 0)))
static void vwarn_(const char *fmt, va_list ap, int errnum)
{
	fprintf(stderr, "%s: ", progname);
	vfprintf(stderr, fmt, ap);
	if (errnum)
		fprintf(stderr, ": %s", strerror(errnum));
	fputc('\n', stderr);
}

void warnx_(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vwarn_(fmt, ap, 0);
	va_end(ap);
}

void warn_(const char *fmt, ...)
{
	int e = errno;
	va_list ap;
	va_start(ap, fmt);
	vwarn_(fmt, ap, e);
	va_end(ap);
}

void errx_(int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vwarn_(fmt, ap, 0);
	va_end(ap);
	exit(code);
}

void err_(int code, const char *fmt, ...)
{
	int e = errno;
	va_list ap;
	va_start(ap, fmt);
	vwarn_(fmt, ap, e);
	va_end(ap);
	exit(code);
}

void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		err_(EX_STORE, "malloc");
	return p;
}

void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (!p)
		err_(EX_STORE, "realloc");
	return p;
}

char *xstrdup(const char *s)
{
	char *p = strdup(s);
	if (!p)
		err_(EX_STORE, "strdup");
	return p;
}

char *xasprintf(const char *fmt, ...)
{
	char *s;
	va_list ap;
	va_start(ap, fmt);
	int n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0)
		err_(EX_STORE, "vasprintf");
	return s;
}

void timestamp_now(char out[TIMESTAMP_LEN])
{
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	size_t n = strftime(out, TIMESTAMP_LEN, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out + n, TIMESTAMP_LEN - n, ".%03dZ", (int)(ts.tv_nsec / 1000000) % 1000);
}

long long clock_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int parse_double(const char *s, double *out)
{
	char *end;
	if (!*s)
		return -1;
	errno = 0;
	double d = strtod(s, &end);
	if (*end || errno || !isfinite(d))
		return -1;
	*out = d;
	return 0;
}

int parse_long(const char *s, long *out)
{
	char *end;
	if (!*s)
		return -1;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (*end || errno)
		return -1;
	*out = v;
	return 0;
}

const char *shown(const char *s)
{
	static char bufs[4][200];
	static int next;
	char *out = bufs[next++ % 4];
	size_t o = 0, cap = sizeof bufs[0];
	for (; *s && o < cap - 8; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '\n')
			o += (size_t)snprintf(out + o, cap - o, "\\n");
		else if (c < 0x20 || c == 0x7f)
			o += (size_t)snprintf(out + o, cap - o, "\\x%02x", c);
		else
			out[o++] = (char)c;
	}
	if (*s)
		o += (size_t)snprintf(out + o, cap - o, "...");
	out[o] = '\0';
	return out;
}

void std_options(const char *arg, const char *usage)
{
	if (!arg)
		return;
	if (!strcmp(arg, "--help") || !strcmp(arg, "-h"))
		fputs(usage, stdout);
	else if (!strcmp(arg, "--version"))
		printf("%s %s\n", progname, COSMOS_VERSION);
	else
		return;
	finish_stdout();
	exit(0);
}

void finish_stdout(void)
{
	if (fflush(stdout) != 0 || ferror(stdout) || fclose(stdout) != 0)
		err_(EX_STORE, "stdout");
}

char *sibling(const char *name)
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	if (n > 0) {
		exe[n] = '\0';
		char *slash = strrchr(exe, '/');
		if (slash) {
			*slash = '\0';
			char *p = xasprintf("%s/%s", exe, name);
			if (access(p, X_OK) == 0)
				return p;
			free(p);
		}
	}
	return xstrdup(name);
}

char *part_name(const char *path)
{
	const char *slash = strrchr(path, '/');
	if (!slash)
		return xasprintf(".%s.part%ld", path, (long)getpid());
	return xasprintf("%.*s/.%s.part%ld", (int)(slash - path), path, slash + 1, (long)getpid());
}

void parts_clear_dir(const char *dir, const char *prefix)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	while (d && (e = readdir(d))) {
		const char *p = strrchr(e->d_name, '.');
		long pid;
		if (strncmp(e->d_name, prefix, strlen(prefix)) || !p || strncmp(p, ".part", 5) ||
		    parse_long(p + 5, &pid) < 0 || pid <= 0 || (kill((pid_t)pid, 0) == 0 || errno == EPERM))
			continue; /* not one of ours, or its writer lives */
		char *f = xasprintf("%s/%s", dir, e->d_name);
		unlink(f);
		free(f);
	}
	if (d)
		closedir(d);
}

void parts_clear(const char *path)
{
	const char *slash = strrchr(path, '/'), *base = slash ? slash + 1 : path;
	char *dir = slash ? xasprintf("%.*s", (int)(slash - path), path) : xstrdup(".");
	char *prefix = xasprintf(".%s.part", base);
	parts_clear_dir(dir, prefix);
	free(prefix);
	free(dir);
}

int timestamp_parse(const char *ts, long long *secs)
{
	struct tm tm = {0};
	if (!ts || sscanf(ts, "%4d-%2d-%2dT%2d:%2d:%2d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min,
	                  &tm.tm_sec) != 6)
		return -1;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	*secs = (long long)timegm(&tm);
	return 0;
}
