/*
 * The hard clock and the soft clock of each CPU.  hardclock() is a periodic
 * systimer at `hz`: it counts the tick, requests an LWKT reschedule (round-
 * robin among equal priorities), picks up passive IPIQ messages (unless
 * ipiq.passive=0, kern/lwkt_ipiq.c) and schedules the CPU's softclock
 * thread.  softclock is an interrupt-like thread (TDPRI_SOFT_TIMER,
 * preemptable): it preempts whatever ordinary thread was interrupted,
 * runs the callouts that are due, and blocks, which hands the CPU straight
 * back.  Everything is per CPU; callouts are touched only by their CPU
 * inside a critical section.
 */
#include <sys/param.h>
#include <sys/systm.h>
#include <sys/globaldata.h>
#include <sys/callout.h>
#include <sys/ipiq.h>
#include <sys/kopts.h>
#include <sys/systimer.h>
#include <sys/thread2.h>
#include <machine/cpu.h>

/* Timer interrupt (or deferred path): interrupts disabled, this CPU only. */
static void
hardclock(struct systimer *st __unused, void *data __unused)
{
	struct globaldata *gd = mycpu;
	thread_t td = gd->gd_curthread;

	gd->gd_ticks++;
	need_lwkt_resched();
	if (kopts.ko_ipiq_passive) {
		crit_enter_quick(td);
		lwkt_process_ipiq();	/* passive messages ride on the tick */
		crit_exit_noyield(td);
	}
	if (gd->gd_softclock != NULL)
		lwkt_schedule(gd->gd_softclock);
}

static void
softclock_thread(void *arg __unused)
{
	struct globaldata *gd = mycpu;
	struct callout *c;
	void (*func)(void *);
	void *carg;

	for (;;) {
		crit_enter();
		gd->gd_softclock_runs++;
		while ((c = TAILQ_FIRST(&gd->gd_callouts)) != NULL &&
		    c->c_time <= gd->gd_ticks) {
			TAILQ_REMOVE(&gd->gd_callouts, c, c_link);
			c->c_pending = false;
			func = c->c_func;
			carg = c->c_arg;
			crit_exit();
			func(carg);
			crit_enter();
		}
		lwkt_deschedule_self();
		lwkt_switch();
		crit_exit();
	}
}

void
callout_init(struct callout *c)
{
	memset(c, 0, sizeof(*c));
}

void
callout_reset(struct callout *c, uint32_t ticks, void (*func)(void *),
    void *arg)
{
	struct globaldata *gd = mycpu;
	struct callout *it;

	crit_enter();
	if (c->c_pending)
		callout_stop(c);
	c->c_func = func;
	c->c_arg = arg;
	c->c_gd = gd;
	c->c_time = gd->gd_ticks + (ticks == 0 ? 1 : ticks);
	c->c_pending = true;
	TAILQ_FOREACH(it, &gd->gd_callouts, c_link) {
		if (it->c_time > c->c_time) {
			TAILQ_INSERT_BEFORE(it, c, c_link);
			crit_exit();
			return;
		}
	}
	TAILQ_INSERT_TAIL(&gd->gd_callouts, c, c_link);
	crit_exit();
}

void
callout_stop(struct callout *c)
{
	crit_enter();
	if (c->c_pending) {
		KASSERT(c->c_gd == mycpu, ("callout_stop: callout of cpu %d "
		    "stopped on cpu %d", c->c_gd->gd_cpuid, mycpuid));
		TAILQ_REMOVE(&c->c_gd->gd_callouts, c, c_link);
		c->c_pending = false;
	}
	crit_exit();
}

bool
callout_pending(const struct callout *c)
{
	return c->c_pending;
}

/* Each CPU for itself, in thread context, once its timer works. */
void
clock_start_cpu(void)
{
	struct globaldata *gd = mycpu;
	thread_t td;

	TAILQ_INIT(&gd->gd_callouts);
	if (lwkt_create(softclock_thread, NULL, &td, NULL, TDF_STOPREQ,
	    gd->gd_cpuid, "softclock_%d", gd->gd_cpuid) != 0)
		panic("clock: no memory for the softclock thread of cpu %d",
		    gd->gd_cpuid);
	td->td_pri = TDPRI_SOFT_TIMER;
	td->td_preemptable = lwkt_preempt;
	gd->gd_softclock = td;
	systimer_init_periodic(&gd->gd_hardclock, hardclock, NULL,
	    1000000 / hz);
}
