/*
 * store.h - the run store: one JSON file per run and per prompt.
 *
 * Layout under the root ($COSMOS_DIR, else $XDG_STATE_HOME/cosmos, else
 * ~/.local/state/cosmos):
 *
 *	runs/rs_<32 hex>.json      a run record, one JSON line
 *	runs/rs_<32 hex>/          that run's files (spec, log, outputs)
 *	runs/.rs_<32 hex>.lock     its lock; never renamed, never removed
 *	runs/.rs_<32 hex>.claim    held by the one process starting it
 *	prompts/ps_<32 hex>.json   a prompt record (locked the same way)
 *
 * Invariants:
 *  - A record file is always whole: it is written under a hidden name,
 *    fsynced, then linked (create) or renamed (update) into place, and
 *    the directory is fsynced.  Readers take no lock.
 *  - Every read-modify-write holds flock(2) on the record's sidecar lock
 *    file for the whole cycle, so concurrent updates never lose one.
 *  - No path is built from an id that id_kind() has not accepted.
 */
#ifndef COSMOS_STORE_H
#define COSMOS_STORE_H

#include <cjson/cJSON.h>
#include <stddef.h>

#define ID_LEN 35 /* "rs_" + 32 lowercase hex */

enum id_kind { ID_BAD = -1, ID_RUN = 0, ID_PROMPT = 1 };

/* Classify a string: ID_RUN, ID_PROMPT, or ID_BAD for anything else. */
enum id_kind id_kind(const char *s);
/* Make a fresh id from the kernel's random source. */
void id_new(enum id_kind kind, char out[ID_LEN + 1]);

/*
 * The root directory, and opening it.  With create, the root, runs/ and
 * prompts/ are made as needed; without, a missing store reads as empty
 * and nothing is created.
 */
const char *store_root(void);
int store_open(int create);

/*
 * Read a record.  NULL with errno ENOENT (no such record), EBADMSG (not a
 * JSON object), EINVAL (bad id) or another errno from the system.
 */
cJSON *store_load(const char *id);
/* A record's bytes as stored (caller frees); errors as store_load. */
char *store_read(const char *id, size_t *len);

/* Create a new record from rec (which carries "id"); EEXIST if present. */
int store_create(const cJSON *rec);

/*
 * Read-modify-write under the record's lock.  fn edits rec in place and
 * returns STORE_WRITE, STORE_KEEP (nothing to write) or STORE_ABORT.
 * store_update returns that verdict, or -1 with errno on failure.  On
 * STORE_WRITE "updated_at" is stamped.  If out is not NULL it receives
 * the record as it now is (caller frees).
 */
enum { STORE_WRITE = 0, STORE_KEEP = 1, STORE_ABORT = 2 };
typedef int (*store_fn)(cJSON *rec, void *arg);
int store_update(const char *id, store_fn fn, void *arg, cJSON **out);

/*
 * Claim run id for this process: flock(2) on its sidecar .ID.claim, held
 * until store_unclaim or exit (so a killed process leaves no claim).  The
 * fd, or -1 with errno (EWOULDBLOCK: another process holds it).
 */
int store_claim(const char *id);
void store_unclaim(int fd);

/* Path of a run's own directory (created when create is set); caller frees. */
char *store_run_dir(const char *id, int create);

/*
 * Call fn for every record of a kind with its raw file contents (one
 * JSON line, NUL-terminated); fn takes ownership of buf.  A record that
 * cannot be read comes with buf NULL and err its errno.  Hidden and
 * foreign files are skipped.  Returns -1 with errno if the directory
 * cannot be read.
 */
typedef void (*store_scan_fn)(const char *id, char *buf, size_t len, int err, void *arg);
int store_scan(enum id_kind kind, store_scan_fn fn, void *arg);

/* Serialize a record as the store writes it: one line, newline-ended. */
char *record_line(const cJSON *rec, size_t *len);
/* Print it on stdout. */
void record_print(const cJSON *rec);
/* A record's bytes as the store reads them: a JSON object, else NULL with
 * errno EBADMSG. */
cJSON *record_parse(const char *buf, size_t len);

#endif
