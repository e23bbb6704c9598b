/*
 * backend_http.c - "http": hosted video models over their documented
 * HTTP APIs, one long-running-operation client for every provider
 * (provider.h: a table each).  A run is one operation at the provider;
 * its record keeps the operation's name or id as job.handle.
 *
 * Invariants:
 *  - Every request of a host goes over one libcurl pool (http.c): one
 *    connection per server, kept alive.  A poll asks about all of the
 *    host's unfinished operations at once, with the provider's list
 *    endpoint where it has one.
 *  - Submits to a host are spaced by min_interval_ms, across every
 *    process of this machine (a lock file in $COSMOS_DIR/http/).
 *  - An operation is submitted at most once per run: a marker in the run
 *    directory says "sending" before the request goes and holds the
 *    handle after.  A submit cut off after sending is failed
 *    (submit_unknown), never sent again: it may exist, and be billed.
 *  - A 429 waits as the answer says, a bounded number of times; a daily
 *    quota fails at once; a 5xx or a connection that never opened is
 *    retried with backoff; a timeout after the request went is
 *    submit_unknown.  A poll that fails changes nothing.
 *  - Unknown means failed: a finished operation without a video, or an
 *    answer of a shape we do not know, fails the run with a reason_code.
 */
#define _GNU_SOURCE
#include "backend.h"
#include "http.h"
#include "provider.h"
#include "record.h"
#include "remote.h"
#include "store.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define TRIES_429 5      /* waits on a rate limit before giving up */
#define TRIES_5XX 4      /* retries of a 5xx or a connection not made */
#define LONGEST_WAIT 300 /* seconds: a longer Retry-After fails at once */
#define MAX_UPLOAD (100u << 20) /* the client libraries' limit for an input file */
#define LIST_FROM 3      /* operations at which the list endpoint pays */

struct state {
	const struct provider *p;
	struct http *http;
	char *base;      /* the API's URL, without a trailing slash */
	cJSON *videos;   /* the last poll's finished runs: {id: [url, ...]} */
};

/* A start, done at once (the request is synchronous): its outcome. */
struct hjob {
	int rc;
	char handle[256];
	cJSON *fields;
	char err[512], code[32];
};

static struct state *st_of(struct remote *r)
{
	return r->priv;
}

/* A file name from the host's name, for $COSMOS_DIR/http/. */
static char *host_file(const struct remote *r, const char *ext)
{
	char *name = xstrdup(r->host.name);
	for (char *c = name; *c; c++)
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_", *c))
			*c = '_';
	char *dir = xasprintf("%s/http", store_root());
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		warn_("%s", dir);
	char *p = xasprintf("%s/%s.%s", dir, name, ext);
	free(dir);
	free(name);
	return p;
}

static void pause_s(double s)
{
	struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* --- configure and open ------------------------------------------------- */

static int configure(struct host *h, char *err, size_t errlen)
{
	const struct provider *p = h->provider ? provider_find(h->provider) : NULL;
	char why[256];
	if (!p) {
		snprintf(err, errlen, "host '%s': %s", shown(h->name),
		    h->provider ? "provider is not gemini or replicate" : "no provider (gemini or replicate)");
		return -1;
	}
	if (!h->url)
		h->url = xstrdup(p->url);
	if (!h->credential_hosts)
		h->credential_hosts = xstrdup(p->cred_hosts);
	if (http_url_ok(h->url, why, sizeof why) < 0) {
		snprintf(err, errlen, "host '%s': url %s", shown(h->name), why);
		return -1;
	}
	if (!h->key_file) {
		snprintf(err, errlen, "host '%s': no key_file (the file that holds the API key)", shown(h->name));
		return -1;
	}
	if (h->key_file[0] == '~' && h->key_file[1] == '/') {
		char *k = xasprintf("%s%s", getenv("HOME") ? getenv("HOME") : "", h->key_file + 1);
		free(h->key_file);
		h->key_file = k;
	}
	/* The API itself must be a host the key may go to, or nothing works. */
	if (!http_cred_url(h->credential_hosts, h->url)) {
		char *host = http_host(h->url);
		snprintf(err, errlen, "host '%s': the url's host %s is not in credential_hosts (%s)", shown(h->name),
		    shown(host), shown(h->credential_hosts));
		free(host);
		return -1;
	}
	if (!h->min_interval_set)
		h->min_interval_ms = 1500;
	if (!h->connect_timeout)
		h->connect_timeout = 10;
	if (!h->io_timeout)
		h->io_timeout = 60;
	if (!h->max_download_mb)
		h->max_download_mb = 2048;
	return 0;
}

static int open_host(struct remote *r)
{
	struct state *s = xmalloc(sizeof *s);
	const struct host *h = &r->host;
	s->p = provider_find(h->provider);
	struct http_conf c = {h->key_file, s->p->auth_header, s->p->auth_prefix, h->credential_hosts,
	                      h->connect_timeout, h->io_timeout, h->max_download_mb};
	s->http = http_new(&c);
	if (!s->http) {
		free(s);
		snprintf(r->err, sizeof r->err, "libcurl cannot start");
		return EX_UNAVAIL;
	}
	s->base = xstrdup(h->url);
	size_t n = strlen(s->base);
	while (n && s->base[n - 1] == '/')
		s->base[--n] = '\0';
	s->videos = cJSON_CreateObject();
	r->priv = s;
	return 0;
}

static void close_host(struct remote *r)
{
	struct state *s = st_of(r);
	if (!s)
		return;
	if (getenv("COSMOS_HTTP_STATS"))
		fprintf(stderr, "%s: http: %s: %ld connections, %ld requests\n", progname, r->host.name,
		    http_connections(s->http), http_requests(s->http));
	http_free(s->http);
	cJSON_Delete(s->videos);
	free(s->base);
	free(s);
	r->priv = NULL;
}

/* The model a request runs: its own, the host's for its type, the
 * host's, or the provider's default; NULL if none. */
static const char *model_of(const struct remote *r, const char *type, const cJSON *ec)
{
	const struct provider *p = st_of((struct remote *)r)->p;
	const char *m = jstr(ec, "model");
	if (m)
		return m;
	m = !strcmp(type, "generate") ? r->host.generate_model : r->host.upscale_model;
	if (m || (m = r->host.model))
		return m;
	return !strcmp(type, "generate") ? p->model_generate : p->model_upscale;
}

static const char *refuses(struct remote *r, const cJSON *req)
{
	static char why[256];
	const char *type = jstr(req, "model_type");
	if (strcmp(type, "generate") && strcmp(type, "upscale")) {
		snprintf(why, sizeof why, "a hosted model runs generate and upscale requests, not %s", type);
		return why;
	}
	const char *no = st_of(r)->p->refuses(type);
	if (no)
		return no;
	if (!model_of(r, type, jget(req, "execution_config"))) {
		snprintf(why, sizeof why, "host '%s' has no %s model: give --model, or set %s_model in the hosts file",
		    shown(r->host.name), type, type);
		return why;
	}
	return NULL;
}

/* --- requests ----------------------------------------------------------- */

static char *url_of(const struct state *s, const char *path)
{
	return xasprintf("%s/%s", s->base, path);
}

/* One request, made at once; its answer in q (caller frees q). */
static void request(struct state *s, struct http_req *q, const char *method, const char *url, const char *body)
{
	*q = (struct http_req){.method = method, .url = url, .body = body};
	struct http_req *v[] = {q};
	http_run(s->http, v, 1);
}

/* What an error answer means, into err and code; its exit code class. */
static int refused(struct remote *r, const struct http_req *q, const char *what, char *err, size_t len, char *code)
{
	struct state *s = st_of(r);
	struct verdict v = {"", ""};
	cJSON *body = cJSON_Parse(q->body_out.s ? q->body_out.s : "");
	s->p->error(q->status, body, &v);
	cJSON_Delete(body);
	snprintf(err, len, "%s: %s", what, v.reason);
	http_scrub(s->http, err);
	snprintf(code, 32, "%s", v.code);
	return !strcmp(v.code, "auth") ? EX_UNAVAIL : !strcmp(v.code, "provider_error") ? EX_TEMP : EX_SOME;
}

/* --- stage: inputs uploaded once by content ----------------------------- */

/* A file URL this host was given for content hex before, or NULL. */
static char *known_upload(const char *list, const char *hex)
{
	FILE *f = fopen(list, "re");
	char line[1024], *url = NULL;
	while (f && fgets(line, sizeof line, f))
		if (!strncmp(line, hex, 64) && line[64] == ' ') {
			line[strcspn(line, "\n")] = '\0';
			free(url);
			url = xstrdup(line + 65);
		}
	if (f)
		fclose(f);
	return url;
}

static char *stage(struct remote *r, const char *local, const char *source_run)
{
	(void)source_run;
	struct state *s = st_of(r);
	struct stat sb;
	char hex[65];
	if (!s->p->upload_path) {
		snprintf(r->err, sizeof r->err, "%s takes no input files", s->p->name);
		return NULL;
	}
	if (stat(local, &sb) < 0 || sha256_file(local, hex) < 0) {
		snprintf(r->err, sizeof r->err, "%s: %s", shown(local), strerror(errno));
		return NULL;
	}
	if ((uint64_t)sb.st_size > MAX_UPLOAD) {
		snprintf(r->err, sizeof r->err, "%s: %lld bytes: %s takes input files up to 100 MB", shown(local),
		    (long long)sb.st_size, s->p->name);
		return NULL;
	}
	char *list = host_file(r, "files"), *url = known_upload(list, hex);
	struct http_req q;
	if (url) {
		/* Uploaded before: still there? */
		request(s, &q, "GET", url, NULL);
		int there = q.status == 200;
		http_req_free(&q);
		if (there) {
			free(list);
			return url;
		}
		free(url);
		url = NULL;
	}
	char *to = url_of(s, s->p->upload_path);
	const char *base = strrchr(local, '/') ? strrchr(local, '/') + 1 : local;
	q = (struct http_req){.method = "POST", .url = to, .upload_file = local, .upload_name = base};
	struct http_req *v[] = {&q};
	http_run(s->http, v, 1);
	cJSON *ans = q.status / 100 == 2 ? cJSON_Parse(q.body_out.s ? q.body_out.s : "") : NULL;
	url = ans ? s->p->uploaded(ans) : NULL;
	if (url && http_url_ok(url, r->err, sizeof r->err) == 0) {
		FILE *f = fopen(list, "ae");
		if (!f || fprintf(f, "%s %s\n", hex, url) < 0 || fclose(f) != 0)
			warn_("%s", list);
	} else {
		if (q.transport || !q.status) {
			snprintf(r->err, sizeof r->err, "upload of %s: %s", shown(local), q.err);
			if (!q.transport) /* refused before sending: the key */
				snprintf(r->why_code, sizeof r->why_code, "auth");
		} else if (q.status / 100 != 2)
			refused(r, &q, "upload", r->err, sizeof r->err, r->why_code);
		else
			snprintf(r->err, sizeof r->err, "upload of %s: the answer named no file URL", shown(local));
		free(url);
		url = NULL;
	}
	cJSON_Delete(ans);
	http_req_free(&q);
	free(to);
	free(list);
	return url;
}

/* --- start: one submit, spaced, retried where that is safe -------------- */

/* Wait for this host's turn to submit; the lock held (or -1: no spacing). */
static int pace_take(struct remote *r)
{
	if (r->host.min_interval_ms <= 0)
		return -1;
	char *path = host_file(r, "pace");
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	free(path);
	if (fd < 0 || flock(fd, LOCK_EX) < 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	char buf[32] = "";
	ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
	long long last = n > 0 ? atoll(buf) : 0, wait = last + r->host.min_interval_ms - now_ms();
	if (wait > 0 && wait <= r->host.min_interval_ms)
		pause_s((double)wait / 1000);
	return fd;
}

/* After a submit has had its answer: the next may go an interval later. */
static void pace_give(int fd)
{
	if (fd < 0)
		return;
	char buf[32];
	int n = snprintf(buf, sizeof buf, "%lld\n", now_ms());
	if (ftruncate(fd, 0) < 0 || pwrite(fd, buf, (size_t)n, 0) != n)
		warn_("pace");
	close(fd);
}

/* The run's submit marker: "sending", then "handle H". */
static char *marker_path(const char *id)
{
	char *dir = store_run_dir(id, 1), *p = dir ? xasprintf("%s/.submit", dir) : NULL;
	free(dir);
	return p;
}

static int marker_write(const char *path, const char *text)
{
	char *tmp = xasprintf("%s.new", path);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600), ok = fd >= 0;
	ok = ok && write(fd, text, strlen(text)) == (ssize_t)strlen(text) && fsync(fd) == 0;
	if (fd >= 0 && close(fd) < 0)
		ok = 0;
	ok = ok && rename(tmp, path) == 0;
	free(tmp);
	return ok ? 0 : -1;
}

static void fail(struct hjob *j, int rc, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void fail(struct hjob *j, int rc, const char *code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	j->rc = rc;
	snprintf(j->code, sizeof j->code, "%s", code);
	vsnprintf(j->err, sizeof j->err, fmt, ap);
	va_end(ap);
}

/* POST the submit until it has an answer that is not worth waiting out. */
static void submit(struct remote *r, struct hjob *j, const char *url, const char *body, const char *mark)
{
	struct state *s = st_of(r);
	int n429 = 0, n5xx = 0, pace = pace_take(r);
	for (;;) {
		struct http_req q;
		request(s, &q, "POST", url, body);
		cJSON *ans = cJSON_Parse(q.body_out.s ? q.body_out.s : "");
		double wait = -1;
		char *h = NULL;
		if (!q.transport && !q.status) /* refused before sending: the key, the URL */
			fail(j, EX_UNAVAIL, "auth", "%s", q.err);
		else if (q.transport && q.sent)
			fail(j, EX_SOME, "submit_unknown",
			    "the submit was sent and its answer lost (%s): not sent again, since the provider may have "
			    "started it", q.err);
		else if (q.transport)
			wait = n5xx++ < TRIES_5XX ? 0.25 * (1 << n5xx) : -1;
		else if (q.status / 100 == 2 && (h = s->p->handle(ans, j->fields)) && strlen(h) < sizeof j->handle)
			snprintf(j->handle, sizeof j->handle, "%s", h);
		else if (q.status / 100 == 2)
			fail(j, EX_SOME, "provider_error", "%s", "the provider accepted the submit but named no operation");
		else if (q.status == 429) {
			/* The header, else the body; said neither, 1, 2, 4... s. */
			double hint = s->p->retry_after(ans);
			wait = q.retry_after >= 0 ? q.retry_after : hint >= 0 ? hint : 1.0 * (1 << n429);
			if (hint == RETRY_NEVER || wait > LONGEST_WAIT || n429++ >= TRIES_429)
				refused(r, &q, "submit", j->err, sizeof j->err, j->code), j->rc = EX_TEMP, wait = -1;
		} else if (q.status >= 500 && n5xx++ < TRIES_5XX)
			wait = 0.25 * (1 << n5xx);
		else
			j->rc = refused(r, &q, "submit", j->err, sizeof j->err, j->code);
		if (q.transport && !q.sent && wait < 0)
			fail(j, EX_UNAVAIL, "provider_error", "cannot reach the provider: %s", q.err);
		free(h);
		cJSON_Delete(ans);
		http_req_free(&q);
		if (wait < 0)
			break;
		pause_s(wait);
	}
	pace_give(pace);
	/* Nothing was started unless the answer was lost on the way back. */
	if (!*j->handle && strcmp(j->code, "submit_unknown"))
		unlink(mark);
}

/* The marker's first line into text ("" when there is none). */
static void marker_read(const char *path, char *text, size_t len)
{
	int fd = path ? open(path, O_RDONLY | O_CLOEXEC) : -1;
	ssize_t n = fd >= 0 ? read(fd, text, len - 1) : 0;
	if (fd >= 0)
		close(fd);
	text[n > 0 ? n : 0] = '\0';
	text[strcspn(text, "\n")] = '\0';
}

static struct bjob *start(struct remote *r, const char *id, const char *model, const cJSON *job, const cJSON *ec)
{
	struct state *s = st_of(r);
	struct hjob *j = xmalloc(sizeof *j);
	*j = (struct hjob){.fields = cJSON_CreateObject()};
	char *mark = marker_path(id), why[256] = "", text[300] = "";
	marker_read(mark, text, sizeof text);
	const char *name = model_of(r, model, ec);
	cJSON *body = NULL;
	char *path = NULL;
	if (!mark)
		fail(j, EX_STORE, "", "%s", "cannot make the run's directory");
	else if (!strncmp(text, "handle ", 7) && strlen(text + 7) < sizeof j->handle) {
		memcpy(j->handle, text + 7, strlen(text + 7) + 1); /* an interrupted submit's */
		j->rc = STARTED_BEFORE;
	} else if (*text)
		fail(j, EX_SOME, "submit_unknown", "%s",
		    "an earlier submit of this run was cut off after sending: not sent again, since the provider may "
		    "have started it");
	else if (!name)
		fail(j, EX_SOME, "bad_request", "%s", "no model");
	else if (!(path = s->p->submit(model, name, jget(job, "spec"), &body, why, sizeof why)))
		fail(j, EX_SOME, "bad_request", "%s", why);
	else if (marker_write(mark, "sending\n") < 0)
		fail(j, EX_STORE, "", "cannot write %s", mark);
	else {
		char *url = url_of(s, path), *json = cJSON_PrintUnformatted(body);
		submit(r, j, url, json, mark);
		if (*j->handle) {
			char *m = xasprintf("handle %s\n", j->handle);
			if (marker_write(mark, m) < 0)
				warn_("%s", mark);
			free(m);
		}
		cJSON_free(json);
		free(url);
	}
	if (name)
		jset_str(j->fields, "model", name);
	cJSON_Delete(body);
	free(path);
	free(mark);
	return (struct bjob *)j;
}

/* A submit that died after the provider answered left the handle in its
 * marker; one that died while sending is left pending (cosmos-batch
 * --resume, or cosmos-submit of it, fails it submit_unknown). */
static int adopt(struct remote *r, const cJSON *const *recs, cJSON **jobs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char *mark = marker_path(jstr(recs[i], "id")), text[300];
		marker_read(mark, text, sizeof text);
		jobs[i] = NULL;
		if (!strncmp(text, "handle ", 7) && text[7]) {
			jobs[i] = cJSON_CreateObject();
			jset_str(jobs[i], "handle", text + 7);
			jset_str(jobs[i], "provider", st_of(r)->p->name);
		}
		free(mark);
	}
	return 0;
}

static int step(struct remote *r, struct bjob *b)
{
	(void)r, (void)b;
	return STEP_DONE;
}

static int wait_any(struct remote *r)
{
	(void)r;
	return 0;
}

static int started(struct remote *r, struct bjob *b, cJSON *job)
{
	struct hjob *j = (struct hjob *)b;
	int rc = j->rc;
	if (*j->handle) {
		jset_str(job, "handle", j->handle);
		jset_str(job, "provider", st_of(r)->p->name);
		for (cJSON *m = j->fields->child; m; m = m->next)
			jset(job, m->string, cJSON_Duplicate(m, 1));
	}
	snprintf(r->err, sizeof r->err, "%s", j->err);
	snprintf(r->why_code, sizeof r->why_code, "%s", j->code);
	cJSON_Delete(j->fields);
	free(j);
	return rc;
}

/* --- poll --------------------------------------------------------------- */

/* "file" entries for a finished run's videos: output.mp4, output_1.mp4... */
static void videos_found(struct state *s, struct poll_item *it, cJSON *urls)
{
	const char *id = jstr(it->rec, "id");
	int n = cJSON_GetArraySize(urls);
	if (it->state != RUN_ENDED || it->code != 0 || !n) {
		cJSON_Delete(urls);
		return;
	}
	it->files = cJSON_CreateArray();
	for (int i = 0; i < n; i++) {
		cJSON *f = cJSON_CreateObject();
		char *name = i ? xasprintf("output_%d.mp4", i) : xstrdup("output.mp4");
		jset_str(f, "name", name);
		jset_num(f, "size", -1); /* known once downloaded */
		cJSON_AddItemToArray(it->files, f);
		free(name);
	}
	cJSON_DeleteItemFromObjectCaseSensitive(s->videos, id);
	cJSON_AddItemToObject(s->videos, id, urls);
}

/* One operation's answer into it. */
static void read_answer(struct state *s, struct poll_item *it, const struct http_req *q, int *rc, char *err,
    size_t len)
{
	cJSON *op = q->status == 200 ? cJSON_Parse(q->body_out.s ? q->body_out.s : "") : NULL;
	if (q->status == 404 || q->status == 410) {
		it->answered = 1;
		it->state = RUN_GONE;
		snprintf(it->reason, sizeof it->reason, "%s no longer knows operation %s", s->p->name, shown(job_handle(it->rec)));
		snprintf(it->reason_code, sizeof it->reason_code, "remote_lost");
	} else if (op) {
		cJSON *urls = cJSON_CreateArray();
		it->answered = 1;
		s->p->read_op(op, it, urls);
		videos_found(s, it, urls);
	} else {
		/* Nothing changes; the next sync asks again. */
		*rc = exit_worst(*rc, q->status == 401 || q->status == 403 ? EX_UNAVAIL : EX_TEMP);
		snprintf(err, len, "poll of %s: %s", shown(job_handle(it->rec)),
		    q->transport || !q->status ? q->err : q->status == 200 ? "an answer that is not JSON" : "HTTP error");
		if (q->status && !q->transport && q->status != 200)
			snprintf(err, len, "poll of %s: HTTP %ld", shown(job_handle(it->rec)), q->status);
	}
	cJSON_Delete(op);
}

/* created_at less a second (the list's created_after is strict), or NULL. */
static char *list_since(struct poll_item *v, size_t n)
{
	const char *first = NULL;
	for (size_t i = 0; i < n; i++) {
		const char *c = jstr(jget(v[i].rec, "job"), "created_at");
		if (!c)
			return NULL;
		if (!first || strcmp(c, first) < 0)
			first = c;
	}
	long long s;
	if (!first || timestamp_parse(first, &s) < 0)
		return NULL;
	time_t t = (time_t)s - 1;
	struct tm tm;
	char out[32];
	strftime(out, sizeof out, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t, &tm));
	return xstrdup(out);
}

/*
 * The list endpoint, page by page, for operations created since the
 * oldest of v: those still running are answered from it; finished ones
 * are left for a GET of their own (the whole operation).
 */
static void poll_list(struct state *s, struct poll_item *v, size_t n)
{
	char *since = list_since(v, n), *url = NULL;
	if (!since)
		return;
	char *path = s->p->list_path(since);
	url = url_of(s, path);
	free(path);
	free(since);
	size_t left = n;
	for (int page = 0; url && left && page < 1000; page++) {
		struct http_req q;
		request(s, &q, "GET", url, NULL);
		free(url);
		url = NULL;
		cJSON *ans = q.status == 200 ? cJSON_Parse(q.body_out.s ? q.body_out.s : "") : NULL;
		const char *next = NULL;
		const cJSON *op, *items = ans ? s->p->list_items(ans, &next) : NULL;
		cJSON_ArrayForEach(op, items) {
			const char *h = s->p->op_handle(op);
			for (size_t i = 0; h && i < n; i++) {
				if (v[i].answered || strcmp(job_handle(v[i].rec), h))
					continue;
				struct poll_item it = {.rec = v[i].rec};
				cJSON *urls = cJSON_CreateArray();
				s->p->read_op(op, &it, urls);
				cJSON_Delete(urls);
				if (it.state == RUN_QUEUED || it.state == RUN_RUNNING) {
					v[i] = it;
					v[i].answered = 1;
					left--;
				}
			}
		}
		/* The next page only from a host the token may go to. */
		if (next && http_is_cred_host(s->http, next))
			url = xstrdup(next);
		cJSON_Delete(ans);
		http_req_free(&q);
	}
	free(url);
}

static int poll(struct remote *r, struct poll_item *v, size_t n)
{
	struct state *s = st_of(r);
	int rc = 0;
	if (s->p->list_path && n >= LIST_FROM)
		poll_list(s, v, n);
	struct http_req **qs = xmalloc(n * sizeof *qs), *q = xmalloc(n * sizeof *q);
	char **urls = xmalloc(n * sizeof *urls);
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		if (v[i].answered)
			continue;
		char *path = s->p->op_path(job_handle(v[i].rec));
		urls[k] = url_of(s, path);
		free(path);
		q[k] = (struct http_req){.method = "GET", .url = urls[k]};
		qs[k] = &q[k];
		k++;
	}
	http_run(s->http, qs, k);
	k = 0;
	for (size_t i = 0; i < n; i++) {
		if (v[i].answered)
			continue;
		read_answer(s, &v[i], &q[k], &rc, r->err, sizeof r->err);
		http_req_free(&q[k]);
		free(urls[k++]);
	}
	http_scrub(s->http, r->err);
	free(qs);
	free(q);
	free(urls);
	return rc;
}

/* --- cancel, log, fetch ------------------------------------------------- */

static int cancel(struct remote *r, const cJSON *rec)
{
	struct state *s = st_of(r);
	if (!s->p->cancel_path) {
		snprintf(r->err, sizeof r->err,
		    "cancelled here only: %s has no cancel, so the operation may still finish and be billed", s->p->name);
		return 0;
	}
	char *path = s->p->cancel_path(job_handle(rec)), *url = url_of(s, path);
	struct http_req q;
	request(s, &q, "POST", url, NULL);
	int rc = 0;
	char code[32];
	if (q.status == 200 || q.status == 404) /* 404: nothing left to run */
		rc = 0;
	else if (q.transport || !q.status) {
		snprintf(r->err, sizeof r->err, "cancel: %s", q.err);
		rc = EX_UNAVAIL;
	} else
		rc = exit_worst(EX_UNAVAIL, refused(r, &q, "cancel", r->err, sizeof r->err, code));
	http_req_free(&q);
	free(url);
	free(path);
	return rc;
}

static int show_log(struct remote *r, const cJSON *rec, int follow)
{
	struct state *s = st_of(r);
	if (!s->p->log_text) {
		fprintf(stderr, "%s: %s keeps no log; its operation %s reports no progress\n", progname, s->p->name,
		    shown(job_handle(rec)));
		return 0;
	}
	char *path = s->p->op_path(job_handle(rec)), *url = url_of(s, path);
	size_t shown_len = 0;
	int rc = 0;
	for (;;) {
		struct http_req q;
		request(s, &q, "GET", url, NULL);
		cJSON *op = q.status == 200 ? cJSON_Parse(q.body_out.s ? q.body_out.s : "") : NULL;
		struct poll_item it = {.rec = rec};
		cJSON *urls = cJSON_CreateArray();
		if (op) {
			const char *t = s->p->log_text(op);
			if (strlen(t) > shown_len)
				fputs(t + shown_len, stdout);
			shown_len = strlen(t);
			fflush(stdout);
			s->p->read_op(op, &it, urls);
		} else {
			snprintf(r->err, sizeof r->err, "log: %s", q.transport || !q.status ? q.err : "HTTP error");
			if (q.status && !q.transport)
				snprintf(r->err, sizeof r->err, "log: HTTP %ld", q.status);
			rc = q.status == 404 ? EX_SOME : EX_TEMP;
		}
		cJSON_Delete(urls);
		cJSON_Delete(op);
		http_req_free(&q);
		if (rc || !follow || it.state == RUN_ENDED || it.state == RUN_UNKNOWN)
			break;
		pause_s(2);
	}
	free(url);
	free(path);
	return rc;
}

static int fetch(struct remote *r, const cJSON *rec, const char *name, const char *local, uint64_t size)
{
	(void)size;
	struct state *s = st_of(r);
	const cJSON *urls = cJSON_GetObjectItemCaseSensitive(s->videos, jstr(rec, "id"));
	int i = !strcmp(name, "output.mp4") ? 0 : sscanf(name, "output_%d.mp4", &i) == 1 ? i : -1;
	const cJSON *u = i >= 0 ? cJSON_GetArrayItem(urls, i) : NULL;
	if (!cJSON_IsString(u)) {
		snprintf(r->err, sizeof r->err, "%s: no such output", shown(name));
		return EX_SOME;
	}
	uint64_t got;
	int gone;
	char why[256];
	if (http_download(s->http, u->valuestring, local, &got, &gone, why, sizeof why) == 0)
		return 0;
	snprintf(r->err, sizeof r->err, "download of %s: %s", name, why);
	if (gone) {
		snprintf(r->why_code, sizeof r->why_code, "%s", strstr(why, "no longer has it") ? "remote_lost" : "download_failed");
		return EX_SOME;
	}
	return EX_TEMP;
}

/*
 * The provider, the models the host would run (null where it has none,
 * or the provider runs no such request), and whether the API answers:
 * one GET of its base URL without the key, any HTTP status counting.
 */
static int describe(struct remote *r, cJSON *out)
{
	struct state *s = st_of(r);
	static const char *const types[] = {"generate", "upscale"};
	jset_str(out, "provider", s->p->name);
	jset_str(out, "url", s->base);
	cJSON *models = jobj(out, "models");
	for (int i = 0; i < 2; i++) {
		const char *m = s->p->refuses(types[i]) ? NULL : model_of(r, types[i], NULL);
		jset(models, types[i], m ? cJSON_CreateString(m) : cJSON_CreateNull());
	}
	struct http_req q = {.method = "GET", .url = s->base, .anonymous = 1};
	struct http_req *v[] = {&q};
	http_run(s->http, v, 1);
	int answers = q.status > 0;
	jset(out, "reachable", cJSON_CreateBool(answers));
	jset(out, "answers", cJSON_CreateBool(answers));
	if (answers)
		jset_num(out, "http_status", (double)q.status);
	else
		snprintf(r->err, sizeof r->err, "%s: %s", s->base, *q.err ? q.err : "no answer");
	http_req_free(&q);
	return answers ? 0 : EX_UNAVAIL;
}

const struct backend backend_http = {
	.name = "http",
	.configure = configure,
	.open = open_host,
	.refuses = refuses,
	.stage = stage,
	.start = start,
	.step = step,
	.wait = wait_any,
	.started = started,
	.poll = poll,
	.cancel = cancel,
	.log = show_log,
	.fetch = fetch,
	.close = close_host,
	.adopt = adopt,
	.describe = describe,
};

const struct provider *provider_find(const char *name)
{
	static const struct provider *const all[] = {&provider_gemini, &provider_replicate, NULL};
	for (int i = 0; all[i]; i++)
		if (!strcmp(all[i]->name, name))
			return all[i];
	return NULL;
}

void provider_message(long status, const cJSON *body, const char *msg, struct verdict *v)
{
	(void)body;
	if (msg && *msg)
		snprintf(v->reason, sizeof v->reason, "HTTP %ld: %s", status, shown(msg));
	else
		snprintf(v->reason, sizeof v->reason, "HTTP %ld", status);
}
