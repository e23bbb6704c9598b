/*
 * backend_shell.h - the operations the shell backends (backend_shell.c)
 * lend to other kinds that also keep a work dir of our scripts and talk
 * to cosmos-ctl there: staging by content, moving starts along, poll,
 * cancel, log and fetch (with the kind's runtime word, r->runtime).
 */
#ifndef COSMOS_BACKEND_SHELL_H
#define COSMOS_BACKEND_SHELL_H

#include "backend.h"
#include "shell.h"

char *shell_stage(struct remote *r, const char *local, const char *source_run);
int shell_step(struct remote *r, struct bjob *j);
int shell_wait(struct remote *r);
int shell_poll(struct remote *r, struct poll_item *v, size_t n);
int shell_cancel(struct remote *r, const cJSON *rec);
int shell_log(struct remote *r, const cJSON *rec, int follow);
int shell_fetch(struct remote *r, const cJSON *rec, const char *name, const char *local, uint64_t size);
const char *shell_refuses(struct remote *r, const cJSON *req);

/* A GPU list as the host says it ("0,1") as the record keeps it (["0","1"]). */
cJSON *shell_gpu_list(const char *list);
int shell_adopt(struct remote *r, const cJSON *const *recs, cJSON **jobs, size_t n);

/*
 * A start in flight, as every shell-like kind makes it: the transport's
 * job (remote_start) and what the run will be called once it is known.
 */
struct bjob {
	struct rjob *job;
	char handle[64];
};

/* "[ no runs/ID.sh ] && copy job.sh from stdin into runs/ID.sh; ": the
 * start command's head; the job is started once (exit JOB_ALREADY, after
 * again, shell text of ours, when the job file is there); the copy is
 * whole at the line end (job_end_line). */
void shell_job_file(struct sbuf *b, const char *id, const char *again, const char *end);

/* Trailing blanks and newlines off b; its text, or NULL if none is left. */
const char *shell_chomp(struct sbuf *b);

/*
 * What cosmos-ctl answers (text, changed in place), read apart from the
 * round trip so that t/fuzz/ can feed it anything: the host is hostile.
 * status: "run ID STATE CODE REASON_CODE REASON" lines, and "file ID SIZE
 * NAME" for the runs that ended, into v (host names it in warnings).
 * adopt: "adopt ID JOBID" lines into jobs[i] for each recs[i] (jobs[i]
 * NULL beforehand), with runtime the host's.
 */
void shell_read_status(const char *host, char *text, struct poll_item *v, size_t n);
void shell_read_adopt(const char *runtime, char *text, const cJSON *const *recs, cJSON **jobs, size_t n);

/*
 * cosmos-ctl hosts RUNTIME [ARG] (the host for cosmos hosts) in one round
 * trip, its answer read into out: 0 or an exit code class with r->err.
 * shell_read_hosts is the reading, apart (as above): "gpu INDEX, UUID,
 * USED, TOTAL, UTIL, NAME" lines into out's array "gpus" ({index, uuid,
 * name, memory_used_mib, memory_total_mib, utilization, run: null}),
 * "hold SLOT ID" into "holding" ({slot, run}), "wait ID NEED gpu|slot
 * SINCE" into "waiting" ({run, gpus or slots, since: RFC 3339}) and
 * "node NAME|PARTITION|STATE|GRES" into "nodes"; each array made if
 * absent, each field bounded and checked (a bad one null, a line without
 * its key field skipped), and at most 100,000 entries of each.
 */
int shell_hosts(struct remote *r, const char *arg, cJSON *out);
void shell_read_hosts(char *text, cJSON *out);

#endif
