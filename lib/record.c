/* record.c - run and prompt records; see record.h. */
#include "record.h"
#include "store.h"
#include "util.h"

#include <string.h>

#include "store.h"

static const char *const statuses[] = {
	"pending", "submitted", "running", "completed", "failed", "cancelled", NULL,
};

static int status_rank(const char *s)
{
	for (int i = 0; s && statuses[i]; i++)
		if (strcmp(s, statuses[i]) == 0)
			return i;
	return -1;
}

int status_known(const char *s) { return status_rank(s) >= 0; }

int status_terminal(const char *s) { return status_rank(s) >= 3; }

int status_may_move(const char *from, const char *to)
{
	int f = status_rank(from), t = status_rank(to);
	if (f < 0 || t < 0 || f >= 3)
		return 0;
	return t > f;
}

static cJSON *xnew_object(void)
{
	cJSON *o = cJSON_CreateObject();
	if (!o)
		errx_(EX_STORE, "out of memory");
	return o;
}

static cJSON *stamped(enum id_kind kind)
{
	char id[ID_LEN + 1], ts[TIMESTAMP_LEN];
	id_new(kind, id);
	timestamp_now(ts);
	cJSON *r = xnew_object();
	jset_str(r, "id", id);
	jset_str(r, "created_at", ts);
	jset_str(r, "updated_at", ts);
	return r;
}

cJSON *run_new(const char *model_type)
{
	cJSON *r = stamped(ID_RUN);
	jset_str(r, "model_type", model_type);
	jset_str(r, "status", "pending");
	jobj(r, "execution_config");
	jobj(r, "outputs");
	return r;
}

cJSON *prompt_new(void)
{
	return stamped(ID_PROMPT);
}

const char *jstr(const cJSON *obj, const char *key)
{
	return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(obj, key));
}

double jnum(const cJSON *obj, const char *key, double fallback)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
	return cJSON_IsNumber(v) ? v->valuedouble : fallback;
}

const cJSON *jget(const cJSON *obj, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
	return cJSON_IsObject(v) ? v : NULL;
}

cJSON *jobj(cJSON *obj, const char *key)
{
	cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
	if (cJSON_IsObject(v))
		return v;
	v = xnew_object();
	jset(obj, key, v);
	return v;
}

void jset(cJSON *obj, const char *key, cJSON *val)
{
	if (!val)
		errx_(EX_STORE, "out of memory");
	if (cJSON_GetObjectItemCaseSensitive(obj, key))
		cJSON_ReplaceItemInObjectCaseSensitive(obj, key, val);
	else
		cJSON_AddItemToObject(obj, key, val);
}

void jset_str(cJSON *obj, const char *key, const char *val)
{
	jset(obj, key, cJSON_CreateString(val));
}

void jset_num(cJSON *obj, const char *key, double val)
{
	jset(obj, key, cJSON_CreateNumber(val));
}

static void merge(cJSON *dst, const cJSON *src)
{
	for (const cJSON *m = src->child; m; m = m->next) {
		cJSON *d = cJSON_GetObjectItemCaseSensitive(dst, m->string);
		if (cJSON_IsObject(m) && cJSON_IsObject(d))
			merge(d, m);
		else
			jset(dst, m->string, cJSON_Duplicate(m, 1));
	}
}

int record_patch(cJSON *rec, void *arg)
{
	const cJSON *patch = arg;
	const char *from = jstr(rec, "status"), *to = jstr(patch, "status");
	if (status_terminal(from))
		return STORE_KEEP;
	if (to && !status_may_move(from, to))
		return STORE_KEEP; /* backwards, or no move at all */
	merge(rec, patch);
	return STORE_WRITE;
}
