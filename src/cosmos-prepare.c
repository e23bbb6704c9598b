/*
 * cosmos-prepare - turn rendered frame sequences into a prompt's videos.
 *
 *	cosmos-prepare [--name N] [--fps F] [--out DIR] [--prompt TEXT [--negative T]]
 *	    [--dry-run] FRAMES_DIR
 *
 * FRAMES_DIR holds MODALITY.FRAME.EXT or MODALITY_FRAME.EXT (PNG, JPEG,
 * EXR; frame numbers of any zero padding).  Each modality becomes
 * OUT/NAME_YYYYmmdd_HHMMSS/MODALITY.mp4 (H.264, yuv420p) beside a
 * metadata.json; one JSON line says what was made, or with --prompt the
 * prompt record stored for it, as cosmos-spec prompt prints it.
 *
 * Invariants:
 *  - Every frame is checked (name, gaps, ranges, format, size, a whole
 *    PNG or JPEG file) before anything is written; a refusal is one line
 *    naming the file or modality, and writes nothing.
 *  - ffmpeg is run with an argv, never through a shell.  It reads each
 *    modality through symlinks 00000000.EXT... made in the output, so the
 *    frame list is exactly the one checked, whatever the names' padding.
 *  - The output is built in a hidden OUT/.NAME_STAMP.partPID and renamed
 *    into place with RENAME_NOREPLACE when whole: a visible directory is
 *    always finished, and an existing one is never replaced.
 *  - Odd sizes are cropped to even (the last column or row), the same for
 *    every modality, so the videos stay aligned pixel for pixel.
 *  - stdout carries one JSON line and nothing else; the progress line goes
 *    to a terminal's stderr only.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "progress.h"
#include "record.h"
#include "store.h"
#include "util.h"

static const char usage_text[] =
    "usage: cosmos-prepare [--name N] [--fps F] [--out DIR] [--prompt TEXT [--negative T]]\n"
    "           [--dry-run] FRAMES_DIR\n";

enum { M_COLOR, M_DEPTH, M_SEG, M_VIS, M_EDGE, NMOD };
/* The output's names; "seg" is read as segmentation. */
static const char *const modality[NMOD] = {"color", "depth", "segmentation", "vis", "edge"};

enum fmt { F_PNG, F_JPEG, F_EXR };
static const char *const fmt_name[] = {"PNG", "JPEG", "EXR"};

struct frame {
	long n;
	int digits; /* as written in the name, for messages */
	enum fmt fmt;
	char *file;
};

struct seq {
	struct frame *v;
	size_t n, cap;
};

/* Names of unknown modalities, each warned about once. */
struct unknown {
	char *name;
	size_t frames;
};

static struct seq seqs[NMOD];
static struct unknown *unknowns;
static size_t n_unknowns;

/* The hidden output, removed when a signal or a failure ends us. */
static char *part_dir;
static volatile sig_atomic_t child_pid, got_signal;

static _Noreturn void usage(void)
{
	fputs(usage_text, stderr);
	exit(EX_USAGE_);
}

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void remove_part(void)
{
	if (part_dir)
		nftw(part_dir, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* A fatal error after the part directory exists: take it away first. */
static _Noreturn void die(int code, const char *msg, const char *detail)
{
	remove_part();
	if (detail)
		errx_(code, "%s: %s", msg, detail);
	errx_(code, "%s", msg);
}

static void on_signal(int sig)
{
	got_signal = sig;
	if (child_pid > 0)
		kill((pid_t)child_pid, SIGTERM);
}

/* Leave the way the signal asked, with nothing half made. */
static void check_signal(void)
{
	if (!got_signal)
		return;
	remove_part();
	signal(got_signal, SIG_DFL);
	raise(got_signal);
	_exit(128 + got_signal);
}

static enum fmt *ext_fmt(const char *ext, enum fmt *f)
{
	if (!strcasecmp(ext, "png"))
		*f = F_PNG;
	else if (!strcasecmp(ext, "jpg") || !strcasecmp(ext, "jpeg"))
		*f = F_JPEG;
	else if (!strcasecmp(ext, "exr"))
		*f = F_EXR;
	else
		return NULL;
	return f;
}

/*
 * Split "depth.0042.png" or "depth_42.jpg" into its modality (a new
 * string), frame number, padding and format; NULL for any other name.
 */
static char *split_name(const char *name, long *n, int *digits, enum fmt *f)
{
	const char *dot = strrchr(name, '.');
	if (!dot || dot == name || !ext_fmt(dot + 1, f))
		return NULL;
	const char *d = dot;
	while (d > name && d[-1] >= '0' && d[-1] <= '9')
		d--;
	int k = (int)(dot - d);
	if (k == 0 || k > 9 || d - name < 2 || (d[-1] != '.' && d[-1] != '_'))
		return NULL;
	*digits = k;
	*n = strtol(d, NULL, 10);
	return xasprintf("%.*s", (int)(d - 1 - name), name);
}

static int modality_index(const char *m)
{
	if (!strcmp(m, "seg"))
		return M_SEG;
	for (int i = 0; i < NMOD; i++)
		if (!strcmp(m, modality[i]))
			return i;
	return -1;
}

static void note_unknown(const char *m)
{
	for (size_t i = 0; i < n_unknowns; i++)
		if (!strcmp(unknowns[i].name, m)) {
			unknowns[i].frames++;
			return;
		}
	unknowns = xrealloc(unknowns, (n_unknowns + 1) * sizeof *unknowns);
	unknowns[n_unknowns].name = xstrdup(m);
	unknowns[n_unknowns++].frames = 1;
}

static void add_frame(struct seq *s, long n, int digits, enum fmt f, const char *file)
{
	if (s->n == s->cap) {
		s->cap = s->cap ? 2 * s->cap : 64;
		s->v = xrealloc(s->v, s->cap * sizeof *s->v);
	}
	s->v[s->n++] = (struct frame){n, digits, f, xstrdup(file)};
}

static int by_number(const void *a, const void *b)
{
	const struct frame *x = a, *y = b;
	return (x->n > y->n) - (x->n < y->n);
}

/* Read the directory's frames into seqs, warning about unknown modalities. */
static void scan_frames(int dfd, const char *dir)
{
	DIR *d = fdopendir(fcntl(dfd, F_DUPFD_CLOEXEC, 0));
	if (!d)
		err_(EX_SOME, "%s", shown(dir));
	struct dirent *e;
	while ((e = readdir(d))) {
		long n;
		int digits;
		enum fmt f;
		struct stat st;
		if (e->d_name[0] == '.' || fstatat(dfd, e->d_name, &st, 0) < 0 || !S_ISREG(st.st_mode))
			continue;
		char *m = split_name(e->d_name, &n, &digits, &f);
		if (!m)
			continue;
		int i = modality_index(m);
		if (i < 0)
			note_unknown(m);
		else
			add_frame(&seqs[i], n, digits, f, e->d_name);
		free(m);
	}
	closedir(d);
	for (size_t i = 0; i < n_unknowns; i++)
		warnx_("%s: not a modality (color, depth, segmentation, seg, vis, edge); its %zu frame%s left out",
		    shown(unknowns[i].name), unknowns[i].frames, unknowns[i].frames == 1 ? " is" : "s are");
	for (int i = 0; i < NMOD; i++)
		if (seqs[i].n > 1) /* an empty one has no array to sort */
			qsort(seqs[i].v, seqs[i].n, sizeof *seqs[i].v, by_number);
}

/* Each sequence whole: no number twice, no gap, one format. */
static void check_sequences(const char *dir)
{
	if (!seqs[M_COLOR].n)
		errx_(EX_SOME, "%s: no color frames (color.FRAME.png or color_FRAME.png)", shown(dir));
	for (int m = 0; m < NMOD; m++) {
		const struct seq *s = &seqs[m];
		for (size_t i = 1; i < s->n; i++) {
			const struct frame *a = &s->v[i - 1], *b = &s->v[i];
			if (a->n == b->n)
				errx_(EX_SOME, "%s: frame %ld twice: %s and %s", modality[m], b->n, shown(a->file),
				    shown(b->file));
			if (b->n != a->n + 1)
				errx_(EX_SOME, "%s: frame %0*ld missing", modality[m], a->digits, a->n + 1);
			if (b->fmt != s->v[0].fmt)
				errx_(EX_SOME, "%s: a %s among %s's %s frames", shown(b->file), fmt_name[b->fmt],
				    modality[m], fmt_name[s->v[0].fmt]);
		}
	}
	const struct seq *c = &seqs[M_COLOR];
	for (int m = 1; m < NMOD; m++) {
		const struct seq *s = &seqs[m];
		if (s->n && (s->v[0].n != c->v[0].n || s->v[s->n - 1].n != c->v[c->n - 1].n))
			errx_(EX_SOME, "%s: frames %0*ld to %0*ld, but color has %0*ld to %0*ld", modality[m],
			    s->v[0].digits, s->v[0].n, s->v[s->n - 1].digits, s->v[s->n - 1].n,
			    c->v[0].digits, c->v[0].n, c->v[c->n - 1].digits, c->v[c->n - 1].n);
	}
}

static uint32_t be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint32_t le32(const unsigned char *p)
{
	return (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}

/* A PNG's size, and every chunk inside the file up to IEND. */
static const char *png_size(int fd, off_t size, long *w, long *h)
{
	unsigned char b[24];
	if (pread(fd, b, 24, 0) != 24 || memcmp(b, "\x89PNG\r\n\x1a\n", 8) || memcmp(b + 12, "IHDR", 4))
		return "not a PNG file";
	*w = (long)be32(b + 16);
	*h = (long)be32(b + 20);
	for (off_t at = 8;;) {
		if (pread(fd, b, 8, at) != 8)
			return "truncated PNG (no IEND chunk)";
		at += 12 + (off_t)be32(b);
		if (at > size)
			return "truncated PNG (a chunk runs past the end)";
		if (!memcmp(b + 4, "IEND", 4))
			return NULL;
	}
}

/* A JPEG's size from its SOF marker; the file must end with EOI. */
static const char *jpeg_size(int fd, off_t size, long *w, long *h)
{
	unsigned char b[9];
	if (pread(fd, b, 2, 0) != 2 || b[0] != 0xff || b[1] != 0xd8)
		return "not a JPEG file";
	for (off_t at = 2;;) {
		if (pread(fd, b, 4, at) != 4 || b[0] != 0xff)
			return "truncated or damaged JPEG";
		if (b[1] == 0xff) { /* fill byte */
			at++;
			continue;
		}
		if ((b[1] >= 0xd0 && b[1] <= 0xd7) || b[1] == 0x01) { /* no length */
			at += 2;
			continue;
		}
		int sof = b[1] >= 0xc0 && b[1] <= 0xcf && b[1] != 0xc4 && b[1] != 0xc8 && b[1] != 0xcc;
		if (sof) {
			if (pread(fd, b, 9, at) != 9)
				return "truncated JPEG";
			*h = (long)(b[5] << 8 | b[6]);
			*w = (long)(b[7] << 8 | b[8]);
			break;
		}
		if (b[1] == 0xd9 || b[1] == 0xda)
			return "a JPEG without a frame header";
		at += 2 + (b[2] << 8 | b[3]);
	}
	unsigned char tail[2];
	if (size < 4 || pread(fd, tail, 2, size - 2) != 2 || tail[0] != 0xff || tail[1] != 0xd9)
		return "truncated JPEG (no end marker)";
	return NULL;
}

/* An OpenEXR's size from its header's dataWindow. */
static const char *exr_size(int fd, long *w, long *h)
{
	static unsigned char b[65536];
	ssize_t n = pread(fd, b, sizeof b, 0);
	if (n < 8 || memcmp(b, "\x76\x2f\x31\x01", 4))
		return "not an EXR file";
	for (size_t at = 8; at < (size_t)n && b[at];) {
		const char *name = (const char *)b + at;
		size_t nl = strnlen(name, (size_t)n - at);
		if (at + nl >= (size_t)n)
			break;
		size_t tl = at + nl + 1 < (size_t)n ? strnlen((const char *)b + at + nl + 1, (size_t)n - at - nl - 1) : 0;
		size_t v = at + nl + 1 + tl + 1;
		if (v + 4 > (size_t)n)
			break;
		uint32_t len = le32(b + v);
		if (!strcmp(name, "dataWindow") && len == 16 && v + 20 <= (size_t)n) {
			*w = (long)(int32_t)le32(b + v + 12) - (long)(int32_t)le32(b + v + 4) + 1;
			*h = (long)(int32_t)le32(b + v + 16) - (long)(int32_t)le32(b + v + 8) + 1;
			return NULL;
		}
		at = v + 4 + len;
	}
	return "an EXR header without dataWindow";
}

/* The size of one frame, or why it cannot be read. */
static const char *frame_size(int dfd, const struct frame *f, long *w, long *h)
{
	int fd = openat(dfd, f->file, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0) {
		const char *why = strerror(errno);
		if (fd >= 0)
			close(fd);
		return why;
	}
	const char *why = f->fmt == F_PNG ? png_size(fd, st.st_size, w, h)
	                  : f->fmt == F_JPEG ? jpeg_size(fd, st.st_size, w, h)
	                                     : exr_size(fd, w, h);
	close(fd);
	return why;
}

/* Every frame readable and of color's first frame's size; that size. */
static void check_frames(int dfd, long *width, long *height)
{
	const struct frame *ref = &seqs[M_COLOR].v[0];
	for (int m = 0; m < NMOD; m++) {
		for (size_t i = 0; i < seqs[m].n; i++) {
			const struct frame *f = &seqs[m].v[i];
			long w = 0, h = 0;
			const char *why = frame_size(dfd, f, &w, &h);
			if (why)
				errx_(EX_SOME, "%s: unreadable frame: %s", shown(f->file), why);
			if (f == ref) {
				if (w < 2 || h < 2 || w > 16384 || h > 16384)
					errx_(EX_SOME, "%s: %ldx%ld: not a video size (2x2 to 16384x16384)",
					    shown(f->file), w, h);
				*width = w;
				*height = h;
			} else if (w != *width || h != *height)
				errx_(EX_SOME, "%s: %ldx%ld, but %s is %ldx%ld", shown(f->file), w, h,
				    shown(ref->file), *width, *height);
		}
	}
}

/* The text, with every '%' doubled: a literal in an image2 pattern. */
static char *pattern_escape(const char *s)
{
	char *out = xmalloc(2 * strlen(s) + 1), *o = out;
	for (; *s; s++) {
		if (*s == '%')
			*o++ = '%';
		*o++ = *s;
	}
	*o = '\0';
	return out;
}

/* PART/.frames-MODALITY/00000000.EXT -> the frames, in order; the pattern. */
static char *link_frames(const char *src, int m)
{
	static const char *const ext[] = {"png", "jpg", "exr"};
	const struct seq *s = &seqs[m];
	char *dir = xasprintf("%s/.frames-%s", part_dir, modality[m]);
	if (mkdir(dir, 0700) < 0)
		die(EX_STORE, dir, strerror(errno));
	for (size_t i = 0; i < s->n; i++) {
		char *to = xasprintf("%s/%s", src, s->v[i].file);
		char *at = xasprintf("%s/%08zu.%s", dir, i, ext[s->v[0].fmt]);
		if (symlink(to, at) < 0)
			die(EX_STORE, at, strerror(errno));
		free(to);
		free(at);
	}
	char *esc = pattern_escape(dir);
	char *pat = xasprintf("%s/%%08d.%s", esc, ext[s->v[0].fmt]);
	free(esc);
	free(dir);
	return pat;
}

/* The last line ffmpeg wrote to its log, for a failure's message. */
static char *last_line(const char *path)
{
	FILE *f = fopen(path, "re");
	char line[512], last[512] = "";
	while (f && fgets(line, sizeof line, f))
		if (line[0] != '\n')
			memcpy(last, line, sizeof last);
	if (f)
		fclose(f);
	last[strcspn(last, "\n")] = '\0';
	return xstrdup(*last ? last : "no message");
}

/*
 * Encode one modality with ffmpeg (an argv, no shell), reading its
 * progress lines to draw ours; done counts frames finished before it.
 */
static void encode(const char *src, int m, const char *fps, long w, long h, size_t done, size_t total)
{
	check_signal();
	char *pat = link_frames(src, m);
	char *out = xasprintf("%s/%s.mp4", part_dir, modality[m]);
	char *log = xasprintf("%s/.ffmpeg-%s.log", part_dir, modality[m]);
	char *crop = xasprintf("crop=%ld:%ld:0:0", w & ~1L, h & ~1L);
	char *argv[40];
	int a = 0;
	argv[a++] = "ffmpeg";
	argv[a++] = "-nostdin";
	argv[a++] = "-hide_banner";
	argv[a++] = "-nostats";
	argv[a++] = "-loglevel";
	argv[a++] = "error";
	argv[a++] = "-xerror";
	argv[a++] = "-framerate";
	argv[a++] = (char *)fps;
	argv[a++] = "-start_number";
	argv[a++] = "0";
	argv[a++] = "-i";
	argv[a++] = pat;
	if ((w | h) & 1) {
		argv[a++] = "-vf";
		argv[a++] = crop;
	}
	argv[a++] = "-c:v";
	argv[a++] = "libx264";
	argv[a++] = "-pix_fmt";
	argv[a++] = "yuv420p";
	argv[a++] = "-an";
	argv[a++] = "-progress";
	argv[a++] = "pipe:1";
	argv[a++] = "-n";
	argv[a++] = out;
	argv[a] = NULL;

	int pfd[2], lfd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (lfd < 0 || pipe2(pfd, O_CLOEXEC) < 0)
		die(EX_STORE, log, strerror(errno));
	/* Signals wait until child_pid names the child they must stop. */
	sigset_t block, old;
	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGHUP);
	sigprocmask(SIG_BLOCK, &block, &old);
	pid_t pid = fork();
	if (pid < 0)
		die(EX_STORE, "fork", strerror(errno));
	if (pid == 0) {
		int nul = open("/dev/null", O_RDONLY | O_CLOEXEC);
		if (nul >= 0)
			dup2(nul, STDIN_FILENO);
		dup2(pfd[1], STDOUT_FILENO);
		dup2(lfd, STDERR_FILENO);
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		signal(SIGHUP, SIG_DFL);
		sigprocmask(SIG_SETMASK, &old, NULL);
		execvp(argv[0], argv);
		dprintf(STDERR_FILENO, "cannot run ffmpeg: %s\n", strerror(errno));
		_exit(127);
	}
	child_pid = pid;
	sigprocmask(SIG_SETMASK, &old, NULL);
	close(pfd[1]);
	close(lfd);
	FILE *p = fdopen(pfd[0], "r");
	char line[256];
	while (p && fgets(line, sizeof line, p)) {
		long n;
		line[strcspn(line, "\n")] = '\0';
		if (!strncmp(line, "frame=", 6) && parse_long(line + 6, &n) == 0 && n >= 0)
			progress("cosmos prepare", done + (size_t)n, total, "frames");
	}
	if (p)
		fclose(p);
	int st;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	child_pid = 0;
	check_signal();
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		progress_end();
		char *why = last_line(log);
		char *msg = xasprintf("ffmpeg failed on %s", modality[m]);
		die(EX_STORE, msg, why);
	}
	unlink(log);
	free(pat);
	free(out);
	free(log);
	free(crop);
}

static void remove_links(int m)
{
	char *dir = xasprintf("%s/.frames-%s", part_dir, modality[m]);
	nftw(dir, remove_one, 16, FTW_DEPTH | FTW_PHYS);
	free(dir);
}

/* What was made (or would be): the printed line, and metadata.json. */
static cJSON *describe(const char *dir, const char *name, const char *src, double fps, long w, long h)
{
	const struct seq *c = &seqs[M_COLOR];
	cJSON *d = cJSON_CreateObject();
	jset_str(d, "dir", dir);
	jset_str(d, "name", name);
	cJSON *mods = cJSON_AddArrayToObject(d, "modalities");
	for (int m = 0; m < NMOD; m++)
		if (seqs[m].n)
			cJSON_AddItemToArray(mods, cJSON_CreateString(modality[m]));
	jset_num(d, "frames", (double)c->n);
	jset_num(d, "first_frame", (double)c->v[0].n);
	jset_num(d, "last_frame", (double)c->v[c->n - 1].n);
	char *size = xasprintf("%ldx%ld", w & ~1L, h & ~1L);
	jset_str(d, "size", size);
	free(size);
	if ((w | h) & 1) {
		char *from = xasprintf("%ldx%ld", w, h);
		jset_str(d, "cropped_from", from);
		free(from);
	}
	jset_num(d, "fps", fps);
	jset_str(d, "source_dir", src);
	return d;
}

static void add_sources(cJSON *meta)
{
	cJSON *s = jobj(meta, "sources");
	for (int m = 0; m < NMOD; m++) {
		const struct seq *q = &seqs[m];
		if (!q->n)
			continue;
		cJSON *o = jobj(s, modality[m]);
		char *video = xasprintf("%s.mp4", modality[m]);
		jset_str(o, "video", video);
		free(video);
		jset_str(o, "first", q->v[0].file);
		jset_str(o, "last", q->v[q->n - 1].file);
		jset_str(o, "format", fmt_name[q->v[0].fmt]);
	}
	if (n_unknowns) {
		cJSON *l = cJSON_AddArrayToObject(meta, "left_out");
		for (size_t i = 0; i < n_unknowns; i++)
			cJSON_AddItemToArray(l, cJSON_CreateString(unknowns[i].name));
	}
}

static void write_metadata(cJSON *meta)
{
	char *path = xasprintf("%s/metadata.json", part_dir);
	char *text = cJSON_PrintUnformatted(meta);
	FILE *f = fopen(path, "wxe");
	int bad = !f || fprintf(f, "%s\n", text) < 0 || fflush(f) != 0 || fsync(fileno(f)) < 0;
	if (f && fclose(f) != 0)
		bad = 1;
	if (bad)
		die(EX_STORE, path, strerror(errno));
	cJSON_free(text);
	free(path);
}

static int sync_path(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	int rc = fd < 0 || fsync(fd) < 0 ? -1 : 0;
	if (fd >= 0)
		close(fd);
	return rc;
}

/* The part directory's contents made whole and visible as final. */
static void publish(const char *out, const char *final)
{
	for (int m = 0; m < NMOD; m++) {
		char *video = xasprintf("%s/%s.mp4", part_dir, modality[m]);
		if (seqs[m].n && sync_path(video) < 0)
			die(EX_STORE, video, strerror(errno));
		free(video);
	}
	if (sync_path(part_dir) < 0)
		die(EX_STORE, part_dir, strerror(errno));
	if (renameat2(AT_FDCWD, part_dir, AT_FDCWD, final, RENAME_NOREPLACE) < 0) {
		int e = errno;
		die(EX_STORE, final, e == EEXIST ? "exists; not overwritten" : strerror(e));
	}
	free(part_dir);
	part_dir = NULL;
	sync_path(out);
}

/* The prompt record for the videos, stored and printed as cosmos-spec prompt does. */
static void store_prompt(const char *dir, const char *text, const char *negative)
{
	cJSON *p = prompt_new();
	const char *base = strrchr(dir, '/');
	jset_str(p, "name", base && base[1] ? base + 1 : dir);
	jset_str(p, "prompt_text", text);
	if (negative)
		jset_str(p, "negative_prompt", negative);
	cJSON *in = jobj(p, "inputs");
	char *color = xasprintf("%s/color.mp4", dir);
	jset_str(in, "video", color);
	free(color);
	if (seqs[M_DEPTH].n) {
		char *depth = xasprintf("%s/depth.mp4", dir);
		jset_str(in, "depth", depth);
		free(depth);
	}
	if (seqs[M_SEG].n) {
		char *seg = xasprintf("%s/segmentation.mp4", dir);
		jset_str(in, "seg", seg);
		free(seg);
	}
	if (store_create(p) < 0)
		err_(EX_STORE, "cannot store prompt %s", jstr(p, "id"));
	record_print(p);
	cJSON_Delete(p);
}

/* A directory name of ours: no '/', not hidden, no control characters. */
static void check_name(const char *name)
{
	int ok = *name && *name != '.' && strlen(name) <= 200 && !strchr(name, '/');
	for (const char *c = name; ok && *c; c++)
		ok = (unsigned char)*c >= ' ' && *c != 0x7f;
	if (!ok)
		errx_(EX_USAGE_, "--name: '%s' is not a directory name (no '/', no leading '.')", shown(name));
}

int main(int argc, char **argv)
{
	progname = "cosmos-prepare";
	std_options(argc > 1 ? argv[1] : NULL, usage_text);
	setvbuf(stdout, NULL, _IOLBF, 0);
	static const struct option lo[] = {
		{"name", required_argument, NULL, 'n'},
		{"fps", required_argument, NULL, 'f'},
		{"out", required_argument, NULL, 'o'},
		{"prompt", required_argument, NULL, 'p'},
		{"negative", required_argument, NULL, 'N'},
		{"dry-run", no_argument, NULL, 'd'},
		{0, 0, 0, 0},
	};
	const char *name = NULL, *out_arg = ".", *text = NULL, *negative = NULL;
	double fps = 24;
	int dry_run = 0, c;
	while ((c = getopt_long(argc, argv, "+", lo, NULL)) != -1) {
		switch (c) {
		case 'n': name = optarg; break;
		case 'o': out_arg = optarg; break;
		case 'p': text = optarg; break;
		case 'N': negative = optarg; break;
		case 'd': dry_run = 1; break;
		case 'f':
			if (parse_double(optarg, &fps) < 0 || !(fps >= 1 && fps <= 240))
				errx_(EX_USAGE_, "--fps: '%s' is not a number from 1 to 240", shown(optarg));
			break;
		default: usage();
		}
	}
	if (argc - optind != 1)
		usage();
	if (text && !*text)
		errx_(EX_USAGE_, "--prompt: the text is empty");
	if (negative && !text)
		errx_(EX_USAGE_, "--negative needs --prompt");
	if (negative && !*negative)
		errx_(EX_USAGE_, "--negative: the text is empty (leave --negative out for none)");
	if (name)
		check_name(name);

	/* The frames, checked whole before anything is written. */
	const char *frames_arg = argv[optind];
	char src[PATH_MAX], out[PATH_MAX];
	if (!realpath(frames_arg, src))
		errx_(EX_SOME, "%s: %s", shown(frames_arg), strerror(errno));
	int dfd = open(src, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		errx_(EX_SOME, "%s: %s", shown(frames_arg), strerror(errno));
	scan_frames(dfd, frames_arg);
	check_sequences(frames_arg);
	long w = 0, h = 0;
	check_frames(dfd, &w, &h);
	close(dfd);

	if (!name) {
		const char *base = strrchr(src, '/');
		name = base && base[1] ? base + 1 : "frames";
		if (*name == '.')
			errx_(EX_USAGE_, "%s: a hidden directory; give --name", shown(frames_arg));
	}
	if (!realpath(out_arg, out))
		errx_(EX_STORE, "--out: %s: %s", shown(out_arg), strerror(errno));
	char stamp[32];
	time_t now = time(NULL);
	struct tm tm;
	strftime(stamp, sizeof stamp, "%Y%m%d_%H%M%S", gmtime_r(&now, &tm));
	char *final = xasprintf("%s/%s_%s", strcmp(out, "/") ? out : "", name, stamp);
	struct stat st;
	if (lstat(final, &st) == 0)
		errx_(EX_STORE, "%s: exists; not overwritten", final);
	char fps_s[32];
	snprintf(fps_s, sizeof fps_s, "%g", fps);
	cJSON *meta = describe(final, strrchr(final, '/') + 1, src, fps, w, h);

	if (dry_run) {
		jset(meta, "dry_run", cJSON_CreateTrue());
		char *line = cJSON_PrintUnformatted(meta);
		printf("%s\n", line);
		cJSON_free(line);
		cJSON_Delete(meta);
		free(final);
		finish_stdout();
		return EX_OK;
	}
	if (text && store_open(1) < 0)
		err_(EX_STORE, "%s", store_root());

	/* The work, in a hidden directory that only a whole result leaves. */
	struct sigaction sa = {0};
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	part_dir = part_name(final);
	if (mkdir(part_dir, 0755) < 0)
		err_(EX_STORE, "%s", part_dir);
	size_t total = 0, done = 0;
	for (int m = 0; m < NMOD; m++)
		total += seqs[m].n;
	for (int m = 0; m < NMOD; m++) {
		if (!seqs[m].n)
			continue;
		encode(src, m, fps_s, w, h, done, total);
		remove_links(m);
		done += seqs[m].n;
	}
	progress_end();
	char ts[TIMESTAMP_LEN];
	timestamp_now(ts);
	cJSON *file = cJSON_Duplicate(meta, 1);
	cJSON_DeleteItemFromObjectCaseSensitive(file, "dir");
	jset_str(file, "created_at", ts);
	jset_str(file, "codec", "h264");
	jset_str(file, "pix_fmt", "yuv420p");
	add_sources(file);
	write_metadata(file);
	cJSON_Delete(file);
	check_signal();
	publish(out, final);

	if (text)
		store_prompt(final, text, negative);
	else {
		char *line = cJSON_PrintUnformatted(meta);
		printf("%s\n", line);
		cJSON_free(line);
	}
	cJSON_Delete(meta);
	free(final);
	finish_stdout();
	return EX_OK;
}
