/* job.c - see job.h. */
#define _GNU_SOURCE
#include "job.h"
#include "record.h"
#include "store.h"
#include "util.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JOB_ALREADY_S "99" /* JOB_ALREADY, for the command's text */
_Static_assert(JOB_ALREADY == 99, "JOB_ALREADY_S spells JOB_ALREADY");

static const char *const path_keys[] = {"input_video_path", "input_control", "video_path", "visual_input", NULL};
static const char *const transfer_args[] = {
	"num_steps", "guidance", "seed", "fps", "sigma_max", "blur_strength", "canny_threshold", NULL,
};

const char *job_check(const cJSON *req)
{
	static const char *const models[] = {"transfer", "upscale", "enhance", "batch", "enhance_batch", NULL};
	const char *m = jstr(req, "model_type");
	const cJSON *spec = cJSON_GetObjectItemCaseSensitive(req, "spec");
	const cJSON *items = cJSON_GetObjectItemCaseSensitive(req, "batch_input"), *it;
	int k = 0;
	while (m && models[k] && strcmp(m, models[k]))
		k++;
	if (!m)
		return "request has no \"model_type\"";
	if (!models[k])
		return "\"model_type\" is not transfer, upscale, enhance, batch or enhance_batch";
	if (!strncmp(m, "enhance", 7) ? !cJSON_IsArray(spec) : !cJSON_IsObject(spec))
		return "\"spec\" is missing or of the wrong type";
	if (k >= 3 && !cJSON_GetObjectItemCaseSensitive(req, "run_id"))
		return "a batch request needs the \"run_id\" of its parent (cosmos-batch --packed makes both)";
	if (!strcmp(m, "batch") && (!cJSON_IsArray(items) || !cJSON_GetArraySize(items)))
		return "a batch request needs a non-empty \"batch_input\" list";
	if (strcmp(m, "batch") && items)
		return "only a batch request has \"batch_input\"";
	cJSON_ArrayForEach(it, items)
		if (!cJSON_IsObject(it))
			return "\"batch_input\" holds something other than objects";
	const char *p = jstr(req, "prompt_id");
	if (cJSON_GetObjectItemCaseSensitive(req, "prompt_id") && id_kind(p) != ID_PROMPT)
		return "\"prompt_id\" is not a prompt id";
	const cJSON *ec = cJSON_GetObjectItemCaseSensitive(req, "execution_config");
	if (ec && !cJSON_IsObject(ec))
		return "\"execution_config\" is not an object";
	const char *src = jstr(ec, "source_run_id");
	if (src && id_kind(src) != ID_RUN)
		return "\"source_run_id\" is not a run id";
	if (cJSON_GetObjectItemCaseSensitive(req, "run_id") && id_kind(jstr(req, "run_id")) != ID_RUN)
		return "\"run_id\" is not a run id";
	return NULL;
}

static int is_path_key(const char *k)
{
	for (int i = 0; path_keys[i]; i++)
		if (k && !strcmp(k, path_keys[i]))
			return 1;
	return 0;
}

/*
 * The host path for an upscale source that is an earlier run's output on
 * this same host: nothing to upload.  NULL when it is not.
 */
static char *same_host_output(struct remote *r, const cJSON *req, const char *local)
{
	const char *src = jstr(cJSON_GetObjectItemCaseSensitive(req, "execution_config"), "source_run_id");
	cJSON *s = src ? store_load(src) : NULL;
	char *rel = NULL;
	if (s && jstr(s, "host") && !strcmp(jstr(s, "host"), r->host.name) &&
	    jstr(jobj(s, "outputs"), "video") && !strcmp(jstr(jobj(s, "outputs"), "video"), local)) {
		char *cand = xasprintf("outputs/run_%s/output.mp4", src);
		if (remote_exists(r, cand))
			rel = cand;
		else
			free(cand);
	}
	cJSON_Delete(s);
	return rel;
}

int job_stage(cJSON *node, struct remote *r, const cJSON *req, cJSON *uploads)
{
	for (cJSON *m = node->child; m; m = m->next) {
		if (cJSON_IsObject(m) || cJSON_IsArray(m)) {
			if (job_stage(m, r, req, uploads) < 0)
				return -1;
			continue;
		}
		if (!cJSON_IsString(m) || !is_path_key(m->string))
			continue;
		char *rel = NULL;
		if (uploads) {
			char hex[65];
			if (sha256_file(m->valuestring, hex) < 0) {
				snprintf(r->err, sizeof r->err, "%s: %s", shown(m->valuestring), strerror(errno));
				return -1;
			}
			cJSON *u = cJSON_CreateObject();
			jset_str(u, "local", m->valuestring);
			jset_str(u, "sha256", hex);
			cJSON_AddItemToArray(uploads, u);
			continue;
		}
		if (!(rel = same_host_output(r, req, m->valuestring)) && !(rel = remote_stage(r, m->valuestring)))
			return -1;
		cJSON_SetValuestring(m, rel);
		free(rel);
	}
	return 0;
}

static void add_number(struct sbuf *b, double v)
{
	char num[64];
	if (v == floor(v) && fabs(v) < 1e15)
		snprintf(num, sizeof num, "%.0f", v);
	else
		snprintf(num, sizeof num, "%.17g", v);
	sb_puts(b, " ");
	sb_quote(b, num);
}

/* What the model reads: the request's spec, and a batch's items. */
cJSON *job_of(const cJSON *req)
{
	cJSON *job = cJSON_CreateObject();
	jset(job, "spec", cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(req, "spec"), 1));
	const cJSON *items = cJSON_GetObjectItemCaseSensitive(req, "batch_input");
	if (items)
		jset(job, "batch_input", cJSON_Duplicate(items, 1));
	return job;
}

/*
 * job.sh for cosmos-job: MODEL, SPEC, a batch's items as BATCH (JSON
 * lines) and the model's arguments, all quoted.
 */
char *job_script(const char *model, const cJSON *job, const cJSON *ec)
{
	struct sbuf b = {0};
	char *json = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(job, "spec"));
	sb_puts(&b, "MODEL=");
	sb_quote(&b, model);
	sb_puts(&b, "\nSPEC=");
	sb_quote(&b, json);
	cJSON_free(json);
	const cJSON *item;
	struct sbuf lines = {0};
	cJSON_ArrayForEach(item, cJSON_GetObjectItemCaseSensitive(job, "batch_input")) {
		char *l = cJSON_PrintUnformatted(item);
		sb_puts(&lines, l);
		sb_puts(&lines, "\n");
		cJSON_free(l);
	}
	if (lines.s) {
		lines.s[--lines.len] = '\0';
		sb_puts(&b, "\nBATCH=");
		sb_quote(&b, lines.s);
		sb_free(&lines);
	}
	sb_puts(&b, "\nset --");
	if (!strcmp(model, "upscale")) {
		/* NVIDIA's 4K upscaler runs 10 steps (its example passes
		 * --num_steps 10); transfer.py's default is 35. */
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(ec, "num_steps");
		if (!cJSON_IsNumber(v))
			v = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(job, "spec"), "num_steps");
		sb_puts(&b, " --num_steps");
		add_number(&b, cJSON_IsNumber(v) ? v->valuedouble : UPSCALE_STEPS);
	}
	if (!strcmp(model, "transfer") || !strcmp(model, "batch"))
		for (int i = 0; transfer_args[i]; i++) {
			const cJSON *v = cJSON_GetObjectItemCaseSensitive(ec, transfer_args[i]);
			if (!v)
				continue;
			char *flag = xasprintf("--%s", transfer_args[i]);
			sb_puts(&b, " ");
			sb_quote(&b, flag);
			free(flag);
			if (cJSON_IsNumber(v))
				add_number(&b, v->valuedouble);
			else if (cJSON_IsString(v)) {
				sb_puts(&b, " ");
				sb_quote(&b, v->valuestring);
			}
		}
	sb_puts(&b, "\n");
	return b.s;
}


/*
 * The start, as one shell command after "cd WORKDIR && ": copy job.sh from
 * stdin with shell builtins, then become docker.  No other process is
 * spawned on the host, so a start costs what a bare "docker run" does.
 */
char *job_start_command(const struct remote *r, const char *id, const char *container)
{
	const struct host *h = &r->host;
	struct sbuf b = {0};
	/* A job file on the host means this run was started once already. */
	sb_puts(&b, "[ ! -e runs/");
	sb_quote(&b, id);
	sb_puts(&b, ".sh ] || { echo 'cosmos: this run was started before' >&2; exit " JOB_ALREADY_S "; } && ");
	sb_puts(&b, "{ while IFS= read -r l || [ -n \"$l\" ]; do printf '%s\\n' \"$l\"; done >runs/");
	sb_quote(&b, id);
	if (!strcmp(r->runtime, "process")) {
		/* This machine: a detached session of its own, its pid kept
		 * where cosmos-ctl looks for it. */
		sb_puts(&b, ".sh; } || exit 1; COSMOS_ENGINE=");
		sb_quote(&b, r->engine);
		sb_puts(&b, " setsid sh bashscripts/cosmos-job ");
		sb_quote(&b, id);
		sb_puts(&b, " </dev/null >/dev/null 2>&1 & echo $! >runs/");
		sb_quote(&b, id);
		sb_puts(&b, ".pid && echo $!");
		return b.s;
	}
	sb_puts(&b, ".sh; } && exec ");
	sb_puts(&b, !strcmp(r->runtime, "sudo-docker") ? "sudo -n docker" : "docker");
	sb_puts(&b, " run -d --rm --name ");
	sb_quote(&b, container);
	/* docker_options is split on blanks: each word is passed on quoted. */
	char *opts = xstrdup(h->docker_options), *save = NULL;
	for (char *t = strtok_r(opts, " \t", &save); t; t = strtok_r(NULL, " \t", &save)) {
		sb_puts(&b, " ");
		sb_quote(&b, t);
	}
	free(opts);
	if (r->local && r->engine) {
		char *e = xasprintf("COSMOS_ENGINE=%s", r->engine);
		sb_puts(&b, " -e ");
		sb_quote(&b, e);
		free(e);
	}
	sb_puts(&b, " -v \"$PWD:/workspace\" -w /workspace -v ");
	sb_quote_home(&b, h->hf_cache);
	sb_puts(&b, ":/root/.cache/huggingface ");
	sb_quote(&b, h->image);
	sb_puts(&b, " sh bashscripts/cosmos-job ");
	sb_quote(&b, id);
	return b.s;
}

