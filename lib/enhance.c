/* enhance.c - see enhance.h. */
#define _GNU_SOURCE
#include "enhance.h"
#include "record.h"
#include "shell.h"
#include "store.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *enhance_result(const char *path, const char *prompt_id, const char **why)
{
	static char msg[300];
	FILE *f = fopen(path, "re");
	struct sbuf b = {0};
	char buf[8192];
	size_t n;
	while (f && (n = fread(buf, 1, sizeof buf, f)) > 0)
		sb_add(&b, buf, n);
	if (f)
		fclose(f);
	cJSON *list = b.s ? cJSON_Parse(b.s) : NULL, *it;
	sb_free(&b);
	snprintf(msg, sizeof msg, "batch_results.json has no result for %s", prompt_id);
	char *text = NULL;
	cJSON_ArrayForEach(it, list) {
		if (!jstr(it, "name") || strcmp(jstr(it, "name"), prompt_id))
			continue;
		if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(it, "success")) && jstr(it, "upsampled_prompt")) {
			text = xstrdup(jstr(it, "upsampled_prompt"));
			break;
		}
		snprintf(msg, sizeof msg, "enhancement failed: %s",
		    jstr(it, "error") ? shown(jstr(it, "error")) : "no reason given");
	}
	cJSON_Delete(list);
	*why = text ? NULL : msg;
	return text;
}

struct replacement {
	const char *text, *run_id;
};

static int replace_prompt(cJSON *p, void *arg)
{
	const struct replacement *r = arg;
	const char *old = jstr(p, "prompt_text");
	cJSON *prev = cJSON_GetObjectItemCaseSensitive(p, "previous_texts");
	if (!cJSON_IsArray(prev)) {
		prev = cJSON_CreateArray();
		jset(p, "previous_texts", prev);
	}
	if (old)
		cJSON_AddItemToArray(prev, cJSON_CreateString(old));
	jset_str(p, "prompt_text", r->text);
	jset(p, "enhanced", cJSON_CreateTrue());
	jset_str(p, "enhanced_by_run", r->run_id);
	return STORE_WRITE;
}

void enhance_apply(const cJSON *run, const char *text, cJSON *patch)
{
	const char *pid = jstr(run, "prompt_id");
	const cJSON *ec = cJSON_GetObjectItemCaseSensitive(run, "execution_config");
	cJSON *out = jobj(patch, "outputs");
	jset_str(out, "enhanced_prompt", text);
	cJSON *p = pid ? store_load(pid) : NULL;
	if (!p)
		return;
	if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(ec, "create_new"))) {
		cJSON *np = prompt_new();
		for (cJSON *m = p->child; m; m = m->next)
			if (strcmp(m->string, "id") && strcmp(m->string, "created_at") && strcmp(m->string, "updated_at") &&
			    strcmp(m->string, "previous_texts"))
				jset(np, m->string, cJSON_Duplicate(m, 1));
		jset_str(np, "prompt_text", text);
		jset_str(np, "parent_prompt_id", pid);
		jset(np, "enhanced", cJSON_CreateTrue());
		jset_str(np, "enhanced_by_run", jstr(run, "id"));
		if (store_create(np) == 0) {
			jset_str(out, "enhanced_prompt_id", jstr(np, "id"));
			record_print(np);
		}
		cJSON_Delete(np);
	} else {
		struct replacement r = {text, jstr(run, "id")};
		store_update(pid, replace_prompt, &r, NULL);
	}
	cJSON_Delete(p);
}
