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
 * (wakeup_one stops at the first CPU that woke a thread).  The message
 * points to a record (struct wakeup_rec: ident, the CPUs still to visit)
 * from the waker's per-CPU pool; whoever runs the message owns it, and
 * the CPU that ends the chain gives it back.  A CPU clears
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
#include <machine/cpu.h>
#include <machine/cpufunc.h>

#define WAKEUP_RECS	TSLEEP_WAKEUP_RECS
#define WAKEUP_REC_WARN_US	1000000
#define WAKEUP_REC_PANIC_US	10000000

/*
 * One wakeup chain.  Taken by the waking CPU from its own pool (free bit
 * in gd_wakeup_free: only the home CPU clears one, in a critical
 * section; anyone sets one back with a locked instruction).  Owned by the
 * CPU running the chain's message; sending the message on hands it over,
 * so a CPU never touches it after that send.
 */
struct wakeup_rec {
	const volatile void *wr_ident;
	cpumask_t	wr_mask;	/* CPUs still to visit */
	struct globaldata *wr_home;	/* the pool it returns to */
	int		wr_index;	/* in wr_home->gd_wakeup_recs */
	bool		wr_one;		/* wakeup_one: stop at the first wake */
};
_Static_assert(WAKEUP_RECS <= 32, "gd_wakeup_free is one word");

static volatile cpumask_t tsleep_cpus[TSLEEP_HASH];
int mycpu_reload;			/* never written: see machine/thread.h */

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
	gd->gd_wakeup_recs = kzalloc(WAKEUP_RECS * sizeof(struct wakeup_rec));
	if (gd->gd_wakeup_recs == NULL)
		panic("tsleep: no memory for cpu %d's wakeup records",
		    gd->gd_cpuid);
	for (i = 0; i < WAKEUP_RECS; i++) {
		gd->gd_wakeup_recs[i].wr_home = gd;
		gd->gd_wakeup_recs[i].wr_index = i;
	}
	gd->gd_wakeup_free = WAKEUP_RECS == 32 ? ~0u : (1u << WAKEUP_RECS) - 1;
}

/*
 * A free record of this CPU's pool (critical section).  When every one is
 * in a chain still running, serve our own FIFOs until a chain ends (its
 * hops drain theirs; none waits for us).  Bounded: warns, then panics.
 */
static struct wakeup_rec *
wakeup_rec_get(struct globaldata *gd)
{
	uint64_t t0 = 0, us;
	uint32_t ef, free;
	bool warned = false;
	int i;

	if (__predict_false(gd->gd_wakeup_free == 0)) {
		ef = read_eflags();
		cpu_enable_intr();
		t0 = cpu_ticks();
		while (gd->gd_wakeup_free == 0) {
			lwkt_process_ipiq();
			cpu_pause();
			us = cpu_ticks_to_us(cpu_ticks() - t0);
			if (us > WAKEUP_REC_WARN_US && !warned) {
				warned = true;
				kprintf("wakeup: cpu %d still waits for one of "
				    "its %d chains to end\n", gd->gd_cpuid,
				    WAKEUP_RECS);
			}
			if (us > WAKEUP_REC_PANIC_US)
				panic("wakeup: cpu %d waited %u s for one of its "
				    "%d wakeup chains to end", gd->gd_cpuid,
				    WAKEUP_REC_PANIC_US / 1000000, WAKEUP_RECS);
		}
		if ((ef & PSL_I) == 0)
			cpu_disable_intr();
	}
	free = gd->gd_wakeup_free;
	i = __builtin_ctz(free);
	atomic_clear_int(&gd->gd_wakeup_free, 1u << i);
	return &gd->gd_wakeup_recs[i];
}

/* The chain of wr ends here: back to its home pool. */
static void
wakeup_rec_put(struct wakeup_rec *wr)
{
	KKASSERT((wr->wr_home->gd_wakeup_free & (1u << wr->wr_index)) == 0);
	atomic_set_int(&wr->wr_home->gd_wakeup_free, 1u << wr->wr_index);
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
	atomic_cpumask_setbit(&tsleep_cpus[h], gd->gd_cpuid);	/* full fence */
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
		atomic_cpumask_clrbit(&tsleep_cpus[h], gd->gd_cpuid);
	return woke;
}

static void wakeup_chain(void *arg, int arg2, struct intrframe *f);

/* Pass the chain of wr (owned here) to the next CPU to visit, or end it. */
static void
wakeup_forward(struct wakeup_rec *wr)
{
	int cpu;

	CPUMASK_ANDMASK(wr->wr_mask, smp_active_mask);
	CPUMASK_CLRBIT(wr->wr_mask, mycpuid);
	cpu = cpumask_first(wr->wr_mask);
	if (cpu < 0) {
		wakeup_rec_put(wr);
		return;
	}
	CPUMASK_CLRBIT(wr->wr_mask, cpu);
	lwkt_send_ipiq(globaldata_find(cpu), wakeup_chain, wr);
}

static void
wakeup_chain(void *arg, int arg2 __unused, struct intrframe *f __unused)
{
	struct wakeup_rec *wr = arg;

	if (wakeup_local(wr->wr_ident, wr->wr_one) && wr->wr_one)
		wakeup_rec_put(wr);
	else
		wakeup_forward(wr);
}

static void
wakeup_common(const volatile void *ident, bool one)
{
	struct globaldata *gd = mycpu;
	struct wakeup_rec *wr;
	cpumask_t mask;

	cpu_mfence();			/* the caller's condition before the mask */
	mask = tsleep_cpus[tsleep_slot(ident)];
	if (cpumask_empty(mask))
		return;
	crit_enter();
	if (CPUMASK_TESTBIT(mask, gd->gd_cpuid) && wakeup_local(ident, one) &&
	    one) {
		crit_exit();
		return;
	}
	CPUMASK_ANDMASK(mask, smp_active_mask);
	CPUMASK_CLRBIT(mask, gd->gd_cpuid);
	if (!cpumask_empty(mask)) {
		wr = wakeup_rec_get(gd);
		wr->wr_ident = ident;
		wr->wr_mask = mask;
		wr->wr_one = one;
		wakeup_forward(wr);
	}
	crit_exit();
}

cpumask_t
tsleep_slot_cpus(const volatile void *ident)
{
	return *(const cpumask_t *)&tsleep_cpus[tsleep_slot(ident)];
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
