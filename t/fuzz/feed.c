/*
 * feed.c - fuzz what cosmos-batch reads of the cosmos-submit it feeds
 * (feed_outcome): record lines on its standard output and messages on
 * its standard error (lines that begin "cosmos-submit:"), for three items
 * of which two were fed.
 */
#include "fuzz.h"
#include "feed.h"

#define N 3

static const char *const ids[N] = {
	"rs_0123456789abcdef0123456789abcdef",
	"rs_fedcba9876543210fedcba9876543210",
	"rs_00000000000000000000000000000000",
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = fuzz_text(data, size), *save = NULL;
	struct feed_item v[N];
	memset(v, 0, sizeof v);
	int all = 0;
	for (int i = 0; i < N; i++) {
		memcpy(v[i].id, ids[i], ID_LEN + 1);
		v[i].index = i;
	}
	/* Its messages come on standard error, records on standard output. */
	for (char *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
		feed_outcome(v, N, 2, &all, l, !strncmp(l, "cosmos-submit:", 14));
	for (int i = 0; i < N; i++) {
		free(v[i].error);
		free(v[i].operation);
		free(v[i].reason_code);
	}
	free(text);
	return 0;
}
