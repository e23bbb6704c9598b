/* shell.c - see shell.h. */
#define _GNU_SOURCE
#include "shell.h"
#include "util.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void sb_add(struct sbuf *b, const char *data, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		b->cap = (b->len + n + 1) * 2;
		b->s = xrealloc(b->s, b->cap);
	}
	memcpy(b->s + b->len, data, n);
	b->len += n;
	b->s[b->len] = '\0';
}

void sb_puts(struct sbuf *b, const char *s)
{
	sb_add(b, s, strlen(s));
}

void sb_printf(struct sbuf *b, const char *fmt, ...)
{
	va_list ap;
	char *s;
	va_start(ap, fmt);
	int n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0)
		err_(EX_STORE, "vasprintf");
	sb_add(b, s, (size_t)n);
	free(s);
}

/*
 * Single quotes keep every byte literal except ' itself, which cannot be
 * escaped inside them: close the quote, add \', reopen.  No character
 * class is "safe" and left bare, so there is nothing else to audit.
 */
void sb_quote(struct sbuf *b, const char *s)
{
	sb_add(b, "'", 1);
	for (const char *q; (q = strchr(s, '\'')); s = q + 1) {
		sb_add(b, s, (size_t)(q - s));
		sb_add(b, "'\\''", 4);
	}
	sb_puts(b, s);
	sb_add(b, "'", 1);
}

void sb_free(struct sbuf *b)
{
	free(b->s);
	b->s = NULL;
	b->len = b->cap = 0;
}

char *shquote(const char *s)
{
	struct sbuf b = {0};
	sb_quote(&b, s);
	return b.s;
}

void sb_quote_home(struct sbuf *b, const char *path)
{
	if (!strncmp(path, "~/", 2)) {
		sb_puts(b, "\"$HOME\"/");
		sb_quote(b, path + 2);
	} else
		sb_quote(b, path);
}

char *sb_slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return NULL;
	struct sbuf b = {0};
	char buf[8192];
	size_t n;
	while ((n = fread(buf, 1, sizeof buf, f)) > 0)
		sb_add(&b, buf, n);
	int bad = ferror(f);
	fclose(f);
	if (bad) {
		sb_free(&b);
		errno = EIO;
		return NULL;
	}
	*len = b.len;
	return b.s ? b.s : xstrdup("");
}
