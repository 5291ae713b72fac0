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

static void
fault_here(struct ktest_ctx *kt, void *arg)
{
	volatile uint32_t *bad = arg;

	ktest_log(kt, "cpu %d writes to %p", mycpuid, (void *)bad);
	*bad = 0xDEAD;
	ktest_fail(kt, __FILE__, __LINE__, "write to %p did not fault",
	    (void *)bad);
}

/* A page fault on an application processor (CPU 1; CPU 0 if alone). */
KTEST_FLAGS(selftest, panic_ap_fault, KT_MANUAL)
{
	int cpu = CPUMASK_TEST(smp_active_mask, 1) ? 1 : 0;

	ktest_on_cpu(kt, cpu, fault_here, (void *)0x10);
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
