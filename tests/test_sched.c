/*
 * Suite "sched": the per-CPU LWKT scheduler (LWKT-SPEC §4-§6), exercised on
 * the test's own CPU (and, for the idle test, on the others):
 *   - strict priorities, FIFO order inside a priority;
 *   - lwkt_yield() round-robin among equal priorities, and yielding to an
 *     equal-priority thread that became runnable after the caller;
 *   - lwkt_yield_quick()/lwkt_maybe_switch() give way only to a strictly
 *     higher priority;
 *   - critical-section nesting and the deferral of timer work to the end
 *     of the outermost section;
 *   - preemption by interrupt-like threads: a hit when the interrupted
 *     thread holds no critical section, a miss (deferred switch) when it
 *     does;
 *   - round-robin between CPU-bound equal-priority threads forced by the
 *     hard clock;
 *   - idle threads halt when there is nothing to do and wake for new work;
 *   - requests about another CPU's thread (deschedule, setpri, noresched,
 *     also to a migrating thread) do exactly what they do locally.
 *
 * The hard clock requests a reschedule on every tick, which rotates equal
 * priorities at arbitrary points.  A check that depends on no such
 * rotation starts its run right after a tick (tick_align), so the run
 * normally ends long before the next one.  Every property is asserted on
 * every attempt; only a part that a tick measured during that very run
 * explains may be discarded, through ktest_retry() (never under
 * test.noretry, the deterministic rows).
 */
#include <sys/param.h>
#include <sys/systm.h>
#include <sys/globaldata.h>
#include <sys/chaos.h>
#include <sys/ipiq.h>
#include <sys/kopts.h>
#include <sys/ktest.h>
#include <sys/systimer.h>
#include <sys/thread2.h>
#include <machine/atomic.h>
#include <machine/cpu.h>
#include <machine/cpufunc.h>

#define ATTEMPTS	(KTEST_RETRY_MAX + 1)
#define MS		1000u		/* microseconds */

/* ---------------------------------------------------------------------
 * Helpers
 */

static void
wake_thread(struct systimer *st __unused, void *td)
{
	lwkt_schedule(td);
}

/*
 * Block until *word >= target or `us` microseconds pass; true if reached.
 * Whoever moves *word wakes us with lwkt_schedule() (from this CPU, inside
 * a critical section), else we notice at the deadline.  May be called
 * inside a critical section.
 */
static bool
wait_for(volatile uint32_t *word, uint32_t target, uint32_t us)
{
	struct systimer st = { .st_queued = false };
	bool ok;

	crit_enter();
	systimer_init_oneshot(&st, wake_thread, curthread, us);
	while (*word < target && st.st_queued) {
		lwkt_deschedule_self();
		lwkt_switch();
	}
	systimer_del(&st);
	ok = *word >= target;
	crit_exit();
	return ok;
}

/* Busy-wait `us` microseconds without blocking (interrupts stay enabled). */
static void
spin_us(uint32_t us)
{
	cpu_delay_us(us);
}

/*
 * Wait (sleeping) for the next hard-clock tick, so that a short run that
 * follows has a whole tick period to itself.  Bounded: 4 periods.
 */
static void
tick_align(void)
{
	struct globaldata *gd = mycpu;
	uint64_t t0 = gd->gd_ticks;
	int i;

	for (i = 0; i < 400 && gd->gd_ticks == t0; i++)
		lwkt_sleep_us(1000000 / hz / 100 + 1);
}

/*
 * Switches chaos made on this CPU so far (CHAOS=1 kernels; 0 otherwise):
 * a random switch at an outermost crit_exit() or a spurious reschedule
 * request rotates equal priorities like a tick or untimely_switch does.
 */
static uint32_t
chaos_switches(void)
{
	return CHAOS_FIRED_CPU(CHAOS_SWITCH, mycpuid) +
	    CHAOS_FIRED_CPU(CHAOS_RESCHED, mycpuid);
}

/* Two hard-clock periods, at least 20 ms: long enough to see ticks. */
static uint32_t
two_ticks_us(void)
{
	uint32_t us = 2 * (1000000 / hz);

	return us > 20 * MS ? us : 20 * MS;
}

/* ---------------------------------------------------------------------
 * priority_order: threads made runnable together run highest priority
 * first, and in the order they were scheduled within a priority.  The
 * one way a later thread of a priority may run first is an involuntary
 * switch of the earlier one after it was picked (a clock tick, or under
 * chaos or untimely_switch the crit_exit() that starts every thread):
 * lwkt_switch puts a runnable thread that switches out behind its
 * equals.  Each worker records how often it was switched to before it
 * recorded its turn, so every attempt checks exactly that: b of the same
 * priority as a but scheduled after it ran first only if a had been
 * switched away (switched to more than once).
 */

#define PO_N	8
/* Scheduling order; ids are indices.  Expected run order: 3 1 4 7 0 6 5 2. */
static const int po_pri[PO_N] = { 12, 13, 5, 20, 13, 9, 12, 13 };

static struct {
	volatile uint32_t order[PO_N];
	volatile uint32_t switches[PO_N];	/* td_switch_count at its turn */
	volatile uint32_t n;
	thread_t	waiter;
} po;

static void
po_worker(void *arg)
{
	uint32_t i = (uint32_t)(uintptr_t)arg;

	crit_enter();
	po.switches[i] = (uint32_t)curthread->td_switch_count;
	if (po.n < PO_N)
		po.order[po.n] = i;
	if (++po.n == PO_N)
		lwkt_schedule(po.waiter);
	crit_exit();
}

KTEST(sched, priority_order)
{
	thread_t td[PO_N];
	uint32_t pos[PO_N], seen;
	int a, b, i, rotated = 0;
	bool ok;

	memset((void *)&po, 0, sizeof(po));
	po.waiter = curthread;
	for (i = 0; i < PO_N; i++) {
		ASSERT_EQ(lwkt_create(po_worker, (void *)(uintptr_t)i, &td[i],
		    NULL, TDF_STOPREQ, mycpuid, "po_%d", i), 0);
		lwkt_setpri(td[i], po_pri[i]);
	}
	/*
	 * Schedule them all inside one critical section: none can run before
	 * every one is queued.  Then block (still inside it).
	 */
	tick_align();
	crit_enter();
	for (i = 0; i < PO_N; i++)
		lwkt_schedule(td[i]);
	EXPECT_EQ(po.n, 0);
	ok = wait_for(&po.n, PO_N, 2000 * MS);
	crit_exit();
	ASSERT_TRUE(ok);

	/* Every thread ran exactly once. */
	seen = 0;
	for (i = 0; i < PO_N; i++) {
		ASSERT_LT(po.order[i], PO_N);
		EXPECT_EQ(seen & (1u << po.order[i]), 0);
		seen |= 1u << po.order[i];
		pos[po.order[i]] = (uint32_t)i;
	}
	/* Strict priority holds whatever the clock does. */
	for (i = 1; i < PO_N; i++)
		EXPECT_GE(po_pri[po.order[i - 1]], po_pri[po.order[i]]);
	/* FIFO inside a priority, except behind a switched-away thread. */
	for (a = 0; a < PO_N; a++) {
		if (po.switches[a] > 1)
			rotated++;
		for (b = a + 1; b < PO_N; b++)
			if (po_pri[a] == po_pri[b] && pos[b] < pos[a] &&
			    po.switches[a] <= 1)
				ktest_fail(kt, __FILE__, __LINE__, "po_%d ran "
				    "before po_%d (same priority %d, scheduled "
				    "later) though po_%d was never switched "
				    "away", b, a, po_pri[a], a);
	}
	ktest_log(kt, "run order %u %u %u %u %u %u %u %u; %d thread(s) "
	    "switched away before their turn", po.order[0], po.order[1],
	    po.order[2], po.order[3], po.order[4], po.order[5], po.order[6],
	    po.order[7], rotated);
}

/* ---------------------------------------------------------------------
 * yield_round_robin: equal-priority threads that lwkt_yield() after each
 * step take strict turns (A B C A B C ...).  They hold a critical section
 * across the loop so the hard clock cannot rotate the queue in between a
 * step and its yield (switching inside a critical section is allowed).
 */

#define RR_THREADS	3
#define RR_LOOPS	40

static struct {
	volatile uint32_t seq[RR_THREADS * RR_LOOPS];
	volatile uint32_t n;
	volatile uint32_t done;
	volatile uint32_t started;
	thread_t	waiter;
} rr;

static void
rr_worker(void *arg)
{
	uint32_t id = (uint32_t)(uintptr_t)arg;
	int i;

	crit_enter();
	/*
	 * Record nothing until all three are inside their sections: a thread's
	 * start-up crit_exit() may still run deferred clock work and switch.
	 */
	rr.started++;
	while (rr.started < RR_THREADS)
		lwkt_yield();
	for (i = 0; i < RR_LOOPS; i++) {
		if (rr.n < nitems(rr.seq))
			rr.seq[rr.n] = id;
		rr.n++;
		lwkt_yield();
	}
	if (++rr.done == RR_THREADS)
		lwkt_schedule(rr.waiter);
	crit_exit();
}

KTEST(sched, yield_round_robin)
{
	thread_t td[RR_THREADS];
	uint32_t count[RR_THREADS] = { 0 };
	int i, bad = 0;
	bool ok;

	memset((void *)&rr, 0, sizeof(rr));
	rr.waiter = curthread;
	for (i = 0; i < RR_THREADS; i++) {
		ASSERT_EQ(lwkt_create(rr_worker, (void *)(uintptr_t)i, &td[i],
		    NULL, TDF_STOPREQ, mycpuid, "rr_%d", i), 0);
		EXPECT_EQ(td[i]->td_pri, curthread->td_pri);
	}
	crit_enter();
	for (i = 0; i < RR_THREADS; i++)
		lwkt_schedule(td[i]);
	ok = wait_for(&rr.done, RR_THREADS, 2000 * MS);
	crit_exit();
	ASSERT_TRUE(ok);
	ASSERT_EQ(rr.n, RR_THREADS * RR_LOOPS);
	for (i = 0; i < RR_THREADS * RR_LOOPS; i++) {
		ASSERT_LT(rr.seq[i], RR_THREADS);
		count[rr.seq[i]]++;
		/* Each step is followed by the next thread in the cycle. */
		if (i > 0 && rr.seq[i] != (rr.seq[i - 1] + 1) % RR_THREADS &&
		    bad++ == 0)
			EXPECT_EQ(rr.seq[i], (rr.seq[i - 1] + 1) % RR_THREADS);
	}
	EXPECT_EQ(bad, 0);
	for (i = 0; i < RR_THREADS; i++)
		EXPECT_EQ(count[i], RR_LOOPS);
}

/* ---------------------------------------------------------------------
 * Equal-priority helper thread: sets a flag when it runs and wakes the
 * waiter.
 */

static struct {
	volatile uint32_t ran;
	thread_t	waiter;
} eq;

static void
eq_worker(void *arg __unused)
{
	crit_enter();
	eq.ran = 1;
	lwkt_schedule(eq.waiter);
	crit_exit();
}

/*
 * yield_to_newcomer: lwkt_yield() lets an equal-priority thread run even
 * if it became runnable after the caller was last picked (the caller then
 * sits ahead of it in the run queue).  LWKT-SPEC §4: "yields to equal
 * priority too".
 */
KTEST(sched, yield_to_newcomer)
{
	thread_t td;

	memset((void *)&eq, 0, sizeof(eq));
	eq.waiter = curthread;
	ASSERT_EQ(lwkt_create(eq_worker, NULL, &td, NULL, TDF_STOPREQ,
	    mycpuid, "eq_new"), 0);
	ASSERT_EQ(td->td_pri, curthread->td_pri);
	lwkt_hold(td);			/* read td_switch_count after it exits */
	lwkt_schedule(td);
	lwkt_yield();
	/*
	 * The yield gave it the CPU.  (Whether it got as far as its function
	 * depends on deferred clock work its start-up may run first.)
	 */
	EXPECT_GT(td->td_switch_count, 0);
	if (td->td_switch_count == 0)
		ktest_log(kt, "the equal-priority thread did not run on the "
		    "first lwkt_yield(); run queue order: caller first");
	EXPECT_TRUE(wait_for(&eq.ran, 1, 1000 * MS));
	lwkt_rele(td);
}

/* ---------------------------------------------------------------------
 * yield_quick_no_equal: lwkt_yield_quick() and lwkt_maybe_switch() do not
 * give the CPU to an equal-priority thread, but lwkt_maybe_switch() does
 * give it to a higher-priority one.
 *
 * Under untimely_switch every outermost crit_exit() yields, so a runnable
 * equal thread cannot be kept waiting outside a critical section; that
 * half is skipped then, and an attempt in which chaos switched (counted)
 * is explained the same way.  The higher-priority thread is made runnable while
 * we are above it, then we drop below it with lwkt_setpri_self() (which
 * does not switch by itself): only lwkt_maybe_switch() should run it.
 */

static struct {
	volatile uint32_t ran;
} hi;

static void
hi_worker(void *arg __unused)
{
	hi.ran = 1;
}

KTEST(sched, yield_quick_no_equal)
{
	thread_t td = curthread, etd, htd;
	uint64_t t0, t1;
	uint32_t onq, after_quick, after_maybe, before_maybe, chaos0;
	int mypri = td->td_pri, attempt;

	/* Equal priority: must not run. */
	if (lwkt_untimely_switch) {
		ktest_log(kt, "untimely_switch: equal-priority half skipped");
	} else {
		for (attempt = 0; attempt < ATTEMPTS; attempt++) {
			memset((void *)&eq, 0, sizeof(eq));
			eq.waiter = td;
			ASSERT_EQ(lwkt_create(eq_worker, NULL, &etd, NULL,
			    TDF_STOPREQ, mycpuid, "eq_quick"), 0);
			ASSERT_EQ(etd->td_pri, mypri);
			tick_align();
			t0 = mycpu->gd_ticks;
			chaos0 = chaos_switches();
			crit_enter();
			lwkt_schedule(etd);
			crit_exit();
			onq = etd->td_flags & TDF_RUNQ;
			lwkt_yield_quick();
			after_quick = eq.ran;
			lwkt_maybe_switch();
			after_maybe = eq.ran;
			t1 = mycpu->gd_ticks;
			/* Let it run and finish. */
			ASSERT_TRUE(wait_for(&eq.ran, 1, 1000 * MS));
			if ((onq == 0 || (after_quick | after_maybe) != 0) &&
			    chaos_switches() != chaos0) {
				ktest_log(kt, "a chaos switch let the equal "
				    "thread run (as untimely_switch would)");
				break;
			}
			if ((onq == 0 || (after_quick | after_maybe) != 0) &&
			    t1 != t0) {
				if (ktest_retry(kt, "a tick during the run let "
				    "the equal thread run"))
					continue;
				break;
			}
			EXPECT_NE(onq, 0);
			EXPECT_EQ(after_quick, 0);
			EXPECT_EQ(after_maybe, 0);
			break;
		}
	}

	/* Higher priority: lwkt_maybe_switch() runs it. */
	for (attempt = 0; attempt < ATTEMPTS; attempt++) {
		memset((void *)&hi, 0, sizeof(hi));
		ASSERT_EQ(lwkt_create(hi_worker, NULL, &htd, NULL, TDF_STOPREQ,
		    mycpuid, "hi_quick"), 0);
		lwkt_setpri(htd, mypri + 1);
		lwkt_setpri_self(mypri + 2);
		tick_align();
		t0 = mycpu->gd_ticks;
		chaos0 = chaos_switches();
		lwkt_schedule(htd);		/* below us: stays queued */
		EXPECT_EQ(hi.ran, 0);
		lwkt_setpri_self(mypri);	/* now above us; no switch yet */
		before_maybe = hi.ran;
		lwkt_maybe_switch();
		after_maybe = hi.ran;
		t1 = mycpu->gd_ticks;
		if (after_maybe == 0)
			EXPECT_TRUE(ktest_poll(&hi.ran, 1, 200, 1000 * MS));
		EXPECT_EQ(after_maybe, 1);
		if (lwkt_untimely_switch ||
		    (before_maybe != 0 && chaos_switches() != chaos0))
			break;	/* setpri's crit_exit switched: allowed */
		if (before_maybe != 0 && t1 != t0) {
			if (ktest_retry(kt, "a tick ran the higher thread "
			    "before lwkt_maybe_switch()"))
				continue;
			break;
		}
		EXPECT_EQ(before_maybe, 0);
		break;
	}
	EXPECT_EQ(td->td_pri, mypri);
}

/* ---------------------------------------------------------------------
 * crit_nesting: td_critcount counts nested sections; a timer that expires
 * inside a section is deferred (RQF_TIMER, gd_cnt_timer_deferred) and its
 * callback runs exactly once from the outermost crit_exit(), inside a
 * critical section of the thread that left it.  Outside a section, a
 * systimer callback runs in the timer interrupt itself.
 */

static struct {
	volatile uint32_t fired;
	thread_t volatile td;
	volatile int	critcount;
	volatile int	nesting;
	volatile uint32_t eflags;
} cn;

static void
cn_callback(struct systimer *st __unused, void *arg __unused)
{
	cn.td = curthread;
	cn.critcount = curthread->td_critcount;
	cn.nesting = mycpu->gd_intr_nesting_level;
	cn.eflags = read_eflags();
	cn.fired++;
}

KTEST(sched, crit_nesting)
{
	struct globaldata *gd = mycpu;
	thread_t td = curthread;
	struct systimer st = { .st_queued = false };
	uint64_t def0, def1, ticks0, ticks1, end;
	uint32_t fired_inside, fired_after, req;
	int base = td->td_critcount, attempt;

	EXPECT_EQ(base, 0);
	EXPECT_FALSE(lwkt_in_crit());
	crit_enter();
	EXPECT_EQ(td->td_critcount, base + 1);
	EXPECT_TRUE(lwkt_in_crit());
	crit_enter();
	EXPECT_EQ(td->td_critcount, base + 2);
	crit_enter();
	EXPECT_EQ(td->td_critcount, base + 3);
	crit_exit();
	EXPECT_EQ(td->td_critcount, base + 2);
	crit_exit();
	EXPECT_EQ(td->td_critcount, base + 1);
	EXPECT_TRUE(lwkt_in_crit());
	crit_exit();
	EXPECT_EQ(td->td_critcount, base);
	EXPECT_FALSE(lwkt_in_crit());

	/* Deferred: a 2 ms timer inside a section of two clock ticks. */
	memset((void *)&cn, 0, sizeof(cn));
	crit_enter();
	def0 = gd->gd_cnt_timer_deferred;
	ticks0 = gd->gd_ticks;
	systimer_init_oneshot(&st, cn_callback, NULL, 2 * MS);
	spin_us(two_ticks_us());
	/*
	 * Under a loaded host QEMU may deliver the timer interrupt late (its
	 * timers run on a host thread that can be starved): keep spinning,
	 * still in the section, until it has been deferred (bounded).
	 */
	end = cpu_ticks() + cpu_tsc_hz;
	while (gd->gd_cnt_timer_deferred == def0 && cpu_ticks() < end)
		cpu_pause();
	fired_inside = cn.fired;
	def1 = gd->gd_cnt_timer_deferred;
	ticks1 = gd->gd_ticks;
	req = gd->gd_reqflags;
	crit_exit();
	fired_after = cn.fired;
	systimer_del(&st);
	EXPECT_EQ(fired_inside, 0);
	EXPECT_GT(def1, def0);
	EXPECT_NE(req & RQF_TIMER, 0);
	EXPECT_EQ(ticks1, ticks0);	/* the hard clock waited too */
	EXPECT_EQ(fired_after, 1);
	EXPECT_EQ(st.st_fired, 1);
	EXPECT_GT(gd->gd_ticks, ticks0);
	EXPECT_PTR_EQ(cn.td, td);
	EXPECT_GT(cn.critcount, 0);	/* run by lwkt_splz inside a section */
	EXPECT_EQ(cn.nesting, 0);
	EXPECT_EQ(td->td_critcount, base);

	/*
	 * Direct: outside a section the callback interrupts us.  A run in
	 * which it happened to land inside some section (softclock's, or the
	 * arming's own when a loaded host stalls us) is repeated.
	 */
	for (attempt = 0; attempt < ATTEMPTS; attempt++) {
		memset((void *)&cn, 0, sizeof(cn));
		tick_align();
		systimer_init_oneshot(&st, cn_callback, NULL, 2 * MS);
		end = cpu_ticks() + cpu_tsc_hz / 10;	/* 100 ms */
		while (cn.fired == 0 && cpu_ticks() < end)
			cpu_pause();
		systimer_del(&st);
		ASSERT_EQ(cn.fired, 1);
		/* Wherever it ran, it ran once with interrupts off. */
		EXPECT_EQ(cn.eflags & PSL_I, 0);
		if (cn.td == td && cn.nesting > 0)
			break;
		/* In another thread's section, or (host stall) already due
		 * inside the arming's own section: not the case under test. */
		if (!ktest_retry(kt, "callback ran in \"%s\", nesting %d, "
		    "not in our interrupt", cn.td->td_comm, cn.nesting))
			return;
	}
	EXPECT_EQ(cn.critcount, 0);
	EXPECT_GT(cn.nesting, 0);
	EXPECT_EQ(cn.eflags & PSL_I, 0);
}

/* ---------------------------------------------------------------------
 * An interrupt-like thread for the preemption tests: TDPRI_INT_MED,
 * td_preemptable = lwkt_preempt.  It parks in a loop inside a critical
 * section (like an interrupt thread); each time it is scheduled it
 * records what it preempted and parks again.
 */

static struct {
	thread_t	td;
	volatile uint32_t parked;
	volatile uint32_t runs;
	volatile uint32_t stop;
	volatile uint32_t exited;
	thread_t volatile preempted;	/* td_preempted at the last run */
	volatile uint32_t victim_locked; /* it had TDF_PREEMPT_LOCK */
	volatile int	nesting;	/* gd_intr_nesting_level then */
	volatile uint64_t run_ticks;	/* gd_ticks then */
} it;

static void
ithread_main(void *arg __unused)
{
	thread_t td = curthread, v;

	crit_enter();
	it.parked = 1;
	for (;;) {
		lwkt_deschedule_self();
		lwkt_switch();
		if (it.stop)
			break;
		v = td->td_preempted;
		it.preempted = v;
		it.victim_locked = v != NULL &&
		    (v->td_flags & TDF_PREEMPT_LOCK) != 0;
		it.nesting = mycpu->gd_intr_nesting_level;
		it.run_ticks = mycpu->gd_ticks;
		it.runs++;
	}
	it.exited = 1;
	crit_exit();
}

/* Create it and let it reach its loop (not as a preemption). */
static bool
ithread_start(struct ktest_ctx *kt)
{
	memset((void *)&it, 0, sizeof(it));
	if (lwkt_create(ithread_main, NULL, &it.td, NULL, TDF_STOPREQ,
	    mycpuid, "ithread_test") != 0)
		return false;
	lwkt_setpri(it.td, TDPRI_INT_MED);
	lwkt_schedule(it.td);
	EXPECT_TRUE(ktest_poll(&it.parked, 1, 200, 1000 * MS));
	it.td->td_preemptable = lwkt_preempt;
	return it.parked != 0;
}

static void
ithread_stop(struct ktest_ctx *kt)
{
	it.stop = 1;
	lwkt_schedule(it.td);
	EXPECT_TRUE(ktest_poll(&it.exited, 1, 200, 1000 * MS));
}

static void
it_kick(struct systimer *st __unused, void *arg __unused)
{
	lwkt_schedule(it.td);
}

/*
 * acquire_preempted: lwkt_acquire() from another CPU must not take a
 * thread that is only preempted.  The victim deschedules itself (it runs
 * on until it switches out) and then schedules the interrupt-like thread
 * over and over, so it is preempted and resumed thousands of times while
 * CPU B waits in lwkt_acquire() for it to be switched out.  B may take it
 * only once it really is (at its next clock tick, or when the loop ends);
 * the owner then finds it off every queue and not running.  Before the
 * fix TDF_PREEMPT_LOCK was cleared before the switch back set TDF_RUNNING
 * again: in that window the victim looked switched out, B went ahead, and
 * the owner's check panicked ("not descheduled").  Multi-threaded TCG runs
 * the two CPUs at once and hits the window; single-threaded rows check the
 * behaviour only, and so do the untimely_switch rows, where the victim is
 * switched out at its first crit_exit once descheduled.
 */
#define AQ_CYCLES	20000

static struct {
	thread_t	victim;
	volatile uint32_t running;	/* the victim has started */
	volatile uint32_t cycles;	/* preemptions the victim went through */
	volatile uint32_t acquired;
	volatile uint32_t flags_at_acquire;
	volatile uint32_t vcpu;		/* where the victim ended */
	volatile uint32_t vdone;
} aq;

static void
aq_victim(void *arg __unused)
{
	uint32_t i;

	aq.running = 1;
	lwkt_deschedule_self();	/* a clock tick may switch us out from here */
	for (i = 0; i < AQ_CYCLES; i++) {
		lwkt_schedule(it.td);	/* preempts us here, on our first CPU */
		aq.cycles = i + 1;
	}
	lwkt_switch();			/* descheduled: until B schedules us */
	aq.vcpu = mycpuid;
	aq.vdone = 1;
}

static void
aq_acquirer(void *arg __unused)
{
	uint64_t end = cpu_ticks() + 10 * cpu_tsc_hz;

	/* Only a descheduled thread may be acquired: wait (bounded). */
	while (aq.running == 0 || (aq.victim->td_flags & TDF_RUNQ) != 0)
		if (cpu_ticks() > end)
			return;			/* the test fails by name */
		else
			ktest_relax();
	lwkt_acquire(aq.victim);
	aq.flags_at_acquire = aq.victim->td_flags;
	aq.acquired = 1;
	lwkt_schedule(aq.victim);
}

KTEST(sched, acquire_preempted)
{
	int b = ktest_other_cpu();

	if (b == mycpuid) {
		ktest_skip(kt, "needs 2 CPUs");
		return;
	}
	memset((void *)&aq, 0, sizeof(aq));
	ASSERT_TRUE(ithread_start(kt));
	ASSERT_EQ(lwkt_create(aq_victim, NULL, &aq.victim, NULL, TDF_STOPREQ,
	    mycpuid, "aq_victim"), 0);
	lwkt_hold(aq.victim);
	ASSERT_EQ(lwkt_create(aq_acquirer, NULL, NULL, NULL, 0, b,
	    "aq_acquirer"), 0);
	lwkt_schedule(aq.victim);
	EXPECT_TRUE(ktest_poll(&aq.vdone, 1, 500, 20000 * MS));
	ktest_log(kt, "victim preempted %u times here, then acquired by cpu "
	    "%d", it.runs, b);
	EXPECT_EQ(aq.acquired, 1);
	EXPECT_EQ(aq.flags_at_acquire & (TDF_RUNNING | TDF_PREEMPT_LOCK |
	    TDF_RUNQ), 0);
	EXPECT_EQ(aq.cycles, AQ_CYCLES);
	EXPECT_EQ(aq.vcpu, b);
	lwkt_rele(aq.victim);
	ithread_stop(kt);
}

/*
 * preemption_hit: the thread is scheduled from a timer interrupt that
 * arrived while we spun outside any critical section: it runs at once, on
 * top of us (td_preempted == us, TDF_PREEMPT_LOCK on us meanwhile), and we
 * resume with our registers and stack intact.
 */
KTEST(sched, preemption_hit)
{
	struct globaldata *gd = mycpu;
	thread_t td = curthread;
	struct systimer st = { .st_queued = false };
	volatile uint32_t guard[8];
	uint32_t a, b, c, n, ra, rb, rc, i, runs0;
	uint64_t hit0, miss0, ticks0, end;
	int attempt;

	ASSERT_TRUE(ithread_start(kt));
	for (attempt = 0; attempt < ATTEMPTS; attempt++) {
		for (i = 0; i < nitems(guard); i++)
			guard[i] = 0xC0DE0000u + i;
		tick_align();
		runs0 = it.runs;
		hit0 = gd->gd_cnt_preempt_hit;
		miss0 = gd->gd_cnt_preempt_miss;
		ticks0 = gd->gd_ticks;
		a = 0x12345678u;
		b = 0x9ABCDEF0u;
		c = 0x0F1E2D3Cu;
		n = 0;
		systimer_init_oneshot(&st, it_kick, NULL, 2 * MS);
		end = cpu_ticks() + cpu_tsc_hz / 5;	/* 200 ms */
		while (it.runs == runs0 && cpu_ticks() < end) {
			a = a * 1664525u + 1013904223u;
			b ^= a + (b << 3);
			c += b ^ n;
			n++;
		}
		systimer_del(&st);
		ASSERT_EQ(it.runs, runs0 + 1);
		/*
		 * Whatever it preempted, it ran outside any interrupt, left
		 * nobody preempted, and our registers and stack survived.
		 */
		EXPECT_EQ(it.nesting, 0);
		EXPECT_EQ(td->td_flags & TDF_PREEMPT_LOCK, 0);
		EXPECT_PTR_EQ(it.td->td_preempted, NULL);
		EXPECT_EQ(td->td_critcount, 0);
		ra = 0x12345678u;
		rb = 0x9ABCDEF0u;
		rc = 0x0F1E2D3Cu;
		for (i = 0; i < n; i++) {
			ra = ra * 1664525u + 1013904223u;
			rb ^= ra + (rb << 3);
			rc += rb ^ i;
		}
		EXPECT_EQ(a, ra);
		EXPECT_EQ(b, rb);
		EXPECT_EQ(c, rc);
		for (i = 0; i < nitems(guard); i++)
			EXPECT_EQ(guard[i], 0xC0DE0000u + i);
		if (it.preempted != td) {
			/*
			 * The kick landed during a clock tick's work, or while
			 * a loaded host had another thread of ours on the CPU:
			 * not the situation under test.  A refusal must have
			 * been counted as a miss, a preemption of another
			 * thread as a hit.
			 */
			if (it.preempted == NULL)
				EXPECT_GT(gd->gd_cnt_preempt_miss, miss0);
			else
				EXPECT_GT(gd->gd_cnt_preempt_hit, hit0);
			if (!ktest_retry(kt, "it ran as %s (ticks %s)",
			    it.preempted ? "a preemption of another thread" :
			    "an ordinary switch after a miss",
			    it.run_ticks != ticks0 ? "moved" : "same"))
				break;
			continue;
		}
		EXPECT_TRUE(it.victim_locked);
		EXPECT_GT(gd->gd_cnt_preempt_hit, hit0);
		EXPECT_NE(it.td->td_flags & TDF_PREEMPT_DONE, 0);
		break;
	}
	ithread_stop(kt);
}

/*
 * preemption_miss: the same kick while we spin inside a critical section
 * is deferred: the thread does not run inside the sections (nor when the
 * inner one ends); when the outermost one ends the deferred timer work
 * schedules it, lwkt_preempt counts a
 * miss and requests a reschedule, and the thread runs right after (as an
 * ordinary switch, td_preempted == NULL) before that crit_exit() returns.
 */
KTEST(sched, preemption_miss)
{
	struct globaldata *gd = mycpu;
	struct systimer st = { .st_queued = false };
	uint64_t miss0, def0, def1, end;
	uint32_t runs0, inside, at_inner_exit, at_exit, req;

	ASSERT_TRUE(ithread_start(kt));
	crit_enter();
	crit_enter();
	runs0 = it.runs;
	miss0 = gd->gd_cnt_preempt_miss;
	def0 = gd->gd_cnt_timer_deferred;
	systimer_init_oneshot(&st, it_kick, NULL, 2 * MS);
	spin_us(two_ticks_us());
	/* A late timer interrupt (loaded host): wait for the deferral. */
	end = cpu_ticks() + cpu_tsc_hz;
	while (gd->gd_cnt_timer_deferred == def0 && cpu_ticks() < end)
		cpu_pause();
	inside = it.runs - runs0;
	def1 = gd->gd_cnt_timer_deferred;
	req = gd->gd_reqflags;
	crit_exit();
	at_inner_exit = it.runs - runs0;
	crit_exit();
	at_exit = it.runs - runs0;	/* the deferred switch happened here */
	systimer_del(&st);
	EXPECT_EQ(inside, 0);
	EXPECT_EQ(at_inner_exit, 0);
	EXPECT_EQ(at_exit, 1);
	EXPECT_GT(def1, def0);
	EXPECT_NE(req & RQF_TIMER, 0);
	EXPECT_EQ(st.st_fired, 1);
	EXPECT_EQ(it.runs - runs0, 1);
	EXPECT_PTR_EQ(it.preempted, NULL);
	EXPECT_GT(gd->gd_cnt_preempt_miss, miss0);
	ithread_stop(kt);
}

/*
 * crit_no_preemption: scheduling the interrupt-like thread from thread
 * context preempts us at once when we hold no critical section; inside
 * nested sections it is only queued (a miss), stays queued when the inner
 * section ends, and runs when the outermost one does.
 */
KTEST(sched, crit_no_preemption)
{
	struct globaldata *gd = mycpu;
	thread_t td = curthread;
	uint64_t hit0, miss0;
	uint32_t runs0, r1, r2, r3;

	ASSERT_TRUE(ithread_start(kt));

	runs0 = it.runs;
	hit0 = gd->gd_cnt_preempt_hit;
	lwkt_schedule(it.td);
	EXPECT_EQ(it.runs, runs0 + 1);
	EXPECT_PTR_EQ(it.preempted, td);
	EXPECT_GT(gd->gd_cnt_preempt_hit, hit0);

	runs0 = it.runs;
	miss0 = gd->gd_cnt_preempt_miss;
	crit_enter();
	crit_enter();
	lwkt_schedule(it.td);
	r1 = it.runs - runs0;
	EXPECT_NE(it.td->td_flags & TDF_RUNQ, 0);
	EXPECT_NE(gd->gd_reqflags & RQF_AST_LWKT_RESCHED, 0);
	crit_exit();
	r2 = it.runs - runs0;
	crit_exit();
	r3 = it.runs - runs0;
	EXPECT_EQ(r1, 0);
	EXPECT_EQ(r2, 0);
	EXPECT_EQ(r3, 1);
	EXPECT_PTR_EQ(it.preempted, NULL);
	EXPECT_GT(gd->gd_cnt_preempt_miss, miss0);
	ithread_stop(kt);
}

/* ---------------------------------------------------------------------
 * hardclock_round_robin: two CPU-bound threads of equal priority that
 * never yield both progress, and take turns, because the hard clock
 * requests a reschedule on every tick.  We sit above them and sleep for
 * the whole window (one wakeup only, so our own switches do not do the
 * rotating), then stop them.
 *
 * Shares are counted in clock events: a change of gd_ticks seen by the
 * workers, who read it continuously.  An event seen by a worker starting
 * a turn ended the previous turn and is charged to it; one seen in the
 * middle of a turn is a tick that did not rotate and is charged to the
 * running worker.  (Not raw ticks: when the host leaves a virtual CPU
 * unrun, one late interrupt runs every tick that fell due meanwhile but
 * rotates once, so ticks would charge the whole stall to whichever thread
 * happened to run; an event is one interrupt whatever it caught up.)
 * Every event rotates, so in the deterministic rows (test.noretry) the
 * shares differ by at most one per wakeup of ours (each rotates the
 * workers once between ticks) and no tick fails to rotate.  Elsewhere the
 * ticks that did not rotate (counted) and a quarter of the events are
 * allowed on top: a host that runs this CPU in bursts delivers ticks
 * bunched unevenly over the turns.  In a chaos kernel each random switch
 * or reschedule request of this CPU in the window (counted) allows one
 * more of both (chaos_switches): one right after another can end a turn
 * before the worker looked at the clock, so a tick seems not to rotate.  A window in which fewer than four
 * events happened (the host did not run this CPU) measured nothing and is
 * discarded.
 */

static struct {
	volatile uint32_t stop;
	volatile uint32_t count[2];
	volatile uint32_t turns[2];
	volatile int	last;
	volatile uint32_t exited;
	volatile uint64_t first_tick[2];
	volatile uint64_t seen;		/* gd_ticks as last seen by a worker */
	volatile uint32_t ev[2];	/* clock events charged to each */
	volatile uint32_t midturn;	/* events that did not rotate */
} hc;

static void
hc_worker(void *arg)
{
	struct globaldata *gd = mycpu;
	int me = (int)(uintptr_t)arg;
	uint64_t end = cpu_ticks() + 2 * cpu_tsc_hz;	/* 2 s safety net */
	uint64_t now;
	uint32_t ef;

	hc.first_tick[me] = gd->gd_ticks;
	while (!hc.stop && cpu_ticks() < end) {
		/*
		 * Read and record with interrupts off: a switch between the
		 * two would let this worker write back a stale tick.  (Not a
		 * critical section: under untimely_switch its crit_exit would
		 * switch on every pass.)  A tick meanwhile is taken after.
		 */
		ef = intr_disable();
		now = gd->gd_ticks;
		if (hc.last != me) {
			if (hc.last >= 0 && now != hc.seen)
				hc.ev[hc.last]++;
			hc.seen = now;
			hc.last = me;
			hc.turns[me]++;
		} else if (now != hc.seen) {
			hc.ev[me]++;
			hc.midturn++;
			hc.seen = now;
		}
		hc.count[me]++;
		intr_restore(ef);
	}
	atomic_add_int(&hc.exited, 1);
}

/* One measurement; returns the clock events counted. */
static uint32_t
hc_window(struct ktest_ctx *kt)
{
	thread_t td = curthread;
	int mypri = td->td_pri, i;
	uint64_t ticks0, ticks1, us, t0;
	uint32_t total, diff, wakeups = 0, extra;

	extra = chaos_switches();
	memset((void *)&hc, 0, sizeof(hc));
	hc.last = -1;
	lwkt_setpri_self(mypri + 1);
	ticks0 = mycpu->gd_ticks;
	for (i = 0; i < 2; i++)
		EXPECT_EQ(lwkt_create(hc_worker, (void *)(uintptr_t)i, NULL,
		    NULL, 0, mycpuid, "hc_%d", i), 0);
	/*
	 * Sleep in windows of at least 8 ticks and 80 ms until 8 clock
	 * events have happened (or 2 s): a loaded host may run this CPU so
	 * rarely that one window holds only a few.  Each wakeup of ours
	 * rotates the workers once between ticks: one more of slack.
	 */
	us = MAX(8 * (1000000 / hz), 80000u);
	t0 = cpu_ticks();
	do {
		lwkt_sleep_us(us);
		wakeups++;
	} while (hc.ev[0] + hc.ev[1] < 8 && ktest_us_since(t0) < 2000000);
	/* We outrank them: neither runs now.  The last turn's end. */
	ticks1 = mycpu->gd_ticks;
	if (hc.last >= 0 && ticks1 != hc.seen)
		hc.ev[hc.last]++;
	hc.stop = 1;
	EXPECT_TRUE(ktest_poll(&hc.exited, 2, 200, 3000 * MS));
	lwkt_setpri_self(mypri);
	extra = chaos_switches() - extra;
	total = hc.ev[0] + hc.ev[1];
	ktest_log(kt, "%llu ticks, %u clock events, %u wakeup(s): counts "
	    "%u/%u, turns %u/%u, event shares %u/%u, %u without a rotation, "
	    "started at ticks +%llu/+%llu, %u chaos rotation(s)",
	    ticks1 - ticks0, total, wakeups, hc.count[0],
	    hc.count[1], hc.turns[0], hc.turns[1], hc.ev[0], hc.ev[1],
	    hc.midturn, hc.first_tick[0] - ticks0, hc.first_tick[1] - ticks0,
	    extra);
	EXPECT_GE(ticks1 - ticks0, us / (1000000 / hz));
	if (total < 4)
		return total;
	/* Both made progress, each in turns of its own, fairly. */
	EXPECT_GT(hc.count[0], 0);
	EXPECT_GT(hc.count[1], 0);
	EXPECT_GE(hc.turns[0], 1);
	EXPECT_GE(hc.turns[1], 1);
	diff = hc.ev[0] > hc.ev[1] ? hc.ev[0] - hc.ev[1] : hc.ev[1] - hc.ev[0];
	if (kopts.ko_test_noretry) {
		EXPECT_LE(diff, wakeups + extra);
		EXPECT_LE(hc.midturn, extra);
	} else {
		EXPECT_LE(diff, wakeups + extra + hc.midturn + total / 4);
	}
	return total;
}

KTEST(sched, hardclock_round_robin)
{
	uint32_t events;

	while ((events = hc_window(kt)) < 4 && ktest_failures(kt) == 0)
		if (!ktest_retry(kt, "only %u clock event(s) in the window "
		    "(the host did not run this CPU)", events))
			break;
}

/* ---------------------------------------------------------------------
 * untimely_no_requeue (option untimely_switch, issue 9 defect 7): the
 * outermost crit_exit() switches away for real, without putting the thread
 * back on the run queue.  A thread that descheduled itself outside a
 * critical section therefore stops at that point and does not run again
 * until someone schedules it.
 */

static struct {
	volatile uint32_t descheduled;
	volatile uint32_t past;
} un;

static void
un_worker(void *arg __unused)
{
	KKASSERT(curthread->td_critcount == 0);
	un.descheduled = 1;
	lwkt_deschedule_self();		/* outside any critical section */
	crit_enter();
	crit_exit();
	un.past = 1;
}

KTEST(sched, untimely_no_requeue)
{
	thread_t td;

	if (!lwkt_untimely_switch) {
		ktest_skip(kt, "needs untimely_switch=1");
		return;
	}
	memset((void *)&un, 0, sizeof(un));
	ASSERT_EQ(lwkt_create(un_worker, NULL, &td, NULL, TDF_STOPREQ,
	    mycpuid, "un_worker"), 0);
	lwkt_hold(td);
	lwkt_schedule(td);
	EXPECT_TRUE(ktest_poll(&un.descheduled, 1, 200, 1000 * MS));
	/* Nobody schedules it: it must stay stopped, off the run queue. */
	lwkt_sleep_us(two_ticks_us());
	EXPECT_EQ(un.past, 0);
	EXPECT_EQ(td->td_flags & TDF_RUNQ, 0);
	if (un.past == 0)		/* else it has gone on and exited */
		lwkt_schedule(td);
	EXPECT_TRUE(ktest_poll(&un.past, 1, 200, 1000 * MS));
	lwkt_rele(td);
}

/* ---------------------------------------------------------------------
 * idle_halts: a CPU with nothing to run halts (gd_cnt_idle_halt grows)
 * and wakes promptly for new work: here for a thread a timer schedules
 * while the CPU halts, and on every other CPU for a thread created there
 * from here (an IPIQ message wakes it).  "Promptly" is a generous 100 ms.
 */

#define IH_LATENCY_US	(100 * MS)

static struct {
	volatile uint32_t ran[MAXCPU];
	volatile int	cpu[MAXCPU];
	volatile uint64_t run_tsc[MAXCPU];
	volatile uint64_t kick_tsc;
	volatile uint64_t halts_at_kick;
} ih;

static void
ih_worker(void *arg)
{
	int slot = (int)(uintptr_t)arg;

	ih.run_tsc[slot] = cpu_ticks();
	ih.cpu[slot] = mycpuid;
	atomic_store_rel_int(&ih.ran[slot], 1);
}

static void
ih_kick(struct systimer *st __unused, void *td)
{
	ih.kick_tsc = cpu_ticks();
	ih.halts_at_kick = mycpu->gd_cnt_idle_halt;
	lwkt_schedule(td);
}

KTEST(sched, idle_halts)
{
	struct globaldata *gd = mycpu;
	struct systimer st = { .st_queued = false };
	uint64_t h0, h1, lat, t0, halts[MAXCPU];
	thread_t wtd;
	int me = mycpuid, cpu, others = 0, grew, attempt;

	memset((void *)&ih, 0, sizeof(ih));

	/*
	 * This CPU halts while we sleep.  A sleep that ended far later than
	 * asked (the host did not run this virtual CPU, so every timer was
	 * due at once when it did) gave the idle thread no chance: only such
	 * an attempt may be discarded.
	 */
	for (attempt = 0; attempt < ATTEMPTS; attempt++) {
		h0 = gd->gd_cnt_idle_halt;
		t0 = cpu_ticks();
		lwkt_sleep_us(20 * MS);
		lat = ktest_us_since(t0);
		if (gd->gd_cnt_idle_halt > h0)
			break;
		if (lat < 2 * 20 * MS) {
			EXPECT_GT(gd->gd_cnt_idle_halt, h0);
			break;
		}
		if (!ktest_retry(kt, "a 20 ms sleep lasted %llu us and this "
		    "CPU never halted", lat))
			break;
	}

	/*
	 * ... and runs a thread made runnable while it halts.  If the host
	 * stalls this virtual CPU between arming the kick and going to
	 * sleep, the kick finds the CPU busy: try again (bounded).
	 */
	for (attempt = 0; attempt < ATTEMPTS; attempt++) {
		ih.ran[me] = 0;
		ASSERT_EQ(lwkt_create(ih_worker, (void *)(uintptr_t)me, &wtd,
		    NULL, TDF_STOPREQ, me, "ih_local"), 0);
		h1 = gd->gd_cnt_idle_halt;
		systimer_init_oneshot(&st, ih_kick, wtd, 3 * MS);
		lwkt_sleep_us(10 * MS);
		EXPECT_TRUE(ktest_poll(&ih.ran[me], 1, 200, 1000 * MS));
		systimer_del(&st);
		EXPECT_EQ(st.st_fired, 1);
		EXPECT_EQ(ih.cpu[me], me);
		lat = ih.ran[me] ? cpu_ticks_to_us(ih.run_tsc[me] -
		    ih.kick_tsc) : 0;
		EXPECT_LT(lat, IH_LATENCY_US);
		if (ih.halts_at_kick > h1)	/* it was halting meanwhile */
			break;
		if (!ktest_retry(kt, "the kick came before the CPU halted "
		    "(halt count unchanged at the kick)"))
			break;
	}

	/* Every other CPU halts too, and wakes for a thread created there. */
	for (cpu = 0; cpu < ncpus; cpu++)
		if (cpu != me && CPUMASK_TESTBIT(smp_active_mask, cpu)) {
			halts[cpu] = globaldata_find(cpu)->gd_cnt_idle_halt;
			others++;
		}
	if (others == 0) {
		ktest_log(kt, "one CPU: local checks only");
		return;
	}
	t0 = cpu_ticks();
	do {
		lwkt_sleep_us(1 * MS);
		grew = 0;
		for (cpu = 0; cpu < ncpus; cpu++)
			if (cpu != me && CPUMASK_TESTBIT(smp_active_mask, cpu) &&
			    globaldata_find(cpu)->gd_cnt_idle_halt > halts[cpu])
				grew++;
	} while (grew < others && ktest_us_since(t0) < 2000 * MS);
	EXPECT_EQ(grew, others);
	t0 = cpu_ticks();
	for (cpu = 0; cpu < ncpus; cpu++)
		if (cpu != me && CPUMASK_TESTBIT(smp_active_mask, cpu))
			ASSERT_EQ(lwkt_create(ih_worker, (void *)(uintptr_t)cpu,
			    NULL, NULL, 0, cpu, "ih_cpu%d", cpu), 0);
	for (cpu = 0; cpu < ncpus; cpu++) {
		if (cpu == me || !CPUMASK_TESTBIT(smp_active_mask, cpu))
			continue;
		if (!ktest_poll(&ih.ran[cpu], 1, 200, 2000 * MS)) {
			EXPECT_TRUE(ih.ran[cpu]);
			continue;
		}
		EXPECT_EQ(ih.cpu[cpu], cpu);
		lat = cpu_ticks_to_us(ih.run_tsc[cpu] - t0);
		if (lat >= IH_LATENCY_US)
			ktest_log(kt, "cpu %d: %llu us to run a new thread", cpu,
			    lat);
		EXPECT_LT(lat, IH_LATENCY_US);
	}
}

/* ---------------------------------------------------------------------
 * Remote requests.  A driver thread holds CPU X off (spins inside a
 * critical section there), so messages sent to X wait in its IPIQ; once
 * told to go it runs them itself (lwkt_process_ipiq, still inside its
 * section), calls ho.check to record X's state, and only then lets X
 * schedule.  Everything is deterministic: nothing else runs on X between
 * the requests and the check.
 */

static struct {
	volatile uint32_t ready, go, done, timeout;
	uint32_t	chaos0;		/* X's chaos resched count when held */
	void		(*check)(void);
} ho;

static void
ho_main(void *arg __unused)
{
	uint64_t end = cpu_ticks() + 2 * cpu_tsc_hz;

	crit_enter();
	ho.chaos0 = CHAOS_FIRED_CPU(CHAOS_RESCHED, mycpuid);
	ho.ready = 1;
	while (!ho.go && cpu_ticks() < end)
		ktest_relax();
	if (ho.go) {
		lwkt_process_ipiq();
		ho.check();
	} else {
		ho.timeout = 1;
	}
	ho.done = 1;
	crit_exit();
}

static bool
ho_start(struct ktest_ctx *kt, int cpu, void (*check)(void))
{
	memset((void *)&ho, 0, sizeof(ho));
	ho.check = check;
	if (lwkt_create(ho_main, NULL, NULL, NULL, 0, cpu, "hold_off") != 0)
		return false;
	EXPECT_TRUE(ktest_poll(&ho.ready, 1, 200, 1000 * MS));
	return ho.ready != 0;
}

static void
ho_release(struct ktest_ctx *kt)
{
	ho.go = 1;
	EXPECT_TRUE(ktest_poll(&ho.done, 1, 200, 3000 * MS));
	EXPECT_EQ(ho.timeout, 0);
}

#define RQ_N	3

static struct {
	thread_t	td[RQ_N];
	volatile uint32_t order[RQ_N];
	volatile uint32_t n;
	volatile int	cpu[RQ_N];
	volatile uint32_t runq[RQ_N];	/* TDF_RUNQ at the check */
	volatile int	pri[RQ_N];
	volatile uint32_t tail_ok, head_ok, resched;
	volatile uint32_t chaos_resched; /* spurious ones (chaos) while held */
	volatile uint32_t switches[RQ_N]; /* td_switch_count at its turn */
	int		src;		/* remote_setpri: the sending CPU */
	uint32_t	sent;		/* its ip_windex to X before go */
	volatile uint32_t drained;	/* X's ip_rindex of it at the check */
} rq;

static void
rq_worker(void *arg)
{
	uint32_t id = (uint32_t)(uintptr_t)arg;

	rq.cpu[id] = mycpuid;
	crit_enter();
	rq.switches[id] = (uint32_t)curthread->td_switch_count;
	rq.order[rq.n++] = id;
	crit_exit();
}

static void
rq_record(void)
{
	int i;

	for (i = 0; i < RQ_N; i++)
		if (rq.td[i] != NULL) {
			rq.runq[i] = rq.td[i]->td_flags & TDF_RUNQ;
			rq.pri[i] = rq.td[i]->td_pri;
		}
	rq.resched = mycpu->gd_reqflags & RQF_AST_LWKT_RESCHED;
	rq.chaos_resched = CHAOS_FIRED_CPU(CHAOS_RESCHED, mycpuid) - ho.chaos0;
}

/* The other CPU X of a remote-request test, rq cleared; -1: skipped. */
static int
rq_begin(struct ktest_ctx *kt)
{
	int x = ktest_other_cpu();

	if (x == mycpuid) {
		ktest_skip(kt, "needs 2 CPUs");
		return -1;
	}
	memset((void *)&rq, 0, sizeof(rq));
	return x;
}

/* Create worker i on cpu, stopped, at pri. */
static bool
rq_create(struct ktest_ctx *kt, int i, int cpu, int pri)
{
	if (lwkt_create(rq_worker, (void *)(uintptr_t)i, &rq.td[i], NULL,
	    TDF_STOPREQ, cpu, "rq_%d", i) != 0)
		return false;
	lwkt_hold(rq.td[i]);
	lwkt_setpri(rq.td[i], pri);
	return true;
}

static void
rq_done(struct ktest_ctx *kt)
{
	int i;

	for (i = 0; i < RQ_N; i++)
		if (rq.td[i] != NULL) {
			lwkt_rele(rq.td[i]);
			rq.td[i] = NULL;
		}
}

/*
 * remote_deschedule: a thread queued on X and descheduled from here
 * leaves X's run queue and does not run until scheduled again.
 */
KTEST(sched, remote_deschedule)
{
	int x = rq_begin(kt);

	if (x < 0)
		return;
	ASSERT_TRUE(rq_create(kt, 0, x, TDPRI_KERN_DAEMON));
	ASSERT_TRUE(ho_start(kt, x, rq_record));
	lwkt_schedule(rq.td[0]);
	lwkt_deschedule(rq.td[0]);
	ho_release(kt);
	EXPECT_EQ(rq.runq[0], 0);
	lwkt_sleep_us(two_ticks_us());
	EXPECT_EQ(rq.n, 0);
	EXPECT_EQ(rq.td[0]->td_flags & TDF_RUNQ, 0);
	lwkt_schedule(rq.td[0]);
	EXPECT_TRUE(ktest_poll(&rq.n, 1, 200, 1000 * MS));
	EXPECT_EQ(rq.cpu[0], x);
	rq_done(kt);
}

/*
 * remote_setpri: a queued thread of X given a new priority from here has
 * it, sits in the queue of that priority behind those already there, and
 * runs accordingly.  X's one explicit lwkt_process_ipiq() must have run
 * every message queued to it before go (LWKT-SPEC §7: "until empty"),
 * the promise the rest rests on; chaos may stop only a drain the IPI
 * started early (CHAOS_IPIQ_DEFER), never that one, so it is asserted
 * on its own, on every attempt.
 */
static void
rq_check_queue(void)
{
	struct globaldata *gd = mycpu;
	int pri = TDPRI_KERN_DAEMON + 1;

	rq.drained = globaldata_find(rq.src)->gd_ipiq[gd->gd_cpuid].ip_rindex;
	rq_record();
	rq.head_ok = TAILQ_FIRST(&gd->gd_tdrunq[pri]) == rq.td[1];
	rq.tail_ok = (rq.td[0]->td_flags & TDF_RUNQ) != 0 &&
	    TAILQ_NEXT(rq.td[0], td_threadq) == NULL &&
	    TAILQ_NEXT(rq.td[1], td_threadq) == rq.td[0];
}

KTEST(sched, remote_setpri)
{
	int x = rq_begin(kt);

	if (x < 0)
		return;
	/* 0 starts above 1, is queued first, then drops to 1's priority. */
	ASSERT_TRUE(rq_create(kt, 0, x, TDPRI_KERN_DAEMON + 2));
	ASSERT_TRUE(rq_create(kt, 1, x, TDPRI_KERN_DAEMON + 1));
	ASSERT_TRUE(ho_start(kt, x, rq_check_queue));
	lwkt_schedule(rq.td[0]);
	lwkt_schedule(rq.td[1]);
	lwkt_setpri(rq.td[0], TDPRI_KERN_DAEMON + 1);
	rq.src = mycpuid;
	rq.sent = lwkt_seq_ipiq(globaldata_find(x));
	ho_release(kt);
	if ((int32_t)(rq.drained - rq.sent) < 0)
		ktest_log(kt, "cpu %d's explicit drain stopped at message %u of "
		    "the %u queued to it from cpu %d before go", x, rq.drained,
		    rq.sent, rq.src);
	EXPECT_GE((int32_t)(rq.drained - rq.sent), 0);
	EXPECT_EQ(rq.pri[0], TDPRI_KERN_DAEMON + 1);
	EXPECT_NE(rq.runq[0], 0);
	EXPECT_TRUE(rq.head_ok);
	EXPECT_TRUE(rq.tail_ok);
	EXPECT_TRUE(ktest_poll(&rq.n, 2, 200, 1000 * MS));
	/* 1 first, unless switched away after it was picked (priority_order). */
	if (rq.order[0] != 1 && rq.switches[1] > 1)
		ktest_log(kt, "rq_1 was switched away before its turn (%u "
		    "switches to it): rq_0 ran first", rq.switches[1]);
	else
		EXPECT_EQ(rq.order[0], 1);
	EXPECT_NE(rq.order[0], rq.order[1]);
	rq_done(kt);
}

/*
 * remote_noresched: lwkt_schedule_noresched() of a higher-priority thread
 * of X queues it there without asking X to reschedule; lwkt_schedule()
 * of another one does ask.  In a chaos kernel X may itself request a
 * reschedule after any message it runs (CHAOS_RESCHED, counted while X
 * is held): then X's flag cannot tell, and the first check says so.
 */
KTEST(sched, remote_noresched)
{
	int x = rq_begin(kt);

	if (x < 0)
		return;
	ASSERT_TRUE(rq_create(kt, 0, x, TDPRI_KERN_DAEMON + 2));
	ASSERT_TRUE(ho_start(kt, x, rq_record));
	lwkt_schedule_noresched(rq.td[0]);
	ho_release(kt);
	EXPECT_NE(rq.runq[0], 0);
	if (rq.chaos_resched == 0)
		EXPECT_EQ(rq.resched, 0);
	else
		ktest_log(kt, "cpu %d made %u spurious reschedule request(s) "
		    "(chaos) while held: its flag says nothing", x,
		    rq.chaos_resched);
	EXPECT_TRUE(ktest_poll(&rq.n, 1, 200, 1000 * MS));

	ASSERT_TRUE(rq_create(kt, 1, x, TDPRI_KERN_DAEMON + 2));
	ASSERT_TRUE(ho_start(kt, x, rq_record));
	lwkt_schedule(rq.td[1]);
	ho_release(kt);
	EXPECT_NE(rq.runq[1], 0);
	EXPECT_NE(rq.resched, 0);
	EXPECT_TRUE(ktest_poll(&rq.n, 2, 200, 1000 * MS));
	EXPECT_EQ(rq.cpu[0], x);
	EXPECT_EQ(rq.cpu[1], x);
	rq_done(kt);
}

/*
 * noresched_migrating: lwkt_schedule_noresched() of a thread that is
 * moving from this CPU to X (switched out here, not yet adopted there)
 * follows it to X: it runs there exactly once, and the request's hold is
 * dropped.
 */
static struct {
	volatile int	cpu;
	volatile uint32_t runs;
	struct globaldata *to;
} mg;

static void
mg_worker(void *arg __unused)
{
	lwkt_setcpu_self(mg.to);
	mg.cpu = mycpuid;
	atomic_add_int(&mg.runs, 1);
}

KTEST(sched, noresched_migrating)
{
	int x = rq_begin(kt), i;
	thread_t td;

	if (x < 0)
		return;
	memset((void *)&mg, 0, sizeof(mg));
	mg.to = globaldata_find(x);
	ASSERT_EQ(lwkt_create(mg_worker, NULL, &td, NULL, TDF_STOPREQ,
	    mycpuid, "mg_worker"), 0);
	lwkt_hold(td);
	rq.td[0] = td;
	ASSERT_TRUE(ho_start(kt, x, rq_record));
	lwkt_schedule(td);
	for (i = 0; i < 100 && (td->td_flags & TDF_MIGRATING) == 0; i++)
		lwkt_yield();
	ASSERT_NE(td->td_flags & TDF_MIGRATING, 0);	/* X holds it off */
	lwkt_schedule_noresched(td);
	EXPECT_EQ(td->td_refs, 2);	/* ours and the request's */
	ho_release(kt);
	EXPECT_NE(rq.runq[0], 0);
	EXPECT_TRUE(ktest_poll(&mg.runs, 1, 200, 1000 * MS));
	lwkt_sleep_us(two_ticks_us());
	EXPECT_EQ(mg.runs, 1);
	EXPECT_EQ(mg.cpu, x);
	EXPECT_EQ(td->td_refs, 1);
	rq.td[0] = NULL;
	lwkt_rele(td);
}
