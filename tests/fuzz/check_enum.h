/*
 * What every successful CPU enumeration (struct cpu_enum, cpu_enum.h)
 * must satisfy, checked by the ACPI and MP-table fuzz targets: at least
 * one enabled CPU, both lists within CPU_ENUM_MAX, no broadcast id 0xFF
 * and no APIC id listed twice across them.
 */
#ifndef _FUZZ_CHECK_ENUM_H_
#define _FUZZ_CHECK_ENUM_H_

#include <cpu_enum.h>
#include "shim.h"

static inline void
check_enum(const struct cpu_enum *ce)
{
	uint8_t seen[CPU_ENUM_MAX];
	int i;

	if (ce->ce_ncpu < 1 || ce->ce_ncpu > CPU_ENUM_MAX ||
	    ce->ce_ndisabled < 0 || ce->ce_ndisabled > CPU_ENUM_MAX)
		fuzz_fail("CPU counts out of range");
	memset(seen, 0, sizeof(seen));
	for (i = 0; i < ce->ce_ncpu + ce->ce_ndisabled; i++) {
		uint8_t id = i < ce->ce_ncpu ? ce->ce_apicid[i] :
		    ce->ce_disabled_apicid[i - ce->ce_ncpu];

		if (id == CPU_ENUM_BROADCAST)
			fuzz_fail("the broadcast APIC id listed as a CPU");
		if (seen[id]++)
			fuzz_fail("an APIC id listed twice");
	}
	/* Shown with FUZZ_VERBOSE, for reading what an input does. */
	kprintf("fuzz: %s lists %d enabled and %d disabled CPU(s)\n",
	    ce->ce_source, ce->ce_ncpu, ce->ce_ndisabled);
}

#endif
