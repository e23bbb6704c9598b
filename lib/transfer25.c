/*
 * transfer25.c - our transfer request as NVIDIA Cosmos-Transfer2.5's spec;
 * see transfer25.h.  What maps to what (upstream's cosmos_transfer2/
 * config.py, read at 2ff49d0; t/upstream25 states it line by line):
 *
 *	prompt, negative_prompt      prompt, negative_prompt (strings)
 *	input_video_path             video_path
 *	vis|edge|depth|seg, weight>0 the same key: control_weight (0-1);
 *	  input_control                control_path (else left out: upstream
 *	                               computes the control from the video)
 *	canny_threshold              edge.preset_edge_threshold
 *	blur_strength                vis.preset_blur_strength
 *	seed, num_steps              seed, num_steps (whole numbers)
 *	guidance                     guidance, a whole 0-7; Transfer1's
 *	                             default 5, not given, becomes
 *	                             upstream's default 3
 *	sigma_max                    sigma_max as a string; Transfer1's
 *	                             default 70, not given, is left out
 *	                             (upstream's None)
 *	fps                          not sent: upstream writes the input's
 *
 * A packed batch (model_type batch: a shared spec and one item a child,
 * lib/packed.c) is one spec a child, each the child's transfer request
 * (the shared spec, the item's prompt, visual_input as input_video_path,
 * its control_overrides over the shared controls, a null input_control
 * left out), translated as above and named video_<i>: one upstream
 * process, one model load, OUT/video_<i>.mp4 for child i.
 *
 * A request always holds guidance and sigma_max (cosmos-spec writes
 * Transfer1's defaults, 5 and 70, when the user gives none); its
 * execution_config.given names those the user gave.  So a 5 or 70 is the
 * default unless given: a given 5 stays 5, a given 70 is sent as "70".
 * A request without "given" (one written before it, or by hand) takes
 * 5 and 70 for the defaults, as before.
 */
#define _GNU_SOURCE
#include "transfer25.h"
#include "record.h"
#include "util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Transfer1's defaults as cosmos-spec writes them (see the head). */
#define T1_GUIDANCE 5
#define T25_GUIDANCE 3
#define T1_SIGMA_MAX 70

/* Upstream's control keys, in its order (config.py CONTROL_KEYS). */
static const char *const controls[] = {"edge", "vis", "depth", "seg", NULL};
static const char *const levels[] = {"very_low", "low", "medium", "high", "very_high", NULL};

int t25_is_engine(const char *engine)
{
	return engine && !strcmp(engine, T25_ENGINE);
}

static int is_whole(const cJSON *n, double lo, double hi)
{
	return cJSON_IsNumber(n) && n->valuedouble == floor(n->valuedouble) && n->valuedouble >= lo &&
	    n->valuedouble <= hi;
}

static int is_level(const cJSON *s)
{
	for (int i = 0; cJSON_IsString(s) && levels[i]; i++)
		if (!strcmp(s->valuestring, levels[i]))
			return 1;
	return 0;
}

/* The weight of control key in spec: 0 when it is not there. */
static double weight_of(const cJSON *spec, const char *key)
{
	const cJSON *c = cJSON_GetObjectItemCaseSensitive(spec, key);
	return cJSON_IsObject(c) ? jnum(c, "control_weight", 1.0) : 0;
}

/* Why a request of another model_type is not ours to run. */
static const char *refuse_model(const char *m)
{
	if (!strcmp(m, "upscale"))
		return T25_ENGINE " has no 4K upscaler: send upscale requests to a Transfer1 host (engine = cosmos)";
	if (!strncmp(m, "enhance", 7))
		return T25_ENGINE " has no prompt upsampler: send enhance requests to a Transfer1 host (engine = cosmos)";
	if (!strcmp(m, "generate"))
		return T25_ENGINE " does not generate from text: generate on a hosted model (backend = http)";
	return T25_ENGINE " runs transfer requests only";
}

/* Did the user give parameter key (execution_config ec's "given")? */
static int was_given(const cJSON *ec, const char *key)
{
	const cJSON *k;
	cJSON_ArrayForEach(k, cJSON_GetObjectItemCaseSensitive(ec, "given"))
		if (cJSON_IsString(k) && !strcmp(k->valuestring, key))
			return 1;
	return 0;
}

/* Copy member key of from, if any, to to under name. */
static void copy_as(cJSON *to, const char *name, const cJSON *from, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(from, key);
	if (v)
		jset(to, name, cJSON_Duplicate(v, 1));
}

/* Child item's transfer spec in a packed batch of shared spec base. */
static cJSON *child_spec(const cJSON *base, const cJSON *item)
{
	cJSON *s = cJSON_IsObject(base) ? cJSON_Duplicate(base, 1) : cJSON_CreateObject();
	const cJSON *m;
	cJSON_DeleteItemFromObjectCaseSensitive(s, "prompt");
	cJSON_DeleteItemFromObjectCaseSensitive(s, "input_video_path");
	copy_as(s, "prompt", item, "prompt");
	copy_as(s, "input_video_path", item, "visual_input");
	cJSON_ArrayForEach(m, cJSON_GetObjectItemCaseSensitive(item, "control_overrides")) {
		cJSON *c = cJSON_Duplicate(m, 1);
		if (cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(c, "input_control")))
			cJSON_DeleteItemFromObjectCaseSensitive(c, "input_control");
		jset(s, m->string, c);
	}
	return s;
}

/* Why a packed batch's child cannot be run here, or NULL. */
static const char *refuse_batch(const cJSON *req)
{
	static char why[300];
	const cJSON *items = cJSON_GetObjectItemCaseSensitive(req, "batch_input"), *it;
	int i = 0;
	cJSON_ArrayForEach(it, items) {
		cJSON *one = cJSON_CreateObject();
		jset_str(one, "model_type", "transfer");
		jset(one, "spec", child_spec(cJSON_GetObjectItemCaseSensitive(req, "spec"), it));
		const char *no = t25_refuses(one);
		if (no)
			snprintf(why, sizeof why, "item %d of the packed batch: %s", i, no);
		cJSON_Delete(one);
		if (no)
			return why;
		i++;
	}
	return NULL;
}

const char *t25_refuses(const cJSON *req)
{
	static char why[200];
	const char *m = jstr(req, "model_type");
	const cJSON *spec = cJSON_GetObjectItemCaseSensitive(req, "spec"), *v;
	if (m && !strcmp(m, "batch"))
		return refuse_batch(req);
	if (!m || strcmp(m, "transfer"))
		return refuse_model(m ? m : "");
	if (!jstr(spec, "prompt") || !jstr(spec, "input_video_path"))
		return "a " T25_ENGINE " transfer needs \"spec\".\"prompt\" and \"spec\".\"input_video_path\"";
	v = cJSON_GetObjectItemCaseSensitive(spec, "guidance");
	if (v && !is_whole(v, 0, 7)) {
		snprintf(why, sizeof why, T25_ENGINE " takes guidance as a whole number from 0 to 7; this request has %.15g",
		    cJSON_IsNumber(v) ? v->valuedouble : NAN);
		return why;
	}
	int n = 0;
	for (int i = 0; controls[i]; i++) {
		v = cJSON_GetObjectItemCaseSensitive(spec, controls[i]);
		if (v && (!cJSON_IsObject(v) || jnum(v, "control_weight", 1.0) < 0 || jnum(v, "control_weight", 1.0) > 1)) {
			snprintf(why, sizeof why, T25_ENGINE " takes a %s control_weight from 0 to 1", controls[i]);
			return why;
		}
		n += weight_of(spec, controls[i]) > 0;
	}
	if (!n)
		return T25_ENGINE " needs a control of weight above 0 (vis, edge, depth or seg)";
	if ((v = cJSON_GetObjectItemCaseSensitive(spec, "num_steps")) && !is_whole(v, 1, 1e9))
		return T25_ENGINE " takes num_steps as a whole number from 1";
	if ((v = cJSON_GetObjectItemCaseSensitive(spec, "seed")) && !is_whole(v, -9e15, 9e15))
		return T25_ENGINE " takes seed as a whole number";
	if ((v = cJSON_GetObjectItemCaseSensitive(spec, "sigma_max")) && (!cJSON_IsNumber(v) || v->valuedouble < 0))
		return T25_ENGINE " takes sigma_max as a number from 0";
	if (((v = cJSON_GetObjectItemCaseSensitive(spec, "canny_threshold")) && !is_level(v)) ||
	    ((v = cJSON_GetObjectItemCaseSensitive(spec, "blur_strength")) && !is_level(v)))
		return T25_ENGINE " takes canny_threshold and blur_strength as very_low, low, medium, high or very_high";
	return NULL;
}

/* A work-dir path as seen from the spec's folder, outputs/run_ID/. */
static void set_path(cJSON *o, const char *key, const char *path)
{
	char *p = path[0] == '/' ? xstrdup(path) : xasprintf("../../%s", path);
	jset_str(o, key, p);
	free(p);
}

/* Upstream's sample named name, from a staged transfer spec and its
 * request's execution_config ec. */
static cJSON *sample_of(const cJSON *staged, const char *name, const cJSON *ec)
{
	cJSON *s = cJSON_CreateObject();
	const cJSON *v;
	jset_str(s, "name", name);
	copy_as(s, "prompt", staged, "prompt");
	copy_as(s, "negative_prompt", staged, "negative_prompt");
	set_path(s, "video_path", jstr(staged, "input_video_path"));
	for (int i = 0; controls[i]; i++) {
		const cJSON *from = cJSON_GetObjectItemCaseSensitive(staged, controls[i]);
		if (weight_of(staged, controls[i]) <= 0)
			continue;
		cJSON *c = jobj(s, controls[i]);
		jset_num(c, "control_weight", weight_of(staged, controls[i]));
		if (jstr(from, "input_control"))
			set_path(c, "control_path", jstr(from, "input_control"));
		if (!strcmp(controls[i], "edge"))
			copy_as(c, "preset_edge_threshold", staged, "canny_threshold");
		if (!strcmp(controls[i], "vis"))
			copy_as(c, "preset_blur_strength", staged, "blur_strength");
	}
	copy_as(s, "seed", staged, "seed");
	if ((v = cJSON_GetObjectItemCaseSensitive(staged, "guidance"))) {
		/* Transfer1's default, not asked for: upstream's own. */
		int dflt = v->valuedouble == T1_GUIDANCE && !was_given(ec, "guidance");
		jset_num(s, "guidance", dflt ? T25_GUIDANCE : v->valuedouble);
	}
	copy_as(s, "num_steps", staged, "num_steps");
	if ((v = cJSON_GetObjectItemCaseSensitive(staged, "sigma_max")) &&
	    (v->valuedouble != T1_SIGMA_MAX || was_given(ec, "sigma_max"))) {
		char num[64];
		snprintf(num, sizeof num, "%.15g", v->valuedouble);
		jset_str(s, "sigma_max", num);
	}
	return s;
}

cJSON *t25_spec(const cJSON *staged, const cJSON *ec)
{
	return sample_of(staged, T25_NAME, ec);
}

cJSON *t25_batch(const cJSON *staged, const cJSON *items, const cJSON *ec)
{
	cJSON *samples = cJSON_CreateArray();
	const cJSON *it;
	int i = 0;
	cJSON_ArrayForEach(it, items) {
		char name[32];
		snprintf(name, sizeof name, T25_BATCH_NAME, i++);
		cJSON *one = child_spec(staged, it);
		cJSON_AddItemToArray(samples, sample_of(one, name, ec));
		cJSON_Delete(one);
	}
	return samples;
}

const char *t25_batch_model(const cJSON *samples)
{
	const char *one = NULL;
	const cJSON *s;
	cJSON_ArrayForEach(s, samples) {
		const char *m = t25_model(s);
		if (!m || (one && strcmp(m, one)))
			return NULL;
		one = m;
	}
	return one;
}

const char *t25_model(const cJSON *spec)
{
	const char *one = NULL;
	for (int i = 0; controls[i]; i++)
		if (cJSON_GetObjectItemCaseSensitive(spec, controls[i])) {
			if (one)
				return NULL;
			one = controls[i];
		}
	return one;
}
