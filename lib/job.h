/*
 * job.h - what starting a run sends to its host: the model's input with
 * every local path replaced by its place on the host (staged by content
 * by the host's backend), and job.sh for cosmos-job with every value
 * quoted.  Used by cosmos-submit and the backends that run cosmos-job.
 */
#ifndef COSMOS_JOB_H
#define COSMOS_JOB_H

#include <cjson/cJSON.h>
#include "remote.h"

/* A shell backend's start command's exit status when the run's job file
 * is already on the host: it was started once, and is not started again. */
#define JOB_ALREADY 99
#define JOB_ALREADY_S "99" /* the same, for a command's text */
_Static_assert(JOB_ALREADY == 99, "JOB_ALREADY_S spells JOB_ALREADY");

/* Its status when the job file could not be written (a full disk). */
#define JOB_UNWRITTEN 98
#define JOB_UNWRITTEN_S "98"
_Static_assert(JOB_UNWRITTEN == 98, "JOB_UNWRITTEN_S spells JOB_UNWRITTEN");

/* The last line of job.sh as sent: a job file is only whole with it.
 * job_end_line makes one with a nonce fresh for each start, so that no
 * value in the script (a prompt may hold any line) can end it early. */
#define JOB_END "#cosmos-job-end"
#define JOB_END_LEN (sizeof JOB_END + 1 + 32)
void job_end_line(char end[JOB_END_LEN]);

/* The 4K upscaler's diffusion steps unless a request says otherwise. */
#define UPSCALE_STEPS 10

/*
 * Is req a well-formed request: a known model_type, a spec of its shape,
 * ids that are ids, a batch's items, and a batch only with its parent's
 * run_id?  NULL, or what is wrong.
 */
const char *job_check(const cJSON *req);

/* What the model reads: a copy of the request's spec, and a batch's items. */
cJSON *job_of(const cJSON *req);

/*
 * Make job what the host's model reads: replace every local path in it
 * (the members named input_video_path, input_control, video_path and
 * visual_input, at any depth) with its place on the host, staged by the
 * host's backend, which may use an earlier run's output there
 * (execution_config.source_run_id).  On a host whose engine is
 * transfer2.5, first refuse what it cannot run (r->why_code bad_request,
 * nothing staged), then make the spec upstream's (transfer25.h), and
 * name the engine in job's "engine".
 * With uploads (a dry run) nothing is staged: each file is listed there
 * with its sha256 instead.  0, or -1 with r->err set.
 */
int job_stage(cJSON *job, struct remote *r, const cJSON *req, cJSON *uploads);

/* job.sh: MODEL, SPEC, a batch's items as BATCH (JSON lines), the
 * engine job names as COSMOS_ENGINE, and the model's arguments (from ec;
 * for transfer2.5, from the spec), all quoted, then the line end (caller
 * frees). */
char *job_script(const char *model, const cJSON *job, const cJSON *ec, const char *end);

#endif
