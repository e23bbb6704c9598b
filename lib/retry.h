/*
 * retry.h - a failed run is never revived: a retry is a new attempt, a
 * new pending run linked to the failed one, started like any other (its
 * request line, with the new run_id, fed to cosmos-submit).
 *
 * Invariants:
 *  - The failed record keeps its status; it only gains "retried_by", set
 *    under its lock before the new record exists, so that two retries of
 *    one run make one attempt, and a retry killed half-way is finished by
 *    the next one (the named attempt, still pending, is made or reused).
 *  - The new record has "retry_of" (the failed run) and "attempt" (the
 *    failed run's attempt + 1; a run without one is attempt 1).
 *  - A batch child's attempt takes its place in its parent's
 *    child_run_ids (same index, under the parent's lock), so the batch
 *    counts the latest attempt of each child; a parent that had ended is
 *    running again until its children end.
 *  - Each run keeps the request it was started from in
 *    runs/<id>/request.json (one line); a record from before that file
 *    existed has its request rebuilt from the record and spec.json.
 */
#ifndef COSMOS_RETRY_H
#define COSMOS_RETRY_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include "store.h"

/* The attempts a chain may have unless --max-attempts says otherwise. */
#define RETRY_MAX_ATTEMPTS 3

/* Keep a request line in runs/<id>/request.json; 0, or -1 with errno. */
int request_save(const char *id, const char *text);
/* The line kept there (caller frees), or NULL. */
char *request_load(const char *id);

/*
 * The word for why a failed run failed: its reason_code, "exit_code" for
 * a model's own non-zero exit, else "unknown".
 */
const char *retry_reason(const cJSON *rec);
/* Is that word one a new attempt may cure (the list in cosmos(7))? */
int retry_reason_retryable(const char *reason);

/*
 * Make the next attempt of failed run id (with any: whatever its
 * reason): its record, its request.json, its place in its batch.  The
 * request line to start it with (caller frees), its id in new_id; or
 * NULL with why in err (not failed, a reason not retryable, max_attempts
 * reached, already retried, ...) and *code the exit code class (EX_SOME,
 * or EX_STORE when the store failed).
 */
char *retry_make(const char *id, int any, int max_attempts, char new_id[ID_LEN + 1],
    char *err, size_t len, int *code);

#endif
