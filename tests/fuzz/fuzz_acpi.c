/*
 * libFuzzer target: ACPI RSDP -> RSDT/XSDT -> MADT (arch/i386/madt.c,
 * compiled unchanged).  Input: one flags byte, then firmware memory as
 * shim.h's chunks.  Flags bit 0: chunk 0 is the boot loader's RSDP copy
 * (multiboot2 tag 14/15), passed with its length; otherwise the parser
 * scans the EBDA and 0xE0000-0xFFFFF as at boot.  A successful parse must
 * satisfy check_enum().
 */
#include <sys/types.h>
#include <sys/param.h>
#include <sys/systm.h>
#include <cpu_enum.h>
#include "check_enum.h"
#include "shim.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct cpu_enum ce;
	const void *rsdp = NULL;
	size_t rsdp_len = 0;
	uint32_t pa;

	if (size < 1)
		return 0;
	fuzz_mem_load(data + 1, size - 1);
	if (data[0] & 1)
		rsdp = fuzz_mem_chunk(0, &pa, &rsdp_len);
	if (acpi_madt_enum(rsdp, rsdp_len, &ce) == 0)
		check_enum(&ce);
	return 0;
}
