/*
 * cosmos-sync - learn what became of runs, and cancel them or show logs.
 *
 *	cosmos-sync [--wait] [--interval S] [--timeout S] [RUN_ID ... | -]
 *	cosmos-sync --cancel RUN_ID ...
 *	cosmos-sync --log [--follow] RUN_ID
 *
 * Invariants:
 *  - One remote round trip per host learns the state of all its runs.
 *  - Status moves only forward, decided under the record's lock, so
 *    several syncs at once (cron, shells) each apply a change at most once
 *    and only the one that applied it prints it.
 *  - A run is completed only with a completion marker whose exit code is 0
 *    and every output file downloaded at its size; a container gone
 *    without a marker is failed ("lost"); an unknown state is failed.
 *  - Remote file names are checked before any local path is built.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "batch.h"
#include "finish.h"
#include "input.h"
#include "packed.h"
#include "record.h"
#include "remote.h"
#include "shell.h"
#include "store.h"
#include "util.h"

#define MAX_RUNS 100000

struct run {
	char id[ID_LEN + 1];
	cJSON *rec;
	int done;  /* terminal now */
	int stuck; /* a batch waiting on children that never started */
	int added; /* brought along as a batch's parent or child, not named */
};

/* Runs stay where they are while more are added (pointers to them are
 * held across adding parents and children): an array of pointers. */
struct runs {
	struct run **v;
	size_t n;
	int bad;
};

static _Noreturn void usage(void)
{
	fprintf(stderr,
	    "usage: cosmos-sync [--wait] [--interval S] [--timeout S] [RUN_ID ... | -]\n"
	    "       cosmos-sync --cancel RUN_ID ...\n"
	    "       cosmos-sync --log [--follow] RUN_ID\n");
	exit(EX_USAGE_);
}

static void add_run(struct runs *rs, const char *id, cJSON *rec)
{
	if (rs->n % 256 == 0)
		rs->v = xrealloc(rs->v, (rs->n + 256) * sizeof *rs->v);
	struct run *r = rs->v[rs->n++] = xmalloc(sizeof *r);
	*r = (struct run){0};
	memcpy(r->id, id, sizeof r->id);
	r->rec = rec;
	r->done = status_terminal(jstr(rec, "status"));
}


static struct run *find_run(struct runs *rs, const char *id);

/* Add run id to rs if it exists, is not there yet and is unfinished. */
static void add_unfinished(struct runs *rs, const char *id)
{
	if (id_kind(id) != ID_RUN || find_run(rs, id))
		return;
	cJSON *rec = store_load(id);
	if (rec && !status_terminal(jstr(rec, "status"))) {
		add_run(rs, id, rec);
		rs->v[rs->n - 1]->added = 1;
	} else
		cJSON_Delete(rec);
}

/* The run id in rs, added if it is unfinished and not there yet; or NULL. */
static struct run *child_run(struct runs *rs, const char *id)
{
	add_unfinished(rs, id);
	return id ? find_run(rs, id) : NULL;
}

/* A batch named brings its unfinished children along. */
static void add_children(struct runs *rs)
{
	size_t n = rs->n;
	for (size_t i = 0; i < n; i++) {
		cJSON *ids = cJSON_GetObjectItemCaseSensitive(jobj(rs->v[i]->rec, "execution_config"), "child_run_ids"), *c;
		if (batch_is_parent(rs->v[i]->rec))
			cJSON_ArrayForEach(c, ids)
				add_unfinished(rs, cJSON_GetStringValue(c));
	}
}

/* Runs' batches, and so their siblings, come along too: parents follow
 * their children, and a packed child is synced through its parent. */
static void add_family(struct runs *rs)
{
	size_t n = rs->n;
	for (size_t i = 0; i < n; i++)
		add_unfinished(rs, jstr(jobj(rs->v[i]->rec, "execution_config"), "batch_run_id"));
	add_children(rs);
}

static void scanned(const char *id, char *buf, size_t len, int err, void *arg)
{
	(void)err;
	cJSON *rec = buf ? cJSON_ParseWithLength(buf, len) : NULL;
	free(buf);
	if (cJSON_IsObject(rec) && !status_terminal(jstr(rec, "status")))
		add_run(arg, id, rec);
	else
		cJSON_Delete(rec);
}

/* The runs named by operands or stdin, or every unfinished run. */
static void select_runs(struct runs *rs, int argc, char **argv)
{
	if (argc == 0) {
		if (store_scan(ID_RUN, scanned, rs) < 0)
			err_(EX_STORE, "%s/runs", store_root());
		return;
	}
	struct items it;
	items_init(&it, argc, argv);
	const char *s;
	while ((s = items_next(&it))) {
		char id[ID_LEN + 1];
		const char *why = item_id(s, ID_RUN, id, NULL);
		cJSON *rec = why ? NULL : store_load(id);
		if (why)
			item_warn(&it, "%s", why);
		else if (!rec)
			item_warn(&it, "%s: %s", id, errno == ENOENT ? "no such run" : strerror(errno));
		if (!rec) {
			rs->bad++;
			continue;
		}
		add_run(rs, id, rec);
	}
	rs->bad += it.errors;
	items_free(&it);
	add_children(rs);
}

static struct run *find_run(struct runs *rs, const char *id)
{
	for (size_t i = 0; i < rs->n; i++)
		if (!strcmp(rs->v[i]->id, id))
			return rs->v[i];
	return NULL;
}

static void pass_to_children(struct runs *rs, const cJSON *parent);

/*
 * Apply a patch under the lock; print and keep the record if it changed.
 * A packed batch's children go where their parent goes.
 */
static void apply(struct runs *rs, struct run *run, cJSON *patch)
{
	cJSON *now = NULL;
	int v = store_update(run->id, finish_run, patch, &now);
	if (v < 0)
		err_(EX_STORE, "cannot update run %s", run->id);
	if (v == STORE_WRITE)
		record_print(now);
	cJSON_Delete(run->rec);
	run->rec = now;
	run->done = status_terminal(jstr(now, "status"));
	if (v == STORE_WRITE && packed_parent(now))
		pass_to_children(rs, now);
}

/*
 * A packed batch's unfinished children follow its container: running
 * when it runs; when it ends with no result for them (lost, cancelled,
 * never started), failed or cancelled with the parent's reason.
 */
static void pass_to_children(struct runs *rs, const cJSON *parent)
{
	const char *st = jstr(parent, "status");
	if (strcmp(st, "running") && !status_terminal(st))
		return;
	cJSON *patch = cJSON_CreateObject(), *id;
	char ts[TIMESTAMP_LEN];
	timestamp_now(ts);
	if (!strcmp(st, "running")) {
		jset_str(patch, "status", "running");
		jset_str(patch, "started_at", ts);
	} else {
		char *why = xasprintf("its packed batch %s ended %s: %s", jstr(parent, "id"), st,
		    jstr(parent, "reason") ? jstr(parent, "reason") : "with no result for it");
		jset_str(patch, "status", strcmp(st, "cancelled") ? "failed" : "cancelled");
		jset_str(patch, "reason", why);
		jset_str(patch, "completed_at", ts);
		free(why);
	}
	cJSON_ArrayForEach(id, cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetObjectItemCaseSensitive(parent, "execution_config"), "child_run_ids")) {
		struct run *child = child_run(rs, cJSON_GetStringValue(id));
		/* Ended: all of them; running: those the batch brought to its host. */
		if (child && !child->done && (status_terminal(st) || jstr(child->rec, "host")))
			apply(rs, child, patch);
	}
	cJSON_Delete(patch);
}

/*
 * A packed batch's container ended with its completion marker: each child
 * takes its share (kids, from finish_fetch), then the parent its files
 * and the status its children give it.
 */
static void finish_packed(struct runs *rs, struct run *parent, cJSON *patch, const cJSON *kids)
{
	const cJSON *id, *ids = cJSON_GetObjectItemCaseSensitive(jobj(parent->rec, "execution_config"), "child_run_ids");
	int i = 0;
	cJSON_ArrayForEach(id, ids) {
		struct run *child = child_run(rs, cJSON_GetStringValue(id));
		if (child && !child->done)
			apply(rs, child, cJSON_GetArrayItem(kids, i));
		i++;
	}
	int moving;
	cJSON *bp = batch_parent_patch(parent->rec, &moving);
	for (cJSON *m = bp ? bp->child : NULL; m; m = m->next)
		if (strcmp(m->string, "outputs"))
			jset(patch, m->string, cJSON_Duplicate(m, 1));
	if (jstr(bp, "status") && !strcmp(jstr(bp, "status"), "completed"))
		cJSON_DeleteItemFromObjectCaseSensitive(patch, "reason"); /* every child has its output */
	if (bp)
		jset(jobj(patch, "outputs"), "children",
		    cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(jobj(bp, "outputs"), "children"), 1));
	cJSON_Delete(bp);
	apply(rs, parent, patch);
}

/*
 * The runtime to ask about a run: a process stays a process, whatever the
 * local backend would pick today; a container is asked about the way the
 * host is configured now (sudo or not).
 */
static const char *runtime_of(const struct run *run, const struct remote *r)
{
	const char *rt = jstr(jobj(run->rec, "job"), "runtime");
	if (rt && !strcmp(rt, "process"))
		return "process";
	if (rt && !strcmp(r->runtime, "process"))
		return "docker"; /* a local container, while detection now says process */
	return r->runtime;
}

static int sync_runtime(struct remote *r, const char *host, const char *runtime, struct runs *rs);

/* One round trip per runtime (almost always one) for every unfinished
 * run on host; 0 or an exit code. */
static int sync_host(const char *host, struct runs *rs)
{
	char err[512];
	struct remote *r = remote_get(host, err, sizeof err);
	if (!r || r->failed) {
		warnx_("%s", !r ? err : r->err);
		return r ? EX_UNAVAIL : EX_SOME;
	}
	static const char *const runtimes[] = {"docker", "sudo-docker", "process"};
	int worst = 0;
	for (int k = 0; k < 3; k++) {
		int any = 0;
		for (size_t i = 0; i < rs->n && !any; i++) {
			const char *h = jstr(rs->v[i]->rec, "host");
			any = !rs->v[i]->done && h && !strcmp(h, host) && !strcmp(runtime_of(rs->v[i], r), runtimes[k]);
		}
		int rc = any ? sync_runtime(r, host, runtimes[k], rs) : 0;
		worst = rc > worst ? rc : worst;
	}
	return worst;
}

static int sync_runtime(struct remote *r, const char *host, const char *runtime, struct runs *rs)
{
	struct sbuf in = {0}, out = {0}, errout = {0};
	for (size_t i = 0; i < rs->n; i++) {
		struct run *run = rs->v[i];
		const char *h = jstr(run->rec, "host"), *c = jstr(jobj(run->rec, "job"), "container");
		if (run->done || !h || strcmp(h, host) || !c || strcmp(runtime_of(run, r), runtime))
			continue;
		sb_add(&in, run->id, ID_LEN);
		sb_puts(&in, " ");
		sb_puts(&in, c);
		sb_puts(&in, "\n");
	}
	if (!in.len)
		return 0;
	char *words = xasprintf("status %s", runtime);
	int st = remote_ctl(r, words, in.s, in.len, &out, &errout);
	free(words);
	int rc = 0;
	if (st != 0) {
		warnx_("%s: status: %s", host, st < 0 ? r->err : errout.s ? shown(errout.s) : "failed");
		rc = st < 0 ? EX_UNAVAIL : EX_SOME;
		goto out;
	}
	/* "run ID STATE CODE" lines, and "file ID SIZE NAME" lines for finished runs. */
	struct answer {
		struct run *run;
		char state[64], code[16];
		cJSON *files;
	} *ans = xmalloc((rs->n + 1) * sizeof *ans);
	size_t nans = 0;
	char *save = NULL;
	for (char *line = strtok_r(out.s ? out.s : (char[]){""}, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		char id[ID_LEN + 1] = "", a[64] = "", b[16] = "";
		int off = 0;
		if (sscanf(line, "run %35s %63s %15s", id, a, b) == 3) {
			struct run *run = find_run(rs, id);
			if (!run || nans == rs->n) {
				warnx_("%s: answered for a run it was not asked about", host);
				continue;
			}
			ans[nans] = (struct answer){run, "", "", cJSON_CreateArray()};
			snprintf(ans[nans].state, sizeof ans[nans].state, "%s", a);
			snprintf(ans[nans].code, sizeof ans[nans].code, "%s", b);
			nans++;
		} else if (sscanf(line, "file %35s %63s %n", id, a, &off) == 2 && off > 0) {
			size_t i;
			for (i = 0; i < nans && strcmp(ans[i].run->id, id); i++)
				;
			if (i == nans)
				continue;
			if (!finish_safe_name(line + off)) {
				warnx_("%s: %s: refusing output file name '%s'", host, id, shown(line + off));
				continue;
			}
			cJSON *f = cJSON_CreateObject();
			jset_str(f, "name", line + off);
			jset_num(f, "size", atof(a));
			cJSON_AddItemToArray(ans[i].files, f);
		}
	}
	for (size_t i = 0; i < nans; i++) {
		struct run *run = ans[i].run;
		cJSON *patch = finish_judge(ans[i].state, ans[i].code, run->rec);
		if (patch && !strcmp(ans[i].code, "-"))
			apply(rs, run, patch);
		else if (patch) {
			cJSON *kids = cJSON_CreateArray();
			if (finish_fetch(r, run->rec, ans[i].files, patch, kids) < 0)
				rc = EX_TEMP; /* left as it was: the next sync tries again */
			else if (packed_parent(run->rec))
				finish_packed(rs, run, patch, kids);
			else
				apply(rs, run, patch);
			cJSON_Delete(kids);
		}
		cJSON_Delete(patch);
		cJSON_Delete(ans[i].files);
	}
	free(ans);
out:
	sb_free(&in);
	sb_free(&out);
	sb_free(&errout);
	return rc;
}

/* Sync every host that has unfinished runs among rs; the worst exit code. */
static int sync_all(struct runs *rs)
{
	int worst = 0;
	char **seen = NULL;
	size_t nseen = 0;
	for (size_t i = 0; i < rs->n; i++) {
		const char *h = jstr(rs->v[i]->rec, "host");
		if (rs->v[i]->done || !h)
			continue;
		size_t j;
		for (j = 0; j < nseen && strcmp(seen[j], h); j++)
			;
		if (j < nseen)
			continue;
		seen = xrealloc(seen, (nseen + 1) * sizeof *seen);
		seen[nseen++] = xstrdup(h);
		/* The copy: syncing replaces the records h points into. */
		int rc = sync_host(seen[nseen - 1], rs);
		if (rc > worst)
			worst = rc;
	}
	for (size_t j = 0; j < nseen; j++)
		free(seen[j]);
	free(seen);
	return worst;
}

/* A batch parent follows its children (lib/batch.c); how many are moving. */
static int follow_children(struct runs *rs, struct run *parent)
{
	int moving;
	cJSON *patch = batch_parent_patch(parent->rec, &moving);
	if (patch)
		apply(rs, parent, patch);
	cJSON_Delete(patch);
	return moving;
}

static void follow_parents(struct runs *rs)
{
	add_family(rs); /* so that the parents can end */
	for (size_t i = 0; i < rs->n; i++) {
		struct run *p = rs->v[i];
		const char *of = packed_parent_of(p->rec);
		if (!p->done && of && !find_run(rs, of)) {
			/* A packed child whose batch ended without it. */
			cJSON *parent = store_load(of);
			if (parent && status_terminal(jstr(parent, "status")))
				pass_to_children(rs, parent);
			cJSON_Delete(parent);
		}
		if (!batch_is_parent(p->rec) || p->done)
			continue;
		if (packed_parent(p->rec) ? jstr(jobj(p->rec, "job"), "container") != NULL
		                          : follow_children(rs, p) || p->done)
			continue; /* a packed batch follows its container */
		/* Nothing of it is moving: what is left never reached a host. */
		warnx_("%s: batch has children that never started (cosmos-batch --resume %s); not waiting for it",
		    p->id, p->id);
		p->done = 1;
		p->stuck = 1;
	}
}

/*
 * Does run get its result from its packed batch: it went to the host with
 * it, or (its cosmos-batch killed before telling it) the batch is there?
 */
static int follows_batch(struct runs *rs, struct run *run)
{
	const char *of = packed_parent_of(run->rec);
	struct run *p = of ? find_run(rs, of) : NULL;
	return of && (jstr(run->rec, "host") || (p && !p->done && jstr(jobj(p->rec, "job"), "container")));
}

static int cancel(struct runs *rs)
{
	int worst = rs->bad ? EX_SOME : 0;
	for (size_t i = 0; i < rs->n; i++) {
		struct run *run = rs->v[i];
		const char *h = jstr(run->rec, "host"), *c = jstr(jobj(run->rec, "job"), "container");
		if (run->done && run->added)
			continue; /* a batch's child, gone with it */
		if (run->done) {
			warnx_("%s: already %s", run->id, jstr(run->rec, "status"));
			worst = worst ? worst : EX_SOME;
			continue;
		}
		if (packed_parent_of(run->rec)) {
			/* Its batch's container runs the others too: they go with the batch. */
			if (!run->added) {
				warnx_("%s: part of packed batch %s, which runs every child in one container; cancel the batch",
				    run->id, packed_parent_of(run->rec));
				worst = worst ? worst : EX_SOME;
			}
			continue;
		}
		if (h && c) {
			char err[512];
			struct remote *r = remote_get(h, err, sizeof err);
			struct sbuf out = {0};
			int st = r && !r->failed ? remote_one(r, "cancel", runtime_of(run, r), run->id, c, 0, &out, NULL) : -1;
			sb_free(&out);
			if (st != 0) {
				warnx_("%s: cannot cancel: %s", run->id, !r ? err : r->err);
				worst = EX_UNAVAIL;
				continue;
			}
		}
		cJSON *patch = cJSON_CreateObject();
		char ts[TIMESTAMP_LEN];
		timestamp_now(ts);
		jset_str(patch, "status", "cancelled");
		jset_str(patch, "reason", "cancelled by the user");
		jset_str(patch, "completed_at", ts);
		apply(rs, run, patch);
		cJSON_Delete(patch);
	}
	return worst;
}

static int show_log(struct run *run, int follow)
{
	const char *of = packed_parent_of(run->rec);
	if (of && id_kind(of) == ID_RUN) {
		/* A packed batch keeps one log for all its children. */
		struct run parent = {.rec = store_load(of)};
		if (!parent.rec)
			errx_(EX_SOME, "%s: its batch %s: %s", run->id, of, errno == ENOENT ? "no such run" : strerror(errno));
		memcpy(parent.id, of, sizeof parent.id);
		parent.done = status_terminal(jstr(parent.rec, "status"));
		int rc = show_log(&parent, follow);
		cJSON_Delete(parent.rec);
		return rc;
	}
	const char *local = jstr(jobj(run->rec, "outputs"), "log");
	if (run->done && local) {
		FILE *f = fopen(local, "re");
		if (!f)
			err_(EX_STORE, "%s", local);
		char buf[8192];
		size_t n;
		while ((n = fread(buf, 1, sizeof buf, f)) > 0)
			fwrite(buf, 1, n, stdout);
		fclose(f);
		return 0;
	}
	const char *h = jstr(run->rec, "host"), *c = jstr(jobj(run->rec, "job"), "container");
	if (!h || !c)
		errx_(EX_SOME, "%s: no log: the run was never started on a host", run->id);
	char err[512];
	struct remote *r = remote_get(h, err, sizeof err);
	if (!r || r->failed)
		errx_(r ? EX_UNAVAIL : EX_SOME, "%s", r ? r->err : err);
	struct sbuf errout = {0};
	int st = remote_one(r, "log", runtime_of(run, r), run->id, c, follow, NULL, &errout);
	if (st != 0)
		warnx_("%s: %s", run->id, st < 0 ? r->err : errout.s ? shown(errout.s) : "no log");
	sb_free(&errout);
	return st == 0 ? 0 : st < 0 ? EX_UNAVAIL : EX_SOME;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{"wait", no_argument, NULL, 'w'},
		{"interval", required_argument, NULL, 'i'},
		{"timeout", required_argument, NULL, 't'},
		{"cancel", no_argument, NULL, 'c'},
		{"log", no_argument, NULL, 'l'},
		{"follow", no_argument, NULL, 'f'},
		{0, 0, 0, 0},
	};
	int wait = 0, mode = 0, follow = 0, c;
	long interval = 5, timeout = 0;
	progname = "cosmos-sync";
	setvbuf(stdout, NULL, _IOLBF, 0);
	while ((c = getopt_long(argc, argv, "+f", lo, NULL)) != -1) {
		switch (c) {
		case 'w': wait = 1; break;
		case 'i':
			if (parse_long(optarg, &interval) < 0 || interval < 1 || interval > 86400)
				errx_(EX_USAGE_, "--interval: '%s' is not a number of seconds", shown(optarg));
			break;
		case 't':
			if (parse_long(optarg, &timeout) < 0 || timeout < 1)
				errx_(EX_USAGE_, "--timeout: '%s' is not a number of seconds", shown(optarg));
			break;
		case 'c': case 'l': mode = c; break;
		case 'f': follow = 1; break;
		default: usage();
		}
	}
	argc -= optind;
	argv += optind;
	if ((mode && wait) || (follow && mode != 'l') || (mode && argc == 0) || (mode == 'l' && argc != 1))
		usage();
	if (store_open(0) < 0)
		err_(EX_STORE, "%s", store_root());
	struct runs rs = {0};
	select_runs(&rs, argc, argv);
	int rc;
	if (mode == 'c')
		rc = cancel(&rs);
	else if (mode == 'l')
		rc = rs.n ? show_log(rs.v[0], follow) : EX_SOME;
	else {
		time_t start = time(NULL);
		rc = 0;
		add_family(&rs);
		for (;;) {
			int r = sync_all(&rs);
			follow_parents(&rs);
			rc = r > rc ? r : rc;
			size_t open = 0;
			for (size_t i = 0; i < rs.n; i++) {
				struct run *run = rs.v[i];
				if (!run->done && !batch_is_parent(run->rec) && !follows_batch(&rs, run) &&
				    (!jstr(run->rec, "host") || !jstr(jobj(run->rec, "job"), "container"))) {
					/* Never started on a host (an interrupted submit): no sync can finish it. */
					warnx_("%s: %s and never started on a host; not waiting for it", run->id,
					    jstr(run->rec, "status") ? jstr(run->rec, "status") : "without status");
					run->done = 1;
					rc = rc ? rc : EX_SOME;
				}
				open += !run->done;
			}
			if (!wait || !open || rc == EX_UNAVAIL)
				break;
			if (timeout && time(NULL) - start + interval > timeout) {
				warnx_("%zu run%s still unfinished after %ld s", open, open == 1 ? "" : "s", timeout);
				rc = EX_TEMP;
				break;
			}
			sleep((unsigned)interval);
		}
		for (size_t i = 0; i < rs.n; i++)
			if (rs.v[i]->stuck && !rc)
				rc = EX_SOME;
		if (wait && !rc)
			for (size_t i = 0; i < rs.n; i++)
				if (strcmp(jstr(rs.v[i]->rec, "status"), "completed"))
					rc = EX_SOME;
		if (!rc && rs.bad)
			rc = EX_SOME;
	}
	for (size_t i = 0; i < rs.n; i++) {
		cJSON_Delete(rs.v[i]->rec);
		free(rs.v[i]);
	}
	free(rs.v);
	remote_close_all();
	finish_stdout();
	return rc;
}
