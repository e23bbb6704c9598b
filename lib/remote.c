/* remote.c - hosts, our scripts on them, and inputs by content; see remote.h. */
#define _GNU_SOURCE
#include "remote.h"
#include "local.h"
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

/* A local file's content; NULL with errno. */
static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return NULL;
	struct sbuf b = {0};
	char buf[8192];
	size_t n;
	while ((n = fread(buf, 1, sizeof buf, f)) > 0)
		sb_add(&b, buf, n);
	int bad = ferror(f);
	fclose(f);
	if (bad) {
		sb_free(&b);
		errno = EIO;
		return NULL;
	}
	*len = b.len;
	return b.s ? b.s : xstrdup("");
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

static int t_put_data(struct remote *r, const char *data, size_t len, const char *path)
{
	if (r->ssh)
		return ssh_put_data(r->ssh, data, len, path);
	char *tmp = part_name(path);
	FILE *f = fopen(tmp, "we");
	int rc = f && fwrite(data, 1, len, f) == len ? 0 : -1;
	if (f && fclose(f) != 0)
		rc = -1;
	if (rc == 0 && rename(tmp, path) < 0)
		rc = -1;
	if (rc < 0) {
		snprintf(r->err, sizeof r->err, "local: %s: %s", path, strerror(errno));
		unlink(tmp);
	}
	free(tmp);
	return rc;
}

static int t_get_file(struct remote *r, const char *path, const char *local, uint64_t *got)
{
	if (r->ssh)
		return ssh_get_file(r->ssh, path, local, got);
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
};

struct rjob *remote_start(struct remote *r, const char *tail, const char *in, size_t inlen)
{
	struct sbuf cmd = {0};
	sb_printf(&cmd, "%s%s", r->cd.s, tail);
	struct rjob *j = xmalloc(sizeof *j);
	*j = (struct rjob){NULL, -1, NULL, {0}, {0}};
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

int remote_step(struct remote *r, struct rjob *j)
{
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

int remote_install(struct remote *r)
{
	struct sbuf cmd = {0}, out = {0}, names = {0};
	char *version = scripts_version(r, &names);
	if (!version) {
		sb_free(&names);
		return EX_STORE;
	}
	sb_printf(&cmd, "%smkdir -p bashscripts cas runs outputs && cat bashscripts/.version 2>/dev/null; mkdir -p ",
	    r->cd.s);
	sb_quote_home(&cmd, r->host.hf_cache);
	sb_puts(&cmd, " 2>/dev/null; true");
	int st = t_exec(r, cmd.s, NULL, 0, &out, NULL);
	int rc = EX_UNAVAIL;
	if (st != 0) {
		t_error(r, st < 0 ? NULL : "cannot prepare the work dir");
		goto out;
	}
	if (out.s && strncmp(out.s, version, 64) == 0) {
		rc = 0;
		goto out;
	}
	sb_free(&cmd);
	sb_printf(&cmd, "%schmod +x", r->cd.s);
	for (const char *n = names.s; n && n < names.s + names.len; n += strlen(n) + 1) {
		char *local = xasprintf("%s/remote/%s", share_dir(), n);
		char *dest = xasprintf("%s/bashscripts/%s", r->sftp_dir, n);
		size_t len = 0;
		char *data = slurp(local, &len);
		int bad = !data ? -2 : t_put_data(r, data, len, dest);
		if (bad == -2) {
			snprintf(r->err, sizeof r->err, "%s: %s", local, strerror(errno));
			rc = EX_STORE;
		} else if (bad)
			t_error(r, NULL);
		free(data);
		free(local);
		free(dest);
		if (bad)
			goto out;
		sb_puts(&cmd, " bashscripts/");
		sb_quote(&cmd, n);
	}
	sb_puts(&cmd, " && printf %s ");
	sb_quote(&cmd, version);
	sb_puts(&cmd, " >bashscripts/.version");
	sb_free(&out);
	if ((st = t_exec(r, cmd.s, NULL, 0, &out, NULL)) != 0)
		t_error(r, st < 0 ? NULL : "cannot install scripts");
	else
		rc = 0;
out:
	sb_free(&cmd);
	sb_free(&out);
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

void remote_close_all(void)
{
	for (int i = 0; i < ncache; i++) {
		struct remote *r = cache[i].r;
		if (r->ops->close)
			r->ops->close(r);
		ssh_close(r->ssh);
		host_free(&r->host);
		free(r->engine);
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

int remote_fetch(struct remote *r, const char *rel, const char *local, uint64_t size)
{
	char *path = xasprintf("%s/%s", r->sftp_dir, rel);
	uint64_t got = 0;
	int rc = t_get_file(r, path, local, &got);
	if (rc < 0)
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
