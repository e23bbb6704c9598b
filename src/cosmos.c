/*
 * cosmos - the front door.
 *
 *	cosmos CMD [ARG ...]            runs cosmos-CMD (as git does)
 *	cosmos create prompt TEXT DIR   cosmos-spec prompt
 *	cosmos inference PROMPT_ID      cosmos-spec transfer | cosmos-submit
 *	cosmos inference P1 P2 ...      cosmos-spec transfer | cosmos-batch --packed
 *	cosmos upscale SOURCE [--wait]  cosmos-spec upscale | cosmos-submit
 *	cosmos generate PROMPT ... [--wait]  cosmos-spec generate | cosmos-submit
 *	cosmos enhance-batch PROMPT_ID ...   cosmos-spec enhance | cosmos-batch --packed
 *	cosmos prepare [--prompt TEXT] FRAMES_DIR   cosmos-prepare (frames to a prompt's videos)
 *	cosmos gallery [--out DIR] [filters]   cosmos-manifest | cosmos-gallery
 *	cosmos status | list | show ID | logs [-f] RUN | kill RUN ...
 *	cosmos retry [--any] [--max-attempts N] RUN ...
 *	                                cosmos-submit --retry; a batch:
 *	                                cosmos-batch --retry-failed
 *	cosmos hosts [NAME ...]         each host's describe (backend.h)
 *	cosmos search TEXT ...          cosmos-manifest --grep, runs then prompts
 *	cosmos delete [--outputs] [--dry-run] ID ...   hk_delete (housekeep.h)
 *	cosmos verify [--fix]           hk_verify (housekeep.h)
 *
 * Invariants:
 *  - It only composes the small programs (found beside it, else on PATH);
 *    every record it shows was printed by one of them, and their exit
 *    status is its own.  The exceptions have no program of their own:
 *    hosts, which keeps no record, opens each host itself (remote_get),
 *    one at a time, and asks it once; delete and verify call
 *    lib/housekeep.c, which keeps the store's rules, and decide their
 *    exit status here.
 *  - On a terminal it draws tables (colour unless NO_COLOR is set) and
 *    progress on stderr; with --json, or when stdout is not a terminal,
 *    it prints the programs' JSON lines unchanged.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "batch.h"
#include "host.h"
#include "housekeep.h"
#include "input.h"
#include "record.h"
#include "remote.h"
#include "store.h"
#include "shell.h"
#include "util.h"

static int json, color;

static _Noreturn void usage(int code)
{
	fprintf(code ? stderr : stdout,
	    "usage: cosmos [--json] COMMAND [ARG ...]\n"
	    "\n"
	    "  prepare [--name N] [--fps F] [--out DIR] [--prompt TEXT [--negative T]] [--dry-run]\n"
	    "      FRAMES_DIR              frame sequences into a prompt's videos\n"
	    "  create prompt [--name N] [--negative T] TEXT DIR   store a prompt\n"
	    "  inference PROMPT_ID ... [--weights vis=W,...] [--gpus N] [--fan-out] [--wait]\n"
	    "                              Cosmos Transfer; several prompts: one packed batch\n"
	    "  upscale (--from-run RUN_ID | --video FILE) [--weight W] [--steps N] [--prompt T]\n"
	    "      [--model M] [--param K=V] [--gpus N] [--wait]\n"
	    "  generate PROMPT ... [--model M] [--resolution R] [--aspect A] [--duration S]\n"
	    "      [--negative T] [--param K=V] [--wait]   text to video on a hosted model\n"
	    "  enhance-batch PROMPT_ID ... [--model pixtral] [--create-new] [--gpus N] [--fan-out]\n"
	    "      [--wait]\n"
	    "  status                      sync, then show unfinished runs\n"
	    "  list [cosmos-manifest options]   runs (or --type prompt), newest first\n"
	    "  gallery [--out DIR] [cosmos-manifest options]   a page of the runs' videos\n"
	    "  show ID                     one run or prompt\n"
	    "  logs [-f] RUN               print or follow a run's log\n"
	    "  kill RUN ...                cancel runs\n"
	    "  retry [--any] [--max-attempts N] RUN ...   new attempts of failed runs\n"
	    "                              (a batch: of its failed children)\n"
	    "  hosts [NAME ...]            each host (default: all): its GPUs, who holds them,\n"
	    "                              the runs waiting; a cluster's nodes; an API's models\n"
	    "  search TEXT ...             runs and prompts whose texts hold TEXT (any case)\n"
	    "  delete [--outputs] [--dry-run] ID ...   delete finished runs and prompts;\n"
	    "                              outputs are kept unless --outputs\n"
	    "  verify [--fix]              find (and remove) debris and missing outputs\n"
	    "  CMD ...                     run cosmos-CMD: spec, submit, sync, manifest, prepare\n"
	    "\n"
	    "Options --host NAME and --delay MS go to cosmos-submit.  See cosmos(1).\n");
	exit(code);
}

static pid_t spawn(char **argv, int in, int out)
{
	pid_t pid = fork();
	if (pid < 0)
		err_(EX_STORE, "fork");
	if (pid == 0) {
		if (in != STDIN_FILENO) {
			dup2(in, STDIN_FILENO);
			close(in);
		}
		if (out != STDOUT_FILENO) {
			dup2(out, STDOUT_FILENO);
			close(out);
		}
		char *p = sibling(argv[0]);
		execvp(p, argv);
		/* _exit: exit() would flush the parent's buffered stdout again. */
		warn_("%s", p);
		fflush(stderr);
		_exit(127);
	}
	return pid;
}

static int reap(pid_t pid)
{
	int st;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return EX_STORE;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/*
 * Run a (or a | b); call line() for each line of the last one's stdout as
 * it comes.  The exit status: the last program's, else the first's.
 */
static int pipeline(char **a, char **b, void (*line)(const char *, void *), void *arg)
{
	int p1[2], p2[2];
	if (pipe2(p2, O_CLOEXEC) < 0)
		err_(EX_STORE, "pipe");
	pid_t pa, pb = 0;
	if (b) {
		if (pipe2(p1, O_CLOEXEC) < 0)
			err_(EX_STORE, "pipe");
		pa = spawn(a, STDIN_FILENO, p1[1]);
		close(p1[1]);
		pb = spawn(b, p1[0], p2[1]);
		close(p1[0]);
	} else
		pa = spawn(a, STDIN_FILENO, p2[1]);
	close(p2[1]);
	FILE *f = fdopen(p2[0], "r");
	char *l = NULL;
	size_t cap = 0;
	ssize_t n;
	while ((n = getline(&l, &cap, f)) > 0) {
		if (l[n - 1] == '\n')
			l[n - 1] = '\0';
		line(l, arg);
	}
	free(l);
	fclose(f);
	int ra = reap(pa), rb = b ? reap(pb) : 0;
	return exit_worst(ra, rb);
}

/* --- showing records ------------------------------------------------------ */

static const char *paint(const char *status)
{
	if (!color || !status)
		return "";
	if (!strcmp(status, "completed"))
		return "\033[32m";
	if (!strcmp(status, "failed"))
		return "\033[31m";
	if (!strcmp(status, "cancelled"))
		return "\033[33m";
	if (!strcmp(status, "running") || !strcmp(status, "submitted"))
		return "\033[36m";
	return "";
}

static int header_done;

static void show_line(const char *l, void *arg)
{
	(void)arg;
	if (json) {
		puts(l);
		return;
	}
	cJSON *r = cJSON_Parse(l);
	const char *id = jstr(r, "id"), *ev = jstr(r, "event");
	if (ev && !strcmp(ev, "batch.started")) {
		printf("batch %s: %d children\n", jstr(r, "batch_id"), (int)jnum(r, "total", 0));
	} else if (ev && !strcmp(ev, "batch.progress")) {
		int ok = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r, "success"));
		printf("  [%d/%d] %s  %s%s%s%s%s\n", (int)jnum(r, "index", 0) + 1, (int)jnum(r, "total", 0),
		    jstr(r, "run_id"), paint(ok ? "running" : "failed"), ok ? "submitted" : "failed",
		    color ? "\033[0m" : "", ok ? "" : ": ", ok ? "" : jstr(r, "error") ? jstr(r, "error") : "");
	} else if (ev && !strcmp(ev, "batch.completed")) {
		printf("batch %s: %d submitted, %d failed\n", jstr(r, "batch_id"), (int)jnum(r, "success_count", 0),
		    (int)jnum(r, "failure_count", 0));
	} else if (!id) {
		puts(l);
	} else if (!strncmp(id, "ps_", 3)) {
		if (!header_done++)
			printf("%-35s  %-16s  %s\n", "PROMPT", "NAME", "TEXT");
		printf("%-35s  %-16.16s  %.60s\n", id, jstr(r, "name") ? jstr(r, "name") : "",
		    jstr(r, "prompt_text") ? jstr(r, "prompt_text") : "");
	} else {
		if (!header_done++)
			printf("%-35s  %-9s  %-10s  %-8s  %-19s  %s\n", "RUN", "TYPE", "STATUS", "HOST", "CREATED", "DETAIL");
		const char *st = jstr(r, "status"), *created = jstr(r, "created_at");
		cJSON *out = cJSON_GetObjectItemCaseSensitive(r, "outputs");
		const char *detail = jstr(out, "video") ? jstr(out, "video")
		                   : jstr(out, "enhanced_prompt") ? jstr(out, "enhanced_prompt")
		                   : jstr(r, "reason") ? jstr(r, "reason")
		                   : jstr(jget(r, "job"), "queue_reason") ? jstr(jget(r, "job"), "queue_reason") : "";
		/* A running run: the GPUs it holds. */
		struct sbuf gpus = {0};
		const cJSON *g, *list = cJSON_GetObjectItemCaseSensitive(jget(r, "job"), "gpus");
		cJSON_ArrayForEach(g, list)
			if (cJSON_IsString(g) && st && !strcmp(st, "running"))
				sb_printf(&gpus, "%s%s", gpus.len ? "," : cJSON_GetArraySize(list) > 1 ? "GPUs " : "GPU ",
				    g->valuestring);
		printf("%-35s  %-9s  %s%-10s%s  %-8s  %-19.19s  %s\n", id, jstr(r, "model_type") ? jstr(r, "model_type") : "",
		    paint(st), st ? st : "", *paint(st) ? "\033[0m" : "", jstr(r, "host") ? jstr(r, "host") : "",
		    created ? created : "", *detail || !gpus.s ? detail : gpus.s);
		sb_free(&gpus);
	}
	cJSON_Delete(r);
}

static void show_fields(const char *l, void *arg)
{
	(void)arg;
	if (json) {
		puts(l);
		return;
	}
	cJSON *r = cJSON_Parse(l);
	for (cJSON *m = r ? r->child : NULL; m; m = m->next) {
		char *v = cJSON_IsString(m) ? xstrdup(m->valuestring) : cJSON_PrintUnformatted(m);
		printf("%-16s %s%s%s\n", m->string, strcmp(m->string, "status") ? "" : paint(v), v,
		    !strcmp(m->string, "status") && *paint(v) ? "\033[0m" : "");
		free(v);
	}
	puts("");
	cJSON_Delete(r);
}

static void count_nothing(const char *l, void *arg)
{
	(void)l;
	(void)arg;
}

/* --- building argument lists --------------------------------------------- */

struct args {
	char **v;
	int n;
};

static void add(struct args *a, const char *s)
{
	a->v = xrealloc(a->v, (size_t)(a->n + 2) * sizeof *a->v);
	a->v[a->n++] = (char *)s;
	a->v[a->n] = NULL;
}

/*
 * Split a command's words: --host/--delay to submit, --wait and
 * --fan-out here (bit 1 and 2 of the result), the rest to spec.
 */
static int split_submit(int argc, char **argv, struct args *spec, struct args *submit)
{
	int wait = 0;
	for (int i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "--wait"))
			wait |= 1;
		else if (!strcmp(argv[i], "--fan-out"))
			wait |= 2;
		else if ((!strcmp(argv[i], "--host") || !strcmp(argv[i], "--delay")) && i + 1 < argc) {
			add(submit, argv[i]);
			add(submit, argv[++i]);
		} else if (!strncmp(argv[i], "--host=", 7) || !strncmp(argv[i], "--delay=", 8))
			add(submit, argv[i]);
		else
			add(spec, argv[i]);
	}
	return wait;
}

/* --- waiting -------------------------------------------------------------- */

struct waited {
	struct args ids;
	int finished;
	struct args made; /* prompts made on the way (enhance --create-new) */
};

static void collect_id(const char *l, void *arg)
{
	struct waited *w = arg;
	cJSON *r = cJSON_Parse(l);
	const char *ev = jstr(r, "event");
	if (ev && !strcmp(ev, "batch.started"))
		add(&w->ids, xstrdup(jstr(r, "batch_id")));
	else if (!ev && jstr(r, "id"))
		add(&w->ids, xstrdup(jstr(r, "id")));
	cJSON_Delete(r);
	show_line(l, NULL);
}

static void count_finished(const char *l, void *arg)
{
	struct waited *w = arg;
	cJSON *r = cJSON_Parse(l);
	if (status_terminal(jstr(r, "status")))
		w->finished++;
	else if (id_kind(jstr(r, "id")) == ID_PROMPT)
		add(&w->made, xstrdup(l));
	cJSON_Delete(r);
}

/* Submit spec's requests; with wait, follow them to the end and show them. */
static int submit_and_wait(struct args *spec, struct args *submit, int wait)
{
	struct waited w = {{0}, 0, {0}};
	int rc = pipeline(spec->v, submit->v, wait ? collect_id : show_line, &w);
	if (!wait || w.ids.n == 0)
		return rc;
	struct args sync = {0};
	add(&sync, "cosmos-sync");
	add(&sync, "--wait");
	add(&sync, "--interval");
	add(&sync, "1");
	for (int i = 0; i < w.ids.n; i++)
		add(&sync, w.ids.v[i]);
	/* cosmos-sync draws the runs' board on the terminal meanwhile. */
	int src = pipeline(sync.v, NULL, count_finished, &w);
	struct args man = {0};
	add(&man, "cosmos-manifest");
	if (!strcmp(submit->v[0], "cosmos-batch")) {
		add(&man, "--batch");
		add(&man, w.ids.v[0]);
	} else
		for (int i = 0; i < w.ids.n; i++)
			add(&man, w.ids.v[i]);
	header_done = 0;
	if (!json)
		puts("");
	if (json)
		header_done = 1;
	pipeline(man.v, NULL, show_line, NULL);
	if (w.made.n && !json) {
		header_done = 0; /* a table of its own */
		puts("");
	}
	for (int i = 0; i < w.made.n; i++) {
		show_line(w.made.v[i], NULL);
		free(w.made.v[i]);
	}
	free(w.made.v);
	for (int i = 0; i < w.ids.n; i++)
		free(w.ids.v[i]);
	free(w.ids.v);
	free(sync.v);
	free(man.v);
	return exit_worst(rc, src);
}

static int simple(const char *program, const char *first, int argc, char **argv,
    void (*line)(const char *, void *))
{
	struct args a = {0};
	add(&a, program);
	if (first)
		add(&a, first);
	for (int i = 0; i < argc; i++)
		add(&a, argv[i]);
	int rc = pipeline(a.v, NULL, line, NULL);
	free(a.v);
	return rc;
}

/*
 * cosmos retry: runs to cosmos-submit --retry, each batch to
 * cosmos-batch --retry-failed, with the same options.
 */
static int retry(int argc, char **argv)
{
	struct args opts = {0}, runs = {0};
	struct args *batches = NULL;
	int nb = 0, rc = 0;
	for (int i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "--any"))
			add(&opts, argv[i]);
		else if (!strcmp(argv[i], "--max-attempts") && i + 1 < argc) {
			add(&opts, argv[i]);
			add(&opts, argv[++i]);
		} else if (!strncmp(argv[i], "--max-attempts=", 15))
			add(&opts, argv[i]);
		else if (argv[i][0] == '-') {
			warnx_("retry: unknown option '%s'", shown(argv[i]));
			return EX_USAGE_;
		} else {
			cJSON *rec = id_kind(argv[i]) == ID_RUN && store_open(0) == 0 ? store_load(argv[i]) : NULL;
			if (batch_is_parent(rec)) {
				batches = xrealloc(batches, (size_t)(nb + 1) * sizeof *batches);
				batches[nb] = (struct args){0};
				add(&batches[nb], "cosmos-batch");
				add(&batches[nb], "--retry-failed");
				add(&batches[nb++], argv[i]);
			} else
				add(&runs, argv[i]);
			cJSON_Delete(rec);
		}
	}
	if (!runs.n && !nb) {
		warnx_("retry: no run: give the failed runs (or batches) to retry");
		free(opts.v);
		return EX_USAGE_;
	}
	if (runs.n) {
		struct args a = {0};
		add(&a, "cosmos-submit");
		add(&a, "--retry");
		for (int i = 0; i < opts.n; i++)
			add(&a, opts.v[i]);
		for (int i = 0; i < runs.n; i++)
			add(&a, runs.v[i]);
		rc = pipeline(a.v, NULL, show_line, NULL);
		free(a.v);
	}
	for (int b = 0; b < nb; b++) {
		for (int i = 0; i < opts.n; i++)
			add(&batches[b], opts.v[i]);
		rc = exit_worst(rc, pipeline(batches[b].v, NULL, show_line, NULL));
		free(batches[b].v);
	}
	free(batches);
	free(runs.v);
	free(opts.v);
	return rc;
}

/* --- hosts ---------------------------------------------------------------- */

/* n as text, or "?" for null. */
static const char *num(const cJSON *o, const char *key, char buf[24])
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	if (!cJSON_IsNumber(v))
		return "?";
	snprintf(buf, 24, "%.0f", v->valuedouble);
	return buf;
}

static const char *str_or(const cJSON *o, const char *key, const char *dflt)
{
	return jstr(o, key) ? jstr(o, key) : dflt;
}

/* An RFC 3339 time as the local time of day, with the date when not today. */
static void when(const char *ts, char *buf, size_t len)
{
	long long secs;
	time_t t, now = time(NULL);
	struct tm tm, today;
	if (timestamp_parse(ts, &secs) < 0) {
		snprintf(buf, len, "?");
		return;
	}
	t = (time_t)secs;
	localtime_r(&t, &tm);
	localtime_r(&now, &today);
	strftime(buf, len, tm.tm_yday == today.tm_yday && tm.tm_year == today.tm_year ? "%H:%M:%S" : "%Y-%m-%d %H:%M",
	    &tm);
}

static const char *plural(int n, const char *one, const char *many)
{
	return n == 1 ? one : many;
}

/* One host as describe left it, for a person. */
static void show_host(const cJSON *h)
{
#define MEMBER(key) cJSON_GetObjectItemCaseSensitive(h, key)
	const cJSON *gpus = MEMBER("gpus"), *hold = MEMBER("holding"), *wait = MEMBER("waiting"),
	            *nodes = MEMBER("nodes"), *reach = MEMBER("reachable"), *e;
#undef MEMBER
	int ng = cJSON_GetArraySize(gpus), nw = cJSON_GetArraySize(wait);
	char a[24], b[24];
	if (jstr(h, "backend"))
		printf("%s (%s): ", str_or(h, "host", "?"), jstr(h, "backend"));
	else
		printf("%s: ", str_or(h, "host", "?"));
	if (!cJSON_IsTrue(reach)) {
		printf("%s%s%s: %s\n", paint("failed"), reach ? "unreachable" : "not usable", color ? "\033[0m" : "",
		    str_or(h, "error", "no message"));
		return;
	}
	if (jstr(h, "provider")) {
		printf("%s at %s, answers (HTTP %s)\n", jstr(h, "provider"), str_or(h, "url", "?"), num(h, "http_status", a));
		for (e = jget(h, "models") ? jget(h, "models")->child : NULL; e; e = e->next)
			printf("  %-9s %s\n", e->string, cJSON_IsString(e) ? e->valuestring : "none");
	} else if (nodes) {
		int nn = cJSON_GetArraySize(nodes);
		printf("%d %s", nn, plural(nn, "node", "nodes"));
		if (jstr(h, "partition"))
			printf(" in partition %s", jstr(h, "partition"));
		/* How many in each state, in the order first seen. */
		const char *sep = ": ";
		cJSON_ArrayForEach(e, nodes) {
			const char *st = str_or(e, "state", "?");
			const cJSON *f;
			int seen = 0, k = 0;
			cJSON_ArrayForEach(f, nodes) {
				if (f == e)
					break;
				seen |= !strcmp(str_or(f, "state", "?"), st);
			}
			if (seen)
				continue;
			cJSON_ArrayForEach(f, nodes)
				k += !strcmp(str_or(f, "state", "?"), st);
			printf("%s%d %s", sep, k, st);
			sep = ", ";
		}
		puts("");
		cJSON_ArrayForEach(e, nodes)
			printf("  %-16s %-12s %-12s %s\n", str_or(e, "node", "?"), str_or(e, "partition", "?"),
			    str_or(e, "state", "?"), str_or(e, "gres", "-"));
	} else {
		if (cJSON_GetObjectItemCaseSensitive(h, "slots"))
			printf("no GPUs, %d of %s slots held", cJSON_GetArraySize(hold), num(h, "slots", a));
		else
			printf("%d %s", ng, plural(ng, "GPU", "GPUs"));
		printf(", %d %s waiting\n", nw, plural(nw, "run", "runs"));
		int wname = 4;
		cJSON_ArrayForEach(e, gpus)
			if ((int)strlen(str_or(e, "name", "?")) > wname)
				wname = (int)strlen(str_or(e, "name", "?"));
		cJSON_ArrayForEach(e, gpus) {
			char mem[64];
			snprintf(mem, sizeof mem, "%s/%s MiB", num(e, "memory_used_mib", a), num(e, "memory_total_mib", b));
			printf("  GPU %-2s %-*s  %16s  %3s%%  %s\n", num(e, "index", b), wname, str_or(e, "name", "?"), mem,
			    num(e, "utilization", a), str_or(e, "run", "free"));
		}
		cJSON_ArrayForEach(e, hold)
			printf("  slot %-4s %s\n", str_or(e, "slot", "?"), str_or(e, "run", "?"));
		cJSON_ArrayForEach(e, wait) {
			char t[32];
			int n = (int)jnum(e, "gpus", jnum(e, "slots", 1));
			when(jstr(e, "since"), t, sizeof t);
			if (cJSON_GetObjectItemCaseSensitive(e, "gpus"))
				printf("  waiting: %s wants %d %s since %s\n", str_or(e, "run", "?"), n, plural(n, "GPU", "GPUs"), t);
			else
				printf("  waiting: %s wants a slot since %s\n", str_or(e, "run", "?"), t);
		}
	}
	if (jstr(h, "error"))
		printf("  error: %s\n", jstr(h, "error"));
}

/*
 * cosmos hosts [NAME ...]: each host (default: every section of the hosts
 * file) opened and asked once, one after another, and closed; a JSON line
 * or a panel each, as it comes.  A host that cannot be reached is shown
 * so, and the next is asked: 4 at the end.
 */
static int hosts(int argc, char **argv)
{
	char err[512];
	char **names = NULL;
	int rc = 0;
	for (int i = 0; i < argc; i++)
		if (argv[i][0] == '-') {
			warnx_("hosts: unknown option '%s'", shown(argv[i]));
			return EX_USAGE_;
		}
	if (!argc && !(names = host_names(err, sizeof err))) {
		warnx_("%s", err);
		return EX_STORE;
	}
	for (int i = 0; names ? names[i] != NULL : i < argc; i++) {
		const char *name = names ? names[i] : argv[i];
		cJSON *o = cJSON_CreateObject();
		struct remote *r = remote_get(name, err, sizeof err);
		jset_str(o, "host", r ? r->host.name : name);
		if (!r) {
			jset_str(o, "error", err);
			rc = exit_worst(rc, EX_SOME);
		} else {
			jset_str(o, "backend", r->ops->name);
			int st = r->failed ? r->code : 0;
			if (!st && r->ops->describe) {
				*r->err = '\0';
				st = r->ops->describe(r, o);
			} else if (!st)
				jset(o, "reachable", cJSON_CreateTrue());
			if (st) {
				if (r->failed || st == EX_UNAVAIL)
					jset(o, "reachable", cJSON_CreateFalse());
				jset_str(o, "error", *r->err ? r->err : "failed");
				rc = exit_worst(rc, st);
			}
		}
		remote_close_all();
		if (json) {
			char *line = cJSON_PrintUnformatted(o);
			puts(line);
			free(line);
		} else
			show_host(o);
		fflush(stdout);
		cJSON_Delete(o);
	}
	for (int i = 0; names && names[i]; i++)
		free(names[i]);
	free(names);
	return rc;
}

/* --- housekeeping ------------------------------------------------------- */

/* cosmos search TEXT ...: the words as one text, runs then prompts. */
static int search(int argc, char **argv)
{
	if (argc > 0 && !strcmp(argv[0], "--")) {
		argc--;
		argv++;
	} else if (argc > 0 && argv[0][0] == '-') {
		warnx_("search: unknown option '%s'", shown(argv[0]));
		return EX_USAGE_;
	}
	if (argc == 0) {
		warnx_("search: no text: give the words to look for");
		return EX_USAGE_;
	}
	struct sbuf text = {0};
	for (int i = 0; i < argc; i++)
		sb_printf(&text, "%s%s", i ? " " : "", argv[i]);
	char *runs[] = {"--grep", text.s}, *prompts[] = {"--type", "prompt", "--grep", text.s};
	header_done = 0;
	int rc = simple("cosmos-manifest", NULL, 2, runs, show_line), found = header_done;
	if (header_done && !json)
		puts("");
	header_done = 0;
	rc = exit_worst(rc, simple("cosmos-manifest", NULL, 4, prompts, show_line));
	if (!json && !found && !header_done)
		printf("nothing holds '%s'\n", shown(text.s));
	sb_free(&text);
	return rc;
}

static void print_json(const cJSON *o)
{
	char *l = cJSON_PrintUnformatted(o);
	puts(l);
	free(l);
}

static void show_deleted(const cJSON *o, void *arg)
{
	(void)arg;
	const cJSON *k;
	if (json)
		print_json(o);
	else {
		int dry = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "dry_run"));
		printf("%s %s\n", dry ? "would delete" : "deleted", jstr(o, "id"));
		cJSON_ArrayForEach(k, cJSON_GetObjectItemCaseSensitive(o, "kept"))
			printf("  kept %s\n", k->valuestring);
	}
	fflush(stdout);
}

/* One line a refusal; a failure of the store makes the status 3. */
static void refused(const char *item, const char *why, int err, void *arg)
{
	int *rc = arg;
	warnx_("delete: %s: %s", item, why);
	*rc = exit_worst(*rc, err && err != ENOENT && err != EINVAL ? EX_STORE : EX_SOME);
}

/* cosmos delete [--outputs] [--dry-run] ID ...: ids, or - for stdin's. */
static int delete(int argc, char **argv)
{
	int outputs = 0, dry = 0, i, rc = 0;
	for (i = 0; i < argc && argv[i][0] == '-' && argv[i][1]; i++) {
		if (!strcmp(argv[i], "--")) {
			i++;
			break;
		} else if (!strcmp(argv[i], "--outputs"))
			outputs = 1;
		else if (!strcmp(argv[i], "--dry-run"))
			dry = 1;
		else {
			warnx_("delete: unknown option '%s'", shown(argv[i]));
			return EX_USAGE_;
		}
	}
	if (i == argc) {
		warnx_("delete: no id: give the runs and prompts to delete (- reads them from stdin)");
		return EX_USAGE_;
	}
	struct items it;
	struct args ids = {0};
	items_init(&it, argc - i, argv + i);
	const char *s;
	while ((s = items_next(&it))) {
		char id[ID_LEN + 1];
		const char *why = item_id(s, ID_BAD, id, NULL);
		if (why) {
			item_warn(&it, "%s", why);
			rc = EX_SOME;
		} else
			add(&ids, xstrdup(id));
	}
	if (it.errors)
		rc = EX_SOME;
	items_free(&it);
	if (ids.n && hk_delete(ids.v, ids.n, outputs, dry, show_deleted, refused, &rc) < 0) {
		warn_("delete: %s", store_root());
		rc = EX_STORE;
	}
	for (int k = 0; k < ids.n; k++)
		free(ids.v[k]);
	free(ids.v);
	return rc;
}

static void show_problem(const cJSON *o, void *arg)
{
	int *found = arg, fixed = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "fixed"));
	(*found)++;
	if (json)
		print_json(o);
	else
		printf("%-17s %-35s %s%s\n", jstr(o, "problem"), jstr(o, "id") ? jstr(o, "id") : "-", jstr(o, "path"),
		    fixed ? "  (fixed)" : "");
	fflush(stdout);
}

/* cosmos verify [--fix]: 1 when a problem is left, 0 when none is. */
static int verify(int argc, char **argv)
{
	int fix = 0, found = 0;
	for (int i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "--fix"))
			fix = 1;
		else {
			warnx_("verify: unknown argument '%s'", shown(argv[i]));
			return EX_USAGE_;
		}
	}
	int left = hk_verify(fix, show_problem, &found);
	remote_close_all(); /* the hosts --fix downloaded from */
	if (left < 0) {
		warn_("verify: %s", store_root());
		return EX_STORE;
	}
	if (!json && !found)
		puts("no problems found");
	return left ? EX_SOME : EX_OK;
}

/* Does an upscale name its source (--from-run, --video, either form)? */
static int has_source(int argc, char **argv)
{
	for (int i = 0; i < argc; i++)
		if (!strncmp(argv[i], "--from-run", 10) || !strncmp(argv[i], "--video", 7))
			return 1;
	return 0;
}

int main(int argc, char **argv)
{
	progname = "cosmos";
	signal(SIGPIPE, SIG_DFL);
	/* --json anywhere, for the front door's own commands. */
	int n = 1;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json"))
			json = 1;
		else
			argv[n++] = argv[i];
	}
	argc = n;
	argv[argc] = NULL;
	json |= !isatty(STDOUT_FILENO);
	color = !json && !getenv("NO_COLOR");
	if (argc < 2 || !strcmp(argv[1], "help") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))
		usage(argc < 2 ? EX_USAGE_ : 0);
	if (!strcmp(argv[1], "--version")) {
		printf("cosmos %s\n", COSMOS_VERSION);
		finish_stdout();
		return 0;
	}
	const char *cmd = argv[1];
	argc -= 2;
	argv += 2;
	int rc;
	struct args spec = {0}, submit = {0};
	add(&submit, "cosmos-submit");
	if (!strcmp(cmd, "create")) {
		if (argc < 1 || strcmp(argv[0], "prompt"))
			usage(EX_USAGE_);
		rc = simple("cosmos-spec", "prompt", argc - 1, argv + 1, show_line);
	} else if (!strcmp(cmd, "upscale") && !has_source(argc, argv)) {
		warnx_("upscale: no source: give --from-run RUN_ID or --video FILE");
		rc = EX_USAGE_;
	} else if (!strcmp(cmd, "generate") && argc == 0) {
		warnx_("generate: no prompt: give the text to make a video of");
		rc = EX_USAGE_;
	} else if (!strcmp(cmd, "inference") || !strcmp(cmd, "upscale") || !strcmp(cmd, "enhance-batch") ||
	           !strcmp(cmd, "generate")) {
		add(&spec, "cosmos-spec");
		add(&spec, !strcmp(cmd, "inference") ? "transfer" : !strcmp(cmd, "enhance-batch") ? "enhance" : cmd);
		int flags = split_submit(argc, argv, &spec, &submit);
		/* Two or more prompts make a batch (one parent, a child each),
		 * packed into one container unless --fan-out. */
		int prompts = 0;
		for (int i = 2; i < spec.n; i++)
			prompts += !strncmp(spec.v[i], "ps_", 3);
		if (!strcmp(cmd, "enhance-batch") || (!strcmp(cmd, "inference") && prompts > 1)) {
			submit.v[0] = "cosmos-batch";
			if (!(flags & 2))
				add(&submit, "--packed");
		}
		rc = submit_and_wait(&spec, &submit, flags & 1);
	} else if (!strcmp(cmd, "status")) {
		struct args s = {0};
		add(&s, "cosmos-sync");
		int src = pipeline(s.v, NULL, json ? show_line : count_nothing, NULL);
		free(s.v);
		header_done = 0;
		char *active[] = {"pending,submitted,running"};
		rc = simple("cosmos-manifest", "--status", 1, active, show_line);
		if (!json && !header_done)
			puts("no unfinished runs");
		rc = exit_worst(rc, src);
	} else if (!strcmp(cmd, "gallery")) {
		/* cosmos-manifest FILTERS | cosmos-gallery [--out DIR] */
		struct args m = {0}, g = {0};
		add(&m, "cosmos-manifest");
		add(&g, "cosmos-gallery");
		for (int i = 0; i < argc; i++) {
			if (!strcmp(argv[i], "--out") && i + 1 < argc) {
				add(&g, argv[i]);
				add(&g, argv[++i]);
			} else
				add(!strncmp(argv[i], "--out=", 6) ? &g : &m, argv[i]);
		}
		rc = pipeline(m.v, g.v, show_line, NULL);
		free(m.v);
		free(g.v);
	} else if (!strcmp(cmd, "list")) {
		rc = simple("cosmos-manifest", NULL, argc, argv, show_line);
	} else if (!strcmp(cmd, "show")) {
		if (argc < 1)
			usage(EX_USAGE_);
		struct args a = {0};
		add(&a, "cosmos-manifest");
		for (int i = 0; i < argc; i++)
			add(&a, argv[i]);
		rc = pipeline(a.v, NULL, show_fields, NULL);
		free(a.v);
	} else if (!strcmp(cmd, "logs")) {
		struct args a = {0};
		add(&a, "cosmos-sync");
		add(&a, "--log");
		for (int i = 0; i < argc; i++)
			add(&a, !strcmp(argv[i], "-f") ? "--follow" : argv[i]);
		char *p = sibling("cosmos-sync");
		execvp(p, a.v);
		warn_("%s", p);
		free(p);
		free(a.v);
		free(spec.v);
		free(submit.v);
		return 127;
	} else if (!strcmp(cmd, "retry")) {
		rc = retry(argc, argv);
	} else if (!strcmp(cmd, "kill")) {
		rc = simple("cosmos-sync", "--cancel", argc, argv, show_line);
	} else if (!strcmp(cmd, "hosts")) {
		rc = hosts(argc, argv);
	} else if (!strcmp(cmd, "search")) {
		rc = search(argc, argv);
	} else if (!strcmp(cmd, "delete")) {
		rc = delete(argc, argv);
	} else if (!strcmp(cmd, "verify")) {
		rc = verify(argc, argv);
	} else {
		/* cosmos CMD: run cosmos-CMD, as git does. */
		char *name = xasprintf("cosmos-%s", cmd), *p = sibling(name);
		argv[-1] = name;
		execvp(p, argv - 1);
		warnx_("'%s' is not a cosmos command (no %s); see cosmos --help", shown(cmd), name);
		free(p);
		free(name);
		free(spec.v);
		free(submit.v);
		return EX_USAGE_;
	}
	free(spec.v);
	free(submit.v);
	if (fflush(stdout) != 0 || ferror(stdout))
		err_(EX_STORE, "stdout");
	return rc;
}
