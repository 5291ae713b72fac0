/*
 * Suite "clock": systimers (one-shot and periodic, per CPU), the hard
 * clock's rate and callouts run by the softclock thread (also re-armed
 * while pending).  Time is read from
 * the CPU's own TSC; bounds are counts or orderings, never host speed.
 */
#include <sys/param.h>
#include <sys/systm.h>
#include <sys/globaldata.h>
#include <sys/callout.h>
#include <sys/ktest.h>
#include <sys/systimer.h>
#include <sys/thread2.h>
#include <machine/atomic.h>
#include <machine/cpu.h>

#define PERIOD_US	1000
#define WINDOW_US	40000

struct periodic_result {
	uint64_t	fired;
	uint64_t	overdue;	/* deadlines passed at the end, not run yet */
	uint64_t	elapsed_us;
	bool		wrong_cpu;
};

static struct periodic_result periodic[MAXCPU];

static void
periodic_cb(struct systimer *st, void *data)
{
	struct periodic_result *r = data;

	if (st->st_gd != mycpu)
		r->wrong_cpu = true;
}

static void
periodic_on_cpu(struct ktest_ctx *kt, void *arg __unused)
{
	struct periodic_result *r = &periodic[mycpuid];
	struct systimer st = { .st_queued = false };
	uint64_t t0, t1;

	memset(r, 0, sizeof(*r));
	crit_enter();
	systimer_init_periodic(&st, periodic_cb, r, PERIOD_US);
	t0 = st.st_time - st.st_period;		/* the arming instant */
	crit_exit();
	lwkt_sleep_us(WINDOW_US);
	crit_enter();
	t1 = cpu_ticks();
	/*
	 * A deadline already passed whose interrupt has not been taken yet
	 * (it is deferred by this critical section, or the host has not
	 * delivered it) is counted apart: it was not missed, only not run.
	 */
	if (st.st_time <= t1)
		r->overdue = (t1 - st.st_time) / st.st_period + 1;
	systimer_del(&st);
	r->fired = st.st_fired;
	crit_exit();
	r->elapsed_us = cpu_ticks_to_us(t1 - t0);
}

/* A periodic systimer on every CPU fires once per period over a window (±1). */
KTEST(clock, systimer_periodic_count)
{
	int cpu, slack;

	ktest_on_each_cpu(kt, periodic_on_cpu, NULL);
	/* ±1, plus what the timer's resolution may hold back (PIT: a tick). */
	slack = 1 + cpu_timer_resolution_us() / PERIOD_US;
	for (cpu = 0; cpu < ncpus; cpu++) {
		struct periodic_result *r = &periodic[cpu];
		int64_t want;

		if (!CPUMASK_TESTBIT(smp_active_mask, cpu))
			continue;
		want = (int64_t)(r->elapsed_us / PERIOD_US);
		EXPECT_FALSE(r->wrong_cpu);
		EXPECT_GE((int64_t)(r->fired + r->overdue), want - slack);
		EXPECT_LE((int64_t)r->fired, want + 1);
		EXPECT_LE((int64_t)r->overdue, 1 + slack + want / 8);
		ktest_log(kt, "cpu %d: %llu callbacks in %llu us (period %d us), "
		    "%llu overdue at the end", cpu, r->fired, r->elapsed_us,
		    PERIOD_US, r->overdue);
	}
}

static volatile int order[8];
static volatile uint32_t norder;

static void
oneshot_cb(struct systimer *st __unused, void *data)
{
	order[atomic_fetchadd_int(&norder, 1) & 7] = (int)(uintptr_t)data;
}

/*
 * One-shots armed out of order fire once each, in order of deadline (the
 * deadlines they really got: arming takes time too, and a busy host may
 * stall this virtual CPU between two of them).
 */
KTEST(clock, systimer_oneshot_order)
{
	static const int deadline_ms[5] = { 5, 1, 4, 2, 3 };
	struct systimer st[5];
	int i, j, want;

	norder = 0;
	memset(st, 0, sizeof(st));
	crit_enter();
	for (i = 0; i < 5; i++)
		systimer_init_oneshot(&st[i], oneshot_cb, (void *)(uintptr_t)i,
		    deadline_ms[i] * 1000);
	crit_exit();
	for (i = 0; i < 2000 && norder < 5; i++)
		lwkt_sleep_us(1000);
	lwkt_sleep_us(3000);		/* nothing may fire twice */
	ASSERT_EQ(norder, 5);
	for (i = 0; i < 5; i++) {
		EXPECT_EQ(st[i].st_fired, 1);
		EXPECT_FALSE(st[i].st_queued);
		/* The i-th to fire has exactly i deadlines before it. */
		want = 0;
		for (j = 0; j < 5; j++)
			if (st[j].st_time < st[order[i]].st_time)
				want++;
		EXPECT_EQ(want, i);
	}
}

/* gd_ticks advances at hz (within two ticks over the window). */
KTEST(clock, hardclock_rate)
{
	struct globaldata *gd = mycpu;
	uint64_t t0, t1, ticks0, ticks1, us, want;

	crit_enter();
	t0 = cpu_ticks();
	ticks0 = gd->gd_ticks;
	crit_exit();
	lwkt_sleep_us(100000);
	crit_enter();
	t1 = cpu_ticks();
	ticks1 = gd->gd_ticks;
	crit_exit();
	us = cpu_ticks_to_us(t1 - t0);
	want = us * hz / 1000000;
	EXPECT_GE(ticks1 - ticks0 + 2, want);
	EXPECT_LE(ticks1 - ticks0, want + 2);
	ktest_log(kt, "%llu ticks in %llu us at hz %u", ticks1 - ticks0, us, hz);
}

static volatile uint64_t callout_tick;
static volatile thread_t callout_td;
static volatile uint32_t callout_runs;

static void
callout_fn(void *arg __unused)
{
	callout_td = curthread;
	callout_tick = mycpu->gd_ticks;
	atomic_add_int(&callout_runs, 1);
}

/* A callout runs once, in the softclock thread, no earlier than its tick. */
KTEST(clock, callout_in_softclock)
{
	struct callout c;
	uint64_t armed;
	int i;

	callout_runs = 0;
	callout_td = NULL;
	callout_init(&c);
	crit_enter();
	armed = mycpu->gd_ticks;
	callout_reset(&c, 3, callout_fn, NULL);
	EXPECT_TRUE(callout_pending(&c));
	crit_exit();
	for (i = 0; i < 200 && callout_runs == 0; i++)
		lwkt_sleep_us(1000);
	lwkt_sleep_us(50000);		/* it must not run again */
	ASSERT_EQ(callout_runs, 1);
	EXPECT_PTR_EQ(callout_td, mycpu->gd_softclock);
	EXPECT_GE(callout_tick, armed + 3);
	EXPECT_FALSE(callout_pending(&c));

	/* A stopped callout never runs. */
	callout_reset(&c, 2, callout_fn, NULL);
	callout_stop(&c);
	lwkt_sleep_us(50000);
	EXPECT_EQ(callout_runs, 1);
}

/* Sleep until this CPU's gd_ticks has advanced by n (bounded). */
static void
wait_ticks(uint32_t n)
{
	uint64_t target = mycpu->gd_ticks + n;
	uint32_t i;

	for (i = 0; i < 8 * (n + 2) && mycpu->gd_ticks < target; i++)
		lwkt_sleep_us(1000000 / hz / 4 + 1);
}

/*
 * callout_rearm: callout_reset() of a pending callout replaces its time:
 * it runs once, at the new time, whether that is earlier or later than
 * the old one.  Measured in ticks of this CPU.
 */
KTEST(clock, callout_rearm)
{
	struct callout c;
	uint64_t rearmed;

	callout_init(&c);

	/* Earlier: 20 ticks, re-armed to 3. */
	callout_runs = 0;
	crit_enter();
	callout_reset(&c, 20, callout_fn, NULL);
	rearmed = mycpu->gd_ticks;
	callout_reset(&c, 3, callout_fn, NULL);
	crit_exit();
	wait_ticks(25);
	EXPECT_EQ(callout_runs, 1);
	EXPECT_GE(callout_tick, rearmed + 3);
	EXPECT_LT(callout_tick, rearmed + 20);
	EXPECT_FALSE(callout_pending(&c));

	/* Later: 2 ticks, re-armed to 8. */
	callout_runs = 0;
	crit_enter();
	callout_reset(&c, 2, callout_fn, NULL);
	rearmed = mycpu->gd_ticks;
	callout_reset(&c, 8, callout_fn, NULL);
	EXPECT_TRUE(callout_pending(&c));
	crit_exit();
	wait_ticks(12);
	EXPECT_EQ(callout_runs, 1);
	EXPECT_GE(callout_tick, rearmed + 8);
	EXPECT_FALSE(callout_pending(&c));
}
