/*
 * shell.h - growable strings, and the one function that quotes text for a
 * POSIX shell.
 *
 * Invariant: every piece of a remote command line that is not a literal
 * in our source goes through shquote() or sb_quote().  Nothing else in
 * the toolkit pastes text into a command.
 */
#ifndef COSMOS_SHELL_H
#define COSMOS_SHELL_H

#include <stddef.h>

struct sbuf {
	char *s;
	size_t len, cap;
};

void sb_add(struct sbuf *b, const char *data, size_t n);
void sb_puts(struct sbuf *b, const char *s);
void sb_printf(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Append s as one shell word: ' ... ' with each ' written as '\''. */
void sb_quote(struct sbuf *b, const char *s);
/* The same for a path, except that a leading "~/" becomes "$HOME"/. */
void sb_quote_home(struct sbuf *b, const char *path);
void sb_free(struct sbuf *b);
/* A local file's whole content (len bytes, NUL-terminated); NULL with errno. */
char *sb_slurp(const char *path, size_t *len);

/* s as one shell word, newly allocated. */
char *shquote(const char *s);

#endif
