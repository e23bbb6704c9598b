/*
 * util.h - exit codes, fatal errors, allocation and time helpers shared by
 * every cosmos program.
 *
 * Exit codes are one table for the whole toolkit (documented in cosmos(7)):
 * a shell pipeline or a Makefile can tell "some lines were bad" from
 * "the host is down" without reading stderr.
 */
#ifndef COSMOS_UTIL_H
#define COSMOS_UTIL_H

#include <stdarg.h>
#include <stddef.h>

enum {
	EX_OK = 0,          /* everything succeeded */
	EX_SOME = 1,        /* some input items failed; the others were done */
	EX_USAGE_ = 2,      /* bad options or arguments; nothing was done */
	EX_STORE = 3,       /* the run store or a local file could not be used */
	EX_UNAVAIL = 4,     /* a host or service is unreachable or refused us */
	EX_TEMP = 5,        /* a timeout or temporary failure; try again */
};

/*
 * The exit code for two outcomes: the more severe, in the order
 * EX_USAGE_ > EX_STORE > EX_UNAVAIL > EX_TEMP > EX_SOME > EX_OK.  Every
 * program combines its codes with this one function.
 */
int exit_worst(int a, int b);

extern const char *progname;

/* Print "prog: message" (and ": strerror" for the non-x variants) to stderr. */
void warnx_(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void warn_(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
_Noreturn void errx_(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
_Noreturn void err_(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

void *xmalloc(size_t n);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Write an RFC 3339 UTC time with milliseconds ("2026-01-02T03:04:05.678Z"). */
#define TIMESTAMP_LEN 25
void timestamp_now(char out[TIMESTAMP_LEN]);
/* The UTC second of such a time ("2026-01-02T03:04:05..."); 0 or -1. */
int timestamp_parse(const char *ts, long long *secs);

/* Milliseconds on the monotonic clock: for deadlines and rates. */
long long clock_ms(void);

/* Parse a whole string as a number; 0 on success, -1 on junk or overflow. */
int parse_double(const char *s, double *out);
int parse_long(const char *s, long *out);

/*
 * Show user text safely in a one-line message: control characters are
 * escaped and long text is cut.  Returns one of a few rotating static
 * buffers, so up to four calls may appear in one message.
 */
const char *shown(const char *s);

/* The toolkit's version, for --version. */
#define COSMOS_VERSION "0.4.0"

/*
 * A program's own first argument: --help (or -h) prints usage on stdout
 * and exits 0; --version prints "PROG VERSION" and exits 0; anything else
 * returns.  (A program-support helper, as errx_ is: it may exit.)
 */
void std_options(const char *arg, const char *usage);

/* A cosmos program's path: beside this one if there, else its name (PATH). */
char *sibling(const char *name);

/*
 * Where a file is written before it is renamed to path: a hidden name
 * beside it, ".NAME.partPID", so that no partial file is ever visible as
 * the file, and concurrent writers never share one (caller frees).
 * parts_clear removes those of path left by processes that died.
 */
char *part_name(const char *path);
void parts_clear(const char *path);
/* Those in dir named PREFIX...partPID whose process died. */
void parts_clear_dir(const char *dir, const char *prefix);

/* Flush and close stdout, dying with EX_STORE if the data did not get out. */
void finish_stdout(void);

#endif
