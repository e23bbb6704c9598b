/*
 * backend_slurm.c - "slurm": a cluster's login node, reached over SSH like
 * a docker host (or this machine, when the host has no address), where
 * each run is one Slurm job named cosmos_<model>_<id[:8]> that runs
 * cosmos-job in the work dir, which must be on a file system the compute
 * nodes share.  The job's record keeps its Slurm job id as job.handle.
 *
 * A job runs cosmos-job directly (container = none, the default), under
 * pyxis (srun --container-image) or under apptainer (exec --nv).  Staging,
 * poll, cancel, log and fetch are the shell backends' with the runtime
 * "slurm": cosmos-ctl asks squeue once for every job of ours, and maps
 * Slurm's states into cosmos's vocabulary (documented there).  A
 * request's execution_config.num_gpus is its job's GPU count (gres_for).
 *
 * Invariant: every word of the sbatch command is quoted with sb_quote();
 * the --wrap command is built quoted, then quoted whole.
 */
#define _GNU_SOURCE
#include "backend.h"
#include "backend_shell.h"
#include "job.h"
#include "record.h"
#include "remote.h"
#include "store.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int configure(struct host *h, char *err, size_t errlen)
{
	const char *c = h->container ? h->container : "none";
	if (strcmp(c, "none") && strcmp(c, "pyxis") && strcmp(c, "apptainer")) {
		snprintf(err, errlen, "host '%s': container '%s' is not none, pyxis or apptainer", shown(h->name), shown(c));
		return -1;
	}
	if (h->engine && strpbrk(h->engine, ", \t\n")) {
		snprintf(err, errlen, "host '%s': engine '%s' has a comma or a blank", shown(h->name), shown(h->engine));
		return -1;
	}
	if (h->address)
		return host_ssh_complete(h, err, errlen);
	/* No address: this machine is the login node. */
	if (!h->workdir) {
		snprintf(err, errlen, "host '%s': no workdir (on the cluster's shared file system)", shown(h->name));
		return -1;
	}
	h->address = xstrdup("localhost");
	h->user = xstrdup("");
	host_defaults(h);
	return 0;
}

static int open_host(struct remote *r)
{
	r->runtime = "slurm";
	if (strcmp(r->host.address, "localhost") || *r->host.user) {
		int rc = remote_connect(r);
		if (rc)
			return rc;
	}
	return remote_install(r);
}

/* " --KEY=VALUE", quoted, when value is set. */
static void flag(struct sbuf *b, const char *key, const char *value)
{
	if (!value || !*value)
		return;
	char *w = xasprintf("--%s=%s", key, value);
	sb_puts(b, " ");
	sb_quote(b, w);
	free(w);
}

/* What the job runs, as a shell command: cosmos-job, maybe in a
 * container, for the run whose id the shell word run gives. */
static char *job_command(const struct host *h, const char *run)
{
	struct sbuf c = {0};
	const char *how = h->container ? h->container : "none";
	if (!strcmp(how, "pyxis")) {
		sb_puts(&c, "srun");
		flag(&c, "container-image", h->image);
		sb_puts(&c, " --container-mounts=\"$PWD\":/workspace --container-workdir=/workspace");
	} else if (!strcmp(how, "apptainer")) {
		sb_puts(&c, "apptainer exec --nv --bind \"$PWD\":/workspace --pwd /workspace ");
		sb_quote(&c, h->image);
	}
	sb_puts(&c, c.len ? " sh bashscripts/cosmos-job " : "sh bashscripts/cosmos-job ");
	sb_puts(&c, run);
	return c.s;
}

/* The GPUs execution_config ec asks for (num_gpus, a whole number >= 1),
 * or 0: the host's gres says. */
static int gpus_asked(const cJSON *ec)
{
	double n = jnum(ec, "num_gpus", 0);
	return n >= 1 && n <= 1e6 && n == (int)n ? (int)n : 0;
}

/*
 * The job's --gres: the host's gres (default gpu:1), with the count of
 * its gpu entry made gpus when gpus > 0 and its type kept: gpu:1 ->
 * gpu:N, gpu:a100:2 -> gpu:a100:N, gpu -> gpu:N.  Each entry of the list
 * is name[[:type]:count], the count 1 when left out (sbatch(1), --gres;
 * Slurm's gres.html, "Running Jobs": --gres=gpu:kepler:2).  A gres with
 * no gpu entry gets one.
 */
static char *gres_for(const struct host *h, int gpus)
{
	const char *gres = h->gres ? h->gres : "gpu:1";
	if (gpus <= 0)
		return xstrdup(gres);
	struct sbuf b = {0};
	int done = 0;
	char *list = xstrdup(gres), *save = NULL;
	for (char *e = strtok_r(list, ",", &save); e; e = strtok_r(NULL, ",", &save)) {
		sb_puts(&b, b.len ? "," : "");
		char *count = strrchr(e, ':');
		if (done || strcspn(e, ":") != 3 || strncmp(e, "gpu", 3)) {
			sb_puts(&b, e);
			continue;
		}
		if (count && count[1] && strspn(count + 1, "0123456789") == strlen(count + 1))
			*count = '\0';
		sb_printf(&b, "%s:%d", e, gpus);
		done = 1;
	}
	if (!done)
		sb_printf(&b, "%sgpu:%d", b.len ? "," : "", gpus);
	free(list);
	return b.s;
}

/* The sbatch words every job of this host gets, after --job-name; gpus
 * as for gres_for. */
static void sbatch_options(struct sbuf *b, const struct host *h, const char *log, int gpus)
{
	sb_puts(b, " --chdir=\"$PWD\"");
	flag(b, "output", log);
	flag(b, "partition", h->partition);
	char *gres = gres_for(h, gpus);
	flag(b, "gres", gres);
	free(gres);
	flag(b, "time", h->time_limit);
	flag(b, "account", h->account);
	flag(b, "qos", h->qos);
	if (h->engine) {
		char *e = xasprintf("ALL,COSMOS_ENGINE=%s", h->engine);
		flag(b, "export", e);
		free(e);
	}
	/* sbatch_options is split on blanks: each word is passed on quoted. */
	char *opts = xstrdup(h->sbatch_options ? h->sbatch_options : ""), *save = NULL;
	for (char *t = strtok_r(opts, " \t", &save); t; t = strtok_r(NULL, " \t", &save)) {
		sb_puts(b, " ");
		sb_quote(b, t);
	}
	free(opts);
}

/* "jid=$(sbatch ...) || exit $?; echo $jid >JOBIDFILE; echo $jid PARTITION":
 * the job id kept on the host, for a submit that finds the job started;
 * and the partition Slurm put the job in. */
static void sbatch_tail(struct sbuf *b, const char *wrap, const char *jobid_file)
{
	flag(b, "wrap", wrap);
	sb_puts(b, ") || exit $?; echo \"$jid\" >");
	sb_quote(b, jobid_file);
	sb_puts(b, "; p=$(squeue -h -j \"${jid%%;*}\" -o %P 2>/dev/null | head -n 1); echo \"$jid $p\"");
}

/* The partition after the job id in sbatch_tail's answer, or NULL. */
static const char *partition_in(char *answer)
{
	char *p = strchr(answer, ' ');
	if (!p)
		return NULL;
	p++;
	p[strcspn(p, "\n")] = '\0';
	return *p && strspn(p, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.") == strlen(p) ? p : NULL;
}

/* The shell text that tells a started job's id again (see shell_job_file). */
static char *tell_again(const char *jobid_file)
{
	struct sbuf q = {0};
	sb_quote(&q, jobid_file);
	char *t = xasprintf("cat %s 2>/dev/null; ", q.s);
	sb_free(&q);
	return t;
}

static struct bjob *start(struct remote *r, const char *id, const char *model, const cJSON *job, const cJSON *ec)
{
	const struct host *h = &r->host;
	struct bjob *s = xmalloc(sizeof *s);
	snprintf(s->handle, sizeof s->handle, "cosmos_%s_%.8s", model, id);
	char *jobid = xasprintf("runs/%s.jobid", id), *again = tell_again(jobid);
	struct sbuf b = {0}, q = {0};
	sb_quote(&q, id);
	char *log = xasprintf("runs/%s.slurm.log", id), *cmd = job_command(h, q.s);
	sb_free(&q);
	char end[JOB_END_LEN];
	job_end_line(end);
	shell_job_file(&b, id, again, end);
	sb_puts(&b, "jid=$(sbatch --parsable");
	flag(&b, "job-name", s->handle);
	sbatch_options(&b, h, log, gpus_asked(ec));
	sbatch_tail(&b, cmd, jobid);
	char *text = job_script(model, job, ec, end);
	s->job = remote_start_streamed(r, b.s, text, strlen(text));
	free(text);
	free(cmd);
	free(log);
	free(again);
	free(jobid);
	sb_free(&b);
	if (!s->job) {
		free(s);
		return NULL;
	}
	return s;
}

/*
 * A job array: task i runs cosmos-job for ids[i], read from the list
 * runs/FIRST.ids.  One command of a fixed size writes every job script
 * and the list from stdin (each script after a line "#cosmos-job-NONCE
 * ID": the nonce is random, so no line of a script can pass for one, and
 * each ID is checked again), then calls sbatch once.  If any job script
 * is there already, the array was started before: its job id is told
 * again.
 */
static struct bjob *start_many(struct remote *r, const char *name, const char *const *ids, const char *const *models,
    const cJSON *const *jobs, const cJSON *const *ecs, int n, int max_running)
{
	const struct host *h = &r->host;
	char nonce[ID_LEN + 1];
	id_new(ID_RUN, nonce);
	char *marker = xasprintf("#cosmos-job-%s ", nonce + 3);
	char *jobid = xasprintf("runs/%s.jobid", ids[0]), *list = xasprintf("runs/%s.ids", ids[0]);
	char *log = xasprintf("runs/%s.slurm.%%a.log", ids[0]), *again = tell_again(jobid);
	struct sbuf b = {0}, in = {0};
	/* The list is made from the markers, under a temporary name. */
	sb_puts(&b, "f=; : >");
	sb_quote(&b, list);
	sb_puts(&b, ".new || exit 1; while IFS= read -r l || [ -n \"$l\" ]; do case $l in ");
	sb_quote(&b, marker);
	sb_puts(&b, "*) i=${l#");
	sb_quote(&b, marker);
	sb_puts(&b, "}; case $i in rs_*[!0-9a-f]*) exit 2 ;; rs_*) ;; *) exit 2 ;; esac; "
	            "[ ${#i} -eq 35 ] || exit 2; f=runs/$i.sh; [ ! -e \"$f\" ] || { ");
	sb_puts(&b, again);
	sb_puts(&b, "echo 'cosmos: this array was started before' >&2; exit " JOB_ALREADY_S "; }; : >\"$f\" || exit 1; "
	            "printf '%s\\n' \"$i\" >>");
	sb_quote(&b, list);
	sb_puts(&b, ".new || exit 1; continue ;; esac; [ -n \"$f\" ] && printf '%s\\n' \"$l\" >>\"$f\" || exit 1; done; mv -f ");
	sb_quote(&b, list);
	sb_puts(&b, ".new ");
	sb_quote(&b, list);
	for (int i = 0; i < n; i++) {
		char *text = job_script(models[i], jobs[i], ecs[i], JOB_END); /* ended by the markers */
		sb_printf(&in, "%s%s\n%s", marker, ids[i], text);
		free(text);
	}
	sb_puts(&b, " || exit 1; jid=$(sbatch --parsable");
	flag(&b, "job-name", name);
	char *range = max_running > 0 ? xasprintf("0-%d%%%d", n - 1, max_running) : xasprintf("0-%d", n - 1);
	flag(&b, "array", range);
	free(range);
	/* The tasks of an array share one --gres: the most GPUs any child
	 * asks for (the host's gres when none asks). */
	int gpus = 0;
	for (int i = 0; i < n; i++) {
		int g = gpus_asked(ecs[i]);
		gpus = g > gpus ? g : gpus;
	}
	sbatch_options(&b, h, log, gpus);
	/* Task i's run id is line i+1 of the list, read where the task runs. */
	struct sbuf w = {0};
	sb_puts(&w, "i=$(sed -n \"$((SLURM_ARRAY_TASK_ID + 1))p\" ");
	sb_quote(&w, list);
	sb_puts(&w, ") && exec ");
	char *cmd = job_command(h, "\"$i\"");
	sb_puts(&w, cmd);
	free(cmd);
	sbatch_tail(&b, w.s, jobid);
	sb_free(&w);
	struct bjob *s = xmalloc(sizeof *s);
	snprintf(s->handle, sizeof s->handle, "%s", name);
	s->job = remote_start(r, b.s, in.s, in.len);
	sb_free(&b);
	sb_free(&in);
	free(marker);
	free(jobid);
	free(list);
	free(log);
	free(again);
	if (!s->job) {
		free(s);
		return NULL;
	}
	return s;
}

/*
 * What the start command said: sbatch --parsable's "JOBID" or
 * "JOBID;CLUSTER" and the partition (sbatch_tail), or, started before,
 * the job id the host kept.  0 or STARTED_BEFORE with *jid (NULL when the
 * id was not kept) and *part; else an exit code class with r->err.
 */
static int answer(struct remote *r, struct bjob *s, const char *what, const char **jid, const char **part)
{
	int st = remote_job_status(s->job);
	struct sbuf *out = remote_job_out(s->job), *err = remote_job_err(s->job);
	size_t digits = out->s ? strspn(out->s, "0123456789") : 0;
	*jid = *part = NULL;
	if (st < 0)
		return STARTED_UNKNOWN;
	if ((st == 0 || st == JOB_ALREADY) && digits && digits <= 18) {
		char *rest = out->s + digits;
		*part = *rest ? partition_in(rest) : NULL;
		*rest = '\0';
		*jid = out->s;
	}
	if (st == JOB_ALREADY)
		return STARTED_BEFORE;
	if (st == 0 && *jid)
		return 0;
	snprintf(r->err, sizeof r->err, "sbatch refused the %s: %s", what,
	    shell_chomp(err) ? shown(err->s) : st ? "no message" : "it printed no job id");
	return EX_SOME;
}

/* A run's job fields: its handle, and what Slurm calls and put it in. */
static void job_fields(cJSON *job, const struct remote *r, const char *handle, const char *name, const char *part)
{
	jset_str(job, "handle", handle);
	jset_str(job, "runtime", "slurm");
	jset_str(job, "job_name", name);
	if (part || r->host.partition)
		jset_str(job, "partition", part ? part : r->host.partition);
}

static int started(struct remote *r, struct bjob *s, cJSON *job)
{
	const char *jid, *part;
	int rc = answer(r, s, "job", &jid, &part);
	if (jid)
		job_fields(job, r, jid, s->handle, part);
	remote_job_free(s->job);
	free(s);
	return rc;
}

/* Each task's handle is JOBID_INDEX, as squeue -r shows it. */
static int started_many(struct remote *r, struct bjob *s, cJSON *const *jobs, int n)
{
	const char *jid, *part;
	int rc = answer(r, s, "job array", &jid, &part);
	if (rc == STARTED_BEFORE && !jid) {
		snprintf(r->err, sizeof r->err, "the job array was started before, and its job id was not kept");
		rc = EX_SOME;
	}
	for (int i = 0; jid && rc != EX_SOME && i < n; i++) {
		char *handle = xasprintf("%s_%d", jid, i);
		job_fields(jobs[i], r, handle, s->handle, part);
		jset_str(jobs[i], "array_job_id", jid);
		free(handle);
	}
	remote_job_free(s->job);
	free(s);
	return rc;
}

/* The nodes of the host's partition (of every partition, without one)
 * and their GRES, from one sinfo through cosmos-ctl hosts slurm. */
static int describe(struct remote *r, cJSON *out)
{
	jset(out, "reachable", cJSON_CreateTrue());
	jset(out, "partition", r->host.partition ? cJSON_CreateString(r->host.partition) : cJSON_CreateNull());
	int rc = shell_hosts(r, r->host.partition, out);
	static const char *const none[] = {"gpus", "holding", "waiting"};
	for (int i = 0; i < 3; i++)
		cJSON_DeleteItemFromObjectCaseSensitive(out, none[i]);
	return rc;
}

const struct backend backend_slurm = {
	"slurm", configure, open_host, shell_stage, start, shell_step, shell_wait, started,
	start_many, started_many, shell_poll, shell_cancel, shell_log, shell_fetch, NULL, shell_refuses, shell_adopt,
	describe,
};
