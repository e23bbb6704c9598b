/* progress.c - see progress.h. */
#define _GNU_SOURCE
#include "progress.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double started, last;
static int drawn, enabled = -1;

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void progress(const char *what, uint64_t done, uint64_t total, const char *unit)
{
	if (enabled < 0) {
		const char *e = getenv("COSMOS_PROGRESS");
		enabled = isatty(STDERR_FILENO) && !(e && !strcmp(e, "0"));
	}
	if (!enabled)
		return;
	double t = now();
	if (!started)
		started = t;
	if (t - started < 0.5 || (t - last < 0.1 && done != total))
		return;
	last = t;
	int is_bytes = unit && !strcmp(unit, "B");
	double d = is_bytes ? (double)done / 1048576 : (double)done;
	double n = is_bytes ? (double)total / 1048576 : (double)total;
	const char *u = is_bytes ? "MiB" : unit ? unit : "";
	if (total) {
		char bar[31];
		int fill = (int)(30.0 * (double)done / (double)total);
		for (int i = 0; i < 30; i++)
			bar[i] = i < fill ? '#' : '.';
		bar[30] = '\0';
		fprintf(stderr, "\r%-24.24s [%s] %7.1f/%.1f %s %3.0f%% %4.0fs\033[K", what, bar, d, n, u,
		    100.0 * (double)done / (double)total, t - started);
	} else
		fprintf(stderr, "\r%-24.24s %7.1f %s %4.0fs\033[K", what, d, u, t - started);
	drawn = 1;
}

void progress_end(void)
{
	if (drawn)
		fputs("\r\033[K", stderr);
	drawn = 0;
	started = last = 0;
}

static int board_lines; /* lines of the board on the screen now */

void board(const char *what, const char *const *lines, size_t n, size_t finished, size_t total)
{
	if (enabled < 0) {
		const char *e = getenv("COSMOS_PROGRESS");
		enabled = isatty(STDERR_FILENO) && !(e && !strcmp(e, "0"));
	}
	if (!enabled)
		return;
	const char *term = getenv("TERM");
	int dumb = !term || !*term || !strcmp(term, "dumb"), color = !dumb && !getenv("NO_COLOR");
	char bar[31];
	int fill = total ? (int)(30.0 * (double)finished / (double)total) : 0;
	for (int i = 0; i < 30; i++)
		bar[i] = i < fill ? '#' : '.';
	bar[30] = '\0';
	if (dumb) {
		fprintf(stderr, "%s: [%s] %zu/%zu finished\n", what, bar, finished, total);
		return;
	}
	board_clear();
	fprintf(stderr, "%s%s [%s] %zu/%zu finished%s\n", color ? "\033[1m" : "", what, bar, finished, total,
	    color ? "\033[0m" : "");
	size_t shown = n < 20 ? n : 20;
	for (size_t i = 0; i < shown; i++)
		fprintf(stderr, "  %s\n", lines[i]);
	if (n > shown)
		fprintf(stderr, "  ... and %zu more\n", n - shown);
	board_lines = 1 + (int)shown + (n > shown);
}

void board_clear(void)
{
	if (board_lines)
		fprintf(stderr, "\033[%dA\r\033[J", board_lines);
	board_lines = 0;
}

void board_end(void)
{
	board_lines = 0;
}
