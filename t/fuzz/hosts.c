/*
 * hosts.c - fuzz the hosts file (host.h) as host_lookup reads it: for
 * the default host, and for a host named gpu1; then, for an http host,
 * its keys as the http backend's configure checks them (the url, the
 * credential hosts).  Other kinds' configure asks ssh -G (a process),
 * and is left to t/fuzz/ssh_G.c.
 */
#define _GNU_SOURCE
#include "fuzz.h"
#include "backend.h"
#include "host.h"

#include <stdio.h>

static void lookup(const uint8_t *data, size_t size, const char *want)
{
	FILE *fp = fmemopen((void *)data, size, "r");
	if (!fp)
		abort();
	struct host h = {0};
	char err[512];
	if (hosts_read(fp, "hosts", want, &h, err, sizeof err) == 0) {
		if (h.backend && !strcmp(h.backend, "http"))
			(void)backend_find("http")->configure(&h, err, sizeof err);
		host_free(&h);
	}
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
