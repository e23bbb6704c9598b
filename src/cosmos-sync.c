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
 *  - A run is completed only when its backend says it ended with exit
 *    code 0 and every output file is downloaded at its size; ended
 *    without a code, gone ("lost"), or an answer not understood: failed.
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

#include "backend.h"
#include "batch.h"
#include "finish.h"
#include "input.h"
#include "packed.h"
#include "progress.h"
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

static const char usage_text[] =
    "usage: cosmos-sync [--wait] [--interval S] [--timeout S] [RUN_ID ... | -]\n"
    "       cosmos-sync --cancel RUN_ID ...\n"
    "       cosmos-sync --log [--follow] RUN_ID\n";

static _Noreturn void usage(void)
{
	fputs(usage_text, stderr);
	exit(EX_USAGE_);
}

/* Add a run; a record without a status is reported by file and left out. */
static void add_run(struct runs *rs, const char *id, cJSON *rec)
{
	if (!jstr(rec, "status")) {
		warnx_("%s/runs/%s.json: the record has no \"status\"; skipped", store_root(), id);
		cJSON_Delete(rec);
		rs->bad++;
		return;
	}
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
	/* One without a status is left out quietly: it is reported where it
	 * is named or scanned, not again on every pass. */
	if (jstr(rec, "status") && !status_terminal(jstr(rec, "status"))) {
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
	if (items_init(&it, argc, argv) < 0)
		errx_(EX_USAGE_, "no operands, and standard input is a terminal");
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

/* Was run started by a submit that died before recording it?  Its record
 * names its host, but it is pending with no job. */
static int orphan(const struct run *run, const char *host)
{
	const char *h = jstr(run->rec, "host"), *st = jstr(run->rec, "status");
	return h && !strcmp(h, host) && st && !strcmp(st, "pending") && !job_handle(run->rec) &&
	       !packed_parent_of(run->rec) && (!batch_is_parent(run->rec) || packed_parent(run->rec));
}

/*
 * Adopt the runs v[0..n) of host r whose jobs the backend finds started:
 * submitted, with the job's fields.  A run another process holds the
 * claim of (it is starting it now) is left alone.  0 or an exit code.
 */
static int adopt(struct runs *rs, struct remote *r, struct run **v, size_t n)
{
	if (!n || !r->ops->adopt)
		return 0;
	const cJSON **recs = xmalloc(n * sizeof *recs);
	cJSON **jobs = xmalloc(n * sizeof *jobs);
	int *claims = xmalloc(n * sizeof *claims), rc = 0;
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		if ((claims[k] = store_claim(v[i]->id)) >= 0) {
			v[k] = v[i];
			recs[k++] = v[i]->rec;
		}
	if (k && (rc = r->ops->adopt(r, recs, jobs, k)))
		warnx_("%s: %s", r->host.name, r->err);
	char ts[TIMESTAMP_LEN];
	timestamp_now(ts);
	for (size_t i = 0; i < k; i++) {
		if (!rc && jobs[i]) {
			cJSON *patch = cJSON_CreateObject();
			jset_str(patch, "status", "submitted");
			jset_str(patch, "submitted_at", ts);
			jset(jobs[i], "adopted", cJSON_CreateTrue());
			jset(patch, "job", jobs[i]);
			apply(rs, v[i], patch);
			cJSON_Delete(patch);
		} else if (!rc)
			cJSON_Delete(jobs[i]);
		store_unclaim(claims[i]);
	}
	free(recs);
	free(jobs);
	free(claims);
	return rc;
}

/*
 * One round trip to host's backend learns the state of every unfinished
 * run of rs there; each answer is judged and applied.  0 or an exit code.
 */
static int sync_host(const char *host, struct runs *rs)
{
	char err[512];
	struct remote *r = remote_get(host, err, sizeof err);
	if (!r || r->failed) {
		warnx_("%s", !r ? err : r->err);
		return r ? r->code : EX_SOME;
	}
	struct poll_item *v = xmalloc((rs->n + 1) * sizeof *v);
	struct run **of = xmalloc((rs->n + 1) * sizeof *of);
	size_t n = 0;
	/* First the runs a dead submit started and could not record. */
	for (size_t i = 0; i < rs->n; i++)
		if (!rs->v[i]->done && orphan(rs->v[i], host))
			of[n++] = rs->v[i];
	int arc = adopt(rs, r, of, n);
	n = 0;
	for (size_t i = 0; i < rs->n; i++) {
		struct run *run = rs->v[i];
		const char *h = jstr(run->rec, "host");
		if (run->done || !h || strcmp(h, host) || !job_handle(run->rec))
			continue;
		v[n] = (struct poll_item){.rec = run->rec};
		of[n++] = run;
	}
	int rc = n ? r->ops->poll(r, v, n) : 0;
	if (rc)
		warnx_("%s: %s", host, r->err);
	rc = exit_worst(rc, arc);
	for (size_t i = 0; i < n; i++) {
		struct run *run = of[i];
		cJSON *patch = v[i].answered ? finish_judge(&v[i], run->rec) : NULL;
		if (patch && v[i].state != RUN_ENDED)
			apply(rs, run, patch);
		else if (patch) {
			cJSON *kids = cJSON_CreateArray();
			int frc = finish_fetch(r, run->rec, v[i].files, patch, kids);
			if (frc)
				rc = exit_worst(rc, frc); /* left as it was: the next sync tries again */
			else if (packed_parent(run->rec))
				finish_packed(rs, run, patch, kids);
			else
				apply(rs, run, patch);
			cJSON_Delete(kids);
		}
		cJSON_Delete(patch);
		cJSON_Delete(v[i].files);
	}
	free(v);
	free(of);
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
		worst = exit_worst(worst, sync_host(seen[nseen - 1], rs));
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
		if (packed_parent(p->rec) ? job_handle(p->rec) != NULL
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
	return of && (jstr(run->rec, "host") || (p && !p->done && job_handle(p->rec)));
}

static int cancel(struct runs *rs)
{
	int worst = rs->bad ? EX_SOME : 0;
	for (size_t i = 0; i < rs->n; i++) {
		struct run *run = rs->v[i];
		const char *h = jstr(run->rec, "host");
		char note[600] = "cancelled by the user";
		if (run->done && run->added)
			continue; /* a batch's child, gone with it */
		if (run->done) {
			warnx_("%s: already %s", run->id, jstr(run->rec, "status"));
			worst = exit_worst(worst, EX_SOME);
			continue;
		}
		if (packed_parent_of(run->rec)) {
			/* Its batch's container runs the others too: they go with the batch. */
			if (!run->added) {
				warnx_("%s: part of packed batch %s, which runs every child in one container; cancel the batch",
				    run->id, packed_parent_of(run->rec));
				worst = exit_worst(worst, EX_SOME);
			}
			continue;
		}
		if (h && !job_handle(run->rec) && orphan(run, h)) {
			/* Started by a submit that died: its job is to be stopped too. */
			char err[512];
			struct remote *r = remote_get(h, err, sizeof err);
			if (r && !r->failed)
				worst = exit_worst(worst, adopt(rs, r, &run, 1));
			h = jstr(run->rec, "host"); /* the record adopt() read anew */
		}
		if (h && job_handle(run->rec)) {
			char err[512];
			struct remote *r = remote_get(h, err, sizeof err);
			if (r)
				*r->err = '\0';
			int st = !r ? EX_SOME : r->failed ? r->code : r->ops->cancel(r, run->rec);
			if (st) {
				warnx_("%s: cannot cancel: %s", run->id, !r ? err : r->err);
				worst = exit_worst(worst, st);
				continue;
			}
			if (*r->err) /* a note for the record (a provider without cancel) */
				snprintf(note, sizeof note, "cancelled by the user; %s", r->err);
		}
		cJSON *patch = cJSON_CreateObject();
		char ts[TIMESTAMP_LEN];
		timestamp_now(ts);
		jset_str(patch, "status", "cancelled");
		jset_str(patch, "reason", note);
		jset_str(patch, "completed_at", ts);
		apply(rs, run, patch);
		cJSON_Delete(patch);
	}
	return worst;
}

/* Seconds since an RFC 3339 UTC time, or 0. */
static long since(const char *ts)
{
	long long t;
	long s = timestamp_parse(ts, &t) == 0 ? (long)(time(NULL) - t) : 0;
	return s > 0 ? s : 0;
}

/* --wait on a terminal: a line per unfinished run, a bar of the finished. */
static void show_board(const struct runs *rs)
{
	char **lines = xmalloc((rs->n + 1) * sizeof *lines);
	size_t n = 0, done = 0;
	for (size_t i = 0; i < rs->n; i++) {
		const cJSON *rec = rs->v[i]->rec, *job = jget(rec, "job");
		if (rs->v[i]->done) {
			done++;
			continue;
		}
		const char *t = jstr(rec, "started_at") ? jstr(rec, "started_at")
		              : jstr(rec, "submitted_at") ? jstr(rec, "submitted_at") : jstr(rec, "created_at");
		long s = since(t);
		const char *why = jstr(job, "queue_reason");
		lines[n++] = xasprintf("%.11s  %-13.13s %-9.9s %4ldm%02lds  %s%s%s", rs->v[i]->id, jstr(rec, "model_type"),
		    jstr(rec, "status"), s / 60, s % 60, jstr(rec, "host") ? jstr(rec, "host") : "-", why ? "  " : "",
		    why ? why : "");
	}
	board("waiting", (const char *const *)lines, n, done, rs->n);
	for (size_t i = 0; i < n; i++)
		free(lines[i]);
	free(lines);
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
	const char *h = jstr(run->rec, "host");
	if (!h || !job_handle(run->rec))
		errx_(EX_SOME, "%s: no log: the run was never started on a host", run->id);
	char err[512];
	struct remote *r = remote_get(h, err, sizeof err);
	if (!r || r->failed)
		errx_(r ? r->code : EX_SOME, "%s", r ? r->err : err);
	int rc = r->ops->log(r, run->rec, follow);
	if (rc)
		warnx_("%s: %s", run->id, r->err);
	return rc;
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
	std_options(argc > 1 ? argv[1] : NULL, usage_text);
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
		/* Each pass is judged afresh: a download that failed once and
		 * then succeeded leaves nothing behind; an unreachable host
		 * ends the wait at once. */
		time_t start = time(NULL);
		add_family(&rs);
		for (;;) {
			board_clear(); /* records print where it was */
			rc = sync_all(&rs);
			follow_parents(&rs);
			size_t open = 0;
			for (size_t i = 0; i < rs.n; i++) {
				struct run *run = rs.v[i];
				if (!run->done && !batch_is_parent(run->rec) && !follows_batch(&rs, run) &&
				    (!jstr(run->rec, "host") || !job_handle(run->rec))) {
					/* Never started on a host (an interrupted submit): no sync can finish it. */
					warnx_("%s: %s and never started on a host; not waiting for it", run->id,
					    jstr(run->rec, "status"));
					run->done = 1;
					run->stuck = 1;
				}
				open += !run->done;
			}
			if (wait)
				show_board(&rs);
			if (!wait || !open || rc == EX_UNAVAIL || rc == EX_STORE)
				break;
			if (timeout && time(NULL) - start + interval > timeout) {
				warnx_("%zu run%s still unfinished after %ld s", open, open == 1 ? "" : "s", timeout);
				rc = exit_worst(rc, EX_TEMP);
				break;
			}
			sleep((unsigned)interval);
		}
		board_end();
		for (size_t i = 0; i < rs.n; i++)
			if (rs.v[i]->stuck || (wait && strcmp(jstr(rs.v[i]->rec, "status"), "completed")))
				rc = exit_worst(rc, EX_SOME);
		if (rs.bad)
			rc = exit_worst(rc, EX_SOME);
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
