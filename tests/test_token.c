/*
 * Suite "token": LWKT tokens (LWKT-SPEC §9.1, sys/token.h).
 *   - mutual_exclusion: one thread per CPU takes the same token 20,000
 *     times in all and runs a region that detects overlap with plain
 *     (non-atomic) stores and a non-atomic counter; no two are ever inside
 *     together, the counter is exact, and the token really moved.
 *   - stale_after_block: a holder that blocks while another thread takes
 *     the token learns it (lwkt_token_is_stale), and is not resumed before
 *     its CPU owns the token again and the other holder has left; a holder
 *     that blocks with nobody interfering keeps a fresh token.
 *   - running_holder_keeps: a holder that runs across clock ticks without
 *     blocking keeps the token; another CPU's request waits for the
 *     release.
 *   - preempt_no_token: an interrupt-like thread that preempts the holder
 *     of a token does not get it until the holder leaves its region.
 *   - trytoken: lwkt_trytoken() never waits; it fails while a running
 *     thread of another CPU, or a thread the caller preempted, holds the
 *     token, and succeeds on a free token this CPU owns.
 *
 *   - preempt_resume_inside, handoff_prompt, switch_no_drain: issue 9
 *     defects 1, 4 and 2 (see each test).
 *   - forward_full_fifo (tests/test_token_forward.c): forwarded requests
 *     never nest IPIQ drains.
 *
 * Tokens serialize threads only while they run: a holder that is switched
 * out (not preempted) lets the token go.  The regions here never block,
 * and each CPU runs one contender, so no such switch can let two of them
 * in together.  Every attempt asserts what does not depend on such a
 * switch; a check that does is skipped only in an attempt in which the
 * switch was measured (a preemption miss: a clock tick found the holder in
 * a critical section; or more returns to the holder than preemptions of
 * it), through ktest_retry, which prints why and bounds the discards.
 */
#include <sys/param.h>
#include <sys/systm.h>
#include <sys/globaldata.h>
#include <sys/ipiq.h>
#include <sys/kopts.h>
#include <sys/ktest.h>
#include <sys/systimer.h>
#include <sys/thread2.h>
#include <sys/token.h>
#include <sys/tsleep.h>
#include <machine/atomic.h>
#include <machine/cpu.h>
#include <machine/cpufunc.h>

#define MS		1000u		/* microseconds */

/* ---------------------------------------------------------------------
 * Helpers
 */

static struct lwkt_token me_tok, sb_tok, rh_tok, pn_tok, tt_tok, pr_tok;
static struct lwkt_token hp_tok, sd_tok;
static bool toks_ready;

/* Tokens register themselves globally: initialize them once per boot. */
static void
toks_init(void)
{
	if (toks_ready)
		return;
	lwkt_token_init(&me_tok, "test_mutex");
	lwkt_token_init(&sb_tok, "test_stale");
	lwkt_token_init(&rh_tok, "test_running");
	lwkt_token_init(&pn_tok, "test_preempt");
	lwkt_token_init(&tt_tok, "test_try");
	lwkt_token_init(&pr_tok, "test_preempt_resume");
	lwkt_token_init(&hp_tok, "test_handoff");
	lwkt_token_init(&sd_tok, "test_nodrain");
	toks_ready = true;
}

/* What tells whether the current thread was switched out meanwhile. */
struct sw_mark {
	uint64_t	misses;		/* this CPU's preemption misses */
	uint64_t	hits;		/* this CPU's preemptions */
	uint32_t	returns;	/* switches to the thread */
};

static void
sw_mark(struct sw_mark *m)
{
	struct globaldata *gd = mycpu;

	m->misses = gd->gd_cnt_preempt_miss;
	m->hits = gd->gd_cnt_preempt_hit;
	m->returns = curthread->td_switch_count;
}

/*
 * True if, since `m`, a preemption was missed (a clock tick in a critical
 * section becomes an ordinary switch) or the thread was switched to more
 * often than it was preempted (so it was switched out in between).
 */
static bool
sw_switched_out(const struct sw_mark *m)
{
	struct globaldata *gd = mycpu;

	return gd->gd_cnt_preempt_miss != m->misses ||
	    curthread->td_switch_count - m->returns >
	    gd->gd_cnt_preempt_hit - m->hits;
}

static void
tok_gd_counts(uint64_t *req, uint64_t *mig, uint64_t *con)
{
	struct globaldata *gd;
	int cpu;

	*req = *mig = *con = 0;
	for (cpu = 0; cpu < ncpus; cpu++) {
		if (!CPUMASK_TESTBIT(smp_active_mask, cpu))
			continue;
		gd = globaldata_find(cpu);
		*req += gd->gd_cnt_tok_req;
		*mig += gd->gd_cnt_tok_migrate;
		*con += gd->gd_cnt_tok_contention;
	}
}

/*
 * An interrupt-like thread on the test's CPU: TDPRI_INT_MED,
 * td_preemptable = lwkt_preempt.  It parks inside a critical section
 * (like an interrupt thread); each time it is scheduled it records the
 * thread it preempted, runs it.fn and parks again.
 */
static struct {
	thread_t	td;
	void		(*fn)(void);
	volatile uint32_t parked;
	volatile uint32_t runs;
	volatile uint32_t stop;
	volatile uint32_t exited;
	thread_t volatile preempted;	/* td_preempted as a run began */
} it;

static void
ithread_main(void *arg __unused)
{
	thread_t td = curthread;

	crit_enter();
	it.parked = 1;
	for (;;) {
		lwkt_deschedule_self();
		lwkt_switch();
		if (it.stop)
			break;
		it.preempted = td->td_preempted;
		it.fn();
		it.runs++;
	}
	it.exited = 1;
	crit_exit();
}

/* Create it and let it reach its loop (not as a preemption). */
static bool
ithread_start(struct ktest_ctx *kt, void (*fn)(void))
{
	memset((void *)&it, 0, sizeof(it));
	it.fn = fn;
	if (lwkt_create(ithread_main, NULL, &it.td, NULL, TDF_STOPREQ,
	    mycpuid, "tok_ithread") != 0)
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

/* ---------------------------------------------------------------------
 * mutual_exclusion
 */

#define ME_TOTAL	20000		/* nearly every entry migrates it */
#define ME_WORK		8
#define ME_BUDGET_US	(6000 * MS)	/* then a worker gives up */

static struct {
	volatile uint32_t inside;	/* cpuid + 1 of the thread inside */
	volatile uint32_t count;	/* entries (non-atomic increments) */
	volatile uint32_t overlaps;
	volatile uint32_t not_owner;	/* inside, t_cpu not our CPU */
	volatile uint32_t in_crit;	/* gettoken left us in a section */
	uint32_t	quota[MAXCPU];
	volatile uint32_t entries[MAXCPU];
	uint32_t	nworkers;
	volatile uint32_t ready;	/* workers at the start line */
	volatile uint32_t go;
} me;

/* Start together: the last worker to arrive wakes the others. */
static void
me_start_line(void)
{
	int i;

	if (atomic_fetchadd_int(&me.ready, 1) + 1 == me.nworkers) {
		me.go = 1;
		wakeup(&me.go);
		return;
	}
	for (i = 0; i < 3 && me.go == 0; i++) {
		tsleep_interlock(&me.go);
		if (me.go == 0)
			tsleep(&me.go, PINTERLOCKED, "mestart", hz);
	}
	tsleep_remove(curthread);
}

static void
me_worker(struct ktest_ctx *kt __unused, void *arg __unused)
{
	struct globaldata *gd = mycpu;
	thread_t td = curthread;
	struct lwkt_tokref ref;
	uint32_t id = gd->gd_cpuid + 1, n = me.quota[gd->gd_cpuid];
	uint32_t i, c, overlaps = 0, not_owner = 0, in_crit = 0;
	uint64_t t0;

	me_start_line();
	t0 = cpu_ticks();
	for (i = 0; i < n; i++) {
		if (ktest_us_since(t0) > ME_BUDGET_US)
			break;			/* failed: too slow */
		lwkt_gettoken(&ref, &me_tok);
		if (td->td_critcount != 0)
			in_crit++;
		if (me_tok.t_cpu != gd)
			not_owner++;
		if (me.inside != 0)
			overlaps++;
		me.inside = id;
		c = me.count;
		ktest_busy_work(ME_WORK);
		me.count = c + 1;
		ktest_busy_work(ME_WORK);
		if (me.inside != id)
			overlaps++;
		me.inside = 0;
		lwkt_reltoken(&ref);
	}
	me.entries[gd->gd_cpuid] = i;
	atomic_add_int(&me.overlaps, overlaps);
	atomic_add_int(&me.not_owner, not_owner);
	atomic_add_int(&me.in_crit, in_crit);
}

KTEST(token, mutual_exclusion)
{
	uint64_t req0, mig0, con0, req1, mig1, con1, t0;
	uint32_t treq0, tmig0, tcon0, quota, sum = 0;
	int cpu, n = cpumask_count(smp_active_mask);

	toks_init();
	memset((void *)&me, 0, sizeof(me));
	me.nworkers = n;
	quota = ME_TOTAL / n;
	for (cpu = 0; cpu < ncpus; cpu++)
		if (CPUMASK_TESTBIT(smp_active_mask, cpu))
			me.quota[cpu] = quota;
	me.quota[cpumask_first(smp_active_mask)] += ME_TOTAL - quota * n;

	treq0 = me_tok.t_requests;
	tmig0 = me_tok.t_migrations;
	tcon0 = me_tok.t_contention;
	tok_gd_counts(&req0, &mig0, &con0);
	t0 = cpu_ticks();
	ASSERT_EQ(ktest_on_each_cpu(kt, me_worker, NULL), n);
	tok_gd_counts(&req1, &mig1, &con1);
	ktest_log(kt, "%d CPU(s), %u entries in %llu ms: %u migrations, %u "
	    "refusals (held by a running thread)", n, ME_TOTAL,
	    ktest_us_since(t0) / 1000, me_tok.t_migrations - tmig0,
	    me_tok.t_contention - tcon0);

	for (cpu = 0; cpu < ncpus; cpu++)
		sum += me.entries[cpu];
	if (sum != ME_TOTAL)
		ktest_log(kt, "only %u of %u entries within %u s", sum,
		    ME_TOTAL, ME_BUDGET_US / 1000000);
	EXPECT_EQ(sum, ME_TOTAL);
	EXPECT_EQ(me.overlaps, 0);
	EXPECT_EQ(me.count, sum);
	EXPECT_EQ(me.not_owner, 0);
	EXPECT_EQ(me.in_crit, 0);
	EXPECT_EQ(me.inside, 0);
	EXPECT_EQ(me_tok.t_requests - treq0, sum);
	EXPECT_EQ(req1 - req0, sum);
	/* Only this test used tokens meanwhile: per-CPU sums match. */
	EXPECT_EQ(mig1 - mig0, me_tok.t_migrations - tmig0);
	EXPECT_EQ(con1 - con0, me_tok.t_contention - tcon0);
	if (n >= 2)
		EXPECT_GT(me_tok.t_migrations - tmig0, 0);
	else
		EXPECT_EQ(me_tok.t_migrations - tmig0, 0);
}

/* ---------------------------------------------------------------------
 * stale_after_block
 */

#define SB_HOLD_US	(5 * MS)

static struct {
	thread_t	td;
	volatile uint32_t inside;	/* the interferer is in its region */
	volatile uint32_t was_stale;	/* seen right after getting it */
	volatile uint32_t misses;	/* preemption misses meanwhile */
	volatile uint32_t exited;
} sb;

/* Takes the token from the blocked holder, wakes it, runs holding it. */
static void
sb_interferer(void *arg __unused)
{
	struct globaldata *gd = mycpu;
	struct lwkt_tokref ref;
	uint64_t miss0;

	lwkt_gettoken(&ref, &sb_tok);
	miss0 = gd->gd_cnt_preempt_miss;
	sb.was_stale = lwkt_token_is_stale(&ref);
	sb.inside = 1;
	wakeup(&sb.inside);
	ktest_hold_us(SB_HOLD_US);	/* runs, never blocks, holding it */
	sb.misses = gd->gd_cnt_preempt_miss - miss0;
	sb.inside = 0;
	lwkt_reltoken(&ref);
	sb.exited = 1;
}

/*
 * One round: 1 if it was conclusive, 0 if it was discarded (ktest_retry)
 * and may be repeated, -1 to stop.
 */
static int
sb_round(struct ktest_ctx *kt, bool interfere)
{
	struct globaldata *gd = mycpu, *owner;
	thread_t td = curthread;
	struct lwkt_tokref ref;
	struct sw_mark mark;
	uint32_t seen_inside = 0, con0, early_inside = 0;
	int cpu = ktest_other_cpu(), err = 0;
	bool stale0, stale1, switched = false;

	memset((void *)&sb, 0, sizeof(sb));
	if (interfere) {
		if (lwkt_create(sb_interferer, NULL, &sb.td, NULL, TDF_STOPREQ,
		    cpu, "tok_interferer") != 0) {
			EXPECT_TRUE(false);
			return -1;
		}
		/* Above us: on our own CPU it runs as soon as we block. */
		lwkt_setpri(sb.td, td->td_pri + 1);
	}
	con0 = sb_tok.t_contention;
	lwkt_gettoken(&ref, &sb_tok);
	sw_mark(&mark);
	stale0 = lwkt_token_is_stale(&ref);
	EXPECT_PTR_EQ(sb_tok.t_cpu, gd);
	if (!interfere) {
		lwkt_sleep_us(2 * MS);
		owner = sb_tok.t_cpu;	/* first thing after the sleep */
	} else {
		if (cpu != gd->gd_cpuid) {
			/* While we run holding it, it must wait. */
			lwkt_schedule(sb.td);
			ktest_hold_us(SB_HOLD_US);
			early_inside = sb.inside;
			crit_enter();
		} else {
			crit_enter();
			lwkt_schedule(sb.td);	/* runs once we block */
		}
		switched = sw_switched_out(&mark);
		tsleep_interlock(&sb.inside);
		if (sb.inside == 0)
			err = tsleep(&sb.inside, PINTERLOCKED, "tokstale",
			    2 * hz);
		owner = sb_tok.t_cpu;	/* first thing after the sleep */
		seen_inside = sb.inside;
		crit_exit();
		tsleep_remove(curthread);
	}
	stale1 = lwkt_token_is_stale(&ref);
	lwkt_reltoken(&ref);

	/* Whatever happened: fresh when got, and resumed only as owner. */
	EXPECT_FALSE(stale0);
	EXPECT_PTR_EQ(owner, gd);
	if (!interfere) {
		EXPECT_FALSE(stale1);
		return 1;
	}
	EXPECT_TRUE(ktest_poll(&sb.exited, 1, 200, 3000 * MS));
	EXPECT_TRUE(stale1);		/* the interferer took it */
	EXPECT_EQ(sb.was_stale, 0);	/* fresh for the interferer itself */
	if ((early_inside != 0 || err != 0) && switched)
		return ktest_retry(kt, "the holder was switched out while "
		    "holding (early_inside %u, err %d)", early_inside, err) ?
		    0 : -1;
	if (seen_inside != 0 && sb.misses != 0)
		return ktest_retry(kt, "a clock tick found the interferer in "
		    "a critical section (%u misses) and switched it out",
		    sb.misses) ? 0 : -1;
	EXPECT_EQ(err, 0);
	EXPECT_EQ(early_inside, 0);
	EXPECT_EQ(seen_inside, 0);	/* not resumed while it held it */
	if (cpu != gd->gd_cpuid)
		ktest_log(kt, "cpu %d -> cpu %d: %u refusal(s) while a running "
		    "thread held it", gd->gd_cpuid, cpu,
		    sb_tok.t_contention - con0);
	return 1;
}

KTEST(token, stale_after_block)
{
	int i = 0, r;

	toks_init();
	if (ktest_other_cpu() == mycpuid)
		ktest_log(kt, "one CPU: the interferer runs on this CPU");
	while (i < 3 && ktest_failures(kt) == 0) {
		r = sb_round(kt, true);
		if (r < 0)
			break;
		if (r == 0)
			continue;
		sb_round(kt, false);
		i++;
	}
}

/* ---------------------------------------------------------------------
 * running_holder_keeps: a holder that keeps running (spinning across
 * several clock ticks, never blocking, alone on its CPU) keeps the token;
 * a thread of another CPU that asks meanwhile is refused and gets it only
 * after the release.  The clock interrupt's softclock preemption must not
 * count as switching the holder out.  (A tick that finds the holder in a
 * critical section cannot preempt it and softclock then runs as an
 * ordinary switch, which does release the token: an attempt in which
 * that was measured is discarded through ktest_retry.)
 */

static struct {
	volatile uint32_t released;	/* the holder let it go */
	volatile uint32_t got;
	volatile uint32_t released_at_got;
	volatile uint32_t exited;
} rh;

static void
rh_waiter(void *arg __unused)
{
	struct lwkt_tokref ref;

	lwkt_gettoken(&ref, &rh_tok);
	rh.released_at_got = rh.released;
	rh.got = 1;
	lwkt_reltoken(&ref);
	rh.exited = 1;
}

KTEST(token, running_holder_keeps)
{
	struct globaldata *gd = mycpu;
	struct lwkt_tokref ref;
	thread_t wtd;
	struct sw_mark mark;
	uint64_t ticks0, ticks1, end, t0, t1;
	uint32_t con0, hold_us = 3 * (1000000 / hz), got_early, asked;
	int cpu = ktest_other_cpu();
	bool switched;

	toks_init();
	if (cpu == gd->gd_cpuid) {
		ktest_skip(kt, "needs 2 CPUs");
		return;
	}
	if (hold_us < 30 * MS)
		hold_us = 30 * MS;
	for (;;) {
		memset((void *)&rh, 0, sizeof(rh));
		ASSERT_EQ(lwkt_create(rh_waiter, NULL, &wtd, NULL, TDF_STOPREQ,
		    cpu, "tok_waiter"), 0);
		lwkt_gettoken(&ref, &rh_tok);
		con0 = rh_tok.t_contention;
		ticks0 = gd->gd_ticks;
		sw_mark(&mark);
		lwkt_schedule(wtd);
		/* Run, holding it, until it has asked, then 3 ticks more. */
		t0 = cpu_ticks();
		end = t0 + cpu_tsc_hz;
		while (!CPUMASK_TESTBIT(rh_tok.t_reqmask, cpu) &&
		    rh.got == 0 && cpu_ticks() < end)
			ktest_relax();
		asked = CPUMASK_TESTBIT(rh_tok.t_reqmask, cpu);
		/* Three clock ticks (counted: TSC time may jump under TCG). */
		t1 = gd->gd_ticks;
		end = cpu_ticks() + cpu_tsc_hz;
		while ((gd->gd_ticks - t1 < 3 || ktest_us_since(t0) < hold_us) &&
		    cpu_ticks() < end)
			ktest_relax();
		got_early = rh.got;
		rh.released = 1;
		ticks1 = gd->gd_ticks;
		switched = sw_switched_out(&mark);
		lwkt_reltoken(&ref);
		EXPECT_TRUE(ktest_poll(&rh.exited, 1, 200, 2000 * MS));
		EXPECT_EQ(rh.got, 1);
		EXPECT_EQ(rh.released_at_got, got_early ? 0 : 1);
		/* Switching out gives tokens up: that attempt shows nothing. */
		if (got_early != 0 && switched &&
		    ktest_retry(kt, "the holder was switched out while holding"))
			continue;
		ktest_log(kt, "held %llu ticks; %u refusal(s)",
		    ticks1 - ticks0, rh_tok.t_contention - con0);
		EXPECT_TRUE(asked);
		EXPECT_GE(ticks1 - ticks0, 3);
		EXPECT_EQ(got_early, 0);
		EXPECT_GT(rh_tok.t_contention - con0, 0);
		break;
	}
}

/* ---------------------------------------------------------------------
 * preempt_no_token
 */

static struct {
	volatile uint32_t inside;	/* the preempted holder is inside */
	volatile uint32_t started;	/* the ithread began */
	volatile uint32_t got;		/* ... and got the token */
	volatile uint32_t seen_inside;	/* the holder's marker then */
	volatile uint32_t owner_ok;	/* t_cpu == mycpu then */
	thread_t volatile preempted_at_got; /* its td_preempted then */
	int		wait_pri;	/* its priority while it waits */
} pn;

/*
 * The ithread's run.  While it waits for the token it drops just below
 * the holder: a clock tick handled in the same interrupt as our kick
 * leaves a reschedule request behind, which would otherwise switch the
 * holder out for the ithread (an ordinary switch, which legitimately
 * releases the holder's token) before the holder could leave its region.
 * The token rule under test does not depend on priorities.
 */
static void
pn_ithread_fn(void)
{
	struct lwkt_tokref ref;

	pn.started = 1;
	lwkt_setpri_self(pn.wait_pri);
	lwkt_gettoken(&ref, &pn_tok);
	pn.seen_inside = pn.inside;
	pn.owner_ok = pn_tok.t_cpu == mycpu;
	pn.preempted_at_got = curthread->td_preempted;
	pn.got = 1;
	lwkt_reltoken(&ref);
	lwkt_setpri_self(TDPRI_INT_MED);
}

KTEST(token, preempt_no_token)
{
	struct globaldata *gd = mycpu;
	thread_t td = curthread;
	struct systimer st = { .st_queued = false };
	struct lwkt_tokref ref;
	struct sw_mark mark;
	uint64_t hit0, ticks0, end;
	uint32_t runs0, got_inside, started;
	bool switched;

	toks_init();
	ASSERT_TRUE(ithread_start(kt, pn_ithread_fn));
	for (;;) {
		memset((void *)&pn, 0, sizeof(pn));
		pn.wait_pri = td->td_pri - 1;
		runs0 = it.runs;
		hit0 = gd->gd_cnt_preempt_hit;
		lwkt_gettoken(&ref, &pn_tok);
		EXPECT_EQ(td->td_critcount, 0);
		pn.inside = 1;
		/*
		 * Kick 1 ms after a clock tick: a late timer interrupt then
		 * does not run the kick and the next tick in one pass (the
		 * tick's reschedule would switch us out for the ithread).
		 */
		ticks0 = gd->gd_ticks;
		end = cpu_ticks() + cpu_tsc_hz / 20;	/* 50 ms */
		while (gd->gd_ticks == ticks0 && cpu_ticks() < end)
			cpu_pause();
		sw_mark(&mark);
		systimer_init_oneshot(&st, it_kick, NULL, 1 * MS);
		/* Spin in the region, preemptable, until it has tried. */
		end = cpu_ticks() + cpu_tsc_hz / 5;	/* 200 ms */
		while (pn.started == 0 && cpu_ticks() < end)
			ktest_relax();
		got_inside = pn.got;
		started = pn.started;
		pn.inside = 0;
		switched = sw_switched_out(&mark);
		lwkt_reltoken(&ref);
		systimer_del(&st);
		/* We block: now it gets the token. */
		if (!ktest_poll(&it.runs, runs0 + 1, 200, 1000 * MS)) {
			EXPECT_EQ(it.runs, runs0 + 1);
			break;
		}
		EXPECT_EQ(started, 1);
		EXPECT_EQ(pn.got, 1);
		/* Never while it preempted the holder. */
		EXPECT_PTR_EQ(pn.preempted_at_got, NULL);
		EXPECT_TRUE(pn.owner_ok);
		if (it.preempted != td) {
			if (ktest_retry(kt, "the kick did not preempt us "
			    "(landed during a clock tick's work)"))
				continue;
			break;
		}
		if ((got_inside != 0 || pn.seen_inside != 0) && switched) {
			if (ktest_retry(kt, "we were switched out inside the "
			    "region"))
				continue;
			break;
		}
		EXPECT_GT(gd->gd_cnt_preempt_hit, hit0);
		EXPECT_EQ(got_inside, 0);
		EXPECT_EQ(pn.seen_inside, 0);
		break;
	}
	ithread_stop(kt);
}

/* ---------------------------------------------------------------------
 * trytoken
 */

static struct {
	volatile uint32_t inside;
	volatile uint32_t release;
	volatile uint32_t exited;
	volatile int	result;		/* the ithread's trytoken */
	thread_t volatile preempted_after;
	struct lwkt_tokref *volatile toks_after;
	volatile uint64_t switches;	/* lwkt_switch calls during it */
} tt;

/* Another CPU: hold the token, running (not blocking), until released. */
static void
tt_holder(void *arg __unused)
{
	struct lwkt_tokref ref;
	uint64_t end;

	lwkt_gettoken(&ref, &tt_tok);
	tt.inside = 1;
	end = cpu_ticks() + 2 * cpu_tsc_hz;	/* 2 s safety net */
	while (tt.release == 0 && cpu_ticks() < end)
		ktest_relax();
	tt.inside = 0;
	lwkt_reltoken(&ref);
	tt.exited = 1;
}

static void
tt_ithread_fn(void)
{
	struct globaldata *gd = mycpu;
	struct lwkt_tokref ref;
	uint64_t sw0 = gd->gd_cnt_switch;

	tt.result = lwkt_trytoken(&ref, &tt_tok);
	tt.switches = gd->gd_cnt_switch - sw0;
	tt.toks_after = curthread->td_toks;
	tt.preempted_after = curthread->td_preempted;
	if (tt.result)
		lwkt_reltoken(&ref);
}

/* lwkt_trytoken() inside a critical section: result, and switches made. */
static int
try_counted(struct lwkt_tokref *ref, uint64_t *switches)
{
	struct globaldata *gd = mycpu;
	uint64_t sw0;
	int r;

	crit_enter();
	sw0 = gd->gd_cnt_switch;
	r = lwkt_trytoken(ref, &tt_tok);
	*switches = gd->gd_cnt_switch - sw0;
	crit_exit();
	return r;
}

KTEST(token, trytoken)
{
	struct globaldata *gd = mycpu;
	thread_t td = curthread;
	struct lwkt_tokref ref;
	uint64_t sw, t0, us;
	uint32_t runs0, fails = 0, switched = 0;
	int cpu = ktest_other_cpu(), r, i;

	toks_init();

	/* Free and owned here: succeeds, not left in a critical section. */
	lwkt_gettoken(&ref, &tt_tok);
	lwkt_reltoken(&ref);
	EXPECT_PTR_EQ(tt_tok.t_cpu, gd);
	r = try_counted(&ref, &sw);
	EXPECT_EQ(r, 1);
	EXPECT_EQ(sw, 0);
	EXPECT_EQ(td->td_critcount, 0);
	if (r) {
		EXPECT_PTR_EQ(td->td_toks, &ref);
		EXPECT_FALSE(lwkt_token_is_stale(&ref));
		lwkt_reltoken(&ref);
	}
	EXPECT_PTR_EQ(td->td_toks, NULL);

	/* A thread we preempt holds it: the preempting thread fails at once. */
	ASSERT_TRUE(ithread_start(kt, tt_ithread_fn));
	for (;;) {
		runs0 = it.runs;
		tt.result = -1;
		lwkt_gettoken(&ref, &tt_tok);
		lwkt_schedule(it.td);	/* preempts us: not in a section */
		lwkt_reltoken(&ref);
		if (!ktest_poll(&it.runs, runs0 + 1, 200, 1000 * MS)) {
			EXPECT_EQ(it.runs, runs0 + 1);
			break;
		}
		EXPECT_EQ(tt.switches, 0);	/* never waits */
		if (it.preempted != td) {
			if (ktest_retry(kt, "the ithread did not run as a "
			    "preemption of us"))
				continue;
			break;
		}
		EXPECT_EQ(tt.result, 0);
		EXPECT_PTR_EQ(tt.preempted_after, td); /* no block */
		EXPECT_PTR_EQ(tt.toks_after, NULL);
		break;
	}
	/* ... and succeeds once we no longer hold it. */
	for (;;) {
		runs0 = it.runs;
		tt.result = -1;
		lwkt_schedule(it.td);
		if (!ktest_poll(&it.runs, runs0 + 1, 200, 1000 * MS)) {
			EXPECT_EQ(it.runs, runs0 + 1);
			break;
		}
		EXPECT_EQ(tt.switches, 0);
		if (it.preempted != td) {
			if (ktest_retry(kt, "the ithread did not run as a "
			    "preemption of us"))
				continue;
			break;
		}
		EXPECT_EQ(tt.result, 1);
		EXPECT_PTR_NE(tt.toks_after, NULL);
		break;
	}
	ithread_stop(kt);

	if (cpu == gd->gd_cpuid) {
		ktest_log(kt, "one CPU: no remote holder");
		return;
	}

	/* A running thread of another CPU holds it. */
	memset((void *)&tt, 0, sizeof(tt));
	ASSERT_EQ(lwkt_create(tt_holder, NULL, NULL, NULL, 0, cpu,
	    "tok_holder"), 0);
	if (!ktest_poll(&tt.inside, 1, 200, 2000 * MS)) {
		EXPECT_EQ(tt.inside, 1);
		tt.release = 1;
		EXPECT_TRUE(ktest_poll(&tt.exited, 1, 200, 3000 * MS));
		return;
	}
	EXPECT_PTR_EQ(tt_tok.t_cpu, globaldata_find(cpu));
	t0 = cpu_ticks();
	for (i = 0; i < 100; i++) {
		r = try_counted(&ref, &sw);
		if (r) {
			fails++;
			lwkt_reltoken(&ref);
		}
		if (sw != 0)
			switched++;
	}
	us = ktest_us_since(t0);
	EXPECT_EQ(fails, 0);
	EXPECT_EQ(switched, 0);
	EXPECT_PTR_EQ(td->td_toks, NULL);
	EXPECT_EQ(tt.inside, 1);
	tt.release = 1;
	EXPECT_TRUE(ktest_poll(&tt.exited, 1, 200, 3000 * MS));
	ktest_log(kt, "100 failed lwkt_trytoken() calls took %llu us", us);

	/* Free now, but another CPU owns it: still fails, without asking. */
	EXPECT_PTR_EQ(tt_tok.t_cpu, globaldata_find(cpu));
	r = try_counted(&ref, &sw);
	EXPECT_EQ(r, 0);
	EXPECT_EQ(sw, 0);
	if (r)
		lwkt_reltoken(&ref);

	/* Bring it back: free and owned here, it succeeds. */
	lwkt_gettoken(&ref, &tt_tok);
	lwkt_reltoken(&ref);
	r = try_counted(&ref, &sw);
	EXPECT_EQ(r, 1);
	EXPECT_EQ(sw, 0);
	if (r)
		lwkt_reltoken(&ref);
	EXPECT_PTR_EQ(td->td_toks, NULL);
}


/* ---------------------------------------------------------------------
 * preempt_resume_inside: an interrupt-like thread that blocked (tsleep
 * with a timeout) holding a token, woken by a timer interrupt while the
 * thread it interrupts is inside that token, must not resume as a
 * preemption: the preempted thread still holds the token (issue 9,
 * defect 1).  It runs only once the holder has switched out (which gives
 * the token up) or left.
 */

static struct {
	volatile uint32_t holding;	/* the ithread has the token, asleep */
	volatile uint32_t inside;	/* the test thread is in its region */
	volatile uint32_t woke;		/* the ithread returned from tsleep */
	volatile uint32_t seen_inside;	/* `inside` as it resumed */
	volatile uint32_t chain_holds;	/* a thread it preempted held it */
	volatile int	sleep_err;
	volatile uint32_t ident;
} pr;

/* Does td or a thread on its td_preempted chain hold tok? */
static bool
chain_holds(thread_t td, struct lwkt_token *tok)
{
	struct lwkt_tokref *ref;

	for (; td != NULL; td = td->td_preempted)
		for (ref = td->td_toks; ref != NULL; ref = ref->tr_next)
			if (ref->tr_tok == tok)
				return true;
	return false;
}

static void
pr_ithread_fn(void)
{
	struct lwkt_tokref ref;
	thread_t td = curthread;

	lwkt_gettoken(&ref, &pr_tok);
	pr.holding = 1;
	pr.sleep_err = tsleep(&pr.ident, 0, "prtok", 1);	/* times out */
	pr.seen_inside = pr.inside;
	pr.chain_holds = chain_holds(td->td_preempted, &pr_tok);
	pr.woke = 1;
	lwkt_reltoken(&ref);
}

#define PR_ROUNDS	5

KTEST(token, preempt_resume_inside)
{
	struct globaldata *gd = mycpu;
	thread_t td = curthread;
	struct lwkt_tokref ref;
	uint64_t end, miss0;
	uint32_t runs0;
	int round;

	toks_init();
	ASSERT_TRUE(ithread_start(kt, pr_ithread_fn));
	for (round = 0; round < PR_ROUNDS; round++) {
		memset((void *)&pr, 0, sizeof(pr));
		runs0 = it.runs;
		/* The ithread takes the token and falls asleep holding it. */
		lwkt_schedule(it.td);
		if (!ktest_poll(&pr.holding, 1, 200, 1000 * MS)) {
			EXPECT_EQ(pr.holding, 1);
			break;
		}
		lwkt_gettoken(&ref, &pr_tok);
		EXPECT_EQ(td->td_critcount, 0);
		pr.inside = 1;
		miss0 = gd->gd_cnt_preempt_miss;
		/*
		 * Its tsleep times out meanwhile (a timer interrupt).  No
		 * PAUSE in this spin: QEMU's TCG leaves its execution loop at
		 * every PAUSE, which made this test the costliest of the
		 * suite in host time (soak-0036, soak-0051).
		 */
		end = cpu_ticks() + cpu_tsc_hz / 5;	/* 200 ms */
		while (pr.woke == 0 && cpu_ticks() < end)
			cpu_ccfence();
		pr.inside = 0;
		lwkt_reltoken(&ref);
		if (!ktest_poll(&it.runs, runs0 + 1, 200, 2000 * MS)) {
			EXPECT_EQ(it.runs, runs0 + 1);
			break;
		}
		EXPECT_EQ(pr.woke, 1);
		EXPECT_EQ(pr.sleep_err, EWOULDBLOCK);
		/* Never resumed preempting a holder inside its region. */
		EXPECT_FALSE(pr.chain_holds);
		if (pr.seen_inside)
			EXPECT_GT(gd->gd_cnt_preempt_miss, miss0);
		if (ktest_failures(kt) != 0) {
			ktest_log(kt, "round %d: seen_inside %u chain_holds %u",
			    round, pr.seen_inside, pr.chain_holds);
			break;
		}
	}
	ithread_stop(kt);
}

/* ---------------------------------------------------------------------
 * handoff_prompt: a thread releases a token another CPU asked for while
 * it held it, and keeps running; the other CPU gets the token without
 * waiting for its next clock tick (issue 9, defect 4).  Each round
 * releases just after the other CPU's tick, so a whole tick period (10 ms
 * at hz=100) separates the release from that CPU's next tick, against a
 * hand-off of some microseconds.  Every round asserts the part that does
 * not depend on the host: the release itself hands the token over (t_cpu
 * is the other CPU when lwkt_reltoken returns) and the other CPU's thread
 * then gets it.  That it gets it before its next tick is asserted exactly
 * in the deterministic rows (test.noretry), where guest time is the
 * instruction count; elsewhere the host may not run that virtual CPU for
 * a tick or more, so late rounds are counted in the log only.
 */

static struct {
	volatile uint32_t got;
	volatile uint64_t got_ticks;	/* the requester CPU's gd_ticks then */
	volatile uint32_t exited;
} hp;

static void
hp_waiter(void *arg __unused)
{
	struct lwkt_tokref ref;

	lwkt_gettoken(&ref, &hp_tok);
	hp.got_ticks = mycpu->gd_ticks;
	hp.got = 1;
	lwkt_reltoken(&ref);
	hp.exited = 1;
}

#define HP_ROUNDS	10

KTEST(token, handoff_prompt)
{
	struct globaldata *ogd;
	struct lwkt_tokref ref;
	thread_t wtd;
	uint64_t end, t, rel_ticks;
	uint32_t late = 0;
	int cpu = ktest_other_cpu(), round;

	toks_init();
	if (cpu == mycpuid) {
		ktest_skip(kt, "needs 2 CPUs");
		return;
	}
	ogd = globaldata_find(cpu);
	for (round = 0; round < HP_ROUNDS; round++) {
		memset((void *)&hp, 0, sizeof(hp));
		ASSERT_EQ(lwkt_create(hp_waiter, NULL, &wtd, NULL, TDF_STOPREQ,
		    cpu, "tok_handoff"), 0);
		lwkt_gettoken(&ref, &hp_tok);
		lwkt_schedule(wtd);
		end = cpu_ticks() + cpu_tsc_hz;
		while (!CPUMASK_TESTBIT(hp_tok.t_reqmask, cpu) &&
		    cpu_ticks() < end)
			ktest_relax();
		EXPECT_TRUE(CPUMASK_TESTBIT(hp_tok.t_reqmask, cpu));
		/* Release right after the other CPU's tick. */
		t = ogd->gd_ticks;
		while (ogd->gd_ticks == t && cpu_ticks() < end)
			ktest_relax();
		rel_ticks = ogd->gd_ticks;
		lwkt_reltoken(&ref);
		EXPECT_PTR_EQ(hp_tok.t_cpu, ogd);
		/* Keep running (no switch here) until it has it. */
		end = cpu_ticks() + cpu_tsc_hz;
		while (hp.got == 0 && ogd->gd_ticks - rel_ticks < 5 &&
		    cpu_ticks() < end)
			ktest_relax();
		EXPECT_TRUE(ktest_poll(&hp.exited, 1, 200, 2000 * MS));
		EXPECT_EQ(hp.got, 1);
		if (hp.got && hp.got_ticks != rel_ticks)
			late++;
	}
	ktest_log(kt, "%u of %d hand-offs waited for a clock tick of cpu %d",
	    late, HP_ROUNDS, cpu);
	if (kopts.ko_test_noretry)
		EXPECT_EQ(late, 0);
}

/* ---------------------------------------------------------------------
 * switch_no_drain: a holder switching out grants its token to a CPU whose
 * FIFO from here is more than half full; the grant's message must not
 * make lwkt_switch drain this CPU's IPIQ (LWKT-SPEC §10b; issue 9, defect
 * 2: a message run there could give away the next thread's tokens).
 * lwkt_process_ipiq asserts it is not called inside a switch.
 */

static struct {
	volatile uint32_t got;
	volatile uint32_t exited;
	volatile uint32_t blocking;	/* the blocker sits in its section */
	volatile uint32_t blocker_done;
	volatile uint32_t granted_seen;	/* the blocker saw the grant */
	volatile uint32_t nops;
} sd;

static void
sd_waiter(void *arg __unused)
{
	struct lwkt_tokref ref;

	lwkt_gettoken(&ref, &sd_tok);
	sd.got = 1;
	lwkt_reltoken(&ref);
	sd.exited = 1;
}

/*
 * Keeps its CPU from serving its IPIQ until the token has been granted to
 * it (t_cpu is set before the grant's message is sent), at most 2 s.
 */
static void
sd_blocker(void *arg __unused)
{
	struct globaldata *gd = mycpu;
	uint64_t end;

	crit_enter();
	sd.blocking = 1;
	end = cpu_ticks() + 2 * cpu_tsc_hz;
	while (sd_tok.t_cpu != gd && cpu_ticks() < end)
		ktest_relax();
	sd.granted_seen = sd_tok.t_cpu == gd;
	crit_exit();
	sd.blocker_done = 1;
}

static void
sd_nop(void *arg __unused, int arg2 __unused, struct intrframe *f __unused)
{
	atomic_add_int(&sd.nops, 1);
}

KTEST(token, switch_no_drain)
{
	struct globaldata *gd = mycpu, *ogd;
	thread_t td = curthread, wtd, btd;
	struct lwkt_tokref ref;
	uint64_t end;
	uint32_t sent = 0;
	int cpu = ktest_other_cpu();

	toks_init();
	if (cpu == gd->gd_cpuid) {
		ktest_skip(kt, "needs 2 CPUs");
		return;
	}
	ogd = globaldata_find(cpu);
	memset((void *)&sd, 0, sizeof(sd));
	ASSERT_EQ(lwkt_create(sd_waiter, NULL, &wtd, NULL, TDF_STOPREQ, cpu,
	    "tok_nodrain_w"), 0);
	ASSERT_EQ(lwkt_create(sd_blocker, NULL, &btd, NULL, TDF_STOPREQ, cpu,
	    "tok_nodrain_b"), 0);
	lwkt_setpri(btd, TDPRI_KERN_DAEMON + 1);
	lwkt_gettoken(&ref, &sd_tok);
	lwkt_schedule(wtd);
	end = cpu_ticks() + cpu_tsc_hz;
	while (!CPUMASK_TESTBIT(sd_tok.t_reqmask, cpu) && cpu_ticks() < end)
		ktest_relax();
	EXPECT_TRUE(CPUMASK_TESTBIT(sd_tok.t_reqmask, cpu));
	lwkt_schedule(btd);
	/* Spin, not sleep: switching out would give the token up now. */
	end = cpu_ticks() + cpu_tsc_hz;
	while (sd.blocking == 0 && cpu_ticks() < end)
		ktest_relax();
	EXPECT_EQ(sd.blocking, 1);
	/* Over half full towards it, without waiting for room. */
	crit_enter();
	while (lwkt_ipiq_fill(&gd->gd_ipiq[cpu]) <= ipiq_fifo_half &&
	    sent < ipiq_fifo_depth &&
	    lwkt_send_ipiq3_nowait(ogd, sd_nop, NULL, 0) == 0)
		sent++;
	EXPECT_GT(lwkt_ipiq_fill(&gd->gd_ipiq[cpu]), ipiq_fifo_half);
	EXPECT_EQ(sd.blocker_done, 0);	/* it did not drain meanwhile */
	crit_exit();
	/* Switch out holding it: the switch grants it to the waiter. */
	lwkt_sleep_us(1 * MS);
	EXPECT_TRUE(lwkt_token_is_stale(&ref));
	EXPECT_PTR_EQ(sd_tok.t_cpu, gd);
	lwkt_reltoken(&ref);
	EXPECT_TRUE(ktest_poll(&sd.exited, 1, 200, 2000 * MS));
	EXPECT_TRUE(ktest_poll(&sd.blocker_done, 1, 200, 2000 * MS));
	EXPECT_TRUE(ktest_poll(&sd.nops, sent, 200, 2000 * MS));
	EXPECT_EQ(sd.got, 1);
	EXPECT_EQ(sd.granted_seen, 1);
	EXPECT_PTR_EQ(td->td_toks, NULL);
	ktest_log(kt, "%u messages queued to cpu %d before the switch", sent,
	    cpu);
}
