/*
 * Suite "bench": instruction counts of the scheduler's basic operations
 * (make bench).  Under QEMU -icount shift=0 the TSC advances by one per
 * guest instruction, so each figure is an exact, repeatable instruction
 * count (LWKT-SPEC §13); under normal TCG the same code prints TSC ticks.
 * Each measurement takes the minimum of several runs and subtracts the
 * cost of an empty loop of the same length.  These never assert a speed;
 * they only check that the measured work was done.
 */
#include <sys/param.h>
#include <sys/systm.h>
#include <sys/globaldata.h>
#include <sys/ktest.h>
#include <sys/thread2.h>
#include <machine/atomic.h>
#include <machine/cpu.h>

#define BENCH_RUNS	5
#define CRIT_OPS	100000
#define SWITCH_ROUNDS	5000
#define SCHED_OPS	20000
#define CREATE_OPS	500

static __noinline uint64_t
loop_empty(int n)
{
	uint64_t t0 = cpu_ticks();
	int i;

	for (i = 0; i < n; i++)
		cpu_ccfence();
	return cpu_ticks() - t0;
}

static __noinline uint64_t
loop_crit(int n)
{
	uint64_t t0 = cpu_ticks();
	int i;

	for (i = 0; i < n; i++) {
		crit_enter();
		crit_exit();
	}
	return cpu_ticks() - t0;
}

static uint64_t
min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

KTEST_FLAGS(bench, crit_pair, KT_BENCH)
{
	uint64_t best = UINT64_MAX, empty = UINT64_MAX;
	int r;

	for (r = 0; r < BENCH_RUNS; r++) {
		empty = min_u64(empty, loop_empty(CRIT_OPS));
		best = min_u64(best, loop_crit(CRIT_OPS));
	}
	EXPECT_EQ(curthread->td_critcount, 0);
	ASSERT_GE(best, empty);
	ktest_bench_report(kt, "crit_enter_exit_pair", best - empty, CRIT_OPS,
	    "instructions/op", NULL);
}

static volatile uint64_t sw_t0, sw_t1;
static volatile uint32_t sw_started, sw_done;

static void
yielder(void *arg)
{
	int i, id = (int)(uintptr_t)arg;

	atomic_add_int(&sw_started, 1);
	while (sw_started < 2)
		lwkt_yield();
	if (id == 0)
		sw_t0 = cpu_ticks();
	for (i = 0; i < SWITCH_ROUNDS; i++)
		lwkt_yield();
	if (atomic_fetchadd_int(&sw_done, 1) == 0)
		sw_t1 = cpu_ticks();
}

KTEST_FLAGS(bench, switch_yield_pair, KT_BENCH)
{
	thread_t a, b;
	uint64_t sw0 = mycpu->gd_cnt_switch;
	int i;

	sw_started = sw_done = 0;
	/* Above this thread: only the two yielders alternate until done. */
	ASSERT_EQ(lwkt_create(yielder, (void *)0, &a, NULL, TDF_STOPREQ,
	    mycpuid, "yield_a"), 0);
	ASSERT_EQ(lwkt_create(yielder, (void *)1, &b, NULL, TDF_STOPREQ,
	    mycpuid, "yield_b"), 0);
	lwkt_setpri(a, TDPRI_KERN_DAEMON + 1);
	lwkt_setpri(b, TDPRI_KERN_DAEMON + 1);
	crit_enter();			/* both queued before either runs */
	lwkt_schedule(a);
	lwkt_schedule(b);
	crit_exit();
	for (i = 0; i < 1000 && sw_done < 2; i++)
		lwkt_sleep_us(1000);
	ASSERT_EQ(sw_done, 2);
	EXPECT_GE(mycpu->gd_cnt_switch - sw0, 2 * SWITCH_ROUNDS);
	ktest_bench_report(kt, "lwkt_switch_yield", sw_t1 - sw_t0,
	    2 * SWITCH_ROUNDS, "instructions/switch",
	    "note=lwkt_yield_between_two_threads");
}

static void
nop_thread(void *arg __unused)
{
}

KTEST_FLAGS(bench, schedule_local, KT_BENCH)
{
	uint64_t best = UINT64_MAX, t0;
	thread_t td;
	int r, i;

	/* A blocked thread below our priority: scheduling it never switches. */
	ASSERT_EQ(lwkt_create(nop_thread, NULL, &td, NULL, TDF_STOPREQ,
	    mycpuid, "bench_target"), 0);
	lwkt_setpri(td, TDPRI_USER_NORM);
	crit_enter();
	for (r = 0; r < BENCH_RUNS; r++) {
		t0 = cpu_ticks();
		for (i = 0; i < SCHED_OPS; i++) {
			lwkt_schedule(td);
			lwkt_deschedule(td);
		}
		best = min_u64(best, cpu_ticks() - t0);
	}
	EXPECT_EQ(td->td_flags & TDF_RUNQ, 0);
	crit_exit();
	lwkt_schedule(td);		/* let it run and exit */
	ktest_bench_report(kt, "lwkt_schedule_deschedule_local", best, SCHED_OPS,
	    "instructions/pair", "note=schedule+deschedule_of_a_blocked_thread");
}

static volatile uint32_t created_ran;

static void
count_thread(void *arg __unused)
{
	atomic_add_int(&created_ran, 1);
}

KTEST_FLAGS(bench, thread_create_exit_reap, KT_BENCH)
{
	uint64_t t0, total;
	int i, reaped = 0;

	created_ran = 0;
	/* Warm the thread cache so every round reuses a cached thread. */
	for (i = 0; i < CACHE_NTHREADS; i++) {
		ASSERT_EQ(lwkt_create(count_thread, NULL, NULL, NULL, 0, mycpuid,
		    "warm"), 0);
		lwkt_yield();
		lwkt_reap();
	}
	t0 = cpu_ticks();
	for (i = 0; i < CREATE_OPS; i++) {
		ASSERT_EQ(lwkt_create(count_thread, NULL, NULL, NULL, 0, mycpuid,
		    "bench_%d", i), 0);
		lwkt_yield();		/* equal priority: it runs and exits */
		reaped += lwkt_reap();
	}
	total = cpu_ticks() - t0;
	EXPECT_EQ(created_ran, CACHE_NTHREADS + CREATE_OPS);
	EXPECT_GE(reaped, CREATE_OPS - 2);
	ktest_bench_report(kt, "thread_create_exit_reap", total, CREATE_OPS,
	    "instructions/thread", "note=cached_thread_same_cpu");
}
