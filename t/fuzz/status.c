/*
 * status.c - fuzz what cosmos-ctl on a host answers (a hostile host):
 * status for three runs (shell_read_status), then what cosmos-sync does
 * with each answer (finish_judge, and the files' names, a packed batch's
 * video_<i>/ among them: packed_index); and adopt
 * (shell_read_adopt), for a slurm host and a docker host; and hosts
 * (shell_read_hosts: GPUs, claims, the line, a cluster's nodes), each
 * entry printed as cosmos hosts --json prints it.  Slurm's squeue, sacct and
 * sinfo are read by cosmos-ctl on the host; what they say reaches this
 * side as these lines.
 */
#include "fuzz.h"
#include "backend_shell.h"
#include "finish.h"
#include "packed.h"
#include "record.h"

#define N 3

static const char *const recs_json[N] = {
	"{\"id\":\"rs_0123456789abcdef0123456789abcdef\",\"model_type\":\"transfer\",\"status\":\"submitted\","
	"\"job\":{\"handle\":\"cosmos_transfer_01234567\",\"runtime\":\"docker\"}}",
	"{\"id\":\"rs_fedcba9876543210fedcba9876543210\",\"model_type\":\"upscale\",\"status\":\"running\","
	"\"job\":{\"handle\":\"4242\",\"runtime\":\"slurm\",\"queue_reason\":\"Priority\"}}",
	"{\"id\":\"rs_00000000000000000000000000000000\",\"model_type\":\"enhance\",\"status\":\"submitted\","
	"\"job\":{\"handle\":\"cosmos_enhance_00000000\",\"runtime\":\"process\"}}",
};

static cJSON *recs[N];

static void status(const char *text)
{
	char *t = strdup(text);
	struct poll_item v[N] = {{0}};
	for (int i = 0; i < N; i++)
		v[i].rec = recs[i];
	shell_read_status("fuzz", t, v, N);
	for (int i = 0; i < N; i++) {
		const cJSON *f;
		if (v[i].answered)
			cJSON_Delete(finish_judge(&v[i], recs[i]));
		cJSON_ArrayForEach(f, v[i].files) {
			const char *rest;
			(void)finish_safe_name(jstr(f, "name"));
			(void)packed_index(jstr(f, "name"), N, &rest);
		}
		cJSON_Delete(v[i].files);
	}
	free(t);
}

static void adopt(const char *text, const char *runtime)
{
	char *t = strdup(text);
	cJSON *jobs[N] = {0};
	shell_read_adopt(runtime, t, (const cJSON *const *)recs, jobs, N);
	for (int i = 0; i < N; i++)
		cJSON_Delete(jobs[i]);
	free(t);
}

static void hosts(const char *text)
{
	char *t = strdup(text);
	cJSON *out = cJSON_CreateObject();
	shell_read_hosts(t, out);
	char *line = cJSON_PrintUnformatted(out);
	free(line);
	cJSON_Delete(out);
	free(t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!recs[0])
		for (int i = 0; i < N; i++)
			recs[i] = cJSON_Parse(recs_json[i]); /* kept for the whole run */
	char *text = fuzz_text(data, size);
	status(text);
	adopt(text, "slurm");
	adopt(text, "docker");
	hosts(text);
	free(text);
	return 0;
}
