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
	if (!ctx || !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL))
		errx_(EX_STORE, "libcrypto: cannot start sha256");
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

/* The scripts' version: sha256 over each script's name and content. */
static char *scripts_version(struct sbuf *names)
{
	char *dir = xasprintf("%s/remote", share_dir());
	struct dirent **ents;
	int n = scandir(dir, &ents, NULL, alphasort);
	if (n < 0)
		err_(EX_STORE, "%s", dir);
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
	for (int i = 0; i < n; i++) {
		if (ents[i]->d_name[0] != '.') {
			char *p = xasprintf("%s/%s", dir, ents[i]->d_name), hex[65];
			if (sha256_file(p, hex) < 0)
				err_(EX_STORE, "%s", p);
			EVP_DigestUpdate(ctx, ents[i]->d_name, strlen(ents[i]->d_name) + 1);
			EVP_DigestUpdate(ctx, hex, 64);
			sb_puts(names, ents[i]->d_name);
			sb_add(names, "", 1);
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
	char *v = xmalloc(65);
	for (int i = 0; i < 32; i++)
		snprintf(v + 2 * i, 3, "%02x", md[i]);
	return v;
}

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "re");
	if (!f)
		err_(EX_STORE, "%s", path);
	struct sbuf b = {0};
	char buf[8192];
	size_t n;
	while ((n = fread(buf, 1, sizeof buf, f)) > 0)
		sb_add(&b, buf, n);
	fclose(f);
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

static const char *t_error(struct remote *r)
{
	return r->ssh ? ssh_error(r->ssh) : r->err;
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
	return errno == ENOENT ? 1 : -1;
}

static int t_put_file(struct remote *r, const char *local, const char *path, uint64_t *sent)
{
	if (r->ssh)
		return ssh_put_file(r->ssh, local, path, sent);
	int rc = local_copy(local, path, sent);
	if (rc < 0)
		snprintf(r->err, sizeof r->err, "local: %s: %s", path, strerror(errno));
	return rc;
}

static int t_put_data(struct remote *r, const char *data, size_t len, const char *path)
{
	if (r->ssh)
		return ssh_put_data(r->ssh, data, len, path);
	char *tmp = xasprintf("%s.part%ld", path, (long)getpid());
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
	if (rc < 0)
		snprintf(r->err, sizeof r->err, "local: %s: %s", path, strerror(errno));
	return rc;
}

struct rjob {
	struct ssh_job *ssh;
	int status;
};

struct rjob *remote_start(struct remote *r, const char *tail, const char *in, size_t inlen,
    struct sbuf *out, struct sbuf *errout)
{
	struct sbuf cmd = {0};
	sb_printf(&cmd, "%s%s", r->cd.s, tail);
	struct rjob *j = xmalloc(sizeof *j);
	*j = (struct rjob){NULL, -1};
	if (r->ssh && !(j->ssh = ssh_start(r->ssh, cmd.s, in, inlen, out, errout))) {
		snprintf(r->err, sizeof r->err, "%s", ssh_error(r->ssh));
		free(j);
		j = NULL;
	} else if (!r->ssh)
		j->status = t_exec(r, cmd.s, in, inlen, out, errout);
	sb_free(&cmd);
	return j;
}

int remote_step(struct remote *r, struct rjob *j)
{
	if (!j->ssh)
		return SSH_DONE;
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

void remote_job_free(struct rjob *j)
{
	if (j)
		ssh_job_free(j->ssh);
	free(j);
}

/* Make the work dir's layout and bring our scripts up to date. */
static int install_scripts(struct remote *r)
{
	struct sbuf cmd = {0}, out = {0}, names = {0};
	char *version = scripts_version(&names);
	sb_printf(&cmd, "%smkdir -p bashscripts cas runs outputs && cat bashscripts/.version 2>/dev/null; mkdir -p ",
	    r->cd.s);
	sb_quote_home(&cmd, r->host.hf_cache);
	sb_puts(&cmd, " 2>/dev/null; true");
	int st = t_exec(r, cmd.s, NULL, 0, &out, NULL);
	int rc = -1;
	if (st != 0) {
		snprintf(r->err, sizeof r->err, "%s", st < 0 ? t_error(r) : "cannot prepare the work dir");
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
		size_t len;
		char *data = slurp(local, &len);
		int bad = t_put_data(r, data, len, dest);
		free(data);
		free(local);
		free(dest);
		if (bad) {
			snprintf(r->err, sizeof r->err, "%s", t_error(r));
			goto out;
		}
		sb_puts(&cmd, " bashscripts/");
		sb_quote(&cmd, n);
	}
	sb_puts(&cmd, " && printf %s ");
	sb_quote(&cmd, version);
	sb_puts(&cmd, " >bashscripts/.version");
	sb_free(&out);
	if ((st = t_exec(r, cmd.s, NULL, 0, &out, NULL)) != 0)
		snprintf(r->err, sizeof r->err, "%s", st < 0 ? t_error(r) : "cannot install scripts");
	else
		rc = 0;
out:
	sb_free(&cmd);
	sb_free(&out);
	sb_free(&names);
	free(version);
	return rc;
}

/*
 * This machine as a host: the work dir is $COSMOS_DIR/local (for the real
 * model, COSMOS_LOCAL_WORKDIR: a cosmos-transfer1 checkout); the runtime
 * is docker where docker runs and sees a GPU, else detached processes
 * running the reference engine (COSMOS_LOCAL_RUNTIME, COSMOS_LOCAL_ENGINE
 * override both).
 */
static int local_host(struct remote *r)
{
	r->local = 1;
	r->host.name = xstrdup("local");
	if (store_open(1) < 0) {
		snprintf(r->err, sizeof r->err, "%s: %s", store_root(), strerror(errno));
		return -1;
	}
	const char *wd = getenv("COSMOS_LOCAL_WORKDIR");
	r->host.workdir = wd && *wd ? xstrdup(wd) : xasprintf("%s/local", store_root());
	if (mkdir(r->host.workdir, 0755) < 0 && errno != EEXIST) {
		snprintf(r->err, sizeof r->err, "%s: %s", r->host.workdir, strerror(errno));
		return -1;
	}
	const char *e = getenv("COSMOS_LOCAL_RUNTIME");
	if (e && *e && strcmp(e, "docker") && strcmp(e, "process")) {
		snprintf(r->err, sizeof r->err, "COSMOS_LOCAL_RUNTIME: '%s' is not docker or process", shown(e));
		return -1;
	}
	if (!e || !*e)
		e = local_exec("docker info >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1", NULL, 0, NULL, NULL) == 0
		    ? "docker" : "process";
	r->runtime = !strcmp(e, "docker") ? "docker" : "process";
	const char *eng = getenv("COSMOS_LOCAL_ENGINE");
	r->engine = xstrdup(eng && *eng ? eng : !strcmp(r->runtime, "docker") ? "cosmos" : "reference");
	const char *img = getenv("COSMOS_LOCAL_IMAGE");
	r->host.image = xstrdup(img && *img ? img : "nvcr.io/nvidia/cosmos/cosmos-transfer1:latest");
	r->host.docker_options = xstrdup("--gpus all --ipc=host --shm-size=8g");
	r->host.hf_cache = xstrdup("~/.cache/huggingface");
	r->host.user = xstrdup("");
	r->host.address = xstrdup("localhost");
	return 0;
}

struct remote *remote_get(const char *name, char *err, size_t errlen)
{
	*err = '\0';
	const char *key = name ? name : "";
	for (int i = 0; i < ncache; i++)
		if (!strcmp(cache[i].name, key))
			return cache[i].r;
	struct remote *r = calloc(1, sizeof *r);
	if (!r)
		err_(EX_STORE, "calloc");
	int found = host_lookup(name, &r->host, err, errlen);
	if (found < 0) {
		free(r);
		return NULL;
	}
	if (found == 1 && local_host(r) < 0) {
		snprintf(err, errlen, "%s", r->err);
		free(r);
		return NULL;
	}
	const char *wd = r->host.workdir;
	r->sftp_dir = xstrdup(strncmp(wd, "~/", 2) ? wd : wd + 2);
	sb_puts(&r->cd, "cd ");
	sb_quote_home(&r->cd, wd);
	sb_puts(&r->cd, " && ");
	if (!r->local) {
		r->runtime = r->host.sudo ? "sudo-docker" : "docker";
		r->ssh = ssh_open(&r->host, r->err, sizeof r->err, &r->code);
	}
	if ((!r->local && !r->ssh) || install_scripts(r) < 0) {
		r->failed = 1;
		r->code = EX_UNAVAIL;
	}
	if (ncache == MAX_REMOTES)
		errx_(EX_USAGE_, "more than %d hosts in one run", MAX_REMOTES);
	cache[ncache].name = xstrdup(key);
	cache[ncache++].r = r;
	return r;
}

void remote_close_all(void)
{
	for (int i = 0; i < ncache; i++) {
		struct remote *r = cache[i].r;
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

int remote_ctl(struct remote *r, const char *words, const char *in, size_t inlen,
    struct sbuf *out, struct sbuf *errout)
{
	char *tail = xasprintf("exec sh bashscripts/cosmos-ctl %s", words);
	struct rjob *j = remote_start(r, tail, in, inlen, out, errout);
	free(tail);
	if (!j)
		return -1;
	int st = j->ssh ? ssh_finish(r->ssh, j->ssh) : j->status;
	j->ssh = NULL;
	remote_job_free(j);
	if (st < 0)
		snprintf(r->err, sizeof r->err, "%s", t_error(r));
	return st;
}

int remote_one(struct remote *r, const char *verb, const char *runtime, const char *id,
    const char *container, int follow, struct sbuf *out, struct sbuf *errout)
{
	struct sbuf words = {0};
	sb_puts(&words, verb); /* a literal of ours: cancel or log */
	const char *args[] = {runtime, id, container};
	for (int i = 0; i < 3; i++) {
		sb_puts(&words, " ");
		sb_quote(&words, args[i]);
	}
	if (follow)
		sb_puts(&words, " follow");
	int st = remote_ctl(r, words.s, NULL, 0, out, errout);
	sb_free(&words);
	return st;
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
		snprintf(r->err, sizeof r->err, "%s", t_error(r));
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
		snprintf(r->err, sizeof r->err, "%s", t_error(r));
	else if (got != size) {
		snprintf(r->err, sizeof r->err, "%s: got %llu bytes, expected %llu", rel,
		    (unsigned long long)got, (unsigned long long)size);
		unlink(local);
		rc = -1;
	}
	free(path);
	return rc;
}
