/*
 * provider.c - fuzz what a hosted video API answers, as the http backend
 * reads it through the provider's table (provider.h): a submit's answer
 * (handle), an operation (read_op, log_text), a list page (list_items,
 * op_handle, and its next page's URL: http_cred_url), an upload's answer (uploaded), an error body (error,
 * retry_after) for each status that means something; and the request
 * the provider builds from a spec (submit), since a spec is the user's.
 * Built once per provider: PROVIDER names its table.
 */
#include "fuzz.h"
#include "http.h"
#include "provider.h"
#include "record.h"

#ifndef PROVIDER
#error "PROVIDER names the provider's table, e.g. -DPROVIDER=provider_gemini"
#endif

static void answers(const struct provider *p, const cJSON *j)
{
	cJSON *job = cJSON_CreateObject(), *urls = cJSON_CreateArray();
	free(p->handle(j, job));
	struct poll_item it = {.answered = 1};
	p->read_op(j, &it, urls);
	cJSON_Delete(urls);
	cJSON_Delete(job);
	if (p->log_text)
		(void)p->log_text(j);
	if (p->uploaded)
		free(p->uploaded(j));
	if (p->list_items) {
		const char *next = NULL;
		const cJSON *op;
		cJSON_ArrayForEach(op, p->list_items(j, &next))
			(void)p->op_handle(op);
		if (next) /* a page's next URL, followed only to a credential host */
			(void)http_cred_url(p->cred_hosts, next);
	}
}

static void errors(const struct provider *p, const cJSON *j)
{
	static const long status[] = {400, 401, 402, 403, 404, 410, 422, 429, 500, 503};
	(void)p->retry_after(j);
	for (size_t i = 0; i < sizeof status / sizeof status[0]; i++) {
		struct verdict v = {0};
		p->error(status[i], j, &v);
	}
}

static void submits(const struct provider *p, const cJSON *spec)
{
	static const char *const types[] = {"generate", "upscale"};
	const char *model = p->model_generate ? p->model_generate : p->model_upscale;
	for (int i = 0; i < 2; i++) {
		cJSON *body = NULL;
		char why[256];
		if (p->refuses(types[i]))
			continue;
		free(p->submit(types[i], model, spec, &body, why, sizeof why));
		cJSON_Delete(body);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct provider *p = &PROVIDER;
	cJSON *j = cJSON_ParseWithLength((const char *)data, size);
	answers(p, j);
	errors(p, j);
	if (cJSON_IsObject(j))
		submits(p, j);
	cJSON_Delete(j);
	return 0;
}
