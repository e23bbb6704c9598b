/*
 * cosmos-gallery - write a static page of the runs read on stdin.
 *
 *	cosmos-manifest [filters] | cosmos-gallery [--out DIR]
 *
 * DIR (default $COSMOS_DIR/gallery) gets index.html, posters/ID.jpg and
 * videos/ID.mp4 (and videos/ID_control_KEY.mp4 for the controls a
 * Transfer2.5 run kept); the path of index.html is printed.  The page is
 * the template share/cosmos/gallery/index.html with the runs' data put in
 * its place; its script draws the cards (an upscale beside its source,
 * a run's controls beside its result, a batch as one group) from that
 * data alone.
 *
 * Invariants:
 *  - Self-contained: no server, no network.  Videos are hard links (else
 *    symbolic links) into DIR, posters are made once per video (ffmpeg,
 *    no shell), every path in the page is relative.
 *  - Record text reaches the page only as JSON data, with '<', '>' and
 *    '&' escaped, and the page's script sets it as text, never as HTML.
 *  - A file beside a run's video is read only when outputs.files names
 *    it, and only by a name of ours (output.txt, output_control_KEY.mp4
 *    for upstream's four keys): never one with '/' or a leading '.'.
 *  - The page is written under a hidden name and renamed into place.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "finish.h"
#include "input.h"
#include "local.h"
#include "record.h"
#include "remote.h"
#include "shell.h"
#include "store.h"
#include "util.h"

static const char usage_text[] = "usage: cosmos-gallery [--out DIR] < records\n";

static _Noreturn void usage(void)
{
	fputs(usage_text, stderr);
	exit(EX_USAGE_);
}

static void make_dir(const char *d)
{
	if (mkdir(d, 0755) < 0 && errno != EEXIST)
		err_(EX_STORE, "%s", d);
}

/* The video linked into DIR/videos/NAME.mp4 (its path under DIR), or NULL. */
static char *link_video(const char *out, const char *name, const char *video)
{
	struct stat a, b;
	if (stat(video, &a) < 0 || !S_ISREG(a.st_mode))
		return NULL;
	char *rel = xasprintf("videos/%s.mp4", name), *path = xasprintf("%s/%s", out, rel);
	if (stat(path, &b) < 0 || a.st_ino != b.st_ino || a.st_dev != b.st_dev) {
		char *tmp = part_name(path);
		unlink(tmp);
		if ((link(video, tmp) < 0 && symlink(video, tmp) < 0) || rename(tmp, path) < 0) {
			warn_("%s", path);
			unlink(tmp);
			free(rel);
			rel = NULL;
		}
		free(tmp);
	}
	free(path);
	return rel;
}

/* A poster for the video, made once (DIR/posters/ID.jpg), or NULL. */
static char *make_poster(const char *out, const char *id, const char *video)
{
	char *rel = xasprintf("posters/%s.jpg", id), *path = xasprintf("%s/%s", out, rel);
	struct stat v, p;
	if (stat(path, &p) == 0 && stat(video, &v) == 0 && p.st_mtime >= v.st_mtime) {
		free(path);
		return rel;
	}
	char *tmp = xasprintf("%s.part%ld.jpg", path, (long)getpid());
	struct sbuf cmd = {0};
	unlink(tmp);
	/* A frame a little in; for a clip shorter than that, its first. */
	static const char *const seek[] = {" -ss 0.3", ""};
	for (int i = 0; i < 2 && (stat(tmp, &p) < 0 || !p.st_size); i++) {
		cmd.len = 0;
		sb_printf(&cmd, "exec ffmpeg -nostdin -loglevel error -y%s -i ", seek[i]);
		sb_quote(&cmd, video);
		sb_puts(&cmd, " -frames:v 1 -vf scale=480:-2 -q:v 5 ");
		sb_quote(&cmd, tmp);
		local_exec(cmd.s, NULL, 0, NULL, NULL);
	}
	if (stat(tmp, &p) < 0 || !p.st_size || rename(tmp, path) < 0) {
		unlink(tmp);
		free(rel);
		rel = NULL;
	}
	sb_free(&cmd);
	free(tmp);
	free(path);
	return rel;
}

/* The prompt text a run was made from, or NULL. */
static const char *prompt_of(const cJSON *rec, cJSON *prompts)
{
	const cJSON *ec = jget(rec, "execution_config");
	const char *p = jstr(ec, "prompt"), *pid = jstr(rec, "prompt_id");
	if (p)
		return p;
	if (id_kind(pid) != ID_PROMPT)
		return NULL;
	cJSON *known = cJSON_GetObjectItemCaseSensitive(prompts, pid);
	if (!known) {
		cJSON *pr = store_load(pid);
		known = cJSON_CreateString(jstr(pr, "prompt_text") ? jstr(pr, "prompt_text") : "");
		cJSON_AddItemToObject(prompts, pid, known);
		cJSON_Delete(pr);
	}
	return *known->valuestring ? known->valuestring : NULL;
}

static void copy_str(cJSON *to, const char *key, const char *v)
{
	if (v)
		jset_str(to, key, v);
}

/* The keys of the controls Cosmos-Transfer2.5 computes, in its order. */
static const char *const control_keys[] = {"edge", "vis", "depth", "seg", NULL};

/* The path of NAME beside the run's video when the record's outputs.files
 * names it, else NULL.  Only a plain name: none with '/' or a leading '.'. */
static char *find_output(const cJSON *o, const char *video, const char *name)
{
	const char *slash = strrchr(video, '/');
	if (!slash || strchr(name, '/') || *name == '.' || !*name
	    || !cJSON_GetObjectItemCaseSensitive(jget(o, "files"), name))
		return NULL;
	return xasprintf("%.*s/%s", (int)(slash - video), video, name);
}

/* At most this much of the prompt text upstream used is shown. */
#define PROMPT_USED_MAX 8192

/* The text of a regular file, its first PROMPT_USED_MAX bytes up to a NUL
 * (a UTF-8 sequence the cut broke left out, and "…" after a cut), or NULL. */
static char *read_text(const char *path)
{
	static const char more[] = "\u2026";
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	struct stat st;
	if (fd < 0)
		return NULL;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return NULL;
	}
	char *s = xmalloc(PROMPT_USED_MAX + sizeof more);
	size_t n = 0;
	while (n < PROMPT_USED_MAX) {
		ssize_t k = read(fd, s + n, PROMPT_USED_MAX - n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0) {
			close(fd);
			free(s);
			return NULL;
		}
		if (k == 0)
			break;
		n += (size_t)k;
	}
	close(fd);
	s[n] = '\0';
	if (strlen(s) < n || st.st_size <= (off_t)n)
		return s;
	/* Cut: back to the start of a sequence the cut broke. */
	size_t lead = n;
	while (lead > 0 && n - lead < 3 && ((unsigned char)s[lead - 1] & 0xC0) == 0x80)
		lead--;
	if (lead > 0 && (unsigned char)s[lead - 1] >= 0xC0) {
		unsigned char c = (unsigned char)s[lead - 1];
		size_t len = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
		if (n - (lead - 1) < len)
			n = lead - 1;
	}
	memcpy(s + n, more, sizeof more);
	return s;
}

/* The controls a run kept, linked beside its video, and the prompt text
 * upstream used, into its entry. */
static void add_extras(cJSON *e, const cJSON *o, const char *out, const char *id, const char *video)
{
	cJSON *controls = cJSON_CreateArray();
	for (int i = 0; control_keys[i]; i++) {
		char *name = xasprintf("output_control_%s.mp4", control_keys[i]);
		char *path = find_output(o, video, name), *link = NULL;
		if (path) {
			char *as = xasprintf("%s_control_%s", id, control_keys[i]);
			link = link_video(out, as, path);
			free(as);
		}
		if (link) {
			cJSON *c = cJSON_CreateObject();
			jset_str(c, "key", control_keys[i]);
			jset_str(c, "video", link);
			cJSON_AddItemToArray(controls, c);
		}
		free(link);
		free(path);
		free(name);
	}
	if (cJSON_GetArraySize(controls))
		jset(e, "controls", controls);
	else
		cJSON_Delete(controls);
	char *path = find_output(o, video, "output.txt"), *text = path ? read_text(path) : NULL;
	copy_str(e, "prompt_used", text);
	free(text);
	free(path);
}

/*
 * An upscale of a file (--video FILE, no source run): the file as its
 * original, linked beside the videos with its ffprobe facts, while it is
 * readable; else "original_missing" names it, for the card to say so.
 */
static void add_original(cJSON *e, const cJSON *rec, const char *out, const char *id)
{
	const cJSON *ec = jget(rec, "execution_config");
	const char *file = jstr(ec, "input_video_source");
	if (strcmp(jstr(rec, "model_type") ? jstr(rec, "model_type") : "", "upscale") || jstr(ec, "source_run_id") || !file)
		return;
	char *as = xasprintf("%s_original", id), *link = access(file, R_OK) == 0 ? link_video(out, as, file) : NULL;
	if (link) {
		const char *slash = strrchr(file, '/');
		cJSON *o = cJSON_CreateObject();
		jset_str(o, "id", slash ? slash + 1 : file);
		jset_str(o, "type", "original");
		jset_str(o, "status", "file");
		jset_str(o, "video", link);
		finish_probe_video(file, o);
		jset(e, "original", o);
	} else
		jset_str(e, "original_missing", file);
	free(link);
	free(as);
}

/* What the page needs of one run. */
static cJSON *entry(const cJSON *rec, const char *out, cJSON *prompts)
{
	const cJSON *ec = jget(rec, "execution_config"), *o = jget(rec, "outputs");
	const char *id = jstr(rec, "id"), *video = jstr(o, "video");
	cJSON *e = cJSON_CreateObject();
	jset_str(e, "id", id);
	copy_str(e, "type", jstr(rec, "model_type"));
	copy_str(e, "status", jstr(rec, "status"));
	copy_str(e, "host", jstr(rec, "host"));
	copy_str(e, "backend", jstr(rec, "backend"));
	copy_str(e, "created", jstr(rec, "created_at"));
	copy_str(e, "reason", jstr(rec, "reason"));
	copy_str(e, "prompt", prompt_of(rec, prompts));
	copy_str(e, "source", jstr(ec, "source_run_id"));
	copy_str(e, "batch", jstr(ec, "batch_run_id"));
	if (cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(ec, "batch_index")))
		jset_num(e, "index", jnum(ec, "batch_index", 0));
	const cJSON *kids = cJSON_GetObjectItemCaseSensitive(ec, "child_run_ids");
	if (cJSON_IsArray(kids))
		jset(e, "children", cJSON_Duplicate(kids, 1));
	static const char *const facts[] = {"width", "height", "duration", "fps", NULL};
	for (int i = 0; facts[i]; i++)
		if (cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(o, facts[i])))
			jset_num(e, facts[i], jnum(o, facts[i], 0));
	copy_str(e, "codec", jstr(o, "codec"));
	char *v = video ? link_video(out, id, video) : NULL, *p = v ? make_poster(out, id, video) : NULL;
	copy_str(e, "video", v);
	copy_str(e, "poster", p);
	if (v) {
		add_extras(e, o, out, id, video);
		add_original(e, rec, out, id);
	}
	free(v);
	free(p);
	return e;
}

static int by_string(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* JSON for a <script> element: no '<', '>' or '&' left to end it. */
static void put_json(FILE *f, const char *s)
{
	for (; *s; s++) {
		if (*s == '<')
			fputs("\\u003c", f);
		else if (*s == '>')
			fputs("\\u003e", f);
		else if (*s == '&')
			fputs("\\u0026", f);
		else
			putc(*s, f);
	}
}

/* The template with the data in place of its marker, into out/index.html. */
static char *write_page(const char *out, const cJSON *data)
{
	char *tpl_path = xasprintf("%s/gallery/index.html", share_dir());
	FILE *tpl = fopen(tpl_path, "re");
	if (!tpl)
		err_(EX_STORE, "%s", tpl_path);
	char *page = xasprintf("%s/index.html", out), *tmp = part_name(page);
	FILE *f = fopen(tmp, "we");
	if (!f)
		err_(EX_STORE, "%s", tmp);
	char *line = NULL, *json = cJSON_PrintUnformatted(data);
	size_t cap = 0;
	while (getline(&line, &cap, tpl) > 0) {
		if (strstr(line, "<!--cosmos:data-->")) {
			fputs("<script id=\"runs\" type=\"application/json\">", f);
			put_json(f, json);
			fputs("</script>\n", f);
		} else
			fputs(line, f);
	}
	if (ferror(tpl) || fflush(f) != 0 || fsync(fileno(f)) < 0 || fclose(f) != 0 || rename(tmp, page) < 0)
		err_(EX_STORE, "%s", page);
	fclose(tpl);
	cJSON_free(json);
	free(line);
	free(tmp);
	free(tpl_path);
	return page;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{"out", required_argument, NULL, 'o'},
		{0, 0, 0, 0},
	};
	const char *out = NULL;
	int c;
	progname = "cosmos-gallery";
	std_options(argc > 1 ? argv[1] : NULL, usage_text);
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		if (c == 'o')
			out = optarg;
		else
			usage();
	}
	if (optind < argc)
		usage();
	if (store_open(0) < 0)
		err_(EX_STORE, "%s", store_root());
	char *dir = out ? xstrdup(out) : xasprintf("%s/gallery", store_root());
	char *sub = NULL;
	make_dir(dir);
	make_dir(sub = xasprintf("%s/videos", dir));
	free(sub);
	make_dir(sub = xasprintf("%s/posters", dir));
	free(sub);

	struct items it;
	if (items_init(&it, 0, NULL) < 0)
		errx_(EX_USAGE_, "no records: pipe cosmos-manifest into it");
	cJSON *data = cJSON_CreateObject(), *runs = cJSON_CreateArray(), *prompts = cJSON_CreateObject();
	char ts[TIMESTAMP_LEN];
	timestamp_now(ts);
	jset_str(data, "made", ts);
	const char *line;
	int bad = 0;
	while ((line = items_next(&it))) {
		const char *why = "not a JSON object";
		cJSON *rec = parse_line(line, &why);
		if (!cJSON_IsObject(rec) || id_kind(jstr(rec, "id")) != ID_RUN) {
			if (!cJSON_IsObject(rec) || id_kind(jstr(rec, "id")) != ID_PROMPT) {
				item_warn(&it, "%s", cJSON_IsObject(rec) ? "not a run record" : why);
				bad++;
			}
			cJSON_Delete(rec);
			continue;
		}
		cJSON_AddItemToArray(runs, entry(rec, dir, prompts));
		cJSON_Delete(rec);
	}
	/* A source or batch parent the selection left out, for the cards. */
	int n = cJSON_GetArraySize(runs), nids = 0;
	const char **ids = xmalloc((size_t)(n + 1) * sizeof *ids);
	const cJSON *e;
	cJSON_ArrayForEach(e, runs)
		ids[nids++] = jstr(e, "id");
	qsort(ids, (size_t)nids, sizeof *ids, by_string);
	for (int i = 0; i < n; i++) {
		e = cJSON_GetArrayItem(runs, i);
		const char *want[] = {jstr(e, "source"), jstr(e, "batch")};
		for (int k = 0; k < 2; k++) {
			cJSON *rec = want[k] && !bsearch(&want[k], ids, (size_t)nids, sizeof *ids, by_string)
			    ? store_load(want[k]) : NULL;
			if (rec) {
				cJSON *x = entry(rec, dir, prompts);
				jset(x, "extra", cJSON_CreateTrue());
				cJSON_AddItemToArray(runs, x);
			}
			cJSON_Delete(rec);
		}
	}
	free(ids);
	jset(data, "runs", runs);
	char *page = write_page(dir, data);
	printf("%s\n", page);
	free(page);
	free(dir);
	cJSON_Delete(data);
	cJSON_Delete(prompts);
	bad += it.errors;
	items_free(&it);
	finish_stdout();
	return bad ? EX_SOME : EX_OK;
}
