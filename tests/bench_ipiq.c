/*
 * Suite "bench": IPIQ and cpusync costs (make bench).  Under -icount
 * shift=0 the TSC counts the instructions of every CPU, so each figure is
 * taken while the CPUs that should not take part are halted: the target
 * of a "sender cost" figure sleeps (messages are queued without waking
 * it), and a "receiver cost" figure is taken by the target while the
 * sender sleeps.  Round trips and cpusyncs count every CPU's instructions,
 * which is what they cost the machine.  Needs at least 2 CPUs; the
 * cpusync figures are printed for 2, 4 and 8 CPUs as far as are online.
 */
#include <sys/param.h>
#include <sys/systm.h>
#include <sys/globaldata.h>
#include <sys/cpusync.h>
#include <sys/ipiq.h>
#include <sys/ktest.h>
#include <sys/systimer.h>
#include <sys/thread2.h>
#include <machine/atomic.h>
#include <machine/cpu.h>
#include <machine/cpufunc.h>

#define ROUNDS		8
#define BURST		12		/* at most ipiq_fifo_half: never waits */
#define STREAM		10000
#define RTT_OPS		200
#define CPUSYNC_OPS	200

static void
nop_msg(void *arg __unused, int arg2 __unused, struct intrframe *f __unused)
{
}

static bool
need_two(struct ktest_ctx *kt)
{
	if (cpumask_count(smp_active_mask) < 2) {
		ktest_skip(kt, "needs 2 CPUs");
		return false;
	}
	return true;
}

/* A burst must never wait for room: the boot-time depth is small at many CPUs. */
static bool
burst_fits(struct ktest_ctx *kt)
{
	if (BURST > ipiq_fifo_half) {
		ktest_skip(kt, "the FIFO depth chosen at boot is below 2 x BURST");
		return false;
	}
	return true;
}

/*
 * Sender: queue BURST messages to CPU 1 while its FIFO is marked as
 * already signalled (ip_npoll set), so no IPI goes out and CPU 1 stays
 * halted; that is exactly the interlock's "IPI avoided" path.
 */
KTEST_FLAGS(bench, ipiq_send_no_ipi, KT_BENCH)
{
	struct globaldata *t;
	struct lwkt_ipiq *ip;
	uint64_t t0, best = UINT64_MAX, ipis;
	int r, i;

	if (!need_two(kt) || !burst_fits(kt))
		return;
	t = globaldata_find(1);
	ip = &mycpu->gd_ipiq[1];
	for (r = 0; r < ROUNDS; r++) {
		lwkt_sleep_us(2000);		/* CPU 1 drains and halts */
		crit_enter();
		ip->ip_npoll = 1;
		ipis = mycpu->gd_cnt_ipi_sent;
		t0 = cpu_ticks();
		for (i = 0; i < BURST; i++)
			lwkt_send_ipiq(t, nop_msg, NULL);
		t0 = cpu_ticks() - t0;
		EXPECT_EQ(mycpu->gd_cnt_ipi_sent, ipis);
		ip->ip_npoll = 0;
		crit_exit();
		lwkt_wait_ipiq(t, lwkt_send_ipiq(t, nop_msg, NULL));
		if (t0 < best)
			best = t0;
	}
	ktest_bench_report(kt, "ipiq_send_no_ipi", best, BURST,
	    "instructions/message", "note=interlock_avoided_path_target_halted");
}

static volatile uint64_t recv_cost;
static volatile uint32_t recv_state;		/* 0 armed, 1 measured, 2 discarded */

/*
 * On CPU 1: sleep while CPU 0 queues messages passively and goes to sleep
 * itself, then drain them with only this CPU running.  A round whose
 * messages were already taken by a hardclock tick is discarded.
 */
static void
recv_thread(void *arg __unused)
{
	struct globaldata *gd = mycpu;
	uint64_t t0, cost, empty, ran;

	lwkt_sleep_us(3000);
	crit_enter();
	ran = gd->gd_cnt_ipiq_count;
	t0 = cpu_ticks();
	lwkt_process_ipiq();
	cost = cpu_ticks() - t0;
	ran = gd->gd_cnt_ipiq_count - ran;
	t0 = cpu_ticks();
	lwkt_process_ipiq();			/* nothing queued: fixed cost */
	empty = cpu_ticks() - t0;
	crit_exit();
	recv_cost = cost - empty;
	recv_state = ran == BURST ? 1 : 2;
}

KTEST_FLAGS(bench, ipiq_receive, KT_BENCH)
{
	struct globaldata *t;
	uint64_t best = UINT64_MAX;
	int r, i, good = 0;

	if (!need_two(kt) || !burst_fits(kt))
		return;
	t = globaldata_find(1);
	for (r = 0; r < ROUNDS; r++) {
		recv_state = 0;
		ASSERT_EQ(lwkt_create(recv_thread, NULL, NULL, NULL, 0, 1,
		    "bench_recv"), 0);
		lwkt_sleep_us(1000);		/* it runs and goes to sleep */
		for (i = 0; i < BURST; i++)
			lwkt_send_ipiq_passive(t, nop_msg, NULL);
		for (i = 0; i < 100 && recv_state == 0; i++)
			lwkt_sleep_us(5000);
		ASSERT_NE(recv_state, 0);
		if (recv_state == 1) {
			good++;
			if (recv_cost < best)
				best = recv_cost;
		}
	}
	ASSERT_GT(good, 0);
	ktest_bench_report(kt, "ipiq_receive", best, BURST,
	    "instructions/message", "note=drain_of_queued_messages_by_target");
}

static volatile uint32_t rtt_done;

static void
rtt_msg(void *arg __unused, int arg2 __unused, struct intrframe *f __unused)
{
	rtt_done++;
}

/* Send to an idle CPU and wait until the function has returned there. */
KTEST_FLAGS(bench, ipiq_round_trip, KT_BENCH)
{
	struct globaldata *t;
	uint64_t t0, total;
	int i;

	if (!need_two(kt))
		return;
	t = globaldata_find(1);
	rtt_done = 0;
	lwkt_sleep_us(2000);
	crit_enter();
	t0 = cpu_ticks();
	for (i = 0; i < RTT_OPS; i++)
		lwkt_wait_ipiq(t, lwkt_send_ipiq(t, rtt_msg, NULL));
	total = cpu_ticks() - t0;
	crit_exit();
	EXPECT_EQ(rtt_done, RTT_OPS);
	ktest_bench_report(kt, "ipiq_send_wait_round_trip", total, RTT_OPS,
	    "instructions/round_trip", "note=all_cpus_counted_target_wakes_from_hlt");
}

/* IPIs per message for a stream, interlock on and off, side by side. */
KTEST_FLAGS(bench, ipiq_stream_ipis, KT_BENCH)
{
	struct globaldata *t;
	bool saved = ipiq_optimized;
	uint64_t ipis[2];
	uint32_t seq = 0;
	int mode, i;
	char extra[64];

	if (!need_two(kt))
		return;
	t = globaldata_find(1);
	for (mode = 1; mode >= 0; mode--) {
		ipiq_optimized = mode;
		lwkt_sleep_us(2000);
		ipis[mode] = mycpu->gd_cnt_ipi_sent;
		for (i = 0; i < STREAM; i++)
			seq = lwkt_send_ipiq(t, nop_msg, NULL);
		lwkt_wait_ipiq(t, seq);
		ipis[mode] = mycpu->gd_cnt_ipi_sent - ipis[mode];
	}
	ipiq_optimized = saved;
	EXPECT_EQ(ipis[0], STREAM);
	EXPECT_LE(ipis[1] * 16, STREAM);
	for (mode = 1; mode >= 0; mode--) {
		ksnprintf(extra, sizeof(extra), "ipiq_optimized=%d ipis=%llu",
		    mode, ipis[mode]);
		ktest_bench_report(kt, mode ? "ipiq_stream_ipis_per_msg_on" :
		    "ipiq_stream_ipis_per_msg_off", ipis[mode], STREAM,
		    "IPIs/message", extra);
	}
}

/*
 * IPIs per message for a stream to a busy target: messages go in pairs,
 * and the second of each pair arrives while the target is draining the
 * first (the target's handler for the first waits, bounded, until the
 * second is queued).  Each pair starts with the FIFO drained and its
 * ip_npoll clear, so its first message always signals.  Whether the second
 * finds the FIFO still marked as signalled depends only on when the
 * target clears ip_npoll: before draining (it signals again: 1 IPI per
 * message) or after (it does not: 1/2).  The FIFO never holds more than
 * two entries, so the FIFO-full path never signals.
 */
#define BUSY_MSGS	64		/* even */
#define BUSY_WAIT_US	2000000

static volatile uint32_t busy_queued;	/* messages the sender has queued */
static volatile uint32_t busy_started;	/* handlers that have begun */
static volatile uint32_t busy_timeouts;

/* Spin until *word >= v, at most BUSY_WAIT_US; counts a timeout. */
static void
busy_wait_ge(volatile uint32_t *word, uint32_t v)
{
	uint64_t t0 = cpu_ticks();

	while (*word < v) {
		if (ktest_us_since(t0) > BUSY_WAIT_US) {
			busy_timeouts++;
			return;
		}
		cpu_pause();
	}
}

static void
busy_msg(void *arg __unused, int k, struct intrframe *f __unused)
{
	busy_started++;
	if ((k & 1) == 0)
		busy_wait_ge(&busy_queued, (uint32_t)k + 2);
}

KTEST_FLAGS(bench, ipiq_stream_busy_target, KT_BENCH)
{
	struct globaldata *t;
	struct lwkt_ipiq *ip;
	uint64_t ipis, t0;
	uint32_t seq = 0;
	int k;
	char extra[64];

	if (!need_two(kt))
		return;
	t = globaldata_find(1);
	ip = &mycpu->gd_ipiq[1];
	busy_queued = busy_started = busy_timeouts = 0;
	lwkt_sleep_us(2000);
	ipis = mycpu->gd_cnt_ipi_sent;
	for (k = 0; k < BUSY_MSGS; k++) {
		if ((k & 1) == 0) {
			lwkt_wait_ipiq(t, seq);
			t0 = cpu_ticks();
			while (ip->ip_npoll != 0 &&
			    ktest_us_since(t0) < BUSY_WAIT_US)
				cpu_pause();
		} else {
			busy_wait_ge(&busy_started, (uint32_t)k);
		}
		seq = lwkt_send_ipiq2(t, busy_msg, NULL, k);
		busy_queued = k + 1;
	}
	lwkt_wait_ipiq(t, seq);
	ipis = mycpu->gd_cnt_ipi_sent - ipis;
	EXPECT_EQ(busy_started, BUSY_MSGS);
	EXPECT_EQ(busy_timeouts, 0);
	EXPECT_EQ(ipis, BUSY_MSGS / 2);	/* the second of a pair: no IPI */
	ksnprintf(extra, sizeof(extra), "ipis=%llu", ipis);
	ktest_bench_report(kt, "ipiq_stream_busy_target_ipis_per_msg", ipis,
	    BUSY_MSGS, "IPIs/message", extra);
}

static volatile uint64_t woke_tsc;
static volatile uint32_t woke_count;

static void
wakee_thread(void *arg __unused)
{
	for (;;) {
		crit_enter();
		lwkt_deschedule_self();
		lwkt_switch();
		crit_exit();
		woke_tsc = cpu_ticks();
		if (atomic_fetchadd_int(&woke_count, 1) + 1 == RTT_OPS)
			return;
	}
}

/* lwkt_schedule of a thread of another, idle CPU until it runs there. */
KTEST_FLAGS(bench, remote_schedule, KT_BENCH)
{
	thread_t td;
	uint64_t t0, total = 0;
	uint32_t n;
	int i, j;

	if (!need_two(kt))
		return;
	woke_count = 0;
	ASSERT_EQ(lwkt_create(wakee_thread, NULL, &td, NULL, 0, 1,
	    "bench_wakee"), 0);
	lwkt_sleep_us(2000);
	for (i = 0; i < RTT_OPS; i++) {
		n = woke_count;
		crit_enter();
		t0 = cpu_ticks();
		lwkt_schedule(td);
		crit_exit();
		for (j = 0; j < 1000 && woke_count == n; j++)
			lwkt_sleep_us(100);
		ASSERT_EQ(woke_count, n + 1);
		total += woke_tsc - t0;
		lwkt_sleep_us(500);		/* CPU 1 back to hlt */
	}
	ktest_bench_report(kt, "remote_lwkt_schedule", total, RTT_OPS,
	    "instructions/wakeup", "note=schedule_on_cpu0_to_thread_running_on_idle_cpu1");
}

static void
cpusync_nop(struct lwkt_cpusync *cs __unused)
{
}

static uint64_t
ipis_all(void)
{
	uint64_t n = 0;
	int cpu;

	for (cpu = 0; cpu < ncpus; cpu++)
		if (CPUMASK_TESTBIT(smp_active_mask, cpu))
			n += globaldata_find(cpu)->gd_cnt_ipi_sent;
	return n;
}

/* lwkt_cpusync_simple over the first 2, 4 and 8 CPUs. */
KTEST_FLAGS(bench, cpusync_simple, KT_BENCH)
{
	static const int sizes[] = { 2, 4, 8 };
	uint64_t t0, total, ipis;
	cpumask_t mask;
	char name[40], extra[80];
	size_t k;
	int i, measured = 0;

	for (k = 0; k < nitems(sizes); k++) {
		mask = cpumask_and(cpumask_range(sizes[k]), smp_active_mask);
		if (cpumask_count(mask) != sizes[k])
			continue;
		lwkt_sleep_us(2000);
		ipis = ipis_all();
		t0 = cpu_ticks();
		for (i = 0; i < CPUSYNC_OPS; i++)
			lwkt_cpusync_simple(mask, cpusync_nop, NULL);
		total = cpu_ticks() - t0;
		ipis = ipis_all() - ipis;
		EXPECT_LE(ipis, (uint64_t)(sizes[k] - 1) * CPUSYNC_OPS);
		ksnprintf(name, sizeof(name), "cpusync_simple_%dcpu", sizes[k]);
		ksnprintf(extra, sizeof(extra), "ipis_per_call=%llu.%02llu",
		    ipis / CPUSYNC_OPS, (ipis * 100 / CPUSYNC_OPS) % 100);
		ktest_bench_report(kt, name, total, CPUSYNC_OPS,
		    "instructions/call", extra);
		measured++;
	}
	if (measured == 0)
		ktest_skip(kt, "needs 2 CPUs");
}
