/*
 * ssh.h - one SSH connection to a host (libssh2), reused for every command
 * and file transfer a program makes there.
 *
 * Invariants:
 *  - The host key is checked against known_hosts before any credential is
 *    offered.  A changed key is always refused; an unknown one is refused
 *    unless the host has accept_new, which appends it (as OpenSSH's
 *    StrictHostKeyChecking=accept-new does).
 *  - Commands given to ssh_exec are built with sb_quote() (shell.h).
 *  - Errors come back as one line in the connection's message buffer,
 *    naming user@host:port; no secret is ever part of a message.
 */
#ifndef COSMOS_SSH_H
#define COSMOS_SSH_H

#include <stdint.h>
#include "host.h"
#include "shell.h"

struct ssh;

/*
 * Connect and authenticate.  NULL with a message in err and the exit code
 * class (EX_UNAVAIL: unreachable, refused key or credential) in *code.
 */
struct ssh *ssh_open(const struct host *h, char *err, size_t errlen, int *code);
void ssh_close(struct ssh *c);
const char *ssh_error(const struct ssh *c);
/* Did the last error come from the link itself (cut, timed out), not the
 * server's answer? */
int ssh_broken(const struct ssh *c);

/*
 * Run cmd with in (may be NULL) as its stdin; collect stdout and stderr
 * (out NULL: copy stdout to ours as it arrives; errout NULL: drop it).
 * Returns the remote exit status, or -1 on a transport error.
 */
int ssh_exec(struct ssh *c, const char *cmd, const char *in, size_t inlen,
    struct sbuf *out, struct sbuf *err);

/*
 * The same, in steps, so that several commands can be in flight on one
 * connection: ssh_start opens a channel and starts cmd (in, out and
 * errout must outlive the job); ssh_step moves it without blocking;
 * ssh_wait blocks until the connection can move; ssh_finish drives a job
 * to its end, frees it and returns its exit status (-1: transport error).
 */
enum { SSH_DONE = 1, SSH_MOVED = 2, SSH_BLOCKED = 3 };
struct ssh_job;
struct ssh_job *ssh_start(struct ssh *c, const char *cmd, const char *in, size_t inlen,
    struct sbuf *out, struct sbuf *errout);
int ssh_step(struct ssh *c, struct ssh_job *j);
int ssh_job_status(const struct ssh_job *j); /* once ssh_step said SSH_DONE */
int ssh_wait(struct ssh *c);
int ssh_finish(struct ssh *c, struct ssh_job *j);
void ssh_job_free(struct ssh_job *j);

/*
 * What one answer may cost (#22): a host that prints without end, or a
 * byte at a time, must not keep us for ever.  A job holds at most
 * SSH_ANSWER_MAX bytes of stdout and as many of stderr (ssh_job_cap sets
 * another cap), and its whole answer must come within SSH_DUE_TIMES times
 * the host's io_timeout of its start (io_timeout alone bounds only a
 * silence, which a byte every second never reaches).  Past either,
 * ssh_step fails the job (-1) with a one-line message.  The deadline
 * is checked when nothing is left to read: an answer that came whole
 * while no one read it is not late.  A job copying its stdout to ours (a
 * log, maybe followed) has no cap on it and no deadline; a stream (below)
 * has a deadline only while ssh_job_due arms one.
 */
#define SSH_ANSWER_MAX (64u << 20) /* bytes: as lib/http.c caps an API's answer */
#define SSH_DUE_TIMES 4            /* the deadline, in io_timeouts: 4 min by default */
void ssh_job_cap(struct ssh_job *j, size_t cap);
/* Arm j's deadline from now (armed), or clear it. */
void ssh_job_due(struct ssh *c, struct ssh_job *j, int armed);

/*
 * A job whose stdin stays open (a remote shell reading commands): what
 * ssh_feed gives is copied and sent as ssh_step can; no EOF is sent, the
 * shell ends when its channel is freed.
 */
struct ssh_job *ssh_start_stream(struct ssh *c, const char *cmd, struct sbuf *out, struct sbuf *errout);
void ssh_feed(struct ssh_job *j, const char *data, size_t len);

/* SFTP.  Remote paths are absolute or relative to the login directory. */
int ssh_stat(struct ssh *c, const char *path, uint64_t *size); /* 0, 1 missing, -1 */
int ssh_put_file(struct ssh *c, const char *local, const char *remote, uint64_t *sent);
/* size: what the file should hold (for progress), or UINT64_MAX. */
int ssh_get_file(struct ssh *c, const char *remote, const char *local, uint64_t size, uint64_t *got);

/* Send a keepalive if one is due (call while waiting). */
void ssh_keepalive(struct ssh *c);

#endif
