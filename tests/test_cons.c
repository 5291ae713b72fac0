/*
 * Suite "cons": the console keeps lines whole when every CPU prints at
 * once.  The kernel cannot see its own serial output, so the host runner
 * checks the result: every boot forbids a malformed "# cons-check" line
 * (scripts/runner.py, DEFAULT_FORBID).  In-kernel, the test checks that
 * all lines were issued and that no CPU was left with a partial line.
 */
#include <sys/param.h>
#include <sys/systm.h>
#include <sys/globaldata.h>
#include <sys/ktest.h>
#include <machine/atomic.h>

#define CONS_LINES	40
#define CONS_WIDTH	40

static volatile uint32_t cons_lines_done;

static void
print_lines(struct ktest_ctx *kt, void *arg __unused)
{
	char fill[CONS_WIDTH + 1];
	int seq, i;

	memset(fill, 'a' + mycpuid % 26, CONS_WIDTH);
	fill[CONS_WIDTH] = '\0';
	for (seq = 0; seq < CONS_LINES; seq++) {
		/* Built from several kprintf calls on purpose. */
		kprintf("# cons-check cpu=%d seq=%d ", mycpuid, seq);
		for (i = 0; i < CONS_WIDTH; i += 10)
			kprintf("%.10s", fill + i);
		kprintf(" end\n");
		atomic_add_int(&cons_lines_done, 1);
	}
	EXPECT_EQ(mycpu->gd_conlen, 0);
}

KTEST(cons, lines_never_interleave)
{
	int ran;

	cons_lines_done = 0;
	ran = ktest_on_each_cpu(kt, print_lines, NULL);
	EXPECT_EQ(ran, cpumask_count(smp_active_mask));
	EXPECT_EQ(cons_lines_done, (uint32_t)ran * CONS_LINES);
}
