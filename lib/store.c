/* store.c - the run store; see store.h for the layout and invariants. */
#define _GNU_SOURCE
#include "store.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *const kind_dir[] = {"runs", "prompts"};
static const char *const kind_prefix[] = {"rs_", "ps_"};

static char *root;
static int dirfd_of[2] = {-1, -1};
static mode_t file_mode = 0644;

enum id_kind id_kind(const char *s)
{
	if (!s || strlen(s) != ID_LEN)
		return ID_BAD;
	for (const char *p = s + 3; *p; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
			return ID_BAD;
	for (int k = ID_RUN; k <= ID_PROMPT; k++)
		if (strncmp(s, kind_prefix[k], 3) == 0)
			return (enum id_kind)k;
	return ID_BAD;
}

void id_new(enum id_kind kind, char out[ID_LEN + 1])
{
	unsigned char r[16];
	size_t got = 0;
	while (got < sizeof r) {
		ssize_t n = getrandom(r + got, sizeof r - got, 0);
		if (n < 0 && errno != EINTR)
			err_(EX_STORE, "getrandom");
		if (n > 0)
			got += (size_t)n;
	}
	memcpy(out, kind_prefix[kind], 3);
	for (int i = 0; i < 16; i++)
		snprintf(out + 3 + 2 * i, 3, "%02x", r[i]);
}

const char *store_root(void)
{
	if (root)
		return root;
	const char *e = getenv("COSMOS_DIR");
	if (e && *e)
		root = xstrdup(e);
	else if ((e = getenv("XDG_STATE_HOME")) && *e == '/')
		root = xasprintf("%s/cosmos", e);
	else if ((e = getenv("HOME")) && *e)
		root = xasprintf("%s/.local/state/cosmos", e);
	else
		root = xstrdup(".cosmos");
	return root;
}

/* mkdir -p for the root: its parents may not exist on a new machine. */
static int mkdirs(const char *path)
{
	char *p = xstrdup(path);
	for (char *s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, 0755) < 0 && errno != EEXIST) {
			free(p);
			return -1;
		}
		*s = '/';
	}
	int r = mkdir(p, 0755) < 0 && errno != EEXIST ? -1 : 0;
	free(p);
	return r;
}

int store_open(int create)
{
	/* While part of the store is missing, look again each time: another
	 * process (earlier in a pipeline, say) may have just made it. */
	if (dirfd_of[ID_RUN] >= 0 && dirfd_of[ID_PROMPT] >= 0)
		return 0;
	mode_t m = umask(0);
	umask(m);
	file_mode = 0666 & ~m;
	if (create && mkdirs(store_root()) < 0)
		return -1;
	int rfd = open(store_root(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rfd < 0)
		return !create && errno == ENOENT ? 0 : -1; /* nothing stored yet: empty */
	for (int k = ID_RUN; k <= ID_PROMPT; k++) {
		if (dirfd_of[k] >= 0)
			continue;
		if (create && mkdirat(rfd, kind_dir[k], 0755) < 0 && errno != EEXIST)
			goto fail;
		dirfd_of[k] = openat(rfd, kind_dir[k], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dirfd_of[k] < 0 && (create || errno != ENOENT))
			goto fail;
	}
	close(rfd);
	return 0;
fail:;
	int e = errno;
	close(rfd);
	errno = e;
	return -1;
}

/* The directory fd of an id's kind, or -1 with errno set. */
static int kind_fd(const char *id, int create)
{
	enum id_kind k = id_kind(id);
	if (k == ID_BAD) {
		errno = EINVAL;
		return -1;
	}
	if (store_open(create) < 0)
		return -1;
	if (dirfd_of[k] < 0)
		errno = ENOENT;
	return dirfd_of[k];
}

static char *read_fd(int fd, size_t *len)
{
	struct stat st;
	if (fstat(fd, &st) < 0)
		return NULL;
	size_t cap = (size_t)st.st_size + 1, n = 0;
	char *buf = xmalloc(cap);
	for (;;) {
		if (n + 1 >= cap)
			buf = xrealloc(buf, cap *= 2);
		ssize_t r = read(fd, buf + n, cap - n - 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			free(buf);
			return NULL;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	buf[n] = '\0';
	*len = n;
	return buf;
}

static int write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t w = write(fd, buf, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		buf += w;
		len -= (size_t)w;
	}
	return 0;
}

char *record_line(const cJSON *rec, size_t *len)
{
	char *s = cJSON_PrintUnformatted(rec);
	if (!s)
		errx_(EX_STORE, "cannot serialize record");
	size_t n = strlen(s);
	char *line = xmalloc(n + 2);
	memcpy(line, s, n);
	line[n] = '\n';
	line[n + 1] = '\0';
	cJSON_free(s);
	*len = n + 1;
	return line;
}

void record_print(const cJSON *rec)
{
	size_t len;
	char *line = record_line(rec, &len);
	fwrite(line, 1, len, stdout);
	free(line);
}

cJSON *record_parse(const char *buf, size_t len)
{
	cJSON *rec = cJSON_ParseWithLength(buf, len);
	if (!cJSON_IsObject(rec)) {
		cJSON_Delete(rec);
		errno = EBADMSG;
		return NULL;
	}
	return rec;
}

static char *read_at(int dfd, const char *id, size_t *len)
{
	char name[ID_LEN + 8];
	snprintf(name, sizeof name, "%s.json", id);
	int fd = openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return NULL;
	char *buf = read_fd(fd, len);
	int e = errno;
	close(fd);
	errno = e;
	return buf;
}

static cJSON *load_at(int dfd, const char *id)
{
	size_t len;
	char *buf = read_at(dfd, id, &len);
	if (!buf)
		return NULL;
	cJSON *rec = record_parse(buf, len);
	free(buf);
	return rec;
}

char *store_read(const char *id, size_t *len)
{
	int dfd = kind_fd(id, 0);
	return dfd < 0 ? NULL : read_at(dfd, id, len);
}

cJSON *store_load(const char *id)
{
	int dfd = kind_fd(id, 0);
	return dfd < 0 ? NULL : load_at(dfd, id);
}

/*
 * Write rec to a hidden temporary file next to its final name and fsync it.
 * Returns the temporary name (caller frees) or NULL.
 */
static char *write_temp(int dfd, const char *id, const cJSON *rec)
{
	char *tmp = xasprintf(".%s.json.tmpXXXXXX", id);
	size_t len;
	char *line = record_line(rec, &len);
	/* mkstemp(3) takes a path; we have a directory fd, so pick the
	 * random suffix ourselves and create it with O_EXCL. */
	int fd = -1;
	for (int tries = 0; tries < 100 && fd < 0; tries++) {
		unsigned char r[6];
		if (getrandom(r, sizeof r, 0) != sizeof r)
			break;
		for (int i = 0; i < 6; i++)
			tmp[strlen(tmp) - 6 + i] = "0123456789abcdef"[r[i] & 15];
		fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, file_mode);
		if (fd < 0 && errno != EEXIST)
			break;
	}
	if (fd < 0)
		goto fail;
	if (write_all(fd, line, len) < 0 || fsync(fd) < 0) {
		int e = errno;
		close(fd);
		unlinkat(dfd, tmp, 0);
		errno = e;
		goto fail;
	}
	if (close(fd) < 0) {
		int e = errno;
		unlinkat(dfd, tmp, 0);
		errno = e;
		goto fail;
	}
	free(line);
	return tmp;
fail:
	free(line);
	free(tmp);
	return NULL;
}

int store_create(const cJSON *rec)
{
	const cJSON *idj = cJSON_GetObjectItemCaseSensitive(rec, "id");
	const char *id = cJSON_GetStringValue(idj);
	int dfd = kind_fd(id, 1);
	if (dfd < 0)
		return -1;
	char *tmp = write_temp(dfd, id, rec);
	if (!tmp)
		return -1;
	char name[ID_LEN + 8];
	snprintf(name, sizeof name, "%s.json", id);
	/* link(2), not rename(2): creating must never replace a record. */
	int r = linkat(dfd, tmp, dfd, name, 0);
	int e = errno;
	unlinkat(dfd, tmp, 0);
	free(tmp);
	if (r < 0) {
		errno = e;
		return -1;
	}
	return fsync(dfd);
}

/* flock(2) the sidecar .ID.SUFFIX; the open fd, or -1 with errno
 * (EWOULDBLOCK: held by another, with how LOCK_NB). */
static int lock_sidecar(int dfd, const char *id, const char *suffix, int how)
{
	char name[ID_LEN + 16];
	snprintf(name, sizeof name, ".%s.%s", id, suffix);
	int fd = openat(dfd, name, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, file_mode);
	if (fd < 0)
		return -1;
	while (flock(fd, how) < 0) {
		if (errno != EINTR) {
			int e = errno;
			close(fd);
			errno = e;
			return -1;
		}
	}
	return fd;
}

int store_update(const char *id, store_fn fn, void *arg, cJSON **out)
{
	int dfd = kind_fd(id, 1);
	if (dfd < 0)
		return -1;
	int lfd = lock_sidecar(dfd, id, "lock", LOCK_EX);
	if (lfd < 0)
		return -1;
	int verdict = -1, e = 0;
	cJSON *rec = load_at(dfd, id);
	if (!rec) {
		e = errno;
		goto done;
	}
	verdict = fn(rec, arg);
	if (verdict == STORE_WRITE) {
		char ts[TIMESTAMP_LEN];
		timestamp_now(ts);
		cJSON_DeleteItemFromObjectCaseSensitive(rec, "updated_at");
		cJSON_AddStringToObject(rec, "updated_at", ts);
		char *tmp = write_temp(dfd, id, rec);
		char name[ID_LEN + 8];
		snprintf(name, sizeof name, "%s.json", id);
		if (!tmp || renameat(dfd, tmp, dfd, name) < 0 || fsync(dfd) < 0) {
			e = errno;
			if (tmp)
				unlinkat(dfd, tmp, 0);
			verdict = -1;
		}
		free(tmp);
	}
done:
	close(lfd); /* releases the lock */
	if (verdict >= 0 && out)
		*out = rec;
	else
		cJSON_Delete(rec);
	if (verdict < 0)
		errno = e;
	return verdict;
}

char *store_run_dir(const char *id, int create)
{
	if (id_kind(id) != ID_RUN) {
		errno = EINVAL;
		return NULL;
	}
	if (store_open(create) < 0)
		return NULL;
	char *path = xasprintf("%s/runs/%s", store_root(), id);
	if (create && mkdir(path, 0755) < 0 && errno != EEXIST) {
		int e = errno;
		free(path);
		errno = e;
		return NULL;
	}
	return path;
}

/* Is name "<prefix><32 hex>.json"?  Then copy the id out. */
static int record_name(const char *name, enum id_kind kind, char id[ID_LEN + 1])
{
	size_t n = strlen(name);
	if (n != ID_LEN + 5 || strcmp(name + ID_LEN, ".json") != 0)
		return 0;
	memcpy(id, name, ID_LEN);
	id[ID_LEN] = '\0';
	return id_kind(id) == kind;
}

int store_scan(enum id_kind kind, store_scan_fn fn, void *arg)
{
	if (store_open(0) < 0)
		return -1;
	if (dirfd_of[kind] < 0)
		return 0; /* nothing stored yet */
	int dfd = dup(dirfd_of[kind]);
	if (dfd < 0)
		return -1;
	DIR *d = fdopendir(dfd);
	if (!d) {
		close(dfd);
		return -1;
	}
	rewinddir(d);
	struct dirent *de;
	char id[ID_LEN + 1];
	while ((de = readdir(d))) {
		if (!record_name(de->d_name, kind, id))
			continue;
		size_t len = 0;
		char *buf = read_at(dirfd_of[kind], id, &len);
		if (buf || errno != ENOENT) /* ENOENT: removed since readdir */
			fn(id, buf, len, buf ? 0 : errno, arg);
	}
	closedir(d);
	return 0;
}

int store_claim(const char *id)
{
	int dfd = kind_fd(id, 1);
	return dfd < 0 ? -1 : lock_sidecar(dfd, id, "claim", LOCK_EX | LOCK_NB);
}

void store_unclaim(int fd)
{
	if (fd >= 0)
		close(fd);
}
