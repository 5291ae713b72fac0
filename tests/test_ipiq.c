/*
 * Suite "ipiq": the inter-processor message FIFOs (LWKT-SPEC §7) and the
 * remote wakeups built on them.
 *   - self_inline: a message to our own CPU runs inline, before the send
 *     returns, and the send returns 0 (the only case on -smp 1);
 *   - all_to_all_exactly_once: every CPU streams sequence-numbered
 *     messages to every other CPU at once, partly from inside critical
 *     sections; each message runs exactly once, on its target, in order
 *     per (source, target) pair, and FIFOs did fill up;
 *   - deferral_in_crit: a message sent to a CPU that sits in a critical
 *     section waits for the end of the section and runs as it ends;
 *   - wait_ipiq_means_finished: lwkt_wait_ipiq() returns only once the
 *     function has returned on the target; lwkt_seq_ipiq() agrees with
 *     the sequence the send returned;
 *   - nowait_enoent: lwkt_send_ipiq_nowait() (and every other send its
 *     mask form, the panic stop's) toward a CPU that cannot drain fails
 *     with ENOENT exactly when the FIFO is 2/3 full, without ever waiting,
 *     and loses nothing;
 *   - passive_by_tick: passive messages send no IPI and are picked up by
 *     the target's next hard clock tick (under ipiq.passive=0 no tick
 *     drains: they signal like ordinary sends, at most one IPI each,
 *     and still run);
 *   - interlock_ratio: with ipiq_optimized the ip_npoll interlock saves
 *     most IPIs of a stream; without it every message sends one;
 *   - remote_schedule_runs_there: lwkt_schedule() of a thread of another
 *     CPU makes it run there;
 *   - pingpong_all_pairs: threads on every pair of CPUs wake each other
 *     back and forth; no wakeup is lost;
 *   - pending_race_exactly_once: many sources publish tiny bursts while
 *     the target clears its pending mask and drains without pause; each
 *     message runs exactly once, in order, by the target's second tick.
 * Every wait is bounded: a lost message or wakeup fails the test instead
 * of hanging it.  Parts that need two CPUs are skipped on one.
 */
#include <sys/param.h>
#include <sys/systm.h>
#include <sys/globaldata.h>
#include <sys/ipiq.h>
#include <sys/ipiq2.h>
#include <sys/kopts.h>
#include <sys/malloc.h>
#include <sys/ktest.h>
#include <sys/systimer.h>
#include <sys/thread2.h>
#include <machine/atomic.h>
#include <machine/cpu.h>
#include <machine/cpufunc.h>

#define MS		1000u		/* microseconds */
/* The ring depth chosen at boot (sys/ipiq.h); MAXCPUFIFO is its maximum. */
#define FIFO_DEPTH	ipiq_fifo_depth

/* ---------------------------------------------------------------------
 * Helpers
 */

/* A tiny per-thread generator (ktest_random is for the test thread). */
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

/* Busy-wait (interrupts as they are) until *word != 0 or `us` pass. */
static bool
spin_for(volatile uint32_t *word, uint32_t us)
{
	uint64_t t0 = cpu_ticks();

	while (*word == 0) {
		if (ktest_us_since(t0) >= us)
			return false;
		ktest_relax();
	}
	return true;
}

static uint64_t
sum_counter(size_t off)
{
	uint64_t sum = 0;
	int cpu;

	for (cpu = 0; cpu < MAXCPU; cpu++)
		if (CPUMASK_TESTBIT(smp_active_mask, cpu))
			sum += *(volatile uint64_t *)((char *)globaldata_find(cpu) +
			    off);
	return sum;
}

/* ---------------------------------------------------------------------
 * self_inline: sending to our own CPU calls the function at once, in the
 * sending thread, with a NULL frame, and returns 0; every flavour of send
 * does that (the mask form counts us).  Checked on every CPU.
 */

static struct {
	volatile uint32_t runs[MAXCPU];
	volatile int	cpu[MAXCPU];
	thread_t volatile td[MAXCPU];
	volatile int	arg2[MAXCPU];
	volatile uint32_t frame_nonnull[MAXCPU];
} si;

static void
si_msg(void *arg, int arg2, struct intrframe *frame)
{
	int slot = (int)(uintptr_t)arg;

	si.cpu[slot] = mycpuid;
	si.td[slot] = curthread;
	si.arg2[slot] = arg2;
	if (frame != NULL)
		si.frame_nonnull[slot]++;
	si.runs[slot]++;
}

static void
si_on_cpu(struct ktest_ctx *kt, void *arg __unused)
{
	struct globaldata *gd = mycpu;
	int me = gd->gd_cpuid;
	void *slot = (void *)(uintptr_t)me;
	uint32_t seq0 = lwkt_seq_ipiq(gd);

	EXPECT_EQ(lwkt_send_ipiq(gd, si_msg, slot), 0);
	EXPECT_EQ(si.runs[me], 1);
	EXPECT_EQ(si.cpu[me], me);
	EXPECT_PTR_EQ(si.td[me], curthread);
	EXPECT_EQ(si.arg2[me], 0);

	EXPECT_EQ(lwkt_send_ipiq2(gd, si_msg, slot, 0x5eed), 0);
	EXPECT_EQ(si.runs[me], 2);
	EXPECT_EQ(si.arg2[me], 0x5eed);

	EXPECT_EQ(lwkt_send_ipiq_nowait(gd, si_msg, slot), 0);
	EXPECT_EQ(si.runs[me], 3);

	EXPECT_EQ(lwkt_send_ipiq_mask(gd->gd_cpumask, si_msg, slot), 1);
	EXPECT_EQ(si.runs[me], 4);
	EXPECT_PTR_EQ(si.td[me], curthread);

	/* Inside a critical section too: inline, not deferred. */
	crit_enter();
	EXPECT_EQ(lwkt_send_ipiq(gd, si_msg, slot), 0);
	EXPECT_EQ(si.runs[me], 5);
	crit_exit();

	EXPECT_EQ(si.frame_nonnull[me], 0);
	/* No FIFO is involved: our "sequence" did not move; waiting is a no-op. */
	EXPECT_EQ(lwkt_seq_ipiq(gd), seq0);
	lwkt_wait_ipiq(gd, seq0 + 1000);
}

KTEST(ipiq, self_inline)
{
	int n;

	memset((void *)&si, 0, sizeof(si));
	n = ktest_on_each_cpu(kt, si_on_cpu, NULL);
	EXPECT_EQ(n, cpumask_count(smp_active_mask));
}

/* ---------------------------------------------------------------------
 * all_to_all_exactly_once
 *
 * Every CPU (a thread per CPU, started together) streams a2a.per_pair
 * sequence-numbered messages to every other CPU; message i of the pair
 * (s, t) carries i in arg2.  On the target, the message checks that it
 * runs on t inside a critical section, that i is the next number expected
 * from s (a matrix entry only t writes) and counts itself.  Two phases:
 *   A. every sender enters a critical section, waits there until all the
 *      others are in theirs, then sends A2A_HOLD (> FIFO_DEPTH / 2)
 *      messages to each target in turn.  Nobody drains its incoming FIFOs
 *      except from inside the kernel's FIFO-full wait, so at least one
 *      sender must find a FIFO more than half full (gd_cnt_ipiq_fifofull);
 *   B. the rest in bursts of 1..A2A_BURST messages to one target at a
 *      time, the targets taken in turn, every other burst from inside a
 *      critical section.  The sender paces itself: it sends a burst only
 *      if the FIFO will stay at most half full, and if no target has room
 *      it sleeps briefly.  (Pushing into a full FIFO makes the kernel spin
 *      until the target drains; under multi-threaded TCG with more vCPUs
 *      than host cores that costs a host time slice per wait, which made
 *      an unpaced stream 100 times slower there.)
 * Each sender then waits (lwkt_wait_ipiq) for the last sequence of each
 * target.  Afterwards: run == sent for every pair, no message out of
 * order, on the wrong CPU or outside a critical section, some sending
 * happened inside critical sections, and some FIFO was found full.
 *
 * Volume: A2A_PER_PAIR (20,000) per ordered pair, 625 trips round a
 * 32-entry FIFO, about half of them from inside critical sections and
 * with the FIFO filled in phase A by construction; more messages only
 * repeat the same index wrap and full/half-full transitions (they made
 * the test the longest of a multi-threaded TCG boot).  Only beyond 11
 * CPUs is that reduced so that no sender sends more than A2A_SENDER_CAP
 * in all (each still sends more than 20,000).
 */

#define A2A_PER_PAIR	20000		/* per ordered pair, when affordable */
#define A2A_SENDER_CAP	200000		/* per sender, at most (>= 20,000) */
#define A2A_HOLD	(FIFO_DEPTH / 2 + 2)
#define A2A_BURST	MIN(16, FIFO_DEPTH / 2)	/* fits a half-full FIFO */
#define A2A_SPINS	8		/* phase B: tries before sleeping */
#define A2A_WAIT_US	(20000 * MS)

/*
 * The [MAXCPU][MAXCPU] tables have a row per CPU that exists, allocated at
 * the first run and kept (threads of an aborted run may still write them):
 * 255 x 255 words each would otherwise sit in the kernel image.
 */
static struct {
	/* [dst][src]: written by dst only (in the message) */
	volatile uint32_t (*next)[MAXCPU];
	volatile uint32_t (*count)[MAXCPU];
	volatile uint32_t ooo[MAXCPU];		/* out of order, per dst */
	volatile uint32_t nocrit[MAXCPU];	/* ran outside a section */
	volatile uint32_t wrong[MAXCPU];	/* ran on another CPU */
	/* [src][dst]: written by src only */
	uint32_t	(*sent)[MAXCPU];
	uint32_t	sent_crit[MAXCPU];	/* from inside a section */
	uint32_t	sleeps[MAXCPU];		/* phase B: no room anywhere */
	uint32_t	per_pair;
	uint32_t	seed;
	volatile uint32_t arrive;
	volatile uint32_t arrive_crit;
} a2a;
static uint32_t (*a2a_rows)[MAXCPU];	/* next, count, sent: ncpus rows each */

static void
a2a_msg(void *arg, int seq, struct intrframe *frame __unused)
{
	uint32_t v = (uint32_t)(uintptr_t)arg;
	int src = v >> 8, dst = v & 0xff, me = mycpuid;

	if (me != dst) {
		a2a.wrong[me]++;
		return;
	}
	if (curthread->td_critcount <= 0)
		a2a.nocrit[me]++;
	if ((uint32_t)seq != a2a.next[dst][src])
		a2a.ooo[dst]++;
	a2a.next[dst][src] = (uint32_t)seq + 1;
	a2a.count[dst][src]++;
}

static uint32_t
a2a_send(struct globaldata *tgd, int me, int t, uint32_t k)
{
	uint32_t seq = 0;

	while (k-- > 0) {
		seq = lwkt_send_ipiq2(tgd, a2a_msg,
		    (void *)(uintptr_t)((me << 8) | t), (int)a2a.sent[me][t]);
		a2a.sent[me][t]++;
	}
	return seq;
}

static void
a2a_sender(struct ktest_ctx *kt, void *arg __unused)
{
	struct globaldata *gd = mycpu, *tgd[MAXCPU];
	struct lwkt_ipiq *ip;
	uint32_t last[MAXCPU], seed, burst, k, n = cpumask_count(smp_active_mask);
	int me = gd->gd_cpuid, tgt[MAXCPU], nt = 0, i, t, b, moved;
	uint32_t idle = 0;
	uint64_t t0;
	bool ok;

	for (t = 0; t < MAXCPU; t++)
		if (CPUMASK_TESTBIT(smp_active_mask, t) && t != me) {
			tgt[nt] = t;
			tgd[nt] = globaldata_find(t);
			last[nt] = 0;
			nt++;
		}
	seed = (a2a.seed ^ (0x9E3779B9u * (me + 1))) | 1;

	/* Phase A: all in critical sections at once, then overfill. */
	atomic_add_int(&a2a.arrive, 1);
	if (!ktest_poll(&a2a.arrive, n, 100, A2A_WAIT_US)) {
		ktest_fail(kt, __FILE__, __LINE__, "cpu %d: the others did "
		    "not arrive", me);
		return;
	}
	crit_enter();
	atomic_add_int(&a2a.arrive_crit, 1);
	ok = true;
	t0 = cpu_ticks();
	while (a2a.arrive_crit < n && (ok = ktest_us_since(t0) < A2A_WAIT_US))
		ktest_relax();
	if (ok) {
		k = MIN(A2A_HOLD, a2a.per_pair);
		for (i = 0; i < nt; i++)
			last[i] = a2a_send(tgd[i], me, tgt[i], k);
		a2a.sent_crit[me] += k * nt;
	}
	crit_exit();
	if (!ok) {
		ktest_fail(kt, __FILE__, __LINE__, "cpu %d: the others did "
		    "not enter their critical sections", me);
		return;
	}

	/* Phase B: paced bursts, every other one in a critical section. */
	t0 = cpu_ticks();
	for (b = 0;; ) {
		moved = 0;
		for (i = 0; i < nt; i++) {
			t = tgt[i];
			k = a2a.per_pair - a2a.sent[me][t];
			if (k == 0)
				continue;
			burst = 1 + xorshift(&seed) % A2A_BURST;
			if (burst < k)
				k = burst;
			ip = &gd->gd_ipiq[t];
			if (ip->ip_windex - ip->ip_rindex + k > FIFO_DEPTH / 2) {
				moved |= 2;	/* some left, no room now */
				continue;
			}
			moved |= 1;
			if (b++ & 1) {
				crit_enter();
				last[i] = a2a_send(tgd[i], me, t, k);
				crit_exit();
				a2a.sent_crit[me] += k;
			} else {
				last[i] = a2a_send(tgd[i], me, t, k);
			}
		}
		if (moved == 0)
			break;
		if (moved & 1) {
			t0 = cpu_ticks();
		} else if (ktest_us_since(t0) > A2A_WAIT_US) {
			ktest_fail(kt, __FILE__, __LINE__, "cpu %d: no room in "
			    "any FIFO for %u ms", me, A2A_WAIT_US / 1000);
			break;
		}
		if (moved == 2) {
			/* Serve our own FIFOs a little, then let the CPU go. */
			if (++idle < A2A_SPINS) {
				lwkt_process_ipiq();
				cpu_pause();
			} else {
				idle = 0;
				a2a.sleeps[me]++;
				lwkt_sleep_us(20);
			}
		} else {
			idle = 0;
		}
	}
	for (i = 0; i < nt; i++)
		lwkt_wait_ipiq(tgd[i], last[i]);
}

KTEST(ipiq, all_to_all_exactly_once)
{
	uint64_t full0, full1, run0, run1, t0, us, total = 0;
	uint32_t crit = 0, sleeps = 0;
	int n = cpumask_count(smp_active_mask), s, d, bad = 0;

	if (n < 2) {
		ktest_skip(kt, "needs two CPUs");
		return;
	}
	if (a2a_rows == NULL)
		a2a_rows = kmalloc(3 * ncpus * sizeof(*a2a_rows));
	ASSERT_PTR_NE(a2a_rows, NULL);
	memset((void *)&a2a, 0, sizeof(a2a));
	memset(a2a_rows, 0, 3 * ncpus * sizeof(*a2a_rows));
	a2a.next = (volatile uint32_t(*)[MAXCPU])a2a_rows;
	a2a.count = (volatile uint32_t(*)[MAXCPU])a2a_rows + ncpus;
	a2a.sent = a2a_rows + 2 * ncpus;
	a2a.per_pair = A2A_PER_PAIR;
	if (a2a.per_pair * (uint32_t)(n - 1) > A2A_SENDER_CAP)
		a2a.per_pair = howmany(A2A_SENDER_CAP, n - 1);
	a2a.seed = ktest_random(kt);
	full0 = sum_counter(offsetof(struct globaldata, gd_cnt_ipiq_fifofull));
	run0 = sum_counter(offsetof(struct globaldata, gd_cnt_ipiq_count));

	t0 = cpu_ticks();
	ASSERT_EQ(ktest_on_each_cpu(kt, a2a_sender, NULL), n);
	us = ktest_us_since(t0);
	full1 = sum_counter(offsetof(struct globaldata, gd_cnt_ipiq_fifofull));
	run1 = sum_counter(offsetof(struct globaldata, gd_cnt_ipiq_count));

	for (s = 0; s < MAXCPU; s++) {
		if (!CPUMASK_TESTBIT(smp_active_mask, s))
			continue;
		crit += a2a.sent_crit[s];
		EXPECT_EQ(a2a.ooo[s], 0);
		EXPECT_EQ(a2a.nocrit[s], 0);
		EXPECT_EQ(a2a.wrong[s], 0);
		for (d = 0; d < MAXCPU; d++) {
			if (!CPUMASK_TESTBIT(smp_active_mask, d) || d == s)
				continue;
			total += a2a.sent[s][d];
			if (a2a.sent[s][d] != a2a.per_pair ||
			    a2a.count[d][s] != a2a.per_pair ||
			    a2a.next[d][s] != a2a.per_pair) {
				if (bad++ < 8)
					ktest_fail(kt, __FILE__, __LINE__,
					    "pair %d->%d: sent %u, run %u, next "
					    "expected %u, want %u", s, d,
					    a2a.sent[s][d], a2a.count[d][s],
					    a2a.next[d][s], a2a.per_pair);
			}
		}
	}
	EXPECT_EQ(bad, 0);
	EXPECT_GT(crit, 0);
	EXPECT_GE(run1 - run0, total);
	for (s = 0; s < MAXCPU; s++)
		sleeps += a2a.sleeps[s];
	ktest_log(kt, "%d CPUs: %u messages per pair, %llu in all (%u sent "
	    "inside critical sections) in %llu ms; FIFO full %llu times, "
	    "%u sleeps for room", n, a2a.per_pair, total, crit, us / 1000,
	    full1 - full0, sleeps);
	EXPECT_GT(full1 - full0, 0);
}

/* ---------------------------------------------------------------------
 * deferral_in_crit: a thread on CPU b enters a critical section and
 * stays in it (busy, interrupts enabled) for at least DC_HOLD_US, and
 * until the IPI has arrived; meanwhile CPU a sends b a message.  The IPI
 * is taken but only recorded (RQF_IPIQ, gd_cnt_ipi_recv grows); the
 * message has not run just before b's crit_exit() and has run when that
 * crit_exit() returns: on b, in b's thread (the deferred-work path of its
 * crit_exit), inside a critical section, after b's last look.  Done from
 * the test's CPU toward every other CPU.
 */

#define DC_HOLD_US	(20 * MS)
#define DC_WAIT_US	(2000 * MS)

static struct {
	thread_t volatile holder;
	volatile uint32_t in_crit;
	volatile uint32_t sent;
	volatile uint32_t done;
	/* the message */
	volatile uint32_t ran;
	volatile int	ran_cpu;
	thread_t volatile ran_td;
	volatile int	ran_crit;
	volatile uint64_t ran_tsc;
	/* the holder, inside its section */
	volatile uint32_t saw_sent;
	volatile uint32_t ran_inside;
	volatile uint32_t req_ipiq;
	volatile uint64_t ipi_recv;
	volatile uint64_t exit_tsc;
	volatile uint64_t held_us;
	/* the holder, right after crit_exit() */
	volatile uint32_t ran_after;
} dc;

static void
dc_msg(void *arg __unused, int arg2 __unused, struct intrframe *f __unused)
{
	dc.ran_tsc = cpu_ticks();
	dc.ran_cpu = mycpuid;
	dc.ran_td = curthread;
	dc.ran_crit = curthread->td_critcount;
	dc.ran = 1;
}

static void
dc_holder(void *arg __unused)
{
	struct globaldata *gd = mycpu;
	uint64_t recv0, t0, t1;

	crit_enter();
	recv0 = gd->gd_cnt_ipi_recv;
	t0 = cpu_ticks();
	dc.in_crit = 1;
	dc.saw_sent = spin_for(&dc.sent, DC_WAIT_US);
	t1 = cpu_ticks();
	while (ktest_us_since(t1) < DC_HOLD_US || ((gd->gd_reqflags & RQF_IPIQ) ==
	    0 && ktest_us_since(t1) < DC_WAIT_US))
		ktest_relax();
	dc.ipi_recv = gd->gd_cnt_ipi_recv - recv0;
	dc.req_ipiq = gd->gd_reqflags & RQF_IPIQ;
	dc.held_us = ktest_us_since(t0);
	dc.ran_inside = dc.ran;
	dc.exit_tsc = cpu_ticks();
	crit_exit();
	dc.ran_after = dc.ran;
	dc.done = 1;
}

KTEST(ipiq, deferral_in_crit)
{
	struct globaldata *bgd;
	thread_t td;
	uint32_t seq;
	cpumask_t visit;
	int b, tried = 0;

	if (cpumask_count(smp_active_mask) < 2) {
		ktest_skip(kt, "needs two CPUs");
		return;
	}
	visit = ktest_spread_cpus();
	CPUMASK_FOREACH(b, visit) {
		bgd = globaldata_find(b);
		memset((void *)&dc, 0, sizeof(dc));
		ASSERT_EQ(lwkt_create(dc_holder, NULL, &td, NULL, TDF_STOPREQ, b,
		    "dc_hold%d", b), 0);
		dc.holder = td;
		lwkt_schedule(td);
		ASSERT_TRUE(ktest_poll(&dc.in_crit, 1, 100, DC_WAIT_US));
		seq = lwkt_send_ipiq(bgd, dc_msg, NULL);
		dc.sent = 1;
		ASSERT_TRUE(ktest_poll(&dc.done, 1, 500, 2 * DC_WAIT_US));
		lwkt_wait_ipiq(bgd, seq);
		tried++;

		EXPECT_TRUE(dc.saw_sent);
		EXPECT_GE(dc.held_us, DC_HOLD_US);
		EXPECT_GE(dc.ipi_recv, 1);	/* the IPI came in the section */
		EXPECT_NE(dc.req_ipiq, 0);	/* ... and was only recorded */
		EXPECT_EQ(dc.ran_inside, 0);	/* not run inside the section */
		EXPECT_EQ(dc.ran_after, 1);	/* run by its crit_exit() */
		EXPECT_EQ(dc.ran, 1);
		EXPECT_EQ(dc.ran_cpu, b);
		EXPECT_PTR_EQ(dc.ran_td, td);
		EXPECT_GT(dc.ran_crit, 0);
		EXPECT_GE(dc.ran_tsc, dc.exit_tsc);	/* both b's TSC */
		if (ktest_failures(kt) > 0) {
			ktest_log(kt, "cpu %d: held %llu us, ipi_recv +%llu, "
			    "RQF_IPIQ %u, ran inside %u, after exit %u", b,
			    dc.held_us, dc.ipi_recv, dc.req_ipiq,
			    dc.ran_inside, dc.ran_after);
			break;
		}
	}
	EXPECT_EQ(tried, cpumask_count(visit));
}

/* ---------------------------------------------------------------------
 * wait_ipiq_means_finished: the message, on the target, waits until the
 * sender is about to call lwkt_wait_ipiq() (so the wait really overlaps
 * it, however the host schedules the vCPUs), then works WF_SPIN_US more
 * and sets `done` as its last statement.  The sequence returned by the
 * send equals lwkt_seq_ipiq() read right after (inside one critical
 * section, so nothing else of ours is queued in between) and is one past
 * the sequence before; lwkt_wait_ipiq() returns only once `done` is set
 * (the target publishes ip_xindex after the function returned), whether
 * called inside a critical section or not.  Toward every other CPU.
 */

#define WF_SPIN_US	(5 * MS)
#define WF_ROUNDS	2

#define WF_WAIT_US	(1000 * MS)

static struct {
	volatile uint32_t started;
	volatile uint32_t waiting;
	volatile uint32_t saw_waiting;
	volatile uint32_t done;
	volatile int	cpu;
} wf;

static void
wf_msg(void *arg __unused, int arg2 __unused, struct intrframe *f __unused)
{
	wf.cpu = mycpuid;
	wf.started = 1;
	wf.saw_waiting = spin_for(&wf.waiting, WF_WAIT_US);
	ktest_hold_us(WF_SPIN_US);
	wf.done = 1;
}

KTEST(ipiq, wait_ipiq_means_finished)
{
	struct globaldata *bgd;
	uint32_t seq0, seq, seq1, done_at_send, done_after;
	cpumask_t visit;
	int b, r;

	/* Toward ourselves there is nothing to wait for. */
	seq0 = lwkt_seq_ipiq(mycpu);
	lwkt_wait_ipiq(mycpu, seq0 + 1);
	if (cpumask_count(smp_active_mask) < 2) {
		ktest_skip(kt, "needs two CPUs");
		return;
	}
	visit = ktest_spread_cpus();
	CPUMASK_FOREACH(b, visit) {
		bgd = globaldata_find(b);
		for (r = 0; r < WF_ROUNDS; r++) {
			memset((void *)&wf, 0, sizeof(wf));
			crit_enter();
			seq0 = lwkt_seq_ipiq(bgd);
			seq = lwkt_send_ipiq(bgd, wf_msg, NULL);
			seq1 = lwkt_seq_ipiq(bgd);
			done_at_send = wf.done;
			done_after = 0;
			if (r & 1) {		/* waiting inside a section */
				wf.waiting = 1;
				lwkt_wait_ipiq(bgd, seq);
				done_after = wf.done;
			}
			crit_exit();
			if ((r & 1) == 0) {
				wf.waiting = 1;
				lwkt_wait_ipiq(bgd, seq);
				done_after = wf.done;
			}
			EXPECT_EQ(seq, seq0 + 1);
			EXPECT_EQ(seq1, seq);
			EXPECT_EQ(done_at_send, 0);
			EXPECT_EQ(done_after, 1);
			EXPECT_EQ(wf.started, 1);
			EXPECT_TRUE(wf.saw_waiting);
			EXPECT_EQ(wf.cpu, b);
			EXPECT_GE((int32_t)(mycpu->gd_ipiq[b].ip_xindex - seq), 0);
			/* Waiting again for a finished sequence returns at once. */
			lwkt_wait_ipiq(bgd, seq);
		}
	}
}

/* ---------------------------------------------------------------------
 * nowait_enoent: a thread on CPU b holds a critical section (so b cannot
 * drain its FIFOs) while we fill ours toward b with
 * lwkt_send_ipiq_nowait().  Each call must return at once (never wait for
 * room: that is the difference from lwkt_send_ipiq), with 0 while the
 * FIFO is less than 2/3 full and ENOENT from exactly FIFO_DEPTH * 2 / 3
 * entries on; nothing runs on b meanwhile.  Released, b runs every
 * accepted message exactly once, in order, and a nowait send works again.
 * A call that blocks is reported with the fill level it blocked at; the
 * holder gives up after NW_HOLD_US so such a failure cannot hang the run.
 */

#define NW_HOLD_US	(2000 * MS)
#define NW_FULL		(FIFO_DEPTH * 2 / 3)
#define NW_SLOW_US	(500 * MS)

static struct {
	volatile uint32_t in_crit;
	volatile uint32_t release;
	volatile uint32_t timed_out;
	volatile uint32_t done;
	volatile uint32_t ran_inside;
	volatile uint32_t ran;
	volatile uint32_t next;
	volatile uint32_t ooo;
	volatile uint32_t wrong_cpu;
	int		cpu;
} nw;

static void
nw_msg(void *arg __unused, int i, struct intrframe *f __unused)
{
	if (mycpuid != nw.cpu)
		nw.wrong_cpu++;
	if ((uint32_t)i != nw.next)
		nw.ooo++;
	nw.next = (uint32_t)i + 1;
	nw.ran++;
}

static void
nw_holder(void *arg __unused)
{
	crit_enter();
	nw.in_crit = 1;
	nw.timed_out = !spin_for(&nw.release, NW_HOLD_US);
	nw.ran_inside = nw.ran;
	crit_exit();
	nw.done = 1;
}

KTEST(ipiq, nowait_enoent)
{
	struct globaldata *bgd;
	struct lwkt_ipiq *ip;
	uint32_t fill0, fill, fill_enoent = 0, ok = 0, slow_fill = 0;
	uint64_t t0, us, slow_us = 0;
	int b, i, r, enoent_at = -1, other = 0;
	bool released_early;

	if (cpumask_count(smp_active_mask) < 2) {
		/* Toward ourselves it runs inline and never fails. */
		memset((void *)&nw, 0, sizeof(nw));
		nw.cpu = mycpuid;
		for (i = 0; i < (int)FIFO_DEPTH; i++)
			EXPECT_EQ(lwkt_send_ipiq3_nowait(mycpu, nw_msg, NULL, i), 0);
		EXPECT_EQ(nw.ran, FIFO_DEPTH);
		ktest_skip(kt, "needs two CPUs (inline case checked)");
		return;
	}
	b = ktest_next_cpu(mycpuid);
	bgd = globaldata_find(b);
	ip = &mycpu->gd_ipiq[b];
	memset((void *)&nw, 0, sizeof(nw));
	nw.cpu = b;
	ASSERT_EQ(lwkt_create(nw_holder, NULL, NULL, NULL, 0, b, "nw_hold%d",
	    b), 0);
	ASSERT_TRUE(ktest_poll(&nw.in_crit, 1, 100, 2000 * MS));

	fill0 = ip->ip_windex - ip->ip_rindex;
	EXPECT_EQ(fill0, 0);
	for (i = 0; i <= (int)FIFO_DEPTH; i++) {
		fill = ip->ip_windex - ip->ip_rindex;
		t0 = cpu_ticks();
		/* Every other send through the mask form (the panic stop's). */
		if (i & 1)
			r = CPUMASK_TESTBIT(lwkt_send_ipiq3_mask_nowait(
			    cpumask_bit(b), nw_msg, NULL, (int)ok), b) ? 0 :
			    ENOENT;
		else
			r = lwkt_send_ipiq3_nowait(bgd, nw_msg, NULL, (int)ok);
		us = ktest_us_since(t0);
		if (us > slow_us) {
			slow_us = us;
			slow_fill = fill;
		}
		if (r == ENOENT) {
			enoent_at = i;
			fill_enoent = fill;
			break;
		}
		if (r != 0)
			other++;
		else
			ok++;
	}
	released_early = nw.done != 0;
	/* Still full: fails again, at once. */
	t0 = cpu_ticks();
	r = lwkt_send_ipiq3_nowait(bgd, nw_msg, NULL, (int)ok);
	us = ktest_us_since(t0);
	if (r == 0)
		ok++;
	EXPECT_EQ(r, ENOENT);
	if (us > slow_us) {
		slow_us = us;
		slow_fill = ip->ip_windex - ip->ip_rindex;
	}
	EXPECT_EQ(nw.ran, 0);

	nw.release = 1;
	EXPECT_TRUE(ktest_poll(&nw.done, 1, 200, NW_HOLD_US + 2000 * MS));
	lwkt_wait_ipiq(bgd, lwkt_seq_ipiq(bgd));

	ktest_log(kt, "cpu %d held: %u accepted, ENOENT at send %d with %u "
	    "queued (FIFO depth %d); slowest send %llu us at fill %u", b, ok,
	    enoent_at, fill_enoent, FIFO_DEPTH, slow_us, slow_fill);
	if (slow_us >= NW_SLOW_US)
		ktest_fail(kt, __FILE__, __LINE__, "lwkt_send_ipiq_nowait() "
		    "waited %llu ms at fill %u of %d instead of returning (it "
		    "should fail with ENOENT only at %d and never wait for "
		    "room)", slow_us / 1000, slow_fill, FIFO_DEPTH, NW_FULL);
	EXPECT_FALSE(nw.timed_out);
	EXPECT_FALSE(released_early);
	EXPECT_EQ(other, 0);
	EXPECT_EQ(enoent_at, NW_FULL - (int)fill0);
	EXPECT_EQ(fill_enoent, NW_FULL);
	EXPECT_EQ(ok, NW_FULL - fill0);
	EXPECT_EQ(nw.ran_inside, 0);
	EXPECT_EQ(nw.ran, ok);		/* every accepted one ran, once */
	EXPECT_EQ(nw.next, ok);
	EXPECT_EQ(nw.ooo, 0);
	EXPECT_EQ(nw.wrong_cpu, 0);

	/* Drained: accepted again. */
	EXPECT_EQ(lwkt_send_ipiq3_nowait(bgd, nw_msg, NULL, (int)ok), 0);
	lwkt_wait_ipiq(bgd, lwkt_seq_ipiq(bgd));
	EXPECT_EQ(nw.ran, ok + 1);
	EXPECT_EQ(nw.ooo, 0);
}

/* ---------------------------------------------------------------------
 * passive_by_tick: PT_N passive messages to an idle CPU b.  The sends
 * (inside one critical section, so nothing else of ours runs) send no IPI
 * (our gd_cnt_ipi_sent does not move) and count gd_cnt_ipiq_passive.  The
 * messages then run on b, in order, picked up at the latest by b's second
 * hard clock tick after the send (b's gd_ticks, read by the message: a
 * tick count, not a time, so a slow host does not matter).  The tick the
 * bound counts from is read after the last send: a late timer runs its
 * missed ticks back to back, so b may count several ticks while the sends
 * are still being written (seen at hz=1000 on a loaded host, when the
 * bound counted from a read before the sends).  Toward every other CPU.
 */

/* At most half a FIFO: the FIFO-full wait (which signals) never runs. */
#define PT_N		(FIFO_DEPTH / 2 < 8 ? FIFO_DEPTH / 2 : 8)

static struct {
	volatile uint32_t ran;
	volatile uint32_t next;
	volatile uint32_t ooo;
	volatile uint32_t wrong_cpu;
	volatile uint64_t first_tick;
	int		cpu;
} pt;

static void
pt_msg(void *arg __unused, int i, struct intrframe *f __unused)
{
	if (mycpuid != pt.cpu)
		pt.wrong_cpu++;
	if (pt.ran == 0)
		pt.first_tick = mycpu->gd_ticks;
	if ((uint32_t)i != pt.next)
		pt.ooo++;
	pt.next = (uint32_t)i + 1;
	pt.ran++;
}

KTEST(ipiq, passive_by_tick)
{
	struct globaldata *gd, *bgd;
	uint64_t sent0, sent1, pas0, pas1, tick0, t0, us;
	uint32_t seq;
	cpumask_t visit;
	int b, i, tried = 0;

	if (cpumask_count(smp_active_mask) < 2) {
		ktest_skip(kt, "needs two CPUs (no passive message to self)");
		return;
	}
	visit = ktest_spread_cpus();
	CPUMASK_FOREACH(b, visit) {
		bgd = globaldata_find(b);
		memset((void *)&pt, 0, sizeof(pt));
		pt.cpu = b;
		crit_enter();
		gd = mycpu;
		sent0 = gd->gd_cnt_ipi_sent;
		pas0 = gd->gd_cnt_ipiq_passive;
		seq = 0;
		for (i = 0; i < (int)PT_N; i++)
			seq = lwkt_send_ipiq3_passive(bgd, pt_msg, NULL, i);
		tick0 = bgd->gd_ticks;
		sent1 = gd->gd_cnt_ipi_sent;
		pas1 = gd->gd_cnt_ipiq_passive;
		crit_exit();
		t0 = cpu_ticks();
		EXPECT_TRUE(ktest_poll(&pt.ran, PT_N, 100, 2000 * MS));
		us = ktest_us_since(t0);
		tried++;
		if (kopts.ko_ipiq_passive)
			EXPECT_EQ(sent1 - sent0, 0);
		else
			EXPECT_LE(sent1 - sent0, PT_N);
		EXPECT_EQ(pas1 - pas0, PT_N);
		EXPECT_NE(seq, 0);
		EXPECT_EQ(pt.ran, PT_N);
		EXPECT_EQ(pt.ooo, 0);
		EXPECT_EQ(pt.wrong_cpu, 0);
		EXPECT_LE(pt.first_tick, tick0 + 2);
		if (ktest_failures(kt) > 0) {
			ktest_log(kt, "cpu %d: ran at tick %llu, sent at tick "
			    "%llu, after %llu us", b, pt.first_tick, tick0, us);
			break;
		}
		lwkt_wait_ipiq(bgd, seq);
	}
	EXPECT_EQ(tried, cpumask_count(visit));
}

/* ---------------------------------------------------------------------
 * interlock_ratio: a thread on CPU s (not the test's CPU, so nothing
 * else there sends IPIs) streams IL_N messages to CPU t and counts its
 * own IPIs (gd_cnt_ipi_sent) and avoided IPIs (gd_cnt_ipiq_avoided).
 * Three streams:
 *   1. t idle, ipiq_optimized = 1: logged; every send signalled or was
 *      avoided, and at most one IPI per message;
 *   2. t idle, ipiq_optimized = 0: exactly one IPI per message;
 *   3. t busy, ipiq_optimized = 1: in IL_N / IL_BURST rounds, a thread on
 *      t enters a critical section, the sender sends a burst of IL_BURST
 *      messages, t leaves the section and drains them, the sender waits
 *      for that; exactly one IPI per burst (the first message finds t
 *      drained, the others find it signalled), so at most one IPI per
 *      IL_MAX_RATIO messages.
 * The streams keep the FIFO at most half full (stream 1 and 2: serving
 * their own FIFOs while t catches up), so the kernel's FIFO-full wait,
 * which may signal by itself, never runs and every IPI is a send's.
 *
 * Why the ratio is asserted on stream 3: on an idle target what the
 * interlock saves depends on how fast the target reacts compared with
 * how fast the sender sends.  Under QEMU an IPI costs the sender more
 * than the target needs to take it, and under multi-threaded TCG the
 * host's scheduling of the vCPU threads decides: stream 1 gives 1/16
 * under single-threaded TCG but anywhere from 0.01 to 0.94 IPIs per
 * message under multi-threaded TCG on a busy 2-core host (the target
 * drains the FIFO dry whenever the sender's vCPU is descheduled, and the
 * next message must signal).  Stream 3 makes "the target has not drained
 * since it was signalled" happen by construction.  ipiq_optimized is
 * restored.
 */

#define IL_BURST	(FIFO_DEPTH / 2)
#define IL_ROUNDS	howmany(2000, IL_BURST)
#define IL_N		(IL_ROUNDS * IL_BURST)	/* 2,000 with 32-entry FIFOs */
#define IL_MAX_RATIO	4		/* optimized: IPIs <= messages / 4 */
#define IL_WAIT_US	(2000 * MS)

_Static_assert(IPIQ_FIFO_MIN / 2 >= IL_MAX_RATIO, "a burst must beat the ratio");

struct il_run {
	uint64_t	ipis;
	uint64_t	avoided;
	uint64_t	full;
	uint64_t	us;
	uint32_t	ran;
	uint32_t	sent;
};

static struct {
	int		target;
	volatile uint32_t ran;
	volatile uint32_t wrong_cpu;
	/* stream 3: the busy target and the lock step */
	volatile uint32_t round;	/* t is in the section of this round */
	volatile uint32_t sent;		/* the burst of this round is queued */
	volatile uint32_t stop;
	volatile uint32_t busy_exited;
	volatile uint32_t timeouts;
	volatile uint32_t ran_in_section;
	struct il_run	run[3];
} il;

static void
il_msg(void *arg __unused, int arg2 __unused, struct intrframe *f __unused)
{
	if (mycpuid != il.target)
		il.wrong_cpu++;
	il.ran++;
}

/* Busy-wait until *word == v (or il.stop); false after IL_WAIT_US. */
static bool
il_spin_eq(volatile uint32_t *word, uint32_t v)
{
	uint64_t t0 = cpu_ticks();

	while (*word != v && !il.stop) {
		if (ktest_us_since(t0) >= IL_WAIT_US) {
			atomic_add_int(&il.timeouts, 1);
			il.stop = 1;
			return false;
		}
		cpu_pause();
	}
	return !il.stop;
}

static void
il_busy(void *arg __unused)
{
	uint32_t k, ran0;
	bool ok;

	for (k = 1; k <= IL_ROUNDS && !il.stop; k++) {
		crit_enter();
		ran0 = il.ran;
		il.round = k;
		ok = il_spin_eq(&il.sent, k);
		if (il.ran != ran0)
			il.ran_in_section++;
		crit_exit();		/* runs the burst */
		if (!ok)
			break;
	}
	il.busy_exited = 1;
}

static void
il_one(struct il_run *r, bool optimized, bool busy)
{
	struct globaldata *gd = mycpu, *tgd = globaldata_find(il.target);
	struct lwkt_ipiq *ip = &gd->gd_ipiq[il.target];
	uint64_t sent0, av0, full0, t0;
	uint32_t seq = 0, ran0, k;
	int i;

	ipiq_optimized = optimized;
	lwkt_wait_ipiq(tgd, lwkt_seq_ipiq(tgd));
	ran0 = il.ran;
	sent0 = gd->gd_cnt_ipi_sent;
	av0 = gd->gd_cnt_ipiq_avoided;
	full0 = gd->gd_cnt_ipiq_fifofull;
	t0 = cpu_ticks();
	if (!busy) {
		for (i = 0; i < (int)IL_N; i++) {
			while (ip->ip_windex - ip->ip_rindex >= FIFO_DEPTH / 2) {
				lwkt_process_ipiq();
				cpu_pause();
			}
			seq = lwkt_send_ipiq(tgd, il_msg, NULL);
			r->sent++;
		}
	} else {
		for (k = 1; k <= IL_ROUNDS; k++) {
			if (!il_spin_eq(&il.round, k))
				break;
			for (i = 0; i < (int)IL_BURST; i++) {
				seq = lwkt_send_ipiq(tgd, il_msg, NULL);
				r->sent++;
			}
			il.sent = k;
			lwkt_wait_ipiq(tgd, seq);
		}
	}
	lwkt_wait_ipiq(tgd, seq);
	r->us = ktest_us_since(t0);
	r->ipis = gd->gd_cnt_ipi_sent - sent0;
	r->avoided = gd->gd_cnt_ipiq_avoided - av0;
	r->full = gd->gd_cnt_ipiq_fifofull - full0;
	r->ran = il.ran - ran0;
}

static void
il_stream(struct ktest_ctx *kt, void *arg __unused)
{
	bool saved = ipiq_optimized;

	il_one(&il.run[0], true, false);
	il_one(&il.run[1], false, false);
	if (lwkt_create(il_busy, NULL, NULL, NULL, 0, il.target,
	    "il_busy") != 0) {
		ktest_fail(kt, __FILE__, __LINE__, "no memory for il_busy");
		il.busy_exited = 1;
	} else {
		il_one(&il.run[2], true, true);
	}
	il.stop = 1;
	ipiq_optimized = saved;
}

static void
il_log(struct ktest_ctx *kt, const char *what, struct il_run *r)
{
	ktest_log(kt, "%s: %llu IPIs for %u messages (%llu.%03llu per "
	    "message, %llu avoided) in %llu ms", what, r->ipis, r->sent,
	    r->ipis / IL_N, r->ipis * 1000 / IL_N % 1000, r->avoided,
	    r->us / 1000);
}

KTEST(ipiq, interlock_ratio)
{
	struct il_run *r = il.run;
	bool saved = ipiq_optimized;
	int s, i;

	if (cpumask_count(smp_active_mask) < 2) {
		ktest_skip(kt, "needs two CPUs");
		return;
	}
	memset((void *)&il, 0, sizeof(il));
	s = ktest_next_cpu(mycpuid);
	il.target = ktest_next_cpu(s);	/* us if only two: blocked meanwhile */
	EXPECT_EQ(ktest_on_cpu(kt, s, il_stream, NULL), 1);
	il.stop = 1;
	EXPECT_TRUE(ktest_poll(&il.busy_exited, 1, 1000, 2 * IL_WAIT_US));
	EXPECT_EQ(ipiq_optimized, saved);
	ktest_log(kt, "cpu %d -> cpu %d", s, il.target);
	il_log(kt, "idle target, optimized", &r[0]);
	il_log(kt, "idle target, unoptimized", &r[1]);
	il_log(kt, "busy target, optimized", &r[2]);
	EXPECT_EQ(il.timeouts, 0);
	EXPECT_EQ(il.wrong_cpu, 0);
	for (i = 0; i < 3; i++) {
		EXPECT_EQ(r[i].sent, IL_ROUNDS * IL_BURST);
		EXPECT_EQ(r[i].ran, r[i].sent);
		EXPECT_EQ(r[i].full, 0);
		EXPECT_EQ(r[i].ipis + r[i].avoided, r[i].sent);
	}
	EXPECT_LE(r[0].ipis, r[0].sent);
	EXPECT_EQ(r[1].ipis, r[1].sent);
	EXPECT_EQ(r[1].avoided, 0);
	EXPECT_EQ(r[2].ipis, IL_ROUNDS);
	EXPECT_LE(r[2].ipis * IL_MAX_RATIO, r[2].sent);
	EXPECT_EQ(il.ran_in_section, 0);
}

/* ---------------------------------------------------------------------
 * remote_schedule_runs_there: every CPU a (at once) creates a thread on
 * the next CPU b that blocks (deschedule + switch in a critical section,
 * in a loop on a flag); once it is switched out, a sets the flag and
 * wakes it with lwkt_schedule() from a.  It wakes exactly once and runs
 * on b (mycpuid == b, td_gd == mycpu); the wakeup went to b as an IPIQ
 * message (b ran one more message at least).
 */

#define RS_WAIT_US	(5000 * MS)

static struct rs_slot {
	thread_t volatile td;
	volatile uint32_t ready;
	volatile uint32_t go;
	volatile uint32_t done;
	volatile uint32_t wakeups;
	volatile int	ran_cpu;
	volatile uint32_t gd_ok;
} rs[MAXCPU];

static void
rs_sleeper(void *arg)
{
	struct rs_slot *sl = arg;

	crit_enter();
	sl->ready = 1;
	while (!sl->go) {
		lwkt_deschedule_self();
		lwkt_switch();
		sl->wakeups++;
	}
	sl->ran_cpu = mycpuid;
	sl->gd_ok = curthread->td_gd == mycpu;
	crit_exit();
	sl->done = 1;
}

static void
rs_waker(struct ktest_ctx *kt, void *arg __unused)
{
	int a = mycpuid, b = ktest_next_cpu(a);
	struct rs_slot *sl = &rs[a];
	struct globaldata *bgd = globaldata_find(b);
	thread_t td;
	uint64_t t0, msgs0;

	ASSERT_EQ(lwkt_create(rs_sleeper, sl, &td, NULL, 0, b, "rs_%d_%d", a,
	    b), 0);
	sl->td = td;
	ASSERT_TRUE(ktest_poll(&sl->ready, 1, 100, RS_WAIT_US));
	/* Fully switched out (its flags are stable once it is). */
	t0 = cpu_ticks();
	while (td->td_flags & (TDF_RUNNING | TDF_RUNQ)) {
		ASSERT_LT(ktest_us_since(t0), RS_WAIT_US);
		lwkt_sleep_us(100);
	}
	EXPECT_EQ(sl->wakeups, 0);
	msgs0 = bgd->gd_cnt_ipiq_count;
	sl->go = 1;
	lwkt_schedule(td);
	ASSERT_TRUE(ktest_poll(&sl->done, 1, 100, RS_WAIT_US));
	EXPECT_EQ(sl->wakeups, 1);
	EXPECT_EQ(sl->ran_cpu, b);
	EXPECT_TRUE(sl->gd_ok);
	EXPECT_GT(bgd->gd_cnt_ipiq_count, msgs0);
}

KTEST(ipiq, remote_schedule_runs_there)
{
	if (cpumask_count(smp_active_mask) < 2) {
		ktest_skip(kt, "needs two CPUs");
		return;
	}
	memset((void *)rs, 0, sizeof(rs));
	EXPECT_EQ(ktest_on_each_cpu(kt, rs_waker, NULL),
	    cpumask_count(smp_active_mask));
}

/* ---------------------------------------------------------------------
 * pingpong_all_pairs: for every unordered pair of CPUs {i, j}, a thread
 * on i and one on j take turns, in waves: with the m online CPUs listed
 * c[0..m-1], distance d pairs c[x] with c[(x + d) % m], so a distance
 * puts two threads on every CPU and all distances 1..m/2 cover every
 * pair once; a wave runs PP_WAVE_DIST distances at once (at most
 * 2 * PP_WAVE_DIST threads per CPU: at -smp 8 all pairs in one wave, at
 * 83 CPUs all at once would not fit the thread memory of a CPU).  A move: the thread
 * whose turn it is sets `turn` to the other and wakes it with
 * lwkt_schedule(); the woken side re-checks `turn` in a loop (crit_enter;
 * while (turn != me) { deschedule; switch; } crit_exit).  A round is two
 * moves (i wakes j, j wakes i); pp.rounds rounds per pair.  A wait that
 * lasts PP_WAIT_US (a lost wakeup) ends the pair with a failure instead
 * of hanging.  Each side waits until its own wakeups have been delivered
 * (lwkt_wait_ipiq) and the other side is done before it exits, so no
 * wakeup ever reaches a dead thread.
 *
 * Volume: PP_ROUNDS (2,000) rounds per pair, as long as that keeps the
 * total at most PP_TOTAL; with more pairs the rounds per pair are
 * PP_TOTAL / pairs, never below PP_MIN_ROUNDS unless the pairs times
 * PP_MIN_ROUNDS exceed PP_BUDGET round trips, then PP_BUDGET / pairs, at
 * least PP_FLOOR: -smp 2 and 4: 2,000; -smp 6 (15 pairs): 1,333; -smp 8
 * (28 pairs): 714; -smp 32 (496 pairs): 500; -smp 255: 8.  Every round is two
 * remote wakeups, and most of them find the woken side blocked (logged),
 * so each pair runs the deschedule/wakeup race hundreds of times.
 */

#define PP_ROUNDS	2000
#define PP_TOTAL	20000
#define PP_MIN_ROUNDS	500
#define PP_BUDGET	250000		/* round trips, many CPUs */
#define PP_FLOOR	8
#define PP_WAVE_DIST	8		/* distances per wave */
#define PP_WAIT_US	(5000 * MS)
#define PP_MAXPAIRS	(MAXCPU * (MAXCPU - 1) / 2)

struct pp_pair {
	thread_t	td[2];
	int		cpu[2];
	int		dist;		/* index distance: its wave */
	volatile uint32_t turn;
	volatile uint32_t moves;
	volatile uint32_t abort;
	volatile uint32_t finished[2];
	volatile uint32_t timeouts[2];
	volatile uint32_t wrong_cpu[2];
	volatile uint32_t blocked[2];	/* waits that had to block */
};

struct pp_side {
	struct pp_pair	*p;
	int		side;
};

/* pair[] and side[] have room for the CPUs that exist (as a2a's rows). */
static struct {
	struct pp_pair	*pair;
	struct pp_side	(*side)[2];
	uint32_t	rounds;
	volatile uint32_t finished;
} pp;
static struct pp_pair *pp_pairs;
static struct pp_side (*pp_sides)[2];
static int *pp_cpus;			/* the online CPUs, in order */

static void
pp_timeout(struct systimer *st __unused, void *td)
{
	lwkt_schedule(td);
}

/* Block until it is our turn; false on abort or after PP_WAIT_US. */
static bool
pp_wait_turn(struct pp_pair *p, int me)
{
	struct systimer st = { .st_queued = false };
	bool armed = false, ok;

	crit_enter();
	while (p->turn != (uint32_t)me && !p->abort) {
		if (!armed) {
			systimer_init_oneshot(&st, pp_timeout, curthread,
			    PP_WAIT_US);
			armed = true;
			p->blocked[me]++;
		} else if (!st.st_queued) {
			break;
		}
		lwkt_deschedule_self();
		lwkt_switch();
	}
	if (armed)
		systimer_del(&st);
	ok = p->turn == (uint32_t)me && !p->abort;
	crit_exit();
	return ok;
}

static void
pp_thread(void *arg)
{
	struct pp_side *ps = arg;
	struct pp_pair *p = ps->p;
	int me = ps->side, other = 1 - me;
	struct globaldata *ogd = globaldata_find(p->cpu[other]);
	uint32_t r, n = pp.rounds + (me == 0);	/* 0 also takes the last turn */

	for (r = 0; r < n; r++) {
		if (!pp_wait_turn(p, me)) {
			if (!p->abort) {
				p->timeouts[me]++;
				p->abort = 1;
				lwkt_schedule(p->td[other]);
			}
			break;
		}
		if (mycpuid != p->cpu[me] || curthread->td_gd != mycpu)
			p->wrong_cpu[me]++;
		if (r == pp.rounds)
			break;			/* side 0: the final turn */
		p->moves++;
		p->turn = other;
		lwkt_schedule(p->td[other]);
	}
	/* Our wakeups are delivered; then wait for the other side to stop. */
	lwkt_wait_ipiq(ogd, lwkt_seq_ipiq(ogd));
	p->finished[me] = 1;
	ktest_poll(&p->finished[other], 1, 1000, 2 * PP_WAIT_US);
	atomic_add_int(&pp.finished, 1);
}

KTEST(ipiq, pingpong_all_pairs)
{
	struct pp_pair *p;
	uint64_t t0, us, moves = 0;
	uint32_t blocked = 0;
	int i, k, x, d, m = 0, np = 0, bad = 0, wave0, *c;
	bool ok = true;

	if (cpumask_count(smp_active_mask) < 2) {
		ktest_skip(kt, "needs two CPUs");
		return;
	}
	k = ncpus * (ncpus - 1) / 2;
	KKASSERT(k <= PP_MAXPAIRS);
	if (pp_pairs == NULL) {
		pp_pairs = kmalloc(k * sizeof(*pp_pairs));
		pp_sides = kmalloc(k * sizeof(*pp_sides));
		pp_cpus = kmalloc(ncpus * sizeof(*pp_cpus));
	}
	ASSERT_PTR_NE(pp_pairs, NULL);
	ASSERT_PTR_NE(pp_sides, NULL);
	ASSERT_PTR_NE(pp_cpus, NULL);
	memset((void *)&pp, 0, sizeof(pp));
	memset(pp_pairs, 0, k * sizeof(*pp_pairs));
	memset(pp_sides, 0, k * sizeof(*pp_sides));
	pp.pair = pp_pairs;
	pp.side = pp_sides;
	c = pp_cpus;
	CPUMASK_FOREACH(i, smp_active_mask)
		c[m++] = i;
	for (d = 1; 2 * d <= m; d++)
		for (x = 0; x < m; x++) {
			if (2 * d == m && x >= d)
				break;		/* the pairs at m/2 once each */
			p = &pp.pair[np++];
			p->cpu[0] = c[x];
			p->cpu[1] = c[(x + d) % m];
			p->dist = d;
		}
	ASSERT_EQ(np, m * (m - 1) / 2);
	pp.rounds = PP_ROUNDS;
	if (pp.rounds * np > PP_TOTAL)
		pp.rounds = PP_TOTAL / np;
	if (pp.rounds < PP_MIN_ROUNDS)
		pp.rounds = MIN(PP_MIN_ROUNDS, MAX(PP_FLOOR, PP_BUDGET / np));
	for (k = 0; k < np; k++)
		for (i = 0; i < 2; i++) {
			pp.side[k][i].p = &pp.pair[k];
			pp.side[k][i].side = i;
		}
	t0 = cpu_ticks();
	for (d = 1, k = 0; k < np && ok; d += PP_WAVE_DIST) {
		wave0 = k;
		while (k < np && pp.pair[k].dist < d + PP_WAVE_DIST)
			k++;
		for (x = wave0; x < k; x++) {
			p = &pp.pair[x];
			for (i = 0; i < 2; i++)
				ASSERT_EQ(lwkt_create(pp_thread, &pp.side[x][i],
				    &p->td[i], NULL, TDF_STOPREQ, p->cpu[i],
				    "pp_%d_%d", p->cpu[i], p->cpu[1 - i]), 0);
		}
		for (x = wave0; x < k; x++)
			for (i = 0; i < 2; i++)
				lwkt_schedule(pp.pair[x].td[i]);
		ok = ktest_poll(&pp.finished, 2 * k, 1000,
		    4 * PP_WAIT_US + 10000 * MS);
	}
	us = ktest_us_since(t0);
	ASSERT_TRUE(ok);
	for (k = 0; k < np; k++) {
		p = &pp.pair[k];
		moves += p->moves;
		blocked += p->blocked[0] + p->blocked[1];
		if (p->moves != 2 * pp.rounds || p->timeouts[0] ||
		    p->timeouts[1] || p->wrong_cpu[0] || p->wrong_cpu[1]) {
			if (bad++ < 8)
				ktest_fail(kt, __FILE__, __LINE__, "pair %d<->%d: "
				    "%u of %u moves, timeouts %u/%u, on a wrong "
				    "CPU %u/%u (turn %u)", p->cpu[0], p->cpu[1],
				    p->moves, 2 * pp.rounds, p->timeouts[0],
				    p->timeouts[1], p->wrong_cpu[0],
				    p->wrong_cpu[1], p->turn);
		}
	}
	EXPECT_EQ(bad, 0);
	ktest_log(kt, "%d pairs x %u rounds (%llu wakeups, %u of them to a "
	    "blocked thread) in %llu ms, %llu us per round trip", np,
	    pp.rounds, moves, blocked, us / 1000,
	    moves ? us * 2 / moves : 0);
}

/* ---------------------------------------------------------------------
 * pending_race_exactly_once: the pending mask (kern/lwkt_ipiq.c) is
 * cleared by the target before it drains, and a source sets its bit only
 * when it turns ip_npoll from 0 to 1 (or sends passively).  Target t (the
 * first online CPU) runs a thread that drains without pause, so its clears
 * race the sources' publishes; every other CPU sends PR_TOTAL / senders
 * tiny bursts (1 or 2 messages, every third burst passive), sequence
 * numbered, and after each burst waits until they ran (spinning, then
 * sleeping: at -smp 32 on 2 host cores spinning senders starve the
 * target's vCPU).  Each message runs
 * exactly once, on t, in order per source; each ran no later than t's
 * second tick after its burst was queued (t's gd_ticks read after the
 * sends; the tick drains the pending FIFOs, so a message whose FIFO lost
 * its bit while ip_npoll stayed 1 would wait forever, failing by name at
 * PR_HANG_US instead).
 */

#define PR_TOTAL	6000		/* bursts, shared by the senders */
#define PR_MIN		20		/* bursts per sender at least */
#define PR_SPIN_US	200		/* a sender spins this long, then sleeps */
#define PR_HANG_US	(5000 * MS)	/* a lost message: fail, not hang */
#define PR_TARGET_US	(60000 * MS)	/* the target's loop: fail, not hang */

static struct {
	int		target;
	int		nsend;
	uint32_t	rounds;
	volatile uint32_t senders_done;
	volatile uint32_t started;	/* threads in pr_on_cpu */
	volatile uint32_t *next;	/* [ncpus]: next sequence per source */
	volatile uint32_t *ran;		/* [ncpus]: messages run per source */
	volatile uint64_t *ran_tick;	/* [ncpus]: t's tick at the last run */
	volatile uint32_t ooo;
	volatile uint32_t wrong_cpu;
	volatile uint32_t late;
	volatile uint32_t late_logged;
	volatile uint32_t lost;
	volatile uint32_t drains;
} pr;
static volatile uint32_t *pr_rows;	/* 4 words per CPU, kept */

static void
pr_msg(void *arg, int seq, struct intrframe *f __unused)
{
	int src = (int)(uintptr_t)arg;

	if (mycpuid != pr.target)
		pr.wrong_cpu++;
	if ((uint32_t)seq != pr.next[src])
		pr.ooo++;
	pr.next[src] = (uint32_t)seq + 1;
	pr.ran_tick[src] = mycpu->gd_ticks;
	pr.ran[src]++;
}

static void
pr_on_cpu(struct ktest_ctx *kt, void *arg __unused)
{
	struct globaldata *tgd = globaldata_find(pr.target);
	int me = mycpuid, k, b;
	uint32_t r, sent = 0, rng = 0x9e3779b9u ^ (uint32_t)me;
	uint64_t t0, tick0;

	atomic_add_int(&pr.started, 1);
	if (me == pr.target) {
		/*
		 * Sleep until every thread has started: the test's own thread
		 * may be on this CPU still creating them, and a thread that
		 * spins keeps an equal-priority one from running here under
		 * untimely_switch=1 (an untimely switch does not requeue).
		 */
		EXPECT_TRUE(ktest_poll(&pr.started, pr.nsend + 1, 100,
		    PR_HANG_US));
		t0 = cpu_ticks();
		while (pr.senders_done < (uint32_t)pr.nsend &&
		    ktest_us_since(t0) < PR_TARGET_US) {
			lwkt_process_ipiq();
			pr.drains++;
			cpu_pause();
		}
		EXPECT_EQ(pr.senders_done, pr.nsend);
		return;
	}
	for (r = 0; r < pr.rounds && pr.lost == 0; r++) {
		b = 1 + (int)(xorshift(&rng) & 1);
		crit_enter();
		for (k = 0; k < b; k++) {
			if (r % 3 == 2)
				lwkt_send_ipiq3_passive(tgd, pr_msg,
				    (void *)(uintptr_t)me, (int)sent);
			else
				lwkt_send_ipiq3(tgd, pr_msg,
				    (void *)(uintptr_t)me, (int)sent);
			sent++;
		}
		tick0 = tgd->gd_ticks;
		crit_exit();
		t0 = cpu_ticks();
		while (pr.ran[me] < sent) {
			if (ktest_us_since(t0) > PR_SPIN_US)
				ktest_poll(&pr.ran[me], sent, 100, PR_HANG_US);
			if (pr.ran[me] < sent && ktest_us_since(t0) > PR_HANG_US) {
				atomic_add_int(&pr.lost, 1);
				ktest_log(kt, "cpu %d: burst %u (sequences to %u) "
				    "not run on cpu %d after %u ms: %u ran; t's "
				    "pending word %08x", me, r, sent - 1,
				    pr.target, PR_HANG_US / 1000, pr.ran[me],
				    tgd->gd_ipiq_pending.ary[me / 32]);
				break;
			}
			cpu_pause();
		}
		if (pr.ran[me] != sent || pr.ran_tick[me] <= tick0 + 2)
			continue;
		atomic_add_int(&pr.late, 1);
		if (atomic_cmpset_int(&pr.late_logged, 0, 1))
			ktest_log(kt, "cpu %d: burst %u ran at t's tick %llu, "
			    "queued by tick %llu", me, r, pr.ran_tick[me], tick0);
	}
	EXPECT_EQ(pr.lost, 0);
	EXPECT_EQ(pr.ran[me], sent);
	atomic_add_int(&pr.senders_done, 1);
}

KTEST(ipiq, pending_race_exactly_once)
{
	int n;

	if (cpumask_count(smp_active_mask) < 2) {
		ktest_skip(kt, "needs two CPUs");
		return;
	}
	if (pr_rows == NULL)
		pr_rows = kmalloc(4 * ncpus * sizeof(*pr_rows));
	ASSERT_PTR_NE((void *)pr_rows, NULL);
	memset((void *)pr_rows, 0, 4 * ncpus * sizeof(*pr_rows));
	memset((void *)&pr, 0, sizeof(pr));
	pr.target = cpumask_first(smp_active_mask);
	pr.nsend = cpumask_count(smp_active_mask) - 1;
	pr.rounds = MAX(PR_MIN, PR_TOTAL / pr.nsend);
	pr.ran_tick = (volatile uint64_t *)pr_rows;
	pr.next = pr_rows + 2 * ncpus;
	pr.ran = pr_rows + 3 * ncpus;
	n = ktest_on_each_cpu(kt, pr_on_cpu, NULL);
	EXPECT_EQ(n, pr.nsend + 1);
	ktest_log(kt, "%d senders x %u bursts to cpu %d; %u drain passes there",
	    pr.nsend, pr.rounds, pr.target, pr.drains);
	EXPECT_EQ(pr.ooo, 0);
	EXPECT_EQ(pr.wrong_cpu, 0);
	EXPECT_EQ(pr.late, 0);
	EXPECT_EQ(pr.lost, 0);
}
