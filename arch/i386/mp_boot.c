/*
 * Finding the CPUs and starting the application processors.
 *
 * mp_discover() (BSP, paging off): ACPI MADT first, Intel MP table as the
 * fallback (cpu_enum.h); the BSP becomes cpuid 0, the other enabled
 * processors get dense cpuids in table order, disabled entries (hot-plug
 * slots) are reported and never started.  No local APIC (CPUID) or no table
 * means uniprocessor mode.
 *
 * mp_start_aps() (BSP, paging on): prepares every AP's private area and
 * stack, copies the trampoline below 1 MiB and runs the INIT / STARTUP /
 * STARTUP sequence of Intel SDM Vol. 3 §8.4.4.1 for all APs in one window
 * (INIT to every AP, 10 ms, SIPI to every AP, 200 us, SIPI again), then
 * waits a bounded time for each to come online.  An AP that does not is
 * reported and left out of smp_active_mask.
 *
 * Giving up on an AP is an atomic hand-shake on its ap_start_slot[]: the
 * slot starts AP_SLOT_WAITING; the AP, first thing in ap_main(), moves it
 * to AP_SLOT_RUNNING, and the BSP at its deadline moves it to
 * AP_SLOT_ABANDONED, both by compare-and-swap, so exactly one wins.  An AP
 * that loses marks the slot AP_SLOT_PARKED and halts for good with
 * interrupts off, never counted; if the BSP loses, the AP is coming and
 * the BSP waits (bounded, else a named panic) for it to be online.
 *
 * mp_afford_memory() (BSP, paging off, before the page tables and any
 * per-CPU allocation): every CPU costs MP_CPU_PAGES of RAM (its boot and
 * double-fault stacks, its IPIQ FIFOs, and the stacks of the
 * MP_CPU_THREADS threads the self-test suite keeps alive on it at once,
 * lifecycle.create_exit_waves), and the kernel keeps its page tables and
 * MP_KERNEL_PAGES besides.  With less free RAM than
 * that for every CPU found, only the CPUs it affords are started, in one
 * line saying why; with less than one CPU's worth the kernel stops with a
 * panic line naming the amounts (docs/boot.md "CPU models and memory").
 *
 * Fault injection (docs/boot.md §8): smp.nostart=N sends cpu N no STARTUP
 * IPI; smp.slowstart=N delays cpu N past the deadline before its
 * hand-shake, smp.slowonline=N just after winning it.
 *
 * Every AP, once online, waits for the BSP to publish smp_active_mask, which
 * the BSP does no earlier than AP_SETTLE_MS after the first INIT: how long
 * QEMU takes to run an AP after its STARTUP IPI varies with host timing
 * even under -icount (docs/testing.md), and this fixed release point keeps
 * that variation out of everything after start-up.  The start-up
 * hand-shake above guarantees that every AP getting this far is in it.
 */
#include <sys/param.h>
#include <sys/systm.h>
#include <sys/globaldata.h>
#include <sys/ipiq.h>
#include <sys/kopts.h>
#include <sys/thread.h>
#include <sys/vm_page.h>
#include <machine/atomic.h>
#include <machine/cpu.h>
#include <machine/cpufunc.h>
#include "cpu_enum.h"
#include "i386_var.h"

#define MP_TRAMPOLINE_PA	0x8000	/* must match boot/mpentry.asm */
#define AP_STACK_PAGES		4
#define AP_START_WAIT_MS	2000
#define AP_SLOWSTART_MS		(AP_START_WAIT_MS + 500)	/* smp.slow* */
#define AP_SETTLE_MS		20
#define MP_CPU_THREADS		72	/* live threads per CPU the suite needs */
#define MP_CPU_PAGES							\
	(AP_STACK_PAGES + DF_STACK_PAGES +				\
	    howmany(MAXCPU * sizeof(struct lwkt_ipiq), PAGE_SIZE) +	\
	    MP_CPU_THREADS * (KSTACK_PAGES + 1))
#define MP_KERNEL_PAGES		256	/* 1 MiB: heap, tables, the suite */
#define KIB(pages)		((pages) * (PAGE_SIZE / 1024))

extern char ap_trampoline[], ap_trampoline_end[];
extern void kern_ap_started(void) __noreturn;

struct mdglobaldata cpu_private[MAXCPU] __aligned(64);
uint8_t ap_apicid_to_cpu[256];		/* read by boot/mpentry.asm */
uint32_t ap_boot_stack[MAXCPU];		/* read by boot/mpentry.asm */
uint32_t ap_lapic_id_reg;		/* read by boot/mpentry.asm */
volatile uint32_t ap_start_slot[MAXCPU];	/* AP_SLOT_*, see mp_start_aps() */
static volatile uint32_t ap_released;	/* smp_active_mask is final */

int ncpus = 1;
volatile cpumask_t smp_active_mask = { .ary = { 1 } };
int smp_active;

static struct cpu_enum cpu_table;

struct globaldata *
globaldata_find(int cpuid)
{
	KKASSERT(cpuid >= 0 && cpuid < ncpus);
	return &cpu_private[cpuid].mi;
}

/* The local APIC address to use for the CPUs that *ce lists. */
vm_paddr_t
mp_lapic_pa(const struct cpu_enum *ce)
{
	return lapic_pa_check(ce->ce_lapic_pa, ce->ce_source);
}

void
mp_discover(const struct bootinfo *bi)
{
	struct cpu_enum *ce = &cpu_table;
	uint32_t bsp_apicid;
	int i, limit;

	memset(ap_apicid_to_cpu, 0xFF, sizeof(ap_apicid_to_cpu));
	if (!lapic_present()) {
		kprintf("smp: no local APIC (CPUID.1:EDX bit 9 clear); "
		    "running uniprocessor\n");
		return;
	}
	if (acpi_madt_enum(bi->bi_rsdp, bi->bi_rsdp_len, kopts.ko_fault_acpi,
	    ce) != 0 &&
	    mptable_enum(ce) != 0) {
		kprintf("smp: neither an ACPI MADT nor an MP table was found; "
		    "running uniprocessor\n");
		lapic_base = (volatile uint8_t *)lapic_pa_check(
		    LAPIC_DEFAULT_PA, "architectural default");
		cpu_private[0].mi.gd_apicid = (int)lapic_id();
		return;
	}
	lapic_base = (volatile uint8_t *)mp_lapic_pa(ce);
	bsp_apicid = lapic_id();
	cpu_private[0].mi.gd_apicid = (int)bsp_apicid;
	ap_apicid_to_cpu[bsp_apicid] = 0;

	kprintf("smp: %s lists %d enabled CPU(s), local APIC at 0x%08x, "
	    "BSP apic id %u\n", ce->ce_source, ce->ce_ncpu, (uint32_t)lapic_base,
	    bsp_apicid);
	for (i = 0; i < ce->ce_ndisabled; i++)
		kprintf("smp: apic id %u is disabled in the %s (hot-plug "
		    "slot); not started\n", ce->ce_disabled_apicid[i],
		    ce->ce_source);

	limit = MIN((int)kopts.ko_maxcpus, MAXCPU);
	for (i = 0; i < ce->ce_ncpu; i++) {
		uint8_t id = ce->ce_apicid[i];

		if (id == bsp_apicid || ap_apicid_to_cpu[id] != 0xFF)
			continue;
		if (ncpus >= limit) {
			kprintf("smp: apic id %u not started: limit of %d CPUs "
			    "(%s)\n", id, limit, limit == MAXCPU ? "MAXCPU" :
			    "smp.maxcpus");
			continue;
		}
		ap_apicid_to_cpu[id] = (uint8_t)ncpus;
		cpu_private[ncpus].mi.gd_apicid = id;
		ncpus++;
	}
	smp_active = ncpus > 1;
	kprintf("smp: cpuid:apic id");
	for (i = 0; i < ncpus; i++)
		kprintf(" %d:%d", i, cpu_private[i].mi.gd_apicid);
	kprintf("\n");
}

/* Forget the CPUs from `keep` on: they are never started. */
static void
mp_keep_cpus(int keep)
{
	int cpu;

	KKASSERT(keep >= 1 && keep <= ncpus);
	for (cpu = keep; cpu < ncpus; cpu++)
		ap_apicid_to_cpu[cpu_private[cpu].mi.gd_apicid] = 0xFF;
	ncpus = keep;
	smp_active = ncpus > 1;
}

/*
 * Before mp_start_aps(): start no AP after all (one line saying why); the
 * kernel runs on CPU 0 alone.
 */
void
mp_uniprocessor(const char *why)
{
	int n = ncpus;

	if (n == 1)
		return;
	mp_keep_cpus(1);
	kprintf("smp: %s; running uniprocessor (%d CPU(s) not started)\n",
	    why, n - 1);
}

void
mp_afford_memory(void)
{
	uint32_t free = vm_page_free_count(), afford;
	uint32_t keep = MP_KERNEL_PAGES + pmap_bootstrap_pages();

	if (free < keep + MP_CPU_PAGES)
		panic("vm: %u KiB of RAM free after the kernel image; it needs "
		    "at least %u KiB (%u KiB for one CPU, %u KiB besides)",
		    KIB(free), KIB(keep + MP_CPU_PAGES), KIB(MP_CPU_PAGES),
		    KIB(keep));
	afford = (free - keep) / MP_CPU_PAGES;
	if (afford >= (uint32_t)ncpus)
		return;
	kprintf("smp: %u KiB of RAM free: memory for %u of %d CPUs (%u KiB "
	    "each, %u KiB besides); the other %d are not started\n",
	    KIB(free), afford, ncpus, KIB(MP_CPU_PAGES), KIB(keep),
	    ncpus - (int)afford);
	mp_keep_cpus((int)afford);
}

void
ap_main(int cpuid)
{
	struct mdglobaldata *md = &cpu_private[cpuid];
	struct globaldata *gd = &md->mi;

	if ((uint32_t)cpuid == kopts.ko_smp_slowstart)
		cpu_delay_us(AP_SLOWSTART_MS * 1000);
	if (!atomic_cmpset_int(&ap_start_slot[cpuid], AP_SLOT_WAITING,
	    AP_SLOT_RUNNING)) {
		/* The BSP gave up on this CPU: it is not counted, stay out. */
		atomic_cmpset_int(&ap_start_slot[cpuid], AP_SLOT_ABANDONED,
		    AP_SLOT_PARKED);
		for (;;) {
			cpu_disable_intr();
			cpu_hlt();
		}
	}
	if ((uint32_t)cpuid == kopts.ko_smp_slowonline)
		cpu_delay_us(AP_SLOWSTART_MS * 1000);
	gdt_load(md);
	gd->gd_stack_size = AP_STACK_PAGES * PAGE_SIZE;
	gd->gd_stack_base = ap_boot_stack[cpuid] - gd->gd_stack_size;
	lwkt_init_cpu_threads();
	idt_load();
	lapic_init_cpu();
	if ((int)lapic_id() != gd->gd_apicid)
		panic("smp: cpu %d expected apic id %d, found %u", cpuid,
		    gd->gd_apicid, lapic_id());
	cpu_init_lwkt();
	while (!ap_released)
		cpu_pause();
	KKASSERT(CPUMASK_TESTBIT(smp_active_mask, cpuid));
	kern_ap_started();
}

static void
send_to_aps(uint32_t icr_lo)
{
	int cpu;

	for (cpu = 1; cpu < ncpus; cpu++) {
		if (cpu_private[cpu].mi.gd_state != GDS_OFFLINE)
			continue;
		if ((icr_lo & ICR_DELMODE_MASK) == ICR_STARTUP &&
		    (uint32_t)cpu == kopts.ko_smp_nostart)
			continue;
		lapic_send_ipi(cpu_private[cpu].mi.gd_apicid, icr_lo);
	}
}

void
mp_start_aps(void)
{
	uint32_t tramp_len = ap_trampoline_end - ap_trampoline;
	uint64_t t0, t_last, deadline;
	cpumask_t online = cpumask_bit(0), all;
	int cpu;

	if (!smp_active)
		return;
	memcpy((void *)MP_TRAMPOLINE_PA, ap_trampoline, tramp_len);
	ap_lapic_id_reg = (uint32_t)lapic_base + 0x20;
	CPUMASK_ASSZERO(all);
	for (cpu = 1; cpu < ncpus; cpu++) {
		void *stack = vm_page_alloc(AP_STACK_PAGES);

		if (stack == NULL)
			panic("smp: no memory for the stack of cpu %d", cpu);
		gdt_init_cpu(&cpu_private[cpu], cpu);
		ap_boot_stack[cpu] = (uint32_t)stack + AP_STACK_PAGES * PAGE_SIZE;
		CPUMASK_SETBIT(all, cpu);
	}

	if (kopts.ko_smp_nostart != 0)
		kprintf("smp: smp.nostart=%u: cpu %u gets no STARTUP IPI "
		    "(fault injection)\n", kopts.ko_smp_nostart,
		    kopts.ko_smp_nostart);
	t0 = cpu_ticks();
	send_to_aps(ICR_INIT | ICR_LEVEL_ASSERT | ICR_TRIG_LEVEL);
	cpu_delay_us(10000);
	send_to_aps(ICR_STARTUP | (MP_TRAMPOLINE_PA >> PAGE_SHIFT));
	cpu_delay_us(200);
	send_to_aps(ICR_STARTUP | (MP_TRAMPOLINE_PA >> PAGE_SHIFT));

	deadline = t0 + cpu_tsc_hz * AP_START_WAIT_MS / 1000;
	t_last = t0;
	while (!cpumask_empty(cpumask_andnot(all, online)) &&
	    cpu_ticks() < deadline) {
		for (cpu = 1; cpu < ncpus; cpu++) {
			if (!CPUMASK_TESTBIT(online, cpu) &&
			    cpu_private[cpu].mi.gd_state == GDS_ONLINE) {
				CPUMASK_SETBIT(online, cpu);
				t_last = cpu_ticks();
			}
		}
		cpu_pause();
	}
	for (cpu = 1; cpu < ncpus; cpu++) {
		struct globaldata *gd = &cpu_private[cpu].mi;

		if (CPUMASK_TESTBIT(online, cpu))
			continue;
		if (atomic_cmpset_int(&ap_start_slot[cpu], AP_SLOT_WAITING,
		    AP_SLOT_ABANDONED)) {
			kprintf("smp: cpu %d (apic id %d) did not come up within "
			    "%d ms; continuing without it\n", cpu,
			    gd->gd_apicid, AP_START_WAIT_MS);
			continue;
		}
		/* It took its slot in time: it is coming, wait for it. */
		KKASSERT(ap_start_slot[cpu] == AP_SLOT_RUNNING);
		kprintf("smp: cpu %d (apic id %d) took its start-up slot but is "
		    "not online yet; waiting up to %d ms more\n", cpu,
		    gd->gd_apicid, AP_START_WAIT_MS);
		deadline = cpu_ticks() + cpu_tsc_hz * AP_START_WAIT_MS / 1000;
		while (gd->gd_state != GDS_ONLINE && cpu_ticks() < deadline)
			cpu_pause();
		if (gd->gd_state != GDS_ONLINE)
			panic("smp: cpu %d took its start-up slot but did not "
			    "come online within %d ms", cpu, AP_START_WAIT_MS);
		CPUMASK_SETBIT(online, cpu);
		t_last = cpu_ticks();
	}
	deadline = t0 + cpu_tsc_hz * AP_SETTLE_MS / 1000;
	while (cpu_ticks() < deadline)
		cpu_pause();
	for (cpu = 0; cpu < ncpus; cpu++)
		cpu_private[cpu].mi.gd_other_cpus = cpumask_andnot(online,
		    cpumask_bit(cpu));
	smp_active_mask = online;	/* x86 keeps it before the release */
	atomic_store_rel_int(&ap_released, 1);
	kprintf("smp: %d of %d CPUs online; first INIT to last AP online "
	    "%llu us\n", cpumask_count(online), ncpus,
	    cpu_ticks_to_us(t_last - t0));
}
