/*
 * remote.h - a GPU host as the programs see it: one connection, our
 * scripts installed in its work dir, inputs stored there by content.
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
	struct ssh *ssh;
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
 * The remote for a host name (NULL: the default host), connected and with
 * our scripts installed; cached, so each host is connected to once per
 * process.  Returns NULL when no host is configured (local backend).  A
 * remote that could not be reached has failed set and err filled.
 */
struct remote *remote_get(const char *name, char *err, size_t errlen);
void remote_close_all(void);

/* Run cosmos-ctl with words (already quoted) and in as its stdin. */
int remote_ctl(struct remote *r, const char *words, const char *in, size_t inlen,
    struct sbuf *out, struct sbuf *errout);

/* Start "cd WORKDIR && TAIL" and leave it in flight (see ssh_start). */
struct ssh_job *remote_start(struct remote *r, const char *tail, const char *in, size_t inlen,
    struct sbuf *out, struct sbuf *errout);

/*
 * Make a local file present on the host by content: returns the path
 * relative to the work dir ("cas/<sha256>.mp4"), uploading only when it
 * is not there yet.  NULL with r->err set on failure.
 */
char *remote_stage(struct remote *r, const char *local);

/* Download WORKDIR/rel to local, checking the size; 0 or -1 (r->err). */
int remote_fetch(struct remote *r, const char *rel, const char *local, uint64_t size);

/* sha256 of a file as 64 hex digits; 0 or -1 with errno. */
int sha256_file(const char *path, char hex[65]);

#endif
