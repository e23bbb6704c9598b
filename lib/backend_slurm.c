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

/* "jid=$(sbatch ...) || exit; echo $jid >JOBIDFILE; rm MARK; echo $jid
 * PARTITION": the job id kept on the host, for a submit that finds the job
 * started; and the partition Slurm put the job in. */
static void sbatch_tail(struct sbuf *b, const char *wrap, const char *jobid_file, const char *mark)
{
	flag(b, "wrap", wrap);
	sb_puts(b, ") || { k=$?; rm -f ");
	sb_quote(b, mark);
	sb_puts(b, "; exit $k; }; echo \"$jid\" >");
	sb_quote(b, jobid_file);
	sb_puts(b, " && rm -f ");
	sb_quote(b, mark);
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

/* A start that cannot tell whether an earlier one submitted (squeue failed). */
#define START_UNSURE 3
#define START_UNSURE_S "3"

/*
 * One run's job.  As for an array (start_many), runs/ID.jobid, not the
 * job script, says the run was submitted: a start killed after its job
 * script, before sbatch, is started again by its run_id request.  The
 * command ignores its client's end, and runs/ID.sbatch is there while
 * sbatch may have submitted a job whose id is not kept yet; the next
 * start finds such a job with one squeue, by its log's name.
 */
static struct bjob *start(struct remote *r, const char *id, const char *model, const cJSON *job, const cJSON *ec)
{
	const struct host *h = &r->host;
	struct bjob *s = xmalloc(sizeof *s);
	snprintf(s->handle, sizeof s->handle, "cosmos_%s_%.8s", model, id);
	char *jobid = xasprintf("runs/%s.jobid", id), *mark = xasprintf("runs/%s.sbatch", id);
	struct sbuf b = {0}, q = {0}, j = {0}, m = {0};
	sb_quote(&q, id);
	sb_quote(&j, jobid);
	sb_quote(&m, mark);
	char *log = xasprintf("runs/%s.slurm.log", id), *cmd = job_command(h, q.s);
	char end[JOB_END_LEN];
	job_end_line(end);
	sb_printf(&b, "trap '' HUP INT PIPE; [ ! -e %s ] || { ", m.s);
	sb_puts(&b, "q=$(squeue -h -u \"$(id -un)\" -O JobID:24,StdOut:4096) || { echo 'cosmos: squeue failed' >&2; "
	            "exit " START_UNSURE_S "; }; j=$(printf '%s\\n' \"$q\" | awk -v l=");
	sb_quote(&b, log);
	sb_printf(&b, " 'index($2, l) { print $1; exit }'); case $j in '' | *[!0-9]*) ;; *) echo \"$j\" >%s ;; esac; "
	              "rm -f %s; }; [ ! -s %s ] || { cat %s; echo 'cosmos: this run was started before' >&2; exit "
	              JOB_ALREADY_S "; }; rm -f runs/%s.sh; ", j.s, m.s, j.s, j.s, q.s);
	shell_job_file(&b, id, NULL, end);
	sb_printf(&b, ": >%s || exit 1; jid=$(sbatch --parsable", m.s);
	flag(&b, "job-name", s->handle);
	sbatch_options(&b, h, log, gpus_asked(ec));
	sbatch_tail(&b, cmd, jobid, mark);
	sb_free(&q);
	sb_free(&j);
	sb_free(&m);
	char *text = job_script(model, job, ec, end);
	s->job = remote_start_streamed(r, b.s, text, strlen(text));
	free(text);
	free(cmd);
	free(log);
	free(mark);
	free(jobid);
	sb_free(&b);
	if (!s->job) {
		free(s);
		return NULL;
	}
	return s;
}

/*
 * A job array: task k runs cosmos-job for the run on line k+1 of the list
 * runs/array_NONCE.ids.  One command of a fixed size writes the job
 * scripts and the list from stdin (each script after a line "#cosmos-job-
 * NONCE ID": the nonce is random, so no line of a script can pass for
 * one, and each ID is checked again), then calls sbatch once.
 *
 * A start killed anywhere (cosmos-submit or cosmos-batch SIGKILLed, a
 * connection lost) is made good by starting the same runs again
 * (cosmos-batch --resume), or, for runs whose array was submitted, by
 * cosmos-sync (adopt below).  What makes that hold:
 *  - A run's job was submitted exactly when runs/ID.jobid is on the host:
 *    "JOBID_TASK", written for each run of the array as soon as sbatch
 *    returns (a job script alone says nothing: a start may die after it).
 *  - The command runs to its end once begun: SIGHUP, SIGINT and SIGPIPE
 *    are ignored (a client gone is no reason to stop between sbatch and
 *    the runs' job ids), and its stdin must end at the line "#cosmos-job-
 *    NONCE end", or nothing is submitted (stdin cut short by a kill).
 *  - Starts of arrays in a work dir take turns (flock on runs/.arrays.lock),
 *    so a start again waits for one still running on the host, then sees
 *    its job ids.
 *  - runs/array_NONCE.sbatch is there while sbatch may have submitted an
 *    array whose runs' job ids are not kept yet.  Left by a start killed
 *    there (by the host: the command ignores its client's end), the next
 *    start (HEAL) asks squeue once, by the array's log name: found, the
 *    runs' job ids are kept then; not found (never submitted, or ended
 *    and forgotten by Slurm), they are started again; squeue failing, the
 *    start says so (exit START_UNSURE: the runs stay pending).
 *  - Started again, a run with a job id is told again ("task ID JOBID_TASK",
 *    not submitted); the others, their job scripts written anew, make a new
 *    array (exit 0), if there are any (else exit JOB_ALREADY).  The list
 *    and the tasks' logs are named by the nonce: a new array never
 *    touches an older one's.
 */
#define HEAL                                                                                                       \
	"q=-; for s in runs/array_*.sbatch; do [ -f \"$s\" ] || continue; a=${s%.sbatch}; [ \"$q\" != - ] || "             \
	"q=$(squeue -h -u \"$(id -un)\" -O ArrayJobID:24,StdOut:4096) || { echo 'cosmos: squeue failed' >&2; "          \
	"exit " START_UNSURE_S "; }; j=$(printf '%s\\n' \"$q\" | awk -v a=\"${a#runs/}.slurm.\" 'index($2, a) { print $1; exit }'); " \
	"case $j in '' | *[!0-9]*) ;; *) t=0; while read -r i; do echo \"${j}_$t\" >\"runs/$i.jobid\"; "                 \
	"t=$((t + 1)); done <\"$a.ids\" ;; esac; rm -f \"$s\"; done; "

struct many {
	struct bjob b; /* first: started_many gets &b */
	char (*ids)[ID_LEN + 1];
	int n;
};

static struct bjob *start_many(struct remote *r, const char *name, const char *const *ids, const char *const *models,
    const cJSON *const *jobs, const cJSON *const *ecs, int n, int max_running)
{
	const struct host *h = &r->host;
	char nonce[ID_LEN + 1];
	id_new(ID_RUN, nonce);
	char *marker = xasprintf("#cosmos-job-%s ", nonce + 3);
	char *list = xasprintf("runs/array_%s.ids", nonce + 3), *log = xasprintf("runs/array_%s.slurm.%%a.log", nonce + 3);
	char *mark = xasprintf("runs/array_%s.sbatch", nonce + 3);
	struct sbuf b = {0}, in = {0};
	/* The list is made from the markers, under a temporary name; k counts
	 * the runs to submit now. */
	sb_puts(&b, "trap '' HUP INT PIPE; exec 9>>runs/.arrays.lock && flock 9 || exit 1; " HEAL "f=; w=; k=0; : >");
	sb_quote(&b, list);
	sb_puts(&b, ".new || exit 1; while IFS= read -r l; do case $l in ");
	sb_quote(&b, marker);
	sb_puts(&b, "end) w=1; break ;; ");
	sb_quote(&b, marker);
	sb_puts(&b, "*) i=${l#");
	sb_quote(&b, marker);
	sb_puts(&b, "}; case $i in rs_*[!0-9a-f]*) exit 2 ;; rs_*) ;; *) exit 2 ;; esac; [ ${#i} -eq 35 ] || exit 2; "
	            "if [ -s \"runs/$i.jobid\" ]; then f=/dev/null; read -r t <\"runs/$i.jobid\"; echo \"task $i $t\"; "
	            "else f=runs/$i.sh; : >\"$f\" || exit 1; k=$((k + 1)); printf '%s\\n' \"$i\" >>");
	sb_quote(&b, list);
	sb_puts(&b, ".new || exit 1; fi; continue ;; esac; [ -n \"$f\" ] && printf '%s\\n' \"$l\" >>\"$f\" || exit 1; done; "
	            "[ -n \"$w\" ] && [ $k -gt 0 ] || rm -f ");
	sb_quote(&b, list);
	sb_puts(&b, ".new; [ -n \"$w\" ] || { echo 'cosmos: the job scripts came cut short' >&2; exit 1; }; "
	            "[ $k -gt 0 ] || exit " JOB_ALREADY_S "; mv -f ");
	sb_quote(&b, list);
	sb_puts(&b, ".new ");
	sb_quote(&b, list);
	for (int i = 0; i < n; i++) {
		char *text = job_script(models[i], jobs[i], ecs[i], JOB_END); /* ended by the markers */
		sb_printf(&in, "%s%s\n%s", marker, ids[i], text);
		free(text);
	}
	sb_printf(&in, "%send\n", marker);
	sb_puts(&b, " || exit 1; : >");
	sb_quote(&b, mark);
	sb_puts(&b, " || exit 1; jid=$(sbatch --parsable");
	flag(&b, "job-name", name);
	sb_puts(&b, " --array=0-$((k - 1))");
	if (max_running > 0)
		sb_printf(&b, "%%%d", max_running);
	/* The tasks of an array share one --gres: the most GPUs any child
	 * asks for (the host's gres when none asks). */
	int gpus = 0;
	for (int i = 0; i < n; i++) {
		int g = gpus_asked(ecs[i]);
		gpus = g > gpus ? g : gpus;
	}
	sbatch_options(&b, h, log, gpus);
	/* Task k's run id is line k+1 of the list, read where the task runs. */
	struct sbuf w = {0};
	sb_puts(&w, "i=$(sed -n \"$((SLURM_ARRAY_TASK_ID + 1))p\" ");
	sb_quote(&w, list);
	sb_puts(&w, ") && exec ");
	char *cmd = job_command(h, "\"$i\"");
	sb_puts(&w, cmd);
	free(cmd);
	flag(&b, "wrap", w.s);
	sb_free(&w);
	/* Each run's job id kept before anything is said; then the tasks and
	 * the partition Slurm put the array in. */
	sb_puts(&b, ") || { k=$?; rm -f ");
	sb_quote(&b, mark);
	sb_puts(&b, "; exit $k; }; jid=${jid%%;*}; case $jid in '' | *[!0-9]*) echo \"cosmos: sbatch printed no job id\" >&2; "
	            "exit 1 ;; esac; t=0; while read -r i; do echo \"${jid}_$t\" >\"runs/$i.jobid\"; "
	            "echo \"task $i ${jid}_$t\"; t=$((t + 1)); done <");
	sb_quote(&b, list);
	sb_puts(&b, "; rm -f ");
	sb_quote(&b, mark);
	sb_puts(&b, "; echo \"partition $(squeue -h -j \"$jid\" -o %P 2>/dev/null | head -n 1)\"");
	struct many *m = xmalloc(sizeof *m);
	snprintf(m->b.handle, sizeof m->b.handle, "%s", name);
	m->ids = xmalloc((size_t)n * sizeof *m->ids);
	for (int i = 0; i < n; i++)
		snprintf(m->ids[i], sizeof m->ids[i], "%s", ids[i]);
	m->n = n;
	m->b.job = remote_start(r, b.s, in.s, in.len);
	sb_free(&b);
	sb_free(&in);
	free(marker);
	free(list);
	free(mark);
	free(log);
	if (!m->b.job) {
		free(m->ids);
		free(m);
		return NULL;
	}
	return &m->b;
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
	if (st == START_UNSURE) {
		snprintf(r->err, sizeof r->err, "whether an earlier start submitted the %s is not known: %s", what,
		    shell_chomp(err) ? shown(err->s) : "no message");
		return STARTED_UNKNOWN;
	}
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

/* A job id as the host keeps it: JOBID, or JOBID_TASK for an array's. */
static int job_id_ok(const char *t)
{
	size_t d = strspn(t, "0123456789");
	if (!d || d > 18)
		return 0;
	if (!t[d])
		return 1;
	size_t k = t[d] == '_' ? strspn(t + d + 1, "0123456789") : 0;
	return k && k <= 9 && !t[d + 1 + k];
}

/* An array's task (handle JOBID_TASK): its array's job id, JOBID. */
static void array_job_id(cJSON *job)
{
	const char *h = jstr(job, "handle");
	if (!h || !strchr(h, '_'))
		return;
	char *jid = xstrdup(h);
	jid[strcspn(jid, "_")] = '\0';
	jset_str(job, "array_job_id", jid);
	free(jid);
}

/* The partition in a start's "partition P" line, or NULL. */
static const char *partition_word(char *p)
{
	return *p && strspn(p, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.") == strlen(p) ? p : NULL;
}

/*
 * start_many's answer: "task ID JOBID_TASK" for each run (told again, or
 * of the new array) and "partition P"; exit 0 (a new array), JOB_ALREADY
 * (none new) or sbatch's failure.  Each task's handle is JOBID_TASK, as
 * squeue -r shows it.  Where a run has no task, or sbatch failed after
 * some runs were told again, whether each was started is not all known:
 * every run stays pending (STARTED_UNKNOWN), for the next sync to adopt
 * those with a job and --resume to start the others.
 */
static int started_many(struct remote *r, struct bjob *s, cJSON *const *jobs, int n)
{
	struct many *m = (struct many *)s;
	int st = remote_job_status(s->job), told = 0, rc;
	struct sbuf *out = remote_job_out(s->job), *err = remote_job_err(s->job);
	const char **handle = xmalloc((size_t)n * sizeof *handle), *part = NULL;
	for (int i = 0; i < n; i++)
		handle[i] = NULL;
	char *save = NULL;
	for (char *l = out->s ? strtok_r(out->s, "\n", &save) : NULL; l; l = strtok_r(NULL, "\n", &save)) {
		if (!strncmp(l, "partition ", 10)) {
			part = partition_word(l + 10);
			continue;
		}
		char *id = strncmp(l, "task ", 5) ? NULL : l + 5, *t = id ? strchr(id, ' ') : NULL;
		if (!t)
			continue;
		*t++ = '\0';
		for (int i = 0; i < n && i < m->n && job_id_ok(t); i++)
			if (!handle[i] && !strcmp(id, m->ids[i])) {
				handle[i] = t;
				told++;
				break;
			}
	}
	const char *said = shell_chomp(err) ? shown(err->s) : "no message";
	int answered = st == 0 || st == JOB_ALREADY;
	if (answered && told == n)
		rc = st ? STARTED_BEFORE : 0;
	else if (st < 0)
		rc = STARTED_UNKNOWN; /* r->err says what the transport did */
	else if (st == START_UNSURE || answered || told) {
		if (st == START_UNSURE)
			snprintf(r->err, sizeof r->err, "whether an earlier job array was submitted is not known: %s", said);
		else if (answered)
			snprintf(r->err, sizeof r->err, "the host named no job for %d of the runs", n - told);
		else
			snprintf(r->err, sizeof r->err, "sbatch refused the job array (%d of its runs were started before): %s", told, said);
		rc = STARTED_UNKNOWN;
	} else {
		snprintf(r->err, sizeof r->err, "sbatch refused the job array: %s", said);
		rc = EX_SOME;
	}
	for (int i = 0; (rc == 0 || rc == STARTED_BEFORE) && i < n; i++) {
		job_fields(jobs[i], r, handle[i], s->handle, part);
		array_job_id(jobs[i]);
	}
	free(handle);
	remote_job_free(s->job);
	free(m->ids);
	free(m);
	return rc;
}

/*
 * Runs a dead submit started and could not record: "adopt ID JOBID" for
 * each id whose job script and job id (JOBID, or JOBID_TASK for an
 * array's run: see start_many) are on the host.  A run with no job id is
 * left pending: its start died before sbatch, and --resume starts it.
 */
static int adopt(struct remote *r, const cJSON *const *recs, cJSON **jobs, size_t n)
{
	struct sbuf in = {0}, out = {0}, err = {0};
	for (size_t i = 0; i < n; i++) {
		jobs[i] = NULL;
		sb_printf(&in, "%s\n", jstr(recs[i], "id"));
	}
	int st = remote_run(r, "while read -r i; do case $i in rs_*[!0-9a-f]*) continue ;; rs_*) ;; *) continue ;; esac; "
	                       "[ ${#i} -eq 35 ] && [ -f \"runs/$i.sh\" ] && [ -f \"runs/$i.jobid\" ] || continue; t=; "
	                       "read -r t <\"runs/$i.jobid\"; echo \"adopt $i ${t:--}\"; done", in.s, in.len, &out, &err);
	if (st != 0)
		snprintf(r->err, sizeof r->err, "adopt: %s", shell_chomp(&err) ? shown(err.s) : "failed");
	if (st == 0 && out.s)
		shell_read_adopt("slurm", out.s, recs, jobs, n);
	for (size_t i = 0; st == 0 && i < n; i++) {
		const char *h = jobs[i] ? jstr(jobs[i], "handle") : NULL;
		if (h && !job_id_ok(h)) {
			cJSON_Delete(jobs[i]);
			jobs[i] = NULL;
		} else if (h)
			array_job_id(jobs[i]);
	}
	sb_free(&in);
	sb_free(&out);
	sb_free(&err);
	return st == 0 ? 0 : st < 0 ? EX_UNAVAIL : EX_SOME;
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
	start_many, started_many, shell_poll, shell_cancel, shell_log, shell_fetch, NULL, shell_refuses, adopt,
	describe,
};
