/*
 * provider_gemini.c - "gemini": Google's Gemini API for Veo, as documented
 * at ai.google.dev/gemini-api/docs/video (base .../v1beta, the key in
 * x-goog-api-key).  It generates videos (text to video) and has no
 * upscale of an existing video; it reports no progress, keeps no log and
 * has no cancel.  An operation:
 *	submit	POST models/MODEL:predictLongRunning -> {"name": "models/M/operations/ID"}
 *	poll	GET NAME -> no "done" while running; done with "response",
 *		"error" (a google.rpc.Status), or a response with
 *		raiMediaFilteredCount and no samples (safety-filtered)
 *	video	generatedSamples[].video.uri, on the API host (the key is
 *		required), which redirects to another host (where it is not sent)
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
	if (!strcmp(model_type, "upscale"))
		return "gemini has no upscale of an existing video (Veo picks the resolution when it generates): "
		       "upscale on a replicate host";
	return NULL;
}

/* A model id: letters, digits, '.', '-' and '_' (never a path). */
static int model_ok(const char *m)
{
	return *m && strspn(m, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_") == strlen(m);
}

/* The request as documented: one instance with the prompt; the rest are
 * parameters (aspectRatio, resolution, durationSeconds, negativePrompt),
 * and the request's own parameters are added as they are. */
static char *submit(const char *model_type, const char *model, const cJSON *spec, cJSON **body, char *why,
    size_t len)
{
	if (!strncmp(model, "models/", 7))
		model += 7;
	if (!model_ok(model)) {
		snprintf(why, len, "'%s' is not a gemini model id", shown(model));
		return NULL;
	}
	const char *prompt = jstr(spec, "prompt");
	if (strcmp(model_type, "generate") || !prompt || !*prompt) {
		snprintf(why, len, "a gemini request needs a generate spec with a prompt");
		return NULL;
	}
	cJSON *b = cJSON_CreateObject(), *inst = cJSON_CreateObject(), *list = cJSON_CreateArray();
	jset_str(inst, "prompt", prompt);
	cJSON_AddItemToArray(list, inst);
	jset(b, "instances", list);
	cJSON *p = jobj(b, "parameters");
	if (jstr(spec, "aspect_ratio"))
		jset_str(p, "aspectRatio", jstr(spec, "aspect_ratio"));
	if (jstr(spec, "resolution"))
		jset_str(p, "resolution", jstr(spec, "resolution"));
	if (cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(spec, "duration_seconds")))
		jset_num(p, "durationSeconds", jnum(spec, "duration_seconds", 8));
	if (jstr(spec, "negative_prompt"))
		jset_str(p, "negativePrompt", jstr(spec, "negative_prompt"));
	const cJSON *extra = jget(spec, "parameters");
	for (const cJSON *m = extra ? extra->child : NULL; m; m = m->next)
		jset(p, m->string, cJSON_Duplicate(m, 1));
	*body = b;
	return xasprintf("models/%s:predictLongRunning", model);
}

/* "models/M/operations/ID", of safe characters only. */
static char *handle(const cJSON *answer, cJSON *job)
{
	const char *n = jstr(answer, "name");
	if (!n || strncmp(n, "models/", 7) || !strstr(n, "/operations/") || strstr(n, "..") ||
	    strspn(n, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789./-_") != strlen(n))
		return NULL;
	jset_str(job, "operation", n);
	return xstrdup(n);
}

static char *op_path(const char *h)
{
	return xstrdup(h);
}

/* google.rpc.Code numbers (0 to 16) as reason codes; the answer's
 * number may be any JSON number (1e99 too), so it is checked before it is
 * made an int. */
static const char *rpc_code(double code)
{
	switch (code >= 0 && code <= 16 ? (int)code : 2) {
	case 3: case 9: case 11: return "bad_request";        /* INVALID_ARGUMENT, FAILED_PRECONDITION, OUT_OF_RANGE */
	case 7: case 16: return "auth";                       /* PERMISSION_DENIED, UNAUTHENTICATED */
	case 8: return "rate_limited";                        /* RESOURCE_EXHAUSTED */
	case 5: return "model_unavailable";                   /* NOT_FOUND */
	default: return "provider_error";
	}
}

static void read_op(const cJSON *op, struct poll_item *it, cJSON *urls)
{
	const cJSON *done = cJSON_GetObjectItemCaseSensitive(op, "done"), *e = jget(op, "error");
	if (!cJSON_IsObject(op) || !jstr(op, "name")) {
		it->state = RUN_UNKNOWN;
		snprintf(it->reason, sizeof it->reason, "gemini answered something that is not an operation");
		return;
	}
	if (!cJSON_IsTrue(done)) { /* "done" is left out while false */
		it->state = RUN_RUNNING;
		return;
	}
	it->state = RUN_ENDED;
	it->code = -1;
	if (e) {
		snprintf(it->reason, sizeof it->reason, "gemini: %s", jstr(e, "message") ? shown(jstr(e, "message")) : "the operation failed");
		snprintf(it->reason_code, sizeof it->reason_code, "%s", rpc_code(jnum(e, "code", 2)));
		return;
	}
	const cJSON *r = jget(jget(op, "response"), "generateVideoResponse"), *s;
	cJSON_ArrayForEach(s, cJSON_GetObjectItemCaseSensitive(r, "generatedSamples"))
		if (jstr(jget(s, "video"), "uri"))
			cJSON_AddItemToArray(urls, cJSON_CreateString(jstr(jget(s, "video"), "uri")));
	if (cJSON_GetArraySize(urls)) {
		it->code = 0;
		return;
	}
	/* Done with no video: filtered by the safety filters, or empty. */
	if (jnum(r, "raiMediaFilteredCount", 0) > 0) {
		const cJSON *why = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(r, "raiMediaFilteredReasons"), 0);
		snprintf(it->reason, sizeof it->reason, "filtered by gemini's safety filters: %s",
		    cJSON_IsString(why) ? shown(why->valuestring) : "no reason given");
		snprintf(it->reason_code, sizeof it->reason_code, "filtered");
		return;
	}
	snprintf(it->reason, sizeof it->reason, "gemini finished the operation with no video");
	snprintf(it->reason_code, sizeof it->reason_code, "provider_error");
}

/* The error's details of the given @type suffix. */
static const cJSON *detail(const cJSON *body, const char *type)
{
	const cJSON *d;
	cJSON_ArrayForEach(d, cJSON_GetObjectItemCaseSensitive(jget(body, "error"), "details")) {
		const char *t = jstr(d, "@type");
		if (t && strlen(t) >= strlen(type) && !strcmp(t + strlen(t) - strlen(type), type))
			return d;
	}
	return NULL;
}

/* A 429 carries google.rpc.RetryInfo {"retryDelay": "32s"}; a QuotaFailure
 * whose quotaId is per day does not clear by waiting. */
static double retry_after(const cJSON *body)
{
	const cJSON *v;
	cJSON_ArrayForEach(v, cJSON_GetObjectItemCaseSensitive(detail(body, "google.rpc.QuotaFailure"), "violations"))
		if (jstr(v, "quotaId") && strstr(jstr(v, "quotaId"), "PerDay"))
			return RETRY_NEVER;
	const char *d = jstr(detail(body, "google.rpc.RetryInfo"), "retryDelay");
	double s;
	char buf[32];
	if (!d || snprintf(buf, sizeof buf, "%s", d) >= (int)sizeof buf || !*buf || buf[strlen(buf) - 1] != 's')
		return RETRY_UNSAID;
	buf[strlen(buf) - 1] = '\0';
	return parse_double(buf, &s) == 0 && s >= 0 ? s : RETRY_UNSAID;
}

/* Google's envelope {"error": {code, message, status, details}}; a wrong
 * key is a 400 with ErrorInfo reason API_KEY_INVALID. */
static void error(long status, const cJSON *body, struct verdict *v)
{
	const char *reason = jstr(detail(body, "google.rpc.ErrorInfo"), "reason");
	const char *code = status == 401 || status == 403 || (reason && !strcmp(reason, "API_KEY_INVALID")) ? "auth"
	                 : status == 404 ? "model_unavailable"
	                 : status == 429 ? (retry_after(body) == RETRY_NEVER ? "quota_exhausted" : "rate_limited")
	                 : status >= 500 ? "provider_error" : "bad_request";
	snprintf(v->code, sizeof v->code, "%s", code);
	provider_message(status, body, jstr(jget(body, "error"), "message"), v);
}

const struct provider provider_gemini = {
	.name = "gemini",
	.url = "https://generativelanguage.googleapis.com/v1beta",
	.cred_hosts = "generativelanguage.googleapis.com",
	.auth_header = "x-goog-api-key",
	.auth_prefix = "",
	.model_generate = "veo-3.1-generate-preview",
	.refuses = refuses,
	.submit = submit,
	.handle = handle,
	.op_path = op_path,
	.read_op = read_op,
	.retry_after = retry_after,
	.error = error,
};
