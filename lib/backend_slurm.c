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
 * Slurm's states into cosmos's vocabulary (documented there).
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
	return remote_install(r) < 0 ? EX_UNAVAIL : 0;
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

/* What the job runs, as a shell command: cosmos-job, maybe in a container. */
static char *job_command(const struct host *h, const char *id)
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
	sb_quote(&c, id);
	return c.s;
}

static struct bjob *start(struct remote *r, const char *id, const char *model, const cJSON *job, const cJSON *ec)
{
	const struct host *h = &r->host;
	struct bjob *s = xmalloc(sizeof *s);
	snprintf(s->handle, sizeof s->handle, "cosmos_%s_%.8s", model, id);
	/* The job id is kept in runs/ID.jobid, and told again to a submit
	 * that finds the run started before. */
	char *jobid = xasprintf("runs/%s.jobid", id), *again = NULL;
	struct sbuf q = {0}, b = {0};
	sb_quote(&q, jobid);
	again = xasprintf("cat %s 2>/dev/null; ", q.s);
	shell_job_file(&b, id, again);
	free(again);
	sb_puts(&b, "jid=$(sbatch --parsable");
	flag(&b, "job-name", s->handle);
	sb_puts(&b, " --chdir=\"$PWD\"");
	char *out = xasprintf("runs/%s.slurm.log", id);
	flag(&b, "output", out);
	free(out);
	flag(&b, "partition", h->partition);
	flag(&b, "gres", h->gres ? h->gres : "gpu:1");
	flag(&b, "time", h->time_limit);
	flag(&b, "account", h->account);
	flag(&b, "qos", h->qos);
	if (h->engine) {
		char *e = xasprintf("ALL,COSMOS_ENGINE=%s", h->engine);
		flag(&b, "export", e);
		free(e);
	}
	/* sbatch_options is split on blanks: each word is passed on quoted. */
	char *opts = xstrdup(h->sbatch_options ? h->sbatch_options : ""), *save = NULL;
	for (char *t = strtok_r(opts, " \t", &save); t; t = strtok_r(NULL, " \t", &save)) {
		sb_puts(&b, " ");
		sb_quote(&b, t);
	}
	free(opts);
	char *cmd = job_command(h, id);
	flag(&b, "wrap", cmd);
	free(cmd);
	sb_printf(&b, ") || exit $?; echo \"$jid\" >%s; echo \"$jid\"", q.s);
	sb_free(&q);
	free(jobid);
	char *text = job_script(model, job, ec);
	s->job = remote_start(r, b.s, text, strlen(text));
	free(text);
	sb_free(&b);
	if (!s->job) {
		free(s);
		return NULL;
	}
	return s;
}

/* sbatch --parsable says "JOBID" or "JOBID;CLUSTER". */
static int started(struct remote *r, struct bjob *s, cJSON *job)
{
	int st = remote_job_status(s->job), rc = 0;
	struct sbuf *out = remote_job_out(s->job), *err = remote_job_err(s->job);
	size_t digits = out->s ? strspn(out->s, "0123456789") : 0;
	if (st == JOB_ALREADY) {
		/* Started by an earlier submit, whose job id the host kept. */
		if (digits && digits <= 18) {
			out->s[digits] = '\0';
			jset_str(job, "handle", out->s);
			jset_str(job, "runtime", "slurm");
		}
		rc = STARTED_BEFORE;
	} else if (st < 0)
		rc = EX_UNAVAIL;
	else if (st != 0 || !digits || digits > 18) {
		snprintf(r->err, sizeof r->err, "sbatch refused the job: %s",
		    shell_chomp(err) ? shown(err->s) : st ? "no message" : "it printed no job id");
		rc = EX_SOME;
	} else {
		out->s[digits] = '\0';
		jset_str(job, "handle", out->s);
		jset_str(job, "runtime", "slurm");
		jset_str(job, "job_name", s->handle);
		if (r->host.partition)
			jset_str(job, "partition", r->host.partition);
	}
	remote_job_free(s->job);
	free(s);
	return rc;
}

const struct backend backend_slurm = {
	"slurm", configure, open_host, shell_stage, start, shell_step, shell_wait, started,
	shell_poll, shell_cancel, shell_log, shell_fetch, NULL,
};
