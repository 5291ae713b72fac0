/*
 * libFuzzer target: ACPI RSDP -> RSDT/XSDT -> MADT (arch/i386/madt.c,
 * compiled unchanged).  Input: one flags byte, then firmware memory as
 * shim.h's chunks.  Flags bit 0: chunk 0 is the boot loader's RSDP copy
 * (multiboot2 tag 14/15), passed with its length; otherwise the parser
 * scans the EBDA and 0xE0000-0xFFFFF as at boot.  Bits 1-3 choose a
 * fault.acpi= injection (faults[]), which then runs on the fuzzed tables
 * too.  A successful parse must satisfy check_enum().
 */
#include <sys/types.h>
#include <sys/param.h>
#include <sys/systm.h>
#include <cpu_enum.h>
#include "check_enum.h"
#include "shim.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* fault.acpi= values, chosen by flags bits 1-3; the last is unknown. */
static const char *const faults[8] = {
	NULL, "madt.checksum", "madt.short", "madt.long", "madt.nocpu",
	"madt.apic255", "root.nowhere", "madt.bogus",
};

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
	if (acpi_madt_enum(rsdp, rsdp_len, faults[(data[0] >> 1) % 8], &ce) ==
	    0)
		check_enum(&ce);
	return 0;
}
