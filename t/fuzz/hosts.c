/*
 * hosts.c - fuzz the hosts file (host.h) as host_lookup reads it: for
 * the default host, and for a host named gpu1.
 */
#define _GNU_SOURCE
#include "fuzz.h"
#include "host.h"

#include <stdio.h>

static void lookup(const uint8_t *data, size_t size, const char *want)
{
	FILE *fp = fmemopen((void *)data, size, "r");
	if (!fp)
		abort();
	struct host h = {0};
	char err[512];
	if (hosts_read(fp, "hosts", want, &h, err, sizeof err) == 0)
		host_free(&h);
	fclose(fp);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!size)
		return 0; /* fmemopen takes no empty buffer */
	lookup(data, size, NULL);
	lookup(data, size, "gpu1");
	return 0;
}
