/*
 * What this CPU model can do: the one place that asks the hardware
 * (EFLAGS.AC and EFLAGS.ID toggles, then CPUID leaves 0 and 1; Intel SDM
 * Vol. 1 §3.4.3, Vol. 2 CPUID, Intel AP-485 "Processor Identification").
 * The BSP fills cpu_ident once, first thing in i386_init() and again after
 * the command line is known (fault.no_cpuid), before any AP starts; it is
 * read-only afterwards and every other file asks cpu_has() / cpuid_leaf()
 * instead of executing CPUID itself.
 *
 * The kernel is compiled for the i486 (-march=i486: XADD, CMPXCHG, BSWAP,
 * INVLPG).  Newer instructions are used only where cpu_ident says so:
 * RDTSC (TSC), RDMSR/WRMSR (MSR), CPUID itself (EFLAGS.ID).  An i386
 * (EFLAGS.AC does not toggle) stops with one line.
 */
#include <sys/param.h>
#include <sys/systm.h>
#include <sys/kopts.h>
#include <machine/cpu.h>
#include <machine/cpufunc.h>
#include "i386_var.h"

#define PSL_AC		0x00040000	/* alignment check: i486 and later */
#define PSL_ID		0x00200000	/* CPUID instruction available */

struct cpu_ident cpu_ident;

/* True if bit `flag` of EFLAGS can be changed (and put back as it was). */
static bool
eflags_toggles(uint32_t flag)
{
	uint32_t before, after;

	before = read_eflags();
	write_eflags(before ^ flag);
	after = read_eflags();
	write_eflags(before);
	return ((before ^ after) & flag) != 0;
}

/* BSP, no console yet: what the hardware says (no output). */
void
identcpu_probe(void)
{
	struct cpu_ident *ci = &cpu_ident;
	uint32_t r[4];

	memset(ci, 0, sizeof(*ci));
	ci->ci_i486 = eflags_toggles(PSL_AC);
	ci->ci_cpuid = ci->ci_i486 && eflags_toggles(PSL_ID);
	if (!ci->ci_cpuid) {
		ci->ci_family = ci->ci_i486 ? 4 : 3;
		return;
	}
	cpuid(0, r);
	ci->ci_max_leaf = r[0];
	memcpy(&ci->ci_vendor[0], &r[1], 4);
	memcpy(&ci->ci_vendor[4], &r[3], 4);
	memcpy(&ci->ci_vendor[8], &r[2], 4);
	ci->ci_vendor[12] = '\0';
	if (ci->ci_max_leaf < 1) {
		ci->ci_family = 4;
		return;
	}
	cpuid(1, r);
	ci->ci_family = (r[0] >> 8) & 0xF;
	ci->ci_model = (r[0] >> 4) & 0xF;
	ci->ci_stepping = r[0] & 0xF;
	if (ci->ci_family == 0xF)
		ci->ci_family += (r[0] >> 20) & 0xFF;
	if (ci->ci_family >= 6)
		ci->ci_model |= ((r[0] >> 16) & 0xF) << 4;
	ci->ci_feat_edx = r[3];
	ci->ci_feat_ecx = r[2];
}

bool
cpuid_leaf(uint32_t leaf, uint32_t r[4])
{
	if (!cpu_ident.ci_cpuid || leaf > cpu_ident.ci_max_leaf)
		return false;
	cpuid(leaf, r);
	return true;
}

bool
cpuid_hypervisor_leaf(uint32_t leaf, uint32_t r[4])
{
	uint32_t max[4];

	if (!cpu_has(0, CPUID2_HYPERVISOR))
		return false;
	cpuid(CPUID_HV_BASE, max);
	if (max[0] < leaf || max[0] >= CPUID_HV_BASE + 0x10000)
		return false;
	cpuid(leaf, r);
	return true;
}

static void
feature_list(void)
{
	static const struct {
		uint32_t edx;
		const char *name;
	} names[] = {
		{ CPUID_FPU, "fpu" },
		{ CPUID_TSC, "tsc" },
		{ CPUID_MSR, "msr" },
		{ CPUID_CX8, "cx8" },
		{ CPUID_APIC, "apic" },
		{ CPUID_CMOV, "cmov" },
		{ CPUID_SSE2, "sse2" },
	};
	size_t i;

	for (i = 0; i < nitems(names); i++)
		if (cpu_ident.ci_feat_edx & names[i].edx)
			kprintf(" %s", names[i].name);
}

/*
 * BSP, console and command line ready: apply fault.no_cpuid (the CPU is
 * then taken to have no CPUID instruction, as an early i486 has none) and
 * print what the kernel found in one line (clock.c and mp_boot.c each
 * print one more for a missing TSC or local APIC and what replaces it).
 * An i386 stops here.
 */
void
identcpu_report(void)
{
	struct cpu_ident *ci = &cpu_ident;

	if (!ci->ci_i486) {
		kprintf("cpu: EFLAGS.AC does not toggle: an i386; this kernel "
		    "needs an i486 or later (XADD, CMPXCHG, INVLPG)\n");
		cpu_shutdown(KEXIT_PANIC);
	}
	if (kopts.ko_fault_no_cpuid && ci->ci_cpuid) {
		memset(ci, 0, sizeof(*ci));
		ci->ci_i486 = true;
		ci->ci_family = 4;
		ci->ci_fault_no_cpuid = true;
	}
	if (!ci->ci_cpuid) {
		kprintf("cpu: no CPUID instruction (EFLAGS.ID does not toggle%s): "
		    "an early i486; taken to have no TSC, no MSRs, no local "
		    "APIC\n", ci->ci_fault_no_cpuid ? ", fault.no_cpuid" : "");
		return;
	}
	kprintf("cpu: %s family %u model %u stepping %u, CPUID max leaf 0x%x,"
	    " features", ci->ci_vendor, ci->ci_family, ci->ci_model,
	    ci->ci_stepping, ci->ci_max_leaf);
	feature_list();
	kprintf("\n");
}

bool
cpu_has(uint32_t edx, uint32_t ecx)
{
	return (cpu_ident.ci_feat_edx & edx) == edx &&
	    (cpu_ident.ci_feat_ecx & ecx) == ecx;
}
