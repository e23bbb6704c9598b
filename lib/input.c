/* input.c - operands and JSON lines; see input.h. */
#define _GNU_SOURCE
#include "input.h"
#include "util.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int items_init(struct items *it, int argc, char **argv)
{
	memset(it, 0, sizeof *it);
	it->argc = argc;
	it->argv = argv;
	if (argc == 0) {
		if (isatty(STDIN_FILENO))
			return -1;
		it->reading = 1;
	}
	return 0;
}

static char *trim(char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	size_t n = strlen(s);
	while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' ' || s[n - 1] == '\t'))
		s[--n] = '\0';
	return s;
}

/*
 * The next line of stdin, NUL-terminated in place, with *n its length
 * before the terminator; NULL at the end.  Our own buffer (not stdio), so
 * that items_ready() can tell what is already at hand.
 */
static char *read_line(struct items *it, size_t *n)
{
	for (;;) {
		/* No buffer before the first read: NULL + 0 is undefined. */
		char *start = it->buf ? it->buf + it->pos : NULL;
		char *nl = it->len > it->pos ? memchr(start, '\n', it->len - it->pos) : NULL;
		if (nl || (it->eof && it->len > it->pos)) {
			size_t l = nl ? (size_t)(nl - start) : it->len - it->pos;
			start[l] = '\0';
			it->pos += l + (nl ? 1 : 0);
			*n = l;
			return start;
		}
		if (it->eof)
			return NULL;
		if (it->pos > 0) {
			memmove(it->buf, it->buf + it->pos, it->len - it->pos);
			it->len -= it->pos;
			it->pos = 0;
		}
		if (it->len + 1 >= it->cap)
			it->buf = xrealloc(it->buf, it->cap = it->cap ? 2 * it->cap : 65536);
		ssize_t r = read(STDIN_FILENO, it->buf + it->len, it->cap - it->len - 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			/* Reported once; what was read is still served. */
			warn_("stdin");
			it->errors++;
			r = 0;
		}
		if (r == 0)
			it->eof = 1;
		it->len += (size_t)r;
	}
}

int items_ready(struct items *it)
{
	if (!it->reading)
		return it->i < it->argc;
	if (it->eof || (it->len > it->pos && memchr(it->buf + it->pos, '\n', it->len - it->pos)))
		return 1;
	struct pollfd p = {.fd = STDIN_FILENO, .events = POLLIN};
	return poll(&p, 1, 0) > 0;
}

const char *items_next(struct items *it)
{
	for (;;) {
		if (it->reading) {
			size_t n;
			char *line = read_line(it, &n);
			if (!line) {
				it->reading = 0;
				if (it->argc == 0)
					return NULL;
				continue;
			}
			it->lineno++;
			snprintf(it->where, sizeof it->where, "stdin:%ld", it->lineno);
			if (n != strlen(line)) {
				item_warn(it, "line holds a NUL byte");
				it->errors++;
				continue;
			}
			char *s = trim(line);
			if (*s)
				return s;
			continue;
		}
		if (it->i >= it->argc)
			return NULL;
		const char *a = it->argv[it->i++];
		if (strcmp(a, "-") == 0) {
			it->reading = 1;
			continue;
		}
		snprintf(it->where, sizeof it->where, "argument %d", it->i);
		return a;
	}
}

void items_free(struct items *it)
{
	free(it->buf);
	it->buf = NULL;
	it->cap = it->len = it->pos = 0;
}

void item_warn(const struct items *it, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "%s: %s: ", progname, it->where);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

cJSON *parse_line(const char *text, const char **why)
{
	/* cJSON decodes \u0000 into a NUL that would silently cut a string
	 * short ("rs_<hex>\u0000../x" reading as "rs_<hex>"): refuse it. */
	for (const char *p = text; *p; p++) {
		if (*p != '\\')
			continue;
		if (p[1] == 'u' && strncmp(p + 2, "0000", 4) == 0) {
			*why = "JSON string holds \\u0000 (a NUL byte)";
			return NULL;
		}
		if (p[1])
			p++;
	}
	cJSON *j = cJSON_Parse(text);
	if (!j)
		*why = "malformed JSON";
	return j;
}

const char *item_id(const char *text, enum id_kind want, char id[ID_LEN + 1], cJSON **obj)
{
	static char msg[160];
	static const char *const what[] = {"run or prompt id (rs_ or ps_", "run id (rs_", "prompt id (ps_"};
	const char *s = text;
	cJSON *j = NULL;
	if (obj)
		*obj = NULL;
	if (*text == '{' || *text == '"') {
		const char *why;
		if (!(j = parse_line(text, &why)))
			return why;
		if (cJSON_IsString(j))
			s = j->valuestring;
		else if (cJSON_IsObject(j))
			s = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "id"));
		else
			s = NULL;
		if (!s) {
			cJSON_Delete(j);
			snprintf(msg, sizeof msg, "JSON line has no \"id\" string");
			return msg;
		}
	}
	enum id_kind k = id_kind(s);
	if (k == ID_BAD || (want != ID_BAD && k != want)) {
		snprintf(msg, sizeof msg, "'%s' is not a %s + 32 lowercase hex digits)",
		    shown(s), what[want + 1]);
		cJSON_Delete(j);
		return msg;
	}
	memcpy(id, s, ID_LEN + 1);
	if (obj && cJSON_IsObject(j))
		*obj = j;
	else
		cJSON_Delete(j);
	return NULL;
}
