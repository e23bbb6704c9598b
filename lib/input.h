/*
 * input.h - the items a program works on: its operands, or lines of
 * standard input when there are none (or where an operand is "-").
 *
 * Every item knows where it came from ("argument 2", "stdin:17") so that
 * an error names the input.  Blank lines are skipped; a line holding a NUL
 * byte is reported and skipped, never truncated into something else.
 */
#ifndef COSMOS_INPUT_H
#define COSMOS_INPUT_H

#include <stdio.h>
#include "store.h"

struct items {
	char **argv;
	int argc, i;
	int reading;   /* inside standard input */
	long lineno;
	char *buf;          /* bytes read from stdin, not yet returned */
	size_t cap, len, pos;
	int eof;
	char where[32];
	int errors;    /* items this reader rejected itself */
};

/* With argc == 0, read standard input; -1 when that is a terminal (the
 * caller's usage error). */
int items_init(struct items *it, int argc, char **argv);
/* The next item, trimmed, or NULL at the end.  it->where names it. */
const char *items_next(struct items *it);
void items_free(struct items *it);
/* Is another line at hand without waiting (buffered, or readable now)? */
int items_ready(struct items *it);

/* Report a bad item: "prog: WHERE: message". */
void item_warn(const struct items *it, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Parse a JSON input line; NULL with a static reason (malformed, \u0000). */
cJSON *parse_line(const char *text, const char **why);

/*
 * Take an id from an item: a bare id, a JSON string, or a JSON object with
 * an "id" member (a record), of kind want (ID_BAD: either).  On success copies it into id and returns the
 * parsed object (or NULL for a bare id) through obj if obj is not NULL.
 * On failure returns a static message.
 */
const char *item_id(const char *text, enum id_kind want, char id[ID_LEN + 1], cJSON **obj);

#endif
