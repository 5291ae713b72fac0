/*
 * Suite "selftest": fault demonstrations that end the run with a panic.
 * They are KT_MANUAL (never in the default set); `make test` boots them
 * on purpose and checks the report (scripts/runner.py, boots "panic-ap",
 * "panic-busy", "panic-fifo-full", "panic-untimely", "ipiq-reply-storm").
 */
#include <sys/param.h>
#include <sys/systm.h>
#include <sys/globaldata.h>
#include <sys/ipiq.h>
#include <sys/ktest.h>
#include <sys/thread2.h>
#include <sys/systimer.h>
#include <machine/cpufunc.h>

/* The unmapped address the demos write to (page 0 is never mapped). */
static volatile uintptr_t fault_addr = 0x10;

static __noinline void
fault_here(struct ktest_ctx *kt, void *arg __unused)
{
	volatile uint32_t *bad = (volatile uint32_t *)fault_addr;

	ktest_log(kt, "cpu %d writes to %p", mycpuid, (void *)bad);
	*bad = 0xDEAD;
	ktest_fail(kt, __FILE__, __LINE__, "write to %p did not fault",
	    (void *)bad);
}

/* A page fault on an application processor (CPU 1; CPU 0 if alone). */
KTEST_FLAGS(selftest, panic_ap_fault, KT_MANUAL)
{
	int cpu = CPUMASK_TESTBIT(smp_active_mask, 1) ? 1 : 0;

	ktest_on_cpu(kt, cpu, fault_here, NULL);
}

/*
 * A panic whose own message faults: formatting %s from an unmapped address
 * page-faults inside panic(), which must end the run at once with one
 * "recursive panic" line instead of looping.
 */
KTEST_FLAGS(selftest, panic_recursive, KT_MANUAL)
{
	panic("this message faults: %s", (const char *)0x20);
}

static __noinline void
enter_elsewhere(void)
{
	crit_enter();
}

/*
 * A critical section entered in one function and left in another: the
 * DEBUG_CRIT_SECTIONS checker (make CRIT_DEBUG=1) must report both names
 * and panic.  Without the checker there is nothing to demonstrate.
 */
KTEST_FLAGS(selftest, crit_mismatch, KT_MANUAL)
{
#ifdef DEBUG_CRIT_SECTIONS
	enter_elsewhere();
	crit_exit();
	ktest_fail(kt, __FILE__, __LINE__, "mismatched crit_exit() went unnoticed");
#else
	(void)enter_elsewhere;
	ktest_skip(kt, "kernel built without DEBUG_CRIT_SECTIONS (make CRIT_DEBUG=1)");
#endif
}

/*
 * A test that blocks forever: the runner must fail it by name when
 * test.timeout expires, dump every CPU's threads and end the run.
 */
KTEST_FLAGS(selftest, hang_forever, KT_MANUAL)
{
	crit_enter();
	lwkt_deschedule_self();
	lwkt_switch();
	crit_exit();
	ktest_fail(kt, __FILE__, __LINE__, "a descheduled thread came back");
}

static volatile bool busy_go;

static void
busy_plain(void *arg __unused)
{
	while (busy_go)
		cpu_pause();
}

static void
busy_in_crit(void *arg __unused)
{
	crit_enter();
	while (busy_go)
		cpu_pause();
	crit_exit();
}

static void
fault_thread(void *arg)
{
	fault_here(arg, NULL);
}

/*
 * Stop the world while other CPUs are busy: CPU 1 faults while CPU 2 spins
 * in a thread (it must be held by the panic's cpusync, still serving IPIQ
 * messages) and CPU 3 spins inside a critical section (the IPIQ cannot
 * reach it, so it must be stopped by NMI).  Every thread is created before
 * CPU 3 starts spinning: creating one may need a cpusync (guard-page TLB
 * shootdown), which a CPU stuck in a critical section would never join.
 * Needs CPUs 0-3.
 */
KTEST_FLAGS(selftest, panic_busy, KT_MANUAL)
{
	thread_t faulter;

	if (ncpus < 4 || !cpumask_equal(smp_active_mask, cpumask_range(4))) {
		ktest_skip(kt, "needs exactly CPUs 0-3 online");
		return;
	}
	busy_go = true;
	ASSERT_EQ(lwkt_create(fault_thread, kt, &faulter, NULL, TDF_STOPREQ, 1,
	    "faulter"), 0);
	ASSERT_EQ(lwkt_create(busy_plain, NULL, NULL, NULL, 0, 2, "busy_2"), 0);
	ASSERT_EQ(lwkt_create(busy_in_crit, NULL, NULL, NULL, 0, 3, "busy_3"), 0);
	lwkt_sleep_us(20000);
	lwkt_schedule(faulter);
	lwkt_sleep_us(5000000);
	busy_go = false;
	ktest_fail(kt, __FILE__, __LINE__, "the fault on cpu 1 did not panic");
}

/*
 * panic_fifo_full: CPU 1 spins with interrupts off while CPU 0 fills its
 * FIFO toward CPU 1 with nowait sends until they are refused (2/3 full,
 * more than half), then panics.  The panic must not wait for room in that
 * FIFO (CPU 1 will never drain it): CPU 1 is stopped by NMI and the report
 * completes.  Other CPUs, if any, are held by the panic's cpusync.
 */
static volatile uint32_t cli_ready;

static void
cli_spin(void *arg __unused)
{
	crit_enter();
	cpu_disable_intr();
	cli_ready = 1;
	for (;;)
		cpu_pause();
}

static void
fifo_nop(void *arg __unused, int arg2 __unused, struct intrframe *f __unused)
{
}

KTEST_FLAGS(selftest, panic_fifo_full, KT_MANUAL)
{
	struct globaldata *t;
	struct lwkt_ipiq *ip;
	int i;

	if (mycpuid != 0 || !CPUMASK_TESTBIT(smp_active_mask, 1)) {
		ktest_skip(kt, "needs CPU 1 and the test on CPU 0");
		return;
	}
	t = globaldata_find(1);
	ASSERT_EQ(lwkt_create(cli_spin, NULL, NULL, NULL, 0, 1, "cli_1"), 0);
	ASSERT_TRUE(ktest_poll(&cli_ready, 1, 1000, 5000000));
	crit_enter();
	ip = &mycpu->gd_ipiq[1];
	for (i = 0; i < (int)ipiq_fifo_depth; i++)
		if (lwkt_send_ipiq_nowait(t, fifo_nop, NULL) != 0)
			break;
	ASSERT_GT(lwkt_ipiq_fill(ip), ipiq_fifo_half);
	panic("selftest: cpu 0 panics with its FIFO to cpu 1 %u/%u full and "
	    "cpu 1's interrupts off", lwkt_ipiq_fill(ip), ipiq_fifo_depth);
}

/*
 * panic_untimely: with untimely_switch=1 every outermost crit_exit() would
 * yield.  A sibling thread on the test's CPU spins, ready to run; the test
 * panics.  If the panicking CPU ever switched, the sibling would run while
 * panic_cpu names its CPU and print a "BUG:" line (the runner forbids it).
 */
extern volatile int panic_cpu;
static volatile uint32_t sibling_ran;

static void
sibling_spin(void *arg __unused)
{
	for (;;) {
		if (panic_cpu == mycpuid && sibling_ran++ == 0)
			kprintf("selftest: BUG: thread \"sibling\" ran on the "
			    "panicking cpu %d\n", mycpuid);
		cpu_pause();
	}
}

KTEST_FLAGS(selftest, panic_untimely, KT_MANUAL)
{
	ASSERT_EQ(lwkt_create(sibling_spin, NULL, NULL, NULL, 0, mycpuid,
	    "sibling"), 0);
	lwkt_yield();
	panic("selftest: cpu %d panics with thread \"sibling\" runnable",
	    mycpuid);
}

/*
 * ipiq_reply_storm: every message CPU 0 and CPU 1 exchange sends two back.
 * Both CPUs spin in threads (guarded stacks), so the messages run there;
 * the FIFOs stay over half full, so each send waits for room, draining,
 * which runs a message that sends again: the nesting grows without end.
 * The kernel must stop it by name ("ipiq: drain nesting ... exceeds")
 * before the stack overflows.
 */
static volatile uint32_t storm_go;

static void
storm_msg(void *arg __unused, int other, struct intrframe *f __unused)
{
	struct globaldata *o = globaldata_find(other);

	lwkt_send_ipiq2(o, storm_msg, NULL, mycpuid);
	lwkt_send_ipiq2(o, storm_msg, NULL, mycpuid);
}

static void
storm_spin(void *arg __unused)
{
	while (storm_go)
		cpu_pause();
}

KTEST_FLAGS(selftest, ipiq_reply_storm, KT_MANUAL)
{
	uint64_t t0;

	if (mycpuid != 0 || !CPUMASK_TESTBIT(smp_active_mask, 1)) {
		ktest_skip(kt, "needs CPU 1 and the test on CPU 0");
		return;
	}
	storm_go = 1;
	ASSERT_EQ(lwkt_create(storm_spin, NULL, NULL, NULL, 0, 1, "storm_1"),
	    0);
	lwkt_sleep_us(20000);
	lwkt_send_ipiq2(globaldata_find(1), storm_msg, NULL, 0);
	t0 = cpu_ticks();
	while (ktest_us_since(t0) < 5000000)
		cpu_pause();
	storm_go = 0;
	ktest_fail(kt, __FILE__, __LINE__, "the reply storm did not panic");
}
