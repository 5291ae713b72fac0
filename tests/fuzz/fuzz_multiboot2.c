/*
 * libFuzzer target: the multiboot2 boot information (multiboot2_read() of
 * arch/i386/multiboot2.c, compiled unchanged).  Input: the information as
 * the loader leaves it (total size, reserved, tags), copied to an 8-byte
 * aligned heap block of exactly its size.  What the kernel goes on to use
 * must lie inside it: the command line a NUL-terminated string (or the
 * static ""), the RSDP copy with its length.
 */
#include <sys/types.h>
#include <sys/param.h>
#include <sys/systm.h>
#include "multiboot2.h"
#include "shim.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bootinfo bi;
	const uint8_t *buf = fuzz_copy(0, data, size), *r;

	multiboot2_read(buf, size, &bi);
	if (bi.bi_cmdline == NULL)
		fuzz_fail("no command line");
	if (bi.bi_cmdline[0] != '\0' &&
	    ((const uint8_t *)bi.bi_cmdline < buf ||
	    (const uint8_t *)bi.bi_cmdline >= buf + size))
		fuzz_fail("command line outside the information");
	(void)strlen(bi.bi_cmdline);	/* AddressSanitizer: terminated */
	if (bi.bi_rsdp != NULL) {
		r = bi.bi_rsdp;
		if (r < buf || bi.bi_rsdp_len > (size_t)(buf + size - r))
			fuzz_fail("RSDP copy outside the information");
		fuzz_copy(1, r, bi.bi_rsdp_len);	/* AddressSanitizer */
	}
	return 0;
}
