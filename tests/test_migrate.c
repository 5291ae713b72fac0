/*
 * Suite "migrate": moving threads between CPUs (LWKT-SPEC §3, §10b).
 *   - hop_all_cpus: a thread moves itself (lwkt_setcpu_self) across all
 *     CPUs MG_HOPS times (more beyond 200 CPUs: one full round-robin lap),
 *     round-robin and then pseudo-randomly, while a
 *     thread on every CPU runs cpusyncs over all CPUs in a loop; after
 *     each hop it runs on the CPU it asked for, td_gd is that CPU, it is
 *     on that CPU's gd_tdallq and no longer marked migrating; at the end
 *     it is on exactly one CPU's gd_tdallq;
 *   - acquire: a thread blocked on CPU b is pulled to CPU a with
 *     lwkt_acquire(), scheduled there and runs on a; only a lists it;
 *   - setcpu_self_to_self: moving to the CPU we are on changes nothing
 *     and does not switch.
 * Each CPU's lists are read only by that CPU, inside a critical section.
 * Every wait is bounded.
 */
#include <sys/param.h>
#include <sys/systm.h>
#include <sys/globaldata.h>
#include <sys/cpusync.h>
#include <sys/ipiq.h>
#include <sys/malloc.h>
#include <sys/ktest.h>
#include <sys/systimer.h>
#include <sys/thread2.h>
#include <machine/atomic.h>
#include <machine/cpu.h>

#define MS		1000u		/* microseconds */

/* ---------------------------------------------------------------------
 * Helpers
 */

/*
 * The CPU we run on, loaded afresh: a volatile asm with a memory clobber,
 * which the compiler can neither reuse from before a call nor move across
 * one.  The checks of the migration itself use it, so that they stay
 * valid even if `mycpu` is stale (see hop_all_cpus, HB_STALE).
 */
static __always_inline struct globaldata *
live_mycpu(void)
{
	struct globaldata *gd;

	__asm__ __volatile__("movl %%fs:0, %0" : "=r"(gd) :: "memory");
	return gd;
}

/* Is td on this CPU's gd_tdallq? */
static bool
on_my_allq(thread_t td)
{
	thread_t it;
	bool found = false;

	crit_enter();
	TAILQ_FOREACH(it, &live_mycpu()->gd_tdallq, td_allq)
		if (it == td)
			found = true;
	crit_exit();
	return found;
}

static uint32_t
xorshift(uint32_t *s)
{
	uint32_t x = *s;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	*s = x;
	return x;
}

/* ---------------------------------------------------------------------
 * hop_all_cpus
 *
 * The hopper (a thread of its own, created on the test's CPU) makes
 * hop_hops(n) moves with lwkt_setcpu_self(): hop_rr_hops(n) to the next
 * online CPU in turn (at least one lap), MG_HOPS / 2 to a pseudo-random
 * other CPU
 * (seeded by ktest_random).  After each hop it checks, against a fresh
 * read of %fs:0, that it runs on the target, that td_gd is that CPU, that
 * it is on that CPU's gd_tdallq and no longer marked migrating
 * (TDF_MIGRATING, td_migrate_gd), that it holds no critical section and
 * that a stack canary survived.  Separately it checks that `mycpu` (the
 * kernel's macro, also behind `mycpuid`), read before and after the call
 * as ordinary code would, names the new CPU after it: the compiler must
 * not hand back the load it made before the call ("stale").  At the end
 * the hopper parks, and each CPU looks for it on its own gd_tdallq: only
 * the CPU it is on lists it.
 *
 * Meanwhile a "syncer" thread on every CPU calls lwkt_cpusync_simple()
 * over all CPUs in a loop until the hopper is done, checking each time
 * that the function ran on every CPU.  A cpusync of all CPUs occupies all
 * of them, so after each one a syncer sleeps MG_DUTY * n - 1 times as
 * long as it took (n CPUs; together the syncers hold the CPUs about
 * 1 / MG_DUTY of the time), at most MG_GAP_MAX.  Under single-threaded
 * TCG a cpusync takes microseconds; under multi-threaded TCG with more
 * vCPUs than host cores one takes milliseconds, on a loaded host up to a
 * second (every vCPU must get the host, and the held ones spin).  With
 * the cap at 200 ms such cpusyncs (soak-0068, 12 CPUs: 0.4 s on average)
 * kept every syncer in one most of the time, the CPUs were held nearly
 * always and a hop took 0.65 s; the cap is now far above that.  So that
 * hops and cpusyncs always overlap, the hopper also waits after every
 * MG_SYNC_EVERY hops until one more cpusync has completed.
 *
 * No wait depends on the speed of the host: the test fails when the
 * hopper makes no hop, or sees no cpusync complete, for MG_STALL_US, or
 * when a thread does not end within MG_STALL_US of being told to (a
 * syncer then has at most one cpusync and one sleep of MG_GAP_MAX left).
 * So that the test ends within test.timeout (60 s) however slow the host,
 * the hopper stops early, still moving, after MG_RUN_US: every hop it made
 * was checked, and it must have visited every CPU.
 */

/*
 * 400 hops: 200 round-robin (25 laps of 8 CPUs) and 200 to random CPUs,
 * each checked; a stale mycpu shows at the first hop after the call.  With
 * more than MG_RR_HOPS CPUs the round-robin part is one lap, so that every
 * CPU is visited: hop_hops(n) hops in all.
 */
#define MG_HOPS		400
#define MG_RR_HOPS	(MG_HOPS / 2)
#define MG_STALL_US	(15000 * MS)	/* no hop (no cpusync) this long: stuck */
#define MG_RUN_US	(30000 * MS)	/* then the hopper stops early */
#define MG_SYNC_EVERY	40		/* hops, then wait for a new cpusync */
#define MG_DUTY		3		/* cpusyncs: 1 / MG_DUTY of the time */
#define MG_GAP_MIN	20		/* us between cpusyncs, at least */
#define MG_GAP_MAX	(MG_STALL_US / 5) /* and at most */

static uint32_t
hop_rr_hops(int n)
{
	return n > MG_RR_HOPS ? (uint32_t)n : MG_RR_HOPS;
}

static uint32_t
hop_hops(int n)
{
	return hop_rr_hops(n) + (MG_HOPS - MG_RR_HOPS);
}

static struct {
	thread_t volatile hopper;
	uint32_t	seed;
	volatile uint32_t hops;
	volatile uint32_t enough;		/* MG_RUN_US passed: stop early */
	volatile uint32_t done;
	volatile uint32_t may_exit;
	volatile uint32_t exited;
	volatile int	final_cpu;
	/* failures after a hop (the first one is described) */
	volatile uint32_t bad;
	volatile int	bad_hop, bad_want, bad_cpu, bad_what;
	volatile uint32_t stale;		/* mycpu named the old CPU */
	volatile int	stale_hop, stale_want, stale_cpu, stale_seen;
	/* syncers */
	volatile uint32_t stop;
	volatile uint32_t syncers_done;
	volatile uint32_t cs_calls[MAXCPU];
	volatile uint64_t cs_us[MAXCPU];	/* time in cpusyncs, by syncer */
	volatile uint64_t cs_us_max[MAXCPU];	/* longest one, by syncer */
	volatile uint32_t cs_total;
	volatile uint64_t sync_wait_us;		/* hopper, waiting for them */
	volatile uint32_t cs_bad;		/* ran on fewer CPUs than asked */
	volatile cpumask_t cs_bad_mask;
	volatile uint32_t cs_runs[MAXCPU];	/* func runs, by CPU */
	/* the census */
	volatile uint32_t listed[MAXCPU];
} hop;

enum { HB_CPU = 1, HB_GD, HB_ALLQ, HB_FLAGS, HB_CRIT, HB_CANARY, HB_SYNC };

static void
hop_bad(int h, int want, int what)
{
	if (atomic_fetchadd_int(&hop.bad, 1) == 0) {
		hop.bad_hop = h;
		hop.bad_want = want;
		hop.bad_cpu = live_mycpu()->gd_cpuid;
		hop.bad_what = what;
	}
}

/*
 * The hopper, after MG_SYNC_EVERY hops: until a cpusync completes after
 * `seen` of them had; false if none does for MG_STALL_US.  Stops waiting
 * (true) once the test stops the run or the hopper.
 */
static bool
hop_wait_sync(uint32_t seen)
{
	uint64_t t0 = cpu_ticks();

	while (hop.cs_total == seen && !hop.stop && !hop.enough) {
		if (ktest_us_since(t0) >= MG_STALL_US)
			return false;
		lwkt_sleep_us(50);
	}
	return true;
}

/*
 * The test: until the hopper is done; false if it made no hop for
 * MG_STALL_US (however slow the hops, as long as they keep coming).
 * After MG_RUN_US it tells the hopper to stop after its current hop.
 */
static bool
hop_wait_done(struct ktest_ctx *kt)
{
	uint64_t t0 = cpu_ticks(), start = t0;
	uint32_t seen = hop.hops;

	while (!hop.done) {
		if (!hop.enough && ktest_us_since(start) >= MG_RUN_US)
			hop.enough = 1;
		if (hop.hops != seen) {
			seen = hop.hops;
			t0 = cpu_ticks();
		} else if (ktest_us_since(t0) >= MG_STALL_US) {
			ktest_fail(kt, __FILE__, __LINE__, "the hopper made no "
			    "hop for %u ms after hop %u of %u", MG_STALL_US / MS,
			    seen, hop_hops(cpumask_count(smp_active_mask)));
			return false;
		}
		lwkt_sleep_us(1000);
	}
	return true;
}

static void
hop_thread(void *arg __unused)
{
	thread_t td = curthread;
	struct globaldata *gd, *tgd, *from, *to;
	volatile uint32_t canary[4] = { 0xC0FFEE01, 0xC0FFEE02, 0xC0FFEE03,
	    0xC0FFEE04 };
	uint32_t seed = hop.seed | 1, r, cs_seen = hop.cs_total;
	uint64_t t0;
	int h, want, cur, n = cpumask_count(smp_active_mask), k, i;

	for (h = 0; h < (int)hop_hops(n) && !hop.stop && !hop.enough; h++) {
		cur = live_mycpu()->gd_cpuid;
		if (h < (int)hop_rr_hops(n)) {
			want = ktest_next_cpu(cur);
		} else {
			/* The k-th other online CPU, k random. */
			r = xorshift(&seed) % (uint32_t)(n - 1);
			want = cur;
			for (k = 0; k <= (int)r; k++)
				want = ktest_next_cpu(want);
		}
		tgd = globaldata_find(want);
		/* Ordinary code: mycpu before and after the move. */
		from = mycpu;
		lwkt_setcpu_self(tgd);
		to = mycpu;
		gd = live_mycpu();
		if (to != gd || to->gd_cpuid != gd->gd_cpuid) {
			if (atomic_fetchadd_int(&hop.stale, 1) == 0) {
				hop.stale_hop = h;
				hop.stale_want = want;
				hop.stale_cpu = gd->gd_cpuid;
				hop.stale_seen = to->gd_cpuid;
			}
		}
		if (from->gd_cpuid != cur)
			hop_bad(h, want, HB_CPU);
		else if (gd->gd_cpuid != want)
			hop_bad(h, want, HB_CPU);
		else if (td->td_gd != gd)
			hop_bad(h, want, HB_GD);
		else if (!on_my_allq(td))
			hop_bad(h, want, HB_ALLQ);
		else if ((td->td_flags & TDF_MIGRATING) ||
		    td->td_migrate_gd != NULL)
			hop_bad(h, want, HB_FLAGS);
		else if (td->td_critcount != 0)
			hop_bad(h, want, HB_CRIT);
		for (i = 0; i < 4; i++)
			if (canary[i] != 0xC0FFEE01u + i)
				hop_bad(h, want, HB_CANARY);
		hop.hops = h + 1;
		/* Make sure cpusyncs keep coming between the hops. */
		if (h % MG_SYNC_EVERY == MG_SYNC_EVERY - 1) {
			t0 = cpu_ticks();
			if (!hop_wait_sync(cs_seen))
				hop_bad(h, want, HB_SYNC);
			cs_seen = hop.cs_total;
			hop.sync_wait_us += ktest_us_since(t0);
		}
	}
	hop.final_cpu = live_mycpu()->gd_cpuid;
	hop.done = 1;
	/* The test waits for the syncers, then counts: two bounded waits. */
	ktest_poll(&hop.may_exit, 1, 1000, 3 * MG_STALL_US);
	hop.exited = 1;
}

static void
hop_cs_func(struct lwkt_cpusync *cs)
{
	atomic_cpumask_setbit(cs->cs_data, mycpuid);
	atomic_add_int(&hop.cs_runs[mycpuid], 1);
}

static void
hop_syncer(void *arg __unused)
{
	volatile cpumask_t seen;
	cpumask_t want;
	uint64_t t1, d;
	int me = live_mycpu()->gd_cpuid, n = cpumask_count(smp_active_mask);

	while (!hop.stop) {
		CPUMASK_ASSZERO(seen);
		want = smp_active_mask;
		t1 = cpu_ticks();
		lwkt_cpusync_simple(want, hop_cs_func, (void *)&seen);
		d = ktest_us_since(t1);
		if (!cpumask_equal(seen, want)) {
			hop.cs_bad++;
			hop.cs_bad_mask = seen;
		}
		hop.cs_calls[me]++;
		hop.cs_us[me] += d;
		if (d > hop.cs_us_max[me])
			hop.cs_us_max[me] = d;
		atomic_add_int(&hop.cs_total, 1);
		/* All syncers together: 1 / MG_DUTY of the time (see above). */
		d *= MG_DUTY * n - 1;
		lwkt_sleep_us(d < MG_GAP_MIN ? MG_GAP_MIN :
		    d > MG_GAP_MAX ? MG_GAP_MAX : (uint32_t)d);
	}
	atomic_add_int(&hop.syncers_done, 1);
}

static void
hop_census(struct ktest_ctx *kt __unused, void *arg __unused)
{
	hop.listed[mycpuid] = on_my_allq(hop.hopper);
}

static const char *const hb_names[] = {
	"?", "mycpuid is not the target", "td_gd is not mycpu",
	"not on the new CPU's gd_tdallq", "still marked migrating",
	"holds a critical section", "stack canary changed",
	"no cpusync completed for a long time",
};

KTEST(migrate, hop_all_cpus)
{
	thread_t td;
	uint64_t t0, us;
	uint32_t calls = 0, runs = 0, listed = 0;
	uint64_t cs_us = 0, cs_us_max = 0;
	int n = cpumask_count(smp_active_mask), cpu;
	bool ok;

	if (n < 2) {
		ktest_skip(kt, "needs two CPUs");
		return;
	}
	memset((void *)&hop, 0, sizeof(hop));
	hop.seed = ktest_random(kt);
	for (cpu = 0; cpu < MAXCPU; cpu++)
		if (CPUMASK_TESTBIT(smp_active_mask, cpu))
			ASSERT_EQ(lwkt_create(hop_syncer, NULL, NULL, NULL, 0,
			    cpu, "syncer_%d", cpu), 0);
	t0 = cpu_ticks();
	ASSERT_EQ(lwkt_create(hop_thread, NULL, &td, NULL, TDF_STOPREQ,
	    mycpuid, "hopper"), 0);
	hop.hopper = td;
	lwkt_schedule(td);
	ok = hop_wait_done(kt);
	us = ktest_us_since(t0);
	hop.stop = 1;
	EXPECT_TRUE(ktest_poll(&hop.syncers_done, n, 1000, MG_STALL_US));
	if (ok) {
		/* Parked on its last CPU: exactly that CPU lists it. */
		EXPECT_EQ(ktest_on_each_cpu(kt, hop_census, NULL), n);
		for (cpu = 0; cpu < MAXCPU; cpu++)
			listed += hop.listed[cpu];
		EXPECT_EQ(listed, 1);
		EXPECT_EQ(hop.listed[hop.final_cpu], 1);
	}
	hop.may_exit = 1;
	EXPECT_TRUE(ktest_poll(&hop.exited, 1, 1000, MG_STALL_US));
	for (cpu = 0; cpu < MAXCPU; cpu++) {
		calls += hop.cs_calls[cpu];
		runs += hop.cs_runs[cpu];
		cs_us += hop.cs_us[cpu];
		if (hop.cs_us_max[cpu] > cs_us_max)
			cs_us_max = hop.cs_us_max[cpu];
	}
	ktest_log(kt, "%u hops in %llu ms (%llu us per hop; %llu ms of it "
	    "waiting for cpusyncs) while %u cpusyncs ran (%u function calls)",
	    hop.hops, us / 1000, hop.hops ? us / hop.hops : 0,
	    hop.sync_wait_us / 1000, calls, runs);
	ktest_log(kt, "cpusyncs: %llu us on average, %llu us at most",
	    calls ? cs_us / calls : 0, cs_us_max);
	ASSERT_TRUE(ok);
	if (hop.enough) {
		ktest_log(kt, "stopped early after %u of %u hops (%u ms)",
		    hop.hops, hop_hops(n), MG_RUN_US / MS);
		EXPECT_GE(hop.hops, (uint32_t)n);	/* every CPU visited */
	} else {
		EXPECT_EQ(hop.hops, hop_hops(n));
	}
	if (hop.bad != 0)
		ktest_fail(kt, __FILE__, __LINE__, "%u bad hops; first: hop %d "
		    "to cpu %d, on cpu %d: %s", hop.bad, hop.bad_hop,
		    hop.bad_want, hop.bad_cpu,
		    hb_names[hop.bad_what < (int)nitems(hb_names) ?
		    hop.bad_what : 0]);
	if (hop.stale != 0)
		ktest_fail(kt, __FILE__, __LINE__, "%u of %u hops: mycpuid "
		    "after lwkt_setcpu_self() said cpu %d, but the thread runs "
		    "on cpu %d (first: hop %d to cpu %d): mycpu is a %%fs:0 "
		    "load the compiler may reuse from before the call "
		    "(machine/thread.h _get_mycpu: non-volatile asm without a "
		    "memory operand)", hop.stale, hop.hops, hop.stale_seen,
		    hop.stale_cpu, hop.stale_hop, hop.stale_want);
	EXPECT_EQ(hop.cs_bad, 0);
	EXPECT_GT(calls, 0);
	EXPECT_EQ(runs, calls * (uint32_t)n);
}

/* ---------------------------------------------------------------------
 * acquire: every CPU a (at once) has a thread created on the next CPU b
 * that blocks in a loop on a flag.  Once it is switched out, a calls
 * lwkt_acquire(): td_gd becomes a and a's gd_tdallq lists it.  a then sets
 * the flag and schedules it locally: it runs on a, with td_gd == mycpu.
 * The threads then park, and each CPU counts them on its own gd_tdallq:
 * each is listed by its new CPU only.
 */

#define AQ_WAIT_US	(5000 * MS)

static struct aq_slot {
	thread_t volatile td;
	volatile uint32_t ready;
	volatile uint32_t go;
	volatile uint32_t ran;
	volatile uint32_t wakeups;
	volatile int	ran_cpu;
	volatile uint32_t gd_ok;
	volatile uint32_t macro_ok;
	volatile uint32_t exited;
	int		from, to;
} aq[MAXCPU];

static volatile uint32_t aq_may_exit;
/* [lister][slot]: a row per CPU that exists, allocated at the first run. */
static volatile uint32_t (*aq_listed)[MAXCPU];

static void
aq_victim(void *arg)
{
	struct aq_slot *sl = arg;

	crit_enter();
	sl->ready = 1;
	while (!sl->go) {
		lwkt_deschedule_self();
		lwkt_switch();
		sl->wakeups++;
	}
	sl->ran_cpu = live_mycpu()->gd_cpuid;
	sl->gd_ok = curthread->td_gd == live_mycpu();
	sl->macro_ok = mycpu == live_mycpu();
	crit_exit();
	sl->ran = 1;
	ktest_poll(&aq_may_exit, 1, 1000, 4 * AQ_WAIT_US);
	sl->exited = 1;
}

static void
aq_puller(struct ktest_ctx *kt, void *arg __unused)
{
	int a = mycpuid, b = ktest_next_cpu(a);
	struct aq_slot *sl = &aq[a];
	thread_t td;
	uint64_t t0;

	sl->from = b;
	sl->to = a;
	ASSERT_EQ(lwkt_create(aq_victim, sl, &td, NULL, 0, b, "aq_%d_%d", b,
	    a), 0);
	sl->td = td;
	ASSERT_TRUE(ktest_poll(&sl->ready, 1, 100, AQ_WAIT_US));
	t0 = cpu_ticks();
	while (td->td_flags & (TDF_RUNNING | TDF_RUNQ)) {
		ASSERT_LT(ktest_us_since(t0), AQ_WAIT_US);
		lwkt_sleep_us(100);
	}
	EXPECT_PTR_EQ(td->td_gd, globaldata_find(b));
	lwkt_acquire(td);
	EXPECT_PTR_EQ(td->td_gd, mycpu);
	EXPECT_TRUE(on_my_allq(td));
	EXPECT_EQ(sl->wakeups, 0);
	sl->go = 1;
	lwkt_schedule(td);
	ASSERT_TRUE(ktest_poll(&sl->ran, 1, 100, AQ_WAIT_US));
	EXPECT_EQ(sl->wakeups, 1);
	EXPECT_EQ(sl->ran_cpu, a);
	EXPECT_TRUE(sl->gd_ok);
	EXPECT_TRUE(sl->macro_ok);
}

static void
aq_census(struct ktest_ctx *kt __unused, void *arg __unused)
{
	int me = mycpuid, s;

	for (s = 0; s < MAXCPU; s++)
		if (aq[s].td != NULL)
			aq_listed[me][s] = on_my_allq(aq[s].td);
}

KTEST(migrate, acquire)
{
	int n = cpumask_count(smp_active_mask), c, s, nl;

	/* A thread already ours: nothing to do. */
	lwkt_acquire(curthread);
	EXPECT_PTR_EQ(curthread->td_gd, mycpu);
	if (n < 2) {
		ktest_skip(kt, "needs two CPUs (local no-op checked)");
		return;
	}
	if (aq_listed == NULL)
		aq_listed = kmalloc(ncpus * sizeof(*aq_listed));
	ASSERT_TRUE(aq_listed != NULL);
	memset((void *)aq, 0, sizeof(aq));
	memset((void *)aq_listed, 0, ncpus * sizeof(*aq_listed));
	aq_may_exit = 0;
	EXPECT_EQ(ktest_on_each_cpu(kt, aq_puller, NULL), n);
	EXPECT_EQ(ktest_on_each_cpu(kt, aq_census, NULL), n);
	for (s = 0; s < MAXCPU; s++) {
		if (aq[s].td == NULL || !aq[s].ran)
			continue;
		for (nl = 0, c = 0; c < ncpus; c++)
			nl += aq_listed[c][s];
		EXPECT_EQ(nl, 1);
		EXPECT_EQ(aq_listed[aq[s].to][s], 1);
	}
	aq_may_exit = 1;
	for (s = 0; s < MAXCPU; s++)
		if (aq[s].td != NULL && aq[s].ran)
			EXPECT_TRUE(ktest_poll(&aq[s].exited, 1, 1000,
			    AQ_WAIT_US));
}

/* ---------------------------------------------------------------------
 * setcpu_self_to_self: lwkt_setcpu_self(mycpu) returns at once: same CPU,
 * same td_gd, still listed, not marked migrating, no switch (checked
 * inside a critical section so no tick can switch us meanwhile) and
 * nothing left for the next thread to hand over (gd_migrate_td).
 */
KTEST(migrate, setcpu_self_to_self)
{
	struct globaldata *gd = mycpu;
	thread_t td = curthread;
	uint64_t sw0, sw1, tsw0, tsw1;
	int i;

	crit_enter();
	for (i = 0; i < 3; i++) {
		sw0 = gd->gd_cnt_switch;
		tsw0 = td->td_switch_count;
		lwkt_setcpu_self(gd);
		sw1 = gd->gd_cnt_switch;
		tsw1 = td->td_switch_count;
		EXPECT_PTR_EQ(mycpu, gd);
		EXPECT_PTR_EQ(td->td_gd, gd);
		EXPECT_EQ(sw1, sw0);
		EXPECT_EQ(tsw1, tsw0);
		EXPECT_EQ(td->td_flags & TDF_MIGRATING, 0);
		EXPECT_PTR_EQ(td->td_migrate_gd, NULL);
		EXPECT_PTR_EQ(gd->gd_migrate_td, NULL);
		EXPECT_EQ(td->td_critcount, 1);
	}
	crit_exit();
	/* Outside a section too (a tick may switch us, but we stay here). */
	lwkt_setcpu_self(gd);
	EXPECT_PTR_EQ(mycpu, gd);
	EXPECT_PTR_EQ(td->td_gd, gd);
	EXPECT_TRUE(on_my_allq(td));
	EXPECT_EQ(td->td_critcount, 0);
}
