/* batch.c - see batch.h. */
#define _GNU_SOURCE
#include "batch.h"
#include "record.h"
#include "store.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

int batch_is_parent(const cJSON *rec)
{
	const char *m = jstr(rec, "model_type");
	return m && (!strcmp(m, "batch") || !strcmp(m, "enhance_batch"));
}

cJSON *batch_parent_patch(const cJSON *parent, int *moving)
{
	const cJSON *ids = cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetObjectItemCaseSensitive(parent, "execution_config"), "child_run_ids"), *c;
	int total = 0, done = 0, completed = 0, failed = 0, cancelled = 0, started = 0;
	*moving = 0;
	cJSON_ArrayForEach(c, ids) {
		const char *cid = cJSON_GetStringValue(c);
		cJSON *rec = id_kind(cid) == ID_RUN ? store_load(cid) : NULL;
		const char *st = rec ? jstr(rec, "status") : NULL;
		total++;
		if (status_terminal(st)) {
			done++;
			completed += !strcmp(st, "completed");
			failed += !strcmp(st, "failed");
			cancelled += !strcmp(st, "cancelled");
		}
		started += st && strcmp(st, "pending");
		*moving += st && strcmp(st, "pending") && !status_terminal(st);
		cJSON_Delete(rec);
	}
	if (!total || (done < total && !started))
		return NULL;
	cJSON *patch = cJSON_CreateObject(), *counts = jobj(jobj(patch, "outputs"), "children");
	jset_num(counts, "total", total);
	jset_num(counts, "completed", completed);
	jset_num(counts, "failed", failed);
	jset_num(counts, "cancelled", cancelled);
	if (done < total) {
		jset_str(patch, "status", "running");
		return patch;
	}
	char ts[TIMESTAMP_LEN];
	timestamp_now(ts);
	jset_str(patch, "status", completed == total ? "completed" : "failed");
	if (completed < total) {
		char *why = xasprintf("%d of %d children did not complete (%d failed, %d cancelled)",
		    total - completed, total, failed, cancelled);
		jset_str(patch, "reason", why);
		free(why);
	}
	jset_str(patch, "completed_at", ts);
	return patch;
}
