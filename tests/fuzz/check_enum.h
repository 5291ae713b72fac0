/*
 * What every successful CPU enumeration (struct cpu_enum, cpu_enum.h)
 * must satisfy, checked by the ACPI and MP-table fuzz targets: at least
 * one enabled CPU, no enabled broadcast id 0xFF, no APIC id listed twice
 * across the enabled and disabled lists, and every skipped x2APIC id one
 * that xAPIC cannot reach.
 */
#ifndef _FUZZ_CHECK_ENUM_H_
#define _FUZZ_CHECK_ENUM_H_

#include <cpu_enum.h>
#include "shim.h"

static inline void
check_enum(const struct cpu_enum *ce)
{
	uint8_t seen[CPU_ENUM_MAX];
	int i, j, nd;

	if (ce->ce_ncpu < 1 || ce->ce_ncpu > CPU_ENUM_MAX ||
	    ce->ce_ndisabled < 0 || ce->ce_nx2apic < 0 || ce->ce_nbroadcast < 0)
		fuzz_fail("CPU counts out of range");
	memset(seen, 0, sizeof(seen));
	for (i = 0; i < ce->ce_ncpu; i++) {
		if (ce->ce_apicid[i] == CPU_ENUM_BROADCAST)
			fuzz_fail("the broadcast APIC id listed as a CPU");
		if (seen[ce->ce_apicid[i]]++)
			fuzz_fail("an APIC id listed twice");
	}
	nd = ce->ce_ndisabled < CPU_ENUM_MAX ? ce->ce_ndisabled : CPU_ENUM_MAX;
	for (i = 0; i < nd; i++) {
		uint32_t id = ce->ce_disabled_apicid[i];

		if (id < CPU_ENUM_MAX && seen[id])
			fuzz_fail("an APIC id listed twice");
		for (j = 0; j < i; j++)
			if (ce->ce_disabled_apicid[j] == id)
				fuzz_fail("an APIC id listed twice");
	}
	for (i = 0; i < ce->ce_nx2apic && i < CPU_ENUM_MAX; i++)
		if (ce->ce_x2apicid[i] < CPU_ENUM_BROADCAST)
			fuzz_fail("an x2APIC id xAPIC can reach listed as skipped");
	/* Shown with FUZZ_VERBOSE, for reading what an input does. */
	kprintf("fuzz: %s lists %d enabled and %d disabled CPU(s), skips %d "
	    "x2APIC and %d broadcast-id entries\n", ce->ce_source, ce->ce_ncpu,
	    ce->ce_ndisabled, ce->ce_nx2apic, ce->ce_nbroadcast);
}

#endif
