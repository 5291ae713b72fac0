/*
 * libFuzzer target: kprintf format handling (kvsnprintf() of
 * kern/subr_prf.c, compiled unchanged; kprintf shares its formatter).
 * Input: one byte choosing the buffer size (0..255; 0 passes NULL, as
 * snprintf allows), then the format
 * (at most FMT_MAX bytes, NUL appended).  Every argument is a pointer to
 * a short string, so whatever a conversion takes from the list is safe
 * to use (its low 32 bits are 16: an int taken from it, a '*' width, is
 * small, which keeps executions fast); a conversion takes at most three arguments ('*' width, '*'
 * precision, value) from at least five format bytes, so NARGS covers any
 * format.  Properties: the result is NUL-terminated within the buffer and
 * holds exactly the first size-1 characters of the count returned.
 */
#include <sys/types.h>
#include <sys/param.h>
#include <sys/systm.h>
#include "shim.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FMT_MAX	96

static const char zero[256];

#define A4	s, s, s, s
#define A16	A4, A4, A4, A4

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *fmt, *s = fuzz_low_string("fz");
	char *buf;
	size_t bsize;
	int n;

	if (size < 1 || size - 1 > FMT_MAX)
		return 0;
	bsize = data[0];
	fmt = fuzz_cstring(0, data + 1, size - 1);
	/* Exactly bsize bytes, so a write past them is reported; none for 0. */
	buf = bsize > 0 ? fuzz_copy(1, zero, bsize) : NULL;
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
#pragma GCC diagnostic ignored "-Wformat-security"
	n = ksnprintf(buf, bsize, fmt, A16, A16, A16, A16);
#pragma GCC diagnostic pop
	if (n < 0)
		fuzz_fail("negative count");
	if (bsize > 0 && strlen(buf) != MIN((size_t)n, bsize - 1))
		fuzz_fail("result not the first size-1 characters");
	return 0;
}
