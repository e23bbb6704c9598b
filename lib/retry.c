/* retry.c - see retry.h. */
#define _GNU_SOURCE
#include "retry.h"
#include "batch.h"
#include "packed.h"
#include "record.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/*
 * What a new attempt may cure: the job or its machine went away, the link
 * broke while its input went up, or the provider was busy or broken for a
 * while.  Never what the same request
 * would meet again (bad_request, filtered, auth, quota_exhausted,
 * model_unavailable, exit_code, timeout, out_of_memory, deadline), what a
 * person did (cancelled, aborted), nor submit_unknown: the provider may
 * have started it, and a second one would be paid twice.
 */
static const char *const retryable[] = {
	"remote_lost", "node_fail", "preempted", "boot_fail", "rate_limited", "provider_error", "download_failed",
	"connection_lost", NULL,
};

int retry_reason_retryable(const char *reason)
{
	for (int i = 0; reason && retryable[i]; i++)
		if (!strcmp(reason, retryable[i]))
			return 1;
	return 0;
}

const char *retry_reason(const cJSON *rec)
{
	const char *code = jstr(rec, "reason_code");
	if (code && *code)
		return code;
	return jnum(rec, "exit_code", 0) != 0 ? "exit_code" : "unknown";
}

/* runs/<id>/NAME, the directory made with create; NULL without it. */
static char *run_path(const char *id, const char *name, int create)
{
	char *dir = store_run_dir(id, create);
	char *p = dir ? xasprintf("%s/%s", dir, name) : NULL;
	free(dir);
	return p;
}

int request_save(const char *id, const char *text)
{
	char *path = run_path(id, "request.json", 1);
	if (!path)
		return -1;
	/* Whole or not at all: a reader never sees half a request; the part
	 * is this process's own (two retries may save one run's at once). */
	char *tmp = part_name(path);
	FILE *f = fopen(tmp, "we");
	int ok = f && fputs(text, f) != EOF && fputc('\n', f) != EOF;
	ok = (f && fclose(f) == 0) && ok;
	ok = ok && rename(tmp, path) == 0;
	if (!ok) {
		int e = errno;
		unlink(tmp);
		errno = e;
	}
	free(tmp);
	free(path);
	return ok ? 0 : -1;
}

char *request_load(const char *id)
{
	char *p = run_path(id, "request.json", 0);
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

/* A run's request: request.json, else rebuilt from its record and spec.json. */
static cJSON *request_of(const cJSON *rec)
{
	const char *id = jstr(rec, "id");
	char *line = request_load(id);
	if (line) {
		cJSON *req = cJSON_Parse(line);
		free(line);
		if (cJSON_IsObject(req))
			return req;
		cJSON_Delete(req);
		return NULL;
	}
	char *sp = run_path(id, "spec.json", 0), *text = NULL;
	FILE *f = sp ? fopen(sp, "re") : NULL;
	size_t cap = 0;
	if (f && getline(&text, &cap, f) < 0) {
		free(text);
		text = NULL;
	}
	if (f)
		fclose(f);
	free(sp);
	cJSON *spec = text ? cJSON_Parse(text) : NULL;
	free(text);
	if (!spec)
		return NULL;
	cJSON *req = cJSON_CreateObject();
	jset_str(req, "model_type", jstr(rec, "model_type"));
	jset(req, "spec", spec);
	if (jstr(rec, "prompt_id"))
		jset_str(req, "prompt_id", jstr(rec, "prompt_id"));
	const cJSON *ec = jget(rec, "execution_config");
	if (ec && ec->child)
		jset(req, "execution_config", cJSON_Duplicate(ec, 1));
	return req;
}

/* Under the failed run's lock: may it have a new attempt?  Then link it. */
struct link {
	const char *new_id;
	int any, max;
	char existing[ID_LEN + 1]; /* the attempt a retry before named */
	char why[200];
};

static int link_attempt(cJSON *rec, void *arg)
{
	struct link *l = arg;
	const char *st = jstr(rec, "status"), *reason = retry_reason(rec), *by = jstr(rec, "retried_by");
	int attempt = (int)jnum(rec, "attempt", 1);
	if (!st || strcmp(st, "failed"))
		snprintf(l->why, sizeof l->why, "is %s, not failed: not retried", st ? shown(st) : "without status");
	else if (batch_is_parent(rec))
		snprintf(l->why, sizeof l->why, "is a batch: its failed children are retried with cosmos-batch --retry-failed");
	else if (packed_parent_of(rec))
		snprintf(l->why, sizeof l->why, "ran in packed batch %s's container: not retried alone", packed_parent_of(rec));
	else if (!l->any && !retry_reason_retryable(reason))
		snprintf(l->why, sizeof l->why, "failed with reason %s, which a new attempt does not cure: not retried (--any retries it)",
		    shown(reason));
	else if (attempt >= l->max)
		snprintf(l->why, sizeof l->why, "has had %d attempt%s (--max-attempts %d): not retried", attempt,
		    attempt == 1 ? "" : "s", l->max);
	else if (by) {
		snprintf(l->existing, sizeof l->existing, "%s", id_kind(by) == ID_RUN ? by : "");
		if (!*l->existing)
			snprintf(l->why, sizeof l->why, "has a retried_by that is not a run id: not retried");
		return *l->existing ? STORE_KEEP : STORE_ABORT;
	} else {
		jset_str(rec, "retried_by", l->new_id);
		return STORE_WRITE;
	}
	return STORE_ABORT;
}

/* Under a batch parent's lock: the new attempt takes the old one's place. */
struct place {
	const char *old_id, *new_id;
	int index;
	char why[160];
};

static int take_place(cJSON *parent, void *arg)
{
	struct place *p = arg;
	cJSON *ec = jobj(parent, "execution_config");
	cJSON *ids = cJSON_GetObjectItemCaseSensitive(ec, "child_run_ids");
	cJSON *at = cJSON_IsArray(ids) && p->index >= 0 ? cJSON_GetArrayItem(ids, p->index) : NULL;
	const char *was = cJSON_GetStringValue(at);
	if (was && !strcmp(was, p->new_id))
		return STORE_KEEP; /* placed by a retry before */
	if (!was || strcmp(was, p->old_id)) {
		snprintf(p->why, sizeof p->why, "its batch %s does not have it at index %d: not retried", jstr(parent, "id"),
		    p->index);
		return STORE_ABORT;
	}
	cJSON_ReplaceItemInArray(ids, p->index, cJSON_CreateString(p->new_id));
	if (status_terminal(jstr(parent, "status"))) {
		/* Its status sums up its children: it is not over while one
		 * of them has an attempt to come. */
		jset_str(parent, "status", "running");
		cJSON_DeleteItemFromObjectCaseSensitive(parent, "reason");
		cJSON_DeleteItemFromObjectCaseSensitive(parent, "completed_at");
	}
	/* Its counts as they now are: the new attempt in, the old one out. */
	int moving;
	cJSON *now = batch_parent_patch(parent, &moving);
	const cJSON *counts = jget(jget(now, "outputs"), "children");
	if (counts)
		jset(jobj(parent, "outputs"), "children", cJSON_Duplicate(counts, 1));
	cJSON_Delete(now);
	return STORE_WRITE;
}

/* The new attempt's record (unless a retry before made it) and request. */
static int make_attempt(const cJSON *old, cJSON *req, const char *new_id, char *err, size_t len)
{
	cJSON *rec = store_load(new_id);
	if (rec) {
		const char *st = jstr(rec, "status"), *of = jstr(rec, "retry_of");
		int ours = st && !strcmp(st, "pending") && of && !strcmp(of, jstr(old, "id"));
		if (!ours)
			snprintf(err, len, "already retried by %s (%s): not retried again", new_id, st ? shown(st) : "no status");
		cJSON_Delete(rec);
		if (!ours)
			return EX_SOME;
	} else if (errno != ENOENT) {
		snprintf(err, len, "%s: %s", new_id, strerror(errno));
		return EX_STORE;
	} else {
		rec = run_new(jstr(old, "model_type"));
		jset_str(rec, "id", new_id);
		if (jstr(req, "prompt_id"))
			jset_str(rec, "prompt_id", jstr(req, "prompt_id"));
		const cJSON *ec = jget(req, "execution_config");
		if (ec)
			jset(rec, "execution_config", cJSON_Duplicate(ec, 1));
		jset_str(rec, "retry_of", jstr(old, "id"));
		jset_num(rec, "attempt", jnum(old, "attempt", 1) + 1);
		int r = store_create(rec);
		cJSON_Delete(rec);
		if (r < 0 && errno != EEXIST) {
			snprintf(err, len, "cannot store run %s: %s", new_id, strerror(errno));
			return EX_STORE;
		}
	}
	char *line = cJSON_PrintUnformatted(req);
	int r = request_save(new_id, line);
	cJSON_free(line);
	if (r < 0) {
		snprintf(err, len, "runs/%s/request.json: %s", new_id, strerror(errno));
		return EX_STORE;
	}
	return 0;
}

char *retry_make(const char *id, int any, int max_attempts, char new_id[ID_LEN + 1],
    char *err, size_t len, int *code)
{
	*code = EX_SOME;
	cJSON *old = store_load(id);
	if (!old) {
		snprintf(err, len, "%s", errno == ENOENT ? "no such run" : strerror(errno));
		*code = errno == ENOENT || errno == EINVAL ? EX_SOME : EX_STORE;
		return NULL;
	}
	cJSON *req = request_of(old);
	char fresh[ID_LEN + 1];
	id_new(ID_RUN, fresh);
	struct link l = {.new_id = fresh, .any = any, .max = max_attempts};
	int v = req ? store_update(id, link_attempt, &l, NULL) : STORE_ABORT;
	if (!req)
		snprintf(err, len, "has no request.json or spec.json to start again from: not retried");
	else if (v < 0) {
		snprintf(err, len, "%s", strerror(errno));
		*code = EX_STORE;
	} else if (v == STORE_ABORT)
		snprintf(err, len, "%s", l.why);
	if (v < 0 || v == STORE_ABORT) {
		cJSON_Delete(req);
		cJSON_Delete(old);
		return NULL;
	}
	memcpy(new_id, *l.existing ? l.existing : fresh, ID_LEN + 1);
	/* It goes where the failed run went, under the new id. */
	jset_str(req, "run_id", new_id);
	if (!jstr(req, "host") && jstr(old, "host"))
		jset_str(req, "host", jstr(old, "host"));
	char *line = NULL;
	if (!(*code = make_attempt(old, req, new_id, err, len))) {
		const char *batch = jstr(jget(old, "execution_config"), "batch_run_id");
		struct place p = {id, new_id, (int)jnum(jget(old, "execution_config"), "batch_index", -1), ""};
		v = batch ? store_update(batch, take_place, &p, NULL) : STORE_KEEP;
		if (v < 0) {
			snprintf(err, len, "its batch %s: %s", batch, strerror(errno));
			*code = errno == ENOENT || errno == EINVAL ? EX_SOME : EX_STORE;
		} else if (v == STORE_ABORT)
			snprintf(err, len, "%s", p.why), *code = EX_SOME;
		else
			line = cJSON_PrintUnformatted(req);
	}
	cJSON_Delete(req);
	cJSON_Delete(old);
	return line;
}
