/*
 * Suite "tsleep": sleeping and waking (LWKT-SPEC §10, sys/tsleep.h).
 *   - pingpong: two threads on different CPUs (the same CPU when alone)
 *     take 3,000 turns each, handing over with wakeup() and waiting with
 *     the tsleep_interlock() pattern; no wakeup is ever lost (a lost one
 *     would show as a timeout).
 *   - wakeup_one_of_n: sleepers on one address on every CPU (two per CPU
 *     up to 8 CPUs, one per CPU beyond, at least 4); each wakeup_one()
 *     wakes exactly one of them, until all are awake, each exactly once;
 *     one more wakes nobody.
 *   - timeout: tsleep() with a timeout of k ticks and no wakeup returns
 *     EWOULDBLOCK after at least k ticks (TSC and gd_ticks) and within
 *     k + 5 ticks served on time (see to_clock); timeouts of 1, 3 and 5
 *     ticks on different CPUs expire in that order.
 *   - race_10000: 10,000 races in which a thread of another CPU (the same
 *     CPU when alone) sets the condition and calls wakeup() at about the
 *     moment the sleeper decides to sleep; with the interlock pattern the
 *     wakeup is never lost (a wakeup that lands in the interlock window
 *     leaves tsleep() nothing to wait for).  Each round records
 *     where its wakeup landed (before the condition test, in the window,
 *     after blocking); every window must be hit at least once.
 *   - exit_interlocked: a thread that uses the interlock pattern, finds its
 *     condition already true and exits must not stay on a sleep queue.
 *   - wakeup_records_run_out: a wakeup chain carries a record from the
 *     waker's pool of TSLEEP_WAKEUP_RECS; with the chains' first CPUs held
 *     (interrupts off) the pool runs out, the next wakeup() serves its own
 *     FIFOs until the holders let go, and every chain ends: each holder
 *     is woken, and every record is back in the pool.
 *
 * Every wait is bounded; a thread that might leave itself on a sleep queue
 * after tsleep_interlock() (condition already true) takes itself off with
 * tsleep_remove(curthread) before it exits.
 */
#include <sys/param.h>
#include <sys/systm.h>
#include <sys/globaldata.h>
#include <sys/ipiq.h>
#include <sys/ktest.h>
#include <sys/systimer.h>
#include <sys/thread2.h>
#include <sys/tsleep.h>
#include <machine/atomic.h>
#include <machine/cpu.h>
#include <machine/cpufunc.h>

#define MS		1000u		/* microseconds */

/* ---------------------------------------------------------------------
 * Helpers
 */

/* The n-th online CPU, counting round the online ones. */
static int
nth_cpu(int n)
{
	int cpus = cpumask_count(smp_active_mask), cpu;

	n %= cpus;
	for (cpu = 0; cpu < ncpus; cpu++)
		if (CPUMASK_TESTBIT(smp_active_mask, cpu) && n-- == 0)
			return cpu;
	return 0;
}

static uint32_t
tick_us(void)
{
	return 1000000 / hz;
}

/* ---------------------------------------------------------------------
 * pingpong
 */

#define PP_ROUNDS	3000

static struct {
	volatile uint32_t turn;		/* 2r + s: side s, round r */
	volatile uint32_t timeouts;
	volatile uint32_t stop;
	volatile uint32_t exited;
	volatile uint32_t rounds[2];
	int		ident[2];	/* side s sleeps on &ident[s] */
} pp;

/* Wait for pp.turn == want; false on a timeout (a lost wakeup) or stop. */
static bool
pp_wait(int side, uint32_t want)
{
	while (pp.turn != want) {
		if (pp.stop)
			return false;
		tsleep_interlock(&pp.ident[side]);
		if (pp.turn == want || pp.stop)
			break;
		if (tsleep(&pp.ident[side], PINTERLOCKED, "pingpong", hz) ==
		    EWOULDBLOCK) {
			atomic_add_int(&pp.timeouts, 1);
			pp.stop = 1;
			wakeup(&pp.ident[side ^ 1]);
			return false;
		}
	}
	return pp.turn == want;
}

static void
pp_play(int side)
{
	uint32_t r;

	for (r = 0; r < PP_ROUNDS; r++) {
		if (!pp_wait(side, 2 * r + side))
			break;
		pp.rounds[side]++;
		pp.turn = 2 * r + side + 1;
		wakeup(&pp.ident[side ^ 1]);
	}
	tsleep_remove(curthread);
}

static void
pp_thread(void *arg __unused)
{
	pp_play(1);
	pp.exited = 1;
}

KTEST(tsleep, pingpong)
{
	int cpu = ktest_other_cpu();
	uint64_t t0;

	memset((void *)&pp, 0, sizeof(pp));
	t0 = cpu_ticks();
	ASSERT_EQ(lwkt_create(pp_thread, NULL, NULL, NULL, 0, cpu,
	    "pingpong"), 0);
	pp_play(0);
	EXPECT_TRUE(ktest_poll(&pp.exited, 1, 200, 3000 * MS));
	ktest_log(kt, "cpu %d <-> cpu %d: %u + %u turns in %llu ms", mycpuid,
	    cpu, pp.rounds[0], pp.rounds[1], ktest_us_since(t0) / 1000);
	EXPECT_EQ(pp.timeouts, 0);
	EXPECT_EQ(pp.rounds[0], PP_ROUNDS);
	EXPECT_EQ(pp.rounds[1], PP_ROUNDS);
	EXPECT_EQ(pp.turn, 2 * PP_ROUNDS);
}

/* ---------------------------------------------------------------------
 * wakeup_one_of_n
 */

#define W1_TWICE	8		/* up to this many CPUs: 2 sleepers each */
#define W1_MAX		MAXCPU		/* > 2 * W1_TWICE */
#define W1_SETTLE_US	(20 * MS)
/* A sleeper's own timeout (seconds): the test's rounds take n settles. */
#define W1_TIMO_S(n)	(10 + 2 * (n) * W1_SETTLE_US / 1000000)

static struct {
	int		ident;
	volatile uint32_t ready;	/* interlocked on &ident */
	volatile uint32_t woken;
	volatile uint32_t exited;
	int		timo_s;		/* each sleeper's timeout */
	volatile uint32_t wakes[W1_MAX];
	volatile int	err[W1_MAX];
	volatile int	cpu[W1_MAX];
} w1;

static void
w1_sleeper(void *arg)
{
	int i = (int)(uintptr_t)arg, err;

	w1.cpu[i] = mycpuid;
	tsleep_interlock(&w1.ident);
	atomic_add_int(&w1.ready, 1);
	err = tsleep(&w1.ident, PINTERLOCKED, "wakeone", w1.timo_s * hz);
	w1.err[i] = err;
	w1.wakes[i]++;
	atomic_add_int(&w1.woken, 1);
	atomic_add_int(&w1.exited, 1);
}

KTEST(tsleep, wakeup_one_of_n)
{
	int n = cpumask_count(smp_active_mask), i, k, spread = 0;
	cpumask_t used;
	uint32_t seen;

	if (n <= W1_TWICE)
		n *= 2;
	if (n < 4)
		n = 4;
	KKASSERT(n <= W1_MAX);
	memset((void *)&w1, 0, sizeof(w1));
	w1.timo_s = W1_TIMO_S(n);
	for (i = 0; i < n; i++)
		ASSERT_EQ(lwkt_create(w1_sleeper, (void *)(uintptr_t)i, NULL,
		    NULL, 0, nth_cpu(i), "wakeone_%d", i), 0);
	if (!ktest_poll(&w1.ready, n, 200, 3000 * MS)) {
		EXPECT_EQ(w1.ready, n);
		goto out;
	}
	lwkt_sleep_us(W1_SETTLE_US);	/* let them really block */
	EXPECT_EQ(w1.woken, 0);
	for (k = 1; k <= n; k++) {
		wakeup_one(&w1.ident);
		if (!ktest_poll(&w1.woken, k, 200, 2000 * MS)) {
			EXPECT_EQ(w1.woken, k);	/* lost */
			break;
		}
		lwkt_sleep_us(W1_SETTLE_US);
		seen = w1.woken;
		EXPECT_EQ(seen, k);		/* exactly one more */
		if (seen != (uint32_t)k)
			break;
	}
	/* All awake: one more wakes nobody. */
	wakeup_one(&w1.ident);
	lwkt_sleep_us(W1_SETTLE_US);
	EXPECT_EQ(w1.woken, n);
out:
	if (w1.exited < (uint32_t)n) {
		wakeup(&w1.ident);	/* after a failure: let them go */
		EXPECT_TRUE(ktest_poll(&w1.exited, n, 200,
		    (w1.timo_s + 2) * 1000 * MS));
	}
	CPUMASK_ASSZERO(used);
	for (i = 0; i < n; i++) {
		EXPECT_EQ(w1.wakes[i], 1);
		EXPECT_EQ(w1.err[i], 0);
		if (!CPUMASK_TESTBIT(used, w1.cpu[i]))
			spread++;
		CPUMASK_SETBIT(used, w1.cpu[i]);
	}
	EXPECT_EQ(spread, cpumask_count(smp_active_mask));
}

/* ---------------------------------------------------------------------
 * timeout
 */

#define TO_SLACK	5		/* ticks allowed beyond the timeout */
#define TO_THREADS	3

static const int to_ticks[TO_THREADS] = { 1, 3, 5 };

/*
 * A CPU's clock over an interval: hardclock ticks, and timer interrupts
 * taken.  On time, every tick comes with an interrupt of its own.  An
 * interrupt that comes late -- a virtual CPU the host did not run --
 * runs all the ticks that fell due meanwhile at once (periodic systimers
 * catch up), so ticks beyond the interrupts taken measure how long the
 * CPU was away, independently of tsleep, which only arms a one-shot
 * timer.  The bounds below count the ticks served on time.
 */
struct to_clock {
	uint64_t	ticks;
	uint64_t	intr;
};

static void
to_clock_read(struct to_clock *c)
{
	struct globaldata *gd = mycpu;

	crit_enter();
	c->ticks = gd->gd_ticks;
	c->intr = gd->gd_cnt_timer_intr;
	crit_exit();
}

/* Ticks over [c0, c1] that had an interrupt of their own. */
static uint64_t
to_served(const struct to_clock *c0, const struct to_clock *c1)
{
	uint64_t t = c1->ticks - c0->ticks, n = c1->intr - c0->intr;

	return t < n ? t : n;
}

/* Ticks over [c0, c1] run late, several per interrupt. */
static uint64_t
to_caught_up(const struct to_clock *c0, const struct to_clock *c1)
{
	return (c1->ticks - c0->ticks) - to_served(c0, c1);
}

/*
 * One tsleep(timo = k) nobody wakes: EWOULDBLOCK after at least k ticks
 * (and k ticks of TSC time), and within k + TO_SLACK ticks served on time.
 */
static void
to_one(struct ktest_ctx *kt, int k)
{
	struct to_clock c0, c1;
	int ident, err;
	uint64_t t0, us, ticks, served;

	to_clock_read(&c0);
	t0 = cpu_ticks();
	err = tsleep(&ident, 0, "timeout", k);
	us = ktest_us_since(t0);
	to_clock_read(&c1);
	ticks = c1.ticks - c0.ticks;
	served = to_served(&c0, &c1);
	EXPECT_EQ(err, EWOULDBLOCK);
	EXPECT_GE(ticks, k);
	EXPECT_GE(us + 1, (uint64_t)k * tick_us());
	EXPECT_LE(served, k + TO_SLACK);
	if (ticks > served)
		ktest_log(kt, "timo %d: %llu ticks in %llu us, %llu of them "
		    "caught up by a late timer interrupt", k, ticks, us,
		    ticks - served);
}

static struct {
	volatile uint32_t ready;
	volatile uint32_t go;
	volatile uint32_t seq;
	volatile uint32_t exited;
	volatile int	order[TO_THREADS];	/* i-th to expire */
	volatile int	err[TO_THREADS];
	volatile uint64_t start[TO_THREADS];
	volatile uint64_t end[TO_THREADS];
	struct to_clock	c0[TO_THREADS], c1[TO_THREADS];
	int		ident[TO_THREADS];
} to;

static void
to_thread(void *arg)
{
	int i = (int)(uintptr_t)arg, j, err;

	for (j = 0; j < 3 && to.go == 0; j++) {
		tsleep_interlock(&to.go);
		if (j == 0)
			atomic_add_int(&to.ready, 1);
		if (to.go == 0)
			tsleep(&to.go, PINTERLOCKED, "togo", hz);
	}
	tsleep_remove(curthread);
	to_clock_read(&to.c0[i]);
	to.start[i] = cpu_ticks();
	err = tsleep(&to.ident[i], 0, "timeout", to_ticks[i]);
	to.end[i] = cpu_ticks();
	to_clock_read(&to.c1[i]);
	to.err[i] = err;
	to.order[atomic_fetchadd_int(&to.seq, 1)] = i;
	atomic_add_int(&to.exited, 1);
}

KTEST(tsleep, timeout)
{
	uint64_t lo, hi, caught;
	int i;
	bool in_order;

	/* Each timeout alone. */
	for (i = 0; i < TO_THREADS; i++)
		to_one(kt, to_ticks[i]);

	/*
	 * Three at once on different CPUs expire in order.  Every attempt
	 * checks each timeout as above.  The order follows only if they
	 * started within a tick of each other and no CPU was away: an
	 * attempt whose order is wrong is discarded (ktest_retry) only when
	 * one of those was measured in it.
	 */
	for (;;) {
		memset((void *)&to, 0, sizeof(to));
		for (i = 0; i < TO_THREADS; i++)
			ASSERT_EQ(lwkt_create(to_thread, (void *)(uintptr_t)i,
			    NULL, NULL, 0, nth_cpu(i + 1), "timeout_%d", i), 0);
		if (!ktest_poll(&to.ready, TO_THREADS, 200, 3000 * MS))
			EXPECT_EQ(to.ready, TO_THREADS);
		to.go = 1;
		wakeup(&to.go);
		EXPECT_TRUE(ktest_poll(&to.exited, TO_THREADS, 200, 5000 * MS));
		if (to.exited < TO_THREADS)
			return;
		in_order = true;
		lo = hi = to.start[0];
		caught = 0;
		for (i = 0; i < TO_THREADS; i++) {
			EXPECT_EQ(to.err[i], EWOULDBLOCK);
			EXPECT_GE(to.c1[i].ticks - to.c0[i].ticks, to_ticks[i]);
			EXPECT_GE(cpu_ticks_to_us(to.end[i] - to.start[i]) + 1,
			    (uint64_t)to_ticks[i] * tick_us());
			EXPECT_LE(to_served(&to.c0[i], &to.c1[i]),
			    to_ticks[i] + TO_SLACK);
			caught += to_caught_up(&to.c0[i], &to.c1[i]);
			if (to.order[i] != i)
				in_order = false;
			if (to.start[i] < lo)
				lo = to.start[i];
			if (to.start[i] > hi)
				hi = to.start[i];
		}
		if (in_order)
			break;
		if (cpu_ticks_to_us(hi - lo) <= tick_us() && caught == 0) {
			for (i = 0; i < TO_THREADS; i++)
				EXPECT_EQ(to.order[i], i);
			break;
		}
		if (!ktest_retry(kt, "order %d %d %d: started %llu us apart, "
		    "%llu tick(s) caught up by late timer interrupts",
		    to.order[0], to.order[1], to.order[2],
		    cpu_ticks_to_us(hi - lo), caught))
			break;
	}
}

/* ---------------------------------------------------------------------
 * race_10000
 */

#define RACE_N		10000
#define RACE_SPIN_US	(2000 * MS)	/* then a side gives up */
#define RACE_MAXDELAY	1024		/* loop iterations */
#define RACE_NAP_SPINS	256		/* handshake pauses, then a nap */
#define RACE_NAP_US	20

/*
 * Where this round's wakeup() landed, as the sleeper observed it: before
 * the condition test (the condition was already true), in the interlock
 * window (after the test found it false, before tsleep() blocked: tsleep()
 * returned without a switch), or after the sleeper blocked.
 */
enum { RW_BEFORE, RW_WINDOW, RW_AFTER, RW_N };
static const char *const rw_name[RW_N] = {
	"before the condition test", "in the interlock window",
	"after the sleeper blocked"
};

/*
 * How a round is played, drawn from ktest_random.  RM_FREE: both sides
 * wait a random delay spanning all three windows, then race.  The others
 * steer the waker into one window by a handshake, so that every window is
 * reached by construction on every configuration: RM_BEFORE, the sleeper
 * waits for the condition before it interlocks; RM_WINDOW, the waker goes
 * once the sleeper has tested the condition, and the sleeper waits inside
 * the window until the wakeup has taken it off its sleep queue; RM_AFTER,
 * the waker goes once the sleeper has blocked.
 */
enum { RM_FREE, RM_BEFORE, RM_WINDOW, RM_AFTER, RM_N };

static struct {
	volatile uint32_t cond;		/* last round released */
	volatile uint32_t s_round;	/* the round the sleeper is in */
	volatile uint32_t mode;		/* RM_* of round s_round */
	volatile uint32_t checked;	/* round whose test found cond false */
	volatile uint32_t timeouts;
	volatile uint32_t lost;
	volatile uint32_t stop;
	volatile uint32_t exited;
	volatile uint32_t rounds;	/* rounds the waker completed */
	volatile uint32_t stuck;	/* a handshake wait ran out */
	thread_t	sleeper;
	uint32_t	hits[RW_N];	/* rounds per window */
	uint32_t	free_hits[RW_N]; /* the same, RM_FREE rounds only */
	uint32_t	mode_rounds[RM_N];
	uint32_t	seed;
	bool		same_cpu;
} rc;

static uint32_t
rc_rand(uint32_t *x)
{
	*x = *x * 1664525u + 1013904223u;
	return *x >> 16;
}

/*
 * A short delay: n steps of arithmetic, with a pause every 64 (under
 * single-threaded TCG a pause lets the other virtual CPUs run).
 */
static void
rc_delay(uint32_t n)
{
	volatile uint32_t v = n;

	while (n-- > 0) {
		v = v * 1103515245u + 12345u;
		if ((n & 63) == 0)
			cpu_pause();
	}
}

/*
 * One step of a handshake wait: let the other side run.  Across CPUs,
 * every RACE_NAP_SPINS-th step naps (the CPU halts) if `nap`: under
 * multi-threaded TCG on a host with fewer cores than vCPUs, the side we
 * wait for may have no host core while we spin, and a halted vCPU gives
 * its core back.  Never inside the interlock window (the caller passes
 * false there): a nap deschedules the thread, which a wakeup would then
 * meet.  The handshakes only steer the rounds; the race itself is
 * unchanged.
 */
static void
rc_pause(uint32_t *spins, bool nap)
{
	if (rc.same_cpu)
		lwkt_yield();
	else if (nap && ++*spins % RACE_NAP_SPINS == 0)
		lwkt_sleep_us(RACE_NAP_US);
	else
		cpu_pause();
}

/* Wait (bounded) until *word >= target; false on stop or deadline. */
static bool
rc_wait_ge(volatile uint32_t *word, uint32_t target)
{
	uint64_t end = cpu_ticks() + cpu_tsc_hz * RACE_SPIN_US / 1000000;
	uint32_t spins = 0;

	while (*word < target) {
		if (rc.stop || cpu_ticks() >= end) {
			rc.stuck++;
			return false;
		}
		rc_pause(&spins, true);
	}
	return true;
}

/*
 * Wait (bounded) until td's flags & mask == want; false on deadline.  A
 * thread waiting on its own flags is inside its interlock window: no nap.
 */
static bool
rc_wait_flags(thread_t td, uint32_t mask, uint32_t want)
{
	uint64_t end = cpu_ticks() + cpu_tsc_hz * RACE_SPIN_US / 1000000;
	uint32_t spins = 0;

	while ((td->td_flags & mask) != want) {
		if (rc.stop || cpu_ticks() >= end) {
			rc.stuck++;
			return false;
		}
		rc_pause(&spins, td != curthread);
	}
	return true;
}

/* Waker: wait for the sleeper to enter round i, then release it. */
static void
rc_waker(void *arg __unused)
{
	uint32_t i, x = rc.seed ^ 0x5bd1e995u;
	bool ok = true;

	for (i = 1; i <= RACE_N && !rc.stop; i++) {
		if (!rc_wait_ge(&rc.s_round, i))
			break;
		switch (rc.mode) {
		case RM_FREE:
			rc_delay(rc_rand(&x) % RACE_MAXDELAY);
			break;
		case RM_WINDOW:
			ok = rc_wait_ge(&rc.checked, i);
			break;
		case RM_AFTER:
			/* Blocked: off its CPU and its run queue, still queued. */
			ok = rc_wait_ge(&rc.checked, i) &&
			    rc_wait_flags(rc.sleeper, TDF_RUNNING | TDF_RUNQ |
			    TDF_TSLEEPQ, TDF_TSLEEPQ);
			break;
		}
		if (!ok)
			break;
		rc.cond = i;
		wakeup(&rc.cond);
		rc.rounds = i;
	}
	rc.exited = 1;
}

static void
rc_hit(uint32_t mode, int window)
{
	rc.hits[window]++;
	if (mode == RM_FREE)
		rc.free_hits[window]++;
}

/* The sleeper's round i, played as `mode`; false to stop. */
static bool
rc_round(struct ktest_ctx *kt, uint32_t i, uint32_t mode)
{
	thread_t td = curthread;
	bool first = true, blocked;
	int err;

	rc.mode = mode;
	rc.s_round = i;				/* the waker may go */
	rc.mode_rounds[mode]++;
	if (mode == RM_BEFORE && !rc_wait_ge(&rc.cond, i))
		return false;
	if (mode == RM_FREE)
		rc_delay(ktest_random(kt) % RACE_MAXDELAY);
	for (;;) {
		tsleep_interlock(&rc.cond);
		if (rc.cond >= i) {
			rc_hit(mode, RW_BEFORE);
			return true;
		}
		if (first) {
			rc.checked = i;
			if (mode == RM_FREE)
				rc_delay(ktest_random(kt) % RACE_MAXDELAY);
			else if (mode == RM_WINDOW &&
			    !rc_wait_flags(td, TDF_TSLEEPQ, 0))
				return false;
		}
		/*
		 * Still queued inside the critical section (no wakeup can
		 * land until tsleep() has switched away): tsleep() blocks.
		 * Not queued: the wakeup landed in the window, and tsleep()
		 * returns at once.  (The switch count would not tell: with
		 * untimely_switch the outermost crit_exit() switches too.)
		 */
		crit_enter();
		blocked = (td->td_flags & TDF_TSLEEPQ) != 0;
		err = tsleep(&rc.cond, PINTERLOCKED, "race", hz);
		crit_exit();
		if (err == EWOULDBLOCK) {
			rc.timeouts++;
			if (rc.cond < i) {
				rc.lost++;
				return false;
			}
		}
		if (rc.cond >= i) {
			rc_hit(mode, blocked ? RW_AFTER : RW_WINDOW);
			return true;
		}
		/* A late wakeup from an earlier round: again. */
		first = false;
	}
}

KTEST(tsleep, race_10000)
{
	uint32_t i, w;
	uint64_t t0;
	int cpu = ktest_other_cpu();

	memset((void *)&rc, 0, sizeof(rc));
	rc.seed = ktest_random(kt);
	rc.same_cpu = cpu == mycpuid;
	rc.sleeper = curthread;
	t0 = cpu_ticks();
	ASSERT_EQ(lwkt_create(rc_waker, NULL, NULL, NULL, 0, cpu, "racer"), 0);
	for (i = 1; i <= RACE_N && !rc.stop; i++)
		if (!rc_round(kt, i, ktest_random(kt) % RM_N))
			break;
	tsleep_remove(curthread);
	rc.stop = 1;
	EXPECT_TRUE(ktest_poll(&rc.exited, 1, 200, 3000 * MS));
	ktest_log(kt, "cpu %d wakes cpu %d: %u races in %llu ms; wakeup "
	    "landed before the test %u, in the interlock window %u, after "
	    "blocking %u; %u free rounds %u/%u/%u, steered %u/%u/%u", cpu,
	    mycpuid, rc.rounds, ktest_us_since(t0) / 1000, rc.hits[RW_BEFORE],
	    rc.hits[RW_WINDOW], rc.hits[RW_AFTER], rc.mode_rounds[RM_FREE],
	    rc.free_hits[RW_BEFORE], rc.free_hits[RW_WINDOW],
	    rc.free_hits[RW_AFTER],
	    rc.mode_rounds[RM_BEFORE], rc.mode_rounds[RM_WINDOW],
	    rc.mode_rounds[RM_AFTER]);
	EXPECT_EQ(rc.timeouts, 0);
	EXPECT_EQ(rc.lost, 0);
	EXPECT_EQ(rc.stuck, 0);
	EXPECT_EQ(rc.rounds, RACE_N);
	EXPECT_EQ(rc.cond, RACE_N);
	/* Every window was exercised, else the race proves nothing. */
	for (w = 0; w < RW_N; w++)
		if (rc.hits[w] == 0)
			ktest_fail(kt, __FILE__, __LINE__, "no wakeup landed "
			    "%s", rw_name[w]);
}

/* ---------------------------------------------------------------------
 * exit_interlocked: the pattern "tsleep_interlock(); if (!cond) tsleep()"
 * leaves the thread queued when cond is already true.  A thread that then
 * exits must not stay on its CPU's sleep queue: a later wakeup() on the
 * address would schedule a dead thread, and a new thread made from the
 * same memory would corrupt the queue.  We hold the thread so its memory
 * stays put, and look at it once it has exited.
 */

static struct {
	int		ident;
	volatile uint32_t done;
} ei;

static void
ei_thread(void *arg __unused)
{
	tsleep_interlock(&ei.ident);
	ei.done = 1;		/* "condition already true": no tsleep */
}

KTEST(tsleep, exit_interlocked)
{
	thread_t td, next;
	uint64_t t0;
	bool queued;

	memset((void *)&ei, 0, sizeof(ei));
	ASSERT_EQ(lwkt_create(ei_thread, NULL, &td, NULL, TDF_STOPREQ,
	    mycpuid, "exit_interlocked"), 0);
	lwkt_hold(td);
	lwkt_schedule(td);
	EXPECT_TRUE(ktest_poll(&ei.done, 1, 200, 1000 * MS));
	t0 = cpu_ticks();
	while (((td->td_flags & TDF_EXITING) == 0 ||
	    (td->td_flags & TDF_RUNNING) != 0) && ktest_us_since(t0) < 1000 * MS)
		lwkt_sleep_us(200);
	EXPECT_NE(td->td_flags & TDF_EXITING, 0);
	queued = (td->td_flags & TDF_TSLEEPQ) != 0;
	EXPECT_EQ(td->td_flags & TDF_TSLEEPQ, 0);
	if (queued) {
		ktest_log(kt, "the exited thread is still on a sleep queue "
		    "(wchan %p)", td->td_wchan);
		/*
		 * Unlink it by hand before it is freed: queue ourselves behind
		 * it on the same address (same CPU, same slot), so it has a
		 * successor and the list head is not needed; then leave.
		 */
		crit_enter();
		tsleep_interlock(&ei.ident);
		next = TAILQ_NEXT(td, td_sleepq);
		if (next != NULL) {
			next->td_sleepq.tqe_prev = td->td_sleepq.tqe_prev;
			*td->td_sleepq.tqe_prev = next;
			td->td_flags &= ~TDF_TSLEEPQ;
			td->td_wchan = NULL;
		}
		crit_exit();
		tsleep_remove(curthread);
		EXPECT_PTR_NE(next, NULL);
	}
	lwkt_rele(td);
}

/* ---------------------------------------------------------------------
 * wakeup_records_run_out
 */

#define WR_FULL		((1u << (TSLEEP_WAKEUP_RECS - 1) << 1) - 1)
/*
 * Chains per held CPU: sends that never wait for room (ipiq_fifo_half, set
 * at boot); so many held CPUs that their FIFOs take the whole pool.
 */
#define WR_HOLDERS_MAX	howmany(TSLEEP_WAKEUP_RECS, IPIQ_FIFO_MIN / 2)
#define WR_HOLD_US	(3000 * MS)		/* bound on a hold */

static struct {
	volatile uint32_t ids[TSLEEP_HASH];	/* the idents: &ids[i] */
	const volatile void *ident[WR_HOLDERS_MAX];
	int		cpu[WR_HOLDERS_MAX];
	volatile uint32_t ready;
	volatile uint32_t go;
	volatile uint32_t holding;
	volatile uint32_t saw_empty;	/* a holder saw the pool empty */
	volatile uint32_t done;
	volatile int	err[WR_HOLDERS_MAX];
} wr;

/*
 * Queued on its ident (interlock), then holds its CPU with interrupts off
 * until a holder saw the waker's pool empty (or WR_HOLD_US), then takes
 * the wakeups.
 */
static void
wr_holder(void *arg)
{
	int k = (int)(uintptr_t)arg;
	struct globaldata *waker = globaldata_find(0);
	uint64_t t0;
	uint32_t ef;

	tsleep_interlock(wr.ident[k]);
	atomic_add_int(&wr.ready, 1);
	t0 = cpu_ticks();
	while (!wr.go && ktest_us_since(t0) < WR_HOLD_US)
		ktest_relax();
	ef = intr_disable();
	atomic_add_int(&wr.holding, 1);
	t0 = cpu_ticks();
	while (!wr.saw_empty && ktest_us_since(t0) < WR_HOLD_US) {
		if (waker->gd_wakeup_free == 0)
			wr.saw_empty = 1;
		ktest_relax();
	}
	intr_restore(ef);
	wr.err[k] = tsleep(wr.ident[k], PINTERLOCKED, "wrhold", 5 * hz);
	atomic_add_int(&wr.done, 1);
}

KTEST(tsleep, wakeup_records_run_out)
{
	uint32_t used = 0, slot;
	int per = (int)ipiq_fifo_half;
	int holders = howmany(TSLEEP_WAKEUP_RECS, per), k, i, n;

	KKASSERT(holders <= WR_HOLDERS_MAX);
	if (mycpuid != 0 || cpumask_count(smp_active_mask) < holders + 1) {
		ktest_skip(kt, "needs cpu 0 and TSLEEP_WAKEUP_RECS / "
		    "ipiq_fifo_half more CPUs");
		return;
	}
	memset((void *)&wr, 0, sizeof(wr));
	/*
	 * Idents in distinct hash slots where nothing sleeps now: each chain's
	 * first hop is its holder (a chain visits the slot's CPUs lowest
	 * first, so a sleeper left on a lower CPU by an earlier test would
	 * take the chain there first and overfill that CPU's FIFO: seen in
	 * the soak with chaos, which leaves such sleepers).
	 */
	for (i = 0, k = 0; i < TSLEEP_HASH && k < holders; i++) {
		slot = tsleep_slot(&wr.ids[i]);
		if (used & (1u << (slot & 31)) || slot >= 32 ||
		    !cpumask_empty(tsleep_slot_cpus(&wr.ids[i])))
			continue;
		used |= 1u << slot;
		wr.ident[k] = &wr.ids[i];
		wr.cpu[k] = nth_cpu(k + 1);
		k++;
	}
	ASSERT_EQ(k, holders);
	for (k = 0; k < holders; k++)
		ASSERT_EQ(lwkt_create(wr_holder, (void *)(uintptr_t)k, NULL, NULL,
		    0, wr.cpu[k], "wrhold_%d", k), 0);
	EXPECT_TRUE(ktest_poll(&wr.ready, holders, 100, WR_HOLD_US));
	EXPECT_EQ(mycpu->gd_wakeup_free, WR_FULL);
	wr.go = 1;
	EXPECT_TRUE(ktest_poll(&wr.holding, holders, 100, WR_HOLD_US));
	/* One wakeup more than the pool holds; the last waits for a record. */
	n = TSLEEP_WAKEUP_RECS + 1;
	for (i = 0; i < n; i++)
		wakeup(wr.ident[i % holders]);
	EXPECT_TRUE(ktest_poll(&wr.done, holders, 100, 2 * WR_HOLD_US));
	EXPECT_EQ(wr.saw_empty, 1);
	for (k = 0; k < holders; k++)
		EXPECT_EQ(wr.err[k], 0);
	/* Every chain ended and gave its record back. */
	EXPECT_TRUE(ktest_poll(&mycpu->gd_wakeup_free, WR_FULL, 100, WR_HOLD_US));
	ktest_log(kt, "%d wakeups over %d held CPU(s), %d chains per CPU "
	    "before the pool (%d) ran out", n, holders, per,
	    TSLEEP_WAKEUP_RECS);
}
