/*
 * The kernel's cpu_enum_map() (cpu_enum.h): firmware memory as the
 * parsers of madt.c and mptable.c see it at boot, the identity view with
 * paging off.  Any range below 4 GiB is readable (an address with nothing
 * behind it reads as all-ones, which no table check accepts); a range that
 * passes 4 GiB is not.  The host fuzz targets link their own instead
 * (tests/fuzz/shim.c).
 */
#include <sys/types.h>
#include <sys/param.h>
#include <sys/systm.h>
#include <cpu_enum.h>

const void *
cpu_enum_map(vm_paddr_t pa, size_t len)
{
	const void *p = (const void *)(uintptr_t)pa;

	if (len > 0 && len - 1 > UINT32_MAX - pa)
		return NULL;
	/* Hide the constant from gcc, which otherwise treats addresses
	 * below 4 KiB (the BIOS data area) as offsets from NULL and warns. */
	__asm__("" : "+r"(p));
	return p;
}
