/*
 * progress.h - a one-line progress bar on stderr, drawn only when stderr
 * is a terminal (and COSMOS_PROGRESS is not 0), at most ten times a
 * second, and only for work that lasts longer than half a second.
 * Stdout is never touched.
 */
#ifndef COSMOS_PROGRESS_H
#define COSMOS_PROGRESS_H

#include <stddef.h>
#include <stdint.h>

/* what: a short label; total 0: unknown (a counter, no bar). */
void progress(const char *what, uint64_t done, uint64_t total, const char *unit);
/* Clear the bar, if one was drawn. */
void progress_end(void);

/*
 * A board of unfinished work on stderr, redrawn in place: a bar of
 * finished/total, then up to 20 lines (the rest counted).  Only on a
 * terminal (and COSMOS_PROGRESS not 0); a dumb one (TERM=dumb) gets one
 * plain line per call instead, with no escape codes; NO_COLOR: no colour.
 * board_clear() takes the board off the screen (before other output);
 * board_end() leaves the last one there.
 */
void board(const char *what, const char *const *lines, size_t n, size_t finished, size_t total);
void board_clear(void);
void board_end(void);

#endif
