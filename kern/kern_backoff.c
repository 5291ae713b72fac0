/*
 * Back-off for waits that may last (sys/backoff.h).  Owns no state: the
 * pass counter belongs to the caller's loop, and everything else is the
 * calling CPU's own timer and interrupt flag.
 *
 * Why halt: a vCPU that spins costs its host a core (thread=multi), and
 * under -icount every pause ends the vCPU's turn, so a long spin costs
 * host time that grows with the number of CPUs.  A spinning wait polls
 * BACKOFF_SPINS times, then halts until the next interrupt, with a
 * one-shot timer BACKOFF_US from now as the wake-up: what it waits for
 * is usually another CPU's store, which sends no interrupt, so the halt
 * is a bounded back-off, not a sleep; an interrupt (an IPI, our timer)
 * ends it sooner.
 *
 * The timer: in a critical section the interrupt is only recorded
 * (RQF_TIMER) and the crit_exit() after the wait runs the systimers and
 * re-arms the timer for them; outside one the interrupt runs them and
 * re-arms at once.  Either way a systimer due before the one-shot runs
 * when it fires, at most BACKOFF_US late.  No halt without a one-shot
 * timer (the PIT's tick is too coarse) or with interrupts disabled (a
 * halt there would last until an NMI): only the pause.
 */
#include <sys/param.h>
#include <sys/systm.h>
#include <sys/backoff.h>
#include <sys/globaldata.h>
#include <sys/ipiq.h>
#include <machine/cpu.h>
#include <machine/cpufunc.h>

void
backoff_pass(uint32_t *spins, int flags)
{
	struct globaldata *gd = mycpu;
	uint32_t ef;

	cpu_pause();
	if (++*spins < BACKOFF_SPINS)
		return;
	*spins = 0;
	ef = read_eflags();
	if ((ef & PSL_I) == 0 || !cpu_timer_ready() ||
	    cpu_timer_resolution_us() != 0)
		return;
	cpu_disable_intr();
	if ((flags & BACKOFF_IPIQ) == 0 || !lwkt_ipiq_work_pending(gd)) {
		cpu_timer_reload(cpu_tsc_hz / 1000000 * BACKOFF_US);
		cpu_idle_halt();
	}
	cpu_enable_intr();
}
