/*
 * Local APIC in xAPIC mode (Intel SDM Vol. 3 §10.4 "Local APIC",
 * §10.6 "Issuing interprocessor interrupts", §10.9 spurious interrupt).
 * lapic_base is set once by the BSP before paging goes on, from the
 * firmware tables cross-checked with IA32_APIC_BASE (lapic_pa_check; pmap
 * maps it uncached at the same address).  Each CPU runs
 * lapic_init_cpu() for itself; any CPU may send IPIs and must EOI its own
 * interrupts.
 */
#include <sys/param.h>
#include <sys/systm.h>
#include <sys/globaldata.h>
#include <sys/kopts.h>
#include <machine/cpu.h>
#include <machine/cpufunc.h>
#include "i386_var.h"

#define LAPIC_ID	0x020
#define LAPIC_VER	0x030
#define LAPIC_TPR	0x080
#define LAPIC_EOI	0x0B0
#define LAPIC_SVR	0x0F0
#define LAPIC_ESR	0x280
#define LAPIC_ICR_LO	0x300
#define LAPIC_ICR_HI	0x310
#define LAPIC_LVT_TIMER	0x320
#define LAPIC_LVT_LINT0	0x350
#define LAPIC_LVT_ERROR	0x370
#define LAPIC_TIMER_ICR	0x380
#define LAPIC_TIMER_CCR	0x390
#define LAPIC_TIMER_DCR	0x3E0
#define DCR_DIV16	0x3
#define TIMER_CAL_US	10000

#define SVR_ENABLE	0x100
#define ICR_PENDING	0x1000		/* delivery status: send pending */
#define ICR_DEST_ALLBUTSELF 0xC0000	/* shorthand: all excluding self */
#define LVT_MASKED	0x10000
#define LVT_EXTINT	0x700		/* delivery mode ExtINT */
#define MSR_APICBASE	0x1B
#define APICBASE_ENABLE	0x800
#define APICBASE_PA_MASK 0x0000000FFFFFF000ull	/* bits 12..35 */

volatile uint8_t *lapic_base;
static uint64_t lapic_timer_hz;		/* timer counts per second (divide 16) */

static inline uint32_t
lapic_read(uint32_t reg)
{
	return *(volatile uint32_t *)(lapic_base + reg);
}

static inline void
lapic_write(uint32_t reg, uint32_t v)
{
	*(volatile uint32_t *)(lapic_base + reg) = v;
}

/* CPUID.1:EDX bit 9 (SDM Vol. 3 §10.4.2). */
bool
lapic_present(void)
{
	return cpu_has(CPUID_APIC, 0);
}

/*
 * The local APIC address to use, given the one a firmware table (or the
 * architectural default) names.  IA32_APIC_BASE (SDM Vol. 3 §10.4.4) is
 * authoritative for the CPU that reads it; a disagreement is one line.
 * Without MSRs the table's address is used if it is a page address, else
 * the default.
 */
vm_paddr_t
lapic_pa_check(vm_paddr_t table_pa, const char *source)
{
	uint64_t msr_pa;

	if (!cpu_has(CPUID_MSR, 0)) {
		if (table_pa != 0 && (table_pa & PAGE_MASK) == 0)
			return table_pa;
		kprintf("lapic: the %s gives local APIC address 0x%08x, not a "
		    "page, and there is no IA32_APIC_BASE; using 0x%08x\n",
		    source, table_pa, LAPIC_DEFAULT_PA);
		return LAPIC_DEFAULT_PA;
	}
	msr_pa = rdmsr(MSR_APICBASE) & APICBASE_PA_MASK;
	if (msr_pa > UINT32_MAX - PAGE_MASK) {
		kprintf("lapic: IA32_APIC_BASE puts the local APIC at 0x%llx, "
		    "above 4 GiB; using 0x%08x from the %s\n", msr_pa,
		    table_pa, source);
		return table_pa;
	}
	if (msr_pa != table_pa)
		kprintf("lapic: the %s says the local APIC is at 0x%08x but "
		    "IA32_APIC_BASE says 0x%08x; using 0x%08x (the MSR)\n",
		    source, table_pa, (uint32_t)msr_pa, (uint32_t)msr_pa);
	return (vm_paddr_t)msr_pa;
}

uint32_t
lapic_id(void)
{
	return lapic_read(LAPIC_ID) >> 24;
}

/* Run by each CPU for its own local APIC, interrupts off. */
void
lapic_init_cpu(void)
{
	if (cpu_has(CPUID_MSR, 0)) {
		uint64_t base = rdmsr(MSR_APICBASE);

		if ((base & APICBASE_ENABLE) == 0)
			wrmsr(MSR_APICBASE, base | APICBASE_ENABLE);
	}
	lapic_write(LAPIC_TPR, 0);
	lapic_write(LAPIC_LVT_TIMER, LVT_MASKED);
	lapic_write(LAPIC_LVT_ERROR, LVT_MASKED);
	lapic_write(LAPIC_SVR, SVR_ENABLE | VEC_SPURIOUS);
	lapic_write(LAPIC_ESR, 0);
	lapic_write(LAPIC_EOI, 0);
}

void
lapic_eoi(void)
{
	lapic_write(LAPIC_EOI, 0);
}

/*
 * Send one IPI and wait for the local APIC to accept it (delivery status
 * idle), bounded at 100 ms.  Returns 0, or -1 after a console line.  Runs
 * with interrupts off so ICR_HI and ICR_LO are written as a pair.
 */
int
lapic_send_ipi(uint32_t apicid, uint32_t icr_lo)
{
	uint32_t ef = intr_disable();
	uint64_t deadline;
	int error = 0;

	lapic_write(LAPIC_ICR_HI, apicid << 24);
	lapic_write(LAPIC_ICR_LO, icr_lo);
	deadline = cpu_ticks() + cpu_tsc_hz / 10;
	while (lapic_read(LAPIC_ICR_LO) & ICR_PENDING) {
		if (cpu_ticks() > deadline) {
			kprintf("lapic: IPI 0x%x to apic id %u not accepted "
			    "within 100 ms\n", icr_lo, apicid);
			error = -1;
			break;
		}
		cpu_pause();
	}
	mycpu->gd_cnt_ipi_sent++;
	intr_restore(ef);
	return error;
}

void
cpu_send_ipiq(struct globaldata *gd)
{
	lapic_send_ipi(gd->gd_apicid, ICR_FIXED | ICR_LEVEL_ASSERT | VEC_IPIQ);
}

/* ICR destination shorthand "all excluding self" (bits 19:18 = 11b). */
void
cpu_send_ipiq_allbutself(void)
{
	lapic_send_ipi(0, ICR_DEST_ALLBUTSELF | ICR_FIXED | ICR_LEVEL_ASSERT |
	    VEC_IPIQ);
}

/*
 * Timer (SDM Vol. 3 §10.5.4): count the BSP's timer against the calibrated
 * TSC once, before any AP starts; every CPU then uses one-shot mode with
 * the same rate.  A timer that counts less than LAPIC_TIMER_MIN_HZ cannot
 * be armed sensibly (a zero rate re-arms with ICR=1, an interrupt storm):
 * the rate stays 0, lapic_timer_usable() says false, and the caller falls
 * back to the PIT.  Returns lapic_timer_usable().
 */
#define LAPIC_TIMER_MIN_HZ	100000
bool
lapic_timer_calibrate(void)
{
	uint32_t left, counted;
	uint64_t rate;

	lapic_write(LAPIC_TIMER_DCR, DCR_DIV16);
	lapic_write(LAPIC_LVT_TIMER, LVT_MASKED | VEC_TIMER);
	lapic_write(LAPIC_TIMER_ICR, 0xFFFFFFFF);
	cpu_delay_us(TIMER_CAL_US);
	left = kopts.ko_fault_lapic_timer_dead ? 0xFFFFFFFFu :
	    lapic_read(LAPIC_TIMER_CCR);
	lapic_write(LAPIC_TIMER_ICR, 0);
	counted = 0xFFFFFFFFu - left;
	rate = (uint64_t)counted * 1000000 / TIMER_CAL_US;
	if (rate < LAPIC_TIMER_MIN_HZ) {
		kprintf("lapic: timer counted %u in %d ms%s: it does not count; "
		    "falling back to the PIT\n", counted, TIMER_CAL_US / 1000,
		    kopts.ko_fault_lapic_timer_dead ?
		    " (fault.lapic_timer_dead)" : "");
		return false;
	}
	lapic_timer_hz = rate;
	kprintf("lapic: timer %llu.%03llu MHz (divide 16), one-shot on vector 0x%x\n",
	    lapic_timer_hz / 1000000, (lapic_timer_hz / 1000) % 1000, VEC_TIMER);
	return true;
}

bool
lapic_timer_usable(void)
{
	return lapic_timer_hz != 0;
}

/*
 * Let the 8259's interrupts through this CPU's local APIC: LINT0 in ExtINT
 * mode, unmasked (the "virtual wire" of SDM Vol. 3 §10.5.1).  For the PIT
 * clock on a CPU whose LAPIC timer is unusable.
 */
void
lapic_route_pic(void)
{
	lapic_write(LAPIC_LVT_LINT0, LVT_EXTINT);
}

/* Each CPU for itself: one-shot mode, unmasked, nothing armed yet. */
void
lapic_timer_init_cpu(void)
{
	lapic_write(LAPIC_TIMER_DCR, DCR_DIV16);
	lapic_write(LAPIC_LVT_TIMER, VEC_TIMER);
	lapic_write(LAPIC_TIMER_ICR, 0);
}

void
lapic_timer_reload(uint64_t tsc_delta)
{
	uint64_t count;

	KKASSERT(lapic_timer_hz != 0);
	if (tsc_delta > cpu_tsc_hz)
		tsc_delta = cpu_tsc_hz;	/* at most 1 s ahead; re-armed then */
	count = tsc_delta * lapic_timer_hz / cpu_tsc_hz;
	lapic_write(LAPIC_TIMER_ICR, count == 0 ? 1 : (uint32_t)count);
}
