/*
 * ssh_G.c - fuzz what "ssh -G ALIAS" prints as host_ssh_complete reads
 * it (host_ssh_G): OpenSSH's, but the ssh found on PATH could be any.
 */
#include "fuzz.h"
#include "host.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = fuzz_text(data, size);
	struct host h = {0};
	int port_set = 0, accept_set = 0;
	h.address = xstrdup("gpu1");
	host_ssh_G(text, &h, &port_set, &accept_set);
	host_free(&h);
	free(text);
	return 0;
}
