/*
 * provider_replicate.c - "replicate": Replicate's predictions API, as
 * documented at replicate.com/docs/reference/http (base .../v1, the token
 * as "Authorization: Bearer").  Any hosted model, video upscalers
 * included; inputs go up through its files API; it lists predictions 100
 * a page, keeps a log and can cancel.  A prediction:
 *	submit	POST models/OWNER/NAME/predictions {"input"} (an official
 *		model), or POST predictions {"version", "input"} -> 201
 *	poll	GET predictions/ID, or the list GET predictions
 *	states	starting, processing, then succeeded, failed, canceled, or
 *		aborted (a Cancel-After deadline passed before it started)
 *	video	"output", a URL (or a list of them) on replicate.delivery,
 *		removed an hour after an API prediction ends
 */
#define _GNU_SOURCE
#include "provider.h"
#include "record.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *refuses(const char *model_type)
{
	(void)model_type;
	return NULL;
}

static int word_ok(const char *s, size_t n)
{
	static const char ok[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_";
	if (!n || s[0] == '.')
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!strchr(ok, s[i]))
			return 0;
	return 1;
}

static int hex64(const char *s)
{
	return strlen(s) == 64 && strspn(s, "0123456789abcdef") == 64;
}

/*
 * The model's input: a generate request's prompt, negative_prompt,
 * aspect_ratio, resolution and duration; an upscale's video (the staged
 * file's URL); then the request's own parameters, as they are (input
 * names are each model's: its version's openapi_schema lists them).
 */
static char *submit(const char *model_type, const char *model, const cJSON *spec, cJSON **body, char *why,
    size_t len)
{
	const char *slash = strchr(model, '/'), *colon = strchr(model, ':');
	int official = slash && !colon && word_ok(model, (size_t)(slash - model)) && word_ok(slash + 1, strlen(slash + 1));
	int pinned = slash && colon && colon > slash && word_ok(model, (size_t)(slash - model)) &&
	             word_ok(slash + 1, (size_t)(colon - slash - 1)) && hex64(colon + 1);
	if (!official && !pinned && !hex64(model)) {
		snprintf(why, len, "'%s' is not a replicate model (OWNER/NAME, OWNER/NAME:VERSION or a version id)", shown(model));
		return NULL;
	}
	cJSON *b = cJSON_CreateObject(), *in = jobj(b, "input");
	if (!strcmp(model_type, "generate")) {
		const char *prompt = jstr(spec, "prompt");
		if (!prompt || !*prompt) {
			cJSON_Delete(b);
			snprintf(why, len, "a generate request needs a prompt");
			return NULL;
		}
		jset_str(in, "prompt", prompt);
		if (jstr(spec, "negative_prompt"))
			jset_str(in, "negative_prompt", jstr(spec, "negative_prompt"));
		if (jstr(spec, "aspect_ratio"))
			jset_str(in, "aspect_ratio", jstr(spec, "aspect_ratio"));
		if (jstr(spec, "resolution"))
			jset_str(in, "resolution", jstr(spec, "resolution"));
		if (cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(spec, "duration_seconds")))
			jset_num(in, "duration", jnum(spec, "duration_seconds", 8));
	} else {
		const char *video = jstr(spec, "input_video_path");
		if (!video) {
			cJSON_Delete(b);
			snprintf(why, len, "an upscale request needs its input_video_path");
			return NULL;
		}
		jset_str(in, "video", video);
	}
	const cJSON *extra = jget(spec, "parameters");
	for (const cJSON *m = extra ? extra->child : NULL; m; m = m->next)
		jset(in, m->string, cJSON_Duplicate(m, 1));
	*body = b;
	if (official)
		return xasprintf("models/%s/predictions", model);
	jset_str(b, "version", pinned ? colon + 1 : model);
	return xstrdup("predictions");
}

/* A prediction id: lowercase letters and digits. */
static const char *op_handle(const cJSON *op)
{
	const char *id = jstr(op, "id");
	return id && *id && strlen(id) < 64 && strspn(id, "abcdefghijklmnopqrstuvwxyz0123456789") == strlen(id) ? id : NULL;
}

static char *handle(const cJSON *answer, cJSON *job)
{
	const char *id = op_handle(answer);
	if (!id)
		return NULL;
	if (jstr(answer, "created_at"))
		jset_str(job, "created_at", jstr(answer, "created_at"));
	if (jstr(answer, "model"))
		jset_str(job, "provider_model", jstr(answer, "model"));
	return xstrdup(id);
}

static char *op_path(const char *h)
{
	return xasprintf("predictions/%s", h);
}

static void ended(struct poll_item *it, const char *code, const char *prefix, const char *text)
{
	it->state = RUN_ENDED;
	it->code = -1;
	snprintf(it->reason, sizeof it->reason, "%s%s", prefix, text);
	snprintf(it->reason_code, sizeof it->reason_code, "%s", code);
}

static void read_op(const cJSON *op, struct poll_item *it, cJSON *urls)
{
	const char *st = jstr(op, "status"), *err = jstr(op, "error");
	if (!st || !op_handle(op)) {
		it->state = RUN_UNKNOWN;
		snprintf(it->reason, sizeof it->reason, "replicate answered something that is not a prediction");
	} else if (!strcmp(st, "starting")) {
		it->state = RUN_QUEUED;
		snprintf(it->reason, sizeof it->reason, "starting");
	} else if (!strcmp(st, "processing"))
		it->state = RUN_RUNNING;
	else if (!strcmp(st, "succeeded")) {
		const cJSON *out = cJSON_GetObjectItemCaseSensitive(op, "output"), *u;
		if (cJSON_IsString(out))
			cJSON_AddItemToArray(urls, cJSON_CreateString(out->valuestring));
		const cJSON *list = cJSON_IsArray(out) ? out : NULL;
		cJSON_ArrayForEach(u, list)
			if (cJSON_IsString(u))
				cJSON_AddItemToArray(urls, cJSON_CreateString(u->valuestring));
		if (cJSON_GetArraySize(urls)) {
			it->state = RUN_ENDED;
			it->code = 0;
		} else if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(op, "data_removed")))
			ended(it, "remote_lost", "", "replicate removed the output (it keeps an API prediction's files for an hour)");
		else
			ended(it, "provider_error", "", "replicate says succeeded, with no output");
	} else if (!strcmp(st, "failed"))
		ended(it, err && (strstr(err, "(E005)") || strstr(err, "flagged as sensitive")) ? "filtered" : "provider_error",
		    "replicate: ", err ? shown(err) : "the prediction failed");
	else if (!strcmp(st, "canceled"))
		ended(it, "cancelled", "", "cancelled at replicate, not by cosmos");
	else if (!strcmp(st, "aborted"))
		ended(it, "aborted", "", "aborted by replicate: its deadline passed before it started");
	else {
		it->state = RUN_UNKNOWN;
		snprintf(it->reason, sizeof it->reason, "replicate says '%s', a state cosmos does not know", shown(st));
	}
}

static char *list_path(const char *after)
{
	return after ? xasprintf("predictions?created_after=%s", after) : xstrdup("predictions");
}

static const cJSON *list_items(const cJSON *page, const char **next)
{
	*next = jstr(page, "next");
	return cJSON_GetObjectItemCaseSensitive(page, "results");
}

static char *cancel_path(const char *h)
{
	return xasprintf("predictions/%s/cancel", h);
}

/* {"retry_after": 5} (2026 bodies), else the documented text "~30s". */
static double retry_after(const cJSON *body)
{
	double s = jnum(body, "retry_after", -1);
	const char *d = jstr(body, "detail"), *t = d ? strstr(d, "~") : NULL;
	if (s >= 0)
		return s;
	return t && sscanf(t + 1, "%lf", &s) == 1 && s >= 0 ? s : RETRY_UNSAID;
}

/* RFC 7807 problem details; 402 is a credit that waiting does not bring. */
static void error(long status, const cJSON *body, struct verdict *v)
{
	const char *title = jstr(body, "title");
	const char *code = status == 401 || status == 403 ? "auth"
	                 : status == 402 ? "quota_exhausted"
	                 : status == 404 || (status == 422 && title && strstr(title, "version")) ? "model_unavailable"
	                 : status == 429 ? "rate_limited"
	                 : status >= 500 ? "provider_error" : "bad_request";
	snprintf(v->code, sizeof v->code, "%s", code);
	provider_message(status, body, jstr(body, "detail") ? jstr(body, "detail") : title, v);
}

static char *uploaded(const cJSON *answer)
{
	const char *u = jstr(jget(answer, "urls"), "get");
	return u ? xstrdup(u) : NULL;
}

static const char *log_text(const cJSON *op)
{
	return jstr(op, "logs") ? jstr(op, "logs") : "";
}

const struct provider provider_replicate = {
	.name = "replicate",
	.url = "https://api.replicate.com/v1",
	.cred_hosts = "api.replicate.com replicate.delivery *.replicate.delivery",
	.auth_header = "Authorization",
	.auth_prefix = "Bearer ",
	.model_upscale = "topazlabs/video-upscale",
	.refuses = refuses,
	.submit = submit,
	.handle = handle,
	.op_path = op_path,
	.read_op = read_op,
	.list_path = list_path,
	.list_items = list_items,
	.op_handle = op_handle,
	.cancel_path = cancel_path,
	.retry_after = retry_after,
	.error = error,
	.upload_path = "files",
	.uploaded = uploaded,
	.log_text = log_text,
};
