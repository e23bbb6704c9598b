/*
 * remote.h - an opened host, of any kind of backend (backend.h), and the
 * transport the shell backends share: shell commands in a work dir and
 * file copies, over one SSH connection (lib/ssh.c) or on this machine
 * (lib/local.c), with inputs stored by content.
 *
 * Host layout for the shell backends (under the work dir, which
 * containers see as /workspace):
 *	bashscripts/        our scripts (share/cosmos/remote), replaced only
 *	                    when their content hash (.version) differs
 *	cas/<sha256>.<ext>  inputs, uploaded once
 *	runs/<id>.sh        a run's job: model, spec and arguments, quoted
 *	runs/<id>.cancelled when it was cancelled
 *	outputs/run_<id>/   run.log, spec_used.json and the model's outputs
 *
 * Invariant: every command sent is "cd WORKDIR && " and text of ours in
 * which every word that is not a literal is quoted with sb_quote().
 */
#ifndef COSMOS_REMOTE_H
#define COSMOS_REMOTE_H

#include <stdint.h>
#include "backend.h"
#include "host.h"
#include "shell.h"
#include "ssh.h"

struct remote {
	struct host host;
	const struct backend *ops; /* its kind */
	int failed;         /* opening failed: err holds why, code its class */
	int code;
	char err[512];
	uint64_t sent;      /* bytes uploaded */
	char why_code[32];  /* with err: a failed run's reason_code, or "" */
	void *priv;         /* the kind's own state (backend_http.c) */
	/* The shell backends' (backend_shell.c): */
	struct ssh *ssh;    /* NULL: the local transport */
	const char *runtime;/* how jobs run there */
	char *engine;       /* local: COSMOS_ENGINE for cosmos-job */
	char *sftp_dir;     /* the work dir as SFTP sees it */
	struct sbuf cd;     /* "cd 'WORKDIR' && " */
	char **staged;      /* cas/ paths known to be on the host */
	size_t nstaged;
	struct stream **streams; /* remote_start_streamed's shells */
	int nstreams;
	struct fetcher *fetcher;  /* remote_prefetch's shell */
	/* GPU slots (cosmos-slot), set by remote_install where slots is set
	 * before: the host's GPUs ("0,1,3", NULL for none) and how many, and
	 * on a host without GPUs how many runs at once. */
	int slots;
	char *gpu_list;
	int ngpus, nslots;
};

/* Where share/cosmos is: $COSMOS_SHARE, else ../share/cosmos beside the program. */
const char *share_dir(void);

/*
 * The host called name (NULL: the default host; "local", or no host
 * configured: this machine), configured and opened by its backend;
 * cached, so each host is opened once per process.  NULL with err set
 * for a bad hosts file.  A host that could not be opened has failed set,
 * err filled and code its exit code class.
 */
struct remote *remote_get(const char *name, char *err, size_t errlen);
void remote_close_all(void);

/* --- the transport ------------------------------------------------------ */

/* Open the SSH connection for r->host; 0 or an exit code class (r->err). */
int remote_connect(struct remote *r);

/* The work dir's layout and our scripts, brought up to date; 0, or
 * EX_UNAVAIL (the host) or EX_STORE (our scripts) with r->err.  Where
 * r->slots is set, the same round trip learns the host's GPU slots
 * (gpu_list, ngpus, nslots: nvidia-smi -L for gpus = auto, the
 * processors for slots) and that it has flock(1). */
int remote_install(struct remote *r);

/* Run "cd WORKDIR && TAIL" to its end with in as its stdin (out NULL:
 * to our stdout); its exit status, or -1 (r->err): a transport error. */
int remote_run(struct remote *r, const char *tail, const char *in, size_t inlen,
    struct sbuf *out, struct sbuf *errout);

/*
 * Start "cd WORKDIR && TAIL" and leave it in flight (the local transport
 * runs it to its end at once); the job keeps a copy of in and collects
 * its output.  remote_step moves it (STEP_DONE, STEP_MOVED, STEP_BLOCKED,
 * or -1: a transport error), remote_wait blocks until the transport can
 * move.  NULL with r->err.
 */
struct rjob *remote_start(struct remote *r, const char *tail, const char *in, size_t inlen);
int remote_step(struct remote *r, struct rjob *j);
int remote_wait(struct remote *r);
int remote_job_status(const struct rjob *j);   /* once done; -1: transport error */
struct sbuf *remote_job_out(struct rjob *j);
struct sbuf *remote_job_err(struct rjob *j);
void remote_job_free(struct rjob *j);

/*
 * The same, through one of a few shells kept open on the host that read
 * commands from their stdin, one after another: no channel is opened for
 * the command, so many starts cost little more than one round trip in
 * all.  in is the command's stdin, text ending in a newline; anything
 * else (and the local transport) goes through remote_start.
 */
struct rjob *remote_start_streamed(struct remote *r, const char *tail, const char *in, size_t inlen);

/*
 * Outputs a sync is about to fetch (rels[i], of sizes[i] bytes, in the
 * order it will ask for them), streamed ahead over one shell on the host:
 * each file follows the one before with no round trip between them, into
 * a hidden file in the store that remote_fetch then renames into place.
 * A file that could not come that way is fetched by SFTP as before.
 * Nothing to do for the local transport.
 */
void remote_prefetch(struct remote *r, const char *const *rels, const uint64_t *sizes, size_t n);

/*
 * Make a local file present on the host by content: returns the path
 * relative to the work dir ("cas/<sha256>.mp4"), uploading only when it
 * is not there yet.  NULL with r->err set on failure.
 */
char *remote_stage(struct remote *r, const char *local);

/* Is WORKDIR/rel there? */
int remote_exists(struct remote *r, const char *rel);

/* Download WORKDIR/rel to local, checking the size; 0 or -1 (r->err). */
int remote_fetch(struct remote *r, const char *rel, const char *local, uint64_t size);

/* sha256 of a file as 64 hex digits; 0 or -1 with errno. */
int sha256_file(const char *path, char hex[65]);

#endif
