/*
 * Suite "selftest": fault demonstrations that end the run with a panic.
 * They are KT_MANUAL (never in the default set); `make test` boots them
 * on purpose and checks the report (scripts/runner.py, boot "panic-ap").
 */
#include <sys/param.h>
#include <sys/systm.h>
#include <sys/globaldata.h>
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
	int cpu = CPUMASK_TEST(smp_active_mask, 1) ? 1 : 0;

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

	if (ncpus < 4 || smp_active_mask != 0xF) {
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
