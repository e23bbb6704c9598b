/*
 * remote.h - a machine that runs jobs, as the programs see it: one
 * connection, our scripts installed in its work dir, inputs stored there
 * by content.
 *
 * The backend seam.  What differs between backends is five operations:
 * start a run detached (cosmos-submit), learn the state of all runs of a
 * machine in one round trip, cancel, print or follow a log (cosmos-ctl,
 * driven by cosmos-sync), and fetch a finished run's outputs.  The docker
 * backend (SSH to a host, docker run), the local backend (this machine: a
 * detached process, or a local container) and a slurm backend (SSH to a
 * login node, sbatch) share one shape -- a shell command in a work dir
 * holding our scripts, and file copies -- and differ only in a runtime
 * ("docker", "sudo-docker", "process"; "slurm") that the start command and
 * cosmos-ctl understand.  The transport under them is SSH (lib/ssh.c) or
 * local (lib/local.c).  An http backend speaks another protocol and will
 * implement the five operations itself.
 *
 * Host layout (under the work dir, which containers see as /workspace):
 *	bashscripts/       our scripts (share/cosmos/remote), replaced only
 *	                   when their content hash (.version) differs
 *	cas/<sha256>.<ext> inputs, uploaded once
 *	runs/<id>.sh       a run's job: model, spec and arguments, quoted
 *	outputs/run_<id>/  run.log, spec_used.json and the model's outputs
 *
 * Invariant: every command sent is "cd WORKDIR && " and text of ours in
 * which every word that is not a literal is quoted with sb_quote().
 */
#ifndef COSMOS_REMOTE_H
#define COSMOS_REMOTE_H

#include <stdint.h>
#include "host.h"
#include "shell.h"
#include "ssh.h"

struct remote {
	struct host host;
	struct ssh *ssh;    /* NULL: the local transport */
	int local;
	const char *runtime;/* "docker", "sudo-docker" or "process" */
	char *engine;       /* process runtime: COSMOS_ENGINE for cosmos-job */
	char *sftp_dir;     /* the work dir as SFTP sees it */
	struct sbuf cd;     /* "cd 'WORKDIR' && " */
	uint64_t sent;      /* bytes uploaded */
	char **staged;      /* cas/ paths known to be on the host */
	size_t nstaged;
	int failed;         /* connecting failed: err holds why */
	int code;           /* its exit code class */
	char err[512];
};

/* Where share/cosmos is: $COSMOS_SHARE, else ../share/cosmos beside the program. */
const char *share_dir(void);

/*
 * The remote for a host name (NULL: the default host; "local" or no host
 * configured: this machine), connected and with our scripts installed;
 * cached, so each host is connected to once per process.  NULL with err
 * set for a bad hosts file.  A remote that could not be reached has
 * failed set and err filled.
 */
struct remote *remote_get(const char *name, char *err, size_t errlen);
void remote_close_all(void);

/* Run cosmos-ctl with words (already quoted) and in as its stdin. */
int remote_ctl(struct remote *r, const char *words, const char *in, size_t inlen,
    struct sbuf *out, struct sbuf *errout);

/*
 * One run's cancel or log: "cosmos-ctl VERB RUNTIME ID CONTAINER
 * [follow]" with VERB "cancel" or "log" and the rest quoted here.
 */
int remote_one(struct remote *r, const char *verb, const char *runtime, const char *id,
    const char *container, int follow, struct sbuf *out, struct sbuf *errout);

/*
 * Start "cd WORKDIR && TAIL" and leave it in flight (see ssh_start; the
 * local transport runs it to its end at once).  remote_step moves it,
 * remote_wait blocks until the transport can move, remote_job_status
 * gives its exit status once done (-1: transport error).
 */
struct rjob;
struct rjob *remote_start(struct remote *r, const char *tail, const char *in, size_t inlen,
    struct sbuf *out, struct sbuf *errout);
int remote_step(struct remote *r, struct rjob *j);
int remote_wait(struct remote *r);
int remote_job_status(const struct rjob *j);
void remote_job_free(struct rjob *j);

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
