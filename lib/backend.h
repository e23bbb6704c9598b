/*
 * backend.h - the backend interface.  A kind of backend is one table of
 * operations (struct backend); a new kind is one new file and one line in
 * backend.c, and no program ever asks what kind a host is.
 *
 * Kinds: "docker" (a GPU host over SSH, a detached container per run; the
 * default) and "local" (this machine), both in backend_shell.c; "slurm"
 * (a cluster's login node, a Slurm job per run) in backend_slurm.c;
 * "http" (a hosted model's API, an operation per run) in backend_http.c.
 * A start in flight (struct bjob) is each kind's own type.
 *
 * A host (struct remote, remote.h) is opened once per process and carries
 * its kind's table.  Who calls what:
 *	cosmos-submit   stage (through job_stage), start, step, wait, started
 *	cosmos-sync     poll, fetch (through finish_fetch), cancel, log
 *	cosmos hosts    describe
 *	every program   remote_get (configure, open), remote_close_all (close)
 *
 * A run record keeps "backend" (the kind's name), "host" and
 * "job.handle": what the backend calls the job (a container name; later
 * a Slurm job id or an operation name), which only that backend reads.
 *
 * Errors: an operation returns 0, or an exit code class (util.h:
 * EX_SOME, EX_STORE, EX_UNAVAIL, EX_TEMP) with its one-line message in
 * r->err, and, where a run fails for good, a word for machines in
 * r->why_code (a record's reason_code: auth, rate_limited, ...).  Nothing
 * here exits the process; the programs decide.  A cancel that returns 0
 * with r->err set leaves that note as the run's reason.
 */
#ifndef COSMOS_BACKEND_H
#define COSMOS_BACKEND_H

#include <stddef.h>
#include <stdint.h>
#include <cjson/cJSON.h>

struct remote;
struct host;
struct bjob;

/* What poll says of a run: the one vocabulary every kind maps into. */
enum run_state {
	RUN_QUEUED,  /* accepted, not running yet */
	RUN_RUNNING,
	RUN_ENDED,   /* finished; code is the job's exit code, -1 if it left none */
	RUN_GONE,    /* the backend no longer knows it */
	RUN_UNKNOWN, /* an answer this side cannot read: judged failed */
};

struct poll_item {
	const cJSON *rec;     /* in: the run's record */
	int answered;         /* out, from here on */
	enum run_state state;
	int code;
	char reason[200];     /* why, for ENDED without a code, GONE, UNKNOWN */
	char reason_code[32]; /* a word for machines (timeout, ...), or "" */
	cJSON *files;         /* ENDED: [{name, size}], each name checked */
	char gpus[256];       /* the GPUs it runs on ("0,1"), or "" */
};

/* step's answers (the values of ssh.h's SSH_DONE, SSH_MOVED, SSH_BLOCKED). */
enum { STEP_DONE = 1, STEP_MOVED = 2, STEP_BLOCKED = 3 };

/* started: this run's job was already there (an interrupted submit). */
#define STARTED_BEFORE (-1)
/* started: the start was sent, or may have been, but its answer did not
 * come (a time-out, a lost connection; r->err says which): whether the
 * job runs is not known.  The run stays pending with its host, and the
 * next sync adopts it if its job is there. */
#define STARTED_UNKNOWN (-2)

struct backend {
	const char *name;
	/* Check and complete the host's keys before anything is opened;
	 * -1 with a message in err (a bad hosts file). */
	int (*configure)(struct host *h, char *err, size_t errlen);
	/* Connect and install what the host needs. */
	int (*open)(struct remote *r);
	/* A local file's place on the host, sent once by content (an
	 * earlier run's output already there for source_run); NULL, r->err. */
	char *(*stage)(struct remote *r, const char *local, const char *source_run);
	/* Start run id detached: job is what the model reads (job.h), with
	 * paths staged; ec the request's execution_config.  Several may be in
	 * flight at once; step moves one without blocking (-1: transport
	 * error), wait blocks until one can move. */
	struct bjob *(*start)(struct remote *r, const char *id, const char *model, const cJSON *job,
	    const cJSON *ec);
	int (*step)(struct remote *r, struct bjob *j);
	int (*wait)(struct remote *r);
	/* A finished start: 0 started (job receives handle and the kind's own
	 * fields), STARTED_BEFORE, STARTED_UNKNOWN, or an exit code class
	 * with r->err.  Frees j. */
	int (*started)(struct remote *r, struct bjob *j, cJSON *job);
	/*
	 * Optional (NULL where a kind has none): start runs ids[0..n) as one
	 * unit, a Slurm job array, with at most max_running at once (0: no
	 * limit); jobs and ecs as for start; name names the unit.  Moved by
	 * step and wait; finished by started_many, which gives each run's
	 * job patch (as started does) into jobs_out[i], and frees j.
	 */
	struct bjob *(*start_many)(struct remote *r, const char *name, const char *const *ids,
	    const char *const *models, const cJSON *const *jobs, const cJSON *const *ecs, int n, int max_running);
	int (*started_many)(struct remote *r, struct bjob *j, cJSON *const *jobs_out, int n);
	/* The state of every run in v (all of this host's) in one round trip. */
	int (*poll)(struct remote *r, struct poll_item *v, size_t n);
	int (*cancel)(struct remote *r, const cJSON *rec);
	/* Print the run's log to stdout; follow until the job ends. */
	int (*log)(struct remote *r, const cJSON *rec, int follow);
	/* Download output file name of a finished run to local, checking
	 * size (UINT64_MAX: not known before).  A failure with r->why_code
	 * set is final: the run fails with it. */
	int (*fetch)(struct remote *r, const cJSON *rec, const char *name, const char *local, uint64_t size);
	void (*close)(struct remote *r);
	/* Optional: why this host cannot run request req at all (checked
	 * before its inputs are staged or anything is sent), or NULL. */
	const char *(*refuses)(struct remote *r, const cJSON *req);
	/*
	 * Optional: runs left pending by a submit that died after starting
	 * their jobs (before it could record them).  For each recs[i] whose
	 * job was started, the job's fields as started gives them (handle
	 * first) into jobs_out[i]; NULL where it never was.  One round trip.
	 */
	int (*adopt)(struct remote *r, const cJSON *const *recs, cJSON **jobs_out, size_t n);
	/*
	 * Optional: the host as cosmos hosts shows it (cosmos(7), BACKENDS),
	 * added to out, a JSON object, in one round trip: "reachable" and
	 * what the kind knows (GPUs and who holds them, the line; a
	 * cluster's nodes; a provider's models).  0, or an exit code class
	 * with r->err (EX_UNAVAIL: the host did not answer).
	 */
	int (*describe)(struct remote *r, cJSON *out);
};

/* The kind called name (NULL: the default, docker), or NULL. */
const struct backend *backend_find(const char *name);

/* The kinds' names, "docker, local", for messages. */
const char *backend_names(void);

/* What a run's backend calls its job: job.handle (older records:
 * job.container), or NULL if it never started. */
const char *job_handle(const cJSON *rec);

#endif
