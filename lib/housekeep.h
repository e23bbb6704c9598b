/*
 * housekeep.h - deleting records and checking the store (cosmos delete,
 * cosmos verify; documented in cosmos(1)).
 *
 * Invariants:
 *  - A record is deleted by renaming it out of sight under its lock
 *    (runs/.ID.json.delete<pid>, or .delete-outputs<pid> when its outputs
 *    go too), then removing its files, then the hidden record.  Readers
 *    see the whole record or none; a delete killed half-way is finished,
 *    as it was asked, by hk_verify with fix or a delete naming it again.
 *  - Only terminal runs are deleted; a batch parent takes its children,
 *    children go before their parent and runs before their prompt, so a
 *    child never exists without its parent.
 *  - A run's outputs (runs/ID/outputs/, or for an old record the files
 *    it names beside it) are kept unless asked; a prompt's videos, a
 *    host's files and the lock files are never touched.
 *  - hk_verify never changes a record.  Its fix removes only debris:
 *    what no record owns (the store's own files in a folder without a
 *    record, older than a minute), dead writers' part and temporary files,
 *    and what a killed delete left.  It never removes an outputs/ folder.
 *    It downloads again, from the run's host, a completed run's output
 *    that is missing or of another size than recorded (a packed child's
 *    from its batch's video_<i>/; not an old record's kept beside its
 *    video).
 *  - Nothing here exits: failures come back as errno, refusals and
 *    findings through the caller's functions.
 */
#ifndef COSMOS_HOUSEKEEP_H
#define COSMOS_HOUSEKEEP_H

#include <cjson/cJSON.h>

/* One JSON object to show: a record deleted (or that would be), a problem. */
typedef void (*hk_emit_fn)(const cJSON *line, void *arg);
/*
 * One item not done: its id (or the operand as given) and why; err is 0
 * for a refusal by the rules, ENOENT for no such record, EINVAL for a bad
 * id, else the errno of a failure of the store.
 */
typedef void (*hk_refuse_fn)(const char *item, const char *why, int err, void *arg);

/*
 * Delete the records named by ids[0..n-1] (runs and prompts) and what
 * goes with them.  outputs: remove the runs' outputs too; dry_run: change
 * nothing, emit the same lines.  Each line: {"id", "dry_run", "removed":
 * [paths], "kept": [paths]}.  Returns the number of items not done (each
 * refused once), or -1 with errno when the store cannot be read.
 */
int hk_delete(char **ids, int n, int outputs, int dry_run, hk_emit_fn emit, hk_refuse_fn refuse, void *arg);

/*
 * Check the store; emit {"problem", "id"?, "path", ...} for each finding,
 * with "fixed" when fix is set.  Returns the number of problems left (all
 * found without fix), or -1 with errno when the store cannot be read.
 */
int hk_verify(int fix, hk_emit_fn emit, void *arg);

#endif
