/*
 * Line-atomic console shared by all CPUs.  Each CPU builds its current line
 * in its own globaldata (gd_conbuf, touched only by that CPU with interrupts
 * disabled) and writes it out whole under the console lock, so lines from
 * different CPUs never interleave.  The lock records its owner: a CPU that
 * re-enters the console while holding it (an exception inside the console
 * path) writes straight through instead of deadlocking, and the panic path
 * can declare the lock broken once every other CPU is frozen.
 *
 * Every line written is counted for the CPU that wrote it (cons_lines):
 * the self-test runner prints the counts at the end of a run and the host
 * runner compares them with the lines it received, so a lost or merged
 * line is a failure.  Each CPU touches only its own counter.
 */
#include <sys/param.h>
#include <sys/systm.h>
#include <sys/globaldata.h>
#include <sys/cons.h>
#include <machine/atomic.h>
#include <machine/cpu.h>
#include <machine/cpufunc.h>

#define CONS_NOBODY	0xFFFFFFFFu

static volatile uint32_t cons_owner = CONS_NOBODY;
static volatile uint32_t cons_broken;
static volatile uint32_t cons_nlines[MAXCPU];

static void
cons_write_line(const char *s, size_t n)
{
	uint32_t me = (uint32_t)mycpuid;
	bool locked = false;

	if (!cons_broken && cons_owner != me) {
		while (!atomic_cmpset_int(&cons_owner, CONS_NOBODY, me)) {
			while (cons_owner != CONS_NOBODY && !cons_broken)
				cpu_pause();
			if (cons_broken)
				break;
		}
		locked = !cons_broken;
	}
	cpu_cons_write(s, n);
	cons_nlines[me]++;
	if (locked)
		atomic_store_rel_int(&cons_owner, CONS_NOBODY);
}

/* Caller has interrupts disabled (see sys/cons.h). */
void
cons_putc(int c)
{
	struct globaldata *gd = mycpu;

	if (c == '\r')
		return;
	gd->gd_conbuf[gd->gd_conlen++] = (char)c;
	if (c == '\n' || gd->gd_conlen == GD_CONBUF - 1) {
		if (c != '\n')
			gd->gd_conbuf[gd->gd_conlen++] = '\n';
		cons_write_line(gd->gd_conbuf, gd->gd_conlen);
		gd->gd_conlen = 0;
	}
}

void
cons_flush(void)
{
	uint32_t ef = intr_disable();

	if (mycpu->gd_conlen > 0)
		cons_putc('\n');
	intr_restore(ef);
}

uint32_t
cons_lines(int cpu)
{
	KKASSERT(cpu >= 0 && cpu < MAXCPU);
	return cons_nlines[cpu];
}

void
cons_break_lock(void)
{
	atomic_store_rel_int(&cons_broken, 1);
}
