/*
 * Systimers (sys/systimer.h): per-CPU queues of one-shot and periodic
 * callbacks sorted by TSC deadline.  Only the owning CPU touches its queue,
 * inside a critical section (or with interrupts disabled in the timer
 * interrupt).  After every change the hardware timer is re-armed for the
 * earliest deadline (cpu_timer_reload).  Also lwkt_sleep_us(), the simplest
 * timed block built on them.
 */
#include <sys/param.h>
#include <sys/systm.h>
#include <sys/chaos.h>
#include <sys/globaldata.h>
#include <sys/systimer.h>
#include <sys/thread2.h>
#include <machine/cpu.h>
#include <machine/cpufunc.h>

uint32_t hz = 100;

static void
systimer_rearm(struct globaldata *gd)
{
	struct systimer *st = TAILQ_FIRST(&gd->gd_systimerq);
	uint64_t now;

	if (st == NULL || !cpu_timer_ready())
		return;
	now = cpu_ticks();
	cpu_timer_reload((st->st_time > now ? st->st_time - now : 1) +
	    CHAOS_JITTER(CHAOS_TIMER));
}

/* Insert sorted by deadline (FIFO among equal deadlines). */
static void
systimer_insert(struct globaldata *gd, struct systimer *st)
{
	struct systimer *it;

	TAILQ_FOREACH(it, &gd->gd_systimerq, st_link) {
		if (it->st_time > st->st_time) {
			TAILQ_INSERT_BEFORE(it, st, st_link);
			st->st_queued = true;
			return;
		}
	}
	TAILQ_INSERT_TAIL(&gd->gd_systimerq, st, st_link);
	st->st_queued = true;
}

static void
systimer_arm(struct systimer *st, systimer_func_t *func, void *data,
    uint32_t us, bool periodic)
{
	struct globaldata *gd = mycpu;
	uint64_t ticks = cpu_tsc_hz * us / 1000000;

	crit_enter();
	if (st->st_queued)
		systimer_del(st);
	st->st_func = func;
	st->st_data = data;
	st->st_gd = gd;
	st->st_period = periodic ? (ticks == 0 ? 1 : ticks) : 0;
	st->st_time = cpu_ticks() + ticks;
	st->st_fired = 0;
	systimer_insert(gd, st);
	systimer_rearm(gd);
	crit_exit();
}

void
systimer_init_periodic(struct systimer *st, systimer_func_t *func, void *data,
    uint32_t us)
{
	systimer_arm(st, func, data, us, true);
}

void
systimer_init_oneshot(struct systimer *st, systimer_func_t *func, void *data,
    uint32_t us)
{
	systimer_arm(st, func, data, us, false);
}

void
systimer_del(struct systimer *st)
{
	struct globaldata *gd = mycpu;

	crit_enter();
	if (st->st_queued) {
		KASSERT(st->st_gd == gd, ("systimer_del: timer %p of cpu %d "
		    "removed on cpu %d", st, st->st_gd->gd_cpuid, gd->gd_cpuid));
		TAILQ_REMOVE(&gd->gd_systimerq, st, st_link);
		st->st_queued = false;
	}
	crit_exit();
}

/*
 * Run every timer that is due.  A periodic timer is re-queued one period
 * after its previous deadline (not after `now`), so it fires the right
 * number of times over a window even when an interrupt was late.
 */
void
systimer_intr(void)
{
	struct globaldata *gd = mycpu;
	struct systimer *st;
	uint64_t now = cpu_ticks();

	while ((st = TAILQ_FIRST(&gd->gd_systimerq)) != NULL &&
	    st->st_time <= now) {
		TAILQ_REMOVE(&gd->gd_systimerq, st, st_link);
		st->st_queued = false;
		if (st->st_period != 0) {
			st->st_time += st->st_period;
			systimer_insert(gd, st);
		}
		st->st_fired++;
		st->st_func(st, st->st_data);
		now = cpu_ticks();
	}
	systimer_rearm(gd);
}

void
systimer_init_cpu(void)
{
	TAILQ_INIT(&mycpu->gd_systimerq);
}

static void
sleep_wakeup(struct systimer *st __unused, void *data)
{
	lwkt_schedule(data);
}

/* Block the current thread for at least `us` microseconds (thread context). */
void
lwkt_sleep_us(uint32_t us)
{
	struct systimer st = { .st_queued = false };
	thread_t td = curthread;

	crit_enter();
	systimer_init_oneshot(&st, sleep_wakeup, td, us);
	while (st.st_queued) {
		lwkt_deschedule_self();
		lwkt_switch();
	}
	crit_exit();
}
