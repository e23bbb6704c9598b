/*
 * enhance.c - fuzz an enhance run's batch_results.json, a file the host
 * wrote (a hostile host), as cosmos-sync reads it (enhance_result): for
 * a prompt it names, and for one it does not.  The file is a memory
 * file, opened by its /proc/self/fd path as any file would be.
 */
#define _GNU_SOURCE
#include "fuzz.h"
#include "enhance.h"

#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

static int fd = -1;
static char path[64];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const prompts[] = {"ps_66479334f1fff4864eee8726e36aa550", "ps_00000000000000000000000000000000"};
	if (fd < 0) {
		if ((fd = memfd_create("batch_results.json", 0)) < 0)
			abort();
		snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	}
	if (ftruncate(fd, 0) < 0 || pwrite(fd, data, size, 0) != (ssize_t)size)
		abort();
	for (int i = 0; i < 2; i++) {
		const char *why;
		free(enhance_result(path, prompts[i], &why));
	}
	return 0;
}
