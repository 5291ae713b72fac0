/*
 * libFuzzer target: the kernel command line (kopts_parse() of
 * kern/kern_kopts.c, compiled unchanged).  Input: the line's bytes (a NUL
 * is appended).  Properties: every complaint is one NUL-terminated line
 * shorter than the parser's line buffer, the count returned is the
 * number of complaints, the string option stays terminated and the
 * numeric options within their documented ranges.
 */
#include <sys/types.h>
#include <sys/param.h>
#include <sys/systm.h>
#include <sys/kopts.h>
#include "shim.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
complain(void *cookie, const char *line)
{
	int *n = cookie;

	if (strlen(line) >= 640 || strchr(line, '\n') != NULL)
		fuzz_fail("complaint not one line shorter than 640");
	(*n)++;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct kopts ko;
	const char *line = fuzz_cstring(0, data, size);
	int n = 0;

	kopts_defaults(&ko);
	if (kopts_parse(line, &ko, complain, &n) != n)
		fuzz_fail("complaint count");
	if (strnlen(ko.ko_test, KOPTS_TEST_MAX) == KOPTS_TEST_MAX)
		fuzz_fail("test= not terminated");
	if (ko.ko_repeat < 1 || ko.ko_repeat > 1000 || ko.ko_hz < 10 ||
	    ko.ko_hz > 5000 || ko.ko_maxcpus < 1 || ko.ko_maxcpus > MAXCPU)
		fuzz_fail("a numeric option outside its range");
	return 0;
}
