/*
 * local.h - the local transport (see remote.h): shell commands and file
 * copies on this machine, for the local backend.
 */
#ifndef COSMOS_LOCAL_H
#define COSMOS_LOCAL_H

#include <stdint.h>
#include "shell.h"

/* Run cmd with sh -c, in as stdin; collect stdout (out NULL: copy to ours)
 * and stderr.  Returns the exit status (128+N for signal N) or -1. */
int local_exec(const char *cmd, const char *in, size_t inlen, struct sbuf *out, struct sbuf *errout);

/* Copy a file through a hidden temporary and rename; 0, or with errno -1
 * when from could not be read, -2 when to could not be written (a full
 * disk is the destination's failing, and is named as such). */
int local_copy(const char *from, const char *to, uint64_t *copied);

#endif
