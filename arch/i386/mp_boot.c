/*
 * Finding the CPUs and starting the application processors.
 *
 * mp_discover() (BSP, paging off): ACPI MADT first, Intel MP table as the
 * fallback (cpu_enum.h); the BSP becomes cpuid 0, the other enabled
 * processors get dense cpuids in table order.  Every processor the table
 * lists that will not be started -- disabled (hot-plug slots), beyond
 * MAXCPU or smp.maxcpus, an x2APIC id above 254 (xAPIC mode cannot address
 * it), the broadcast id 255 -- is reported in ONE summary line, counts by
 * reason and the APIC ids as ranges.  No local APIC (CPUID) or no table
 * means uniprocessor mode.
 *
 * mp_afford_memory() (BSP, paging off, before the page tables and any
 * per-CPU allocation): every CPU costs mp_cpu_pages(n) of RAM when n CPUs
 * run (its private area, boot and double-fault stacks, its IPIQ FIFOs --
 * one row per running CPU -- and the stacks of the MP_CPU_THREADS threads
 * the self-test suite keeps alive on it at once,
 * lifecycle.create_exit_waves), and the kernel keeps its page tables and
 * MP_KERNEL_PAGES besides.  With less free RAM than that for every CPU
 * found, the largest count it affords (up to MAXCPU) is started, in one
 * line saying why; with less than one CPU's worth the kernel stops with a
 * panic line naming the amounts (docs/boot.md "CPU models and memory").
 *
 * mp_alloc_private() (BSP, after mp_afford_memory()): the private area
 * (struct mdglobaldata: globaldata, GDT, TSSs) of each AP to be started,
 * page-allocated; CPU 0's is static.  Nothing per-CPU is sized by MAXCPU
 * here but the small lookup tables boot/mpentry.asm reads.
 *
 * mp_start_aps() (BSP, paging on): prepares every AP's stack and
 * double-fault task (so that no AP allocates memory on its way online: a
 * lock all of them wanted at once made start-up quadratic in N), copies the
 * trampoline below 1 MiB and runs INIT / STARTUP / STARTUP (Intel SDM
 * Vol. 3 §8.4.4.1) for ALL APs in one window, then waits a bounded time for
 * each to come online; an AP that does not is reported and left out of
 * smp_active_mask.
 *   The 10 ms wait between INIT and STARTUP (MP Spec 1.4 B.4) is for the
 * 82489DX and Pentium-class APICs; P6 and later (CPUID family >= 6) and any
 * integrated xAPIC (version >= 0x14) do not need it (mp_init_wait_us()),
 * and then the two STARTUPs are 10 us apart instead of 200 us.
 *   Broadcast or unicast: the IPIs go with the all-excluding-self
 * shorthand only when every processor the firmware table lists is being
 * started (nothing disabled, capped, skipped or left out for memory, no
 * smp.nostart).  INIT resets whatever receives it, so a shorthand would
 * also reset -- and STARTUP then run -- a CPU the table marks disabled, one
 * beyond the cap we deliberately keep idle, or one whose id xAPIC cannot
 * name; such a CPU would wake in our trampoline (which parks an unknown
 * APIC id, but only after it has run).  Otherwise each AP gets its own
 * INIT and STARTUPs, still in the same window.  The sender's cost is one
 * ICR write per IPI either way; the shorthand makes it constant in N.
 *   While the window is open, PIT channel 0 ticks every 10 us with its
 * interrupt masked (clock_pace_startup()): QEMU's round-robin TCG under
 * -icount runs an AP that got a STARTUP IPI only at the next virtual timer
 * event, which otherwise is the firmware's 55 ms PIT tick (32 APs took
 * 666 ms of guest time that way).  Hardware is unaffected.
 *
 * Giving up on an AP is an atomic hand-shake on its ap_start_slot[]: the
 * slot starts AP_SLOT_WAITING; the AP, first thing in ap_main(), moves it
 * to AP_SLOT_RUNNING, and the BSP at its deadline moves it to
 * AP_SLOT_ABANDONED, both by compare-and-swap, so exactly one wins.  An AP
 * that loses marks the slot AP_SLOT_PARKED and halts for good with
 * interrupts off, never counted; if the BSP loses, the AP is coming and
 * the BSP waits (bounded, else a named panic) for it to be online.
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
#define AP_SIPI_GAP_US		200	/* between STARTUPs after an INIT wait */
#define AP_SIPI_GAP_FAST_US	10	/* ... and without one */
#define MP_CPU_THREADS		72	/* live threads per CPU the suite needs */
#define MP_PRIV_PAGES		howmany(sizeof(struct mdglobaldata), PAGE_SIZE)
#define MP_KERNEL_PAGES		256	/* 1 MiB: heap, tables, the suite */
#define KIB(pages)		((pages) * (PAGE_SIZE / 1024))
#define LAPIC_VER_REG		0x030	/* SDM Vol. 3 §10.4.8 */
#define LAPIC_VER_INTEGRATED	0x10	/* 0x0X: 82489DX */
#define LAPIC_VER_XAPIC		0x14	/* Pentium 4 / Xeon xAPIC and later */

/* boot/mpentry.asm indexes these with a byte cpuid and 4-byte stacks. */
_Static_assert(MAXCPU <= 0xFF, "ap_apicid_to_cpu[] holds cpuids in a byte, "
    "0xFF meaning none");
_Static_assert(sizeof(uint32_t) == sizeof(void *), "ap_boot_stack[] entries "
    "are 4 bytes (mpentry.asm: [ap_boot_stack + ebx * 4])");

extern char ap_trampoline[], ap_trampoline_end[];
extern void kern_ap_started(void) __noreturn;

static struct mdglobaldata cpu0_private __aligned(64);
struct mdglobaldata *cpu_private[MAXCPU] = { &cpu0_private };
uint8_t ap_apicid_to_cpu[256];		/* read by boot/mpentry.asm */
uint32_t ap_boot_stack[MAXCPU];		/* read by boot/mpentry.asm */
uint32_t ap_lapic_id_reg;		/* read by boot/mpentry.asm */
volatile uint32_t ap_start_slot[MAXCPU];	/* AP_SLOT_*, see mp_start_aps() */
static volatile uint32_t ap_released;	/* smp_active_mask is final */

int ncpus = 1;
volatile cpumask_t smp_active_mask = { .ary = { 1 } };
int smp_active;

static struct cpu_enum cpu_table;
static uint8_t cpu_apicid[MAXCPU];	/* mp_discover(): cpuid -> APIC id */
static bool mp_whole_table;		/* every CPU the table lists starts */

struct globaldata *
globaldata_find(int cpuid)
{
	KKASSERT(cpuid >= 0 && cpuid < ncpus && cpu_private[cpuid] != NULL);
	return &cpu_private[cpuid]->mi;
}

/* The local APIC address to use for the CPUs that *ce lists. */
vm_paddr_t
mp_lapic_pa(const struct cpu_enum *ce)
{
	return lapic_pa_check(ce->ce_lapic_pa, ce->ce_source);
}

/* Sort `n` ids (at most CPU_ENUM_MAX) in place, ascending. */
static void
mp_sort_ids(uint32_t *ids, int n)
{
	uint32_t v;
	int i, j;

	for (i = 1; i < n; i++) {
		v = ids[i];
		for (j = i; j > 0 && ids[j - 1] > v; j--)
			ids[j] = ids[j - 1];
		ids[j] = v;
	}
}

/*
 * Print "N <what>: ids a-b,c" for `n` entries of which the first
 * MIN(n, CPU_ENUM_MAX) ids are in `ids` (sorted here; no list if `ids` is
 * NULL); nothing if n is 0.  `*sep` goes before it and becomes "; ".
 */
static void
mp_print_reason(const char **sep, int n, const char *what, uint32_t *ids)
{
	int i, j, stored = MIN(n, CPU_ENUM_MAX);

	if (n == 0)
		return;
	kprintf("%s%d %s", *sep, n, what);
	*sep = "; ";
	if (ids == NULL)
		return;
	mp_sort_ids(ids, stored);
	kprintf(": id%s ", n == 1 ? "" : "s");
	for (i = 0; i < stored; i = j + 1) {
		for (j = i; j + 1 < stored && ids[j + 1] == ids[j] + 1; j++)
			;
		kprintf("%s%u", i == 0 ? "" : ",", ids[i]);
		if (j > i)
			kprintf("-%u", ids[j]);
	}
	if (stored < n)
		kprintf(",...");
}

void
mp_discover(const struct bootinfo *bi)
{
	static uint32_t capped[CPU_ENUM_MAX];
	struct cpu_enum *ce = &cpu_table;
	const char *sep = "", *capwhy;
	char capbuf[32];
	uint32_t bsp_apicid;
	int i, limit, ncapped = 0, nskip;

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
		cpu_private[0]->mi.gd_apicid = (int)lapic_id();
		return;
	}
	lapic_base = (volatile uint8_t *)mp_lapic_pa(ce);
	bsp_apicid = lapic_id();
	cpu_private[0]->mi.gd_apicid = (int)bsp_apicid;
	cpu_apicid[0] = (uint8_t)bsp_apicid;
	ap_apicid_to_cpu[bsp_apicid] = 0;

	kprintf("smp: %s lists %d enabled CPU(s), local APIC at 0x%08x, "
	    "BSP apic id %u\n", ce->ce_source, ce->ce_ncpu, (uint32_t)lapic_base,
	    bsp_apicid);

	limit = MIN((int)kopts.ko_maxcpus, MAXCPU);
	for (i = 0; i < ce->ce_ncpu; i++) {
		uint8_t id = ce->ce_apicid[i];

		if (id == bsp_apicid || ap_apicid_to_cpu[id] != 0xFF)
			continue;
		if (ncpus >= limit) {
			capped[ncapped++] = id;
			continue;
		}
		ap_apicid_to_cpu[id] = (uint8_t)ncpus;
		cpu_apicid[ncpus] = id;
		ncpus++;
	}
	smp_active = ncpus > 1;
	nskip = ce->ce_ndisabled + ncapped + ce->ce_nx2apic + ce->ce_nbroadcast;
	mp_whole_table = nskip == 0;
	if (nskip > 0) {
		if (limit == MAXCPU) {
			capwhy = "beyond MAXCPU";
		} else {
			ksnprintf(capbuf, sizeof(capbuf), "beyond smp.maxcpus=%d",
			    limit);
			capwhy = capbuf;
		}
		kprintf("smp: %d CPU(s) the %s lists not started: ", nskip,
		    ce->ce_source);
		mp_print_reason(&sep, ce->ce_ndisabled, "disabled (hot-plug "
		    "slots)", ce->ce_disabled_apicid);
		mp_print_reason(&sep, ncapped, capwhy, capped);
		mp_print_reason(&sep, ce->ce_nx2apic, "x2APIC id above 254 "
		    "(xAPIC mode cannot address it)", ce->ce_x2apicid);
		mp_print_reason(&sep, ce->ce_nbroadcast, "with the broadcast id "
		    "255", NULL);
		kprintf("\n");
	}
	kprintf("smp: cpuid:apic id");
	for (i = 0; i < ncpus; i++)
		kprintf(" %d:%d", i, cpu_apicid[i]);
	kprintf("\n");
}

/* Forget the CPUs from `keep` on: they are never started. */
static void
mp_keep_cpus(int keep)
{
	int cpu;

	KKASSERT(keep >= 1 && keep <= ncpus);
	for (cpu = keep; cpu < ncpus; cpu++) {
		ap_apicid_to_cpu[cpu_apicid[cpu]] = 0xFF;
		if (cpu_private[cpu] != NULL) {
			vm_page_free(cpu_private[cpu], MP_PRIV_PAGES);
			cpu_private[cpu] = NULL;
		}
	}
	ncpus = keep;
	smp_active = ncpus > 1;
	mp_whole_table = false;
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

/* Pages each CPU costs when `n` CPUs run (see the top of this file). */
static uint32_t
mp_cpu_pages(uint32_t n)
{
	return MP_PRIV_PAGES + AP_STACK_PAGES + DF_STACK_PAGES +
	    howmany(n * sizeof(struct lwkt_ipiq), PAGE_SIZE) +
	    MP_CPU_THREADS * (KSTACK_PAGES + 1);
}

void
mp_afford_memory(void)
{
	uint32_t free = vm_page_free_count(), afford;
	uint32_t keep = MP_KERNEL_PAGES + pmap_bootstrap_pages();

	if (free < keep + mp_cpu_pages(1))
		panic("vm: %u KiB of RAM free after the kernel image; it needs "
		    "at least %u KiB (%u KiB for one CPU, %u KiB besides)",
		    KIB(free), KIB(keep + mp_cpu_pages(1)),
		    KIB(mp_cpu_pages(1)), KIB(keep));
	/* The per-CPU cost grows with the count (IPIQ rows): the largest
	 * count that fits, at most the CPUs found (<= MAXCPU). */
	for (afford = (uint32_t)ncpus; afford > 1 &&
	    keep + afford * mp_cpu_pages(afford) > free; afford--)
		;
	if (afford >= (uint32_t)ncpus)
		return;
	kprintf("smp: %u KiB of RAM free: memory for %u of %d CPUs (%u KiB "
	    "each, %u KiB besides); the other %d are not started\n",
	    KIB(free), afford, ncpus, KIB(mp_cpu_pages(afford)), KIB(keep),
	    ncpus - (int)afford);
	mp_keep_cpus((int)afford);
}

void
mp_alloc_private(void)
{
	struct mdglobaldata *md;
	int cpu;

	for (cpu = 1; cpu < ncpus; cpu++) {
		KKASSERT(cpu_private[cpu] == NULL);
		md = vm_page_alloc(MP_PRIV_PAGES);
		if (md == NULL)
			panic("smp: no memory for the private area of cpu %d "
			    "(%u KiB)", cpu, KIB((uint32_t)MP_PRIV_PAGES));
		memset(md, 0, MP_PRIV_PAGES * PAGE_SIZE);
		cpu_private[cpu] = md;
		gdt_init_cpu(md, cpu);
		md->mi.gd_apicid = cpu_apicid[cpu];
	}
}

void
ap_main(int cpuid)
{
	struct mdglobaldata *md = cpu_private[cpuid];
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

uint32_t
mp_init_wait_us(uint32_t family, uint32_t lapic_version)
{
	uint32_t v = lapic_version & 0xFF;

	if (v < LAPIC_VER_INTEGRATED)
		return MP_INIT_WAIT_US;		/* external 82489DX */
	if (family >= 6 || v >= LAPIC_VER_XAPIC)
		return 0;
	return MP_INIT_WAIT_US;			/* Pentium-class integrated */
}

/*
 * One IPI to every AP not online yet: the shorthand when `bcast`, else one
 * each (smp.nostart's CPU gets no STARTUP).
 */
static void
send_to_aps(uint32_t icr_lo, bool bcast)
{
	int cpu;

	if (bcast) {
		lapic_send_ipi(0, icr_lo | ICR_DEST_ALLBUT);
		return;
	}
	for (cpu = 1; cpu < ncpus; cpu++) {
		if (cpu_private[cpu]->mi.gd_state != GDS_OFFLINE)
			continue;
		if ((icr_lo & ICR_DELMODE_MASK) == ICR_STARTUP &&
		    (uint32_t)cpu == kopts.ko_smp_nostart)
			continue;
		lapic_send_ipi(cpu_private[cpu]->mi.gd_apicid, icr_lo);
	}
}

void
mp_start_aps(void)
{
	uint32_t tramp_len = ap_trampoline_end - ap_trampoline;
	uint32_t init_wait, sipi = ICR_STARTUP | (MP_TRAMPOLINE_PA >> PAGE_SHIFT);
	uint64_t t0, t_last, deadline;
	cpumask_t online = cpumask_bit(0), all;
	bool bcast;
	int cpu;

	if (!smp_active)
		return;
	KKASSERT(tramp_len <= PAGE_SIZE);
	memcpy((void *)MP_TRAMPOLINE_PA, ap_trampoline, tramp_len);
	ap_lapic_id_reg = (uint32_t)lapic_base + 0x20;
	CPUMASK_ASSZERO(all);
	for (cpu = 1; cpu < ncpus; cpu++) {
		void *stack = vm_page_alloc(AP_STACK_PAGES);

		if (stack == NULL)
			panic("smp: no memory for the stack of cpu %d", cpu);
		ap_boot_stack[cpu] = (uint32_t)stack + AP_STACK_PAGES * PAGE_SIZE;
		dblfault_setup_cpu(cpu_private[cpu]);
		CPUMASK_SETBIT(all, cpu);
	}
	init_wait = mp_init_wait_us(cpu_ident.ci_family,
	    *(volatile uint32_t *)(lapic_base + LAPIC_VER_REG));
	bcast = mp_whole_table && kopts.ko_smp_nostart == 0;

	if (kopts.ko_smp_nostart != 0)
		kprintf("smp: smp.nostart=%u: cpu %u gets no STARTUP IPI "
		    "(fault injection)\n", kopts.ko_smp_nostart,
		    kopts.ko_smp_nostart);
	clock_pace_startup(true);
	t0 = cpu_ticks();
	send_to_aps(ICR_INIT | ICR_LEVEL_ASSERT | ICR_TRIG_LEVEL, bcast);
	if (init_wait != 0)
		cpu_delay_us(init_wait);
	send_to_aps(sipi, bcast);
	cpu_delay_us(init_wait != 0 ? AP_SIPI_GAP_US : AP_SIPI_GAP_FAST_US);
	send_to_aps(sipi, bcast);

	deadline = t0 + cpu_tsc_hz * AP_START_WAIT_MS / 1000;
	t_last = t0;
	while (!cpumask_empty(cpumask_andnot(all, online)) &&
	    cpu_ticks() < deadline) {
		for (cpu = 1; cpu < ncpus; cpu++) {
			if (!CPUMASK_TESTBIT(online, cpu) &&
			    cpu_private[cpu]->mi.gd_state == GDS_ONLINE) {
				CPUMASK_SETBIT(online, cpu);
				t_last = cpu_ticks();
			}
		}
		cpu_pause();
	}
	for (cpu = 1; cpu < ncpus; cpu++) {
		struct globaldata *gd = &cpu_private[cpu]->mi;

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
	clock_pace_startup(false);
	deadline = t0 + cpu_tsc_hz * AP_SETTLE_MS / 1000;
	while (cpu_ticks() < deadline)
		cpu_pause();
	for (cpu = 0; cpu < ncpus; cpu++)
		cpu_private[cpu]->mi.gd_other_cpus = cpumask_andnot(online,
		    cpumask_bit(cpu));
	smp_active_mask = online;	/* x86 keeps it before the release */
	atomic_store_rel_int(&ap_released, 1);
	kprintf("smp: %d of %d CPUs online; first INIT to last AP online "
	    "%llu us (%s INIT/STARTUP, INIT wait %u us)\n",
	    cpumask_count(online), ncpus, cpu_ticks_to_us(t_last - t0),
	    bcast ? "broadcast" : "unicast", init_wait);
}
