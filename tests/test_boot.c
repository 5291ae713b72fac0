/*
 * Suite "boot": every expected CPU came up with its own identity and its
 * own private tables.  Runs per-CPU checks through ktest_on_each_cpu().
 */
#include <sys/param.h>
#include <sys/systm.h>
#include <sys/globaldata.h>
#include <sys/kopts.h>
#include <sys/ktest.h>
#include <sys/systimer.h>
#include <machine/atomic.h>
#include <machine/cpu.h>
#include <machine/cpufunc.h>
#include <machine/globaldata.h>
#include <machine/segments.h>

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
	EXPECT_TRUE(CPUMASK_TEST(smp_active_mask, 0));
	collect_all(kt);
	for (cpu = 0; cpu < ncpus; cpu++) {
		struct globaldata *gd = globaldata_find(cpu);

		if (!CPUMASK_TEST(smp_active_mask, cpu))
			continue;
		ASSERT_TRUE(reports[cpu].seen);
		EXPECT_EQ(reports[cpu].cpuid, cpu);
		EXPECT_EQ(gd->gd_cpuid, cpu);
		EXPECT_EQ(gd->gd_cpumask, CPUMASK(cpu));
		EXPECT_EQ(gd->gd_state, GDS_ONLINE);
		EXPECT_EQ(gd->gd_other_cpus, smp_active_mask & ~CPUMASK(cpu));
		/* The APIC id the firmware table listed is the one the CPU has. */
		if (reports[cpu].apicid_live >= 0)
			EXPECT_EQ(reports[cpu].apicid_live, gd->gd_apicid);
		for (other = 0; other < cpu; other++)
			if (CPUMASK_TEST(smp_active_mask, other))
				EXPECT_NE(globaldata_find(other)->gd_apicid,
				    gd->gd_apicid);
	}
}

KTEST(boot, mycpu_is_own_globaldata)
{
	int cpu, other;

	collect_all(kt);
	for (cpu = 0; cpu < ncpus; cpu++) {
		if (!CPUMASK_TEST(smp_active_mask, cpu))
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

		if (!CPUMASK_TEST(smp_active_mask, cpu))
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
