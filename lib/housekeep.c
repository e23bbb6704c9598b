/*
 * housekeep.c - cosmos delete and cosmos verify; see housekeep.h for the
 * invariants.
 *
 * A delete has three steps, each safe to die after:
 *   1. under the record's lock, the run checked terminal and its record
 *      renamed to runs/.ID.json.delete<pid> (.delete-outputs<pid> when the
 *      outputs go too) and the directory synced: from here on no reader
 *      sees the record;
 *   2. the run's folder emptied of all but what is kept;
 *   3. the hidden record removed.
 * A hidden record whose pid is dead is a delete to finish, as it was
 * asked: hk_verify's fix does steps 2 and 3 from it.
 */
#define _GNU_SOURCE
#include "housekeep.h"
#include "finish.h"
#include "packed.h"
#include "record.h"
#include "remote.h"
#include "shell.h"
#include "store.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define HIDE_MARK ".json.delete"
#define HIDE_OUTPUTS "-outputs"
/* A folder without a record younger than this may be a batch being made. */
#define YOUNG_SECONDS 60

static const char *const store_own[] = {"request.json", "spec.json", "events.jsonl", "batch.log", ".submit", NULL};

/* --- small helpers -------------------------------------------------------- */

static const char *kind_dir(enum id_kind k)
{
	return k == ID_PROMPT ? "prompts" : "runs";
}

static char *record_path(const char *id)
{
	return xasprintf("%s/%s/%s.json", store_root(), kind_dir(id_kind(id)), id);
}

static int pid_dead(long pid)
{
	return pid > 0 && kill((pid_t)pid, 0) < 0 && errno == ESRCH;
}

static int sync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	int r = fsync(fd);
	int e = errno;
	close(fd);
	errno = e;
	return r;
}

static int remove_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path) < 0 && errno != ENOENT ? -1 : 0;
}

/* rm -r path; 0, or -1 with errno. */
static int remove_tree(const char *path)
{
	struct stat sb;
	if (lstat(path, &sb) < 0)
		return errno == ENOENT ? 0 : -1;
	if (!S_ISDIR(sb.st_mode))
		return unlink(path) < 0 && errno != ENOENT ? -1 : 0;
	return nftw(path, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

static int in_list(const char *const *list, const char *s)
{
	for (; *list; list++)
		if (!strcmp(*list, s))
			return 1;
	return 0;
}

/* Is name ".<anything>.part<pid>"?  Then its pid. */
static int part_pid(const char *name, long *pid)
{
	const char *p = strrchr(name, '.');
	return name[0] == '.' && p && p != name && !strncmp(p, ".part", 5) && parse_long(p + 5, pid) == 0 && *pid > 0;
}

/* Is name ".ID.json.delete[-outputs]<pid>" of a record id?  Then its parts. */
static int hidden_name(const char *name, char id[ID_LEN + 1], int *outputs, long *pid)
{
	size_t mark = strlen(HIDE_MARK);
	if (name[0] != '.' || strlen(name) < 1 + ID_LEN + mark + 1 || strncmp(name + 1 + ID_LEN, HIDE_MARK, mark))
		return 0;
	memcpy(id, name + 1, ID_LEN);
	id[ID_LEN] = '\0';
	const char *p = name + 1 + ID_LEN + mark;
	*outputs = !strncmp(p, HIDE_OUTPUTS, strlen(HIDE_OUTPUTS));
	if (*outputs)
		p += strlen(HIDE_OUTPUTS);
	return id_kind(id) != ID_BAD && parse_long(p, pid) == 0 && *pid > 0;
}

static cJSON *read_record_file(const char *path)
{
	size_t len;
	char *text = sb_slurp(path, &len);
	cJSON *rec = text ? record_parse(text, len) : NULL;
	free(text);
	return rec;
}

/* --- what a delete removes and keeps -------------------------------------- */

/* Does an old record (outputs beside its own files) name this file? */
static int names_output(const cJSON *rec, const char *dir, const char *name)
{
	const cJSON *out = jget(rec, "outputs"), *f;
	cJSON_ArrayForEach(f, jget(out, "files")) {
		size_t n = strcspn(f->string, "/");
		if (strlen(name) == n && !strncmp(f->string, name, n))
			return 1;
	}
	static const char *const keys[] = {"video", "log", "results"};
	for (int i = 0; i < 3; i++) {
		const char *p = jstr(out, keys[i]);
		size_t dl = strlen(dir);
		if (p && !strncmp(p, dir, dl) && p[dl] == '/' && !strcmp(p + dl + 1, name))
			return 1;
	}
	return 0;
}

/*
 * Is this entry of a deleted run's folder kept?  outputs/ is; in a folder
 * without one (an old record), the files the record names; without a
 * record to ask, all but the store's own files.
 */
static int kept_entry(const cJSON *rec, const char *dir, int has_outputs, const char *name)
{
	if (!strcmp(name, "outputs"))
		return 1;
	if (has_outputs)
		return 0;
	return rec ? names_output(rec, dir, name) : !in_list(store_own, name);
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A folder's entries but . and .., sorted (caller frees each and all). */
static char **entries(const char *dir, size_t *n)
{
	DIR *d = opendir(dir);
	char **v = NULL;
	*n = 0;
	struct dirent *e;
	while (d && (e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		v = xrealloc(v, (*n + 1) * sizeof *v);
		v[(*n)++] = xstrdup(e->d_name);
	}
	if (d)
		closedir(d);
	if (v)
		qsort(v, *n, sizeof *v, by_name);
	return v;
}

static void free_entries(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/*
 * The paths a delete of id removes and keeps, after its record (which
 * the caller lists): with outputs, the run's whole folder; else all of it
 * but what kept_entry keeps.
 */
static void plan(const char *id, const cJSON *rec, int outputs, cJSON *removed, cJSON *kept)
{
	if (id_kind(id) != ID_RUN)
		return;
	char *dir = xasprintf("%s/runs/%s", store_root(), id);
	struct stat sb;
	if (lstat(dir, &sb) < 0 || !S_ISDIR(sb.st_mode)) {
		free(dir);
		return;
	}
	if (outputs) {
		cJSON_AddItemToArray(removed, cJSON_CreateString(dir));
		free(dir);
		return;
	}
	char *od = xasprintf("%s/outputs", dir);
	int has_outputs = lstat(od, &sb) == 0 && S_ISDIR(sb.st_mode);
	free(od);
	size_t n;
	char **v = entries(dir, &n);
	for (size_t i = 0; i < n; i++) {
		char *p = xasprintf("%s/%s", dir, v[i]);
		cJSON_AddItemToArray(kept_entry(rec, dir, has_outputs, v[i]) ? kept : removed, cJSON_CreateString(p));
		free(p);
	}
	free_entries(v, n);
	free(dir);
}

/*
 * Steps 2 and 3: remove what plan lists (but the record, already hidden),
 * the folder if that left it empty, then the hidden record.  0, or -1
 * with errno (the hidden record is then left, for verify to finish).
 */
static int finish(const char *id, const char *hidden, const cJSON *removed, int outputs)
{
	const cJSON *p;
	int i = 0;
	cJSON_ArrayForEach(p, removed)
		if (i++ > 0 && remove_tree(p->valuestring) < 0)
			return -1;
	if (!outputs && id_kind(id) == ID_RUN) {
		char *dir = xasprintf("%s/runs/%s", store_root(), id);
		rmdir(dir); /* only when nothing was kept */
		free(dir);
	}
	if (unlink(hidden) < 0 && errno != ENOENT)
		return -1;
	char *dir = xasprintf("%s/%s", store_root(), kind_dir(id_kind(id)));
	sync_dir(dir);
	free(dir);
	return 0;
}

static cJSON *delete_line(const char *id, int dry_run, cJSON **removed, cJSON **kept)
{
	cJSON *o = cJSON_CreateObject();
	jset_str(o, "id", id);
	jset(o, "dry_run", cJSON_CreateBool(dry_run));
	*removed = cJSON_AddArrayToObject(o, "removed");
	*kept = cJSON_AddArrayToObject(o, "kept");
	char *rp = record_path(id);
	cJSON_AddItemToArray(*removed, cJSON_CreateString(rp));
	free(rp);
	return o;
}

/*
 * Finish the delete a dead process left hidden, as it was asked (unless
 * dry_run); *line is what it removes and keeps (caller frees).  0, or -1
 * with errno.
 */
static int finish_hidden(const char *id, const char *hidden, int outputs, int dry_run, cJSON **line)
{
	cJSON *rec = read_record_file(hidden), *removed, *kept;
	*line = delete_line(id, dry_run, &removed, &kept);
	plan(id, rec, outputs, removed, kept);
	int r = dry_run ? 0 : finish(id, hidden, removed, outputs);
	int e = errno;
	cJSON_Delete(rec);
	errno = e;
	return r;
}

/* --- delete: choosing what goes ------------------------------------------ */

struct known_run {
	char id[ID_LEN + 1];
	char *prompt, *batch;
};

struct known {
	struct known_run *v;
	size_t n;
};

static void know(const char *id, char *buf, size_t len, int err, void *arg)
{
	(void)err;
	struct known *k = arg;
	cJSON *rec = buf ? record_parse(buf, len) : NULL;
	free(buf);
	if (!rec)
		return;
	k->v = xrealloc(k->v, (k->n + 1) * sizeof *k->v);
	struct known_run *r = &k->v[k->n++];
	memcpy(r->id, id, sizeof r->id);
	const char *p = jstr(rec, "prompt_id"), *b = jstr(jget(rec, "execution_config"), "batch_run_id");
	r->prompt = p ? xstrdup(p) : NULL;
	r->batch = b ? xstrdup(b) : NULL;
	cJSON_Delete(rec);
}

static int known_has(const struct known *k, const char *id)
{
	for (size_t i = 0; i < k->n; i++)
		if (!strcmp(k->v[i].id, id))
			return 1;
	return 0;
}

struct target {
	char id[ID_LEN + 1];
	cJSON *rec;
	int via;   /* the batch parent that took it, or -1 */
	int named; /* named by the caller */
	int refused;
};

struct del {
	struct target *v;
	size_t n;
	struct known runs;
	hk_refuse_fn refuse;
	hk_emit_fn emit;
	void *arg;
	int outputs, dry_run;
	int not_done;
};

static long find(const struct del *d, const char *id)
{
	for (size_t i = 0; i < d->n; i++)
		if (!strcmp(d->v[i].id, id))
			return (long)i;
	return -1;
}

/* Is id among the records going? */
static int going(const struct del *d, const char *id)
{
	long i = find(d, id);
	return i >= 0 && !d->v[i].refused;
}

static void add_target(struct del *d, const char *id, cJSON *rec, int via, int named)
{
	d->v = xrealloc(d->v, (d->n + 1) * sizeof *d->v);
	struct target *t = &d->v[d->n++];
	memcpy(t->id, id, sizeof t->id);
	t->rec = rec;
	t->via = via;
	t->named = named;
	t->refused = 0;
}

static void refuse(struct del *d, size_t i, int quiet, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void refuse(struct del *d, size_t i, int quiet, const char *fmt, ...)
{
	d->v[i].refused = 1;
	if (quiet)
		return;
	va_list ap;
	va_start(ap, fmt);
	char *why = NULL;
	if (vasprintf(&why, fmt, ap) < 0)
		why = NULL;
	va_end(ap);
	d->refuse(d->v[i].id, why ? why : fmt, 0, d->arg);
	free(why);
	d->not_done++;
}

/* Apply the rules to one target; 1 if it was refused now. */
static int judge(struct del *d, size_t i)
{
	struct target *t = &d->v[i];
	if (id_kind(t->id) == ID_PROMPT) {
		struct sbuf b = {0};
		int more = 0;
		for (size_t k = 0; k < d->runs.n; k++) {
			const struct known_run *r = &d->runs.v[k];
			if (!r->prompt || strcmp(r->prompt, t->id) || going(d, r->id))
				continue;
			if (b.len < 3 * (ID_LEN + 2))
				sb_printf(&b, "%s%s", b.len ? ", " : "", r->id);
			else
				more++;
		}
		int has = b.len > 0;
		if (has) {
			char tail[48] = "";
			if (more)
				snprintf(tail, sizeof tail, " and %d more", more);
			refuse(d, i, 0, "it has runs (%s%s): name them too, or delete them first", b.s, tail);
		}
		sb_free(&b);
		return has;
	}
	const char *st = jstr(t->rec, "status");
	if (!status_terminal(st)) {
		if (t->via >= 0 && !t->named) {
			if (!d->v[t->via].refused)
				refuse(d, (size_t)t->via, 0, "its child %s is %s: cancel the batch first (cosmos kill %s)", t->id,
				    st ? st : "without a status", d->v[t->via].id);
			refuse(d, i, 1, "-");
		} else
			refuse(d, i, 0, "it is %s: cancel it first (cosmos kill %s)", st ? st : "without a status", t->id);
		return 1;
	}
	if (t->via >= 0 && d->v[t->via].refused && !t->named) {
		refuse(d, i, 1, "-"); /* it stays with its batch */
		return 1;
	}
	const char *b = jstr(jget(t->rec, "execution_config"), "batch_run_id");
	if (b && strcmp(b, t->id) && known_has(&d->runs, b) && !going(d, b)) {
		refuse(d, i, 0, "a child of batch %s: delete the batch, which takes its children", b);
		return 1;
	}
	/* A batch with a child refused stays whole. */
	for (size_t k = 0; k < d->n; k++)
		if (d->v[k].via == (int)i && d->v[k].refused && d->v[k].named) {
			refuse(d, i, 0, "its child %s is not deleted, so neither is the batch", d->v[k].id);
			return 1;
		}
	return 0;
}

/*
 * A record named that a killed delete hid: finish that delete, as it was
 * asked, and say so as for any record deleted.  1 if there was one.
 */
static int resume(struct del *d, const char *id)
{
	char *dir = xasprintf("%s/%s", store_root(), kind_dir(id_kind(id)));
	size_t n;
	char **v = entries(dir, &n);
	int found = 0;
	for (size_t i = 0; i < n && !found; i++) {
		char id2[ID_LEN + 1];
		int outputs;
		long pid;
		if (!hidden_name(v[i], id2, &outputs, &pid) || strcmp(id2, id) || !pid_dead(pid))
			continue;
		found = 1;
		char *hidden = xasprintf("%s/%s", dir, v[i]);
		cJSON *line;
		if (finish_hidden(id, hidden, outputs, d->dry_run, &line) < 0) {
			int e = errno;
			d->refuse(id, strerror(e), e, d->arg);
			d->not_done++;
		} else
			d->emit(line, d->arg);
		cJSON_Delete(line);
		free(hidden);
	}
	free_entries(v, n);
	free(dir);
	return found;
}

/* Take run id in as a child of target i if its record says so. */
static void take_child(struct del *d, size_t i, const char *id)
{
	const struct known_run *r = NULL;
	for (size_t k = 0; k < d->runs.n && !r; k++)
		if (!strcmp(d->runs.v[k].id, id))
			r = &d->runs.v[k];
	if (!r || !r->batch || strcmp(r->batch, d->v[i].id) || !strcmp(id, d->v[i].id))
		return;
	long have = find(d, id);
	if (have >= 0) {
		d->v[have].via = (int)i;
		return;
	}
	cJSON *rec = store_load(id);
	if (rec) /* else gone since the scan */
		add_target(d, id, rec, (int)i, 0);
}

/* Take the operands in, with each batch parent's children after it. */
static void gather(struct del *d, char **ids, int n)
{
	for (int a = 0; a < n; a++) {
		const char *id = ids[a];
		if (id_kind(id) == ID_BAD) {
			d->refuse(id, "not a run or prompt id (rs_ or ps_ + 32 lowercase hex digits)", EINVAL, d->arg);
			d->not_done++;
			continue;
		}
		long have = find(d, id);
		if (have >= 0) {
			d->v[have].named = 1;
			continue;
		}
		cJSON *rec = store_load(id);
		if (!rec && errno == ENOENT && resume(d, id))
			continue;
		if (!rec) {
			int e = errno;
			d->refuse(id, e == ENOENT ? "no such record" : strerror(e), e, d->arg);
			d->not_done++;
			continue;
		}
		add_target(d, id, rec, -1, 1);
	}
	size_t named_n = d->n;
	for (size_t i = 0; i < named_n; i++) {
		if (id_kind(d->v[i].id) != ID_RUN)
			continue;
		/* Its children in batch order, then earlier attempts. */
		const cJSON *c;
		cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(jget(d->v[i].rec, "execution_config"), "child_run_ids"))
			if (cJSON_IsString(c))
				take_child(d, i, c->valuestring);
		for (size_t k = 0; k < d->runs.n; k++)
			take_child(d, i, d->runs.v[k].id);
	}
}

/* Children and lone runs first, then batch parents, then prompts. */
static int rank(const struct del *d, size_t i)
{
	if (id_kind(d->v[i].id) == ID_PROMPT)
		return 2;
	for (size_t k = 0; k < d->n; k++)
		if (d->v[k].via == (int)i)
			return 1;
	return 0;
}

/* --- delete: doing it ---------------------------------------------------- */

struct hide {
	const char *id, *hidden;
	char status[32];
	int err;
};

/* A store_fn: step 1, under the record's lock; the record is not written. */
static int hide_record(cJSON *rec, void *arg)
{
	struct hide *h = arg;
	const char *st = jstr(rec, "status");
	if (id_kind(h->id) == ID_RUN && !status_terminal(st)) {
		snprintf(h->status, sizeof h->status, "%s", st ? st : "without a status");
		return STORE_ABORT;
	}
	char *from = record_path(h->id), *dir = xasprintf("%s/%s", store_root(), kind_dir(id_kind(h->id)));
	if (rename(from, h->hidden) < 0)
		h->err = errno;
	else
		sync_dir(dir); /* finish() syncs again; the rename stands either way */
	free(from);
	free(dir);
	return h->err ? STORE_ABORT : STORE_KEEP;
}

static void delete_one(struct del *d, size_t i, int outputs, int dry_run, hk_emit_fn emit)
{
	struct target *t = &d->v[i];
	cJSON *removed, *kept, *line = delete_line(t->id, dry_run, &removed, &kept);
	char *hidden = xasprintf("%s/%s/.%s%s%s%ld", store_root(), kind_dir(id_kind(t->id)), t->id, HIDE_MARK,
	    outputs ? HIDE_OUTPUTS : "", (long)getpid());
	if (!dry_run) {
		struct hide h = {.id = t->id, .hidden = hidden};
		int v = store_update(t->id, hide_record, &h, NULL);
		if (v != STORE_KEEP) {
			int e = v < 0 ? errno : h.err;
			if (*h.status) { /* a retry revived a batch since */
				char why[128];
				snprintf(why, sizeof why, "it is %s: cancel it first (cosmos kill %s)", h.status, t->id);
				d->refuse(t->id, why, 0, d->arg);
			} else
				d->refuse(t->id, e == ENOENT ? "no such record" : strerror(e), e, d->arg);
			d->not_done++;
			goto out;
		}
	}
	plan(t->id, t->rec, outputs, removed, kept);
	if (!dry_run && finish(t->id, hidden, removed, outputs) < 0) {
		int e = errno;
		d->refuse(t->id, strerror(e), e, d->arg);
		d->not_done++;
		goto out;
	}
	emit(line, d->arg);
out:
	cJSON_Delete(line);
	free(hidden);
}

int hk_delete(char **ids, int n, int outputs, int dry_run, hk_emit_fn emit, hk_refuse_fn refuse_fn, void *arg)
{
	struct del d = {.refuse = refuse_fn, .emit = emit, .arg = arg, .outputs = outputs, .dry_run = dry_run};
	if (store_open(0) < 0 || store_scan(ID_RUN, know, &d.runs) < 0)
		return -1;
	gather(&d, ids, n);
	for (int changed = 1; changed;) {
		changed = 0;
		for (size_t i = 0; i < d.n; i++)
			if (!d.v[i].refused)
				changed |= judge(&d, i);
	}
	for (int r = 0; r <= 2; r++)
		for (size_t i = 0; i < d.n; i++)
			if (!d.v[i].refused && rank(&d, i) == r)
				delete_one(&d, i, outputs, dry_run, emit);
	for (size_t i = 0; i < d.n; i++)
		cJSON_Delete(d.v[i].rec);
	free(d.v);
	for (size_t k = 0; k < d.runs.n; k++) {
		free(d.runs.v[k].prompt);
		free(d.runs.v[k].batch);
	}
	free(d.runs.v);
	return d.not_done;
}

/* --- verify -------------------------------------------------------------- */

struct check {
	int fix;
	hk_emit_fn emit;
	void *arg;
	int left;
	time_t now;
};

static cJSON *problem(const char *what, const char *id, const char *path)
{
	cJSON *o = cJSON_CreateObject();
	jset_str(o, "problem", what);
	if (id)
		jset_str(o, "id", id);
	jset_str(o, "path", path);
	return o;
}

/* Show a problem; fixed: -1 not fixable here, 0 or -1 from a fix. */
static void report(struct check *c, cJSON *o, int fixable, int failed, int err)
{
	int fixed = c->fix && fixable && !failed;
	if (c->fix)
		jset(o, "fixed", cJSON_CreateBool(fixed));
	if (c->fix && fixable && failed)
		jset_str(o, "error", strerror(err));
	if (!fixed)
		c->left++;
	c->emit(o, c->arg);
	cJSON_Delete(o);
}

/* fetch_again's download of rec's file NAME (a name, or video_<i>/NAME of
 * a packed batch, which finish_fetch gives to child i). */
static int fetch_from(const cJSON *rec, const char *name, double size, char *why, size_t len)
{
	if (!jstr(rec, "host")) {
		snprintf(why, len, "the record names no host");
		return -1;
	}
	char err[256] = "";
	struct remote *r = remote_get(jstr(rec, "host"), err, sizeof err);
	if (!r || r->failed) {
		snprintf(why, len, "%s", r ? r->err : err);
		return -1;
	}
	cJSON *files = cJSON_CreateArray(), *f = cJSON_CreateObject(), *patch = cJSON_CreateObject();
	cJSON *kids = cJSON_CreateArray();
	jset_str(f, "name", name);
	jset_num(f, "size", size);
	cJSON_AddItemToArray(files, f);
	int rc = finish_fetch(r, rec, files, patch, kids) || jstr(patch, "status") ? -1 : 0;
	if (rc)
		snprintf(why, len, "%s", *r->err ? r->err : "the host no longer has it");
	cJSON_Delete(files);
	cJSON_Delete(patch);
	cJSON_Delete(kids);
	return rc;
}

/*
 * Download a completed run's output file NAME again from its host, into
 * runs/ID/outputs/ (finish_fetch, as cosmos-sync does): 0, or -1 with why.
 * A packed child's file is its batch's video_<i>/NAME on the host, asked
 * for through the batch's record.  The record is not changed.
 */
static int fetch_again(const cJSON *child, const char *name, double size, char *why, size_t len)
{
	const char *parent = packed_parent_of(child);
	cJSON *batch = parent ? store_load(parent) : NULL;
	const cJSON *rec = batch ? batch : child;
	char *from = batch ? xasprintf("video_%d/%s", (int)jnum(jget(child, "execution_config"), "batch_index", -1), name)
	                   : xstrdup(name);
	int rc = fetch_from(rec, from, size, why, len);
	if (parent && !batch)
		snprintf(why, len, "its batch %s: %s", parent, strerror(errno));
	free(from);
	cJSON_Delete(batch);
	return parent && !batch ? -1 : rc;
}

/* A completed run's outputs against the sizes its record holds. */
static void check_run(const char *id, char *buf, size_t len, int err, void *arg)
{
	(void)err;
	struct check *c = arg;
	cJSON *rec = buf ? record_parse(buf, len) : NULL;
	free(buf);
	const char *st = jstr(rec, "status");
	const cJSON *out = jget(rec, "outputs"), *f;
	if (!st || strcmp(st, "completed") || !cJSON_IsObject(jget(out, "files"))) {
		cJSON_Delete(rec);
		return;
	}
	char *base = xasprintf("%s/runs/%s/outputs", store_root(), id);
	struct stat sb;
	const char *beside = jstr(out, "video") ? jstr(out, "video") : jstr(out, "results");
	if ((stat(base, &sb) < 0 || !S_ISDIR(sb.st_mode)) && beside && strrchr(beside, '/')) {
		free(base); /* an old record: its files beside its video */
		base = xasprintf("%.*s", (int)(strrchr(beside, '/') - beside), beside);
	}
	int here = !strcmp(base + strlen(base) - 8, "/outputs"); /* not an old record's */
	cJSON_ArrayForEach(f, jget(out, "files")) {
		if (!cJSON_IsNumber(f))
			continue;
		char *p = xasprintf("%s/%s", base, f->string);
		cJSON *o = NULL;
		if (stat(p, &sb) < 0) {
			o = problem("output_missing", id, p);
			jset_num(o, "expected", f->valuedouble);
		} else if ((double)sb.st_size != f->valuedouble) {
			o = problem("output_size", id, p);
			jset_num(o, "expected", f->valuedouble);
			jset_num(o, "size", (double)sb.st_size);
		}
		char why[600] = "";
		int failed = o && c->fix && here && fetch_again(rec, f->string, f->valuedouble, why, sizeof why) < 0;
		if (o && failed)
			jset_str(o, "error", why);
		if (o)
			report(c, o, c->fix && here && !failed, 0, 0);
		free(p);
	}
	free(base);
	cJSON_Delete(rec);
}

/* A prompt's videos (inputs.video, depth, seg) still there. */
static void check_prompt(const char *id, char *buf, size_t len, int err, void *arg)
{
	(void)err;
	struct check *c = arg;
	cJSON *rec = buf ? record_parse(buf, len) : NULL;
	free(buf);
	const cJSON *in;
	struct stat sb;
	cJSON_ArrayForEach(in, jget(rec, "inputs")) {
		if (!cJSON_IsString(in) || stat(in->valuestring, &sb) == 0)
			continue;
		cJSON *o = problem("video_missing", id, in->valuestring);
		jset_str(o, "key", in->string);
		report(c, o, 0, 0, 0);
	}
	cJSON_Delete(rec);
}

/* Dead writers' part files under dir, depth levels down. */
static void check_parts(struct check *c, const char *id, const char *dir, int depth)
{
	size_t n;
	char **v = entries(dir, &n);
	for (size_t i = 0; i < n; i++) {
		char *p = xasprintf("%s/%s", dir, v[i]);
		struct stat sb;
		long pid;
		if (part_pid(v[i], &pid) && pid_dead(pid) && lstat(p, &sb) == 0 && S_ISREG(sb.st_mode)) {
			cJSON *o = problem("dead_part", id, p);
			jset_num(o, "pid", (double)pid);
			int failed = c->fix && unlink(p) < 0 && errno != ENOENT;
			report(c, o, 1, failed, errno);
		} else if (depth > 0 && lstat(p, &sb) == 0 && S_ISDIR(sb.st_mode))
			check_parts(c, id, p, depth - 1);
		free(p);
	}
	free_entries(v, n);
}

/* Is there a hidden record of id (a delete under way or killed)? */
static int hidden_exists(char **v, size_t n, const char *id)
{
	char id2[ID_LEN + 1];
	int outputs;
	long pid;
	for (size_t i = 0; i < n; i++)
		if (hidden_name(v[i], id2, &outputs, &pid) && !strcmp(id2, id))
			return 1;
	return 0;
}

/* A run folder without a record: the store's own files in it, if old enough. */
static void check_folder(struct check *c, const char *id, const char *dir)
{
	size_t n;
	char **v = entries(dir, &n);
	cJSON *files = cJSON_CreateArray();
	time_t newest = 0;
	struct stat sb;
	if (stat(dir, &sb) == 0)
		newest = sb.st_mtime;
	for (size_t i = 0; i < n; i++) {
		if (!in_list(store_own, v[i]))
			continue;
		char *p = xasprintf("%s/%s", dir, v[i]);
		if (lstat(p, &sb) == 0 && sb.st_mtime > newest)
			newest = sb.st_mtime;
		cJSON_AddItemToArray(files, cJSON_CreateString(v[i]));
		free(p);
	}
	if (cJSON_GetArraySize(files) == 0 || c->now - newest < YOUNG_SECONDS) {
		cJSON_Delete(files);
		free_entries(v, n);
		return;
	}
	cJSON *o = problem("no_record", id, dir);
	jset(o, "files", files);
	int failed = 0, e = 0;
	const cJSON *f;
	cJSON_ArrayForEach(f, files) {
		if (!c->fix)
			break;
		char *p = xasprintf("%s/%s", dir, f->valuestring);
		if (remove_tree(p) < 0 && !failed) {
			failed = 1;
			e = errno;
		}
		free(p);
	}
	if (c->fix && !failed)
		rmdir(dir); /* when nothing else was in it */
	report(c, o, 1, failed, e);
	free_entries(v, n);
}

/* The hidden and run folders of runs/ or prompts/. */
static void check_dir(struct check *c, enum id_kind kind)
{
	char *dir = xasprintf("%s/%s", store_root(), kind_dir(kind));
	size_t n;
	char **v = entries(dir, &n);
	for (size_t i = 0; i < n; i++) {
		char *p = xasprintf("%s/%s", dir, v[i]), id[ID_LEN + 1];
		int outputs;
		long pid;
		struct stat sb;
		if (lstat(p, &sb) < 0) {
			free(p);
			continue;
		}
		if (hidden_name(v[i], id, &outputs, &pid)) {
			if (pid_dead(pid)) {
				cJSON *o = problem("unfinished_delete", id, p);
				cJSON *line = NULL;
				int failed = c->fix && finish_hidden(id, p, outputs, 0, &line) < 0;
				int e = errno;
				cJSON_Delete(line);
				report(c, o, 1, failed, e);
			}
		} else if (v[i][0] == '.' && strstr(v[i], ".json.tmp") && S_ISREG(sb.st_mode)) {
			if (c->now - sb.st_mtime >= YOUNG_SECONDS) {
				snprintf(id, sizeof id, "%.*s", ID_LEN, v[i] + 1);
				cJSON *o = problem("stale_temp", id_kind(id) == ID_BAD ? NULL : id, p);
				int failed = c->fix && unlink(p) < 0 && errno != ENOENT;
				report(c, o, 1, failed, errno);
			}
		} else if (part_pid(v[i], &pid) && S_ISREG(sb.st_mode)) {
			if (pid_dead(pid)) {
				cJSON *o = problem("dead_part", NULL, p);
				jset_num(o, "pid", (double)pid);
				int failed = c->fix && unlink(p) < 0 && errno != ENOENT;
				report(c, o, 1, failed, errno);
			}
		} else if (kind == ID_RUN && id_kind(v[i]) == ID_RUN && S_ISDIR(sb.st_mode)) {
			check_parts(c, v[i], p, 3);
			char *rp = record_path(v[i]);
			if (access(rp, F_OK) < 0 && errno == ENOENT && !hidden_exists(v, n, v[i]))
				check_folder(c, v[i], p);
			free(rp);
		}
		free(p);
	}
	free_entries(v, n);
	free(dir);
}

int hk_verify(int fix, hk_emit_fn emit, void *arg)
{
	struct check c = {.fix = fix, .emit = emit, .arg = arg, .now = time(NULL)};
	if (store_open(0) < 0)
		return -1;
	if (store_scan(ID_RUN, check_run, &c) < 0 || store_scan(ID_PROMPT, check_prompt, &c) < 0)
		return -1;
	check_dir(&c, ID_RUN);
	check_dir(&c, ID_PROMPT);
	return c.left;
}
