/*
 * Suite "selftest" (continued from test_selftest.c): fault demonstrations
 * for critical sections and thread stacks.  They are KT_MANUAL (never in
 * the default set): each ends the run with a panic, which the boot matrix
 * (scripts/runner.py) selects and checks.
 *   - crit_negative: crit_exit() without a crit_enter() makes the count
 *     negative: crit_panic() must panic ("... went negative");
 *   - stack_overflow: a thread that recurses with large frames runs off
 *     its 16 KiB stack into the unmapped guard page below it; the
 *     double-fault handler must report a stack overflow naming the thread
 *     ("stack_hog") and its CPU (1, or 0 if alone) instead of the machine
 *     resetting.
 */
#include <sys/param.h>
#include <sys/systm.h>
#include <sys/globaldata.h>
#include <sys/ktest.h>
#include <sys/systimer.h>
#include <sys/thread2.h>

KTEST_FLAGS(selftest, crit_negative, KT_MANUAL)
{
	ktest_log(kt, "crit_exit() at depth %d", curthread->td_critcount);
	crit_exit();
	ktest_fail(kt, __FILE__, __LINE__,
	    "crit_exit() below zero did not panic (depth now %d)",
	    curthread->td_critcount);
}

/*
 * Each level keeps a 512-byte array live across the recursive call and
 * writes one byte of every 64 (so every page it covers is touched), and
 * uses the callee's result: the compiler can neither drop the array nor
 * turn the recursion into a loop.  512 bytes < one page, so the stack
 * pointer cannot step over the guard page.
 */
#define SO_FRAME	512

static volatile uint32_t so_depth;

static __noinline uint32_t
so_recurse(volatile uint8_t *up, uint32_t depth)
{
	volatile uint8_t frame[SO_FRAME];
	uint32_t i;

	so_depth = depth;
	for (i = SO_FRAME; i > 0; i -= 64)
		frame[i - 1] = (uint8_t)(depth + i);
	frame[0] = up != NULL ? up[SO_FRAME - 1] : 0;
	if (depth >= 1000000)		/* never: 16 KiB hold ~30 levels */
		return frame[0];
	return so_recurse(frame, depth + 1) + frame[depth % SO_FRAME];
}

static void
so_thread(void *arg __unused)
{
	kprintf("selftest: thread \"%s\" on cpu %d recurses with %d-byte "
	    "frames into its guard page\n", curthread->td_comm, mycpuid,
	    SO_FRAME);
	so_recurse(NULL, 0);
}

KTEST_FLAGS(selftest, stack_overflow, KT_MANUAL)
{
	int cpu = CPUMASK_TESTBIT(smp_active_mask, 1) ? 1 : 0, i;

	ASSERT_EQ(lwkt_create(so_thread, NULL, NULL, NULL, 0, cpu,
	    "stack_hog"), 0);
	/* The run should end in the double-fault handler; bounded wait. */
	for (i = 0; i < 50; i++)
		lwkt_sleep_us(100000);
	ktest_fail(kt, __FILE__, __LINE__, "thread \"stack_hog\" on cpu %d "
	    "reached depth %u without a stack overflow report", cpu, so_depth);
}
