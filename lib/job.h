/*
 * job.h - what starting a run sends to its host: the model's input with
 * every local path replaced by its place on the host (staged by content),
 * job.sh for cosmos-job with every value quoted, and the one start
 * command.  Used by cosmos-submit; a backend that starts jobs another way
 * (sbatch) would build the same job.
 */
#ifndef COSMOS_JOB_H
#define COSMOS_JOB_H

#include <cjson/cJSON.h>
#include "remote.h"

/* The start command's exit status when the run's job file is already on
 * the host: it was started once, and is not started again. */
#define JOB_ALREADY 99

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
 * Replace every local path in job (the members named input_video_path,
 * input_control, video_path and visual_input, at any depth) with its
 * place on the host, staging files as needed; an earlier run's output on
 * the same host (execution_config.source_run_id) is used where it is.
 * With uploads (a dry run) nothing is staged: each file is listed there
 * with its sha256 instead.  0, or -1 with r->err set.
 */
int job_stage(cJSON *job, struct remote *r, const cJSON *req, cJSON *uploads);

/* job.sh: MODEL, SPEC, a batch's items as BATCH (JSON lines) and the
 * model's arguments from ec, all quoted (caller frees). */
char *job_script(const char *model, const cJSON *job, const cJSON *ec);

/*
 * The start, as one shell command to run after "cd WORKDIR && ": copy
 * job.sh from stdin with shell builtins, then become docker run -d (or,
 * for the process runtime, start cosmos-job in a session of its own and
 * print its pid).  Exits JOB_ALREADY if runs/ID.sh exists.
 */
char *job_start_command(const struct remote *r, const char *id, const char *container);

#endif
