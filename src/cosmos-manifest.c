/*
 * cosmos-manifest - print run and prompt records as JSON lines.
 *
 *	cosmos-manifest [--status S,...] [--type T,...] [--reason-code C,...]
 *	    [--prompt PROMPT_ID] [--batch RUN_ID] [--source-run RUN_ID] [--grep TEXT]
 *	    [--limit N] [--all-attempts] [--count | --summary] [ID ...]
 *
 * Invariants:
 *  - Read-only: it takes no lock and creates or writes nothing under
 *    $COSMOS_DIR.  A record is printed exactly as stored, never rebuilt.
 *  - Without ids: every record of the selected kinds, newest first
 *    (created_at, then id), or a batch's children in batch order; of a
 *    run retried (lib/retry.h), only its latest attempt unless
 *    --all-attempts.  With ids: those records in the order given.
 *  - --grep TEXT is a fixed string, never a pattern: any bytes are text.
 *  - A bad or unknown id is reported with where it came from, the rest are
 *    still printed, and the exit status says some failed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "input.h"
#include "record.h"
#include "store.h"
#include "util.h"

static const char *const run_types[] = {
	"transfer", "upscale", "enhance", "batch", "enhance_batch", "generate", NULL,
};

struct filter {
	char **status, **type, **code; /* NULL-terminated lists, or NULL for any */
	const char *prompt, *batch, *source;
	const char *grep; /* --grep: a fixed string, ASCII case folded */
	int want_runs, want_prompts;
	int all_attempts;
};

struct hit {
	char created[40];
	char id[ID_LEN + 1];
	double index;
	char *raw;
	size_t len;
};

struct hits {
	struct hit *v;
	size_t n, cap;
	const struct filter *f;
	int bad;
	int tally; /* --count: only count, keep nothing */
	int named; /* records named: each is shown, whatever its attempt */
};

static const char usage_text[] =
    "usage: cosmos-manifest [--status S,...] [--type T,...] [--reason-code C,...]\n"
    "           [--prompt PROMPT_ID] [--batch RUN_ID] [--source-run RUN_ID] [--grep TEXT]\n"
    "           [--limit N] [--all-attempts] [--count | --summary] [ID ...]\n";

static _Noreturn void usage(void)
{
	fputs(usage_text, stderr);
	exit(EX_USAGE_);
}

static int ascii_lower(int c)
{
	return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

static int in_list(char **list, const char *s)
{
	if (!list)
		return 1;
	for (; *list; list++)
		if (s && strcmp(*list, s) == 0)
			return 1;
	return 0;
}

/* Split "a,b" into a NULL-terminated list, checking each word with ok(). */
static char **split(const char *opt, char *arg, int (*ok)(const char *))
{
	size_t n = 2;
	for (const char *p = arg; *p; p++)
		n += *p == ',';
	char **v = xmalloc(n * sizeof *v), *save = NULL;
	size_t i = 0;
	for (char *t = strtok_r(arg, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		if (!ok(t))
			errx_(EX_USAGE_, "%s: '%s' is not known (see cosmos(7))", opt, shown(t));
		v[i++] = t;
	}
	if (i == 0)
		errx_(EX_USAGE_, "%s: empty list", opt);
	v[i] = NULL;
	return v;
}

/* A reason code (cosmos(7) lists them): a lowercase word with '_'. */
static int code_known(const char *s)
{
	return *s && strspn(s, "abcdefghijklmnopqrstuvwxyz_") == strlen(s);
}

static int type_known(const char *s)
{
	return strcmp(s, "prompt") == 0 || in_list((char **)run_types, s);
}

/* Does hay hold needle, ASCII letters of either case alike?  No pattern:
 * every byte of needle is itself. */
static int holds(const char *hay, const char *needle)
{
	size_t n = strlen(needle);
	for (; hay && *hay; hay++) {
		size_t i = 0;
		while (i < n && hay[i] && ascii_lower(hay[i]) == ascii_lower(needle[i]))
			i++;
		if (i == n)
			return 1;
	}
	return 0;
}

/*
 * --grep: the texts a person would search a record by: a prompt's name,
 * text and negative text; a run's reason, the prompt it was given
 * (generate, upscale), an enhance's original and enhanced text.
 */
static int grep_matches(const char *text, const cJSON *rec)
{
	const cJSON *ec = jget(rec, "execution_config"), *out = jget(rec, "outputs");
	const char *texts[] = {
		jstr(rec, "name"), jstr(rec, "prompt_text"), jstr(rec, "negative_prompt"), jstr(rec, "reason"),
		jstr(ec, "prompt"), jstr(ec, "negative_prompt"), jstr(ec, "original_prompt"),
		jstr(out, "enhanced_prompt"),
	};
	for (size_t i = 0; i < sizeof texts / sizeof *texts; i++)
		if (holds(texts[i], text))
			return 1;
	return 0;
}

static int matches(const struct filter *f, const cJSON *rec, enum id_kind kind)
{
	if (f->grep && !grep_matches(f->grep, rec))
		return 0;
	if (kind == ID_PROMPT)
		return f->want_prompts && !f->status && !f->prompt && !f->batch;
	if (!f->want_runs)
		return 0;
	if (f->status && !in_list(f->status, jstr(rec, "status")))
		return 0;
	if (f->type && !in_list(f->type, jstr(rec, "model_type")))
		return 0;
	if (f->code && !in_list(f->code, jstr(rec, "reason_code")))
		return 0;
	if (f->prompt && !(jstr(rec, "prompt_id") && strcmp(jstr(rec, "prompt_id"), f->prompt) == 0))
		return 0;
	if (f->source && !(jstr(jget(rec, "execution_config"), "source_run_id") &&
	                   !strcmp(jstr(jget(rec, "execution_config"), "source_run_id"), f->source)))
		return 0;
	if (f->batch) {
		const cJSON *ec = cJSON_GetObjectItemCaseSensitive(rec, "execution_config");
		const char *b = jstr(ec, "batch_run_id");
		if (!b || strcmp(b, f->batch) != 0)
			return 0;
	}
	return 1;
}

/* Has a run a later attempt (its retried_by, if that run exists)? */
static int superseded(const cJSON *rec)
{
	const char *by = jstr(rec, "retried_by");
	size_t len;
	char *raw = by && id_kind(by) == ID_RUN ? store_read(by, &len) : NULL;
	int found = raw != NULL;
	free(raw);
	return found;
}

/* Keep buf if its record passes the filter; takes ownership of buf. */
static void consider(struct hits *h, const char *id, char *buf, size_t len, int err)
{
	enum id_kind kind = id_kind(id);
	cJSON *rec = buf ? cJSON_ParseWithLength(buf, len) : NULL;
	if (!cJSON_IsObject(rec)) {
		warnx_("%s/%s/%s.json: %s; skipped", store_root(), kind == ID_RUN ? "runs" : "prompts",
		    id, buf ? "not a JSON object" : strerror(err));
		h->bad++;
		goto drop;
	}
	if (!matches(h->f, rec, kind) || (!h->named && !h->f->all_attempts && superseded(rec)))
		goto drop;
	if (h->tally) {
		h->n++;
		goto drop;
	}
	if (h->n == h->cap)
		h->v = xrealloc(h->v, (h->cap = h->cap ? 2 * h->cap : 1024) * sizeof *h->v);
	struct hit *x = &h->v[h->n++];
	snprintf(x->created, sizeof x->created, "%s", jstr(rec, "created_at") ? jstr(rec, "created_at") : "");
	memcpy(x->id, id, sizeof x->id);
	x->index = jnum(cJSON_GetObjectItemCaseSensitive(rec, "execution_config"), "batch_index", 0);
	x->raw = buf;
	x->len = len;
	cJSON_Delete(rec);
	return;
drop:
	cJSON_Delete(rec);
	free(buf);
}

static void scanned(const char *id, char *buf, size_t len, int err, void *arg)
{
	consider(arg, id, buf, len, err);
}

static int newest_first(const void *a, const void *b)
{
	const struct hit *x = a, *y = b;
	int c = strcmp(y->created, x->created);
	return c ? c : strcmp(y->id, x->id);
}

static int batch_order(const void *a, const void *b)
{
	const struct hit *x = a, *y = b;
	if (x->index != y->index)
		return x->index < y->index ? -1 : 1;
	return strcmp(x->id, y->id);
}

/*
 * One line for the selected runs: counts by status, and each one's output
 * (with --batch, in batch order: the batch's manifest).
 */
static void print_summary(const struct hits *h, const char *batch)
{
	static const char *const st[] = {"pending", "submitted", "running", "completed", "failed", "cancelled"};
	int counts[6] = {0};
	cJSON *s = cJSON_CreateObject(), *outs = cJSON_CreateArray();
	if (batch)
		jset_str(s, "batch_id", batch);
	for (size_t i = 0; i < h->n; i++) {
		cJSON *r = cJSON_ParseWithLength(h->v[i].raw, h->v[i].len), *o = cJSON_CreateObject();
		for (int k = 0; k < 6; k++)
			counts[k] += jstr(r, "status") && !strcmp(jstr(r, "status"), st[k]);
		jset_str(o, "id", jstr(r, "id") ? jstr(r, "id") : "");
		jset_str(o, "status", jstr(r, "status") ? jstr(r, "status") : "");
		const char *v = jstr(cJSON_GetObjectItemCaseSensitive(r, "outputs"), "video");
		jset(o, "video", v ? cJSON_CreateString(v) : cJSON_CreateNull());
		cJSON_AddItemToArray(outs, o);
		cJSON_Delete(r);
	}
	jset_num(s, "total", (double)h->n);
	for (int k = 0; k < 6; k++)
		jset_num(s, st[k], counts[k]);
	jset(s, "runs", outs);
	record_print(s);
	cJSON_Delete(s);
}

/* Records named by operands or stdin lines, in that order. */
static void named(struct hits *h, int argc, char **argv)
{
	struct items it;
	if (items_init(&it, argc, argv) < 0)
		errx_(EX_USAGE_, "no operands, and standard input is a terminal");
	const char *s;
	while ((s = items_next(&it))) {
		char id[ID_LEN + 1];
		const char *why = item_id(s, ID_BAD, id, NULL);
		if (why) {
			item_warn(&it, "%s", why);
			h->bad++;
			continue;
		}
		size_t len;
		char *raw = store_read(id, &len);
		if (!raw) {
			item_warn(&it, "%s: %s", id, errno == ENOENT ? "no such record" : strerror(errno));
			h->bad++;
			continue;
		}
		consider(h, id, raw, len, 0);
	}
	h->bad += it.errors;
	items_free(&it);
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{"status", required_argument, NULL, 's'},
		{"type", required_argument, NULL, 't'},
		{"reason-code", required_argument, NULL, 'r'},
		{"prompt", required_argument, NULL, 'p'},
		{"batch", required_argument, NULL, 'b'},
		{"source-run", required_argument, NULL, 'R'},
		{"grep", required_argument, NULL, 'g'},
		{"limit", required_argument, NULL, 'n'},
		{"count", no_argument, NULL, 'c'},
		{"summary", no_argument, NULL, 'S'},
		{"all-attempts", no_argument, NULL, 'a'},
		{0, 0, 0, 0},
	};
	struct filter f = {.want_runs = 1};
	long limit = -1;
	int count = 0, summary = 0, c;
	progname = "cosmos-manifest";
	std_options(argc > 1 ? argv[1] : NULL, usage_text);
	while ((c = getopt_long(argc, argv, "+", lo, NULL)) != -1) {
		switch (c) {
		case 's': f.status = split("--status", optarg, status_known); break;
		case 't': f.type = split("--type", optarg, type_known); break;
		case 'r': f.code = split("--reason-code", optarg, code_known); break;
		case 'p':
			if (id_kind(optarg) != ID_PROMPT)
				errx_(EX_USAGE_, "--prompt: '%s' is not a prompt id", shown(optarg));
			f.prompt = optarg;
			break;
		case 'R':
			if (id_kind(optarg) != ID_RUN)
				errx_(EX_USAGE_, "--source-run: '%s' is not a run id", shown(optarg));
			f.source = optarg;
			break;
		case 'b':
			if (id_kind(optarg) != ID_RUN)
				errx_(EX_USAGE_, "--batch: '%s' is not a run id", shown(optarg));
			f.batch = optarg;
			break;
		case 'g':
			if (!*optarg)
				errx_(EX_USAGE_, "--grep: empty text");
			f.grep = optarg;
			break;
		case 'n':
			if (parse_long(optarg, &limit) < 0 || limit < 0)
				errx_(EX_USAGE_, "--limit: '%s' is not a count", shown(optarg));
			break;
		case 'c': count = 1; break;
		case 'S': summary = 1; break;
		case 'a': f.all_attempts = 1; break;
		default: usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (f.type) {
		f.want_prompts = in_list(f.type, "prompt");
		f.want_runs = 0;
		for (char **t = f.type; *t; t++)
			f.want_runs |= strcmp(*t, "prompt") != 0;
	}
	if (f.want_prompts && !f.want_runs && (f.status || f.prompt || f.batch))
		errx_(EX_USAGE_, "--status, --prompt and --batch select runs, not prompt records");
	if (store_open(0) < 0)
		err_(EX_STORE, "%s", store_root());

	if (count && summary)
		errx_(EX_USAGE_, "--count and --summary do not go together");
	struct hits h = {.f = &f, .tally = count};
	if (argc > 0) {
		f.want_prompts = !f.type || f.want_prompts;
		h.named = 1;
		named(&h, argc, argv);
	} else {
		if (f.want_runs && store_scan(ID_RUN, scanned, &h) < 0)
			err_(EX_STORE, "%s/runs", store_root());
		if (f.want_prompts && store_scan(ID_PROMPT, scanned, &h) < 0)
			err_(EX_STORE, "%s/prompts", store_root());
		if (h.v)
			qsort(h.v, h.n, sizeof *h.v, f.batch ? batch_order : newest_first);
	}
	size_t n = limit >= 0 && (size_t)limit < h.n ? (size_t)limit : h.n;
	if (count)
		printf("%zu\n", n);
	if (summary) {
		print_summary(&h, f.batch);
		count = 1; /* the records themselves are not printed */
	}
	for (size_t i = 0; h.v && i < h.n; i++) {
		if (i < n && !count) {
			fwrite(h.v[i].raw, 1, h.v[i].len, stdout);
			if (h.v[i].len == 0 || h.v[i].raw[h.v[i].len - 1] != '\n')
				putchar('\n');
		}
		free(h.v[i].raw);
	}
	free(h.v);
	free(f.status);
	free(f.type);
	free(f.code);
	finish_stdout();
	return h.bad ? EX_SOME : EX_OK;
}
