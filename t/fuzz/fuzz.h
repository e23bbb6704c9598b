/*
 * fuzz.h - what every libFuzzer harness in t/fuzz/ shares: the entry
 * point's prototype and a NUL-terminated copy of the input.
 *
 * A harness feeds one parser of untrusted input (a request line, a
 * record, a hosts file, what a host or an API answers) the bytes
 * libFuzzer makes, through the same function the programs call, and
 * frees everything it got: a leak, an overflow or undefined behaviour is
 * a finding.  Built and run by make fuzz and make check (Makefile).
 */
#ifndef COSMOS_FUZZ_H
#define COSMOS_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* data as a C string (cut at its first NUL, as a reader of lines would
 * see it); the caller frees. */
static inline char *fuzz_text(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	if (!s)
		abort();
	memcpy(s, data, size);
	s[size] = '\0';
	return s;
}

#endif
