/*
 * ssh_config.c - fuzz our small reader of ~/.ssh/config (used where
 * there is no ssh program to ask), for the alias gpu1, on a host with
 * nothing set and on one whose hosts file set some keys.
 */
#define _GNU_SOURCE
#include "fuzz.h"
#include "host.h"
#include "util.h"

#include <stdio.h>

static void read_for(const uint8_t *data, size_t size, int preset)
{
	FILE *fp = fmemopen((void *)data, size, "r");
	if (!fp)
		abort();
	struct host h = {0};
	int port_set = 0, accept_set = 0;
	if (preset) {
		h.address = xstrdup("gpu1");
		h.user = xstrdup("ubuntu");
		h.port = 2222;
		port_set = 1;
	}
	host_ssh_config(fp, "gpu1", &h, &port_set, &accept_set);
	host_free(&h);
	fclose(fp);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!size)
		return 0; /* fmemopen takes no empty buffer */
	read_for(data, size, 0);
	read_for(data, size, 1);
	return 0;
}
