/* job.c - see job.h. */
#define _GNU_SOURCE
#include "job.h"
#include "record.h"
#include "store.h"
#include "transfer25.h"
#include "util.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


static const char *const path_keys[] = {"input_video_path", "input_control", "video_path", "visual_input", NULL};
static const char *const transfer_args[] = {
	"num_steps", "guidance", "seed", "fps", "sigma_max", "blur_strength", "canny_threshold", NULL,
};

/* Is every number in n finite (JSON's 1e999 parses as infinity)? */
static int all_finite(const cJSON *n)
{
	if (cJSON_IsNumber(n))
		return isfinite(n->valuedouble);
	for (const cJSON *m = n ? n->child : NULL; m; m = m->next)
		if (!all_finite(m))
			return 0;
	return 1;
}

const char *job_check(const cJSON *req)
{
	static const char *const models[] = {"transfer", "upscale", "enhance", "batch", "enhance_batch", "generate", NULL};
	const char *m = jstr(req, "model_type");
	const cJSON *spec = cJSON_GetObjectItemCaseSensitive(req, "spec");
	const cJSON *items = cJSON_GetObjectItemCaseSensitive(req, "batch_input"), *it;
	int k = 0;
	while (m && models[k] && strcmp(m, models[k]))
		k++;
	if (!m)
		return "request has no \"model_type\"";
	if (!models[k])
		return "\"model_type\" is not transfer, upscale, generate, enhance, batch or enhance_batch";
	if (!strncmp(m, "enhance", 7) ? !cJSON_IsArray(spec) : !cJSON_IsObject(spec))
		return "\"spec\" is missing or of the wrong type";
	if ((k == 3 || k == 4) && !cJSON_GetObjectItemCaseSensitive(req, "run_id"))
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
	if (k == 5 && (!jstr(spec, "prompt") || !*jstr(spec, "prompt")))
		return "a generate request needs \"spec\".\"prompt\"";
	if (ec && cJSON_GetObjectItemCaseSensitive(ec, "model") && !jstr(ec, "model"))
		return "\"execution_config\".\"model\" is not a string";
	const cJSON *g = ec ? cJSON_GetObjectItemCaseSensitive(ec, "num_gpus") : NULL;
	if (g && (!cJSON_IsNumber(g) || g->valuedouble != floor(g->valuedouble) || g->valuedouble < 1 || g->valuedouble > 64))
		return "\"execution_config\".\"num_gpus\" is not a whole number of GPUs from 1 to 64";
	if (!all_finite(req))
		return "a number is too large to be a number (such as 1e999)";
	return NULL;
}

static int is_path_key(const char *k)
{
	for (int i = 0; path_keys[i]; i++)
		if (k && !strcmp(k, path_keys[i]))
			return 1;
	return 0;
}

static int stage_tree(cJSON *node, struct remote *r, const cJSON *req, cJSON *uploads)
{
	for (cJSON *m = node->child; m; m = m->next) {
		if (cJSON_IsObject(m) || cJSON_IsArray(m)) {
			if (stage_tree(m, r, req, uploads) < 0)
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
		const char *src = jstr(jget(req, "execution_config"), "source_run_id");
		if (!(rel = r->ops->stage(r, m->valuestring, src)))
			return -1;
		cJSON_SetValuestring(m, rel);
		free(rel);
	}
	return 0;
}

/* The engine the host runs: its engine key, else what its backend chose
 * (the local backend's COSMOS_LOCAL_ENGINE or default). */
static const char *engine_of(const struct remote *r)
{
	return r->host.engine ? r->host.engine : r->engine;
}

int job_stage(cJSON *job, struct remote *r, const cJSON *req, cJSON *uploads)
{
	int t25 = !uploads && t25_is_engine(engine_of(r));
	const char *no = t25 ? t25_refuses(req) : NULL;
	if (no) {
		/* Before anything is sent: never a spec upstream would refuse. */
		snprintf(r->err, sizeof r->err, "%s", no);
		snprintf(r->why_code, sizeof r->why_code, "bad_request");
		return -1;
	}
	if (stage_tree(job, r, req, uploads) < 0)
		return -1;
	if (t25 && cJSON_GetObjectItemCaseSensitive(job, "batch_input")) {
		/* A packed batch: its items become upstream's samples, one a
		 * line of batch_input.jsonl, the file upstream reads; the
		 * spec (spec_used.json) is the first of them, for the eye. */
		cJSON *all = t25_batch(cJSON_GetObjectItemCaseSensitive(job, "spec"),
		    cJSON_GetObjectItemCaseSensitive(job, "batch_input"), jget(req, "execution_config"));
		jset(job, "spec", cJSON_Duplicate(cJSON_GetArrayItem(all, 0), 1));
		jset(job, "batch_input", all);
		jset_str(job, "engine", T25_ENGINE);
	} else if (t25) {
		cJSON *spec = t25_spec(cJSON_GetObjectItemCaseSensitive(job, "spec"), jget(req, "execution_config"));
		cJSON_ReplaceItemInObjectCaseSensitive(job, "spec", spec);
		jset_str(job, "engine", T25_ENGINE);
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
void job_end_line(char end[JOB_END_LEN])
{
	char nonce[ID_LEN + 1];
	id_new(ID_RUN, nonce);
	snprintf(end, JOB_END_LEN, "%s %s", JOB_END, nonce + 3);
}

char *job_script(const char *model, const cJSON *job, const cJSON *ec, const char *end)
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
	/* A spec made for an engine names it: cosmos-job runs that one,
	 * whatever COSMOS_ENGINE the host or container would give. */
	const char *engine = jstr(job, "engine");
	if (engine) {
		sb_puts(&b, "\nCOSMOS_ENGINE=");
		sb_quote(&b, engine);
	}
	sb_puts(&b, "\nset --");
	if (t25_is_engine(engine)) {
		/* Everything else is in the spec (a batch's, its samples). */
		const cJSON *all = cJSON_GetObjectItemCaseSensitive(job, "batch_input");
		const char *m = all ? t25_batch_model(all) : t25_model(cJSON_GetObjectItemCaseSensitive(job, "spec"));
		if (m) {
			sb_puts(&b, " --model ");
			sb_quote(&b, m);
		}
	} else if (!strcmp(model, "upscale")) {
		/* NVIDIA's 4K upscaler runs 10 steps (its example passes
		 * --num_steps 10); transfer.py's default is 35. */
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(ec, "num_steps");
		if (!cJSON_IsNumber(v))
			v = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(job, "spec"), "num_steps");
		sb_puts(&b, " --num_steps");
		add_number(&b, cJSON_IsNumber(v) ? v->valuedouble : UPSCALE_STEPS);
	}
	if (!engine && (!strcmp(model, "transfer") || !strcmp(model, "batch")))
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
	sb_puts(&b, end);
	sb_puts(&b, "\n");
	return b.s;
}


