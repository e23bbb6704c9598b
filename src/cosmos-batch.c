/*
 * cosmos-batch - run many requests as one batch: a parent run and one
 * child run per request, fed to cosmos-submit with a pause between them.
 *
 *	cosmos-spec ... | cosmos-batch [--packed] [--delay MS] [--host NAME] [--async]
 *	cosmos-batch --resume BATCH_ID [--delay MS] [--async]
 *	cosmos-batch --follow BATCH_ID
 *
 * Fan-out (the default) submits each child as a run of its own.  Packed
 * submits one job, the parent's, which runs every child in one container
 * (lib/packed.h); cosmos-sync hands each child its output.
 *
 * Invariants:
 *  - The parent and every child exist (pending) before the first child is
 *    submitted; each child keeps its request in runs/<child>/request.json.
 *  - Made in this order: every request.json (each written whole, then
 *    renamed), the parent, the children.  Killed before the parent, it
 *    leaves no record; after, --resume makes the children still missing
 *    from their request.json, so no child is left pending out of reach.
 *  - A child is submitted at most once: cosmos-submit only claims pending
 *    runs and refuses a run whose job is already on the host, so --resume
 *    sends exactly the children that never reached it (packed: the whole
 *    batch, if it never reached it).
 *  - Events are JSON lines, in this order: batch.started, one
 *    batch.progress per child in batch order, batch.completed.  Every
 *    event also goes to runs/<batch>/events.jsonl.  A failed child does not
 *    stop the batch.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend.h"
#include "batch.h"
#include "feed.h"
#include "input.h"
#include "job.h"
#include "packed.h"
#include "record.h"
#include "shell.h"
#include "store.h"
#include "util.h"

struct batch {
	char id[ID_LEN + 1];
	int size;            /* children in the whole batch */
	struct feed_item *v; /* the children to submit now: id, index, request */
	int n;
	long delay_ms;
	const char *host;
	char *host_kept; /* --resume: the batch's own host */
	FILE *events;
	int bad;             /* request lines refused */
	int packed;
	char *packed_req;    /* packed: the parent's request, for cosmos-submit */
};

static const char usage_text[] =
    "usage: cosmos-batch [--packed] [--delay MS] [--host NAME] [--async] < requests\n"
    "       cosmos-batch --resume BATCH_ID [--delay MS] [--host NAME] [--async]\n"
    "       cosmos-batch --follow BATCH_ID\n";

static _Noreturn void usage(void)
{
	fputs(usage_text, stderr);
	exit(EX_USAGE_);
}

/* An event: to stdout and to the batch's events.jsonl. */
static void event(struct batch *b, cJSON *e)
{
	char *s = cJSON_PrintUnformatted(e);
	printf("%s\n", s);
	fflush(stdout);
	if (b->events) {
		fprintf(b->events, "%s\n", s);
		fflush(b->events);
	}
	cJSON_free(s);
	cJSON_Delete(e);
}

static cJSON *new_event(const char *type, const struct batch *b)
{
	cJSON *e = cJSON_CreateObject();
	jset_str(e, "event", type);
	jset_str(e, "batch_id", b->id);
	return e;
}

/* runs/<id>/NAME in the store (making the directory with create), or NULL. */
static char *run_file(const char *id, const char *name, int create)
{
	char *dir = store_run_dir(id, create);
	if (!dir && create)
		err_(EX_STORE, "runs/%s", id);
	char *p = dir ? xasprintf("%s/%s", dir, name) : NULL;
	free(dir);
	return p;
}

/* Keep a request line in runs/<id>/request.json, whole or not at all. */
static void save_request(const char *id, const char *text)
{
	char *path = run_file(id, "request.json", 1), *tmp = part_name(path);
	FILE *f = fopen(tmp, "we");
	if (!f || fputs(text, f) == EOF || fputc('\n', f) == EOF || fclose(f) != 0 || rename(tmp, path) < 0) {
		int e = errno;
		unlink(tmp);
		errno = e;
		err_(EX_STORE, "%s", path);
	}
	free(tmp);
	free(path);
}

/* A child's record (pending) as its request, which holds its run_id and
 * execution_config, describes it. */
static cJSON *child_record(const cJSON *req)
{
	cJSON *child = run_new(jstr(req, "model_type"));
	const cJSON *ec = jget(req, "execution_config");
	jset_str(child, "id", jstr(req, "run_id"));
	if (jstr(req, "prompt_id"))
		jset_str(child, "prompt_id", jstr(req, "prompt_id"));
	jset(child, "execution_config", ec ? cJSON_Duplicate(ec, 1) : cJSON_CreateObject());
	return child;
}

/* --- making the batch ---------------------------------------------------- */

/* Read the requests and make every child, then the parent. */
static void make_batch(struct batch *b)
{
	struct items it;
	if (items_init(&it, 0, NULL) < 0)
		errx_(EX_USAGE_, "no operands, and standard input is a terminal");
	cJSON **reqs = NULL;
	char (*where)[32] = NULL;
	int n = 0, all_enhance = 1, bad = 0;
	const char *line;
	while ((line = items_next(&it))) {
		const char *why = "not a JSON object";
		cJSON *req = parse_line(line, &why);
		if (cJSON_IsObject(req))
			/* Packed, cosmos-submit sees one request: each is checked here. */
			why = !jstr(req, "model_type") || !cJSON_GetObjectItemCaseSensitive(req, "spec") ||
			        cJSON_GetObjectItemCaseSensitive(req, "run_id")
			    ? "not a request (model_type, spec; no run_id)"
			    : batch_is_parent(req) ? "a batch's child cannot be a batch"
			    : b->packed ? job_check(req) : NULL;
		if (why) {
			item_warn(&it, "%s", why);
			cJSON_Delete(req);
			bad++;
			continue;
		}
		all_enhance &= !strcmp(jstr(req, "model_type"), "enhance");
		reqs = xrealloc(reqs, (size_t)(n + 1) * sizeof *reqs);
		where = xrealloc(where, (size_t)(n + 1) * sizeof *where);
		memcpy(where[n], it.where, sizeof where[n]);
		reqs[n++] = req;
	}
	bad += it.errors;
	b->bad = bad;
	items_free(&it);
	if (n == 0)
		errx_(bad ? EX_SOME : EX_USAGE_, "no requests: nothing to batch");
	/* Packed: one job for all, checked before anything is made. */
	cJSON *packed = NULL;
	if (b->packed) {
		int at;
		const char *why;
		if (!(packed = packed_request(reqs, n, &at, &why))) {
			warnx_("%s: %s", where[at], why);
			for (int i = 0; i < n; i++)
				cJSON_Delete(reqs[i]);
			free(reqs);
			free(where);
			exit(EX_SOME);
		}
	}
	free(where);

	cJSON *parent = run_new(all_enhance ? "enhance_batch" : "batch");
	memcpy(b->id, jstr(parent, "id"), sizeof b->id);
	char name[64];
	snprintf(name, sizeof name, "cosmos_%s_%.8s", all_enhance ? "enhance_batch" : "batch", b->id);
	b->v = xmalloc((size_t)n * sizeof *b->v);
	b->n = b->size = n;
	cJSON *ids = cJSON_CreateArray();
	cJSON **kids = xmalloc((size_t)n * sizeof *kids);
	for (int i = 0; i < n; i++) {
		cJSON *req = reqs[i];
		struct feed_item *c = &b->v[i];
		memset(c, 0, sizeof *c);
		id_new(ID_RUN, c->id);
		c->index = i;
		cJSON *ec = cJSON_GetObjectItemCaseSensitive(req, "execution_config");
		cJSON *cec = ec ? cJSON_Duplicate(ec, 1) : cJSON_CreateObject();
		jset_str(cec, "batch_run_id", b->id);
		jset_num(cec, "batch_index", i);
		if (packed)
			jset_str(cec, "batch_container", name);
		jset(req, "execution_config", cec);
		jset_str(req, "run_id", c->id);
		kids[i] = child_record(req);
		c->request = cJSON_PrintUnformatted(req);
		save_request(c->id, c->request);
		cJSON_AddItemToArray(ids, cJSON_CreateString(c->id));
		cJSON_Delete(req);
	}
	free(reqs);
	cJSON *ec = jobj(parent, "execution_config");
	jset_num(ec, "batch_size", n);
	if (b->host) /* for --resume */
		jset_str(ec, "host", b->host);
	jset_str(ec, "container_name", name);
	jset_str(ec, "mode", packed ? "packed" : "fan-out");
	if (!packed)
		jset_num(ec, "delay_ms", (double)b->delay_ms);
	jset(ec, "child_run_ids", ids);
	if (packed) {
		jset_str(packed, "run_id", b->id);
		b->packed_req = cJSON_PrintUnformatted(packed);
		save_request(b->id, b->packed_req);
		cJSON_Delete(packed);
	}
	if (store_create(parent) < 0)
		err_(EX_STORE, "cannot store run %s", b->id);
	cJSON_Delete(parent);
	for (int i = 0; i < n; i++) {
		if (store_create(kids[i]) < 0)
			err_(EX_STORE, "cannot store run %s", b->v[i].id);
		cJSON_Delete(kids[i]);
	}
	free(kids);
}

/* The request kept in runs/<id>/request.json, or NULL. */
static char *saved_request(const char *id)
{
	char *p = run_file(id, "request.json", 0);
	FILE *f = p ? fopen(p, "re") : NULL;
	char *l = NULL;
	size_t cap = 0;
	if (f && getline(&l, &cap, f) > 0)
		l[strcspn(l, "\n")] = '\0';
	else {
		free(l);
		l = NULL;
	}
	if (f)
		fclose(f);
	free(p);
	return l;
}

/*
 * A child the batch names but a cosmos-batch killed while making it never
 * recorded: made now, pending, from its request.json; NULL without one.
 */
static cJSON *make_missing(const char *id)
{
	char *line = saved_request(id);
	cJSON *req = line ? cJSON_Parse(line) : NULL, *child = NULL;
	free(line);
	if (req && !strcmp(jstr(req, "run_id") ? jstr(req, "run_id") : "", id)) {
		child = child_record(req);
		if (store_create(child) < 0 && errno != EEXIST) /* EEXIST: another resume made it */
			err_(EX_STORE, "cannot store run %s", id);
		cJSON_Delete(child);
		child = store_load(id);
	}
	cJSON_Delete(req);
	return child;
}

/*
 * The children of an earlier batch that never reached a host: fan-out,
 * each pending child; packed, all of them if the batch is pending.
 */
static void load_batch(struct batch *b, const char *id)
{
	cJSON *parent = store_load(id);
	if (!parent)
		errx_(EX_SOME, "%s: %s", id, errno == ENOENT ? "no such batch" : strerror(errno));
	cJSON *ec = jobj(parent, "execution_config"), *ids = cJSON_GetObjectItemCaseSensitive(ec, "child_run_ids"), *c;
	b->packed = packed_parent(parent);
	int lacks = b->packed && !strcmp(jstr(parent, "status") ? jstr(parent, "status") : "", "pending") &&
	            !(b->packed_req = saved_request(id));
	if (!cJSON_IsArray(ids) || lacks) {
		cJSON_Delete(parent);
		errx_(lacks ? EX_STORE : EX_SOME, "%s: %s", id,
		    lacks ? "packed batch has no request.json" : "not a batch (no child_run_ids)");
	}
	memcpy(b->id, id, sizeof b->id);
	if (!b->host && jstr(ec, "host")) /* the host it was started for */
		b->host = b->host_kept = xstrdup(jstr(ec, "host"));
	b->size = cJSON_GetArraySize(ids);
	b->v = xmalloc((size_t)(b->size ? b->size : 1) * sizeof *b->v);
	/* A packed batch that reached its host, killed before its children
	 * were told: they are to follow it now. */
	int started = b->packed && job_handle(parent);
	int i = 0;
	cJSON_ArrayForEach(c, ids) {
		const char *cid = cJSON_GetStringValue(c);
		cJSON *rec = id_kind(cid) == ID_RUN ? store_load(cid) : NULL;
		if (!rec && errno == ENOENT && id_kind(cid) == ID_RUN)
			rec = make_missing(cid);
		char *req = NULL;
		int pending = rec && !strcmp(jstr(rec, "status") ? jstr(rec, "status") : "", "pending");
		if (rec && (b->packed_req || (pending && (started || !b->packed)))) {
			if (!b->packed && !(req = saved_request(cid)))
				warnx_("%s: child %s has no request.json; skipped", id, cid);
			else {
				struct feed_item *ch = &b->v[b->n++];
				memset(ch, 0, sizeof *ch);
				memcpy(ch->id, cid, sizeof ch->id);
				ch->index = i;
				ch->request = req;
			}
		}
		cJSON_Delete(rec);
		i++;
	}
	cJSON_Delete(parent);
}

/* --- feeding cosmos-submit (lib/feed.c) ----------------------------------- */

static void progress_event(struct batch *b, const struct feed_item *c, int ok, const char *error);

/* feed_submit's word on a fanned-out child. */
static void fed(struct feed_item *c, void *arg)
{
	progress_event(arg, c, c->ok, c->error);
}

static void progress_event(struct batch *b, const struct feed_item *c, int ok, const char *error)
{
	cJSON *e = new_event("batch.progress", b);
	jset_str(e, "run_id", c->id);
	jset_num(e, "index", c->index);
	jset_num(e, "total", b->size);
	jset(e, "success", cJSON_CreateBool(ok));
	if (!ok)
		jset_str(e, "error", error ? error : "no result from cosmos-submit");
	if (!ok && c->reason_code)
		jset_str(e, "reason_code", c->reason_code);
	/* Which source it upscales, and what the backend calls its job. */
	cJSON *req = c->request ? cJSON_Parse(c->request) : NULL;
	const char *src = jstr(jget(req, "execution_config"), "source_run_id");
	if (src)
		jset_str(e, "source_run_id", src);
	if (c->operation)
		jset_str(e, "operation", c->operation);
	cJSON_Delete(req);
	event(b, e);
}

static void started_event(struct batch *b)
{
	cJSON *e = new_event("batch.started", b), *ids = cJSON_CreateArray();
	jset_num(e, "total", b->size);
	for (int i = 0; i < b->n; i++)
		cJSON_AddItemToArray(ids, cJSON_CreateString(b->v[i].id));
	jset(e, "child_run_ids", ids);
	if (b->n < b->size)
		jset_num(e, "resumed", b->n);
	if (b->packed)
		jset_str(e, "mode", "packed");
	event(b, e);
}

static void completed_event(struct batch *b, int ok)
{
	cJSON *e = new_event("batch.completed", b);
	jset_num(e, "success_count", ok);
	jset_num(e, "failure_count", b->n - ok);
	jset_num(e, "total", b->n);
	event(b, e);
}

/* Fan-out: submit the children in order; the number that failed. */
static int run_batch(struct batch *b)
{
	started_event(b);
	feed_submit(b->host, b->delay_ms, 1, b->v, b->n, fed, b);
	int ok = 0;
	for (int i = 0; i < b->n; i++)
		ok += b->v[i].ok;
	completed_event(b, ok);

	/* The parent now follows its children (cosmos-sync keeps it so). */
	cJSON *patch = cJSON_CreateObject();
	char ts[TIMESTAMP_LEN];
	timestamp_now(ts);
	if (ok) {
		jset_str(patch, "status", "submitted");
		jset_str(patch, "submitted_at", ts);
	} else {
		/* Still pending, so that --resume can carry on with it. */
		jset_str(patch, "reason", "no child was submitted yet");
	}
	store_update(b->id, record_patch, patch, NULL);
	cJSON_Delete(patch);
	return b->n - ok;
}

/* Under a packed child's lock: pending, it goes where its batch went. */
static int follow_batch(cJSON *rec, void *arg)
{
	const char *st = jstr(rec, "status");
	if (!st || strcmp(st, "pending"))
		return STORE_KEEP;
	cJSON *patch = arg;
	record_patch(rec, patch);
	return STORE_WRITE;
}

/* Packed: submit the parent's one job; the children go with it. */
static int run_packed(struct batch *b)
{
	started_event(b);
	struct feed_item job = {.request = b->packed_req, .ok = !b->packed_req};
	memcpy(job.id, b->id, sizeof job.id);
	if (b->packed_req)
		feed_submit(b->host, b->delay_ms, 0, &job, 1, NULL, NULL);
	cJSON *parent = store_load(b->id), *patch = cJSON_CreateObject();
	const char *st = jstr(parent, "status");
	if (job.ok) {
		/* Children share the parent's host and job.  (Running
		 * already, when its cosmos-batch was killed before this.) */
		jset_str(patch, "status", st && !strcmp(st, "running") ? "running" : "submitted");
		for (const char *k = "submitted_at\0started_at\0backend\0host\0"; *k; k += strlen(k) + 1)
			if (jstr(parent, k))
				jset_str(patch, k, jstr(parent, k));
		if (job_handle(parent))
			jset_str(jobj(patch, "job"), "batch_container", job_handle(parent));
	} else if (st && !strcmp(st, "failed")) {
		char *why = xasprintf("its packed batch did not start: %s", job.error ? job.error : jstr(parent, "reason"));
		jset_str(patch, "status", "failed");
		jset_str(patch, "reason", why);
		jset_str(patch, "completed_at", jstr(parent, "completed_at"));
		free(why);
	}
	for (int i = 0; i < b->n; i++) {
		if (patch->child)
			store_update(b->v[i].id, follow_batch, patch, NULL);
		progress_event(b, &b->v[i], job.ok, job.error);
	}
	completed_event(b, job.ok ? b->n : 0);
	cJSON_Delete(patch);
	cJSON_Delete(parent);
	free(job.error);
	free(job.operation);
	free(job.reason_code);
	return job.ok ? 0 : b->n;
}

/* --- following ------------------------------------------------------------ */

static int follow(const char *id)
{
	char *path = run_file(id, "events.jsonl", 1);
	FILE *f = NULL;
	char *line = NULL;
	size_t cap = 0;
	int done = 0;
	for (int idle = 0; !done; idle++) {
		if (!f && !(f = fopen(path, "re"))) {
			if (errno != ENOENT || idle > 50)
				err_(EX_SOME, "%s", path);
			usleep(100000);
			continue;
		}
		ssize_t n;
		while ((n = getline(&line, &cap, f)) > 0) {
			fputs(line, stdout);
			fflush(stdout);
			if (strstr(line, "\"event\":\"batch.started\""))
				done = 0;
			if (strstr(line, "\"event\":\"batch.completed\""))
				done = 1;
			idle = 0;
		}
		clearerr(f);
		if (!done)
			usleep(200000);
	}
	free(line);
	fclose(f);
	free(path);
	return 0;
}

/* Carry on in the background: out of the terminal's session, no stdio. */
static void detach(const struct batch *b)
{
	cJSON *r = store_load(b->id);
	if (r)
		record_print(r);
	cJSON_Delete(r);
	fflush(stdout);
	pid_t pid = fork();
	if (pid < 0)
		err_(EX_STORE, "fork");
	if (pid > 0)
		_exit(0);
	setsid();
	signal(SIGHUP, SIG_IGN);
	char *dir = store_run_dir(b->id, 1), *log = xasprintf("%s/batch.log", dir);
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);
	int lfd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	dup2(null, STDIN_FILENO);
	dup2(null, STDOUT_FILENO);
	dup2(lfd >= 0 ? lfd : null, STDERR_FILENO);
	free(dir);
	free(log);
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{"delay", required_argument, NULL, 'd'},
		{"host", required_argument, NULL, 'h'},
		{"async", no_argument, NULL, 'a'},
		{"resume", required_argument, NULL, 'r'},
		{"follow", required_argument, NULL, 'f'},
		{"packed", no_argument, NULL, 'p'},
		{0, 0, 0, 0},
	};
	struct batch b = {.delay_ms = 1500};
	const char *resume = NULL, *following = NULL;
	int async = 0, c;
	progname = "cosmos-batch";
	std_options(argc > 1 ? argv[1] : NULL, usage_text);
	/* A reader that goes away must not stop the batch: events also go to
	 * events.jsonl, and cosmos-submit's pipes are watched for their end. */
	signal(SIGPIPE, SIG_IGN);
	while ((c = getopt_long(argc, argv, "+", lo, NULL)) != -1) {
		switch (c) {
		case 'd':
			if (parse_long(optarg, &b.delay_ms) < 0 || b.delay_ms < 0 || b.delay_ms > 86400000)
				errx_(EX_USAGE_, "--delay: '%s' is not a number of milliseconds", shown(optarg));
			break;
		case 'h': b.host = optarg; break;
		case 'a': async = 1; break;
		case 'r': resume = optarg; break;
		case 'f': following = optarg; break;
		case 'p': b.packed = 1; break;
		default: usage();
		}
	}
	if (optind < argc || (resume && following) || (following && async) || (b.packed && (resume || following)))
		usage();
	const char *id = resume ? resume : following;
	if (id && id_kind(id) != ID_RUN)
		errx_(EX_USAGE_, "'%s' is not a run id", shown(id));
	if (store_open(1) < 0)
		err_(EX_STORE, "%s", store_root());
	if (following)
		return follow(following);
	if (resume)
		load_batch(&b, resume);
	else
		make_batch(&b);
	if (async)
		detach(&b);
	char *ep = run_file(b.id, "events.jsonl", 1);
	b.events = fopen(ep, "ae");
	if (!b.events)
		err_(EX_STORE, "%s", ep);
	free(ep);
	int failed = !b.n ? 0 : b.packed ? run_packed(&b) : run_batch(&b);
	fclose(b.events);
	for (int i = 0; i < b.n; i++) {
		free(b.v[i].request);
		free(b.v[i].error);
		free(b.v[i].operation);
		free(b.v[i].reason_code);
	}
	free(b.v);
	free(b.packed_req);
	free(b.host_kept);
	finish_stdout();
	return failed || b.bad ? EX_SOME : EX_OK;
}
