/* ssh.c - one libssh2 connection per host; see ssh.h. */
#define _GNU_SOURCE
#include "ssh.h"
#include "progress.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <libssh2.h>
#include <libssh2_sftp.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define XFER (2 * 1024 * 1024) /* bytes per SFTP read or write call */
/* Bytes a step reads from each of a job's stdout and stderr at most, so
 * that its reader takes them (and checks its own limits) between steps. */
#define STEP_READ (256u << 10)

struct ssh {
	LIBSSH2_SESSION *s;
	LIBSSH2_SFTP *sftp;
	LIBSSH2_SFTP *sftp2; /* a second lane for large uploads */
	int sock;
	pid_t proxy;        /* the ProxyJump or ProxyCommand child, or 0 */
	int timeout_ms;
	char label[300];
	char msg[512];
};

static void fail(struct ssh *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(struct ssh *c, const char *fmt, ...)
{
	va_list ap;
	int n = snprintf(c->msg, sizeof c->msg, "%s: ", c->label);
	va_start(ap, fmt);
	vsnprintf(c->msg + n, sizeof c->msg - (size_t)n, fmt, ap);
	va_end(ap);
}

static const char *lib_error(struct ssh *c)
{
	char *m = NULL;
	libssh2_session_last_error(c->s, &m, NULL, 0);
	return m && *m ? m : "unknown libssh2 error";
}

const char *ssh_error(const struct ssh *c) { return c->msg; }

int ssh_broken(const struct ssh *c)
{
	switch (libssh2_session_last_errno(c->s)) {
	case LIBSSH2_ERROR_SOCKET_SEND:
	case LIBSSH2_ERROR_SOCKET_RECV:
	case LIBSSH2_ERROR_SOCKET_DISCONNECT:
	case LIBSSH2_ERROR_SOCKET_TIMEOUT:
	case LIBSSH2_ERROR_TIMEOUT:
	case LIBSSH2_ERROR_CHANNEL_CLOSED:
	case LIBSSH2_ERROR_CHANNEL_EOF_SENT:
		return 1;
	default:
		return 0;
	}
}

/* TCP connect with a timeout, trying each address. */
static int dial(struct ssh *c, const struct host *h)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res, *ai;
	char port[8];
	snprintf(port, sizeof port, "%d", h->port);
	int r = getaddrinfo(h->address, port, &hints, &res);
	if (r) {
		fail(c, "cannot resolve: %s", gai_strerror(r));
		return -1;
	}
	int fd = -1, e = 0;
	for (ai = res; ai && fd < 0; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
		if (fd < 0)
			continue;
		/* errno means something only when connect() returned -1. */
		e = connect(fd, ai->ai_addr, ai->ai_addrlen) < 0 ? errno : 0;
		if (e == EINPROGRESS) {
			struct pollfd p = {.fd = fd, .events = POLLOUT};
			socklen_t len = sizeof e;
			if (poll(&p, 1, h->connect_timeout * 1000) != 1)
				e = ETIMEDOUT;
			else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &len) < 0)
				e = errno;
		}
		if (e) {
			close(fd);
			fd = -1;
		}
	}
	freeaddrinfo(res);
	if (fd < 0) {
		fail(c, "cannot connect: %s", strerror(e ? e : ECONNREFUSED));
		return -1;
	}
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	return fd;
}

/*
 * Through a jump host, as OpenSSH does it: "ssh -W HOST:PORT JUMP" (for a
 * chain "a,b": -J a, then b), or the ProxyCommand, run by sh with %h, %p,
 * %r and %% expanded, as a child whose stdin and stdout are one end of a
 * socketpair.  libssh2 speaks SSH over the other end, so the host key
 * checked is the final host's; the jump host's is OpenSSH's to check
 * (BatchMode: it never asks).  The child is stopped by PID at close.
 */
static int dial_proxy(struct ssh *c, const struct host *h)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		fail(c, "socketpair: %s", strerror(errno));
		return -1;
	}
	struct sbuf cmd = {0};
	if (h->proxy_command) {
		/* The user's own command, as OpenSSH runs it: the tokens are
		 * values of ours, quoted. */
		char port[12];
		snprintf(port, sizeof port, "%d", h->port);
		sb_puts(&cmd, "exec ");
		for (const char *p = h->proxy_command; *p; p++) {
			const char *v = p[0] != '%' ? NULL : p[1] == 'h' ? h->address : p[1] == 'p' ? port
			              : p[1] == 'r' ? h->user : NULL;
			if (v) {
				sb_quote(&cmd, v);
				p++;
			} else if (p[0] == '%' && p[1] == '%')
				sb_add(&cmd, p++, 1);
			else
				sb_add(&cmd, p, 1);
		}
	} else {
		const char *cfg = getenv("COSMOS_SSH_CONFIG"), *last = strrchr(h->proxy_jump, ',');
		sb_puts(&cmd, "exec ssh -o BatchMode=yes");
		if (cfg && *cfg) {
			sb_puts(&cmd, " -F ");
			sb_quote(&cmd, cfg);
		}
		if (last) {
			char *rest = xasprintf("%.*s", (int)(last - h->proxy_jump), h->proxy_jump);
			sb_puts(&cmd, " -J ");
			sb_quote(&cmd, rest);
			free(rest);
		}
		char *to = xasprintf(strchr(h->address, ':') ? "[%s]:%d" : "%s:%d", h->address, h->port);
		sb_puts(&cmd, " -W ");
		sb_quote(&cmd, to);
		sb_puts(&cmd, " -- ");
		sb_quote(&cmd, last ? last + 1 : h->proxy_jump);
		free(to);
	}
	pid_t pid = fork();
	if (pid == 0) {
		dup2(sv[1], 0);
		dup2(sv[1], 1);
		execl("/bin/sh", "sh", "-c", cmd.s, (char *)NULL);
		_exit(127);
	}
	sb_free(&cmd);
	close(sv[1]);
	if (pid < 0) {
		fail(c, "cannot start the proxy: %s", strerror(errno));
		close(sv[0]);
		return -1;
	}
	c->proxy = pid;
	return sv[0];
}

static int key_bits(int type)
{
	switch (type) {
	case LIBSSH2_HOSTKEY_TYPE_ED25519: return LIBSSH2_KNOWNHOST_KEY_ED25519;
	case LIBSSH2_HOSTKEY_TYPE_ECDSA_256: return LIBSSH2_KNOWNHOST_KEY_ECDSA_256;
	case LIBSSH2_HOSTKEY_TYPE_ECDSA_384: return LIBSSH2_KNOWNHOST_KEY_ECDSA_384;
	case LIBSSH2_HOSTKEY_TYPE_ECDSA_521: return LIBSSH2_KNOWNHOST_KEY_ECDSA_521;
	case LIBSSH2_HOSTKEY_TYPE_RSA: return LIBSSH2_KNOWNHOST_KEY_SSHRSA;
	default: return -1;
	}
}

/*
 * Read known_hosts a line at a time: libssh2_knownhost_readfile stops at
 * the first line it cannot parse (a key type it does not know), which
 * would hide every entry after it.
 */
static void read_known(LIBSSH2_KNOWNHOSTS *nh, const char *path)
{
	FILE *fp = fopen(path, "re");
	if (!fp)
		return;
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	while ((n = getline(&line, &cap, fp)) > 0)
		libssh2_knownhost_readline(nh, line, (size_t)n, LIBSSH2_KNOWNHOST_FILE_OPENSSH);
	free(line);
	fclose(fp);
}

static int append_known(struct ssh *c, LIBSSH2_KNOWNHOSTS *nh, struct libssh2_knownhost *k, const char *path)
{
	char line[4096];
	size_t len;
	if (libssh2_knownhost_writeline(nh, k, line, sizeof line, &len, LIBSSH2_KNOWNHOST_FILE_OPENSSH))
		return -1;
	char *dir = xstrdup(path), *slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		mkdir(dir, 0700);
	}
	free(dir);
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	int r = fd >= 0 && write(fd, line, len) == (ssize_t)len ? 0 : -1;
	if (fd >= 0 && close(fd) < 0)
		r = -1;
	if (r < 0)
		fail(c, "cannot add host key to %s: %s", path, strerror(errno));
	return r;
}

static int check_host_key(struct ssh *c, const struct host *h)
{
	size_t klen;
	int ktype;
	const char *key = libssh2_session_hostkey(c->s, &klen, &ktype);
	int bits = key ? key_bits(ktype) : -1;
	if (bits < 0) {
		fail(c, "host key of an unsupported type");
		return -1;
	}
	LIBSSH2_KNOWNHOSTS *nh = libssh2_knownhost_init(c->s);
	if (!nh) {
		fail(c, "cannot check host key: %s", lib_error(c));
		return -1;
	}
	read_known(nh, h->known_hosts);
	int mask = LIBSSH2_KNOWNHOST_TYPE_PLAIN | LIBSSH2_KNOWNHOST_KEYENC_RAW | bits;
	struct libssh2_knownhost *found = NULL;
	int r = -1;
	switch (libssh2_knownhost_checkp(nh, h->address, h->port, key, klen, mask, &found)) {
	case LIBSSH2_KNOWNHOST_CHECK_MATCH:
		r = 0;
		break;
	case LIBSSH2_KNOWNHOST_CHECK_MISMATCH:
		fail(c, "HOST KEY HAS CHANGED (known_hosts: %s); refusing to connect", h->known_hosts);
		break;
	case LIBSSH2_KNOWNHOST_CHECK_NOTFOUND:
		if (!h->accept_new) {
			fail(c, "host key is not in %s; add it (ssh-keyscan) or set accept_new = yes",
			    h->known_hosts);
			break;
		}
		char name[300];
		if (h->port == 22)
			snprintf(name, sizeof name, "%s", h->address);
		else
			snprintf(name, sizeof name, "[%s]:%d", h->address, h->port);
		struct libssh2_knownhost *added;
		if (libssh2_knownhost_addc(nh, name, NULL, key, klen, NULL, 0, mask, &added) == 0 &&
		    append_known(c, nh, added, h->known_hosts) == 0) {
			warnx_("%s: added host key to %s", c->label, h->known_hosts);
			r = 0;
		}
		break;
	default:
		fail(c, "cannot check host key: %s", lib_error(c));
	}
	libssh2_knownhost_free(nh);
	return r;
}

static int auth_agent(struct ssh *c, const char *user)
{
	if (!getenv("SSH_AUTH_SOCK"))
		return -1;
	LIBSSH2_AGENT *a = libssh2_agent_init(c->s);
	int r = -1;
	if (a && libssh2_agent_connect(a) == 0 && libssh2_agent_list_identities(a) == 0) {
		struct libssh2_agent_publickey *id = NULL, *prev = NULL;
		while (r < 0 && libssh2_agent_get_identity(a, &id, prev) == 0) {
			if (libssh2_agent_userauth(a, user, id) == 0)
				r = 0;
			prev = id;
		}
		libssh2_agent_disconnect(a);
	}
	if (a)
		libssh2_agent_free(a);
	return r;
}

static int authenticate(struct ssh *c, const struct host *h)
{
	const char *user = h->user;
	char *methods = libssh2_userauth_list(c->s, user, (unsigned)strlen(user));
	if (!methods && libssh2_userauth_authenticated(c->s))
		return 0;
	if (auth_agent(c, user) == 0)
		return 0;
	const char *home = getenv("HOME") ? getenv("HOME") : "";
	char *defaults[3] = {
		xasprintf("%s/.ssh/id_ed25519", home), xasprintf("%s/.ssh/id_ecdsa", home),
		xasprintf("%s/.ssh/id_rsa", home),
	};
	const char *tried = "ssh-agent and ~/.ssh/id_{ed25519,ecdsa,rsa}";
	int r = -1;
	if (h->identity) {
		r = libssh2_userauth_publickey_fromfile_ex(c->s, user, (unsigned)strlen(user), NULL,
		    h->identity, NULL);
		tried = h->identity;
	} else {
		for (int i = 0; i < 3 && r; i++)
			if (access(defaults[i], R_OK) == 0)
				r = libssh2_userauth_publickey_fromfile_ex(c->s, user, (unsigned)strlen(user),
				    NULL, defaults[i], NULL);
	}
	for (int i = 0; i < 3; i++)
		free(defaults[i]);
	if (r)
		fail(c, "authentication refused (tried %s%s)", h->identity ? "ssh-agent and " : "", tried);
	return r ? -1 : 0;
}

/*
 * Which key types known_hosts records for the host, as OpenSSH asks: a
 * check with a key that cannot match says MISMATCH where an entry of that
 * type exists (hashed entries too), NOTFOUND where none does.
 */
static int recorded(LIBSSH2_SESSION *s, const struct host *h, int bits)
{
	LIBSSH2_KNOWNHOSTS *nh = libssh2_knownhost_init(s);
	if (!nh)
		return 0;
	read_known(nh, h->known_hosts);
	static const char none[] = "\0\0\0\0cosmos";
	int r = libssh2_knownhost_checkp(nh, h->address, h->port, none, sizeof none - 1,
	            LIBSSH2_KNOWNHOST_TYPE_PLAIN | LIBSSH2_KNOWNHOST_KEYENC_RAW | bits, NULL) ==
	        LIBSSH2_KNOWNHOST_CHECK_MISMATCH;
	libssh2_knownhost_free(nh);
	return r;
}

/*
 * Host key algorithms: those whose type known_hosts records for this host
 * first (so a host known by its ECDSA key is checked by it, as OpenSSH
 * does), each group in the order ed25519, ECDSA, RSA.  Only algorithms this
 * libssh2 supports are named: libssh2 1.10 drops unknown ones from the
 * list with an overlapping memcpy (undefined behaviour, caught by ASan).
 */
static void prefer_host_keys(LIBSSH2_SESSION *s, const struct host *h)
{
	static const struct {
		const char *alg;
		int bits;
	} order[] = {
		{"ssh-ed25519", LIBSSH2_KNOWNHOST_KEY_ED25519}, {"ecdsa-sha2-nistp256", LIBSSH2_KNOWNHOST_KEY_ECDSA_256},
		{"ecdsa-sha2-nistp384", LIBSSH2_KNOWNHOST_KEY_ECDSA_384}, {"ecdsa-sha2-nistp521", LIBSSH2_KNOWNHOST_KEY_ECDSA_521},
		{"rsa-sha2-512", LIBSSH2_KNOWNHOST_KEY_SSHRSA}, {"rsa-sha2-256", LIBSSH2_KNOWNHOST_KEY_SSHRSA},
		{"ssh-rsa", LIBSSH2_KNOWNHOST_KEY_SSHRSA}, {NULL, 0},
	};
	const char **algs = NULL;
	int n = libssh2_session_supported_algs(s, LIBSSH2_METHOD_HOSTKEY, &algs), known[8];
	struct sbuf pref = {0};
	for (int i = 0; order[i].alg; i++)
		known[i] = recorded(s, h, order[i].bits);
	for (int pass = 1; pass >= 0; pass--)
		for (int i = 0; order[i].alg; i++)
			for (int j = 0; j < n && known[i] == pass; j++)
				if (!strcmp(order[i].alg, algs[j])) {
					if (pref.len)
						sb_puts(&pref, ",");
					sb_puts(&pref, order[i].alg);
				}
	if (n > 0)
		libssh2_free(s, algs);
	if (pref.len)
		libssh2_session_method_pref(s, LIBSSH2_METHOD_HOSTKEY, pref.s);
	sb_free(&pref);
}

struct ssh *ssh_open(const struct host *h, char *err, size_t errlen, int *code)
{
	static int inited;
	if (!inited && libssh2_init(0) != 0) {
		snprintf(err, errlen, "libssh2: cannot initialise");
		*code = EX_STORE;
		return NULL;
	}
	inited = 1;
	struct ssh *c = xmalloc(sizeof *c);
	memset(c, 0, sizeof *c);
	snprintf(c->label, sizeof c->label, "%s@%s:%d", h->user, h->address, h->port);
	c->timeout_ms = h->io_timeout * 1000;
	c->sock = h->proxy_jump || h->proxy_command ? dial_proxy(c, h) : dial(c, h);
	*code = EX_UNAVAIL;
	if (c->sock < 0)
		goto bad;
	c->s = libssh2_session_init();
	if (!c->s) {
		fail(c, "libssh2: cannot start a session");
		goto bad;
	}
	libssh2_session_set_blocking(c->s, 1);
	libssh2_session_set_timeout(c->s, c->timeout_ms);
	prefer_host_keys(c->s, h);
	if (libssh2_session_handshake(c->s, c->sock)) {
		fail(c, "SSH handshake failed: %s", lib_error(c));
		goto bad;
	}
	if (check_host_key(c, h) < 0 || authenticate(c, h) < 0)
		goto bad;
	libssh2_keepalive_config(c->s, 1, 15);
	return c;
bad:
	snprintf(err, errlen, "%s", c->msg);
	ssh_close(c);
	return NULL;
}

void ssh_close(struct ssh *c)
{
	if (!c)
		return;
	if (c->sftp)
		libssh2_sftp_shutdown(c->sftp);
	if (c->sftp2)
		libssh2_sftp_shutdown(c->sftp2);
	if (c->s) {
		libssh2_session_disconnect(c->s, "bye");
		libssh2_session_free(c->s);
	}
	if (c->sock >= 0)
		close(c->sock);
	if (c->proxy > 0) {
		kill(c->proxy, SIGTERM);
		waitpid(c->proxy, NULL, 0);
	}
	free(c);
}

void ssh_keepalive(struct ssh *c)
{
	int next;
	libssh2_keepalive_send(c->s, &next);
}

/* Wait until the socket can move in the direction libssh2 is blocked on. */
static int wait_socket(struct ssh *c)
{
	int dir = libssh2_session_block_directions(c->s);
	struct pollfd p = {.fd = c->sock};
	if (dir & LIBSSH2_SESSION_BLOCK_INBOUND)
		p.events |= POLLIN;
	if (dir & LIBSSH2_SESSION_BLOCK_OUTBOUND)
		p.events |= POLLOUT;
	if (!p.events)
		p.events = POLLIN;
	int r = poll(&p, 1, c->timeout_ms);
	if (r == 0)
		fail(c, "timed out after %d s", c->timeout_ms / 1000);
	return r > 0 ? 0 : -1;
}

struct ssh_job {
	LIBSSH2_CHANNEL *ch;
	const char *in;
	size_t inlen, off;
	struct sbuf fed;  /* a stream's stdin, sent as it comes (ssh_feed) */
	int stream;       /* stdin stays open: no EOF is sent; freed with the connection */
	int eof_sent, closing;
	struct sbuf *out, *err; /* out NULL: our stdout */
	int status;
	size_t cap;       /* bytes each of out and err may hold */
	long long due;    /* the answer's deadline (clock_ms), or 0 */
};

/* "64 MiB", "4 KiB": a cap in a message. */
static const char *size_words(size_t n, char buf[32])
{
	if (n >= (1u << 20) && !(n % (1u << 20)))
		snprintf(buf, 32, "%zu MiB", n >> 20);
	else if (n >= 1024 && !(n % 1024))
		snprintf(buf, 32, "%zu KiB", n >> 10);
	else
		snprintf(buf, 32, "%zu bytes", n);
	return buf;
}

void ssh_job_cap(struct ssh_job *j, size_t cap)
{
	j->cap = cap;
}

void ssh_job_due(struct ssh *c, struct ssh_job *j, int armed)
{
	j->due = armed ? clock_ms() + (long long)SSH_DUE_TIMES * c->timeout_ms : 0;
}

struct ssh_job *ssh_start(struct ssh *c, const char *cmd, const char *in, size_t inlen,
    struct sbuf *out, struct sbuf *errout)
{
	libssh2_session_set_blocking(c->s, 1);
	LIBSSH2_CHANNEL *ch = libssh2_channel_open_session(c->s);
	if (!ch) {
		fail(c, "cannot open a channel: %s", lib_error(c));
		return NULL;
	}
	if (libssh2_channel_exec(ch, cmd)) {
		fail(c, "cannot run a command: %s", lib_error(c));
		libssh2_channel_free(ch);
		return NULL;
	}
	struct ssh_job *j = xmalloc(sizeof *j);
	*j = (struct ssh_job){.ch = ch, .in = in, .inlen = in ? inlen : 0, .out = out, .err = errout, .status = -1,
	    .cap = SSH_ANSWER_MAX};
	if (out) /* out NULL: a log copied to our stdout, as long as it likes */
		ssh_job_due(c, j, 1);
	return j;
}

struct ssh_job *ssh_start_stream(struct ssh *c, const char *cmd, struct sbuf *out, struct sbuf *errout)
{
	struct ssh_job *j = ssh_start(c, cmd, NULL, 0, out, errout);
	if (j) {
		j->stream = 1;
		j->due = 0; /* each answer's, armed by its reader */
	}
	return j;
}

void ssh_feed(struct ssh_job *j, const char *data, size_t len)
{
	sb_add(&j->fed, data, len);
	j->in = j->fed.s;
	j->inlen = j->fed.len;
}

/*
 * Move a job along without blocking: stdin, stdout and stderr together, so
 * that a full window in one direction cannot stall the others.  Returns
 * SSH_DONE (j's status is set), SSH_MOVED, SSH_BLOCKED or -1.
 */
int ssh_step(struct ssh *c, struct ssh_job *j)
{
	char buf[32768];
	int moved = 0, r = -1;
	libssh2_session_set_blocking(c->s, 0);
	if (j->closing)
		goto close;
	if (j->off < j->inlen) {
		ssize_t n = libssh2_channel_write(j->ch, j->in + j->off, j->inlen - j->off);
		if (n > 0)
			j->off += (size_t)n, moved = 1;
		else if (n != LIBSSH2_ERROR_EAGAIN)
			goto broken;
		if (j->fed.s && j->off == j->inlen) /* all sent: the buffer starts over */
			j->fed.len = j->off = j->inlen = 0;
	} else if (!j->eof_sent && !j->stream) {
		int e = libssh2_channel_send_eof(j->ch);
		if (e == 0)
			j->eof_sent = moved = 1;
		else if (e != LIBSSH2_ERROR_EAGAIN)
			goto broken;
	}
	for (int stream = 0; stream < 2; stream++) {
		struct sbuf *to = stream ? j->err : j->out;
		size_t got = 0;
		ssize_t n = 0;
		while (got < STEP_READ && (n = libssh2_channel_read_ex(j->ch, stream, buf, sizeof buf)) > 0) {
			moved = 1;
			got += (size_t)n;
			if (to && to->len + (size_t)n > j->cap) {
				char w[32];
				fail(c, "an answer longer than %s: stopped reading it", size_words(j->cap, w));
				goto out;
			}
			if (to)
				sb_add(to, buf, (size_t)n);
			else if (stream == 0 && (fwrite(buf, 1, (size_t)n, stdout) != (size_t)n || fflush(stdout)))
				goto broken;
		}
		if (n < 0 && n != LIBSSH2_ERROR_EAGAIN)
			goto broken;
	}
	if (!moved && !libssh2_channel_eof(j->ch) && j->due && clock_ms() > j->due) {
		/* Nothing more has come, and the answer is not whole. */
		fail(c, "the answer was not whole after %d s (%d x io_timeout)", SSH_DUE_TIMES * c->timeout_ms / 1000,
		    SSH_DUE_TIMES);
		goto out;
	}
	if (!libssh2_channel_eof(j->ch) || moved) {
		r = moved ? SSH_MOVED : SSH_BLOCKED;
		goto out;
	}
	j->closing = 1;
close:
	r = libssh2_channel_close(j->ch);
	if (r == LIBSSH2_ERROR_EAGAIN) {
		r = SSH_BLOCKED;
		goto out;
	}
	j->status = libssh2_channel_get_exit_status(j->ch);
	r = SSH_DONE;
	goto out;
broken:
	fail(c, "connection lost: %s", lib_error(c));
	r = -1;
out:
	libssh2_session_set_blocking(c->s, 1);
	return r;
}

int ssh_job_status(const struct ssh_job *j)
{
	return j->status;
}

int ssh_wait(struct ssh *c)
{
	return wait_socket(c);
}

void ssh_job_free(struct ssh_job *j)
{
	if (!j)
		return;
	libssh2_channel_free(j->ch);
	sb_free(&j->fed);
	free(j);
}

int ssh_finish(struct ssh *c, struct ssh_job *j)
{
	int r;
	while ((r = ssh_step(c, j)) != SSH_DONE) {
		if (r < 0) {
			ssh_job_free(j);
			return -1;
		}
		if (r != SSH_BLOCKED)
			continue;
		/* A stream (a followed log) may be quiet for long: keep the
		 * connection alive instead of timing out. */
		if (!j->out) {
			struct pollfd p = {.fd = c->sock, .events = POLLIN};
			if (poll(&p, 1, 15000) == 0)
				ssh_keepalive(c);
		} else if (wait_socket(c) < 0) {
			ssh_job_free(j);
			return -1;
		}
	}
	int status = j->status;
	ssh_job_free(j);
	return status;
}

int ssh_exec(struct ssh *c, const char *cmd, const char *in, size_t inlen,
    struct sbuf *out, struct sbuf *errout)
{
	struct ssh_job *j = ssh_start(c, cmd, in, inlen, out, errout);
	return j ? ssh_finish(c, j) : -1;
}

static LIBSSH2_SFTP *sftp(struct ssh *c)
{
	if (!c->sftp && !(c->sftp = libssh2_sftp_init(c->s)))
		fail(c, "cannot start SFTP: %s", lib_error(c));
	return c->sftp;
}

int ssh_stat(struct ssh *c, const char *path, uint64_t *size)
{
	LIBSSH2_SFTP_ATTRIBUTES a;
	if (!sftp(c))
		return -1;
	if (libssh2_sftp_stat_ex(c->sftp, path, (unsigned)strlen(path), LIBSSH2_SFTP_STAT, &a) == 0) {
		if (size)
			*size = a.filesize;
		return 0;
	}
	if (libssh2_sftp_last_error(c->sftp) == LIBSSH2_FX_NO_SUCH_FILE)
		return 1;
	fail(c, "%s: cannot stat: %s", path, lib_error(c));
	return -1;
}

static LIBSSH2_SFTP_HANDLE *open_remote(struct ssh *c, const char *path, unsigned long flags)
{
	if (!sftp(c))
		return NULL;
	LIBSSH2_SFTP_HANDLE *f = libssh2_sftp_open_ex(c->sftp, path, (unsigned)strlen(path), flags,
	    0644, LIBSSH2_SFTP_OPENFILE);
	if (!f)
		fail(c, "%s: cannot open: %s", path, lib_error(c));
	return f;
}

/* Move tmp over path; an existing path is replaced (remove, then rename). */
static int rename_remote(struct ssh *c, const char *tmp, const char *path)
{
	unsigned tl = (unsigned)strlen(tmp), pl = (unsigned)strlen(path);
	long flags = LIBSSH2_SFTP_RENAME_OVERWRITE | LIBSSH2_SFTP_RENAME_ATOMIC | LIBSSH2_SFTP_RENAME_NATIVE;
	if (libssh2_sftp_rename_ex(c->sftp, tmp, tl, path, pl, flags) == 0)
		return 0;
	/* SFTP v3 servers refuse to rename over a file. */
	libssh2_sftp_unlink_ex(c->sftp, path, pl);
	if (libssh2_sftp_rename_ex(c->sftp, tmp, tl, path, pl, flags) == 0)
		return 0;
	fail(c, "%s: cannot rename into place: %s", path, lib_error(c));
	libssh2_sftp_unlink_ex(c->sftp, tmp, tl);
	return -1;
}

/*
 * A file goes up in lanes: one SFTP channel each, writing its own part of
 * the file, side by side.  A lane's window of XFER bytes stays full:
 * libssh2 keeps what it was given in flight and returns what the server
 * has acknowledged, so the unacknowledged rest is passed again, topped up
 * from the file, and the pipeline never drains until the lane's end.  A
 * channel carries at most sshd's window (2 MiB) per round trip, as scp
 * does; two lanes carry twice that where the round trip is long.  Small
 * files, and any file where the round trip is short (the CPU is the limit
 * there, and a second lane only costs), take one lane.
 */
#define LANES 2
#define LANE_MIN (16u << 20) /* bytes: below this, one lane */
#define LANE_RTT_US 4000     /* a round trip shorter than this: one lane */

struct lane {
	LIBSSH2_SFTP_HANDLE *f;
	uint64_t at, end; /* the next byte to read from the file; the lane's end */
	char *buf;        /* 2 * XFER bytes */
	size_t off, have; /* buf[off, off + have): read, not yet acknowledged */
};

/* Move a lane along: 1 moved, 0 blocked or finished, -1 failed. */
static int lane_step(struct ssh *c, struct lane *l, int fd, const char *local, const char *remote, uint64_t *total)
{
	if (l->off >= XFER) { /* a copy at most once per XFER bytes sent */
		memmove(l->buf, l->buf + l->off, l->have);
		l->off = 0;
	}
	while (l->at < l->end && l->have < XFER) {
		size_t want = XFER - l->have;
		if (want > l->end - l->at)
			want = (size_t)(l->end - l->at);
		ssize_t n = pread(fd, l->buf + l->off + l->have, want, (off_t)l->at);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			fail(c, "%s: %s", local, n < 0 ? strerror(errno) : "shorter than it was");
			return -1;
		}
		l->have += (size_t)n;
		l->at += (uint64_t)n;
	}
	if (!l->have)
		return 0;
	ssize_t w = libssh2_sftp_write(l->f, l->buf + l->off, l->have);
	if (w == LIBSSH2_ERROR_EAGAIN)
		return 0;
	if (w < 0) {
		fail(c, "%s: write failed: %s", remote, lib_error(c));
		return -1;
	}
	l->off += (size_t)w;
	l->have -= (size_t)w;
	*total += (uint64_t)w;
	return 1;
}

int ssh_put_file(struct ssh *c, const char *local, const char *remote, uint64_t *sent)
{
	int fd = open(local, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		fail(c, "%s: %s", local, strerror(errno));
		return -1;
	}
	struct stat st;
	uint64_t size = fstat(fd, &st) == 0 ? (uint64_t)st.st_size : 0, total = 0;
	char *tmp = part_name(remote); /* hidden, as a local download's part */
	struct lane lane[LANES] = {{0}};
	/* The open is one round trip: a second lane where it is long enough
	 * for the window to be the limit, not on a LAN (where the CPU is). */
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	lane[0].f = open_remote(c, tmp, LIBSSH2_FXF_WRITE | LIBSSH2_FXF_CREAT | LIBSSH2_FXF_TRUNC);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	long rtt_us = (t1.tv_sec - t0.tv_sec) * 1000000L + (t1.tv_nsec - t0.tv_nsec) / 1000;
	int n = size >= LANE_MIN && rtt_us >= LANE_RTT_US ? LANES : 1, r = lane[0].f ? 0 : -1;
	for (int i = 1; i < n && r == 0; i++) {
		if (!c->sftp2 && !(c->sftp2 = libssh2_sftp_init(c->s))) {
			n = i; /* one lane, then */
			break;
		}
		lane[i].f = libssh2_sftp_open_ex(c->sftp2, tmp, (unsigned)strlen(tmp), LIBSSH2_FXF_WRITE, 0644,
		    LIBSSH2_SFTP_OPENFILE);
		if (!lane[i].f) {
			fail(c, "%s: cannot open: %s", tmp, lib_error(c));
			r = -1;
		}
	}
	for (int i = 0; i < n; i++) {
		lane[i].at = size / (uint64_t)n * (uint64_t)i;
		lane[i].end = i == n - 1 ? size : size / (uint64_t)n * (uint64_t)(i + 1);
		lane[i].buf = xmalloc(2 * XFER);
		if (lane[i].f)
			libssh2_sftp_seek64(lane[i].f, lane[i].at);
	}
	const char *base = strrchr(local, '/') ? strrchr(local, '/') + 1 : local;
	libssh2_session_set_blocking(c->s, n == 1); /* one lane simply waits */
	for (int busy = 1; r == 0 && busy;) {
		progress(base, total, size, "B");
		int moved = 0;
		busy = 0;
		for (int i = 0; i < n && r == 0; i++) {
			int m = lane_step(c, &lane[i], fd, local, remote, &total);
			r = m < 0 ? -1 : 0;
			moved |= m > 0;
			busy |= lane[i].at < lane[i].end || lane[i].have;
		}
		if (r == 0 && busy && !moved && wait_socket(c) < 0)
			r = -1;
	}
	libssh2_session_set_blocking(c->s, 1);
	progress_end();
	for (int i = 0; i < n; i++) {
		if (lane[i].f && libssh2_sftp_close(lane[i].f) && r == 0) {
			fail(c, "%s: close failed: %s", remote, lib_error(c));
			r = -1;
		}
		free(lane[i].buf);
	}
	if (lane[0].f)
		r = r == 0 ? rename_remote(c, tmp, remote) : (libssh2_sftp_unlink_ex(c->sftp, tmp, (unsigned)strlen(tmp)), -1);
	if (sent)
		*sent = r == 0 ? total : 0;
	free(tmp);
	close(fd);
	return r;
}

int ssh_get_file(struct ssh *c, const char *remote, const char *local, uint64_t size, uint64_t *got)
{
	LIBSSH2_SFTP_HANDLE *f = open_remote(c, remote, LIBSSH2_FXF_READ);
	if (!f)
		return -1;
	char *tmp = part_name(local);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
	char *buf = xmalloc(XFER);
	int r = fd < 0 ? -1 : 0;
	if (fd < 0)
		fail(c, "%s: %s", tmp, strerror(errno));
	uint64_t total = 0;
	LIBSSH2_SFTP_ATTRIBUTES a; /* a round trip, for the progress line only */
	if (size == UINT64_MAX)
		size = libssh2_sftp_fstat(f, &a) == 0 ? a.filesize : 0;
	const char *base = strrchr(remote, '/') ? strrchr(remote, '/') + 1 : remote;
	while (r == 0) {
		progress(base, total, size, "B");
		ssize_t n = libssh2_sftp_read(f, buf, XFER);
		if (n < 0) {
			fail(c, "%s: read failed: %s", remote, lib_error(c));
			r = -1;
		}
		if (n <= 0)
			break;
		for (ssize_t o = 0; o < n && r == 0;) {
			ssize_t w = write(fd, buf + o, (size_t)(n - o));
			if (w < 0 && errno != EINTR) {
				fail(c, "%s: %s", local, strerror(errno));
				r = -1;
			}
			o += w > 0 ? w : 0;
		}
		total += (uint64_t)n;
	}
	progress_end();
	libssh2_sftp_close(f);
	if (fd >= 0) {
		int bad = fsync(fd) < 0;
		bad |= close(fd) < 0;
		if (bad && r == 0) {
			fail(c, "%s: %s", local, strerror(errno));
			r = -1;
		}
	}
	if (r == 0 && rename(tmp, local) < 0) {
		fail(c, "%s: %s", local, strerror(errno));
		r = -1;
	}
	if (r < 0)
		unlink(tmp);
	if (got)
		*got = total;
	free(buf);
	free(tmp);
	return r;
}
