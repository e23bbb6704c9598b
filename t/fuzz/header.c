/*
 * header.c - fuzz HTTP header lines as the http backend reads them
 * (http_retry_after: a 429's Retry-After), as libcurl hands them over:
 * not NUL-terminated.
 */
#include "fuzz.h"
#include "http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* A copy of exactly size bytes, so that ASan sees a read past them. */
	char *line = malloc(size ? size : 1);
	if (!line)
		abort();
	memcpy(line, data, size);
	(void)http_retry_after(line, size);
	free(line);
	return 0;
}
