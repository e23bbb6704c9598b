/*
 * cosmos-submit - start the requests read on stdin as runs on a GPU host.
 *
 *	cosmos-spec ... | cosmos-submit [--host NAME] [--delay MS] [--together] [--dry-run]
 *	cosmos-submit --retry [--any] [--max-attempts N] RUN_ID... | -
 *
 * For each request line: make the run record (pending), stage its inputs
 * on the host by content, start the job detached, record what the
 * backend calls it (job.handle), mark it submitted and print the record.
 *
 * Invariants:
 *  - One connection per host for the whole input (lib/remote.c); the
 *    host's backend (lib/backend.h) stages, starts and names the job.
 *  - A run is started only by the process holding its claim
 *    (store_claim), and only while pending: a batch's child, made
 *    beforehand, is claimed; a new run is claimed as it is made.  A
 *    submit killed after starting a job leaves its run pending with its
 *    host: cosmos-sync adopts it once the claim is free.
 *  - A new run keeps its request in runs/<id>/request.json; --retry makes
 *    a new attempt of each failed run named (lib/retry.h) and starts its
 *    request line like any other.
 *  - A host that cannot be reached, or a bad line, creates no record.  A
 *    run whose start fails after its record exists is marked failed with
 *    the reason; no record is ever removed.
 *  - User text (prompts, paths) reaches the host only inside files (the
 *    spec, job.sh with every value quoted by sb_quote), never bare in a
 *    command.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "input.h"
#include "job.h"
#include "record.h"
#include "remote.h"
#include "retry.h"
#include "shell.h"
#include "store.h"
#include "util.h"

struct opts {
	const char *host;
	long delay_ms;
	int dry_run;
	int together; /* as one unit where the backend can (a job array) */
	int retry;    /* the operands are failed runs to make new attempts of */
	int any;      /* --retry whatever the reason */
	long max_attempts;
};

static const char usage_text[] =
    "usage: cosmos-submit [--host NAME] [--delay MS] [--together] [--dry-run] [-] < requests\n"
    "       cosmos-submit --retry [--any] [--max-attempts N] [--delay MS] RUN_ID... | -\n";

static _Noreturn void usage(void)
{
	fputs(usage_text, stderr);
	exit(EX_USAGE_);
}


/* Mark a run failed with a reason (and its reason_code, if any), and print it. */
static void fail_run(const char *id, const char *reason, const char *code)
{
	cJSON *patch = cJSON_CreateObject(), *now = NULL;
	char ts[TIMESTAMP_LEN];
	timestamp_now(ts);
	jset_str(patch, "status", "failed");
	jset_str(patch, "reason", reason);
	if (code && *code)
		jset_str(patch, "reason_code", code);
	jset_str(patch, "completed_at", ts);
	if (store_update(id, record_patch, patch, &now) >= 0 && now)
		record_print(now);
	cJSON_Delete(now);
	cJSON_Delete(patch);
}

static int dry_run(struct items *it, const cJSON *req, const char *host)
{
	int rc = 0;
	cJSON *job = job_of(req);
	cJSON *out = cJSON_CreateObject(), *uploads = cJSON_CreateArray();
	struct remote fake = {0};
	if (job_stage(job, &fake, req, uploads) < 0) {
		item_warn(it, "%s", fake.err);
		cJSON_Delete(uploads);
		rc = EX_SOME;
	} else {
		jset(out, "dry_run", cJSON_CreateTrue());
		jset_str(out, "model_type", jstr(req, "model_type"));
		jset_str(out, "host", host ? host : "(default)");
		jset(out, "uploads", uploads);
		for (cJSON *m = job->child; m; m = m->next)
			jset(out, m->string, cJSON_Duplicate(m, 1));
		record_print(out);
	}
	cJSON_Delete(out);
	cJSON_Delete(job);
	return rc;
}

/* A start in flight on a host's connection; finished in input order. */
struct flight {
	char where[32];
	char id[ID_LEN + 1];
	struct remote *r;
	struct bjob *job;
	int done;   /* its start has finished; job waits for started() */
	uint64_t uploaded;
	int rc;     /* the line's result when it never got a job */
	int claim;  /* the lock that makes the run ours to start, or -1 */
};

/* Under the lock: a pending run of this model takes its backend and host. */
struct claim {
	const char *model, *backend, *host;
	char why[128];
};

static int claim(cJSON *rec, void *arg)
{
	struct claim *c = arg;
	const char *st = jstr(rec, "status"), *m = jstr(rec, "model_type");
	if (!st || strcmp(st, "pending")) {
		snprintf(c->why, sizeof c->why, "is %s, not pending: not started again", st ? shown(st) : "without status");
		return STORE_ABORT;
	}
	if (!m || strcmp(m, c->model)) {
		snprintf(c->why, sizeof c->why, "is a %s run, not %s", m ? shown(m) : "typeless", c->model);
		return STORE_ABORT;
	}
	jset_str(rec, "backend", c->backend);
	jset_str(rec, "host", c->host);
	return STORE_WRITE;
}

static int claim_run(struct items *it, const char *id, const char *model, struct remote *r, struct flight *f)
{
	struct claim c = {model, r->ops->name, r->host.name, ""};
	/* Ours alone to start while we hold this; another process is refused. */
	if ((f->claim = store_claim(id)) < 0) {
		item_warn(it, "%s: %s", id, errno == EWOULDBLOCK ? "is being started by another process" : strerror(errno));
		return -1;
	}
	int v = store_update(id, claim, &c, NULL);
	if (v == STORE_WRITE) {
		snprintf(f->id, sizeof f->id, "%s", id);
		return 0;
	}
	if (v < 0)
		item_warn(it, "%s: %s", id, errno == ENOENT ? "no such run" : strerror(errno));
	else
		item_warn(it, "%s: %s", id, c.why);
	return -1;
}

/* Start one request; its result comes from land(). */
/*
 * Everything before the start: the host, the run's record (claimed or
 * made), its spec kept locally, its inputs staged.  The job to start, or
 * NULL when the line is done (f->rc says how).
 */
static cJSON *prepare(struct items *it, cJSON *req, const struct opts *o, struct flight *f)
{
	memset(f, 0, sizeof *f);
	f->claim = -1;
	snprintf(f->where, sizeof f->where, "%s", it->where);
	const char *host = jstr(req, "host") ? jstr(req, "host") : o->host;
	if (o->dry_run) {
		f->rc = dry_run(it, req, host);
		return NULL;
	}
	char err[512];
	struct remote *r = remote_get(host, err, sizeof err);
	if (!r) {
		item_warn(it, "%s", err);
		f->rc = EX_SOME;
		return NULL;
	}
	if (r->failed) {
		item_warn(it, "%s", r->err);
		f->rc = r->code;
		return NULL;
	}
	const char *model = jstr(req, "model_type");
	const cJSON *ec = cJSON_GetObjectItemCaseSensitive(req, "execution_config");
	if (jstr(req, "run_id")) {
		/* A run made beforehand (a batch's child): it must still be pending. */
		if (claim_run(it, jstr(req, "run_id"), model, r, f) < 0) {
			f->rc = EX_SOME;
			return NULL;
		}
	} else {
		cJSON *rec = run_new(model);
		snprintf(f->id, sizeof f->id, "%s", jstr(rec, "id"));
		if (jstr(req, "prompt_id"))
			jset_str(rec, "prompt_id", jstr(req, "prompt_id"));
		jset_str(rec, "backend", r->ops->name);
		jset_str(rec, "host", r->host.name);
		if (ec)
			jset(rec, "execution_config", cJSON_Duplicate(ec, 1));
		if (store_create(rec) < 0)
			err_(EX_STORE, "cannot store run %s", f->id);
		cJSON_Delete(rec);
		/* Ours while we start it: a sync leaves it alone until then. */
		f->claim = store_claim(f->id);
		/* What a retry starts again from (lib/retry.h). */
		char *line = cJSON_PrintUnformatted(req);
		if (request_save(f->id, line) < 0)
			err_(EX_STORE, "runs/%s/request.json", f->id);
		cJSON_free(line);
	}
	/* The local copy of the request's spec, for the curious. */
	char *dir = store_run_dir(f->id, 1), *spec_path = dir ? xasprintf("%s/spec.json", dir) : NULL;
	cJSON *job = job_of(req);
	FILE *fp = spec_path ? fopen(spec_path, "we") : NULL;
	char *js = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(job, "spec"));
	if (!fp || fprintf(fp, "%s\n", js) < 0 || fclose(fp) != 0)
		err_(EX_STORE, "%s", spec_path ? spec_path : f->id);
	cJSON_free(js);
	free(spec_path);
	free(dir);

	uint64_t sent_before = r->sent;
	const char *no = r->ops->refuses ? r->ops->refuses(r, req) : NULL;
	if (no) {
		/* Before anything is sent: this host cannot run it at all. */
		item_warn(it, "%s: %s", f->id, no);
		fail_run(f->id, no, "bad_request");
		f->rc = EX_SOME;
		cJSON_Delete(job);
		return NULL;
	}
	*r->why_code = '\0';
	if (job_stage(job, r, req, NULL) < 0) {
		item_warn(it, "%s: %s", f->id, r->err);
		fail_run(f->id, r->err, r->why_code);
		f->rc = !strcmp(r->why_code, "auth") || !strcmp(r->why_code, "connection_lost") ? EX_UNAVAIL : EX_SOME;
		cJSON_Delete(job);
		return NULL;
	}
	f->uploaded = r->sent - sent_before;
	f->r = r;
	return job;
}

/* Start one request; its result comes from land(). */
static void launch(struct items *it, cJSON *req, const struct opts *o, struct flight *f)
{
	cJSON *job = prepare(it, req, o, f);
	if (!job)
		return;
	f->job = f->r->ops->start(f->r, f->id, jstr(req, "model_type"), job,
	    cJSON_GetObjectItemCaseSensitive(req, "execution_config"));
	cJSON_Delete(job);
	if (!f->job) {
		item_warn(it, "%s: %s", f->id, f->r->err);
		fail_run(f->id, f->r->err, NULL);
		f->rc = EX_UNAVAIL;
		f->r = NULL;
	}
}

/* Mark a started run submitted with its job fields (taken), and print it;
 * before: started by an earlier submit, so nothing was uploaded now. */
static void submitted(struct flight *f, cJSON *job_o, int before)
{
	cJSON *patch = cJSON_CreateObject(), *now = NULL;
	char ts[TIMESTAMP_LEN];
	timestamp_now(ts);
	jset(patch, "job", job_o);
	if (!before)
		jset_num(job_o, "uploaded_bytes", (double)f->uploaded);
	jset_str(patch, "status", "submitted");
	jset_str(patch, "submitted_at", ts);
	if (store_update(f->id, record_patch, patch, &now) < 0)
		err_(EX_STORE, "cannot update run %s", f->id);
	record_print(now);
	cJSON_Delete(now);
	cJSON_Delete(patch);
}

/* A start that failed: said under the line's name, and recorded. */
static void failed_start(const struct flight *f, const char *why, const char *code)
{
	struct items where = {0};
	memcpy(where.where, f->where, sizeof where.where);
	item_warn(&where, "%s: %s", f->id, why);
	fail_run(f->id, why, code);
}

/* Record how a started request ended, and print it; the line's result. */
static int land(struct flight *f)
{
	int rc = f->rc;
	if (rc || !f->r)
		goto out; /* never started: already reported */
	cJSON *job_o = cJSON_CreateObject();
	*f->r->why_code = '\0';
	int st = f->r->ops->started(f->r, f->job, job_o);
	f->job = NULL;
	if (st == STARTED_UNKNOWN) {
		/* Not known to have failed: pending with its host, as a killed
		 * submit leaves it, for the next sync to adopt if it started. */
		struct items where = {0};
		memcpy(where.where, f->where, sizeof where.where);
		item_warn(&where, "%s: %s; left pending: the next cosmos-sync adopts it if it started", f->id, f->r->err);
		cJSON_Delete(job_o);
		rc = EX_UNAVAIL;
		goto out;
	}
	if (st && st != STARTED_BEFORE) {
		failed_start(f, f->r->err, f->r->why_code);
		cJSON_Delete(job_o);
		rc = st;
		goto out;
	}
	/* STARTED_BEFORE: by an earlier, interrupted submit, not again.  Sync
	 * learns how it is doing by the handle the backend gave (if it could
	 * not, sync says it never started). */
	submitted(f, job_o, st == STARTED_BEFORE);
out:
	store_unclaim(f->claim);
	f->claim = -1;
	return rc;
}

/*
 * Starts in flight, oldest first.  Many at once hide the host's latency
 * (32 starts per round trip); results still come out in input order.
 * A shell host takes them through a few shells of its own, not a channel
 * each (remote_start_streamed), so sshd's MaxSessions is no limit.
 */
#define IN_FLIGHT 32
static struct flight queue[IN_FLIGHT];
static int qhead, qlen;

/* Move every job along; finish the oldest; its result. */
static int land_oldest(void)
{
	struct flight *f = &queue[qhead];
	while (f->job && !f->done) {
		int blocked = 1;
		for (int i = 0; i < qlen; i++) {
			struct flight *g = &queue[(qhead + i) % IN_FLIGHT];
			if (!g->job || g->done)
				continue;
			int r = g->r->ops->step(g->r, g->job);
			g->done = r == STEP_DONE || r < 0;
			blocked &= r == STEP_BLOCKED;
		}
		if (!f->done && blocked && f->r->ops->wait(f->r) < 0)
			f->done = 1; /* started() reports the transport's error */
	}
	int rc = land(f);
	qhead = (qhead + 1) % IN_FLIGHT;
	qlen--;
	return rc;
}

static void record_worst(int *worst, int rc)
{
	*worst = exit_worst(*worst, rc);
}

/* One member of a job array: its flight, and what the start needs. */
struct member {
	struct flight f;
	cJSON *job, *req;
};

/*
 * --together on a host whose backend starts many runs as one unit (a
 * Slurm job array): say so to the feeder ({"feed":"all"}), read every
 * request, prepare each (a bad one fails alone), and start the rest at
 * once.  0 with *worst updated, or -1 when the host cannot (then the
 * caller goes on line by line with first).
 */
static int together(struct items *it, cJSON *first, const struct opts *o, int *worst)
{
	const char *host = jstr(first, "host") ? jstr(first, "host") : o->host;
	char err[512];
	struct remote *r = o->dry_run ? NULL : remote_get(host, err, sizeof err);
	if (!r || r->failed || !r->ops->start_many)
		return -1;
	printf("{\"feed\":\"all\"}\n");
	fflush(stdout);
	struct member *m = NULL;
	int n = 0;
	for (cJSON *req = first; req; ) {
		m = xrealloc(m, (size_t)(n + 1) * sizeof *m);
		struct member *x = &m[n];
		const char *h = jstr(req, "host") ? jstr(req, "host") : o->host;
		if ((h || host) && (!h || !host || strcmp(h, host))) {
			item_warn(it, "a job array runs on one host: this request's is not the first's");
			record_worst(worst, EX_SOME);
			cJSON_Delete(req);
		} else if ((x->job = prepare(it, req, o, &x->f))) {
			x->req = req;
			n++;
		} else {
			record_worst(worst, x->f.rc);
			store_unclaim(x->f.claim);
			cJSON_Delete(req);
		}
		const char *line, *why = "not a JSON object";
		for (req = NULL; !req && (line = items_next(it));) {
			req = parse_line(line, &why);
			if (!cJSON_IsObject(req) || (why = job_check(req))) {
				item_warn(it, "%s", why);
				record_worst(worst, EX_SOME);
				cJSON_Delete(req);
				req = NULL;
			}
		}
	}
	if (n) {
		const char **ids = xmalloc((size_t)n * sizeof *ids), **models = xmalloc((size_t)n * sizeof *models);
		const cJSON **jobs = xmalloc((size_t)n * sizeof *jobs), **ecs = xmalloc((size_t)n * sizeof *ecs);
		cJSON **outs = xmalloc((size_t)n * sizeof *outs);
		for (int i = 0; i < n; i++) {
			ids[i] = m[i].f.id;
			models[i] = jstr(m[i].req, "model_type");
			jobs[i] = m[i].job;
			ecs[i] = cJSON_GetObjectItemCaseSensitive(m[i].req, "execution_config");
			outs[i] = cJSON_CreateObject();
		}
		const char *batch = jstr(ecs[0], "batch_run_id");
		char *name = xasprintf("cosmos_batch_%.8s", batch && id_kind(batch) == ID_RUN ? batch : ids[0]);
		struct bjob *j = r->ops->start_many(r, name, ids, models, jobs, ecs, n, r->host.max_running);
		int st = j ? 0 : EX_UNAVAIL;
		while (j && (st = r->ops->step(r, j)) != STEP_DONE && st >= 0)
			if (st == STEP_BLOCKED && r->ops->wait(r) < 0)
				break;
		st = j ? r->ops->started_many(r, j, outs, n) : st;
		for (int i = 0; i < n; i++) {
			if (st == 0 || st == STARTED_BEFORE)
				submitted(&m[i].f, outs[i], st == STARTED_BEFORE);
			else if (st == STARTED_UNKNOWN) {
				item_warn(it, "%s: %s; left pending: cosmos-batch --resume adopts it if it started", m[i].f.id, r->err);
				cJSON_Delete(outs[i]);
			} else {
				failed_start(&m[i].f, r->err, NULL);
				cJSON_Delete(outs[i]);
			}
			store_unclaim(m[i].f.claim);
			cJSON_Delete(m[i].job);
			cJSON_Delete(m[i].req);
		}
		record_worst(worst, st == STARTED_BEFORE ? 0 : st == STARTED_UNKNOWN ? EX_UNAVAIL : st);
		free(name);
		free(ids);
		free(models);
		free(jobs);
		free(ecs);
		free(outs);
	}
	free(m);
	return 0;
}

/* --retry: the request line of a new attempt of the run an item names
 * (caller frees), or NULL when it gets none (said on stderr, *rc set). */
static char *retry_line(struct items *it, const char *item, const struct opts *o, int *rc)
{
	char id[ID_LEN + 1], err[256], new_id[ID_LEN + 1];
	const char *why = item_id(item, ID_RUN, id, NULL);
	if (why) {
		item_warn(it, "%s", why);
		*rc = EX_SOME;
		return NULL;
	}
	char *line = retry_make(id, o->any, (int)o->max_attempts, new_id, err, sizeof err, rc);
	if (!line)
		item_warn(it, "%s: %s", id, err);
	return line;
}

static void pause_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{"host", required_argument, NULL, 'h'},
		{"delay", required_argument, NULL, 'd'},
		{"dry-run", no_argument, NULL, 'n'},
		{"together", no_argument, NULL, 't'},
		{"retry", no_argument, NULL, 'r'},
		{"any", no_argument, NULL, 'A'},
		{"max-attempts", required_argument, NULL, 'm'},
		{0, 0, 0, 0},
	};
	struct opts o = {.max_attempts = RETRY_MAX_ATTEMPTS};
	int c, tried = 0;
	progname = "cosmos-submit";
	std_options(argc > 1 ? argv[1] : NULL, usage_text);
	setvbuf(stdout, NULL, _IOLBF, 0);
	while ((c = getopt_long(argc, argv, "+", lo, NULL)) != -1) {
		switch (c) {
		case 'h': o.host = optarg; break;
		case 'd':
			if (parse_long(optarg, &o.delay_ms) < 0 || o.delay_ms < 0 || o.delay_ms > 86400000)
				errx_(EX_USAGE_, "--delay: '%s' is not a number of milliseconds", shown(optarg));
			break;
		case 'n': o.dry_run = 1; break;
		case 't': o.together = 1; break;
		case 'r': o.retry = 1; break;
		case 'A': o.any = 1; break;
		case 'm':
			if (parse_long(optarg, &o.max_attempts) < 0 || o.max_attempts < 1 || o.max_attempts > 1000)
				errx_(EX_USAGE_, "--max-attempts: '%s' is not a number from 1 to 1000", shown(optarg));
			break;
		default: usage();
		}
	}
	if (o.retry ? o.together || o.dry_run || o.host
	            : o.any || o.max_attempts != RETRY_MAX_ATTEMPTS ||
	                  (optind < argc && !(argc - optind == 1 && !strcmp(argv[optind], "-"))))
		usage();
	if (!o.dry_run && store_open(1) < 0)
		err_(EX_STORE, "%s", store_root());

	struct items it;
	if (o.retry ? items_init(&it, argc - optind, argv + optind) < 0 : items_init(&it, 0, NULL) < 0)
		errx_(EX_USAGE_, "no operands, and standard input is a terminal");
	int worst = 0, n = 0;
	const char *line;
	while ((line = items_next(&it))) {
		int rc;
		char *made = NULL;
		if (o.retry && !(line = made = retry_line(&it, line, &o, &rc))) {
			record_worst(&worst, rc);
			continue;
		}
		if (n++ && o.delay_ms) {
			/* Idle time: finish what is in flight first. */
			while (qlen)
				record_worst(&worst, land_oldest());
			pause_ms(o.delay_ms);
		}
		const char *why = "not a JSON object";
		cJSON *req = parse_line(line, &why);
		free(made);
		if (!cJSON_IsObject(req) || (why = job_check(req))) {
			item_warn(&it, "%s", why);
			rc = EX_SOME;
		} else if (o.together && !tried++ && together(&it, req, &o, &worst) == 0) {
			break; /* every request went into one start */
		} else {
			if (qlen == IN_FLIGHT)
				rc = land_oldest();
			else
				rc = 0;
			launch(&it, req, &o, &queue[(qhead + qlen) % IN_FLIGHT]);
			qlen++;
		}
		cJSON_Delete(req);
		record_worst(&worst, rc);
		/* Nothing more to read yet: finish what is in flight, so that a
		 * caller feeding one line at a time sees each result. */
		if (!items_ready(&it))
			while (qlen)
				record_worst(&worst, land_oldest());
	}
	while (qlen)
		record_worst(&worst, land_oldest());
	if (it.errors)
		worst = exit_worst(worst, EX_SOME);
	items_free(&it);
	remote_close_all();
	finish_stdout();
	return worst;
}
