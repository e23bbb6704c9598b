/*
 * cosmos-spec - build requests for cosmos-submit, and store prompt records.
 *
 *	cosmos-spec prompt [--name N] [--negative TEXT] TEXT DIR
 *	cosmos-spec transfer [--weights ...] [--steps N] ... [PROMPT_ID ...]
 *	cosmos-spec upscale (--from-run RUN_ID | --video FILE) [--weight W] [--steps N] [--prompt TEXT]
 *	cosmos-spec enhance [--model pixtral] [--create-new] [PROMPT_ID ...]
 *	cosmos-spec generate [--model M] [--resolution R] [--aspect A] [--duration S]
 *	    [--negative TEXT] [--param KEY=VALUE ...] [PROMPT ...]
 *
 * Invariants:
 *  - It touches no remote host.  It writes only prompt records (prompt);
 *    run records are cosmos-submit's.
 *  - Every request is one JSON line: "model_type", "execution_config" as
 *    the run record will hold it, and "spec", exactly what the model will
 *    read, with local paths that cosmos-submit maps to the host's.
 *  - Options are checked before any input is read; a bad option does
 *    nothing.  They may follow the ids of transfer and enhance (which
 *    cannot begin with '-'); prompt stops at its TEXT, which may.  A bad input item is reported with where it came from and
 *    the others are still processed; the exit status says some failed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "input.h"
#include "job.h"
#include "record.h"
#include "store.h"
#include "util.h"

static const char *const controls[] = {"vis", "edge", "depth", "seg"};
static const char *const levels[] = {"very_low", "low", "medium", "high", "very_high", NULL};

struct transfer_opts {
	double weight[4];
	long steps, seed, fps;
	double guidance, sigma_max;
	int guidance_given, sigma_max_given; /* --guidance, --sigma-max */
	const char *blur, *canny;
};

static const char usage_text[] =
    "usage: cosmos-spec prompt [--name N] [--negative TEXT] TEXT DIR\n"
    "       cosmos-spec transfer [--weights vis=W,edge=W,depth=W,seg=W] [--steps N]\n"
    "           [--guidance G] [--seed S] [--fps F] [--sigma-max X]\n"
    "           [--blur-strength L] [--canny-threshold L] [--gpus N] [PROMPT_ID ...]\n"
    "       cosmos-spec upscale (--from-run RUN_ID | --video FILE) [--weight W] [--steps N] [--prompt TEXT]\n"
    "           [--model M] [--param KEY=VALUE ...] [--gpus N]\n"
    "       cosmos-spec enhance [--model pixtral] [--create-new] [--gpus N] [PROMPT_ID ...]\n"
    "       cosmos-spec generate [--model M] [--resolution R] [--aspect A] [--duration S]\n"
    "           [--negative TEXT] [--param KEY=VALUE ...] [PROMPT ...]\n";

/* --gpus N: the run's GPUs (execution_config.num_gpus), 0 for the host's. */
static long num_gpus;

static void add_gpus(cJSON *ec)
{
	if (num_gpus)
		jset_num(ec, "num_gpus", (double)num_gpus);
}

static _Noreturn void usage(void)
{
	fputs(usage_text, stderr);
	exit(EX_USAGE_);
}

static double opt_double(const char *opt, const char *s, double lo, double hi)
{
	double d;
	if (parse_double(s, &d) < 0 || d < lo || d > hi)
		errx_(EX_USAGE_, "%s: '%s' is not a number from %g to %g", opt, shown(s), lo, hi);
	return d;
}

static long opt_long(const char *opt, const char *s, long lo, long hi)
{
	long v;
	if (parse_long(s, &v) < 0 || v < lo || v > hi)
		errx_(EX_USAGE_, "%s: '%s' is not a whole number from %ld to %ld", opt, shown(s), lo, hi);
	return v;
}

/* A hosted model's name: no blanks or control characters. */
static const char *opt_model(const char *s)
{
	if (!*s || strlen(s) > 200)
		errx_(EX_USAGE_, "--model: '%s' is not a model name", shown(s));
	for (const char *c = s; *c; c++)
		if ((unsigned char)*c <= ' ' || *c == 0x7f)
			errx_(EX_USAGE_, "--model: '%s' is not a model name", shown(s));
	return s;
}

/* Is every number in v finite (1e999 parses as infinity)? */
static int all_finite_json(const cJSON *v)
{
	if (cJSON_IsNumber(v))
		return v->valuedouble - v->valuedouble == 0;
	for (const cJSON *m = v->child; m; m = m->next)
		if (!all_finite_json(m))
			return 0;
	return 1;
}

static const char *opt_level(const char *opt, const char *s)
{
	for (int i = 0; levels[i]; i++)
		if (strcmp(s, levels[i]) == 0)
			return levels[i];
	errx_(EX_USAGE_, "%s: '%s' is not one of very_low, low, medium, high, very_high", opt, shown(s));
}

/* "vis=0.5,edge=0.2": named controls get their weight, the others 0. */
/*
 * --param KEY=VALUE into params: a model input passed as it is to a
 * hosted model (KEY of letters, digits and '_'; VALUE JSON if it parses
 * as a number, true, false, null, an array or an object, else a string).
 */
static void add_param(cJSON *params, const char *arg)
{
	const char *eq = strchr(arg, '=');
	size_t k = eq ? (size_t)(eq - arg) : 0;
	if (!k || strspn(arg, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") != k)
		errx_(EX_USAGE_, "--param: '%s' is not KEY=VALUE (KEY of letters, digits and _)", shown(arg));
	char *key = xasprintf("%.*s", (int)k, arg);
	cJSON *v = cJSON_Parse(eq + 1);
	if (!v || cJSON_IsString(v) || !all_finite_json(v)) {
		cJSON_Delete(v);
		v = cJSON_CreateString(eq + 1);
	}
	jset(params, key, v);
	free(key);
}

static void parse_weights(const char *arg, double w[4])
{
	char *copy = xstrdup(arg), *save = NULL;
	int seen[4] = {0};
	for (int i = 0; i < 4; i++)
		w[i] = 0;
	for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(tok, '=');
		int c = -1;
		if (eq) {
			*eq = '\0';
			for (int i = 0; i < 4; i++)
				if (strcmp(tok, controls[i]) == 0)
					c = i;
		}
		if (c < 0)
			errx_(EX_USAGE_, "--weights: '%s' is not CONTROL=WEIGHT with CONTROL one of vis, edge, depth, seg",
			    shown(tok));
		if (seen[c]++)
			errx_(EX_USAGE_, "--weights: %s is named twice", controls[c]);
		double d;
		if (parse_double(eq + 1, &d) < 0 || d < 0 || d > 1)
			errx_(EX_USAGE_, "--weights: %s=%s: a weight is a number from 0 to 1",
			    controls[c], shown(eq + 1));
		w[c] = d;
	}
	free(copy);
	if (w[0] == 0 && w[1] == 0 && w[2] == 0 && w[3] == 0)
		errx_(EX_USAGE_, "--weights: at least one control needs a weight above 0");
}

/* Load a prompt named by an item; NULL after reporting why not. */
static cJSON *load_prompt(struct items *it, const char *text)
{
	char id[ID_LEN + 1];
	const char *why = item_id(text, ID_PROMPT, id, NULL);
	if (why) {
		item_warn(it, "%s", why);
		return NULL;
	}
	cJSON *p = store_load(id);
	if (!p) {
		if (errno == ENOENT)
			item_warn(it, "%s: no such prompt in %s", id, store_root());
		else
			item_warn(it, "%s: cannot read prompt record: %s", id,
			    errno == EBADMSG ? "not a JSON object" : strerror(errno));
		return NULL;
	}
	return p;
}

/* Run fn for every item (operands, else stdin); the exit status. */
static int each_item(int argc, char **argv, int (*fn)(struct items *, const char *, void *), void *arg)
{
	struct items it;
	int bad = 0, n = 0;
	if (items_init(&it, argc, argv) < 0)
		errx_(EX_USAGE_, "no operands, and standard input is a terminal");
	const char *s;
	while ((s = items_next(&it))) {
		n++;
		if (fn(&it, s, arg) < 0)
			bad++;
	}
	bad += it.errors;
	items_free(&it);
	if (n == 0 && bad == 0)
		errx_(EX_USAGE_, "nothing to do: no items given");
	return bad ? EX_SOME : EX_OK;
}

/* --- prompt ------------------------------------------------------------- */

/* An absolute path to DIR/name if it is a readable regular file. */
static char *input_file(const char *dir, const char *name)
{
	char *path = xasprintf("%s/%s", dir, name);
	struct stat st;
	if (stat(path, &st) < 0 || !S_ISREG(st.st_mode) || access(path, R_OK) < 0) {
		free(path);
		return NULL;
	}
	return path;
}

static int cmd_prompt(int argc, char **argv)
{
	static const struct option lo[] = {
		{"name", required_argument, NULL, 'n'},
		{"negative", required_argument, NULL, 'N'},
		{0, 0, 0, 0},
	};
	const char *name = NULL, *negative = NULL;
	int c;
	while ((c = getopt_long(argc, argv, "+", lo, NULL)) != -1) {
		if (c == 'n')
			name = optarg;
		else if (c == 'N')
			negative = optarg;
		else
			usage();
	}
	argc -= optind;
	argv += optind;
	if (argc != 2)
		usage();
	const char *text = argv[0];
	if (!*text)
		errx_(EX_USAGE_, "prompt: the prompt text is empty");
	if (negative && !*negative)
		errx_(EX_USAGE_, "--negative: the text is empty (leave --negative out for none)");
	char dir[PATH_MAX];
	if (!realpath(argv[1], dir))
		errx_(EX_SOME, "argument 2: %s: %s", shown(argv[1]), strerror(errno));
	char *color = input_file(dir, "color.mp4");
	if (!color)
		errx_(EX_SOME, "argument 2: %s: no readable color.mp4 in it", shown(argv[1]));
	char *depth = input_file(dir, "depth.mp4");
	char *seg = input_file(dir, "segmentation.mp4");

	if (store_open(1) < 0)
		err_(EX_STORE, "%s", store_root());
	cJSON *p = prompt_new();
	const char *base = strrchr(dir, '/');
	jset_str(p, "name", name ? name : (base && base[1] ? base + 1 : dir));
	jset_str(p, "prompt_text", text);
	if (negative)
		jset_str(p, "negative_prompt", negative);
	cJSON *in = jobj(p, "inputs");
	jset_str(in, "video", color);
	if (depth)
		jset_str(in, "depth", depth);
	if (seg)
		jset_str(in, "seg", seg);
	free(color);
	free(depth);
	free(seg);
	if (store_create(p) < 0)
		err_(EX_STORE, "cannot store prompt %s", jstr(p, "id"));
	record_print(p);
	cJSON_Delete(p);
	return EX_OK;
}

/* --- transfer ----------------------------------------------------------- */

/*
 * execution_config.given: which of guidance and sigma_max the user gave,
 * when any.  A request always holds both (Transfer1's defaults, 5 and 70,
 * when not given: the record shows what a Transfer1 run used), so an
 * engine whose defaults differ (transfer2.5's guidance 3) can tell a
 * default from a 5 asked for (lib/transfer25.c).
 */
static void add_given(cJSON *ec, const struct transfer_opts *o)
{
	if (!o->guidance_given && !o->sigma_max_given)
		return;
	cJSON *g = cJSON_CreateArray();
	if (o->guidance_given)
		cJSON_AddItemToArray(g, cJSON_CreateString("guidance"));
	if (o->sigma_max_given)
		cJSON_AddItemToArray(g, cJSON_CreateString("sigma_max"));
	jset(ec, "given", g);
}

static int one_transfer(struct items *it, const char *text, void *arg)
{
	const struct transfer_opts *o = arg;
	cJSON *p = load_prompt(it, text);
	if (!p)
		return -1;
	cJSON *in = jobj(p, "inputs");
	const char *video = jstr(in, "video");
	if (!video || !jstr(p, "prompt_text")) {
		item_warn(it, "%s: prompt record lacks prompt_text or inputs.video", jstr(p, "id"));
		cJSON_Delete(p);
		return -1;
	}
	cJSON *req = cJSON_CreateObject();
	jset_str(req, "model_type", "transfer");
	jset_str(req, "prompt_id", jstr(p, "id"));

	cJSON *ec = jobj(req, "execution_config");
	add_gpus(ec);
	cJSON *w = jobj(ec, "weights");
	for (int i = 0; i < 4; i++)
		jset_num(w, controls[i], o->weight[i]);

	cJSON *spec = jobj(req, "spec");
	jset_str(spec, "prompt", jstr(p, "prompt_text"));
	if (jstr(p, "negative_prompt"))
		jset_str(spec, "negative_prompt", jstr(p, "negative_prompt"));
	jset_str(spec, "input_video_path", video);
	for (int i = 0; i < 4; i++) {
		if (o->weight[i] == 0)
			continue;
		cJSON *ctl = jobj(spec, controls[i]);
		jset_num(ctl, "control_weight", o->weight[i]);
		const char *file = jstr(in, controls[i]);
		if (file && i >= 2)
			jset_str(ctl, "input_control", file);
	}
	/* The parameters go both to the model and into the run record. */
	cJSON *targets[2] = {ec, spec};
	for (int t = 0; t < 2; t++) {
		jset_num(targets[t], "num_steps", (double)o->steps);
		jset_num(targets[t], "guidance", o->guidance);
		jset_num(targets[t], "seed", (double)o->seed);
		jset_num(targets[t], "fps", (double)o->fps);
		jset_num(targets[t], "sigma_max", o->sigma_max);
		jset_str(targets[t], "blur_strength", o->blur);
		jset_str(targets[t], "canny_threshold", o->canny);
	}
	add_given(ec, o);
	record_print(req);
	cJSON_Delete(req);
	cJSON_Delete(p);
	return 0;
}

static int cmd_transfer(int argc, char **argv)
{
	static const struct option lo[] = {
		{"weights", required_argument, NULL, 'w'},
		{"steps", required_argument, NULL, 's'},
		{"guidance", required_argument, NULL, 'g'},
		{"seed", required_argument, NULL, 'S'},
		{"fps", required_argument, NULL, 'f'},
		{"sigma-max", required_argument, NULL, 'x'},
		{"blur-strength", required_argument, NULL, 'b'},
		{"canny-threshold", required_argument, NULL, 'c'},
		{"gpus", required_argument, NULL, 'G'},
		{0, 0, 0, 0},
	};
	struct transfer_opts o = {
		.weight = {0.25, 0.25, 0.25, 0.25}, .steps = 35, .seed = 1, .fps = 24,
		.guidance = 5, .sigma_max = 70, .blur = "medium", .canny = "medium",
	};
	int c;
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'w': parse_weights(optarg, o.weight); break;
		case 's': o.steps = opt_long("--steps", optarg, 1, 1000); break;
		case 'g': o.guidance = opt_double("--guidance", optarg, 0, 30), o.guidance_given = 1; break;
		case 'S': o.seed = opt_long("--seed", optarg, 0, 2147483647L); break;
		case 'f': o.fps = opt_long("--fps", optarg, 1, 240); break;
		case 'x': o.sigma_max = opt_double("--sigma-max", optarg, 0.001, 80), o.sigma_max_given = 1; break;
		case 'b': o.blur = opt_level("--blur-strength", optarg); break;
		case 'c': o.canny = opt_level("--canny-threshold", optarg); break;
		case 'G': num_gpus = opt_long("--gpus", optarg, 1, 64); break;
		default: usage();
		}
	}
	return each_item(argc - optind, argv + optind, one_transfer, &o);
}

/* --- upscale ------------------------------------------------------------ */

struct upscale_opts {
	double weight;
	long steps;
	const char *prompt, *model;
	cJSON *params;
};

/* The output video of a completed run; NULL after reporting why not. */
static char *run_video(struct items *it, const char *id, char **prompt_id)
{
	cJSON *r = store_load(id);
	if (!r) {
		item_warn(it, "%s: %s", id, errno == ENOENT ? "no such run" : "cannot read run record");
		return NULL;
	}
	char *video = NULL;
	const char *st = jstr(r, "status");
	const char *out = jstr(jobj(r, "outputs"), "video");
	struct stat sb;
	if (!st || strcmp(st, "completed") != 0)
		item_warn(it, "%s: run is %s, not completed", id, st ? shown(st) : "without status");
	else if (!out)
		item_warn(it, "%s: run has no output video", id);
	else if (stat(out, &sb) < 0 || !S_ISREG(sb.st_mode) || access(out, R_OK) < 0)
		item_warn(it, "%s: output video %s is missing", id, shown(out));
	else {
		video = xstrdup(out);
		if (id_kind(jstr(r, "prompt_id")) == ID_PROMPT)
			*prompt_id = xstrdup(jstr(r, "prompt_id"));
	}
	cJSON_Delete(r);
	return video;
}

static char *file_video(struct items *it, const char *path)
{
	char abs[PATH_MAX];
	struct stat sb;
	if (!realpath(path, abs) || stat(abs, &sb) < 0) {
		item_warn(it, "%s: %s", shown(path), strerror(errno));
		return NULL;
	}
	if (!S_ISREG(sb.st_mode) || access(abs, R_OK) < 0) {
		item_warn(it, "%s: not a readable file", shown(path));
		return NULL;
	}
	return xstrdup(abs);
}

/* Print the upscale request for one video (from run, when run is set). */
static int emit_upscale(struct items *it, const struct upscale_opts *o, const char *run, const char *path)
{
	char *prompt_id = NULL;
	char *video = run ? run_video(it, run, &prompt_id) : file_video(it, path);
	if (!video)
		return -1;
	cJSON *req = cJSON_CreateObject();
	jset_str(req, "model_type", "upscale");
	if (prompt_id)
		jset_str(req, "prompt_id", prompt_id);
	cJSON *ec = jobj(req, "execution_config");
	jset_str(ec, "input_video_source", video);
	if (run)
		jset_str(ec, "source_run_id", run);
	jset_num(ec, "control_weight", o->weight);
	jset_num(ec, "num_steps", (double)o->steps);
	add_gpus(ec);
	if (o->prompt)
		jset_str(ec, "prompt", o->prompt);
	cJSON *spec = jobj(req, "spec");
	jset_str(spec, "input_video_path", video);
	jset_num(jobj(spec, "upscale"), "control_weight", o->weight);
	jset_num(spec, "num_steps", (double)o->steps);
	if (o->prompt)
		jset_str(spec, "prompt", o->prompt);
	if (o->model)
		jset_str(ec, "model", o->model);
	if (cJSON_GetArraySize(o->params))
		jset(spec, "parameters", cJSON_Duplicate(o->params, 1));
	record_print(req);
	cJSON_Delete(req);
	free(video);
	free(prompt_id);
	return 0;
}

/*
 * A source line is "rs_<hex>" (a run), JSON (an object with "id" (a run
 * record), "from_run" or "video"; or a string), or else a video's path.
 */
static int one_upscale(struct items *it, const char *text, void *arg)
{
	const char *run = NULL, *path = text;
	int r = -1;
	cJSON *j = NULL;
	if (strchr("{[\"", *text)) {
		const char *why = "neither a JSON object nor a string";
		j = parse_line(text, &why);
		if (cJSON_IsString(j))
			path = j->valuestring;
		else if (cJSON_IsObject(j)) {
			run = jstr(j, "from_run") ? jstr(j, "from_run") : jstr(j, "id");
			path = jstr(j, "video");
		} else {
			item_warn(it, "%s", why);
			goto out;
		}
		if (!run && !path) {
			item_warn(it, "JSON line has neither a run id (\"id\", \"from_run\") nor \"video\"");
			goto out;
		}
	}
	/* "video" in an object is always a file; a plain line may be a run. */
	if (!run && !cJSON_IsObject(j) && strncmp(path, "rs_", 3) == 0 && !strchr(path, '/'))
		run = path;
	if (run && id_kind(run) != ID_RUN)
		item_warn(it, "'%s' is not a run id (rs_ + 32 lowercase hex digits)", shown(run));
	else
		r = emit_upscale(it, arg, run, path);
out:
	cJSON_Delete(j);
	return r;
}

static int cmd_upscale(int argc, char **argv)
{
	static const struct option lo[] = {
		{"from-run", required_argument, NULL, 'r'},
		{"video", required_argument, NULL, 'v'},
		{"weight", required_argument, NULL, 'w'},
		{"prompt", required_argument, NULL, 'p'},
		{"steps", required_argument, NULL, 's'},
		{"model", required_argument, NULL, 'm'},
		{"param", required_argument, NULL, 'P'},
		{"gpus", required_argument, NULL, 'G'},
		{0, 0, 0, 0},
	};
	struct upscale_opts o = {.weight = 0.5, .steps = UPSCALE_STEPS, .params = cJSON_CreateObject()};
	const char *run = NULL, *video = NULL;
	int c;
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'r': run = optarg; break;
		case 'v': video = optarg; break;
		case 'w': o.weight = opt_double("--weight", optarg, 0, 1); break;
		case 'p': o.prompt = optarg; break;
		case 's': o.steps = opt_long("--steps", optarg, 1, 1000); break;
		case 'm': o.model = opt_model(optarg); break;
		case 'P': add_param(o.params, optarg); break;
		case 'G': num_gpus = opt_long("--gpus", optarg, 1, 64); break;
		default: usage();
		}
	}
	if (run && video)
		errx_(EX_USAGE_, "upscale: give one source, --from-run RUN_ID or --video FILE, not both");
	if (optind < argc)
		usage();
	if (o.prompt && !*o.prompt)
		errx_(EX_USAGE_, "--prompt: the text is empty (leave --prompt out for none)");
	if (!run && !video) {
		if (isatty(STDIN_FILENO))
			errx_(EX_USAGE_, "upscale: no source: give --from-run RUN_ID, --video FILE or sources on stdin");
		int rc = each_item(0, NULL, one_upscale, &o);
		cJSON_Delete(o.params);
		return rc;
	}
	struct items flag = {0};
	snprintf(flag.where, sizeof flag.where, "%s", run ? "--from-run" : "--video");
	if (run && id_kind(run) != ID_RUN) {
		item_warn(&flag, "'%s' is not a run id (rs_ + 32 lowercase hex digits)", shown(run));
		cJSON_Delete(o.params);
		return EX_SOME;
	}
	int rc = emit_upscale(&flag, &o, run, video) < 0 ? EX_SOME : EX_OK;
	cJSON_Delete(o.params);
	return rc;
}

/* --- generate ----------------------------------------------------------- */

struct generate_opts {
	const char *model, *resolution, *aspect, *negative;
	long duration;
	cJSON *params;
};

/* A prompt line: its text, or a JSON string, or an object's "prompt". */
static int one_generate(struct items *it, const char *text, void *arg)
{
	const struct generate_opts *o = arg;
	cJSON *j = NULL;
	if (*text == '{' || *text == '"') {
		const char *why = "neither a JSON object nor a string";
		j = parse_line(text, &why);
		text = cJSON_IsString(j) ? j->valuestring : jstr(j, "prompt");
		if (!text) {
			item_warn(it, "%s", j ? "JSON line has no \"prompt\"" : why);
			cJSON_Delete(j);
			return -1;
		}
	}
	if (!*text) {
		item_warn(it, "the prompt is empty");
		cJSON_Delete(j);
		return -1;
	}
	cJSON *req = cJSON_CreateObject();
	jset_str(req, "model_type", "generate");
	cJSON *ec = jobj(req, "execution_config"), *spec = jobj(req, "spec");
	jset_str(ec, "prompt", text);
	jset_str(spec, "prompt", text);
	if (o->model)
		jset_str(ec, "model", o->model);
	if (o->negative)
		jset_str(spec, "negative_prompt", o->negative);
	if (o->resolution)
		jset_str(spec, "resolution", o->resolution), jset_str(ec, "resolution", o->resolution);
	if (o->aspect)
		jset_str(spec, "aspect_ratio", o->aspect), jset_str(ec, "aspect_ratio", o->aspect);
	if (o->duration)
		jset_num(spec, "duration_seconds", (double)o->duration), jset_num(ec, "duration_seconds", (double)o->duration);
	if (cJSON_GetArraySize(o->params))
		jset(spec, "parameters", cJSON_Duplicate(o->params, 1));
	record_print(req);
	cJSON_Delete(req);
	cJSON_Delete(j);
	return 0;
}

static int cmd_generate(int argc, char **argv)
{
	static const struct option lo[] = {
		{"model", required_argument, NULL, 'm'},
		{"resolution", required_argument, NULL, 'r'},
		{"aspect", required_argument, NULL, 'a'},
		{"duration", required_argument, NULL, 'd'},
		{"negative", required_argument, NULL, 'n'},
		{"param", required_argument, NULL, 'P'},
		{0, 0, 0, 0},
	};
	struct generate_opts o = {.params = cJSON_CreateObject()};
	int c;
	unsigned w, h;
	char end;
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'm': o.model = opt_model(optarg); break;
		case 'r':
			if (strcmp(optarg, "720p") && strcmp(optarg, "1080p") && strcmp(optarg, "4k"))
				errx_(EX_USAGE_, "--resolution: '%s' is not 720p, 1080p or 4k", shown(optarg));
			o.resolution = optarg;
			break;
		case 'a':
			if (sscanf(optarg, "%u:%u%c", &w, &h, &end) != 2 || !w || !h || w > 100 || h > 100)
				errx_(EX_USAGE_, "--aspect: '%s' is not W:H (such as 16:9)", shown(optarg));
			o.aspect = optarg;
			break;
		case 'd': o.duration = opt_long("--duration", optarg, 1, 600); break;
		case 'n': o.negative = optarg; break;
		case 'P': add_param(o.params, optarg); break;
		default: usage();
		}
	}
	int rc = each_item(argc - optind, argv + optind, one_generate, &o);
	cJSON_Delete(o.params);
	return rc;
}

/* --- enhance ------------------------------------------------------------ */

struct enhance_opts {
	const char *model;
	int create_new;
};

static int one_enhance(struct items *it, const char *text, void *arg)
{
	const struct enhance_opts *o = arg;
	cJSON *p = load_prompt(it, text);
	if (!p)
		return -1;
	const char *ptext = jstr(p, "prompt_text"), *video = jstr(jobj(p, "inputs"), "video");
	if (!ptext || !video) {
		item_warn(it, "%s: prompt record lacks prompt_text or inputs.video", jstr(p, "id"));
		cJSON_Delete(p);
		return -1;
	}
	cJSON *req = cJSON_CreateObject();
	jset_str(req, "model_type", "enhance");
	jset_str(req, "prompt_id", jstr(p, "id"));
	cJSON *ec = jobj(req, "execution_config");
	jset_str(ec, "model", o->model);
	jset(ec, "create_new", cJSON_CreateBool(o->create_new));
	add_gpus(ec);
	jset_str(ec, "original_prompt", ptext);
	cJSON *item = cJSON_CreateObject();
	jset_str(item, "name", jstr(p, "id"));
	jset_str(item, "prompt", ptext);
	jset_str(item, "video_path", video);
	cJSON *list = cJSON_CreateArray();
	cJSON_AddItemToArray(list, item);
	jset(req, "spec", list);
	record_print(req);
	cJSON_Delete(req);
	cJSON_Delete(p);
	return 0;
}

static int cmd_enhance(int argc, char **argv)
{
	static const struct option lo[] = {
		{"model", required_argument, NULL, 'm'},
		{"create-new", no_argument, NULL, 'c'},
		{"gpus", required_argument, NULL, 'G'},
		{0, 0, 0, 0},
	};
	struct enhance_opts o = {.model = "pixtral"};
	int c;
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		if (c == 'm') {
			if (strcmp(optarg, "pixtral") != 0)
				errx_(EX_USAGE_, "--model: '%s' is not a known prompt upsampler (pixtral)", shown(optarg));
			o.model = optarg;
		} else if (c == 'c')
			o.create_new = 1;
		else if (c == 'G')
			num_gpus = opt_long("--gpus", optarg, 1, 64);
		else
			usage();
	}
	return each_item(argc - optind, argv + optind, one_enhance, &o);
}

int main(int argc, char **argv)
{
	progname = "cosmos-spec";
	std_options(argc > 1 ? argv[1] : NULL, usage_text);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc < 2)
		usage();
	if (argc > 2 && (!strcmp(argv[2], "--help") || !strcmp(argv[2], "-h")))
		std_options(argv[2], usage_text); /* cosmos-spec CMD --help */
	static const struct {
		const char *name;
		int (*fn)(int, char **);
	} cmds[] = {
		{"prompt", cmd_prompt}, {"transfer", cmd_transfer},
		{"upscale", cmd_upscale}, {"enhance", cmd_enhance}, {"generate", cmd_generate},
	};
	/* A store that cannot be read fails the whole run, not each item. */
	if (strcmp(argv[1], "prompt") != 0 && store_open(0) < 0)
		err_(EX_STORE, "%s", store_root());
	for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
		if (strcmp(argv[1], cmds[i].name) == 0) {
			int rc = cmds[i].fn(argc - 1, argv + 1);
			finish_stdout();
			return rc;
		}
	}
	usage();
}
