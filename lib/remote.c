/* remote.c - hosts, our scripts on them, and inputs by content; see remote.h. */
#define _GNU_SOURCE
#include "remote.h"
#include "local.h"
#include "store.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_REMOTES 16

static struct {
	char *name;
	struct remote *r;
} cache[MAX_REMOTES];
static int ncache;

const char *share_dir(void)
{
	static char *dir;
	if (dir)
		return dir;
	const char *e = getenv("COSMOS_SHARE");
	if (e && *e)
		return dir = xstrdup(e);
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	if (n > 0) {
		exe[n] = '\0';
		char *slash = strrchr(exe, '/');
		if (slash)
			*slash = '\0';
		dir = xasprintf("%s/../share/cosmos", exe);
	} else
		dir = xstrdup("/usr/local/share/cosmos");
	return dir;
}

int sha256_file(const char *path, char hex[65])
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	if (!ctx || !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL)) {
		EVP_MD_CTX_free(ctx);
		close(fd);
		errno = ENOMEM;
		return -1;
	}
	char *buf = xmalloc(1 << 20);
	ssize_t n;
	while ((n = read(fd, buf, 1 << 20)) > 0 || (n < 0 && errno == EINTR))
		if (n > 0)
			EVP_DigestUpdate(ctx, buf, (size_t)n);
	int e = errno;
	unsigned char md[32];
	unsigned len = 0;
	EVP_DigestFinal_ex(ctx, md, &len);
	EVP_MD_CTX_free(ctx);
	free(buf);
	close(fd);
	if (n < 0) {
		errno = e;
		return -1;
	}
	for (int i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	return 0;
}

/* Hashes already computed in this process, keyed by file identity. */
static struct hashed {
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime;
	char hex[65];
	struct hashed *next;
} *hashed;

static int hash_cached(const char *path, const struct stat *st, char hex[65])
{
	for (struct hashed *h = hashed; h; h = h->next)
		if (h->dev == st->st_dev && h->ino == st->st_ino && h->size == st->st_size &&
		    h->mtime.tv_sec == st->st_mtim.tv_sec && h->mtime.tv_nsec == st->st_mtim.tv_nsec) {
			memcpy(hex, h->hex, 65);
			return 0;
		}
	if (sha256_file(path, hex) < 0)
		return -1;
	struct hashed *h = xmalloc(sizeof *h);
	*h = (struct hashed){st->st_dev, st->st_ino, st->st_size, st->st_mtim, "", hashed};
	memcpy(h->hex, hex, 65);
	hashed = h;
	return 0;
}

/* The scripts' version: sha256 over each script's name and content; NULL
 * with r->err when share/cosmos/remote cannot be read. */
static char *scripts_version(struct remote *r, struct sbuf *names)
{
	char *dir = xasprintf("%s/remote", share_dir()), *v = NULL;
	struct dirent **ents;
	int n = scandir(dir, &ents, NULL, alphasort);
	if (n < 0) {
		snprintf(r->err, sizeof r->err, "%s: %s", dir, strerror(errno));
		free(dir);
		return NULL;
	}
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
	int bad = 0;
	for (int i = 0; i < n; i++) {
		if (ents[i]->d_name[0] != '.' && !bad) {
			char *p = xasprintf("%s/%s", dir, ents[i]->d_name), hex[65];
			if (sha256_file(p, hex) < 0) {
				snprintf(r->err, sizeof r->err, "%s: %s", p, strerror(errno));
				bad = 1;
			} else {
				EVP_DigestUpdate(ctx, ents[i]->d_name, strlen(ents[i]->d_name) + 1);
				EVP_DigestUpdate(ctx, hex, 64);
				sb_puts(names, ents[i]->d_name);
				sb_add(names, "", 1);
			}
			free(p);
		}
		free(ents[i]);
	}
	free(ents);
	free(dir);
	unsigned char md[32];
	unsigned len;
	EVP_DigestFinal_ex(ctx, md, &len);
	EVP_MD_CTX_free(ctx);
	if (bad)
		return NULL;
	v = xmalloc(65);
	for (int i = 0; i < 32; i++)
		snprintf(v + 2 * i, 3, "%02x", md[i]);
	return v;
}

/* --- the transport: SSH, or this machine ------------------------------- */

static int t_exec(struct remote *r, const char *cmd, const char *in, size_t inlen,
    struct sbuf *out, struct sbuf *errout)
{
	if (r->ssh)
		return ssh_exec(r->ssh, cmd, in, inlen, out, errout);
	int st = local_exec(cmd, in, inlen, out, errout);
	if (st < 0)
		snprintf(r->err, sizeof r->err, "local: cannot run a command: %s", strerror(errno));
	return st;
}

/* Keep the transport's last error in r->err (msg when it has none to
 * give).  The local transport wrote r->err itself: never copied onto
 * itself. */
static void t_error(struct remote *r, const char *msg)
{
	if (r->ssh)
		snprintf(r->err, sizeof r->err, "%s", msg ? msg : ssh_error(r->ssh));
	else if (msg)
		snprintf(r->err, sizeof r->err, "%s", msg);
}

static int t_stat(struct remote *r, const char *path, uint64_t *size)
{
	if (r->ssh)
		return ssh_stat(r->ssh, path, size);
	struct stat st;
	if (stat(path, &st) == 0) {
		*size = (uint64_t)st.st_size;
		return 0;
	}
	if (errno == ENOENT)
		return 1;
	snprintf(r->err, sizeof r->err, "local: %s: %s", path, strerror(errno));
	return -1;
}

static int t_put_file(struct remote *r, const char *local, const char *path, uint64_t *sent)
{
	if (r->ssh)
		return ssh_put_file(r->ssh, local, path, sent);
	int rc = local_copy(local, path, sent);
	if (rc < 0) /* the side that failed: our file, or the work directory's */
		snprintf(r->err, sizeof r->err, "local: %s: %s", rc == -1 ? local : path, strerror(errno));
	return rc < 0 ? -1 : 0;
}

static int t_get_file(struct remote *r, const char *path, const char *local, uint64_t size, uint64_t *got)
{
	if (r->ssh)
		return ssh_get_file(r->ssh, path, local, size, got);
	int rc = local_copy(path, local, got);
	if (rc < 0) /* the side that failed: the work directory's file, or the store's */
		snprintf(r->err, sizeof r->err, "local: %s: %s", rc == -1 ? path : local, strerror(errno));
	return rc < 0 ? -1 : 0;
}

struct rjob {
	struct ssh_job *ssh;
	int status;
	char *in;
	struct sbuf out, err;
	struct stream *via; /* its starter, while its answer is due */
};

/*
 * A starter: a shell on the host reading commands from a channel that
 * stays open, so a start needs no channel of its own (opening one and
 * starting a command on it cost two round trips, and libssh2 opens one
 * channel at a time).  Each command is sent as
 *	( TAIL ) <<'NONCE'
 *	IN
 *	NONCE
 *	printf '\n%s %s\n' NONCE $?; printf '\n%s\n' NONCE >&2
 * and runs to its end before the next: what came on stdout before
 * "\nNONCE STATUS\n" and on stderr before "\nNONCE\n" is its answer.  The
 * nonce is fresh from the kernel for each starter, so no input or output
 * can end an answer early.  Up to STARTERS run side by side, so that slow
 * starts (a real docker run takes a second) still overlap.
 *
 * A start's answer is a line and docker's few words: a starter holds at
 * most START_MAX bytes of each of stdout and stderr, and each answer is
 * due within ssh.h's deadline from the moment its starter can begin on
 * it (it was sent to an idle starter, or the answer before it came).
 */
#define STARTERS 4
#define START_MAX (1u << 20)
struct stream {
	struct ssh_job *ch;
	struct sbuf out, err;
	char nonce[ID_LEN + 1];
	struct rjob **due;  /* whose answers are coming, oldest first */
	size_t head, n, cap;
	int dead;
};

struct rjob *remote_start(struct remote *r, const char *tail, const char *in, size_t inlen)
{
	struct sbuf cmd = {0};
	sb_printf(&cmd, "%s%s", r->cd.s, tail);
	struct rjob *j = xmalloc(sizeof *j);
	*j = (struct rjob){.status = -1};
	if (in && inlen) {
		j->in = xmalloc(inlen);
		memcpy(j->in, in, inlen);
	}
	if (r->ssh && !(j->ssh = ssh_start(r->ssh, cmd.s, j->in, inlen, &j->out, &j->err))) {
		snprintf(r->err, sizeof r->err, "%s", ssh_error(r->ssh));
		remote_job_free(j);
		j = NULL;
	} else if (!r->ssh)
		j->status = t_exec(r, cmd.s, j->in, inlen, &j->out, &j->err);
	sb_free(&cmd);
	return j;
}

/* A shell in the work dir reading commands from a channel that stays
 * open, and a fresh nonce for its answers. */
static struct ssh_job *shell_open(struct remote *r, char nonce[ID_LEN + 1], struct sbuf *out, struct sbuf *err)
{
	id_new(ID_RUN, nonce);
	struct sbuf cmd = {0};
	sb_printf(&cmd, "%sexec sh", r->cd.s);
	struct ssh_job *j = ssh_start_stream(r->ssh, cmd.s, out, err);
	sb_free(&cmd);
	return j;
}

static struct stream *stream_open(struct remote *r)
{
	struct stream *s = xmalloc(sizeof *s);
	*s = (struct stream){0};
	s->ch = shell_open(r, s->nonce, &s->out, &s->err);
	if (!s->ch) {
		snprintf(r->err, sizeof r->err, "%s", ssh_error(r->ssh));
		free(s);
		return NULL;
	}
	ssh_job_cap(s->ch, START_MAX);
	r->streams = xrealloc(r->streams, (size_t)(r->nstreams + 1) * sizeof *r->streams);
	r->streams[r->nstreams++] = s;
	return s;
}

/* The starter with the fewest answers due; a new one while there are few. */
static struct stream *stream_pick(struct remote *r)
{
	struct stream *best = NULL;
	for (int i = 0; i < r->nstreams; i++) {
		struct stream *s = r->streams[i];
		if (!s->dead && (!best || s->n - s->head < best->n - best->head))
			best = s;
	}
	/* Another shell only while each has two waiting: a fast host keeps
	 * one busy, a slow one (a real docker run) gets up to STARTERS. */
	if (best && best->n - best->head < 2)
		return best;
	return r->nstreams < STARTERS ? stream_open(r) : best;
}

struct rjob *remote_start_streamed(struct remote *r, const char *tail, const char *in, size_t inlen)
{
	if (!r->ssh || !inlen || in[inlen - 1] != '\n' || memchr(in, '\0', inlen))
		return remote_start(r, tail, in, inlen);
	struct stream *s = stream_pick(r);
	if (!s) {
		if (r->nstreams == STARTERS)
			snprintf(r->err, sizeof r->err, "%s: every shell for starts has ended", r->host.name);
		return NULL;
	}
	struct rjob *j = xmalloc(sizeof *j);
	*j = (struct rjob){.status = -1, .via = s};
	if (s->n == s->cap) {
		s->cap = s->cap ? 2 * s->cap : 8;
		s->due = xrealloc(s->due, s->cap * sizeof *s->due);
	}
	s->due[s->n++] = j;
	if (s->n - s->head == 1) /* the starter was idle: it begins on this one now */
		ssh_job_due(r->ssh, s->ch, 1);
	struct sbuf b = {0};
	sb_printf(&b, "( %s ) <<'%s'\n", tail, s->nonce);
	sb_add(&b, in, inlen);
	sb_printf(&b, "%s\nprintf '\\n%%s %%s\\n' %s $?; printf '\\n%%s\\n' %s >&2\n", s->nonce, s->nonce, s->nonce);
	ssh_feed(s->ch, b.s, b.len);
	sb_free(&b);
	return j;
}

/* Drop the first n bytes of b. */
static void sb_drop(struct sbuf *b, size_t n)
{
	memmove(b->s, b->s + n, b->len - n + 1);
	b->len -= n;
}

/* The oldest due answer, if all of it has come: 1, else 0. */
static int stream_answer(struct stream *s)
{
	char om[ID_LEN + 3], em[ID_LEN + 3];
	int ol = snprintf(om, sizeof om, "\n%s ", s->nonce), el = snprintf(em, sizeof em, "\n%s\n", s->nonce);
	char *o = s->out.len ? memmem(s->out.s, s->out.len, om, (size_t)ol) : NULL;
	char *e = s->err.len ? memmem(s->err.s, s->err.len, em, (size_t)el) : NULL;
	char *nl = o ? memchr(o + ol, '\n', s->out.len - (size_t)(o + ol - s->out.s)) : NULL;
	if (!nl || !e)
		return 0;
	struct rjob *j = s->due[s->head++];
	long status = -1;
	*nl = '\0';
	if (parse_long(o + ol, &status) < 0 || status < 0 || status > 255)
		status = -1;
	if (j) {
		sb_add(&j->out, s->out.s, (size_t)(o - s->out.s));
		sb_add(&j->err, s->err.s, (size_t)(e - s->err.s));
		j->status = (int)status;
		j->via = NULL;
	}
	sb_drop(&s->out, (size_t)(nl + 1 - s->out.s));
	sb_drop(&s->err, (size_t)(e + el - s->err.s));
	return 1;
}

/* A starter that broke or ended: its due jobs fail with r->err. */
static void stream_fail(struct stream *s)
{
	s->dead = 1;
	while (s->head < s->n) {
		struct rjob *j = s->due[s->head++];
		if (j)
			j->via = NULL; /* status stays -1 */
	}
}

/* Move every starter of r along; whether anything moved. */
static int streams_step(struct remote *r)
{
	int moved = 0;
	for (int i = 0; i < r->nstreams; i++) {
		struct stream *s = r->streams[i];
		if (s->dead)
			continue;
		int st = ssh_step(r->ssh, s->ch);
		size_t head = s->head;
		moved |= st == SSH_MOVED;
		while (stream_answer(s))
			moved = 1;
		if (s->head != head) /* the next answer's time starts now */
			ssh_job_due(r->ssh, s->ch, s->head < s->n);
		if (st < 0 || st == SSH_DONE) {
			if (s->head < s->n)
				snprintf(r->err, sizeof r->err, "%s", st < 0 ? ssh_error(r->ssh) : "the host's shell ended");
			stream_fail(s);
			moved = 1;
		}
	}
	return moved;
}

int remote_step(struct remote *r, struct rjob *j)
{
	if (j->via) {
		int moved = streams_step(r);
		return !j->via ? STEP_DONE : moved ? STEP_MOVED : STEP_BLOCKED;
	}
	if (!j->ssh)
		return STEP_DONE;
	int st = ssh_step(r->ssh, j->ssh);
	if (st == SSH_DONE)
		j->status = ssh_job_status(j->ssh);
	if (st < 0)
		snprintf(r->err, sizeof r->err, "%s", ssh_error(r->ssh));
	return st;
}

int remote_wait(struct remote *r)
{
	if (r->ssh && ssh_wait(r->ssh) < 0) {
		snprintf(r->err, sizeof r->err, "%s", ssh_error(r->ssh));
		return -1;
	}
	return 0;
}

int remote_job_status(const struct rjob *j)
{
	return j->status;
}

struct sbuf *remote_job_out(struct rjob *j)
{
	return &j->out;
}

struct sbuf *remote_job_err(struct rjob *j)
{
	return &j->err;
}

void remote_job_free(struct rjob *j)
{
	if (!j)
		return;
	if (j->via) /* its answer is still due: it will be read and dropped */
		for (size_t i = j->via->head; i < j->via->n; i++)
			if (j->via->due[i] == j)
				j->via->due[i] = NULL;
	ssh_job_free(j->ssh);
	free(j->in);
	sb_free(&j->out);
	sb_free(&j->err);
	free(j);
}

int remote_run(struct remote *r, const char *tail, const char *in, size_t inlen,
    struct sbuf *out, struct sbuf *errout)
{
	struct sbuf cmd = {0};
	sb_printf(&cmd, "%s%s", r->cd.s, tail);
	int st = t_exec(r, cmd.s, in, inlen, out, errout);
	if (st < 0)
		t_error(r, NULL);
	sb_free(&cmd);
	return st;
}

int remote_connect(struct remote *r)
{
	r->ssh = ssh_open(&r->host, r->err, sizeof r->err, &r->code);
	return r->ssh ? 0 : r->code ? r->code : EX_UNAVAIL;
}

/*
 * One command: the work dir's layout, then, unless bashscripts/.version
 * already names this version, a script on stdin that writes each of our
 * scripts beside its place and moves it there (here-documents ended by a
 * fresh nonce).  The scripts go along either way (a few KiB): one round
 * trip, where asking first and copying each by SFTP took thirty.
 */
#define FACTS "cosmos-facts"

/*
 * The host's GPU slots from what the install printed after FACTS: the
 * gpus key resolved (auto: the "GPU N: ..." lines of nvidia-smi -L; a
 * count N: 0..N-1; 0 or none: no GPUs; else the list as it is) and the
 * slots of a host without GPUs (the key, else its processors).
 */
static int read_facts(struct remote *r, char *text)
{
	const struct host *h = &r->host;
	char *p = text ? strstr(text, FACTS "\n") : NULL, *save = NULL;
	struct sbuf list = {0};
	long n = 0, nproc = 0, v;
	int noflock = 0;
	for (char *l = p ? strtok_r(p, "\n", &save) : NULL; l; l = strtok_r(NULL, "\n", &save)) {
		int idx, off = 0;
		if (!strcmp(l, "noflock"))
			noflock = 1;
		else if (sscanf(l, "GPU %d: %n", &idx, &off) == 1 && off && idx >= 0 && idx < 1024)
			sb_printf(&list, "%s%d", n++ ? "," : "", idx);
		else if (!strncmp(l, "nproc ", 6) && parse_long(l + 6, &v) == 0 && v > 0)
			nproc = v;
	}
	if (noflock) {
		snprintf(r->err, sizeof r->err, "%s: no flock(1) on the host (util-linux): its GPU slots need it", h->name);
		sb_free(&list);
		return -1;
	}
	if (strcmp(h->gpus, "auto")) {
		sb_free(&list);
		n = 0;
		if (parse_long(h->gpus, &v) == 0) {
			for (long i = 0; i < v && i < 1024; i++)
				sb_printf(&list, "%s%ld", n++ ? "," : "", i);
		} else if (strcmp(h->gpus, "none")) {
			sb_puts(&list, h->gpus);
			n = 1;
			for (const char *c = h->gpus; *c; c++)
				n += *c == ',';
		}
	}
	r->gpu_list = list.s;
	r->ngpus = (int)n;
	r->nslots = h->slots ? h->slots : nproc > 0 ? (int)(nproc < 1024 ? nproc : 1024) : 1;
	return 0;
}

int remote_install(struct remote *r)
{
	struct sbuf cmd = {0}, in = {0}, out = {0}, err = {0}, names = {0};
	if (r->host.hf_token_file && r->runtime && !strcmp(r->runtime, "slurm")) {
		/* Its jobs would run without it: said, not ignored. */
		snprintf(r->err, sizeof r->err, "host '%s': hf_token_file: not passed to Slurm jobs yet (cosmos(7) HOSTS)",
		    shown(r->host.name));
		return EX_UNAVAIL;
	}
	char *version = scripts_version(r, &names), nonce[ID_LEN + 1];
	int rc = EX_STORE;
	if (!version)
		goto out;
	id_new(ID_RUN, nonce);
	sb_puts(&in, "umask 022\n");
	for (const char *n = names.s; n && n < names.s + names.len; n += strlen(n) + 1) {
		char *local = xasprintf("%s/remote/%s", share_dir(), n);
		size_t len = 0;
		char *data = sb_slurp(local, &len);
		if (!data || !len || data[len - 1] != '\n' || memchr(data, '\0', len)) {
			snprintf(r->err, sizeof r->err, "%s: %s", local, data ? "not a text file" : strerror(errno));
			free(data);
			free(local);
			goto out;
		}
		/* Beside its place under a name of this shell's ($$): two
		 * programs may install at once (make -j). */
		sb_printf(&in, "cat >bashscripts/.new.$$.");
		sb_quote(&in, n);
		sb_printf(&in, " <<'%s'\n", nonce);
		sb_add(&in, data, len);
		sb_printf(&in, "%s\nchmod +x bashscripts/.new.$$.", nonce);
		sb_quote(&in, n);
		sb_puts(&in, " && mv -f bashscripts/.new.$$.");
		sb_quote(&in, n);
		sb_puts(&in, " bashscripts/");
		sb_quote(&in, n);
		sb_puts(&in, "\n");
		free(data);
		free(local);
	}
	sb_printf(&in, "printf %%s %s >bashscripts/.new.$$.version && mv -f bashscripts/.new.$$.version bashscripts/.version\n",
	    version);
	sb_printf(&cmd, "%smkdir -p bashscripts cas runs outputs queue slots || exit 1; mkdir -p ", r->cd.s);
	sb_quote_home(&cmd, r->host.hf_cache);
	/* What an upload cut off left (a part no one has written to for an
	 * hour) goes too. */
	sb_puts(&cmd, " 2>/dev/null; find cas -name '.*.part*' -mmin +60 -exec rm -f {} + 2>/dev/null;");
	sb_printf(&cmd, " if [ \"$(cat bashscripts/.version 2>/dev/null)\" = %s ]; "
	    "then cat >/dev/null; else sh -e; fi", version);
	if (r->slots)
		sb_printf(&cmd, " && echo %s && { command -v flock >/dev/null || echo noflock; }%s%s", FACTS,
		    strcmp(r->host.gpus, "auto") ? "" : " && { nvidia-smi -L 2>/dev/null || true; }",
		    r->host.slots ? "" : " && echo nproc $(getconf _NPROCESSORS_ONLN)");
	int st = t_exec(r, cmd.s, in.s, in.len, &out, &err);
	rc = st ? EX_UNAVAIL : 0;
	if (!st && r->slots && read_facts(r, out.s) < 0)
		rc = EX_UNAVAIL;
	if (st > 0) {
		if (err.s)
			err.s[strcspn(err.s, "\n")] = '\0';
		char *msg = xasprintf("cannot prepare the work dir: %s", err.s && *err.s ? shown(err.s) : "no message");
		t_error(r, msg);
		free(msg);
	} else if (st < 0)
		t_error(r, NULL);
out:
	sb_free(&cmd);
	sb_free(&in);
	sb_free(&out);
	sb_free(&err);
	sb_free(&names);
	free(version);
	return rc;
}

struct remote *remote_get(const char *name, char *err, size_t errlen)
{
	*err = '\0';
	const char *key = name ? name : "";
	for (int i = 0; i < ncache; i++)
		if (!strcmp(cache[i].name, key))
			return cache[i].r;
	if (ncache == MAX_REMOTES) {
		snprintf(err, errlen, "more than %d hosts in one run", MAX_REMOTES);
		return NULL;
	}
	struct remote *r = xmalloc(sizeof *r);
	memset(r, 0, sizeof *r);
	int found = host_lookup(name, &r->host, err, errlen);
	if (found == 1) /* no host configured, or "local": this machine */
		r->host.name = xstrdup("local"), r->host.backend = xstrdup("local");
	if (found >= 0 && !(r->ops = backend_find(r->host.backend)))
		snprintf(err, errlen, "host '%s': backend '%s' is not one of %s", shown(r->host.name),
		    shown(r->host.backend), backend_names());
	if (found < 0 || !r->ops || r->ops->configure(&r->host, err, errlen) < 0) {
		host_free(&r->host);
		free(r);
		return NULL;
	}
	const char *wd = r->host.workdir;
	if (wd) { /* the shell kinds' */
		r->sftp_dir = xstrdup(strncmp(wd, "~/", 2) ? wd : wd + 2);
		sb_puts(&r->cd, "cd ");
		sb_quote_home(&r->cd, wd);
		sb_puts(&r->cd, " && ");
	}
	int rc = r->ops->open(r);
	if (rc) {
		r->failed = 1;
		r->code = rc;
	}
	cache[ncache].name = xstrdup(key);
	cache[ncache++].r = r;
	return r;
}

static void fetcher_free(struct fetcher *f);

void remote_close_all(void)
{
	for (int i = 0; i < ncache; i++) {
		struct remote *r = cache[i].r;
		if (r->ops->close)
			r->ops->close(r);
		fetcher_free(r->fetcher);
		for (int k = 0; k < r->nstreams; k++) {
			ssh_job_free(r->streams[k]->ch);
			sb_free(&r->streams[k]->out);
			sb_free(&r->streams[k]->err);
			free(r->streams[k]->due);
			free(r->streams[k]);
		}
		free(r->streams);
		ssh_close(r->ssh);
		host_free(&r->host);
		free(r->engine);
		free(r->gpu_list);
		sb_free(&r->cd);
		free(r->sftp_dir);
		for (size_t j = 0; j < r->nstaged; j++)
			free(r->staged[j]);
		free(r->staged);
		free(r);
		free(cache[i].name);
	}
	ncache = 0;
	while (hashed) {
		struct hashed *n = hashed->next;
		free(hashed);
		hashed = n;
	}
}

/* The extension to keep in the content address: [a-z0-9]{1,8} or "bin". */
static const char *extension(const char *path)
{
	const char *dot = strrchr(path, '.'), *slash = strrchr(path, '/');
	if (!dot || (slash && dot < slash) || strlen(dot + 1) < 1 || strlen(dot + 1) > 8)
		return "bin";
	for (const char *p = dot + 1; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9')))
			return "bin";
	return dot + 1;
}

char *remote_stage(struct remote *r, const char *local)
{
	struct stat st;
	char hex[65];
	if (stat(local, &st) < 0 || hash_cached(local, &st, hex) < 0) {
		snprintf(r->err, sizeof r->err, "%s: %s", shown(local), strerror(errno));
		return NULL;
	}
	char *rel = xasprintf("cas/%s.%s", hex, extension(local));
	/* Content this process has seen on the host needs no second look. */
	for (size_t i = 0; i < r->nstaged; i++)
		if (!strcmp(r->staged[i], rel))
			return rel;
	char *path = xasprintf("%s/%s", r->sftp_dir, rel);
	uint64_t size = 0, sent = 0;
	int there = t_stat(r, path, &size);
	if (there == 0 && size == (uint64_t)st.st_size)
		goto done;
	if (there < 0 || t_put_file(r, local, path, &sent) < 0) {
		t_error(r, NULL);
		if (r->ssh && ssh_broken(r->ssh)) /* the input is fine: a new attempt may go */
			snprintf(r->why_code, sizeof r->why_code, "connection_lost");
		free(rel);
		rel = NULL;
	}
	r->sent += sent;
done:
	if (rel) {
		r->staged = xrealloc(r->staged, (r->nstaged + 1) * sizeof *r->staged);
		r->staged[r->nstaged++] = xstrdup(rel);
	}
	free(path);
	return rel;
}

int remote_exists(struct remote *r, const char *rel)
{
	char *path = xasprintf("%s/%s", r->sftp_dir, rel);
	uint64_t size;
	int there = t_stat(r, path, &size);
	free(path);
	return there == 0;
}

/*
 * The prefetcher: one shell on the host that sends outputs back to back.
 * For each file it is told
 *	if [ "$(wc -c <REL 2>/dev/null)" = SIZE ]; then echo NONCE ok; cat REL;
 *	echo; echo NONCE end; else echo NONCE no; fi
 * so that the stream is: "NONCE ok\n", SIZE bytes, "\nNONCE end\n"; or
 * "NONCE no\n" for a file that is not as listed.  Anything else breaks the
 * stream, and what it had not yet brought goes by SFTP.  The bytes go
 * straight to a hidden file in the store, fsynced before it is renamed.
 *
 * So does what a host that prints without end or a byte at a time would
 * make of it (#22): a header line longer than PF_LINE_MAX, more than
 * PF_MAX bytes held at once (it holds one step's read between files),
 * or fewer than PF_MIN_RATE bytes a second over an io_timeout while a
 * fetch waits on it, as lib/http.c's downloads.  A file's whole time has
 * no bound (its size has none): only its rate.
 */
#define PF_LINE_MAX 4096
#define PF_MAX (1u << 20)
#define PF_MIN_RATE 1024
enum { PF_DUE, PF_HERE, PF_FAILED, PF_USED };
struct pf {
	char *rel, *tmp;
	uint64_t size;
	int state;
};
struct fetcher {
	struct ssh_job *ch;
	struct sbuf out, err;
	char nonce[ID_LEN + 1];
	struct pf *v;
	size_t n, cur;
	int phase, fd; /* 0: a header is due, 1: the body, 2: the trailer */
	uint64_t left;
	uint64_t got;  /* bytes come, for the rate */
	int dead;
	char why[256]; /* the transport's word, when it broke the stream */
};

/* What a killed sync's prefetcher left in the store: its process is gone. */
static void clear_stale_prefetches(void)
{
	char *dir = xasprintf("%s/runs", store_root());
	parts_clear_dir(dir, ".prefetch.");
	free(dir);
}

static void pf_fail_rest(struct fetcher *f)
{
	if (f->fd >= 0) {
		close(f->fd);
		unlink(f->v[f->cur].tmp);
		f->fd = -1;
	}
	for (; f->cur < f->n; f->cur++)
		f->v[f->cur].state = PF_FAILED;
	f->dead = 1;
}

/* Take what has come: files finished, a file begun or refused. */
static void pf_take(struct fetcher *f)
{
	char head[ID_LEN + 8], tail[ID_LEN + 8];
	int hl = snprintf(head, sizeof head, "%s ok\n", f->nonce), tl = snprintf(tail, sizeof tail, "\n%s end\n", f->nonce);
	while (!f->dead && f->cur < f->n) {
		struct pf *x = &f->v[f->cur];
		if (f->phase == 0) {
			char *nl = f->out.len ? memchr(f->out.s, '\n', f->out.len) : NULL;
			if (!nl && f->out.len > PF_LINE_MAX) {
				snprintf(f->why, sizeof f->why, "outputs streamed ahead: a header line longer than %d bytes",
				    PF_LINE_MAX);
				pf_fail_rest(f);
			}
			if (!nl)
				return;
			size_t len = (size_t)(nl + 1 - f->out.s);
			if (len == (size_t)hl && !memcmp(f->out.s, head, len)) {
				f->fd = open(x->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
				if (f->fd < 0) {
					pf_fail_rest(f);
					return;
				}
				f->phase = 1;
				f->left = x->size;
			} else if (len == (size_t)hl && !memcmp(f->out.s, f->nonce, strlen(f->nonce)) &&
			           !memcmp(f->out.s + strlen(f->nonce), " no\n", 4)) {
				x->state = PF_FAILED;
				f->cur++;
			} else {
				pf_fail_rest(f);
				return;
			}
			sb_drop(&f->out, len);
		} else if (f->phase == 1) {
			size_t k = f->out.len < f->left ? f->out.len : (size_t)f->left;
			for (size_t o = 0; o < k;) {
				ssize_t w = write(f->fd, f->out.s + o, k - o);
				if (w < 0 && errno == EINTR)
					continue;
				if (w <= 0) {
					pf_fail_rest(f);
					return;
				}
				o += (size_t)w;
			}
			sb_drop(&f->out, k);
			f->left -= k;
			if (f->left)
				return;
			f->phase = 2;
		} else {
			if (f->out.len < (size_t)tl)
				return;
			int bad = memcmp(f->out.s, tail, (size_t)tl) != 0;
			bad |= fsync(f->fd) < 0;
			bad |= close(f->fd) < 0;
			f->fd = -1;
			if (bad) {
				unlink(x->tmp);
				pf_fail_rest(f);
				return;
			}
			sb_drop(&f->out, (size_t)tl);
			x->state = PF_HERE;
			f->cur++;
			f->phase = 0;
		}
	}
}

/* Move the prefetcher along; whether anything moved. */
static int pf_step(struct remote *r, struct fetcher *f)
{
	size_t had = f->out.len;
	int st = ssh_step(r->ssh, f->ch);
	f->got += f->out.len - had;
	size_t before = f->cur;
	uint64_t left = f->left;
	pf_take(f);
	f->err.len = 0; /* its complaints are only for the SFTP retry to repeat */
	if (st < 0 || (st == SSH_DONE && f->cur < f->n)) {
		snprintf(f->why, sizeof f->why, "%s", st < 0 ? ssh_error(r->ssh) : "the host's shell ended");
		pf_fail_rest(f);
	}
	return st == SSH_MOVED || f->cur != before || f->left != left;
}

void remote_prefetch(struct remote *r, const char *const *rels, const uint64_t *sizes, size_t n)
{
	if (!r->ssh || !n)
		return;
	struct fetcher *f = r->fetcher;
	if (f && f->dead)
		return; /* it broke once: SFTP for the rest of this process */
	if (!f) {
		clear_stale_prefetches();
		f = xmalloc(sizeof *f);
		*f = (struct fetcher){.fd = -1};
		f->ch = shell_open(r, f->nonce, &f->out, &f->err);
		if (!f->ch) {
			free(f);
			return;
		}
		ssh_job_cap(f->ch, PF_MAX);
		r->fetcher = f;
	}
	struct sbuf b = {0};
	for (size_t i = 0; i < n; i++) {
		f->v = xrealloc(f->v, (f->n + 1) * sizeof *f->v);
		struct pf *x = &f->v[f->n];
		x->rel = xstrdup(rels[i]);
		x->size = sizes[i];
		x->state = PF_DUE;
		x->tmp = xasprintf("%s/runs/.prefetch.%s.%zu.part%ld", store_root(), f->nonce + 3, f->n, (long)getpid());
		f->n++;
		sb_puts(&b, "if [ \"$(wc -c <");
		sb_quote(&b, rels[i]);
		sb_printf(&b, " 2>/dev/null)\" = %llu ]; then echo %s ok; cat ", (unsigned long long)sizes[i], f->nonce);
		sb_quote(&b, rels[i]);
		sb_printf(&b, "; echo; echo %s end; else echo %s no; fi\n", f->nonce, f->nonce);
	}
	ssh_feed(f->ch, b.s, b.len);
	sb_free(&b);
	pf_step(r, f);
}

/* rel as the prefetcher brought it, renamed to local: 0; else -1. */
static int prefetched(struct remote *r, const char *rel, const char *local, uint64_t size)
{
	struct fetcher *f = r->fetcher;
	struct pf *x = NULL;
	for (size_t i = 0; f && i < f->n && !x; i++)
		if ((f->v[i].state == PF_DUE || f->v[i].state == PF_HERE) && f->v[i].size == size && !strcmp(f->v[i].rel, rel))
			x = &f->v[i];
	if (!x)
		return -1;
	long long window = (long long)r->host.io_timeout * 1000, since = clock_ms();
	uint64_t mark = f->got;
	while (x->state == PF_DUE) {
		int moved = pf_step(r, f);
		if (x->state != PF_DUE)
			break;
		if (clock_ms() - since >= window) { /* the rate, over each io_timeout waited */
			if (f->got - mark < (uint64_t)PF_MIN_RATE * (uint64_t)r->host.io_timeout) {
				snprintf(f->why, sizeof f->why, "outputs streamed ahead came slower than %d bytes a second for %d s",
				    PF_MIN_RATE, r->host.io_timeout);
				pf_fail_rest(f);
				break;
			}
			since = clock_ms();
			mark = f->got;
		}
		if (!moved && ssh_wait(r->ssh) < 0) {
			snprintf(f->why, sizeof f->why, "%s", ssh_error(r->ssh));
			pf_fail_rest(f);
		}
	}
	if (x->state != PF_HERE)
		return -1;
	x->state = PF_USED;
	if (rename(x->tmp, local) < 0) {
		unlink(x->tmp);
		return -1;
	}
	return 0;
}

static void fetcher_free(struct fetcher *f)
{
	if (!f)
		return;
	if (f->fd >= 0)
		close(f->fd);
	for (size_t i = 0; i < f->n; i++) {
		if (f->v[i].state != PF_USED)
			unlink(f->v[i].tmp); /* brought for nothing, or cut short */
		free(f->v[i].rel);
		free(f->v[i].tmp);
	}
	free(f->v);
	ssh_job_free(f->ch);
	sb_free(&f->out);
	sb_free(&f->err);
	free(f);
}

int remote_fetch(struct remote *r, const char *rel, const char *local, uint64_t size)
{
	if (prefetched(r, rel, local, size) == 0)
		return 0;
	char *path = xasprintf("%s/%s", r->sftp_dir, rel);
	uint64_t got = 0;
	int rc = t_get_file(r, path, local, size, &got);
	if (rc < 0 && r->fetcher && *r->fetcher->why) /* the cause, not its echo */
		snprintf(r->err, sizeof r->err, "%s: read failed: %s", rel, r->fetcher->why);
	else if (rc < 0)
		t_error(r, NULL);
	else if (got != size) {
		snprintf(r->err, sizeof r->err, "%s: got %llu bytes, expected %llu", rel,
		    (unsigned long long)got, (unsigned long long)size);
		unlink(local);
		rc = -1;
	}
	free(path);
	return rc;
}
