/* finish.c - see finish.h. */
#define _GNU_SOURCE
#include "finish.h"
#include "backend_shell.h"
#include "enhance.h"
#include "local.h"
#include "shell.h"
#include "packed.h"
#include "record.h"
#include "store.h"
#include "util.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
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

/* Does the record's job.gpus say list ("0,1")? */
static int same_gpus(const cJSON *have, const char *list)
{
	cJSON *want = shell_gpu_list(list);
	int same = cJSON_Compare(have, want, 1);
	cJSON_Delete(want);
	return same;
}

cJSON *finish_judge(const struct poll_item *a, const cJSON *rec)
{
	const char *st = jstr(rec, "status");
	const char *waits = jstr(jget(rec, "job"), "queue_reason");
	if (!st)
		return NULL;
	if (a->state == RUN_QUEUED) {
		/* Still queued: only why (the scheduler's reason) may change.
		 * Queued again after running (requeued, or preempted and put
		 * back): the status stays, the count of requeues grows once. */
		int again = !strcmp(st, "running") && !waits;
		const char *why = *a->reason ? a->reason : again ? "requeued" : NULL;
		if (!why || (waits && !strcmp(waits, why)))
			return NULL;
		cJSON *p = cJSON_CreateObject(), *job = jobj(p, "job");
		jset_str(job, "queue_reason", why);
		if (again)
			jset_num(job, "requeues", jnum(jget(rec, "job"), "requeues", 0) + 1);
		return p;
	}
	cJSON *p = cJSON_CreateObject();
	char ts[TIMESTAMP_LEN];
	timestamp_now(ts);
	if (waits) /* no longer waiting */
		jset(jobj(p, "job"), "queue_reason", cJSON_CreateNull());
	if (a->state == RUN_RUNNING) {
		/* The GPUs it runs on, once the host names them. */
		int gpus = *a->gpus && !same_gpus(cJSON_GetObjectItemCaseSensitive(jget(rec, "job"), "gpus"), a->gpus);
		if (!strcmp(st, "running")) {
			cJSON_Delete(p);
			if (!gpus)
				return NULL;
			p = cJSON_CreateObject();
		}
		if (gpus)
			jset(jobj(p, "job"), "gpus", shell_gpu_list(a->gpus));
		if (!strcmp(st, "running"))
			return p;
		jset_str(p, "status", "running");
		jset_str(p, "started_at", ts);
		return p;
	}
	jset_str(p, "completed_at", ts);
	/* Ended before a poll saw it run: the GPUs it ran on all the same. */
	if (*a->gpus && !same_gpus(cJSON_GetObjectItemCaseSensitive(jget(rec, "job"), "gpus"), a->gpus))
		jset(jobj(p, "job"), "gpus", shell_gpu_list(a->gpus));
	if (a->state == RUN_ENDED && a->code >= 0) {
		jset_num(p, "exit_code", a->code);
		jset_str(p, "status", a->code == 0 ? "completed" : "failed");
		if (a->code)
			jset_str(p, "reason", "model exited with a non-zero code");
		return p;
	}
	/* Ended without a code, gone, or an answer we cannot read: failed. */
	const char *why = *a->reason ? a->reason : "the job ended without a completion marker";
	char *text = a->state == RUN_GONE ? xasprintf("lost: %s", *a->reason ? a->reason : "the backend no longer knows the job")
	                                  : xstrdup(why);
	jset_str(p, "status", "failed");
	jset_str(p, "reason", text);
	free(text);
	if (*a->reason_code || a->state == RUN_GONE)
		jset_str(p, "reason_code", *a->reason_code ? a->reason_code : "remote_lost");
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

/* See finish.h. */
void finish_probe_video(const char *path, cJSON *out)
{
	struct sbuf cmd = {0}, answer = {0};
	sb_puts(&cmd, "exec ffprobe -v error -select_streams v:0 -show_entries "
	              "stream=width,height,codec_name,avg_frame_rate:format=duration -of json ");
	sb_quote(&cmd, path);
	cJSON *j = local_exec(cmd.s, NULL, 0, &answer, NULL) == 0 && answer.s ? cJSON_Parse(answer.s) : NULL;
	const cJSON *s = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(j, "streams"), 0);
	const char *rate = jstr(s, "avg_frame_rate"), *dur = jstr(jget(j, "format"), "duration");
	double num, den, d;
	if (jnum(s, "width", 0) > 0 && jnum(s, "height", 0) > 0) {
		jset_num(out, "width", jnum(s, "width", 0));
		jset_num(out, "height", jnum(s, "height", 0));
	}
	if (dur && parse_double(dur, &d) == 0 && d > 0)
		jset_num(out, "duration", floor(d * 1000 + 0.5) / 1000);
	if (rate && sscanf(rate, "%lf/%lf", &num, &den) == 2 && num > 0 && den > 0)
		jset_num(out, "fps", floor(num / den * 1000 + 0.5) / 1000);
	if (jstr(s, "codec_name"))
		jset_str(out, "codec", jstr(s, "codec_name"));
	cJSON_Delete(j);
	sb_free(&cmd);
	sb_free(&answer);
}

/* dir/sub made, unless it is there; 0 or -1 (said). */
static int make_dir(const char *dir, const char *sub)
{
	char *p = xasprintf("%s/%s", dir, sub);
	int rc = mkdir(p, 0755) < 0 && errno != EEXIST ? -1 : 0;
	if (rc)
		warn_("%s", p);
	free(p);
	return rc;
}

/*
 * Download run rec's output file from into run id's outputs/ as name
 * (making its sub/ for "sub/file"); record it in out.  0, or an exit code
 * class.  A job names its files, so they go where none of the store's
 * own files (request.json, spec.json, events.jsonl) live: a job's
 * request.json is an output, never a request.
 */
static int fetch_one(struct remote *r, const cJSON *rec, const char *id, const char *from, const char *name,
    double size, cJSON *out)
{
	char *dir = store_run_dir(id, 1);
	if (!dir) {
		warn_("%s/runs/%s", store_root(), id);
		return EX_STORE;
	}
	char *local = xasprintf("%s/outputs/%s", dir, name), *slash = strrchr(local, '/');
	int rc = make_dir(dir, "outputs") < 0 ? EX_STORE : 0;
	if (!rc && strchr(name, '/')) {
		*slash = '\0';
		rc = make_dir(local, ".") < 0 ? EX_STORE : 0;
		*slash = '/';
	}
	*r->why_code = '\0';
	parts_clear(local); /* what a killed download of it left */
	struct stat sb;
	if (!rc && (rc = r->ops->fetch(r, rec, from, local, size < 0 ? UINT64_MAX : (uint64_t)size))) {
		if (!*r->why_code) /* final failures are the run's reason, not a warning */
			warnx_("%s: %s", id, r->err);
	} else if (!rc) {
		if (size < 0) /* known once it is here */
			size = stat(local, &sb) == 0 ? (double)sb.st_size : 0;
		jset_num(jobj(out, "files"), name, size);
		if (!strcmp(name, "output.mp4")) {
			jset_str(out, "video", local);
			finish_probe_video(local, out);
		}
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
			/* video_<i>/filtered: the engine saw the model's guardrail
			 * block this child (engine-transfer25). */
			int filtered = cJSON_GetObjectItemCaseSensitive(jget(out, "files"), "filtered") != NULL;
			char *why = filtered ? xasprintf("the model's guardrail blocked video_%d (the engine left video_%d/filtered)", i, i)
			    : code           ? xasprintf("the batch wrote no video_%d/output.mp4 (its model exited with code %d)", i, code)
			                     : xasprintf("the batch wrote no video_%d/output.mp4", i);
			jset_str(k, "status", "failed");
			jset_str(k, "reason", why);
			if (filtered)
				jset_str(k, "reason_code", "filtered");
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
		int i = ids ? packed_index(name, n, &rest) : -1;
		const char *child = i >= 0 ? cJSON_GetStringValue(cJSON_GetArrayItem(ids, i)) : NULL;
		if (ids && i < 0 && strchr(name, '/'))
			/* A batch's subdirectories are its children's, and no more. */
			warnx_("%s: refusing output %s: not video_<i>/ of one of its %d children", id, shown(name), n);
		else if (i >= 0 && id_kind(child) == ID_RUN)
			rc = exit_worst(rc, fetch_one(r, rec, child, name, rest, jnum(f, "size", 0),
			    jobj(cJSON_GetArrayItem(kids, i), "outputs")));
		else
			rc = exit_worst(rc, fetch_one(r, rec, id, name, name, jnum(f, "size", 0), jobj(patch, "outputs")));
		if (rc && *r->why_code) {
			/* The output is gone for good (the provider removed it): failed. */
			jset_str(patch, "status", "failed");
			jset_str(patch, "reason", r->err);
			jset_str(patch, "reason_code", r->why_code);
			cJSON_DeleteItemFromObjectCaseSensitive(patch, "exit_code");
			return 0;
		}
	}
	if (rc)
		return rc;
	const char *to = jstr(patch, "status");
	if (ids)
		child_patches(rec, patch, kids, ids);
	else if (!strcmp(model, "enhance") && to && !strcmp(to, "completed"))
		enhanced(patch, jstr(jobj(patch, "outputs"), "results"), jstr(rec, "prompt_id"));
	return 0;
}
