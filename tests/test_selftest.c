/*
 * Suite "selftest": fault demonstrations that end the run with a panic.
 * They are KT_MANUAL (never in the default set); `make test` boots them
 * on purpose and checks the report (scripts/runner.py, boot "panic-ap").
 */
#include <sys/param.h>
#include <sys/systm.h>
#include <sys/globaldata.h>
#include <sys/ktest.h>

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
