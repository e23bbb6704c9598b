/*
 * progress.h - a one-line progress bar on stderr, drawn only when stderr
 * is a terminal (and COSMOS_PROGRESS is not 0), at most ten times a
 * second, and only for work that lasts longer than half a second.
 * Stdout is never touched.
 */
#ifndef COSMOS_PROGRESS_H
#define COSMOS_PROGRESS_H

#include <stdint.h>

/* what: a short label; total 0: unknown (a counter, no bar). */
void progress(const char *what, uint64_t done, uint64_t total, const char *unit);
/* Clear the bar, if one was drawn. */
void progress_end(void);

#endif
