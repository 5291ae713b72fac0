/*
 * libFuzzer target: Intel MP table, floating pointer and configuration
 * table (arch/i386/mptable.c, compiled unchanged).  Input: firmware memory
 * as shim.h's chunks (the BIOS data area at 0x400 names the EBDA and the
 * base memory size, as at boot).  A successful parse must satisfy
 * check_enum().
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

	fuzz_mem_load(data, size);
	if (mptable_enum(&ce) == 0)
		check_enum(&ce);
	return 0;
}
