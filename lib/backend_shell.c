/*
 * backend_shell.c - the shell backends: "docker", a GPU host over SSH
 * where each run is a detached container, and "local", this machine,
 * where each run is a local container or a detached process running the
 * reference engine.  Both are shell commands in a work dir holding our
 * scripts (share/cosmos/remote) and file copies, over remote.c's
 * transport; they differ in how a job runs, the runtime:
 *	docker       docker run -d
 *	sudo-docker  sudo -n docker run -d (the host's sudo = yes)
 *	process      setsid sh cosmos-job, its pid in runs/ID.pid
 * The runtime is this file's business and cosmos-ctl's: a run keeps it
 * in job.runtime, and job.handle is its container name,
 * cosmos_<model>_<id[:8]> (also for a process: cosmos-ctl checks it).
 *
 * Invariants: one round trip of cosmos-ctl status per runtime (almost
 * always one) learns the state of every run on the host, and it answers
 * in backend.h's vocabulary; every word sent is quoted with sb_quote().
 */
#define _GNU_SOURCE
#include "backend.h"
#include "backend_shell.h"
#include "finish.h"
#include "job.h"
#include "local.h"
#include "record.h"
#include "remote.h"
#include "store.h"
#include "transfer25.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

_Static_assert((int)STEP_DONE == (int)SSH_DONE && (int)STEP_MOVED == (int)SSH_MOVED && (int)STEP_BLOCKED == (int)SSH_BLOCKED,
    "remote_step answers in ssh_step's words");

static const char *const runtimes[] = {"docker", "sudo-docker", "process", "slurm", NULL};

/* --- configure and open ------------------------------------------------- */

static int configure_docker(struct host *h, char *err, size_t errlen)
{
	return host_ssh_complete(h, err, errlen) < 0 ? -1 : host_check_slots(h, err, errlen);
}

/* On this machine, without an hf_home key, the folder huggingface_hub
 * itself would take: $HF_HOME, else $XDG_CACHE_HOME/huggingface (else
 * host_defaults': ~/.cache/huggingface). */
static void default_hf_home(struct host *h)
{
	const char *home = getenv("HF_HOME"), *xdg = getenv("XDG_CACHE_HOME");
	if (h->hf_cache)
		return;
	if (home && *home)
		h->hf_cache = xstrdup(home);
	else if (xdg && *xdg == '/')
		h->hf_cache = xasprintf("%s/huggingface", xdg);
}

/*
 * This machine: the work dir is $COSMOS_DIR/local unless the section (or
 * COSMOS_LOCAL_WORKDIR, for the real model: a cosmos-transfer1 checkout)
 * says otherwise.
 */
static int configure_local(struct host *h, char *err, size_t errlen)
{
	if (store_open(1) < 0) {
		snprintf(err, errlen, "%s: %s", store_root(), strerror(errno));
		return -1;
	}
	const char *wd = getenv("COSMOS_LOCAL_WORKDIR"), *img = getenv("COSMOS_LOCAL_IMAGE");
	if (!h->workdir)
		h->workdir = wd && *wd ? xstrdup(wd) : xasprintf("%s/local", store_root());
	if (!h->image && img && *img)
		h->image = xstrdup(img);
	default_hf_home(h);
	host_defaults(h);
	free(h->address);
	h->address = xstrdup("localhost");
	if (!h->user)
		h->user = xstrdup("");
	if (mkdir(h->workdir, 0755) < 0 && errno != EEXIST) {
		snprintf(err, errlen, "%s: %s", h->workdir, strerror(errno));
		return -1;
	}
	return host_check_slots(h, err, errlen);
}

static int open_docker(struct remote *r)
{
	r->runtime = r->host.sudo ? "sudo-docker" : "docker";
	r->slots = 1;
	if (r->host.engine) /* else the image's own (cosmos-job's default) */
		r->engine = xstrdup(r->host.engine);
	int rc = remote_connect(r);
	return rc ? rc : remote_install(r);
}

/*
 * The runtime is docker where docker runs and sees a GPU, else detached
 * processes running the reference engine (COSMOS_LOCAL_RUNTIME and
 * COSMOS_LOCAL_ENGINE override both).
 */
static int open_local(struct remote *r)
{
	const char *e = getenv("COSMOS_LOCAL_RUNTIME");
	if (e && *e && strcmp(e, "docker") && strcmp(e, "process")) {
		snprintf(r->err, sizeof r->err, "COSMOS_LOCAL_RUNTIME: '%s' is not docker or process", shown(e));
		return EX_SOME;
	}
	if (!e || !*e)
		e = local_exec("docker info >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1", NULL, 0, NULL, NULL) == 0
		    ? "docker" : "process";
	r->runtime = !strcmp(e, "docker") ? "docker" : "process";
	const char *eng = getenv("COSMOS_LOCAL_ENGINE");
	r->engine = xstrdup(eng && *eng ? eng : r->host.engine ? r->host.engine : !strcmp(r->runtime, "docker") ? "cosmos" : "reference");
	r->slots = 1;
	return remote_install(r);
}

/* --- stage and start ---------------------------------------------------- */

/* An earlier run's output, still on this host: nothing to upload. */
static char *same_host_output(struct remote *r, const char *local, const char *src)
{
	cJSON *s = src && id_kind(src) == ID_RUN ? store_load(src) : NULL;
	char *rel = NULL;
	if (s && jstr(s, "host") && !strcmp(jstr(s, "host"), r->host.name) &&
	    jstr(jobj(s, "outputs"), "video") && !strcmp(jstr(jobj(s, "outputs"), "video"), local)) {
		char *cand = xasprintf("outputs/run_%s/output.mp4", src);
		if (remote_exists(r, cand))
			rel = cand;
		else
			free(cand);
	}
	cJSON_Delete(s);
	return rel;
}

char *shell_stage(struct remote *r, const char *local, const char *source_run)
{
	char *rel = same_host_output(r, local, source_run);
	return rel ? rel : remote_stage(r, local);
}

void shell_job_file(struct sbuf *b, const char *id, const char *again, const char *end)
{
	/* A job file on the host means this run was started once already. */
	sb_puts(b, "[ ! -e runs/");
	sb_quote(b, id);
	sb_puts(b, ".sh ] || { ");
	sb_puts(b, again ? again : "");
	sb_puts(b, "echo 'cosmos: this run was started before' >&2; exit " JOB_ALREADY_S "; } && ");
	/* Written whole or not at all: a part (a full disk, or a submit
	 * killed while sending it) would pass for a job, or run cut short.
	 * Whole means up to the end line job_script() writes last. */
	sb_puts(b, "{ e=; while IFS= read -r l; do [ \"$l\" = ");
	sb_quote(b, end);
	sb_puts(b, " ] && { e=1; break; }; printf '%s\\n' \"$l\" || break; done >runs/");
	sb_quote(b, id);
	sb_puts(b, ".sh.new && [ -n \"$e\" ] && mv -f runs/");
	sb_quote(b, id);
	sb_puts(b, ".sh.new runs/");
	sb_quote(b, id);
	sb_puts(b, ".sh; } 2>/dev/null || { rm -f runs/");
	sb_quote(b, id);
	sb_puts(b, ".sh.new; echo 'cosmos: cannot write the job file in the work dir (is the disk full?)' >&2; exit "
	           JOB_UNWRITTEN_S "; }; ");
}

/* GPUs a request's run takes: its num_gpus, else the host's gpus_per_run. */
static int gpus_wanted(const struct remote *r, const cJSON *ec)
{
	double n = jnum(ec, "num_gpus", 0);
	return n >= 1 ? (int)n : r->host.gpus_per_run;
}

/*
 * The Hugging Face token file, checked on the host where the run starts,
 * before its job file is written: a regular file the host's user can
 * read and no one else can (no group or other bits; with an ACL, ls -lL
 * shows its mask there, so none of its entries grants anything either).
 * ls reads the mode, never the file.  Otherwise the start prints
 * "cosmos-hf-token WHY" on stderr and exits JOB_NO_TOKEN, and nothing is
 * started.  A run started before (its job file there) is left to
 * shell_job_file.  The token itself is never read, here or anywhere.
 */
#define JOB_NO_TOKEN 97
#define JOB_NO_TOKEN_S "97"
_Static_assert(JOB_NO_TOKEN == 97, "JOB_NO_TOKEN_S spells JOB_NO_TOKEN");
#define TOKEN_MARK "cosmos-hf-token "

static void check_token_file(struct sbuf *b, const struct host *h, const char *id)
{
	sb_puts(b, "[ -e runs/");
	sb_quote(b, id);
	sb_puts(b, ".sh ] || { t=");
	sb_quote_home(b, h->hf_token_file);
	sb_puts(b, "; w=; if [ ! -e \"$t\" ]; then w=missing; elif [ ! -f \"$t\" ]; then w=notfile; "
	           "elif [ ! -r \"$t\" ]; then w=unreadable; "
	           "else case $(ls -lLd -- \"$t\" 2>/dev/null) in -r[w-][x-]------*) ;; *) w=open ;; esac; fi; "
	           "[ -z \"$w\" ] || { echo \"" TOKEN_MARK "$w\" >&2; exit " JOB_NO_TOKEN_S "; }; }; ");
}

/* What a start's "cosmos-hf-token WHY" line in err says, for a person;
 * NULL when it has none. */
static const char *token_trouble(const struct sbuf *err)
{
	static const char *const words[][2] = {
		{"missing", "no such file on the host"},
		{"notfile", "not a regular file"},
		{"unreadable", "the host's user cannot read it"},
		{"open", "others may read or write it: chmod 600 it"},
	};
	const char *w = err->s ? strstr(err->s, TOKEN_MARK) : NULL;
	if (!w)
		return NULL;
	w += strlen(TOKEN_MARK);
	size_t n = strcspn(w, "\n");
	for (size_t i = 0; i < sizeof words / sizeof *words; i++)
		if (strlen(words[i][0]) == n && !strncmp(w, words[i][0], n))
			return words[i][1];
	return NULL;
}

/*
 * The Hugging Face folder and token for a process: HF_HOME, and
 * HF_TOKEN_PATH naming the host's file (where HF_TOKEN, which would win
 * over it, is not passed on), as assignments before the exec.
 */
static void process_hf_env(struct sbuf *b, const struct host *h)
{
	if (h->hf_token_file)
		sb_puts(b, "unset HF_TOKEN HUGGING_FACE_HUB_TOKEN; ");
	sb_puts(b, "HF_HOME=");
	sb_quote_home(b, h->hf_cache);
	sb_puts(b, " ");
	if (h->hf_token_file) {
		sb_puts(b, "HF_TOKEN_PATH=");
		sb_quote_home(b, h->hf_token_file);
		sb_puts(b, " ");
	}
}

/*
 * The same for a container: the folder mounted where HF_HOME says, the
 * token file mounted read-only at /run/secrets/hf_token, which
 * HF_TOKEN_PATH names.  Only paths are in docker's arguments.
 */
static void container_hf_env(struct sbuf *b, const struct host *h)
{
	sb_puts(b, " -v ");
	sb_quote_home(b, h->hf_cache);
	sb_puts(b, ":/root/.cache/huggingface -e HF_HOME=/root/.cache/huggingface");
	if (h->hf_token_file) {
		sb_puts(b, " -v ");
		sb_quote_home(b, h->hf_token_file);
		sb_puts(b, ":/run/secrets/hf_token:ro -e HF_TOKEN_PATH=/run/secrets/hf_token");
	}
}

/*
 * The start, as one shell command after "cd WORKDIR && ": copy job.sh from
 * stdin with shell builtins, then become cosmos-slot, which joins the
 * host's line for GPUs (slots) and starts the run once they are free:
 * docker run -d with the run's own --gpus, or, for the process runtime,
 * cosmos-job in a session of its own.  It prints "slot PID GPUS" (GPUS
 * "-" while the run waits).  Exits JOB_ALREADY if runs/ID.sh exists,
 * JOB_NO_TOKEN (before writing it) if the host's hf_token_file will not
 * do.  The job gets HF_HOME and HF_TOKEN_PATH, paths only.
 */
static char *start_command(const struct remote *r, const char *id, const char *container, const cJSON *ec,
    const char *end)
{
	const struct host *h = &r->host;
	struct sbuf b = {0};
	char need[16], nslots[16];
	snprintf(need, sizeof need, "%d", r->gpu_list ? gpus_wanted(r, ec) : 1);
	snprintf(nslots, sizeof nslots, "%d", r->nslots);
	if (h->hf_token_file)
		check_token_file(&b, h, id);
	shell_job_file(&b, id, NULL, end);
	if (!strcmp(r->runtime, "process")) {
		process_hf_env(&b, h);
		sb_puts(&b, "COSMOS_ENGINE=");
		sb_quote(&b, r->engine);
		sb_puts(&b, " ");
	}
	sb_puts(&b, "exec sh bashscripts/cosmos-slot start");
	const char *words[] = {r->runtime, id, container, need, r->gpu_list ? r->gpu_list : "-", nslots};
	for (size_t i = 0; i < sizeof words / sizeof *words; i++) {
		sb_puts(&b, " ");
		sb_quote(&b, words[i]);
	}
	if (!strcmp(r->runtime, "process"))
		return b.s;
	/* What follows "docker run -d --rm --name NAME [--gpus ...]".
	 * docker_options is split on blanks: each word is passed on quoted. */
	char *opts = xstrdup(h->docker_options), *save = NULL;
	for (char *t = strtok_r(opts, " \t", &save); t; t = strtok_r(NULL, " \t", &save)) {
		sb_puts(&b, " ");
		sb_quote(&b, t);
	}
	free(opts);
	if (r->engine) {
		char *e = xasprintf("COSMOS_ENGINE=%s", r->engine);
		sb_puts(&b, " -e ");
		sb_quote(&b, e);
		free(e);
	}
	sb_puts(&b, " -v \"$PWD:/workspace\" -w /workspace");
	container_hf_env(&b, h);
	sb_puts(&b, " ");
	sb_quote(&b, h->image);
	sb_puts(&b, " sh bashscripts/cosmos-job ");
	sb_quote(&b, id);
	return b.s;
}

static struct bjob *start(struct remote *r, const char *id, const char *model, const cJSON *job, const cJSON *ec)
{
	struct bjob *s = xmalloc(sizeof *s);
	snprintf(s->handle, sizeof s->handle, "cosmos_%s_%.8s", model, id);
	char end[JOB_END_LEN];
	job_end_line(end);
	char *text = job_script(model, job, ec, end), *cmd = start_command(r, id, s->handle, ec, end);
	s->job = remote_start_streamed(r, cmd, text, strlen(text));
	free(text);
	free(cmd);
	if (!s->job) {
		free(s);
		return NULL;
	}
	return s;
}

int shell_step(struct remote *r, struct bjob *j)
{
	return remote_step(r, j->job);
}

int shell_wait(struct remote *r)
{
	return remote_wait(r);
}

const char *shell_chomp(struct sbuf *b)
{
	while (b->len && (b->s[b->len - 1] == '\n' || b->s[b->len - 1] == ' '))
		b->s[--b->len] = '\0';
	return b->len ? b->s : NULL;
}

static int started(struct remote *r, struct bjob *s, cJSON *job)
{
	int st = remote_job_status(s->job), rc = 0;
	struct sbuf *out = remote_job_out(s->job), *err = remote_job_err(s->job);
	if (st == JOB_ALREADY) {
		/* By an earlier, interrupted submit: not again.  The handle is
		 * the same as then. */
		jset_str(job, "handle", s->handle);
		jset_str(job, "runtime", r->runtime);
		rc = STARTED_BEFORE;
	} else if (st < 0)
		rc = STARTED_UNKNOWN; /* r->err says why */
	else if (st == JOB_UNWRITTEN) {
		snprintf(r->err, sizeof r->err, "%s: cannot write the job file in %s (is its disk full?)", r->host.name,
		    r->host.workdir);
		rc = EX_UNAVAIL;
	} else if (st == JOB_NO_TOKEN && token_trouble(err)) {
		/* Refused as http.c refuses a key file: nothing was started. */
		snprintf(r->err, sizeof r->err, "host '%s': hf_token_file %s: %s", shown(r->host.name),
		    shown(r->host.hf_token_file), token_trouble(err));
		snprintf(r->why_code, sizeof r->why_code, "auth");
		rc = EX_UNAVAIL;
	} else if (st != 0) {
		snprintf(r->err, sizeof r->err, "container did not start: %s",
		    shell_chomp(err) ? shown(err->s) : "no message");
		rc = EX_SOME;
	} else {
		jset_str(job, "handle", s->handle);
		jset_str(job, "runtime", r->runtime);
		/* "slot PID GPUS": the waiter, and the GPUs if it has them. */
		char gpus[256] = "";
		long pid;
		const char *l = out->s ? strstr(out->s, "slot ") : NULL;
		if (l && sscanf(l, "slot %ld %255s", &pid, gpus) == 2) {
			if (!strcmp(r->runtime, "process"))
				jset_num(job, "pid", (double)pid);
			if (r->gpu_list && strcmp(gpus, "-"))
				jset(job, "gpus", shell_gpu_list(gpus));
		}
	}
	remote_job_free(s->job);
	free(s);
	return rc;
}

/* --- poll, cancel, log, fetch ------------------------------------------- */

/*
 * The runtime to ask about a run: a process stays a process, whatever the
 * local backend would pick today; a container is asked about the way the
 * host is configured now (sudo or not).
 */
static const char *runtime_of(const cJSON *rec, const struct remote *r)
{
	const char *rt = jstr(jget(rec, "job"), "runtime");
	if (rt && !strcmp(rt, "process"))
		return "process";
	if (rt && !strcmp(r->runtime, "process"))
		return "docker"; /* a local container, while detection now says process */
	return r->runtime;
}

static int ctl(struct remote *r, const char *words, const char *in, size_t inlen, struct sbuf *out, struct sbuf *err)
{
	char *tail = xasprintf("exec sh bashscripts/cosmos-ctl %s", words);
	int st = remote_run(r, tail, in, inlen, out, err);
	free(tail);
	return st;
}

static enum run_state state_word(const char *w)
{
	static const char *const words[] = {"queued", "running", "ended", "gone"};
	for (int i = 0; i < 4; i++)
		if (!strcmp(w, words[i]))
			return (enum run_state)i;
	return RUN_UNKNOWN;
}

/* cosmos-ctl status's answer; see backend_shell.h. */
void shell_read_status(const char *host, char *text, struct poll_item *v, size_t n)
{
	char *save = NULL;
	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char id[ID_LEN + 1] = "", a[32] = "", b[32] = "", rc[32] = "";
		int off = 0;
		size_t i;
		char g[sizeof v->gpus] = "";
		int run = sscanf(line, "run %35s %31s %31s %31s %n", id, a, b, rc, &off) >= 4;
		int gpus = !run && sscanf(line, "gpus %35s %255s", id, g) == 2;
		/* "file ID SIZE NAME": NAME is all after one blank, as it is
		 * (it may begin with a blank). */
		if (!run && !gpus && (sscanf(line, "file %35s %31s%n", id, a, &off) != 2 || line[off] != ' ' || !line[off + 1]))
			continue;
		if (!run && !gpus)
			off++;
		for (i = 0; i < n && strcmp(jstr(v[i].rec, "id"), id); i++)
			;
		if (i == n) {
			warnx_("%s: answered for a run it was not asked about", host);
			continue;
		}
		struct poll_item *p = &v[i];
		if (gpus) {
			if (!host_gpu_list_ok(g))
				warnx_("%s: %s: refusing GPU list '%s'", host, id, shown(g));
			else
				snprintf(p->gpus, sizeof p->gpus, "%s", g);
		} else if (run) {
			long code;
			p->answered = 1;
			p->state = state_word(a);
			p->code = strlen(b) <= 3 && parse_long(b, &code) == 0 && code >= 0 && code < 256 ? (int)code : -1;
			snprintf(p->reason, sizeof p->reason, "%s", off ? line + off : "");
			snprintf(p->reason_code, sizeof p->reason_code, "%s", strcmp(rc, "-") ? rc : "");
			if (p->state == RUN_UNKNOWN)
				snprintf(p->reason, sizeof p->reason, "the host said '%s', a state cosmos does not know", shown(a));
		} else if (!finish_safe_name(line + off)) {
			warnx_("%s: %s: refusing output file name '%s'", host, id, shown(line + off));
		} else if (strspn(a, "0123456789") != strlen(a) || strlen(a) > 15) {
			/* Bytes, as decimal digits, exact in a double (up to 1 PB). */
			warnx_("%s: %s: refusing the size '%s' of '%s'", host, id, shown(a), shown(line + off));
		} else {
			cJSON *f = cJSON_CreateObject();
			jset_str(f, "name", line + off);
			jset_num(f, "size", strtod(a, NULL));
			if (!p->files)
				p->files = cJSON_CreateArray();
			cJSON_AddItemToArray(p->files, f);
		}
	}
}

/* The outputs of every run that ended, streamed ahead of the fetches a
 * sync makes next, in the order it makes them (remote_prefetch). */
static void prefetch_outputs(struct remote *r, const struct poll_item *v, size_t n)
{
	size_t k = 0, cap = 0;
	char **rels = NULL;
	uint64_t *sizes = NULL;
	for (size_t i = 0; i < n; i++) {
		const cJSON *f;
		if (!v[i].answered || v[i].state != RUN_ENDED)
			continue;
		cJSON_ArrayForEach(f, v[i].files) {
			if (k == cap) {
				cap = cap ? 2 * cap : 16;
				rels = xrealloc(rels, cap * sizeof *rels);
				sizes = xrealloc(sizes, cap * sizeof *sizes);
			}
			rels[k] = xasprintf("outputs/run_%s/%s", jstr(v[i].rec, "id"), jstr(f, "name"));
			sizes[k++] = (uint64_t)jnum(f, "size", 0);
		}
	}
	remote_prefetch(r, (const char *const *)rels, sizes, k);
	for (size_t i = 0; i < k; i++)
		free(rels[i]);
	free(rels);
	free(sizes);
}

int shell_poll(struct remote *r, struct poll_item *v, size_t n)
{
	int rc = 0;
	for (int k = 0; runtimes[k]; k++) {
		struct sbuf in = {0}, out = {0}, err = {0};
		for (size_t i = 0; i < n; i++)
			if (!strcmp(runtime_of(v[i].rec, r), runtimes[k]))
				sb_printf(&in, "%s %s\n", jstr(v[i].rec, "id"), job_handle(v[i].rec));
		if (in.len) {
			char *words = xasprintf("status %s", runtimes[k]);
			int st = ctl(r, words, in.s, in.len, &out, &err);
			free(words);
			if (st != 0) {
				if (st > 0)
					snprintf(r->err, sizeof r->err, "status: %s", shell_chomp(&err) ? shown(err.s) : "failed");
				/* 4: the scheduler or daemon did not answer. */
				rc = exit_worst(rc, st < 0 || st == 4 ? EX_UNAVAIL : EX_SOME);
			} else if (out.s)
				shell_read_status(r->host.name, out.s, v, n);
		}
		sb_free(&in);
		sb_free(&out);
		sb_free(&err);
	}
	prefetch_outputs(r, v, n);
	return rc;
}

/* cosmos-ctl VERB RUNTIME ID HANDLE [follow], each word quoted. */
static int one(struct remote *r, const char *verb, const cJSON *rec, int follow, struct sbuf *out)
{
	struct sbuf words = {0}, err = {0};
	sb_puts(&words, verb); /* a literal of ours: cancel or log */
	const char *args[] = {runtime_of(rec, r), jstr(rec, "id"), job_handle(rec)};
	for (int i = 0; i < 3; i++) {
		sb_puts(&words, " ");
		sb_quote(&words, args[i] ? args[i] : "");
	}
	if (follow)
		sb_puts(&words, " follow");
	int st = ctl(r, words.s, NULL, 0, out, &err);
	if (st > 0)
		snprintf(r->err, sizeof r->err, "%s", shell_chomp(&err) ? shown(err.s) : "failed");
	sb_free(&words);
	sb_free(&err);
	return st == 0 ? 0 : st < 0 ? EX_UNAVAIL : EX_SOME;
}

int shell_cancel(struct remote *r, const cJSON *rec)
{
	struct sbuf out = {0};
	int rc = one(r, "cancel", rec, 0, &out);
	sb_free(&out);
	return rc == EX_SOME ? EX_UNAVAIL : rc; /* the job may still run */
}

int shell_log(struct remote *r, const cJSON *rec, int follow)
{
	return one(r, "log", rec, follow, NULL);
}

int shell_fetch(struct remote *r, const cJSON *rec, const char *name, const char *local, uint64_t size)
{
	char *rel = xasprintf("outputs/run_%s/%s", jstr(rec, "id"), name);
	int rc = remote_fetch(r, rel, local, size);
	free(rel);
	return rc < 0 ? EX_TEMP : 0;
}

/* cosmos-ctl adopt's answer; see backend_shell.h. */
void shell_read_adopt(const char *runtime, char *text, const cJSON *const *recs, cJSON **jobs, size_t n)
{
	char *save = NULL;
	for (char *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		char id[ID_LEN + 1], jid[32];
		if (sscanf(l, "adopt %35s %31s", id, jid) != 2)
			continue;
		for (size_t i = 0; i < n; i++) {
			if (jobs[i] || strcmp(jstr(recs[i], "id"), id))
				continue;
			int slurm = !strcmp(runtime, "slurm");
			if (slurm && !strcmp(jid, "-"))
				break;
			char *h = slurm ? xstrdup(jid) : xasprintf("cosmos_%s_%.8s", jstr(recs[i], "model_type"), id);
			jobs[i] = cJSON_CreateObject();
			jset_str(jobs[i], "handle", h);
			jset_str(jobs[i], "runtime", runtime);
			free(h);
		}
	}
}

/*
 * Pending runs whose job file is on the host were started by a submit
 * that died before recording them: their handle is the container name
 * (docker, process) or the job id the host kept (slurm; a job array's
 * task is left to cosmos-batch --resume, which finds its array).
 */
int shell_adopt(struct remote *r, const cJSON *const *recs, cJSON **jobs, size_t n)
{
	struct sbuf in = {0}, out = {0}, err = {0};
	for (size_t i = 0; i < n; i++) {
		jobs[i] = NULL;
		sb_printf(&in, "%s\n", jstr(recs[i], "id"));
	}
	int st = ctl(r, "adopt", in.s, in.len, &out, &err);
	if (st != 0)
		snprintf(r->err, sizeof r->err, "adopt: %s", shell_chomp(&err) ? shown(err.s) : "failed");
	if (st == 0 && out.s)
		shell_read_adopt(r->runtime, out.s, recs, jobs, n);
	sb_free(&in);
	sb_free(&out);
	sb_free(&err);
	return st == 0 ? 0 : st < 0 ? EX_UNAVAIL : EX_SOME;
}

/* --- describe (cosmos hosts) ------------------------------------------- */

#define HOSTS_MAX 100000 /* entries of each kind kept from one answer */

/* s if it is 1 to max bytes, each printable ASCII and, where only is
 * given, one of only; else NULL. */
static const char *field_ok(const char *s, size_t max, const char *only)
{
	size_t n = strlen(s);
	if (!n || n > max)
		return NULL;
	for (const char *c = s; *c; c++)
		if (*c < 0x20 || *c > 0x7e || (only && !strchr(only, *c)))
			return NULL;
	return s;
}

#define WORD_CHARS "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

/* A whole number from lo to hi, or NULL (nvidia-smi's "[N/A]"). */
static cJSON *number_or_null(const char *s, long lo, long hi)
{
	long v;
	return parse_long(s, &v) == 0 && v >= lo && v <= hi ? cJSON_CreateNumber((double)v) : cJSON_CreateNull();
}

static cJSON *string_or_null(const char *s)
{
	return s ? cJSON_CreateString(s) : cJSON_CreateNull();
}

/* Append item to out's array key, made when absent; at most HOSTS_MAX. */
static void append(cJSON *out, const char *key, cJSON *item)
{
	cJSON *a = cJSON_GetObjectItemCaseSensitive(out, key);
	if (!cJSON_IsArray(a) || cJSON_GetArraySize(a) >= HOSTS_MAX) {
		cJSON_Delete(item);
		return;
	}
	cJSON_AddItemToArray(a, item);
}

/* l cut at sep into at most max fields f (the last keeps the rest); how many. */
static int split_fields(char *l, const char *sep, char **f, int max)
{
	int n = 0;
	f[n++] = l;
	for (char *c; n < max && (c = strstr(f[n - 1], sep)); n++) {
		*c = '\0';
		f[n] = c + strlen(sep);
	}
	return n;
}

/* "INDEX, UUID, USED, TOTAL, UTIL, NAME" (nvidia-smi's CSV, the name
 * last as it may hold ", "). */
static cJSON *read_gpu(char *l)
{
	char *f[6];
	int n = split_fields(l, ", ", f, 6);
	long idx;
	if (n < 6 || parse_long(f[0], &idx) < 0 || idx < 0 || idx > 1023)
		return NULL;
	char *name = f[5];
	name[strcspn(name, "\r")] = '\0';
	if (strlen(name) > 96)
		name[96] = '\0';
	cJSON *g = cJSON_CreateObject();
	jset_num(g, "index", (double)idx);
	jset(g, "uuid", string_or_null(field_ok(f[1], 96, WORD_CHARS "-_:/")));
	jset(g, "name", string_or_null(field_ok(name, 96, NULL)));
	jset(g, "memory_used_mib", number_or_null(f[2], 0, 1L << 30));
	jset(g, "memory_total_mib", number_or_null(f[3], 0, 1L << 30));
	jset(g, "utilization", number_or_null(f[4], 0, 100));
	jset(g, "run", cJSON_CreateNull());
	return g;
}

/* SINCE (seconds since the epoch) as RFC 3339 UTC, or NULL. */
static cJSON *since_of(const char *s)
{
	long v;
	struct tm tm;
	char buf[32];
	time_t t;
	if (parse_long(s, &v) < 0 || v < 0 || v > 253402300799L) /* up to 9999 */
		return cJSON_CreateNull();
	t = (time_t)v;
	if (!gmtime_r(&t, &tm) || !strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm))
		return cJSON_CreateNull();
	return cJSON_CreateString(buf);
}

/* "NAME|PARTITION|STATE|GRES", sinfo's. */
static cJSON *read_node(char *l)
{
	char *f[4];
	int n = split_fields(l, "|", f, 4);
	if (n < 4 || !field_ok(f[0], 128, WORD_CHARS "-_.[],"))
		return NULL;
	static const char *const keys[] = {"node", "partition", "state", "gres"};
	cJSON *o = cJSON_CreateObject();
	for (int i = 0; i < 4; i++)
		jset(o, keys[i], string_or_null(field_ok(f[i], 256, NULL)));
	return o;
}

/* cosmos-ctl hosts's answer; see backend_shell.h. */
void shell_read_hosts(char *text, cJSON *out)
{
	static const char *const keys[] = {"gpus", "holding", "waiting", "nodes"};
	for (int i = 0; i < 4; i++)
		if (!cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(out, keys[i])))
			jset(out, keys[i], cJSON_CreateArray());
	char *save = NULL;
	for (char *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		char a[128], b[64], c[16], d[32];
		int end = 0;
		cJSON *o;
		if (!strncmp(l, "gpu ", 4)) {
			if ((o = read_gpu(l + 4)))
				append(out, "gpus", o);
		} else if (!strncmp(l, "node ", 5)) {
			if ((o = read_node(l + 5)))
				append(out, "nodes", o);
		} else if (sscanf(l, "hold %127s %63s %n", a, b, &end) == 2 && !l[end] &&
		           field_ok(a, 96, WORD_CHARS "-_:") && id_kind(b) == ID_RUN) {
			o = cJSON_CreateObject();
			jset_str(o, "slot", a);
			jset_str(o, "run", b);
			append(out, "holding", o);
		} else if (sscanf(l, "wait %63s %15s %15s %31s %n", b, c, a, d, &end) == 4 && !l[end] &&
		           id_kind(b) == ID_RUN && (!strcmp(a, "gpu") || !strcmp(a, "slot"))) {
			long need;
			if (parse_long(c, &need) < 0 || need < 1 || need > 1024)
				continue;
			o = cJSON_CreateObject();
			jset_str(o, "run", b);
			jset_num(o, strcmp(a, "gpu") ? "slots" : "gpus", (double)need);
			jset(o, "since", since_of(d));
			append(out, "waiting", o);
		}
	}
}

/* cosmos-ctl hosts RUNTIME [ARG] in one round trip, its answer into out;
 * 0 or an exit code class with r->err. */
int shell_hosts(struct remote *r, const char *arg, cJSON *out)
{
	struct sbuf words = {0}, o = {0}, err = {0};
	sb_puts(&words, "hosts ");
	sb_quote(&words, r->runtime);
	if (arg) {
		sb_puts(&words, " ");
		sb_quote(&words, arg);
	}
	int st = ctl(r, words.s, NULL, 0, &o, &err);
	if (st > 0)
		snprintf(r->err, sizeof r->err, "hosts: %s", shell_chomp(&err) ? shown(err.s) : "failed");
	char none[1] = "";
	if (st == 0)
		shell_read_hosts(o.s ? o.s : none, out);
	sb_free(&words);
	sb_free(&o);
	sb_free(&err);
	return st == 0 ? 0 : st < 0 || st == 4 ? EX_UNAVAIL : EX_SOME;
}

/* The claim of holding naming GPU g (by index or UUID), taken out of it;
 * its run, or NULL. */
static char *claim_of(cJSON *holding, const cJSON *g)
{
	char idx[16];
	snprintf(idx, sizeof idx, "%d", (int)jnum(g, "index", -1));
	const char *uuid = jstr(g, "uuid");
	for (cJSON *c = holding ? holding->child : NULL; c; c = c->next) {
		const char *slot = jstr(c, "slot");
		if (slot && (!strcmp(slot, idx) || (uuid && !strcmp(slot, uuid)))) {
			char *run = xstrdup(jstr(c, "run"));
			cJSON_Delete(cJSON_DetachItemViaPointer(holding, c));
			return run;
		}
	}
	return NULL;
}

/*
 * Each GPU with the run holding it; a host without GPUs, its slots and
 * who holds them (claims no GPU shown names are kept in "holding" too);
 * the line.  The GPUs are what nvidia-smi shows: all of the host's, also
 * those its gpus key leaves out.
 */
static int describe(struct remote *r, cJSON *out)
{
	jset(out, "reachable", cJSON_CreateTrue());
	int rc = shell_hosts(r, NULL, out);
	cJSON_DeleteItemFromObjectCaseSensitive(out, "nodes");
	if (rc)
		return rc; /* nothing was read */
	cJSON *holding = cJSON_GetObjectItemCaseSensitive(out, "holding"), *g;
	cJSON_ArrayForEach(g, cJSON_GetObjectItemCaseSensitive(out, "gpus")) {
		char *run = claim_of(holding, g);
		if (run)
			jset_str(g, "run", run);
		free(run);
	}
	if (!r->gpu_list)
		jset_num(out, "slots", r->nslots);
	else if (!cJSON_GetArraySize(holding))
		cJSON_DeleteItemFromObjectCaseSensitive(out, "holding");
	return 0;
}

/* "0,1" as ["0","1"]. */
cJSON *shell_gpu_list(const char *list)
{
	cJSON *a = cJSON_CreateArray();
	char *copy = xstrdup(list), *save = NULL;
	for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save))
		cJSON_AddItemToArray(a, cJSON_CreateString(t));
	free(copy);
	return a;
}

/*
 * The model code these kinds run (cosmos-transfer1) has no text to video,
 * and Cosmos-Transfer2.5 takes transfers alone (lib/transfer25.c);
 * a run cannot want more GPUs than the host has (none: any explicit
 * num_gpus is more).
 */
const char *shell_refuses(struct remote *r, const cJSON *req)
{
	static char why[200];
	const cJSON *ec = cJSON_GetObjectItemCaseSensitive(req, "execution_config");
	const cJSON *n = cJSON_GetObjectItemCaseSensitive(ec, "num_gpus");
	if (r->slots && (n || r->gpu_list) && gpus_wanted(r, ec) > r->ngpus) {
		int want = gpus_wanted(r, ec);
		snprintf(why, sizeof why, "wants %d GPU%s%s; host %s has %d", want, want == 1 ? "" : "s",
		    n ? "" : " (its gpus_per_run)", r->host.name, r->ngpus);
		return why;
	}
	if (t25_is_engine(r->host.engine ? r->host.engine : r->engine))
		return t25_refuses(req);
	if (strcmp(jstr(req, "model_type"), "generate"))
		return NULL;
	snprintf(why, sizeof why, "the %s backend runs cosmos-transfer1, which does not generate from text: "
	    "generate on a hosted model (backend = http)", r->ops->name);
	return why;
}

const struct backend backend_docker = {
	"docker", configure_docker, open_docker, shell_stage, start, shell_step, shell_wait, started,
	NULL, NULL, shell_poll, shell_cancel, shell_log, shell_fetch, NULL, shell_refuses, shell_adopt, describe,
};

const struct backend backend_local = {
	"local", configure_local, open_local, shell_stage, start, shell_step, shell_wait, started,
	NULL, NULL, shell_poll, shell_cancel, shell_log, shell_fetch, NULL, shell_refuses, shell_adopt, describe,
};
