/*
 * Suite "boot": every expected CPU came up with its own identity and its
 * own private tables (per-CPU checks through ktest_on_each_cpu()); the
 * firmware-table parsers reject what must not be started (synthetic tables
 * in memory); the clock and start-up fallbacks behind the fault-injection
 * options of docs/boot.md hold.  As the boot path's own suite it includes
 * the arch-internal headers cpu_enum.h and i386_var.h; it only reads.
 */
#include <sys/param.h>
#include <sys/systm.h>
#include <sys/globaldata.h>
#include <sys/kopts.h>
#include <sys/ktest.h>
#include <sys/systimer.h>
#include <sys/thread2.h>
#include <machine/atomic.h>
#include <machine/cpu.h>
#include <machine/cpufunc.h>
#include <machine/globaldata.h>
#include <machine/segments.h>
#include "cpu_enum.h"
#include "i386_var.h"

struct cpu_report {
	struct globaldata *self;	/* what `mycpu` returned */
	int		cpuid;
	int		apicid_live;
	uint32_t	gdt_base;
	uint32_t	tss_base;
	uint16_t	tr;
	uint32_t	esp;
	uint32_t	stack_lo, stack_hi;	/* curthread's stack */
	bool		seen;
};

static struct cpu_report reports[MAXCPU];
static volatile uint32_t arrived;

static uint32_t
desc_base(uint64_t d)
{
	return (uint32_t)((d >> 16) & 0xFFFFFF) | (uint32_t)((d >> 56) << 24);
}

static void
collect(struct ktest_ctx *kt, void *arg __unused)
{
	struct globaldata *gd = mycpu;
	struct cpu_report *r = &reports[gd->gd_cpuid];
	uint32_t gdt = sgdt_base();
	int i;

	r->self = gd;
	r->cpuid = gd->gd_cpuid;
	r->apicid_live = cpu_apicid_live();
	r->gdt_base = gdt;
	r->tr = str_sel();
	r->tss_base = desc_base(((const uint64_t *)gdt)[GTSS_SEL]);
	r->esp = read_esp();
	r->stack_lo = (uint32_t)curthread->td_kstack;
	r->stack_hi = r->stack_lo + curthread->td_kstack_size;
	r->seen = true;
	/* Stay alive until every CPU has reported: the stacks compared are
	 * then those of threads that exist at the same time. */
	atomic_add_int(&arrived, 1);
	for (i = 0; i < 5000 && arrived < (uint32_t)cpumask_count(smp_active_mask);
	    i++)
		lwkt_sleep_us(1000);
	EXPECT_EQ(arrived, cpumask_count(smp_active_mask));
}

static void
collect_all(struct ktest_ctx *kt)
{
	memset(reports, 0, sizeof(reports));
	arrived = 0;
	ktest_on_each_cpu(kt, collect, NULL);
}

KTEST(boot, cpus_online)
{
	int online = cpumask_count(smp_active_mask);
	int cpu, other;

	if (kopts.ko_expect_ncpus != 0)
		EXPECT_EQ(online, kopts.ko_expect_ncpus);
	else
		ktest_log(kt, "expect.ncpus not given; %d CPU(s) online", online);
	EXPECT_LE(online, ncpus);	/* a CPU that failed to start keeps its slot */
	EXPECT_TRUE(CPUMASK_TESTBIT(smp_active_mask, 0));
	collect_all(kt);
	for (cpu = 0; cpu < ncpus; cpu++) {
		struct globaldata *gd = globaldata_find(cpu);

		if (!CPUMASK_TESTBIT(smp_active_mask, cpu))
			continue;
		ASSERT_TRUE(reports[cpu].seen);
		EXPECT_EQ(reports[cpu].cpuid, cpu);
		EXPECT_EQ(gd->gd_cpuid, cpu);
		EXPECT_TRUE(cpumask_equal(gd->gd_cpumask, cpumask_bit(cpu)));
		EXPECT_EQ(gd->gd_state, GDS_ONLINE);
		EXPECT_TRUE(cpumask_equal(gd->gd_other_cpus,
		    cpumask_andnot(smp_active_mask, cpumask_bit(cpu))));
		/* The APIC id the firmware table listed is the one the CPU has. */
		if (reports[cpu].apicid_live >= 0)
			EXPECT_EQ(reports[cpu].apicid_live, gd->gd_apicid);
		for (other = 0; other < cpu; other++)
			if (CPUMASK_TESTBIT(smp_active_mask, other))
				EXPECT_NE(globaldata_find(other)->gd_apicid,
				    gd->gd_apicid);
	}
}

KTEST(boot, mycpu_is_own_globaldata)
{
	int cpu, other;

	collect_all(kt);
	for (cpu = 0; cpu < ncpus; cpu++) {
		if (!CPUMASK_TESTBIT(smp_active_mask, cpu))
			continue;
		ASSERT_TRUE(reports[cpu].seen);
		EXPECT_PTR_EQ(reports[cpu].self, globaldata_find(cpu));
		EXPECT_PTR_EQ(reports[cpu].self->gd_self, reports[cpu].self);
		for (other = 0; other < cpu; other++)
			if (reports[other].seen)
				EXPECT_PTR_NE(reports[other].self,
				    reports[cpu].self);
	}
}

KTEST(boot, private_gdt_tss_stack)
{
	int cpu, other;

	collect_all(kt);
	for (cpu = 0; cpu < ncpus; cpu++) {
		struct cpu_report *r = &reports[cpu];
		struct globaldata *gd;
		struct mdglobaldata *md;

		if (!CPUMASK_TESTBIT(smp_active_mask, cpu))
			continue;
		ASSERT_TRUE(r->seen);
		gd = globaldata_find(cpu);
		md = (struct mdglobaldata *)gd;
		EXPECT_EQ(r->gdt_base, (uint32_t)md->gd_gdt);
		EXPECT_EQ(r->tr, SEL(GTSS_SEL));
		EXPECT_EQ(r->tss_base, (uint32_t)&md->gd_tss);
		/* Each CPU runs the check on a thread stack of its own ... */
		EXPECT_GE(r->esp, r->stack_lo + PAGE_SIZE);	/* above the guard */
		EXPECT_LT(r->esp, r->stack_hi);
		for (other = 0; other < cpu; other++) {
			struct globaldata *ogd = globaldata_find(other);

			if (!reports[other].seen)
				continue;
			EXPECT_NE(reports[other].gdt_base, r->gdt_base);
			EXPECT_NE(reports[other].tss_base, r->tss_base);
			EXPECT_TRUE(reports[other].stack_hi <= r->stack_lo ||
			    r->stack_hi <= reports[other].stack_lo);
			/* ... and every CPU has its own boot (idle) stack. */
			EXPECT_TRUE(ogd->gd_stack_base + ogd->gd_stack_size <=
			    gd->gd_stack_base ||
			    gd->gd_stack_base + gd->gd_stack_size <=
			    ogd->gd_stack_base);
		}
	}
}

/* ---- Synthetic firmware tables --------------------------------------- */

#define SYN_MADT_HDR	44
#define SYN_MP_HDR	0x2C

static uint8_t syn[256];
static struct cpu_enum syn_ce;

static void
put32(uint8_t *p, uint32_t v)
{
	p[0] = v;
	p[1] = v >> 8;
	p[2] = v >> 16;
	p[3] = v >> 24;
}

/* A MADT at `syn`: header, then Processor Local APIC entries. */
static uint32_t
syn_madt(const uint8_t *ids, const bool *enabled, int n, uint32_t lapic_pa)
{
	uint32_t len = SYN_MADT_HDR + 8 * n;
	int i;

	memset(syn, 0, sizeof(syn));
	memcpy(syn, "APIC", 4);
	put32(syn + 4, len);
	syn[8] = 4;
	put32(syn + 36, lapic_pa);
	for (i = 0; i < n; i++) {
		uint8_t *e = syn + SYN_MADT_HDR + 8 * i;

		e[0] = 0;
		e[1] = 8;
		e[2] = i;
		e[3] = ids[i];
		put32(e + 4, enabled[i] ? 1 : 0);
	}
	syn[9] = -cpu_enum_checksum(syn, len);
	return len;
}

/* An MP configuration table at `syn` with processor entries. */
static uint32_t
syn_mp(const uint8_t *ids, const bool *enabled, int n, uint32_t lapic_pa)
{
	uint32_t len = SYN_MP_HDR + 20 * n;
	int i;

	memset(syn, 0, sizeof(syn));
	memcpy(syn, "PCMP", 4);
	syn[4] = len;
	syn[5] = len >> 8;
	syn[6] = 4;
	syn[34] = n;
	put32(syn + 0x24, lapic_pa);
	for (i = 0; i < n; i++) {
		uint8_t *e = syn + SYN_MP_HDR + 20 * i;

		e[0] = 0;
		e[1] = ids[i];
		e[2] = 0x14;
		e[3] = (enabled[i] ? 1 : 0) | (i == 0 ? 2 : 0);
	}
	syn[7] = -cpu_enum_checksum(syn, len);
	return len;
}

static bool
ce_lists(const struct cpu_enum *ce, uint8_t id)
{
	int i;

	for (i = 0; i < ce->ce_ncpu; i++)
		if (ce->ce_apicid[i] == id)
			return true;
	return false;
}

static const uint8_t bc_ids[] = { 0, CPU_ENUM_BROADCAST, 1, 3 };
static const bool bc_en[] = { true, true, true, false };

/* An enabled entry with APIC id 0xFF would make INIT a broadcast. */
KTEST(boot, madt_broadcast_id_rejected)
{
	uint32_t len = syn_madt(bc_ids, bc_en, 4, 0xFEE00000u);

	ASSERT_EQ(acpi_madt_parse(syn, len, &syn_ce), 0);
	EXPECT_EQ(syn_ce.ce_ncpu, 2);
	EXPECT_TRUE(ce_lists(&syn_ce, 0));
	EXPECT_TRUE(ce_lists(&syn_ce, 1));
	EXPECT_FALSE(ce_lists(&syn_ce, CPU_ENUM_BROADCAST));
	EXPECT_EQ(syn_ce.ce_nbroadcast, 1);
	EXPECT_EQ(syn_ce.ce_ndisabled, 1);
}

KTEST(boot, mptable_broadcast_id_rejected)
{
	uint32_t len = syn_mp(bc_ids, bc_en, 4, 0xFEE00000u);

	ASSERT_EQ(mptable_parse(syn, len, &syn_ce), 0);
	EXPECT_EQ(syn_ce.ce_ncpu, 2);
	EXPECT_TRUE(ce_lists(&syn_ce, 0));
	EXPECT_TRUE(ce_lists(&syn_ce, 1));
	EXPECT_FALSE(ce_lists(&syn_ce, CPU_ENUM_BROADCAST));
	EXPECT_EQ(syn_ce.ce_nbroadcast, 1);
	EXPECT_EQ(syn_ce.ce_bsp_apicid, 0);
}

/* Bad checksums and truncation are refused; a malformed entry ends the
 * walk keeping what came before it. */
KTEST(boot, bad_tables_refused)
{
	static const uint8_t ids[] = { 0, 1, 2 };
	static const bool en[] = { true, true, true };
	uint32_t len;

	len = syn_madt(ids, en, 3, 0xFEE00000u);
	syn[20] ^= 1;
	EXPECT_EQ(acpi_madt_parse(syn, len, &syn_ce), -1);
	len = syn_madt(ids, en, 3, 0xFEE00000u);
	EXPECT_EQ(acpi_madt_parse(syn, len - 1, &syn_ce), -1);
	len = syn_madt(ids, en, 3, 0xFEE00000u);
	syn[SYN_MADT_HDR + 8 + 1] = 200;	/* second entry runs past the end */
	syn[9] = 0;
	syn[9] = -cpu_enum_checksum(syn, len);
	ASSERT_EQ(acpi_madt_parse(syn, len, &syn_ce), 0);
	EXPECT_EQ(syn_ce.ce_ncpu, 1);
	EXPECT_TRUE(ce_lists(&syn_ce, 0));

	len = syn_mp(ids, en, 3, 0xFEE00000u);
	syn[10] ^= 1;
	EXPECT_EQ(mptable_parse(syn, len, &syn_ce), -1);
	len = syn_mp(ids, en, 3, 0xFEE00000u);
	EXPECT_EQ(mptable_parse(syn, len - 1, &syn_ce), -1);
}

/*
 * x2APIC processor entries (MADT type 9): an id xAPIC can name is a CPU
 * like any other; an enabled one with id 255 or above is recorded as
 * skipped (mp_discover() reports it in its summary line), never listed; a
 * disabled one is a hot-plug slot whatever its id.
 */
KTEST(boot, madt_x2apic_skipped)
{
	static const struct {
		uint8_t		type;
		uint32_t	id;
		bool		en;
	} ents[] = {
		{ 0, 0, true },
		{ 0, 1, true },
		{ 9, 2, true },
		{ 9, 255, true },
		{ 9, 300, true },
		{ 9, 256, false },
		{ 9, 254, false },
	};
	uint32_t len = SYN_MADT_HDR;
	size_t i;

	memset(syn, 0, sizeof(syn));
	memcpy(syn, "APIC", 4);
	syn[8] = 4;
	put32(syn + 36, 0xFEE00000u);
	for (i = 0; i < nitems(ents); i++) {
		uint8_t *e = syn + len;

		e[0] = ents[i].type;
		if (ents[i].type == 0) {
			e[1] = 8;
			e[2] = i;
			e[3] = ents[i].id;
			put32(e + 4, ents[i].en ? 1 : 0);
		} else {
			e[1] = 16;
			put32(e + 4, ents[i].id);
			put32(e + 8, ents[i].en ? 1 : 0);
			put32(e + 12, i);
		}
		len += e[1];
	}
	ASSERT_LE(len, sizeof(syn));
	put32(syn + 4, len);
	syn[9] = -cpu_enum_checksum(syn, len);

	ASSERT_EQ(acpi_madt_parse(syn, len, &syn_ce), 0);
	EXPECT_EQ(syn_ce.ce_ncpu, 3);
	EXPECT_TRUE(ce_lists(&syn_ce, 0));
	EXPECT_TRUE(ce_lists(&syn_ce, 1));
	EXPECT_TRUE(ce_lists(&syn_ce, 2));
	EXPECT_EQ(syn_ce.ce_nx2apic, 2);
	EXPECT_EQ(syn_ce.ce_x2apicid[0], 255);
	EXPECT_EQ(syn_ce.ce_x2apicid[1], 300);
	EXPECT_EQ(syn_ce.ce_ndisabled, 2);
	EXPECT_EQ(syn_ce.ce_disabled_apicid[0], 256);
	EXPECT_EQ(syn_ce.ce_disabled_apicid[1], 254);
	EXPECT_EQ(syn_ce.ce_nbroadcast, 0);
}

/* ---- Synthetic multiboot2 information --------------------------------- */

static uint64_t mb2[32];		/* 8-byte aligned, like the loader's */

/* Append a tag of type `type` with `len` payload bytes; returns the
 * offset just past it (8-byte padding included). */
static uint32_t
mb2_tag(uint32_t off, uint32_t type, uint32_t size, const void *payload,
    uint32_t len)
{
	uint8_t *p = (uint8_t *)mb2 + off;

	put32(p, type);
	put32(p + 4, size);
	memcpy(p + 8, payload, len);
	return off + roundup2(8 + len, 8);
}

/*
 * multiboot2_read() keeps within the bytes it is given: a tag whose size
 * would wrap the walk ends the list (the old walk added roundup2(size, 8)
 * in 32 bits: 0xFFFFFFF9 rounds to 0, and it looped on the same tag), an
 * unterminated command line is refused, the last tag's padding may lie
 * past the end, and the RSDP copy carries its length, which the ACPI
 * parser then respects.
 */
KTEST(boot, multiboot2_malformed)
{
	static const uint8_t rsdp_pfx[20] = { 'R', 'S', 'D', ' ', 'P', 'T',
	    'R', ' ', 0, 'L', 'W', 'K', 'T', 'F', 'Z', 2 };
	struct bootinfo bi;
	uint8_t rsdp[20];
	uint32_t off;

	memset(mb2, 0, sizeof(mb2));
	off = mb2_tag(8, 1, 8 + 4, "a=1", 4);
	off = mb2_tag(off, 1, 0xFFFFFFF9u, "b=2", 4);
	multiboot2_read(mb2, off, &bi);
	EXPECT_EQ(strcmp(bi.bi_cmdline, "a=1"), 0);

	memset(mb2, 0, sizeof(mb2));
	off = mb2_tag(8, 1, 8 + 8, "c=333333", 8);	/* no NUL in the tag */
	multiboot2_read(mb2, off, &bi);
	EXPECT_EQ(strcmp(bi.bi_cmdline, ""), 0);

	memset(mb2, 0, sizeof(mb2));
	mb2_tag(8, 1, 8 + 5, "d=22", 5);
	multiboot2_read(mb2, 8 + 8 + 5, &bi);	/* its padding is not there */
	EXPECT_EQ(strcmp(bi.bi_cmdline, "d=22"), 0);

	/* A revision-2 RSDP copy of only 20 bytes: refused, not overread. */
	memcpy(rsdp, rsdp_pfx, sizeof(rsdp));
	rsdp[8] = -cpu_enum_checksum(rsdp, sizeof(rsdp));
	memset(mb2, 0, sizeof(mb2));
	off = mb2_tag(8, 15, 8 + sizeof(rsdp), rsdp, sizeof(rsdp));
	multiboot2_read(mb2, off, &bi);
	ASSERT_TRUE(bi.bi_rsdp == (uint8_t *)mb2 + 16);
	EXPECT_EQ(bi.bi_rsdp_len, sizeof(rsdp));
	EXPECT_EQ(acpi_madt_enum(bi.bi_rsdp, bi.bi_rsdp_len, NULL, &syn_ce),
	    -1);
}

#define MSR_APICBASE		0x1B
#define APICBASE_PA_MASK	0xFFFFF000u
#define CPUID_MSR		(1u << 5)

static bool
have_msr(void)
{
	uint32_t r[4];

	cpuid(1, r);
	return (r[3] & CPUID_MSR) != 0;
}

/* IA32_APIC_BASE is authoritative for this CPU's LAPIC address; a table
 * naming another address is overruled. */
KTEST(boot, lapic_address_from_msr)
{
	static const uint8_t ids[] = { 0 };
	static const bool en[] = { true };
	uint32_t msr_pa, len;

	if (lapic_base == NULL) {
		ktest_skip(kt, "no local APIC");
		return;
	}
	if (!have_msr()) {
		ktest_skip(kt, "no MSRs (CPUID.1:EDX bit 5)");
		return;
	}
	msr_pa = (uint32_t)rdmsr(MSR_APICBASE) & APICBASE_PA_MASK;
	EXPECT_EQ((uint32_t)lapic_base, msr_pa);
	len = syn_madt(ids, en, 1, 0xFEC01000u);
	ASSERT_EQ(acpi_madt_parse(syn, len, &syn_ce), 0);
	EXPECT_EQ((uint32_t)mp_lapic_pa(&syn_ce), msr_pa);
	len = syn_madt(ids, en, 1, msr_pa);
	ASSERT_EQ(acpi_madt_parse(syn, len, &syn_ce), 0);
	EXPECT_EQ((uint32_t)mp_lapic_pa(&syn_ce), msr_pa);
}

/* ---- Clocks ----------------------------------------------------------- */

/*
 * The timer interrupts at the rate the systimers ask for, not in a storm:
 * during a 100 ms sleep this CPU takes at most a few times the hard clock
 * ticks of that time (plus slack for other systimers).  Under
 * fault.lapic_timer_dead the clock must be the PIT fallback.
 */
KTEST(boot, timer_rate_bounded)
{
	struct globaldata *gd;
	uint64_t n0, n1, bound = 4 * (uint64_t)hz / 10 + 50;

	crit_enter();
	gd = mycpu;
	n0 = gd->gd_cnt_timer_intr;
	crit_exit();
	lwkt_sleep_us(100000);
	crit_enter();
	n1 = globaldata_find(gd->gd_cpuid)->gd_cnt_timer_intr;
	crit_exit();
	ktest_log(kt, "%llu timer interrupts in a 100 ms sleep (bound %llu)",
	    n1 - n0, bound);
	EXPECT_GT(n1 - n0, 0);
	EXPECT_LE(n1 - n0, bound);
	if (kopts.ko_fault_lapic_timer_dead)
		EXPECT_NE(cpu_timer_resolution_us(), 0);
}

/*
 * The TSC rate is one an i586 or later can have (10 MHz .. 100 GHz);
 * without a TSC the clock is the PIT, at exactly its rate.
 */
KTEST(boot, tsc_rate_plausible)
{
	if (!cpu_ticks_are_tsc()) {
		ktest_log(kt, "no TSC: PIT clock at %llu Hz", cpu_tsc_hz);
		EXPECT_EQ(cpu_tsc_hz, 1193182ull);
		return;
	}
	ktest_log(kt, "TSC %llu Hz", cpu_tsc_hz);
	EXPECT_GE(cpu_tsc_hz, 10000000ull);
	EXPECT_LE(cpu_tsc_hz, 100000000000ull);
}

/* ---- AP start-up hand-shake ------------------------------------------- */

#define SLOWSTART_WAIT_US	5000000

/*
 * Every AP is online exactly when it is in smp_active_mask, and it is
 * exactly when it won its start-up slot.  Under smp.slowstart=N cpu N
 * reaches its hand-shake after the BSP gave up on it: wait (bounded) until
 * it has either come online or parked, then check.
 */
KTEST(boot, ap_online_iff_active)
{
	uint32_t slow = kopts.ko_smp_slowstart;
	uint64_t t0;
	int cpu;

	if (slow != 0 && (int)slow < ncpus) {
		struct globaldata *gd = globaldata_find(slow);

		t0 = cpu_ticks();
		while (gd->gd_state != GDS_ONLINE &&
		    ap_start_slot[slow] != AP_SLOT_PARKED &&
		    ktest_us_since(t0) < SLOWSTART_WAIT_US)
			lwkt_sleep_us(10000);
		ktest_log(kt, "cpu %u: state %u, slot %u", slow, gd->gd_state,
		    ap_start_slot[slow]);
		EXPECT_TRUE(gd->gd_state == GDS_ONLINE ||
		    ap_start_slot[slow] == AP_SLOT_PARKED);
	}
	for (cpu = 1; cpu < ncpus; cpu++) {
		struct globaldata *gd = globaldata_find(cpu);
		bool active = CPUMASK_TESTBIT(smp_active_mask, cpu) != 0;

		EXPECT_EQ(gd->gd_state == GDS_ONLINE, active);
		EXPECT_EQ(ap_start_slot[cpu] == AP_SLOT_RUNNING, active);
	}
}

/*
 * The 10 ms wait between INIT and STARTUP is kept exactly for the APICs
 * that need it: an external 82489DX (version 0x0X) on any CPU, and the
 * integrated APIC of a Pentium-class (family 5) CPU that is not an xAPIC;
 * P6 and later, and any xAPIC (version >= 0x14), skip it.  The version
 * register's upper bits (max LVT entry) do not matter.
 */
KTEST(boot, init_wait_policy)
{
	static const struct {
		uint32_t	family, ver, us;
	} cases[] = {
		{ 4, 0x03, MP_INIT_WAIT_US },
		{ 5, 0x03, MP_INIT_WAIT_US },
		{ 5, 0x11, MP_INIT_WAIT_US },
		{ 5, 0x14, 0 },
		{ 6, 0x03, MP_INIT_WAIT_US },
		{ 6, 0x11, 0 },
		{ 6, 0x50014, 0 },
		{ 15, 0x14, 0 },
		{ 23, 0x14, 0 },
	};
	size_t i;

	for (i = 0; i < nitems(cases); i++) {
		uint32_t us = mp_init_wait_us(cases[i].family, cases[i].ver);

		if (us != cases[i].us)
			ktest_log(kt, "family %u, APIC version 0x%x: %u us, "
			    "expected %u", cases[i].family, cases[i].ver, us,
			    cases[i].us);
		EXPECT_EQ(us, cases[i].us);
	}
}

/*
 * Per-CPU private areas exist exactly for the CPUs being started: CPU 0's
 * static, each AP's its own page-aligned allocation, none beyond ncpus
 * (with MAXCPU 255 a static array would cost MAXCPU of them).
 */
KTEST(boot, private_areas_only_for_started)
{
	int cpu, other;

	ASSERT_TRUE(cpu_private[0] != NULL);
	EXPECT_PTR_EQ(&cpu_private[0]->mi, globaldata_find(0));
	for (cpu = 1; cpu < ncpus; cpu++) {
		ASSERT_TRUE(cpu_private[cpu] != NULL);
		EXPECT_EQ((uint32_t)cpu_private[cpu] & PAGE_MASK, 0);
		EXPECT_PTR_EQ(&cpu_private[cpu]->mi, globaldata_find(cpu));
		EXPECT_EQ(cpu_private[cpu]->mi.gd_cpuid, cpu);
		for (other = 0; other < cpu; other++)
			EXPECT_TRUE((uint32_t)cpu_private[other] +
			    sizeof(struct mdglobaldata) <=
			    (uint32_t)cpu_private[cpu] ||
			    (uint32_t)cpu_private[cpu] +
			    sizeof(struct mdglobaldata) <=
			    (uint32_t)cpu_private[other]);
	}
	for (cpu = ncpus; cpu < MAXCPU; cpu++)
		EXPECT_TRUE(cpu_private[cpu] == NULL);
}

/* ---- CPU models (docs/boot.md "CPU models and memory") ----------------- */

/*
 * What the kernel uses matches what CPUID says: the features recorded at
 * boot are the CPU's (unless fault.no_cpuid hid them), the clock is the
 * TSC exactly when there is one (and reads it), the local APIC is used
 * only when CPUID lists one, and more than one CPU runs only with both.
 */
KTEST(boot, cpu_features_consistent)
{
	const struct cpu_ident *ci = &cpu_ident;
	uint64_t t0, tsc, t1;
	uint32_t r[4];

	EXPECT_TRUE(ci->ci_i486);
	EXPECT_EQ(ci->ci_fault_no_cpuid, kopts.ko_fault_no_cpuid);
	if (ci->ci_cpuid && ci->ci_max_leaf >= 1) {
		cpuid(1, r);
		EXPECT_EQ(r[3], ci->ci_feat_edx);
		EXPECT_EQ(r[2], ci->ci_feat_ecx);
	} else {
		EXPECT_EQ(ci->ci_feat_edx, 0);
		EXPECT_EQ(ci->ci_feat_ecx, 0);
	}
	EXPECT_EQ(cpu_ticks_are_tsc(), cpu_has(CPUID_TSC, 0));
	if (cpu_ticks_are_tsc()) {
		crit_enter();
		t0 = cpu_ticks();
		tsc = rdtsc();
		t1 = cpu_ticks();
		crit_exit();
		EXPECT_LE(t0, tsc);
		EXPECT_LE(tsc, t1);
	} else {
		EXPECT_EQ(cpu_tsc_hz, 1193182ull);
	}
	if (lapic_base != NULL)
		EXPECT_TRUE(cpu_has(CPUID_APIC, 0));
	else
		EXPECT_NE(cpu_timer_resolution_us(), 0);
	if (smp_active) {
		EXPECT_TRUE(cpu_ticks_are_tsc());
		EXPECT_TRUE(lapic_base != NULL);
	}
	ktest_log(kt, "family %u, edx 0x%08x ecx 0x%08x, clock %s, %s, %d CPU(s)",
	    ci->ci_family, ci->ci_feat_edx, ci->ci_feat_ecx,
	    cpu_ticks_are_tsc() ? "TSC" : "PIT channel 2",
	    lapic_base != NULL ? "local APIC" : "no local APIC", ncpus);
}

#define PIT_KEEPS_MS	200

/*
 * With PIT channel 2 as the clock and channel 0 ticking at hz (one device,
 * one time base), the two agree: while cpu_ticks() advances PIT_KEEPS_MS
 * (never backwards, across several 55 ms wraps), at most
 * PIT_KEEPS_MS * hz / 1000 + 2 timer interrupts arrive.  A clock that lost
 * wraps would run slow and see more.  (Fewer is allowed: a host may drop
 * PIT ticks.)  With the TSC as the clock there is nothing to compare: under
 * TCG it follows host time, the PIT guest time.
 */
KTEST(boot, pit_clock_keeps_time)
{
	uint64_t t0, prev, now, end, n0, n1, bound;
	int backwards = 0;

	if (cpu_ticks_are_tsc()) {
		ktest_skip(kt, "the clock is the TSC (host time under TCG, not "
		    "the PIT's)");
		return;
	}
	if (cpu_timer_resolution_us() == 0) {
		ktest_skip(kt, "the clock interrupt is the local APIC timer");
		return;
	}
	bound = (uint64_t)PIT_KEEPS_MS * hz / 1000 + 2;
	n0 = mycpu->gd_cnt_timer_intr;
	t0 = prev = cpu_ticks();
	end = t0 + cpu_tsc_hz * PIT_KEEPS_MS / 1000;
	while ((now = cpu_ticks()) < end) {
		if (now < prev)
			backwards++;
		prev = now;
	}
	n1 = mycpu->gd_cnt_timer_intr;
	ktest_log(kt, "%llu timer interrupts while the clock advanced %d ms "
	    "(bound %llu), %s", n1 - n0, PIT_KEEPS_MS, bound,
	    cpu_ticks_are_tsc() ? "TSC" : "PIT channel 2");
	EXPECT_EQ(backwards, 0);
	EXPECT_GT(n1 - n0, 0);
	EXPECT_LE(n1 - n0, bound);
}
