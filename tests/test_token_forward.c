/*
 * Suite "token", test forward_full_fifo: a token request that reaches a
 * CPU which no longer owns the token is forwarded to the owner; when the
 * FIFO toward the owner is full, forwarding must not nest IPIQ drains.
 *
 * Found by the soak (docs/testing.md): at -smp 16 with 8-entry FIFOs the
 * kernel panicked with "ipiq: drain nesting 17 exceeds 16".  A forward
 * that waits for room drains this CPU's FIFOs meanwhile; the next request
 * there forwards and waits again, one drain level deeper per request.
 *
 * The test builds that situation on purpose, with CPU x (the test's CPU),
 * b (the next CPU) and up to two others r:
 *   1. x takes ff.ntok tokens and enters a critical section, so its
 *      thread is never switched out (a holder switched out lets its
 *      tokens go; untimely_switch=1 would do that at any crit_exit); b
 *      fills its FIFO to x past the half (as its once-per-tick re-sends
 *      of open requests do at hz=1000), then one thread per token on b
 *      asks for it, so every release by x grants the token to b.  The
 *      first of them waits for room toward x, so x serves its FIFOs
 *      while it waits for the asks (a request to the holder is refused,
 *      its bit stays in t_reqmask);
 *   2. a blocker thread on b enters a critical section (b stops draining
 *      its FIFOs; x still serves its own until b is blocked) and x fills
 *      its FIFO to b up to where the last grant will have to wait for
 *      room;
 *   3. x stops draining; threads on each r ask x for every token; the
 *      requests wait in the FIFOs r -> x (with the re-sends each clock
 *      tick of r makes);
 *   4. x releases the tokens: each grant sends b a message, the last one
 *      waits for room and drains the requests from r, which now must go
 *      to b, whose FIFO is full;
 *   5. the blocker leaves its section once x has drained every request
 *      (or after a bounded time), and everything completes.
 * x's deepest drain nesting (gd_ipiq_nest_max) must stay at most 2 (the
 * wait for room, plus one grant made in it), every thread gets its token
 * and exits, and the threads of one token never overlap.
 *
 * The soak (SEED=20261207, boot 11: -smp 6, hz=1000, untimely_switch=1,
 * chaos) found the first version of this test deadlocked in step 1: b's
 * re-sends had filled its FIFO to x, b's next ask waited for room, and x
 * waited for that ask without draining.  Step 1's pre-fill makes that
 * situation every run.
 */
#include <sys/param.h>
#include <sys/systm.h>
#include <sys/globaldata.h>
#include <sys/ipiq.h>
#include <sys/ipiq2.h>
#include <sys/ktest.h>
#include <sys/thread2.h>
#include <sys/token.h>
#include <machine/atomic.h>
#include <machine/cpu.h>
#include <machine/cpufunc.h>

#define SEC		1000000u	/* microseconds */
/*
 * Bounds that only turn a hang into a failure: a loaded host may not run
 * a virtual CPU for seconds (the soak saw 2 s run out at -smp 14 multi).
 */
#define FF_WAIT_S	20
#define FF_HOLD_S	5		/* < the 10 s FIFO-wait panic */

/*
 * Tokens (ff.ntok, a quarter of the boot-time FIFO depth): each CPU's
 * requests for all of them fit in its FIFO to x below the half at which a
 * sender waits (ipiq2.h), as x does not drain.  Fillers x sends b first
 * (ff.nfill): the last of the grants finds the FIFO over half.
 */
#define FF_NTOK_MAX	(MAXCPUFIFO / 4)
#define FF_NR		2		/* CPUs r used at most */

static struct lwkt_token ff_tok[FF_NTOK_MAX];
static bool ff_ready;

static struct {
	volatile uint32_t got;		/* threads that got their token */
	volatile uint32_t exited;
	volatile uint32_t overlap;	/* a token's holders overlapped */
	volatile uint32_t inside[FF_NTOK_MAX];
	volatile uint32_t blocking;	/* the blocker is in its section */
	volatile uint32_t blocker_done;
	volatile uint32_t release;	/* the blocker may leave */
	volatile uint32_t fills;	/* fillers run on b */
	volatile uint32_t prefills;	/* b's fillers toward x, queued */
	volatile uint32_t prefilled;	/* ... b is done queueing them */
	volatile uint32_t prefills_run;	/* ... run on x */
	struct globaldata *x;
	int		ntok;
	int		nfill;
	int		r[FF_NR];
	int		nr;
} ff;

static void
ff_waiter(void *arg)
{
	int i = (int)(uintptr_t)arg;
	struct lwkt_tokref ref;

	lwkt_gettoken(&ref, &ff_tok[i]);
	if (atomic_fetchadd_int(&ff.inside[i], 1) != 0)
		atomic_add_int(&ff.overlap, 1);
	ktest_busy_work(50);
	atomic_subtract_int(&ff.inside[i], 1);
	atomic_add_int(&ff.got, 1);
	lwkt_reltoken(&ref);
	atomic_add_int(&ff.exited, 1);
}

/* True once x has run every request queued toward it by the CPUs r. */
static bool
ff_requests_drained(void)
{
	struct lwkt_ipiq *ip;
	int k;

	for (k = 0; k < ff.nr; k++) {
		ip = &globaldata_find(ff.r[k])->gd_ipiq[ff.x->gd_cpuid];
		if (ip->ip_rindex != ip->ip_windex)
			return false;
	}
	return true;
}

/*
 * Keeps b from draining its FIFOs until x has run the requests of the
 * CPUs r while waiting for room toward b: from x's first release, for at
 * most FF_HOLD_S (below the FIFO wait's panic; no result depends on it).
 */
static void
ff_blocker(void *arg __unused)
{
	uint64_t end;

	crit_enter();
	ff.blocking = 1;
	end = cpu_ticks() + FF_WAIT_S * cpu_tsc_hz;
	while (!ff.release && cpu_ticks() < end)
		ktest_relax();
	end = cpu_ticks() + FF_HOLD_S * cpu_tsc_hz;
	while (!ff_requests_drained() && cpu_ticks() < end)
		ktest_relax();
	crit_exit();
	ff.blocker_done = 1;
}

/*
 * Spin (x holds tokens: no sleeping) until *w >= v, at most FF_WAIT_S;
 * `serve`: serving x's FIFOs meanwhile (steps 1 and 2: b may wait for
 * room toward x).
 */
static bool
ff_spin_until(volatile uint32_t *w, uint32_t v, bool serve)
{
	uint64_t end = cpu_ticks() + FF_WAIT_S * cpu_tsc_hz;

	while (*w < v && cpu_ticks() < end) {
		if (serve) {
			lwkt_process_ipiq();
			ktest_relax_ipiq();
		} else {
			ktest_relax();
		}
	}
	return *w >= v;
}

/* Step 1: until cpu has asked for every token, serving x's FIFOs. */
static bool
ff_bits_set(int cpu, int ntok)
{
	uint64_t end = cpu_ticks() + FF_WAIT_S * cpu_tsc_hz;
	int i;

	for (i = 0; i < ntok; i++)
		while (!CPUMASK_TESTBIT(ff_tok[i].t_reqmask, cpu)) {
			if (cpu_ticks() >= end)
				return false;
			lwkt_process_ipiq();
			ktest_relax_ipiq();
		}
	return true;
}

static void
ff_prefill_run(void *arg __unused, int arg2 __unused,
    struct intrframe *f __unused)
{
	atomic_add_int(&ff.prefills_run, 1);
}

/*
 * On b (a message from x): queue no-ops toward x until the FIFO is past
 * the half at which a sender waits for room (sys/ipiq2.h), without ever
 * waiting (x does not drain yet).
 */
static void
ff_prefill(void *arg __unused, int arg2 __unused, struct intrframe *f __unused)
{
	struct lwkt_ipiq *ip = &mycpu->gd_ipiq[ff.x->gd_cpuid];

	while (lwkt_ipiq_fill(ip) <= ipiq_fifo_half &&
	    lwkt_send_ipiq3_nowait(ff.x, ff_prefill_run, NULL, 0) == 0)
		ff.prefills++;
	ff.prefilled = 1;
}

/*
 * True once every CPU r has asked for its tokens, or waits for room toward
 * x (a slow host lets ticks pass, and each re-sends the requests still
 * open: then the FIFO r -> x is more than half full of requests, which
 * serves the test as well); at most FF_WAIT_S.
 */
static bool
ff_requests_queued(void)
{
	uint64_t end = cpu_ticks() + FF_WAIT_S * cpu_tsc_hz;
	struct lwkt_ipiq *ip;
	int i, k, ready;

	do {
		ready = 0;
		for (k = 0; k < ff.nr; k++) {
			ip = &globaldata_find(ff.r[k])->gd_ipiq[ff.x->gd_cpuid];
			for (i = 0; i < ff.ntok; i++)
				if (!CPUMASK_TESTBIT(ff_tok[i].t_reqmask, ff.r[k]))
					break;
			if (i == ff.ntok ||
			    lwkt_ipiq_fill(ip) > ipiq_fifo_half)
				ready++;
		}
		if (ready == ff.nr)
			return true;
		ktest_relax();
	} while (cpu_ticks() < end);
	return false;
}

static void
ff_spawn(struct ktest_ctx *kt, int cpu, int i)
{
	thread_t td;

	if (lwkt_create(ff_waiter, (void *)(uintptr_t)i, &td, NULL, 0, cpu,
	    "tok_fwd%d", i) != 0)
		ktest_fail(kt, __FILE__, __LINE__, "lwkt_create failed");
}

static void
ff_fill(void *arg __unused, int arg2 __unused, struct intrframe *f __unused)
{
	atomic_add_int(&ff.fills, 1);
}

KTEST(token, forward_full_fifo)
{
	struct globaldata *gd = mycpu, *bgd;
	struct lwkt_tokref ref[FF_NTOK_MAX];
	thread_t btd;
	uint64_t dropped0;
	uint32_t nthreads, nest;
	int me = mycpuid, b = ktest_next_cpu(me), c, i, k;

	if (cpumask_count(smp_active_mask) < 3) {
		ktest_skip(kt, "needs 3 CPUs");
		return;
	}
	if (!ff_ready) {
		for (i = 0; i < FF_NTOK_MAX; i++)
			lwkt_token_init(&ff_tok[i], "test_forward");
		ff_ready = true;
	}
	memset((void *)&ff, 0, sizeof(ff));
	ff.x = gd;
	ff.ntok = (int)ipiq_fifo_depth / 4;
	ff.nfill = (int)ipiq_fifo_half - ff.ntok + 2;
	KKASSERT(ff.ntok <= FF_NTOK_MAX);
	bgd = globaldata_find(b);
	for (c = ktest_next_cpu(b); c != me && ff.nr < FF_NR;
	    c = ktest_next_cpu(c))
		ff.r[ff.nr++] = c;
	nthreads = ff.ntok * (1 + ff.nr);

	/* 1: x holds every token, for good; b asks for each. */
	for (i = 0; i < ff.ntok; i++)
		lwkt_gettoken(&ref[i], &ff_tok[i]);
	crit_enter();
	gd->gd_ipiq_nest_max = gd->gd_ipiq_nest;
	dropped0 = gd->gd_cnt_tok_fwd_dropped;
	for (i = 0; i < ff.ntok; i++)
		EXPECT_PTR_EQ(ff_tok[i].t_cpu, gd);
	lwkt_send_ipiq(bgd, ff_prefill, NULL);
	EXPECT_TRUE(ff_spin_until(&ff.prefilled, 1, false));
	EXPECT_GT(lwkt_ipiq_fill(&bgd->gd_ipiq[me]), ipiq_fifo_half);
	for (i = 0; i < ff.ntok; i++)
		ff_spawn(kt, b, i);
	EXPECT_TRUE(ff_bits_set(b, ff.ntok));

	/* 2: b stops draining; x fills its FIFO to b. */
	EXPECT_EQ(lwkt_create(ff_blocker, NULL, &btd, NULL, 0, b,
	    "tok_fwd_block"), 0);
	EXPECT_TRUE(ff_spin_until(&ff.blocking, 1, true));
	for (i = 0; i < ff.nfill; i++)
		lwkt_send_ipiq3(bgd, ff_fill, NULL, 0);

	/* 3: x stops draining; the CPUs r queue their requests toward x. */
	for (k = 0; k < ff.nr; k++)
		for (i = 0; i < ff.ntok; i++)
			ff_spawn(kt, ff.r[k], i);
	EXPECT_TRUE(ff_requests_queued());

	/* 4: release, in reverse order of taking. */
	ff.release = 1;
	for (i = ff.ntok - 1; i >= 0; i--)
		lwkt_reltoken(&ref[i]);
	nest = gd->gd_ipiq_nest_max;
	crit_exit();

	/* 5: everyone gets its token and leaves. */
	EXPECT_TRUE(ktest_poll(&ff.blocker_done, 1, 1000, FF_WAIT_S * SEC));
	EXPECT_TRUE(ktest_poll(&ff.exited, nthreads, 1000, FF_WAIT_S * SEC));
	EXPECT_TRUE(ktest_poll(&ff.fills, ff.nfill, 1000, FF_WAIT_S * SEC));
	EXPECT_EQ(ff.prefills_run, ff.prefills);
	EXPECT_EQ(ff.got, nthreads);
	EXPECT_EQ(ff.overlap, 0);
	EXPECT_LE(nest, 2);
	ktest_log(kt, "cpu %d: deepest drain nesting %u; %llu forwards found "
	    "no room; %u threads on cpu %d and %d others", me, nest,
	    gd->gd_cnt_tok_fwd_dropped - dropped0, nthreads, b, ff.nr);
}
