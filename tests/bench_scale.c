/*
 * Suite "scale": the figures of `make scale` (scripts/lwkt/scale.py,
 * docs/scaling.md), each over every online CPU so that booting N CPUs
 * shows how the cost grows with N.  Benchmarks (KT_BENCH): selected by
 * test=scale.*, never part of the plain suite.  Under -icount shift=0 the
 * TSC counts the instructions of every CPU, so an instruction figure is
 * what the operation costs the whole machine while the other CPUs are
 * halted; IPI figures come from gd_cnt_ipi_sent.  Owned by the scale
 * engineer; the kernel interfaces used are public headers only.
 */
#include <sys/param.h>
#include <sys/systm.h>
#include <sys/globaldata.h>
#include <sys/cpusync.h>
#include <sys/ipiq.h>
#include <sys/ktest.h>
#include <sys/malloc.h>
#include <sys/systimer.h>
#include <sys/thread2.h>
#include <sys/tsleep.h>
#include <sys/vm_page.h>
#include <machine/atomic.h>
#include <machine/cpu.h>

#define CPUSYNC_OPS	50
#define WAKE_ROUNDS	10
#define SCHED_OPS	50
#define DRAIN_OPS	64
#define SETTLE_US	3000		/* other CPUs drain and halt */
#define WAIT_STEP_US	100
#define WAIT_STEPS	20000		/* 2 s of guest time per wait */

static uint64_t
ipis_all(void)
{
	uint64_t n = 0;
	int cpu;

	CPUMASK_FOREACH(cpu, smp_active_mask)
		n += globaldata_find(cpu)->gd_cnt_ipi_sent;
	return n;
}

static int
last_cpu(void)
{
	int cpu, last = 0;

	CPUMASK_FOREACH(cpu, smp_active_mask)
		last = cpu;
	return last;
}

/* Wait (bounded, in guest time) until *word == target. */
static bool
wait_eq(volatile uint32_t *word, uint32_t target)
{
	int i;

	for (i = 0; i < WAIT_STEPS && *word != target; i++)
		lwkt_sleep_us(WAIT_STEP_US);
	return *word == target;
}

/*
 * Memory: the page allocator's free count with every CPU started and no
 * test run yet (scale.py takes the per-CPU cost from how it falls with N),
 * and one CPU's IPIQ FIFOs, sized by running the kernel's own allocation
 * for a scratch globaldata and giving the pages back.
 */
KTEST_FLAGS(scale, memory, KT_BENCH)
{
	struct globaldata *gd;
	uint32_t free0, before, got, pages = UINT32_MAX;
	char extra[96];
	int i;

	lwkt_sleep_us(SETTLE_US);
	free0 = vm_page_free_count();
	gd = kmalloc(sizeof(*gd));
	ASSERT_TRUE(gd != NULL);
	for (i = 0; i < 3; i++) {	/* the least of 3: another CPU may free */
		memset(gd, 0, sizeof(*gd));
		before = vm_page_free_count();
		lwkt_ipiq_init_cpu(gd);
		got = before - vm_page_free_count();
		ASSERT_TRUE(gd->gd_ipiq != NULL);
		ASSERT_GT(got, 0);
		vm_page_free(gd->gd_ipiq, got);
		if (got < pages)
			pages = got;
	}
	kfree(gd);
	ksnprintf(extra, sizeof(extra), "ipiq_kib_per_cpu=%u ram_top_kib=%u "
	    "ncpus=%d", pages * (PAGE_SIZE / 1024),
	    (uint32_t)(vm_page_top() / 1024), cpumask_count(smp_active_mask));
	ktest_bench_report(kt, "scale_free_kib", (uint64_t)free0 *
	    (PAGE_SIZE / 1024), 1, "KiB", extra);
}

static void
cs_nop(struct lwkt_cpusync *cs __unused)
{
}

/* lwkt_cpusync_simple() on every online CPU, this one included. */
KTEST_FLAGS(scale, cpusync_all, KT_BENCH)
{
	uint64_t t0, total, ipis, mine;
	char extra[96];
	int i;

	lwkt_sleep_us(SETTLE_US);
	ipis = ipis_all();
	mine = mycpu->gd_cnt_ipi_sent;
	t0 = cpu_ticks();
	for (i = 0; i < CPUSYNC_OPS; i++)
		lwkt_cpusync_simple(smp_active_mask, cs_nop, NULL);
	total = cpu_ticks() - t0;
	ipis = ipis_all() - ipis;
	mine = mycpu->gd_cnt_ipi_sent - mine;
	EXPECT_LE(ipis, (uint64_t)cpumask_count(smp_active_mask) * CPUSYNC_OPS);
	ksnprintf(extra, sizeof(extra), "ipis_per_call=%llu.%02llu "
	    "sender_ipis_per_call=%llu.%02llu", ipis / CPUSYNC_OPS,
	    (ipis * 100 / CPUSYNC_OPS) % 100, mine / CPUSYNC_OPS,
	    (mine * 100 / CPUSYNC_OPS) % 100);
	ktest_bench_report(kt, "scale_cpusync_all", total, CPUSYNC_OPS,
	    "instructions/call", extra);
}

static volatile uint32_t wa_gen;
static volatile uint32_t wa_woken;
static volatile uint32_t wa_started;
static volatile uint64_t wa_t[MAXCPU];	/* each sleeper's wake time */

static void
wa_sleeper(void *arg __unused)
{
	uint32_t seen = 0;

	atomic_add_int(&wa_started, 1);
	for (;;) {
		tsleep_interlock(&wa_gen);
		if (wa_gen == seen)
			tsleep(&wa_gen, PINTERLOCKED, "scalewk", 0);
		if (wa_gen == seen)
			continue;
		seen = wa_gen;
		if (seen == (uint32_t)-1)
			return;
		wa_t[mycpuid] = cpu_ticks();
		atomic_add_int(&wa_woken, 1);
	}
}

/*
 * One wakeup() from this CPU with a sleeper on every other online CPU:
 * instructions until the last sleeper runs, IPIs of all CPUs and of the
 * waker.  Each sleeper writes only its own CPU's slot of wa_t, read
 * after every sleeper has counted itself.
 */
KTEST_FLAGS(scale, wakeup_all, KT_BENCH)
{
	uint64_t t0, last, total = 0, ipis, mine;
	uint32_t others = cpumask_count(smp_active_mask) - 1, r;
	char extra[96];
	int cpu;

	if (others == 0) {
		ktest_skip(kt, "needs 2 CPUs");
		return;
	}
	wa_gen = 0;
	wa_started = 0;
	CPUMASK_FOREACH(cpu, smp_active_mask)
		if (cpu != mycpuid)
			ASSERT_EQ(lwkt_create(wa_sleeper, NULL, NULL, NULL, 0,
			    cpu, "scalewk%d", cpu), 0);
	ASSERT_TRUE(wait_eq(&wa_started, others));
	ipis = ipis_all();
	mine = mycpu->gd_cnt_ipi_sent;
	for (r = 1; r <= WAKE_ROUNDS; r++) {
		lwkt_sleep_us(SETTLE_US);
		wa_woken = 0;
		t0 = cpu_ticks();
		wa_gen = r;
		wakeup(&wa_gen);
		if (!wait_eq(&wa_woken, others)) {
			ktest_fail(kt, __FILE__, __LINE__, "round %u: %u of %u "
			    "sleepers woke", r, wa_woken, others);
			break;
		}
		last = t0;
		CPUMASK_FOREACH(cpu, smp_active_mask)
			if (cpu != mycpuid && wa_t[cpu] > last)
				last = wa_t[cpu];
		total += last - t0;
	}
	ipis = ipis_all() - ipis;
	mine = mycpu->gd_cnt_ipi_sent - mine;
	lwkt_sleep_us(SETTLE_US);
	wa_woken = 0;
	wa_gen = (uint32_t)-1;
	wakeup(&wa_gen);
	lwkt_sleep_us(SETTLE_US);
	ksnprintf(extra, sizeof(extra), "ipis_per_wakeup=%llu.%02llu "
	    "sender_ipis_per_wakeup=%llu.%02llu sleepers=%u",
	    ipis / WAKE_ROUNDS, (ipis * 100 / WAKE_ROUNDS) % 100,
	    mine / WAKE_ROUNDS, (mine * 100 / WAKE_ROUNDS) % 100, others);
	ktest_bench_report(kt, "scale_wakeup_all", total, WAKE_ROUNDS,
	    "instructions/wakeup", extra);
}

static volatile uint32_t rs_count;
static volatile uint64_t rs_tsc;

static void
rs_thread(void *arg __unused)
{
	for (;;) {
		crit_enter();
		lwkt_deschedule_self();
		lwkt_switch();
		crit_exit();
		rs_tsc = cpu_ticks();
		if (atomic_fetchadd_int(&rs_count, 1) + 1 == SCHED_OPS)
			return;
	}
}

/* lwkt_schedule() of a thread of the last online CPU, idle, until it runs. */
KTEST_FLAGS(scale, remote_schedule, KT_BENCH)
{
	thread_t td;
	uint64_t t0, total = 0, mine;
	uint32_t n;
	char extra[64];
	int i, target = last_cpu();

	if (target == mycpuid) {
		ktest_skip(kt, "needs 2 CPUs");
		return;
	}
	rs_count = 0;
	ASSERT_EQ(lwkt_create(rs_thread, NULL, &td, NULL, 0, target,
	    "scalers"), 0);
	lwkt_sleep_us(SETTLE_US);
	mine = mycpu->gd_cnt_ipi_sent;
	for (i = 0; i < SCHED_OPS; i++) {
		n = rs_count;
		crit_enter();
		t0 = cpu_ticks();
		lwkt_schedule(td);
		crit_exit();
		ASSERT_TRUE(wait_eq(&rs_count, n + 1));
		total += rs_tsc - t0;
		lwkt_sleep_us(SETTLE_US / 4);
	}
	mine = mycpu->gd_cnt_ipi_sent - mine;
	ksnprintf(extra, sizeof(extra), "sender_ipis_per_call=%llu.%02llu "
	    "target=%d", mine / SCHED_OPS, (mine * 100 / SCHED_OPS) % 100,
	    target);
	ktest_bench_report(kt, "scale_remote_schedule", total, SCHED_OPS,
	    "instructions/schedule", extra);
}

static volatile uint64_t dr_best;
static volatile uint32_t dr_done;

/*
 * On the last online CPU, with nothing queued to it and every other CPU
 * halted: the cheapest of DRAIN_OPS lwkt_process_ipiq() calls, less the
 * cost of reading the clock twice.
 */
static void
dr_thread(void *arg __unused)
{
	uint64_t t0, d, best = UINT64_MAX, clk = UINT64_MAX;
	int i;

	lwkt_sleep_us(SETTLE_US);
	crit_enter();
	for (i = 0; i < DRAIN_OPS; i++) {
		t0 = cpu_ticks();
		d = cpu_ticks() - t0;
		if (d < clk)
			clk = d;
		t0 = cpu_ticks();
		lwkt_process_ipiq();
		d = cpu_ticks() - t0;
		if (d < best)
			best = d;
	}
	crit_exit();
	dr_best = best - clk;
	dr_done = 1;
}

KTEST_FLAGS(scale, ipiq_drain_idle, KT_BENCH)
{
	char extra[32];
	int target = last_cpu();

	dr_done = 0;
	ASSERT_EQ(lwkt_create(dr_thread, NULL, NULL, NULL, 0, target,
	    "scaledr"), 0);
	ASSERT_TRUE(wait_eq(&dr_done, 1));
	ksnprintf(extra, sizeof(extra), "cpu=%d", target);
	ktest_bench_report(kt, "scale_ipiq_drain_idle", dr_best, 1,
	    "instructions/drain", extra);
}
