/*
 * storetool - a test driver for the run store in lib/store.c; not installed.
 *
 *	storetool create            make a run record with counter n = 0, print its id
 *	storetool bump ID COUNT     COUNT locked read-modify-writes, each n += 1
 *	storetool churn ID          bump forever, each time with a pad of random
 *	                            size, so that a SIGKILL lands mid-write
 *	storetool load ID           print the record (exit 3 if it cannot be read)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "record.h"
#include "store.h"
#include "util.h"

struct bump {
	size_t pad;
};

static int bump(cJSON *rec, void *arg)
{
	const struct bump *b = arg;
	jset_num(rec, "n", jnum(rec, "n", 0) + 1);
	if (b->pad) {
		char *s = xmalloc(b->pad + 1);
		memset(s, 'x', b->pad);
		s[b->pad] = '\0';
		jset_str(rec, "pad", s);
		free(s);
	}
	return STORE_WRITE;
}

int main(int argc, char **argv)
{
	progname = "storetool";
	if (argc < 2)
		errx_(EX_USAGE_, "usage: storetool create | bump ID COUNT | churn ID | load ID");
	if (store_open(1) < 0)
		err_(EX_STORE, "%s", store_root());
	if (strcmp(argv[1], "create") == 0) {
		cJSON *r = run_new("transfer");
		jset_num(r, "n", 0);
		if (store_create(r) < 0)
			err_(EX_STORE, "create");
		puts(jstr(r, "id"));
		cJSON_Delete(r);
	} else if (argc == 4 && strcmp(argv[1], "bump") == 0) {
		struct bump b = {0};
		for (long i = atol(argv[3]); i > 0; i--)
			if (store_update(argv[2], bump, &b, NULL) < 0)
				err_(EX_STORE, "update %s", argv[2]);
	} else if (argc == 3 && strcmp(argv[1], "churn") == 0) {
		for (;;) {
			unsigned r;
			if (getrandom(&r, sizeof r, 0) != sizeof r)
				err_(EX_STORE, "getrandom");
			struct bump b = {.pad = r % (512 * 1024)};
			if (store_update(argv[2], bump, &b, NULL) < 0)
				err_(EX_STORE, "update %s", argv[2]);
		}
	} else if (argc == 3 && strcmp(argv[1], "load") == 0) {
		cJSON *r = store_load(argv[2]);
		if (!r)
			err_(EX_STORE, "load %s", argv[2]);
		size_t len;
		char *line = record_line(r, &len);
		fwrite(line, 1, len, stdout);
		free(line);
		cJSON_Delete(r);
	} else
		errx_(EX_USAGE_, "usage: storetool create | bump ID COUNT | churn ID | load ID");
	finish_stdout();
	return 0;
}
