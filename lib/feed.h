/*
 * feed.h - feeding request lines to one cosmos-submit, a child process,
 * and learning each line's outcome from what it prints: the run's record
 * (submitted; failed or pending with a reason) on its standard output, or
 * a "cosmos-submit: stdin:N: ..." message on its standard error, which is
 * passed on to ours.
 */
#ifndef COSMOS_FEED_H
#define COSMOS_FEED_H

#include "store.h"

struct feed_item {
	char id[ID_LEN + 1]; /* the run the request claims (its "run_id") */
	int index;           /* the caller's */
	char *request;       /* the line to feed */
	int known, ok;       /* its outcome, once known */
	char *error;         /* why it failed (allocated), once known */
	char *operation;     /* what its backend calls its job (allocated), or NULL */
	char *reason_code;   /* a failed run's reason_code (allocated), or NULL */
};

/* Told of each item, in order, once its outcome is known; an item whose
 * outcome never came is told of at the end, not ok. */
typedef void (*feed_fn)(struct feed_item *item, void *arg);

/*
 * Feed v[0..n) to "cosmos-submit [--together] [--host HOST]" (the one
 * beside this program, else on PATH): one line at a time, each delay_ms
 * after the previous one's outcome, or with delay_ms 0 up to 32 lines
 * ahead of the oldest outcome not yet known.  With together, a submit
 * that answers {"feed":"all"} (its host starts them as one job array) is
 * fed every line at once.  told may be NULL.
 */
void feed_submit(const char *host, long delay_ms, int together, struct feed_item *v, int n, feed_fn told, void *arg);

/*
 * Learn from one line of submit's standard output (is_err 0: a record,
 * or {"feed":"all"}, which sets *all) or standard error (is_err 1:
 * "cosmos-submit: stdin:N: ..." for one of the first fed items) the
 * outcome of an item of v[0..n).  Apart from feed_submit for t/fuzz/.
 */
void feed_outcome(struct feed_item *v, int n, int fed, int *all, const char *line, int is_err);

#endif
