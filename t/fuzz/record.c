/*
 * record.c - fuzz run and prompt records as the programs read them from
 * the store: parsed (record_parse, as store_load does), then what
 * cosmos-sync and the others read in them: the job's handle, the batch
 * a run belongs to (a parent's children are looked up in an empty store), its timestamps, the judgement of a poll answer
 * (finish_judge), and the record patched both ways (record_patch: the
 * bytes as a patch on a good record, and a patch on the bytes).
 */
#include "fuzz.h"
#include "backend.h"
#include "batch.h"
#include "finish.h"
#include "packed.h"
#include "record.h"
#include "store.h"
#include "util.h"

/* What a poll could say of the run. */
static void judge(const cJSON *rec)
{
	static const struct { enum run_state st; int code; const char *reason; } says[] = {
		{RUN_QUEUED, -1, "Resources"}, {RUN_QUEUED, -1, ""}, {RUN_RUNNING, -1, ""},
		{RUN_ENDED, 0, ""}, {RUN_ENDED, 1, ""}, {RUN_ENDED, -1, "no exit code"},
		{RUN_GONE, -1, "the job is gone"}, {RUN_UNKNOWN, -1, "?"},
	};
	for (size_t i = 0; i < sizeof says / sizeof says[0]; i++) {
		struct poll_item a = {.rec = rec, .answered = 1, .state = says[i].st, .code = says[i].code};
		snprintf(a.reason, sizeof a.reason, "%s", says[i].reason);
		cJSON_Delete(finish_judge(&a, rec));
	}
}

int LLVMFuzzerInitialize(int *argc, char ***argv);

/* A store that is not there: a batch's children read as missing. */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	setenv("COSMOS_DIR", "/nonexistent/cosmos-fuzz", 1);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	cJSON *rec = record_parse((const char *)data, size);
	if (!rec)
		return 0;
	long long t;
	const char *s;
	(void)id_kind(jstr(rec, "id"));
	(void)job_handle(rec);
	(void)batch_is_parent(rec);
	int moving;
	cJSON_Delete(batch_parent_patch(rec, &moving));
	(void)packed_parent(rec);
	(void)packed_parent_of(rec);
	if ((s = jstr(rec, "status")))
		(void)(status_known(s) + status_terminal(s) + status_may_move(s, "running"));
	if ((s = jstr(rec, "created_at")))
		(void)timestamp_parse(s, &t);
	judge(rec);
	size_t len;
	free(record_line(rec, &len));

	cJSON *base = run_new("transfer");
	(void)record_patch(base, rec);
	cJSON_Delete(base);
	cJSON *patch = cJSON_Parse("{\"status\":\"running\",\"job\":{\"handle\":\"h\"},\"outputs\":{\"video\":\"v\"}}");
	(void)record_patch(rec, patch);
	cJSON_Delete(patch);
	cJSON_Delete(rec);
	return 0;
}
