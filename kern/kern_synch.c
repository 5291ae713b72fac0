/*
 * tsleep / wakeup (sys/tsleep.h, LWKT-SPEC §10).
 *
 * A sleeper links itself in its own CPU's hash slot (gd_tsleep_hash, owner
 * only, critical section) and sets its CPU's bit in the slot's global mask
 * tsleep_cpus[] with a locked instruction, before it tests its condition
 * (tsleep_interlock) or deschedules.  A waker stores its condition, fences,
 * then reads the mask: either it sees the sleeper's bit, or the sleeper
 * sees the new condition -- a wakeup is never lost.  The waker sends one
 * message to the first CPU of the mask; each CPU wakes its matching
 * sleepers and passes the message on to the next CPU of the mask
 * (wakeup_one stops at the first CPU that woke a thread).  A CPU clears
 * its own bit when it finds the slot empty; only that CPU ever sets or
 * clears it.  Timeouts are one-shot systimers on the sleeper's CPU.
 */
#include <sys/param.h>
#include <sys/systm.h>
#include <sys/globaldata.h>
#include <sys/ipiq.h>
#include <sys/malloc.h>
#include <sys/systimer.h>
#include <sys/thread2.h>
#include <sys/tsleep.h>
#include <machine/atomic.h>
#include <machine/cpufunc.h>

#define TSLEEP_HASH	64		/* power of two */

static volatile cpumask_t tsleep_cpus[TSLEEP_HASH];
int mycpu_reload;			/* never written: see machine/thread.h */

static inline uint32_t
tsleep_slot(const volatile void *ident)
{
	uint32_t h = (uint32_t)ident;

	h ^= h >> 11;
	h *= 0x9E3779B1u;
	return h >> (32 - 6);
}
_Static_assert(TSLEEP_HASH == 64, "tsleep_slot returns 6 bits");

void
tsleep_init_cpu(void)
{
	struct globaldata *gd = mycpu;
	int i;

	gd->gd_tsleep_hash = kmalloc(TSLEEP_HASH * sizeof(struct thread_list));
	if (gd->gd_tsleep_hash == NULL)
		panic("tsleep: no memory for cpu %d's hash", gd->gd_cpuid);
	for (i = 0; i < TSLEEP_HASH; i++)
		TAILQ_INIT(&gd->gd_tsleep_hash[i]);
}

/* Owner CPU, critical section: put td on its slot and publish the CPU bit. */
static void
tsleep_enqueue(thread_t td, const volatile void *ident)
{
	struct globaldata *gd = td->td_gd;
	uint32_t h = tsleep_slot(ident);

	if (td->td_flags & TDF_TSLEEPQ)
		TAILQ_REMOVE(&gd->gd_tsleep_hash[tsleep_slot(td->td_wchan)], td,
		    td_sleepq);
	td->td_wchan = ident;
	td->td_flags |= TDF_TSLEEPQ;
	TAILQ_INSERT_TAIL(&gd->gd_tsleep_hash[h], td, td_sleepq);
	atomic_set_int(&tsleep_cpus[h], gd->gd_cpumask);	/* full fence */
}

static void
tsleep_dequeue(thread_t td)
{
	struct globaldata *gd = td->td_gd;

	TAILQ_REMOVE(&gd->gd_tsleep_hash[tsleep_slot(td->td_wchan)], td,
	    td_sleepq);
	td->td_flags &= ~TDF_TSLEEPQ;
	td->td_wchan = NULL;
}

/* Take td (of this CPU) off its sleep queue if it is on one (lwkt_exit). */
void
tsleep_remove(thread_t td)
{
	crit_enter();
	if (td->td_flags & TDF_TSLEEPQ)
		tsleep_dequeue(td);
	crit_exit();
}

void
tsleep_interlock(const volatile void *ident)
{
	thread_t td = curthread;

	crit_enter_quick(td);
	tsleep_enqueue(td, ident);
	crit_exit_quick(td);
}

static void
tsleep_timeout(struct systimer *st __unused, void *data)
{
	thread_t td = data;

	if (td->td_flags & TDF_TSLEEPQ) {
		tsleep_dequeue(td);
		td->td_timedout = true;
		lwkt_schedule(td);
	}
}

/* Returns 0 when woken, EWOULDBLOCK when `timo` ticks passed first. */
int
tsleep(const volatile void *ident, int flags, const char *wmesg, int timo)
{
	thread_t td = curthread;
	struct systimer st = { .st_queued = false };
	int error;

	crit_enter_quick(td);
	if ((flags & PINTERLOCKED) == 0)
		tsleep_enqueue(td, ident);	/* else already queued, or woken */
	td->td_wmesg = wmesg;
	td->td_timedout = false;
	if (timo > 0 && (td->td_flags & TDF_TSLEEPQ))
		systimer_init_oneshot(&st, tsleep_timeout, td,
		    (uint32_t)((uint64_t)timo * 1000000 / hz));
	while (td->td_flags & TDF_TSLEEPQ) {
		lwkt_deschedule_self();
		lwkt_switch();
	}
	systimer_del(&st);
	error = td->td_timedout ? EWOULDBLOCK : 0;
	td->td_wmesg = NULL;
	crit_exit_quick(td);
	return error;
}

/* This CPU's part: wake sleepers on ident (one, or all); true if any woke. */
static bool
wakeup_local(const volatile void *ident, bool one)
{
	struct globaldata *gd = mycpu;
	uint32_t h = tsleep_slot(ident);
	thread_t td, tmp;
	bool woke = false;

	TAILQ_FOREACH_SAFE(td, &gd->gd_tsleep_hash[h], td_sleepq, tmp) {
		if (td->td_wchan != ident)
			continue;
		tsleep_dequeue(td);
		lwkt_schedule(td);
		woke = true;
		if (one)
			break;
	}
	if (TAILQ_EMPTY(&gd->gd_tsleep_hash[h]))
		atomic_clear_int(&tsleep_cpus[h], gd->gd_cpumask);
	return woke;
}

static void wakeup_chain(void *ident, int mask, struct intrframe *f);
static void wakeup_one_chain(void *ident, int mask, struct intrframe *f);

/* Pass the wakeup to the next CPU of `mask`, if any. */
static void
wakeup_forward(const volatile void *ident, cpumask_t mask, bool one)
{
	int cpu;

	mask &= smp_active_mask & ~mycpu->gd_cpumask;
	if (mask == 0)
		return;
	cpu = cpumask_first(mask);
	lwkt_send_ipiq2(globaldata_find(cpu), one ? wakeup_one_chain :
	    wakeup_chain, (void *)(uintptr_t)ident, (int)(mask & ~CPUMASK(cpu)));
}

static void
wakeup_chain(void *ident, int mask, struct intrframe *f __unused)
{
	wakeup_local(ident, false);
	wakeup_forward(ident, (cpumask_t)mask, false);
}

static void
wakeup_one_chain(void *ident, int mask, struct intrframe *f __unused)
{
	if (!wakeup_local(ident, true))
		wakeup_forward(ident, (cpumask_t)mask, true);
}

static void
wakeup_common(const volatile void *ident, bool one)
{
	struct globaldata *gd = mycpu;
	cpumask_t mask;

	cpu_mfence();			/* the caller's condition before the mask */
	mask = tsleep_cpus[tsleep_slot(ident)];
	if (mask == 0)
		return;
	crit_enter();
	if ((mask & gd->gd_cpumask) && wakeup_local(ident, one) && one) {
		crit_exit();
		return;
	}
	wakeup_forward(ident, mask, one);
	crit_exit();
}

void
wakeup(const volatile void *ident)
{
	wakeup_common(ident, false);
}

void
wakeup_one(const volatile void *ident)
{
	wakeup_common(ident, true);
}
