/*
 * Suite "lifecycle": creating, running, exiting, reaping and caching
 * threads (LWKT-SPEC §3.3).
 *   - create_exit_waves: every CPU creates and lets exit threads in waves
 *     (10,000 each up to 4 CPUs, the same total shared out beyond); each
 *     runs exactly once, on its CPU, and afterwards the thread
 *     cache, the reap list, the list of all threads, the heap and the
 *     physical page count are exactly as before;
 *   - hold_delays_reap: lwkt_hold() keeps an exited thread on the reap
 *     list, intact, until lwkt_rele(); lwkt_wait_free() waits for that;
 *   - stopreq: a TDF_STOPREQ thread does not run until lwkt_schedule(),
 *     on this CPU and on another one;
 *   - remote_create: a thread created for another CPU runs there and is
 *     linked on that CPU's gd_tdallq while it lives, and only then;
 *   - stale_remote_after_exit: a remote schedule/setpri still queued for
 *     a thread when it exits does not reach the thread that next uses its
 *     cached struct thread.
 * Each CPU's lists are read only by that CPU, inside a critical section
 * (through ktest_on_cpu()/ktest_on_each_cpu() for other CPUs).
 */
#include <sys/param.h>
#include <sys/systm.h>
#include <sys/globaldata.h>
#include <sys/ktest.h>
#include <sys/malloc.h>
#include <sys/systimer.h>
#include <sys/thread2.h>
#include <sys/vm_page.h>
#include <machine/atomic.h>
#include <machine/cpu.h>
#include <machine/cpufunc.h>

#define MS		1000u		/* microseconds */

/* ---------------------------------------------------------------------
 * Helpers
 */

/* Is td on this CPU's list l (linked through td_threadq / td_allq)? */
static bool
on_threadq(struct thread_list *l, thread_t td)
{
	thread_t it;
	bool found = false;

	crit_enter();
	TAILQ_FOREACH(it, l, td_threadq)
		if (it == td)
			found = true;
	crit_exit();
	return found;
}

static bool
on_allq(thread_t td)
{
	thread_t it;
	bool found = false;

	crit_enter();
	TAILQ_FOREACH(it, &mycpu->gd_tdallq, td_allq)
		if (it == td)
			found = true;
	crit_exit();
	return found;
}

/* Threads on this CPU's gd_tdallq; those running `func` in *nfunc. */
static uint32_t
allq_count(void (*func)(void *), uint32_t *nfunc)
{
	thread_t it;
	uint32_t n = 0, nf = 0;

	crit_enter();
	TAILQ_FOREACH(it, &mycpu->gd_tdallq, td_allq) {
		n++;
		if (it->td_func == func)
			nf++;
	}
	crit_exit();
	if (nfunc != NULL)
		*nfunc = nf;
	return n;
}

/* Wait (bounded) until this CPU's idle thread has emptied gd_tdreapq. */
static bool
reapq_drained(uint32_t us)
{
	uint64_t t0 = cpu_ticks();

	while (!TAILQ_EMPTY(&mycpu->gd_tdreapq)) {
		if (ktest_us_since(t0) >= us)
			return false;
		lwkt_sleep_us(500);
	}
	return true;
}

static int
other_online_cpu(void)
{
	int cpu;

	for (cpu = ncpus - 1; cpu >= 0; cpu--)
		if (cpu != mycpuid && CPUMASK_TESTBIT(smp_active_mask, cpu))
			return cpu;
	return -1;
}

/* ---------------------------------------------------------------------
 * create_exit_waves
 *
 * One thread per CPU (ktest_on_each_cpu) does, with the others:
 *  1. warm-up: create lc.warm threads (TDF_STOPREQ), wait until every CPU
 *     holds its batch, run them, let the reap list drain.  This leaves
 *     the CPU's thread cache full and takes the heap's struct-thread
 *     bucket to a high-water mark no later wave reaches (bucket pages
 *     never go back to vm_page, so only then can the free page count
 *     return exactly);
 *  2. barrier; the first CPU takes the baseline (heap, free pages);
 *  3. threads in waves: lc.small_waves waves of LC_SMALL, served by the
 *     thread cache, all CPUs at once; then, after a barrier, on the CPUs
 *     of lc.big_cpus, LC_BIG_WAVES waves of LC_BIG (fresh struct thread
 *     from the heap and stacks from vm_page, given back when reaped).  Each
 *     wave
 *     waits until all its threads ran (counted, then woken by the last;
 *     a per-CPU watchdog systimer bounds the waits) and left gd_tdallq;
 *  4. drain the reap list, record the lists, barrier; the first CPU
 *     measures while every CPU still has the same threads as at 2.
 * The parts that allocate fresh stacks (warm-up creation, big waves) go
 * one CPU at a time: every fresh stack costs a synchronous TLB shootdown
 * of its guard page on each other CPU, which is very slow under QEMU when
 * all the CPUs do it at once on an oversubscribed host.
 *
 * The work is scaled so that its total stays about what 4 CPUs do, since
 * each fresh stack costs every CPU a shootdown: up to LC_BIG_CPUS CPUs,
 * each creates LC_WARM threads in the warm-up, runs LC_SMALL_WAVES_4 small
 * waves and the big waves; beyond, the small waves and the warm-up are
 * shared out (at least LC_SMALL_WAVES_MIN waves and CACHE_NTHREADS + 4
 * warm-up threads per CPU; the warm-up's peak still exceeds the big
 * waves' one) and LC_BIG_CPUS CPUs drawn from the seed, the first and the
 * last online CPU among them, run the big waves.  Every CPU still
 * creates, runs, caches and reaps threads, and the heap and page counts
 * must come back exactly.
 */

#define LC_THREADS	10000		/* per CPU (up to 4), after the warm-up */
#define LC_SMALL	6
#define LC_BIG		50
#define LC_BIG_WAVES	2
#define LC_BIG_CPUS	4		/* CPUs that run the big waves, at most */
#define LC_SMALL_WAVES_4 ((LC_THREADS - LC_BIG_WAVES * LC_BIG) / LC_SMALL)
#define LC_SMALL_WAVES_MIN 16
#define LC_WARM		(LC_BIG + CACHE_NTHREADS + 16)
#define LC_WARM_MIN	(CACHE_NTHREADS + 4)
#define LC_WAIT_US	(20000 * MS)	/* per barrier and drain */
#define LC_DOG_US	(40000 * MS)	/* the whole of one CPU's part */

_Static_assert(LC_SMALL <= CACHE_NTHREADS, "small waves come from the cache");
_Static_assert((LC_THREADS - LC_BIG_WAVES * LC_BIG) % LC_SMALL == 0,
    "waves add up to LC_THREADS");
_Static_assert(LC_SMALL <= LC_WARM_MIN && LC_BIG <= LC_WARM, "slots");

struct lc_cpu {
	thread_t	waiter;
	struct systimer	dog;		/* bounds every wait of the CPU's waves */
	volatile uint32_t dog_fired;
	volatile uint32_t ran;		/* workers that ran on this CPU */
	volatile uint32_t target;	/* wake the waiter at this count */
	volatile uint8_t slot[LC_WARM];	/* runs of each worker of the wave */
	thread_t	warm[LC_WARM];
	uint32_t	waves;		/* waves completed (warm-up included) */
	uint32_t	threads;	/* threads created */
	uint32_t	allq_before;
	uint32_t	allq_after;
	uint32_t	workers_left;	/* on gd_tdallq after the waves */
	int		freecount;
	bool		reapq_empty;
	bool		done;
};

static struct {
	struct lc_cpu	cpu[MAXCPU];
	volatile uint32_t total;	/* workers that ran, all CPUs */
	volatile uint32_t wrong_cpu;
	volatile uint32_t abort;
	volatile uint32_t turn_warm;	/* CPUs done creating the warm-up */
	volatile uint32_t turn_big;	/* CPUs done with their big waves */
	volatile uint32_t arrive_held;
	volatile uint32_t arrive_warm;
	volatile uint32_t arrive_small;
	volatile uint32_t arrive_done;
	volatile uint32_t go;
	volatile uint32_t measured;
	struct kmalloc_stats ks0, ks1;
	uint32_t	pages0, pages1;
	/* the shape, set before the CPUs start (see above) */
	uint32_t	warm;		/* warm-up threads per CPU */
	uint32_t	small_waves;	/* per CPU */
	cpumask_t	big_cpus;	/* CPUs that run the big waves */
} lc;

static void
lc_dog(struct systimer *st __unused, void *arg)
{
	struct lc_cpu *c = arg;

	c->dog_fired = 1;
	lwkt_schedule(c->waiter);
}

static void
lc_worker(void *arg)
{
	volatile uint8_t *slot = arg;
	struct lc_cpu *c = &lc.cpu[mycpuid];

	if (slot < c->slot || slot >= c->slot + LC_WARM) {
		atomic_add_int(&lc.wrong_cpu, 1);
		return;
	}
	(*slot)++;
	atomic_add_int(&lc.total, 1);
	crit_enter();
	if (++c->ran == c->target)
		lwkt_schedule(c->waiter);
	crit_exit();
}

/* Create n workers (stopped if `stop`, their threads in c->warm). */
static bool
lc_create(struct ktest_ctx *kt, struct lc_cpu *c, int n, bool stop)
{
	int cpu = mycpuid, i;

	for (i = 0; i < n; i++)
		c->slot[i] = 0;
	c->target = c->ran + n;
	for (i = 0; i < n; i++) {
		if (lwkt_create(lc_worker, (void *)&c->slot[i],
		    stop ? &c->warm[i] : NULL, NULL, stop ? TDF_STOPREQ : 0,
		    cpu, "lc%d_%d", cpu, i) != 0) {
			ktest_fail(kt, __FILE__, __LINE__, "cpu %d wave %u: "
			    "lwkt_create failed at thread %d", cpu, c->waves, i);
			return false;
		}
		c->threads++;
	}
	return true;
}

/* Wait for the n workers of the wave to run once each and to exit. */
static bool
lc_finish(struct ktest_ctx *kt, struct lc_cpu *c, int n)
{
	int cpu = mycpuid, i;
	uint32_t left;

	/*
	 * Block until the last worker wakes us.  No timer per wave (arming
	 * one reprograms the local APIC, slow under QEMU): the CPU's
	 * watchdog bounds the wait.
	 */
	crit_enter();
	while (c->ran < c->target && !c->dog_fired) {
		lwkt_deschedule_self();
		lwkt_switch();
	}
	crit_exit();
	if (c->ran < c->target) {
		ktest_fail(kt, __FILE__, __LINE__, "cpu %d wave %u: %u of %d "
		    "threads ran", cpu, c->waves, c->ran + n - c->target, n);
		return false;
	}
	for (i = 0; i < n; i++) {
		if (c->slot[i] != 1) {
			ktest_fail(kt, __FILE__, __LINE__, "cpu %d wave %u: "
			    "thread %d ran %u times", cpu, c->waves, i,
			    c->slot[i]);
			return false;
		}
	}
	/* The last ones may still be on their way out (lwkt_exit). */
	for (i = 0;; i++) {
		allq_count(lc_worker, &left);
		if (left == 0)
			break;
		if (i == 2000) {
			ktest_fail(kt, __FILE__, __LINE__, "cpu %d wave %u: %u "
			    "threads ran but never left gd_tdallq", cpu,
			    c->waves, left);
			return false;
		}
		if (i < 10)
			lwkt_yield();
		else
			lwkt_sleep_us(100);
	}
	c->waves++;
	return true;
}

/* Arrive, then wait (bounded) for `n` arrivals; false on abort/timeout. */
static bool
lc_barrier(volatile uint32_t *word, uint32_t n)
{
	uint64_t t0 = cpu_ticks();

	atomic_add_int(word, 1);
	while (*word < n && !lc.abort) {
		if (ktest_us_since(t0) >= LC_WAIT_US)
			return false;
		lwkt_sleep_us(1000);
	}
	return !lc.abort;
}

static bool
lc_wait_flag(volatile uint32_t *flag)
{
	uint64_t t0 = cpu_ticks();

	while (*flag == 0 && !lc.abort) {
		if (ktest_us_since(t0) >= LC_WAIT_US)
			return false;
		lwkt_sleep_us(1000);
	}
	return !lc.abort;
}

/* Wait (bounded) until *turn == idx: CPUs take turns in cpuid order. */
static bool
lc_turn(volatile uint32_t *turn, uint32_t idx)
{
	uint64_t t0 = cpu_ticks();

	while (*turn != idx && !lc.abort) {
		if (ktest_us_since(t0) >= LC_WAIT_US)
			return false;
		lwkt_sleep_us(1000);
	}
	return !lc.abort;
}

static void
lc_cpu_main(struct ktest_ctx *kt, void *arg __unused)
{
	struct globaldata *gd = mycpu;
	struct lc_cpu *c = &lc.cpu[gd->gd_cpuid];
	uint32_t ncpu = cpumask_count(smp_active_mask);
	bool leader = gd->gd_cpuid == cpumask_first(smp_active_mask);
	uint32_t idx = cpumask_count(cpumask_and(smp_active_mask,
	    cpumask_range(gd->gd_cpuid)));
	int w, i;

	c->waiter = curthread;
	systimer_init_oneshot(&c->dog, lc_dog, c, LC_DOG_US);

	/* 1. Warm-up: every CPU holds lc.warm threads at the same time. */
	if (!lc_turn(&lc.turn_warm, idx) || !lc_create(kt, c, lc.warm, true))
		goto fail;
	atomic_add_int(&lc.turn_warm, 1);
	if (!lc_barrier(&lc.arrive_held, ncpu))
		goto fail;	/* (the stopped threads are leaked) */
	crit_enter();
	for (i = 0; i < (int)lc.warm; i++)
		lwkt_schedule(c->warm[i]);
	crit_exit();
	if (!lc_finish(kt, c, lc.warm) || !reapq_drained(LC_WAIT_US))
		goto fail;

	/* 2. Baseline. */
	if (!lc_barrier(&lc.arrive_warm, ncpu))
		goto fail;
	if (leader) {
		kmalloc_stats(&lc.ks0);
		lc.pages0 = vm_page_free_count();
		atomic_store_rel_int(&lc.go, 1);
	} else if (!lc_wait_flag(&lc.go)) {
		goto fail;
	}

	/* 3. The waves. */
	c->allq_before = allq_count(lc_worker, NULL);
	for (w = 0; w < (int)lc.small_waves; w++)
		if (!lc_create(kt, c, LC_SMALL, false) ||
		    !lc_finish(kt, c, LC_SMALL))
			goto fail;
	if (!lc_barrier(&lc.arrive_small, ncpu) || !lc_turn(&lc.turn_big, idx))
		goto fail;
	for (w = 0; w < LC_BIG_WAVES && CPUMASK_TESTBIT(lc.big_cpus,
	    gd->gd_cpuid); w++)
		if (!lc_create(kt, c, LC_BIG, false) ||
		    !lc_finish(kt, c, LC_BIG))
			goto fail;
	atomic_add_int(&lc.turn_big, 1);

	/* 4. Reaped, lists as before; measure. */
	c->reapq_empty = reapq_drained(LC_WAIT_US);
	c->allq_after = allq_count(lc_worker, &c->workers_left);
	c->freecount = gd->gd_tdfreecount;
	c->done = true;
	if (!lc_barrier(&lc.arrive_done, ncpu))
		goto fail;
	if (leader) {
		kmalloc_stats(&lc.ks1);
		lc.pages1 = vm_page_free_count();
		atomic_store_rel_int(&lc.measured, 1);
	} else if (!lc_wait_flag(&lc.measured)) {
		goto fail;
	}
	systimer_del(&c->dog);
	return;
fail:
	systimer_del(&c->dog);
	ktest_fail(kt, __FILE__, __LINE__, "cpu %d gave up after %u waves%s",
	    gd->gd_cpuid, c->waves, c->dog_fired ? " (watchdog)" : "");
	atomic_store_rel_int(&lc.abort, 1);
}

/* The k-th online CPU (from 0). */
static int
lc_nth_online(uint32_t k)
{
	int cpu, found = -1;

	CPUMASK_FOREACH(cpu, smp_active_mask)
		if (found < 0 && k-- == 0)
			found = cpu;
	KKASSERT(found >= 0);
	return found;
}

/* The shape of the run for `online` CPUs (see above). */
static void
lc_shape(struct ktest_ctx *kt, uint32_t online)
{
	uint32_t warm = howmany(LC_WARM * LC_BIG_CPUS, online);
	uint32_t waves = LC_SMALL_WAVES_4 * LC_BIG_CPUS / online;

	lc.warm = LC_WARM;
	lc.small_waves = LC_SMALL_WAVES_4;
	lc.big_cpus = smp_active_mask;
	if (online <= LC_BIG_CPUS)
		return;
	lc.warm = warm > LC_WARM_MIN ? warm : LC_WARM_MIN;
	lc.small_waves = waves > LC_SMALL_WAVES_MIN ? waves : LC_SMALL_WAVES_MIN;
	CPUMASK_ASSBIT(lc.big_cpus, lc_nth_online(0));
	CPUMASK_SETBIT(lc.big_cpus, lc_nth_online(online - 1));
	while (cpumask_count(lc.big_cpus) < LC_BIG_CPUS)
		CPUMASK_SETBIT(lc.big_cpus,
		    lc_nth_online(ktest_random(kt) % online));
}

KTEST(lifecycle, create_exit_waves)
{
	uint32_t online = cpumask_count(smp_active_mask), big, want;
	uint64_t t0 = cpu_ticks();
	struct lc_cpu *c;
	int cpu, ran;

	memset((void *)&lc, 0, sizeof(lc));
	lc_shape(kt, online);
	ran = ktest_on_each_cpu(kt, lc_cpu_main, NULL);
	ktest_log(kt, "%u threads on %u CPU(s) in %llu ms", lc.total, online,
	    ktest_us_since(t0) / 1000);
	ASSERT_EQ(ran, online);
	ASSERT_EQ(lc.abort, 0);
	EXPECT_EQ(lc.wrong_cpu, 0);
	big = cpumask_count(lc.big_cpus);
	EXPECT_EQ(big, online < LC_BIG_CPUS ? online : LC_BIG_CPUS);
	EXPECT_EQ(lc.total, online * (lc.warm + lc.small_waves * LC_SMALL) +
	    big * LC_BIG_WAVES * LC_BIG);
	for (cpu = 0; cpu < ncpus; cpu++) {
		if (!CPUMASK_TESTBIT(smp_active_mask, cpu))
			continue;
		c = &lc.cpu[cpu];
		ASSERT_TRUE(c->done);
		big = CPUMASK_TESTBIT(lc.big_cpus, cpu) ? LC_BIG_WAVES : 0;
		want = lc.warm + lc.small_waves * LC_SMALL + big * LC_BIG;
		EXPECT_EQ(c->threads, want);
		EXPECT_EQ(c->ran, want);
		EXPECT_EQ(c->waves, 1 + lc.small_waves + big);
		EXPECT_TRUE(c->reapq_empty);
		EXPECT_LE(c->freecount, CACHE_NTHREADS);
		EXPECT_EQ(c->workers_left, 0);
		EXPECT_EQ(c->allq_after, c->allq_before);
	}
	EXPECT_EQ(lc.ks1.ks_inuse_bytes, lc.ks0.ks_inuse_bytes);
	EXPECT_EQ(lc.ks1.ks_inuse_count, lc.ks0.ks_inuse_count);
	EXPECT_EQ(lc.ks1.ks_failures, lc.ks0.ks_failures);
	EXPECT_EQ(lc.pages1, lc.pages0);
}

/* ---------------------------------------------------------------------
 * hold_delays_reap
 */

static struct {
	volatile uint32_t ran;
	volatile uint32_t released;
	thread_t	held;
} hd;

static void
hd_worker(void *arg __unused)
{
	hd.ran = 1;
}

static void
hd_releaser(void *arg __unused)
{
	lwkt_sleep_us(5 * MS);
	hd.released = 1;
	lwkt_rele(hd.held);
}

KTEST(lifecycle, hold_delays_reap)
{
	struct globaldata *gd = mycpu;
	thread_t td;
	uint64_t t0;
	int i;

	memset((void *)&hd, 0, sizeof(hd));
	ASSERT_EQ(lwkt_create(hd_worker, NULL, &td, NULL, TDF_STOPREQ,
	    gd->gd_cpuid, "hd_held"), 0);
	lwkt_hold(td);
	lwkt_schedule(td);
	/* Wait until it has exited and is fully switched out. */
	t0 = cpu_ticks();
	while (((td->td_flags & TDF_EXITING) == 0 ||
	    (td->td_flags & TDF_RUNNING) != 0) && ktest_us_since(t0) < 1000 * MS)
		lwkt_sleep_us(200);
	ASSERT_NE(td->td_flags & TDF_EXITING, 0);
	ASSERT_EQ(td->td_flags & TDF_RUNNING, 0);
	EXPECT_EQ(hd.ran, 1);

	/* The idle thread had its chances; so has an explicit reap. */
	for (i = 0; i < 5; i++)
		lwkt_sleep_us(1 * MS);
	lwkt_reap();
	EXPECT_TRUE(on_threadq(&gd->gd_tdreapq, td));
	EXPECT_FALSE(on_threadq(&gd->gd_tdfreeq, td));
	EXPECT_FALSE(on_allq(td));
	EXPECT_STREQ(td->td_comm, "hd_held");
	EXPECT_EQ(td->td_refs, 1);
	EXPECT_NE(td->td_flags & TDF_EXITING, 0);
	EXPECT_EQ(td->td_flags & (TDF_RUNQ | TDF_PREEMPT_LOCK), 0);
	EXPECT_PTR_EQ(td->td_gd, gd);
	EXPECT_PTR_NE(td->td_kstack, NULL);

	/* lwkt_wait_free() returns once another thread lets go. */
	hd.held = td;
	ASSERT_EQ(lwkt_create(hd_releaser, NULL, NULL, NULL, 0, gd->gd_cpuid,
	    "hd_releaser"), 0);
	lwkt_wait_free(td);
	EXPECT_EQ(hd.released, 1);

	/* Now it is reaped (td may be reused or freed: compare only). */
	t0 = cpu_ticks();
	while (on_threadq(&gd->gd_tdreapq, td) && ktest_us_since(t0) < 1000 * MS)
		lwkt_sleep_us(500);
	EXPECT_FALSE(on_threadq(&gd->gd_tdreapq, td));
}

/* ---------------------------------------------------------------------
 * stopreq
 */

static struct {
	volatile uint32_t ran[2];
	volatile int	cpu[2];
} sr;

static void
sr_worker(void *arg)
{
	int slot = (int)(uintptr_t)arg;

	sr.cpu[slot] = mycpuid;
	atomic_store_rel_int(&sr.ran[slot], 1);
}

KTEST(lifecycle, stopreq)
{
	thread_t td, rtd;
	int me = mycpuid, other = other_online_cpu();

	memset((void *)&sr, 0, sizeof(sr));
	ASSERT_EQ(lwkt_create(sr_worker, (void *)0, &td, NULL, TDF_STOPREQ,
	    me, "sr_local"), 0);
	if (other >= 0)
		ASSERT_EQ(lwkt_create(sr_worker, (void *)1, &rtd, NULL,
		    TDF_STOPREQ, other, "sr_cpu%d", other), 0);
	EXPECT_EQ(td->td_flags & (TDF_RUNQ | TDF_RUNNING), 0);
	EXPECT_TRUE(on_allq(td));	/* created: linked, just not runnable */
	lwkt_sleep_us(10 * MS);		/* every CPU had time to run it */
	lwkt_yield();
	EXPECT_EQ(sr.ran[0], 0);
	EXPECT_EQ(sr.ran[1], 0);
	EXPECT_EQ(td->td_flags & (TDF_RUNQ | TDF_RUNNING), 0);

	lwkt_schedule(td);
	EXPECT_TRUE(ktest_poll(&sr.ran[0], 1, 200, 1000 * MS));
	EXPECT_EQ(sr.cpu[0], me);
	if (other < 0) {
		ktest_log(kt, "one CPU: no remote TDF_STOPREQ thread");
		return;
	}
	EXPECT_EQ(sr.ran[1], 0);
	lwkt_schedule(rtd);		/* an IPIQ message to its CPU */
	EXPECT_TRUE(ktest_poll(&sr.ran[1], 1, 200, 1000 * MS));
	EXPECT_EQ(sr.cpu[1], other);
}

/* ---------------------------------------------------------------------
 * remote_create
 */

static struct {
	volatile uint32_t ran[MAXCPU];
	volatile int	cpu[MAXCPU];
	volatile uint32_t gd_ok[MAXCPU];
	volatile uint32_t linked[MAXCPU];	/* on its CPU's allq, by itself */
	thread_t	td[MAXCPU];
	volatile uint32_t release;
	volatile uint32_t exited;
} rc;

static void
rc_worker(void *arg)
{
	int slot = (int)(uintptr_t)arg;
	thread_t td = curthread;

	rc.cpu[slot] = mycpuid;
	rc.gd_ok[slot] = td->td_gd == mycpu;
	rc.linked[slot] = on_allq(td);
	atomic_store_rel_int(&rc.ran[slot], 1);
	/* Live until released (bounded), so the test can look for us. */
	ktest_poll(&rc.release, 1, 500, 10000 * MS);
	atomic_add_int(&rc.exited, 1);
}

/* On the thread's CPU: it is on gd_tdallq (and is still our thread). */
static void
rc_check_linked(struct ktest_ctx *kt, void *arg)
{
	int slot = (int)(uintptr_t)arg;
	uint32_t nrc;

	EXPECT_TRUE(on_allq(rc.td[slot]));
	allq_count(rc_worker, &nrc);
	EXPECT_EQ(nrc, 1);
}

/*
 * After it exited: no rc_worker thread left on the CPU's gd_tdallq.  (Not
 * by pointer: the struct may already serve another thread, e.g. ours.)
 */
static void
rc_check_unlinked(struct ktest_ctx *kt, void *arg __unused)
{
	uint32_t nrc;
	int i;

	/* It may still be between its last store and lwkt_exit(). */
	for (i = 0; i < 200; i++) {
		allq_count(rc_worker, &nrc);
		if (nrc == 0)
			break;
		lwkt_sleep_us(500);
	}
	EXPECT_EQ(nrc, 0);
}

KTEST(lifecycle, remote_create)
{
	int me = mycpuid, cpu, n = 0;

	if (other_online_cpu() < 0) {
		ktest_skip(kt, "needs a second CPU");
		return;
	}
	memset((void *)&rc, 0, sizeof(rc));
	for (cpu = 0; cpu < ncpus; cpu++) {
		if (cpu == me || !CPUMASK_TESTBIT(smp_active_mask, cpu))
			continue;
		ASSERT_EQ(lwkt_create(rc_worker, (void *)(uintptr_t)cpu,
		    &rc.td[cpu], NULL, 0, cpu, "rc_cpu%d", cpu), 0);
		EXPECT_PTR_EQ(rc.td[cpu]->td_gd, globaldata_find(cpu));
		n++;
	}
	for (cpu = 0; cpu < ncpus; cpu++) {
		if (cpu == me || !CPUMASK_TESTBIT(smp_active_mask, cpu))
			continue;
		if (!ktest_poll(&rc.ran[cpu], 1, 200, 2000 * MS)) {
			EXPECT_TRUE(rc.ran[cpu]);
			continue;
		}
		EXPECT_EQ(rc.cpu[cpu], cpu);
		EXPECT_TRUE(rc.gd_ok[cpu]);
		EXPECT_TRUE(rc.linked[cpu]);
		ktest_on_cpu(kt, cpu, rc_check_linked, (void *)(uintptr_t)cpu);
	}
	atomic_store_rel_int(&rc.release, 1);
	EXPECT_TRUE(ktest_poll(&rc.exited, n, 200, 5000 * MS));
	for (cpu = 0; cpu < ncpus; cpu++)
		if (cpu != me && CPUMASK_TESTBIT(smp_active_mask, cpu) &&
		    rc.ran[cpu])
			ktest_on_cpu(kt, cpu, rc_check_unlinked,
			    (void *)(uintptr_t)cpu);
}

/* ---------------------------------------------------------------------
 * stale_remote_after_exit (issue 9 defect 8): messages queued for thread
 * A on its CPU X while X is held off (a driver thread D spinning there in
 * a critical section) must be harmless when X finally runs them, after A
 * has exited and X has created thread B, possibly in A's cached struct:
 * B must be neither scheduled (it is TDF_STOPREQ) nor given A's priority.
 * D does the exit and the creation itself, all inside its one critical
 * section, so X runs no message before it is done.
 */

#define SR_PRI		(TDPRI_KERN_DAEMON + 2)

static struct {
	thread_t	a, b;
	volatile uint32_t a_parked, a_stop;
	volatile uint32_t d_ready, d_go, d_done, d_timeout;
	volatile uint32_t b_ran;
	volatile int	b_pri;
	volatile uint32_t b_runq;
} stale;

static void
sr_a(void *arg __unused)
{
	crit_enter();
	stale.a_parked = 1;
	while (!stale.a_stop) {
		lwkt_deschedule_self();
		lwkt_switch();
	}
	lwkt_exit();		/* inside the section: no deferred work runs */
}

static void
sr_b(void *arg __unused)
{
	stale.b_ran = 1;
}

static void
sr_d(void *arg __unused)
{
	uint64_t end = cpu_ticks() + 2 * cpu_tsc_hz;

	crit_enter();
	stale.d_ready = 1;
	while (!stale.d_go && cpu_ticks() < end)
		ktest_relax();
	if (!stale.d_go) {
		stale.d_timeout = 1;
		crit_exit();
		return;
	}
	stale.a_stop = 1;
	lwkt_schedule(stale.a);
	while ((stale.a->td_flags & TDF_EXITING) == 0)
		lwkt_yield();		/* A runs and exits */
	lwkt_switch();			/* ... and is fully switched out */
	if (lwkt_create(sr_b, NULL, &stale.b, NULL, TDF_STOPREQ, mycpuid,
	    "sr_b") == 0) {
		stale.b_pri = stale.b->td_pri;
		stale.b_runq = stale.b->td_flags & TDF_RUNQ;
	}
	stale.d_done = 1;
	crit_exit();			/* X runs the queued messages now */
}

KTEST(lifecycle, stale_remote_after_exit)
{
	int x = ktest_other_cpu();
	thread_t a, d;

	if (x == mycpuid) {
		ktest_skip(kt, "needs 2 CPUs");
		return;
	}
	memset((void *)&stale, 0, sizeof(stale));
	ASSERT_EQ(lwkt_create(sr_a, NULL, &stale.a, NULL, 0, x, "sr_a"), 0);
	a = stale.a;
	ASSERT_TRUE(ktest_poll(&stale.a_parked, 1, 200, 1000 * MS));
	ASSERT_EQ(lwkt_create(sr_d, NULL, &d, NULL, 0, x, "sr_d"), 0);
	ASSERT_TRUE(ktest_poll(&stale.d_ready, 1, 200, 1000 * MS));
	/* X is held off now: these wait in its IPIQ. */
	lwkt_setpri(a, SR_PRI);
	lwkt_schedule(a);
	stale.d_go = 1;
	ASSERT_TRUE(ktest_poll(&stale.d_done, 1, 200, 2000 * MS));
	EXPECT_EQ(stale.d_timeout, 0);
	ASSERT_PTR_NE(stale.b, NULL);
	ktest_log(kt, "A %p, B %p: %s", a, stale.b, stale.b == a ?
	    "B reuses A's struct" : "B got another struct");
	EXPECT_EQ(stale.b_pri, TDPRI_KERN_DAEMON);
	EXPECT_EQ(stale.b_runq, 0);
	/* Give X time to run the stale messages. */
	lwkt_sleep_us(10 * MS);
	EXPECT_EQ(stale.b_ran, 0);
	EXPECT_EQ(stale.b->td_pri, TDPRI_KERN_DAEMON);
	if (stale.b_ran == 0)
		lwkt_schedule(stale.b);
	EXPECT_TRUE(ktest_poll(&stale.b_ran, 1, 200, 1000 * MS));
}
