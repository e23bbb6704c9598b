/* packed.c - see packed.h. */
#define _GNU_SOURCE
#include "packed.h"
#include "record.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <math.h>
#include <string.h>

static const char *const controls[] = {"vis", "edge", "depth", "seg", NULL};

static int is_control(const char *k)
{
	for (int i = 0; controls[i]; i++)
		if (!strcmp(k, controls[i]))
			return 1;
	return 0;
}

/* A spec key that differs per child: it goes into the child's item. */
static int per_child(const char *k)
{
	return !strcmp(k, "prompt") || !strcmp(k, "input_video_path") || is_control(k);
}

/* Do a and b agree on key k (both lacking it counts)? */
static int agree(const cJSON *a, const cJSON *b, const char *k)
{
	const cJSON *x = cJSON_GetObjectItemCaseSensitive(a, k), *y = cJSON_GetObjectItemCaseSensitive(b, k);
	return (!x && !y) || (x && y && cJSON_Compare(x, y, 1));
}

/*
 * Do spec s and execution_config e agree with the first request's on
 * every key they share, that is all but the child's own (and the
 * weights, which its controls carry, and num_gpus: the batch takes the
 * most any child asks for)?  The reason if not.
 */
static const char *differs(const cJSON *s0, const cJSON *e0, const cJSON *s, const cJSON *e)
{
	static char why[160];
	const cJSON *objs[4] = {s0, s, e0, e};
	for (int k = 0; k < 4; k++)
		for (const cJSON *m = objs[k] ? objs[k]->child : NULL; m; m = m->next) {
			if (k < 2 ? per_child(m->string) : !strcmp(m->string, "weights") || !strcmp(m->string, "num_gpus"))
				continue;
			if (!agree(s0, s, m->string) || !agree(e0, e, m->string)) {
				snprintf(why, sizeof why,
				    "differs from the first request in \"%s\": a packed batch shares its parameters (use fan-out)",
				    shown(m->string));
				return why;
			}
		}
	return NULL;
}

/*
 * The item of one transfer child.  transfer.py merges each override into
 * the shared spec with a dict update, so every control of the shared spec
 * is overridden here and says its input_control: the child's own file,
 * or null (made from the child's visual_input).  Left out, the shared
 * spec's would stay, and that is another child's video.  A control the
 * child does not use gets weight 0.
 */
static cJSON *transfer_item(const cJSON *spec, const cJSON *base)
{
	cJSON *item = cJSON_CreateObject(), *over = cJSON_CreateObject();
	jset_str(item, "prompt", jstr(spec, "prompt"));
	jset_str(item, "visual_input", jstr(spec, "input_video_path"));
	for (int i = 0; controls[i]; i++) {
		const cJSON *c = cJSON_GetObjectItemCaseSensitive(spec, controls[i]);
		if (!cJSON_GetObjectItemCaseSensitive(base, controls[i]))
			continue;
		cJSON *o = c ? cJSON_Duplicate(c, 1) : cJSON_CreateObject();
		if (!c)
			jset_num(o, "control_weight", 0);
		if (!jstr(o, "input_control"))
			jset(o, "input_control", cJSON_CreateNull());
		jset(over, controls[i], o);
	}
	jset(item, "control_overrides", over);
	return item;
}

static cJSON *pack_transfer(cJSON *const *reqs, int n, int *bad, const char **why)
{
	const cJSON *s0 = cJSON_GetObjectItemCaseSensitive(reqs[0], "spec");
	const cJSON *e0 = cJSON_GetObjectItemCaseSensitive(reqs[0], "execution_config");
	cJSON *base = cJSON_CreateObject(), *ec = cJSON_CreateObject();
	for (int i = 0; i < n; i++) {
		const cJSON *s = cJSON_GetObjectItemCaseSensitive(reqs[i], "spec");
		const cJSON *e = cJSON_GetObjectItemCaseSensitive(reqs[i], "execution_config");
		*why = !jstr(s, "prompt") || !jstr(s, "input_video_path")
		           ? "a transfer spec needs \"prompt\" and \"input_video_path\""
		           : differs(s0, e0, s, e);
		if (*why) {
			*bad = i;
			cJSON_Delete(base);
			cJSON_Delete(ec);
			return NULL;
		}
		/* Every control any child uses, with the first user's settings
		 * but no one's control video: each child names its own. */
		for (const cJSON *m = s->child; m; m = m->next)
			if (is_control(m->string) && !cJSON_GetObjectItemCaseSensitive(base, m->string)) {
				cJSON *c = cJSON_Duplicate(m, 1);
				cJSON_DeleteItemFromObjectCaseSensitive(c, "input_control");
				jset(base, m->string, c);
			}
	}
	for (const cJSON *m = s0->child; m; m = m->next)
		if (!per_child(m->string))
			jset(base, m->string, cJSON_Duplicate(m, 1));
	/* transfer.py validates the shared spec as if it were one run's: it
	 * needs an input_video_path (sigma_max < 80).  Each item's own video
	 * is its visual_input; this one, the first child's, only passes the
	 * check, as in NVIDIA's batch example. */
	jset_str(base, "input_video_path", jstr(s0, "input_video_path"));
	/* The model's arguments: the first request's (they all agree). */
	for (const cJSON *m = e0 ? e0->child : NULL; m; m = m->next)
		if (strcmp(m->string, "weights"))
			jset(ec, m->string, cJSON_Duplicate(m, 1));
	cJSON *items = cJSON_CreateArray();
	for (int i = 0; i < n; i++)
		cJSON_AddItemToArray(items, transfer_item(cJSON_GetObjectItemCaseSensitive(reqs[i], "spec"), base));
	cJSON *req = cJSON_CreateObject();
	jset_str(req, "model_type", "batch");
	jset(req, "spec", base);
	jset(req, "batch_input", items);
	jset(req, "execution_config", ec);
	return req;
}

static cJSON *pack_enhance(cJSON *const *reqs, int n, int *bad, const char **why)
{
	cJSON *list = cJSON_CreateArray(), *it;
	const char *model = jstr(cJSON_GetObjectItemCaseSensitive(reqs[0], "execution_config"), "model");
	for (int i = 0; i < n; i++) {
		const char *m = jstr(cJSON_GetObjectItemCaseSensitive(reqs[i], "execution_config"), "model");
		if ((m || model) && (!m || !model || strcmp(m, model))) {
			*bad = i;
			*why = "asks for another prompt upsampler than the first request";
			cJSON_Delete(list);
			return NULL;
		}
		cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(reqs[i], "spec"))
			cJSON_AddItemToArray(list, cJSON_Duplicate(it, 1));
	}
	cJSON *req = cJSON_CreateObject();
	jset_str(req, "model_type", "enhance_batch");
	jset(req, "spec", list);
	if (model)
		jset_str(jobj(req, "execution_config"), "model", model);
	return req;
}

cJSON *packed_request(cJSON *const *reqs, int n, int *bad, const char **why)
{
	const char *m0 = jstr(reqs[0], "model_type");
	for (int i = 0; i < n; i++) {
		const char *m = jstr(reqs[i], "model_type");
		const cJSON *spec = cJSON_GetObjectItemCaseSensitive(reqs[i], "spec");
		*bad = i;
		if (strcmp(m, "transfer") && strcmp(m, "enhance")) {
			*why = "a packed batch takes transfer or enhance requests (upscaling runs one item at a time)";
			return NULL;
		}
		if (strcmp(m, m0)) {
			*why = "a packed batch runs one model: this request's differs from the first";
			return NULL;
		}
		if (!strcmp(m, "enhance") ? !cJSON_IsArray(spec) : !cJSON_IsObject(spec)) {
			*why = "\"spec\" is of the wrong type";
			return NULL;
		}
		if (!agree(reqs[0], reqs[i], "host")) {
			*why = "differs from the first request in \"host\": a packed batch runs on one host";
			return NULL;
		}
	}
	cJSON *req = !strcmp(m0, "transfer") ? pack_transfer(reqs, n, bad, why) : pack_enhance(reqs, n, bad, why);
	if (req && jstr(reqs[0], "host"))
		jset_str(req, "host", jstr(reqs[0], "host"));
	/* One process for all: the GPUs of the child that wants the most. */
	double gpus = 0;
	for (int i = 0; req && i < n; i++)
		gpus = fmax(gpus, jnum(cJSON_GetObjectItemCaseSensitive(reqs[i], "execution_config"), "num_gpus", 0));
	if (gpus >= 1)
		jset_num(jobj(req, "execution_config"), "num_gpus", gpus);
	return req;
}

int packed_index(const char *name, int size, const char **rest)
{
	if (strncmp(name, "video_", 6) || name[6] < '0' || name[6] > '9' || (name[6] == '0' && name[7] != '/'))
		return -1;
	char *end;
	long i = strtol(name + 6, &end, 10);
	if (*end != '/' || i >= size || end - (name + 6) > 9)
		return -1;
	*rest = end + 1;
	return (int)i;
}

int packed_parent(const cJSON *rec)
{
	const char *mode = jstr(cJSON_GetObjectItemCaseSensitive(rec, "execution_config"), "mode");
	return mode && !strcmp(mode, "packed");
}

const char *packed_parent_of(const cJSON *rec)
{
	const cJSON *ec = cJSON_GetObjectItemCaseSensitive(rec, "execution_config");
	return jstr(ec, "batch_container") ? jstr(ec, "batch_run_id") : NULL;
}
