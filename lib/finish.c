/* finish.c - see finish.h. */
#define _GNU_SOURCE
#include "finish.h"
#include "enhance.h"
#include "packed.h"
#include "record.h"
#include "store.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int plain_name(const char *n, size_t len)
{
	if (!len || n[0] == '.' || len > 255)
		return 0;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)n[i] < 0x20 || n[i] == 0x7f || n[i] == '\\' || n[i] == '/')
			return 0;
	return 1;
}

int finish_safe_name(const char *n)
{
	const char *slash = strchr(n, '/');
	if (!slash)
		return plain_name(n, strlen(n));
	return plain_name(n, (size_t)(slash - n)) && plain_name(slash + 1, strlen(slash + 1));
}

cJSON *finish_judge(const char *state, const char *code, const cJSON *rec)
{
	cJSON *p = cJSON_CreateObject();
	char ts[TIMESTAMP_LEN];
	timestamp_now(ts);
	if (strcmp(code, "-") != 0) {
		long c = atol(code);
		jset_num(p, "exit_code", (double)c);
		jset_str(p, "status", c == 0 ? "completed" : "failed");
		if (c)
			jset(p, "reason", cJSON_CreateString("model exited with a non-zero code"));
		jset_str(p, "completed_at", ts);
	} else if (!strcmp(state, "running") || !strcmp(state, "restarting") || !strcmp(state, "paused")) {
		if (!strcmp(jstr(rec, "status"), "running")) {
			cJSON_Delete(p);
			return NULL;
		}
		jset_str(p, "status", "running");
		jset_str(p, "started_at", ts);
	} else if (!strcmp(state, "created")) {
		cJSON_Delete(p);
		return NULL;
	} else {
		jset_str(p, "status", "failed");
		jset_str(p, "completed_at", ts);
		if (!strcmp(state, "missing"))
			jset_str(p, "reason", "lost: the container is gone and left no completion marker");
		else if (!strcmp(state, "exited") || !strcmp(state, "dead") || !strcmp(state, "removing"))
			jset_str(p, "reason", "the container exited without a completion marker");
		else {
			char *why = xasprintf("unknown container state '%s'", shown(state));
			jset_str(p, "reason", why);
			free(why);
		}
	}
	return p;
}

int finish_run(cJSON *rec, void *arg)
{
	cJSON *patch = arg;
	if (status_terminal(jstr(rec, "status")))
		return STORE_KEEP;
	const char *to = jstr(patch, "status");
	const char *text = jstr(cJSON_GetObjectItemCaseSensitive(patch, "outputs"), "enhanced_prompt");
	if (text && to && !strcmp(to, "completed")) {
		char *copy = xstrdup(text); /* enhance_apply sets it again */
		enhance_apply(rec, copy, patch);
		free(copy);
	}
	return record_patch(rec, patch);
}

/* Download rel to DIR/name (making DIR/sub for "sub/file"); record it in out. */
static int fetch_one(struct remote *r, const char *id, const char *rel, const char *name, double size, cJSON *out)
{
	char *dir = store_run_dir(id, 1);
	if (!dir)
		err_(EX_STORE, "runs/%s", id);
	char *local = xasprintf("%s/%s", dir, name), *slash = strrchr(local, '/');
	int rc = 0;
	if (strchr(name, '/')) {
		*slash = '\0';
		if (mkdir(local, 0755) < 0 && errno != EEXIST)
			err_(EX_STORE, "%s", local);
		*slash = '/';
	}
	if (remote_fetch(r, rel, local, (uint64_t)size) < 0) {
		warnx_("%s: %s", id, r->err);
		rc = -1;
	} else {
		jset_num(jobj(out, "files"), name, size);
		if (!strcmp(name, "output.mp4"))
			jset_str(out, "video", local);
		else if (!strcmp(name, "run.log"))
			jset_str(out, "log", local);
		else if (!strcmp(name, "batch_results.json"))
			jset_str(out, "results", local);
	}
	free(local);
	free(dir);
	return rc;
}

/* Patch an enhance run's (or child's) outcome from the results file. */
static void enhanced(cJSON *patch, const char *results, const char *prompt_id)
{
	const char *why = "the enhancer wrote no batch_results.json";
	char *text = results && prompt_id ? enhance_result(results, prompt_id, &why) : NULL;
	if (text)
		jset_str(jobj(patch, "outputs"), "enhanced_prompt", text);
	else {
		jset_str(patch, "status", "failed");
		jset_str(patch, "reason", why);
	}
	free(text);
}

/* One patch per child of a finished packed batch, from what reached it. */
static void child_patches(const cJSON *parent, const cJSON *patch, cJSON *kids, const cJSON *ids)
{
	char ts[TIMESTAMP_LEN];
	timestamp_now(ts);
	const cJSON *made = cJSON_GetObjectItemCaseSensitive(patch, "outputs");
	const char *results = jstr(made, "results"), *log = jstr(made, "log");
	int code = (int)jnum(patch, "exit_code", 0), i = 0;
	const cJSON *id;
	cJSON_ArrayForEach(id, ids) {
		cJSON *k = cJSON_GetArrayItem(kids, i);
		cJSON *out = cJSON_GetObjectItemCaseSensitive(k, "outputs");
		jset_str(k, "status", "completed");
		jset_str(k, "completed_at", ts);
		if (log)
			jset_str(out, "log", log); /* the batch's one log */
		if (!strcmp(jstr(parent, "model_type"), "enhance_batch")) {
			cJSON *child = store_load(cJSON_GetStringValue(id));
			enhanced(k, results, jstr(child, "prompt_id"));
			cJSON_Delete(child);
		} else if (!jstr(out, "video")) {
			char *why = code ? xasprintf("the batch wrote no video_%d/output.mp4 (its model exited with code %d)", i, code)
			                 : xasprintf("the batch wrote no video_%d/output.mp4", i);
			jset_str(k, "status", "failed");
			jset_str(k, "reason", why);
			free(why);
		}
		i++;
	}
}

int finish_fetch(struct remote *r, const cJSON *rec, const cJSON *files, cJSON *patch, cJSON *kids)
{
	const char *id = jstr(rec, "id"), *model = jstr(rec, "model_type");
	const cJSON *ids = packed_parent(rec)
	    ? cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(rec, "execution_config"), "child_run_ids")
	    : NULL;
	int n = cJSON_GetArraySize(ids), rc = 0;
	for (int i = 0; i < n; i++) {
		cJSON *k = cJSON_CreateObject();
		jobj(k, "outputs");
		cJSON_AddItemToArray(kids, k);
	}
	const cJSON *f;
	cJSON_ArrayForEach(f, files) {
		const char *name = jstr(f, "name"), *rest;
		char *rel = xasprintf("outputs/run_%s/%s", id, name);
		int i = ids ? packed_index(name, n, &rest) : -1;
		const char *child = i >= 0 ? cJSON_GetStringValue(cJSON_GetArrayItem(ids, i)) : NULL;
		if (ids && i < 0 && strchr(name, '/'))
			/* A batch's subdirectories are its children's, and no more. */
			warnx_("%s: refusing output %s: not video_<i>/ of one of its %d children", id, shown(name), n);
		else if (i >= 0 && id_kind(child) == ID_RUN)
			rc |= fetch_one(r, child, rel, rest, jnum(f, "size", 0),
			    jobj(cJSON_GetArrayItem(kids, i), "outputs"));
		else
			rc |= fetch_one(r, id, rel, name, jnum(f, "size", 0), jobj(patch, "outputs"));
		free(rel);
	}
	if (rc)
		return -1;
	const char *to = jstr(patch, "status");
	if (ids)
		child_patches(rec, patch, kids, ids);
	else if (!strcmp(model, "enhance") && to && !strcmp(to, "completed"))
		enhanced(patch, jstr(jobj(patch, "outputs"), "results"), jstr(rec, "prompt_id"));
	return 0;
}
