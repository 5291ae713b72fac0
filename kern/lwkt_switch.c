/*
 * The per-CPU LWKT scheduler (LWKT-SPEC §4-§6): run queues, lwkt_switch(),
 * scheduling and descheduling, yielding, priorities, preemption, the idle
 * loop and deferred work (lwkt_splz).  Everything here runs on the CPU that
 * owns the threads involved, inside a critical section; a request about
 * another CPU's thread is sent to that CPU as an IPIQ message.
 */
#include <sys/param.h>
#include <sys/systm.h>
#include <sys/chaos.h>
#include <sys/globaldata.h>
#include <sys/ipiq.h>
#include <sys/thread2.h>
#include <sys/token.h>
#include <machine/atomic.h>
#include <machine/cpu.h>
#include <machine/cpufunc.h>

bool lwkt_untimely_switch;

void
crit_panic(void)
{
	thread_t td = curthread;

	td->td_critcount = 0;	/* let the panic path use critical sections */
	panic("crit_exit: critical section count of thread \"%s\" went "
	    "negative", td->td_comm);
}

#ifdef DEBUG_CRIT_SECTIONS
/* crit_exit() from `id`: the matching crit_enter() must be in the same function. */
void
crit_debug_check(struct thread *td, const char *id)
{
	const char *entered;
	int depth = td->td_critcount;

	if (depth <= 0)
		return;				/* crit_panic() reports it */
	entered = td->td_crit_debug[(td->td_critcount - 1) &
	    (CRIT_DEBUG_DEPTH - 1)];
	if (entered != NULL && strcmp(entered, id) != 0) {
		td->td_critcount = 0;
		panic("crit_exit() in %s does not match crit_enter() in %s "
		    "(thread \"%s\", depth %d)", id, entered, td->td_comm,
		    depth);
	}
	td->td_crit_debug[(td->td_critcount - 1) & (CRIT_DEBUG_DEPTH - 1)] =
	    NULL;
}
#endif

void
need_lwkt_resched(void)
{
	atomic_set_int(&mycpu->gd_reqflags, RQF_AST_LWKT_RESCHED);
}

/* Owner CPU, critical section. */
static void
lwkt_enqueue(thread_t td)
{
	struct globaldata *gd = td->td_gd;
	int pri = td->td_pri & TDPRI_MASK;

	if ((td->td_flags & TDF_RUNQ) == 0) {
		td->td_flags |= TDF_RUNQ;
		TAILQ_INSERT_TAIL(&gd->gd_tdrunq[pri], td, td_threadq);
		gd->gd_runqmask |= 1u << pri;
	}
}

static void
lwkt_dequeue(thread_t td)
{
	struct globaldata *gd = td->td_gd;

	if (td->td_flags & TDF_RUNQ) {
		td->td_flags &= ~TDF_RUNQ;
		TAILQ_REMOVE(&gd->gd_tdrunq[td->td_pri & TDPRI_MASK], td,
		    td_threadq);
		/* gd_runqmask is cleared lazily by lwkt_switch */
	}
}

/*
 * Pick the next thread: the first thread, in queue order, of the highest
 * non-empty queue whose tokens are all on this CPU (lwkt_token_chk asks
 * for missing ones: once, again at the first pass of each clock tick, or
 * when a request could not be queued), clearing the mask bits of queues
 * found empty; the idle thread if there is none.  gd_tokwait records that
 * runnable threads were skipped for tokens that were asked for, so the
 * idle thread may halt until a grant wakes it.  Round-robin comes from
 * lwkt_switch putting a still-runnable thread that switches out at the
 * tail of its queue.  Inside the switch: nothing here drains the IPIQ.
 */
static thread_t
lwkt_pick(struct globaldata *gd)
{
	uint32_t mask = gd->gd_runqmask;
	bool waiting = false;
	int again = -1;		/* lwkt_token_chk decides once per pass */
	thread_t ntd;
	int pri;

	while (mask != 0) {
		pri = 31 - __builtin_clz(mask);
		mask &= ~(1u << pri);
		ntd = TAILQ_FIRST(&gd->gd_tdrunq[pri]);
		if (ntd == NULL) {
			gd->gd_runqmask &= ~(1u << pri);
			continue;
		}
		for (; ntd != NULL; ntd = TAILQ_NEXT(ntd, td_threadq)) {
			if (__predict_true(ntd->td_toks == NULL) ||
			    lwkt_token_chk(ntd, &again)) {
				gd->gd_tokwait = false;
				return ntd;
			}
			waiting = true;
		}
	}
	gd->gd_tokwait = waiting && !gd->gd_tokresend;
	return &gd->gd_idlethread;
}

/*
 * Give the CPU to the best runnable thread.  A thread that preempted
 * another always returns to it.  Must not be called from interrupt
 * context (gd_intr_nesting_level > 0).  From choosing the next thread to
 * the stack switch (gd_inswitch) the outgoing thread is still curthread
 * but no longer the one that will run: no IPIQ message may run there
 * (LWKT-SPEC §10b; lwkt_process_ipiq asserts it), so token requests and
 * grants made there never wait for FIFO room, and wake-ups are sent by
 * lwkt_switch_return in the next thread.
 */
void
lwkt_switch(void)
{
	struct globaldata *gd = mycpu;
	thread_t td = gd->gd_curthread;
	thread_t ntd;

	if (gd->gd_intr_nesting_level != 0)
		panic("lwkt_switch: called from interrupt context (nesting "
		    "level %d) by \"%s\"", gd->gd_intr_nesting_level, td->td_comm);
	if (gd->gd_spinlocks != 0)
		panic("lwkt_switch: \"%s\" holds %d spinlock(s)", td->td_comm,
		    gd->gd_spinlocks);
	if (panic_cpu == gd->gd_cpuid)
		return;		/* panic() runs on to its end on this thread */
	crit_enter_quick(td);
	gd->gd_cnt_switch++;
	gd->gd_inswitch = true;
	if ((ntd = td->td_preempted) != NULL) {
		/* lwkt_preempt clears ntd's TDF_PREEMPT_LOCK once back on it. */
		KKASSERT(ntd->td_flags & TDF_PREEMPT_LOCK);
		td->td_preempted = NULL;
		td->td_flags |= TDF_PREEMPT_DONE;
	} else {
		atomic_clear_int(&gd->gd_reqflags, RQF_AST_LWKT_RESCHED);
		/* A runnable thread switching out goes behind its equals. */
		if (td->td_flags & TDF_RUNQ) {
			TAILQ_REMOVE(&gd->gd_tdrunq[td->td_pri & TDPRI_MASK], td,
			    td_threadq);
			TAILQ_INSERT_TAIL(&gd->gd_tdrunq[td->td_pri & TDPRI_MASK],
			    td, td_threadq);
		}
		ntd = lwkt_pick(gd);
	}
	if (ntd != td) {
		if (__predict_false(td->td_toks != NULL))
			lwkt_token_switchout(td, ntd);
		ntd->td_switch_count++;
		gd->gd_inswitch = false;
		cpu_lwkt_switch(ntd);
		gd = mycpu;
		if (__predict_false(gd->gd_migrate_td != NULL ||
		    !cpumask_empty(gd->gd_tokwake)))
			lwkt_switch_return();
	} else {
		gd->gd_inswitch = false;
	}
	crit_exit_quick(td);
}

/*
 * Preempt the current thread in favour of ntd, an interrupt-like thread of
 * this CPU that was just made runnable, if the current thread holds no
 * critical section beyond the `critcount` its caller accounts for, this
 * CPU owns every token ntd holds and neither the current thread nor one it
 * preempted holds any of them (tokens serialize running and preempted
 * threads).  Otherwise ask for a reschedule (a miss).  The preempted
 * thread gets the CPU back as soon as ntd blocks; it clears its own
 * TDF_PREEMPT_LOCK here, once the switch back has set TDF_RUNNING again,
 * so lwkt_acquire never sees it as switched out.
 */
void
lwkt_preempt(thread_t ntd, int critcount)
{
	struct globaldata *gd = mycpu;
	thread_t td = gd->gd_curthread;
	int nesting;

	if ((ntd->td_pri & TDPRI_MASK) <= (td->td_pri & TDPRI_MASK))
		return;				/* does not outrank: no preemption */
	if (ntd->td_gd != gd || (ntd->td_flags & TDF_PREEMPT_LOCK) ||
	    ntd->td_preempted != NULL || ntd == td) {
		gd->gd_cnt_preempt_weird++;
		need_lwkt_resched();
		return;
	}
	if (td->td_critcount > critcount || (td->td_flags & TDF_PREEMPT_LOCK) ||
	    (ntd->td_toks != NULL && !lwkt_token_preempt_ok(ntd, td))) {
		gd->gd_cnt_preempt_miss++;
		need_lwkt_resched();
		return;
	}
	gd->gd_cnt_preempt_hit++;
	ntd->td_preempted = td;
	td->td_flags |= TDF_PREEMPT_LOCK;
	ntd->td_flags &= ~TDF_PREEMPT_DONE;
	/* ntd has its own stack: it may block, which just returns here. */
	nesting = gd->gd_intr_nesting_level;
	gd->gd_intr_nesting_level = 0;
	ntd->td_switch_count++;
	cpu_lwkt_switch(ntd);
	KKASSERT((td->td_flags & (TDF_PREEMPT_LOCK | TDF_RUNNING)) ==
	    (TDF_PREEMPT_LOCK | TDF_RUNNING) && ntd->td_preempted == NULL);
	td->td_flags &= ~TDF_PREEMPT_LOCK;
	lwkt_switch_return();
	gd->gd_intr_nesting_level = nesting;
}

/*
 * A request about another CPU's thread travels there as an IPIQ message
 * that holds the thread (lwkt_hold), so its struct cannot be reaped and
 * reused by another thread before the message has run.
 * The receiver drops the request if the thread has exited meanwhile, then
 * lets go of it.  A thread that changed CPU in between is forwarded again
 * (under a hold of its own) by the request itself.
 */
static __noinline void
lwkt_forward(struct globaldata *gd, ipifunc3_t *func, thread_t td, int arg2)
{
	lwkt_hold(td);
	lwkt_send_ipiq2(gd, func, td, arg2);
}

/* Receiver: should a forwarded request about td still be carried out? */
static bool
lwkt_forward_live(thread_t td)
{
	return td->td_gd != mycpu || (td->td_flags & TDF_EXITING) == 0;
}

static void
lwkt_schedule_remote(void *arg, int arg2 __unused, struct intrframe *f __unused)
{
	thread_t td = arg;

	if (lwkt_forward_live(td))
		lwkt_schedule(td);
	lwkt_rele(td);
}

static void
lwkt_deschedule_remote(void *arg, int arg2 __unused, struct intrframe *f __unused)
{
	thread_t td = arg;

	if (lwkt_forward_live(td))
		lwkt_deschedule(td);
	lwkt_rele(td);
}

/*
 * Make td runnable.  On td's own CPU: enqueue it, then preempt (interrupt-
 * like threads) or request a reschedule if it outranks the current thread.
 * For another CPU's thread, send the request there: the owner decides.
 */
void
lwkt_schedule(thread_t td)
{
	struct globaldata *gd = mycpu;
	thread_t cur;

	if (__predict_false(td->td_gd != gd)) {
		lwkt_forward(td->td_gd, lwkt_schedule_remote, td, 0);
		return;
	}
	if (__predict_false(td->td_flags & TDF_MIGRATING)) {
		/* In flight: the request follows the adoption message. */
		lwkt_forward(td->td_migrate_gd, lwkt_schedule_remote, td, 0);
		return;
	}
	KASSERT((td->td_flags & TDF_EXITING) == 0,
	    ("lwkt_schedule: thread \"%s\" has exited", td->td_comm));
	cur = gd->gd_curthread;
	crit_enter_quick(cur);
	lwkt_enqueue(td);
	if (td != cur && (td->td_pri & TDPRI_MASK) > (cur->td_pri & TDPRI_MASK)) {
		if (td->td_preemptable != NULL)
			td->td_preemptable(td, 1);	/* 1: our own section */
		else
			need_lwkt_resched();
	}
	crit_exit_quick(cur);
}

static void
lwkt_schedule_noresched_remote(void *arg, int arg2 __unused,
    struct intrframe *f __unused)
{
	thread_t td = arg;

	if (lwkt_forward_live(td))
		lwkt_schedule_noresched(td);
	lwkt_rele(td);
}

/* Make td runnable without preempting or asking for a reschedule. */
void
lwkt_schedule_noresched(thread_t td)
{
	if (td->td_gd != mycpu) {
		lwkt_forward(td->td_gd, lwkt_schedule_noresched_remote, td, 0);
		return;
	}
	if (td->td_flags & TDF_MIGRATING) {
		lwkt_forward(td->td_migrate_gd, lwkt_schedule_noresched_remote,
		    td, 0);
		return;
	}
	crit_enter();
	lwkt_enqueue(td);
	crit_exit();
}

void
lwkt_schedule_self(void)
{
	thread_t td = curthread;

	crit_enter_quick(td);
	lwkt_enqueue(td);
	crit_exit_quick(td);
}

void
lwkt_deschedule(thread_t td)
{
	if (__predict_false(td->td_gd != mycpu)) {
		lwkt_forward(td->td_gd, lwkt_deschedule_remote, td, 0);
		return;
	}
	if (__predict_false(td->td_flags & TDF_MIGRATING)) {
		lwkt_forward(td->td_migrate_gd, lwkt_deschedule_remote, td, 0);
		return;
	}
	crit_enter();
	lwkt_dequeue(td);
	crit_exit();
}

void
lwkt_deschedule_self(void)
{
	thread_t td = curthread;

	crit_enter_quick(td);
	lwkt_dequeue(td);
	crit_exit_quick(td);
}

/* Let any other runnable thread of equal or higher priority run. */
void
lwkt_yield(void)
{
	if ((curthread->td_flags & TDF_RUNQ) == 0)
		lwkt_schedule_self();
	lwkt_switch();
}

/* Switch only if a higher-priority thread is waiting. */
void
lwkt_maybe_switch(void)
{
	struct globaldata *gd = mycpu;
	thread_t td = gd->gd_curthread;
	uint32_t above = ~((2u << (td->td_pri & TDPRI_MASK)) - 1);

	if ((gd->gd_runqmask & above) != 0 && td->td_critcount == 0)
		lwkt_switch();
}

void
lwkt_yield_quick(void)
{
	lwkt_maybe_switch();
}

static void
lwkt_setpri_remote(void *arg, int pri, struct intrframe *f __unused)
{
	thread_t td = arg;

	if (lwkt_forward_live(td))
		lwkt_setpri(td, pri);
	lwkt_rele(td);
}

/* Change the priority; requeue if runnable.  No automatic switch. */
void
lwkt_setpri(thread_t td, int pri)
{
	KKASSERT(pri >= 0 && pri <= TDPRI_MAX);
	if (td->td_gd != mycpu) {
		lwkt_forward(td->td_gd, lwkt_setpri_remote, td, pri);
		return;
	}
	crit_enter();
	if (td->td_flags & TDF_RUNQ) {
		lwkt_dequeue(td);
		td->td_pri = pri;
		lwkt_enqueue(td);
	} else {
		td->td_pri = pri;
	}
	crit_exit();
}

void
lwkt_setpri_self(int pri)
{
	lwkt_setpri(curthread, pri);
}

/* On the new CPU: take over a thread that finished switching out elsewhere. */
static void
lwkt_adopt_remote(void *arg, int arg2 __unused, struct intrframe *f __unused)
{
	thread_t td = arg;
	struct globaldata *gd = mycpu;

	td->td_gd = gd;
	td->td_migrate_gd = NULL;
	td->td_flags &= ~TDF_MIGRATING;
	if (td->td_flags & TDF_ALLOCATED_STACK)
		cpu_kstack_guard(td, true);	/* this CPU's TLB, see pmap.c */
	TAILQ_INSERT_TAIL(&gd->gd_tdallq, td, td_allq);
	lwkt_enqueue(td);
	if ((td->td_pri & TDPRI_MASK) > (gd->gd_curthread->td_pri & TDPRI_MASK))
		need_lwkt_resched();
}

/*
 * Called by whichever thread runs next on a CPU once a switch has
 * completed (LWKT-SPEC §10b): if the thread that switched out was
 * migrating, it is now entirely off this CPU (TDF_RUNNING clear, off its
 * stack), so hand it to its new CPU.  The new CPU never has to wait for it.
 * Likewise wake the CPUs that were granted tokens inside the switch.
 */
void
lwkt_switch_return(void)
{
	struct globaldata *gd = mycpu;
	thread_t td = gd->gd_migrate_td;

	if (td != NULL) {
		gd->gd_migrate_td = NULL;
		lwkt_send_ipiq(td->td_migrate_gd, lwkt_adopt_remote, td);
	}
	if (!cpumask_empty(gd->gd_tokwake))
		lwkt_token_switch_return(gd);
}

/*
 * Move the current thread to another CPU: leave this CPU's queues and
 * lists, switch away, and resume on `rgd` once it has adopted the thread.
 * Thread context.
 */
void
lwkt_setcpu_self(struct globaldata *rgd)
{
	struct globaldata *gd = mycpu;
	thread_t td = gd->gd_curthread;

	if (rgd == gd)
		return;
	KASSERT(td != &gd->gd_idlethread && td->td_preempted == NULL &&
	    td->td_cscount == 0, ("lwkt_setcpu_self: \"%s\" cannot migrate",
	    td->td_comm));
	crit_enter_quick(td);
	lwkt_dequeue(td);
	TAILQ_REMOVE(&gd->gd_tdallq, td, td_allq);
	td->td_migrate_gd = rgd;
	td->td_flags |= TDF_MIGRATING;
	KKASSERT(gd->gd_migrate_td == NULL);
	gd->gd_migrate_td = td;
	lwkt_switch();
	KKASSERT(mycpu == rgd && td->td_gd == rgd);
	crit_exit_quick(td);
}

/* On the owner: give up a descheduled thread to CPU `cpu`. */
static void
lwkt_release_remote(void *arg, int cpu, struct intrframe *f __unused)
{
	thread_t td = arg;

	KASSERT((td->td_flags & (TDF_RUNQ | TDF_RUNNING | TDF_PREEMPT_LOCK)) == 0,
	    ("lwkt_acquire: thread \"%s\" is not descheduled (flags 0x%x)",
	    td->td_comm, td->td_flags));
	TAILQ_REMOVE(&td->td_gd->gd_tdallq, td, td_allq);
	td->td_gd = globaldata_find(cpu);
}

#define LWKT_ACQUIRE_WARN_US	1000000		/* warn after 1 s */
#define LWKT_ACQUIRE_PANIC_US	10000000	/* panic after 10 s */

/*
 * Pull a descheduled thread of another CPU to this one: wait until it has
 * fully switched out there, have its owner unlink it, link it here.  The
 * caller then schedules it as it likes.  Thread context.  The wait for
 * the switch-out warns after 1 s and panics by name after 10 s.
 */
void
lwkt_acquire(thread_t td)
{
	struct globaldata *gd = mycpu, *ogd = td->td_gd;
	uint64_t t0 = cpu_ticks(), us;
	bool warned = false;

	if (ogd == gd)
		return;
	while (td->td_flags & (TDF_RUNNING | TDF_PREEMPT_LOCK)) {
		lwkt_process_ipiq();
		cpu_pause();
		us = cpu_ticks_to_us(cpu_ticks() - t0);
		if (us > LWKT_ACQUIRE_WARN_US && !warned) {
			warned = true;
			kprintf("lwkt_acquire: cpu %d still waits for thread "
			    "\"%s\" to switch out on cpu %d (flags 0x%x)\n",
			    gd->gd_cpuid, td->td_comm, ogd->gd_cpuid,
			    td->td_flags);
		}
		if (us > LWKT_ACQUIRE_PANIC_US)
			panic("lwkt_acquire: thread \"%s\" did not switch out on "
			    "cpu %d within %u s (flags 0x%x)", td->td_comm,
			    ogd->gd_cpuid, LWKT_ACQUIRE_PANIC_US / 1000000,
			    td->td_flags);
	}
	lwkt_wait_ipiq(ogd, lwkt_send_ipiq2(ogd, lwkt_release_remote, td,
	    gd->gd_cpuid));
	KKASSERT(td->td_gd == gd);
	if (td->td_flags & TDF_ALLOCATED_STACK)
		cpu_kstack_guard(td, true);	/* this CPU's TLB, see pmap.c */
	crit_enter();
	TAILQ_INSERT_TAIL(&gd->gd_tdallq, td, td_allq);
	crit_exit();
}

/*
 * Deferred work, run by the outermost crit_exit() (and after interrupts)
 * when gd_reqflags is set: IPIQ messages and timers that arrived inside a
 * critical section, then a requested reschedule.  Nothing is done from
 * interrupt context; td_nest_count bounds recursion through crit_exit.
 */
void
lwkt_splz(void)
{
	struct globaldata *gd = mycpu;
	thread_t td = gd->gd_curthread;
	uint32_t ef;

	if (gd->gd_intr_nesting_level != 0 || td->td_critcount != 0 ||
	    td->td_nest_count > 2 || panic_cpu == gd->gd_cpuid)
		return;		/* the panicking CPU neither drains nor switches */
	++td->td_nest_count;
	while (gd->gd_reqflags & RQF_DEFERRED) {
		crit_enter_quick(td);
		if (gd->gd_reqflags & RQF_IPIQ) {
			atomic_clear_int(&gd->gd_reqflags, RQF_IPIQ);
			lwkt_process_ipiq();
		}
		if (gd->gd_reqflags & RQF_TIMER) {
			atomic_clear_int(&gd->gd_reqflags, RQF_TIMER);
			ef = intr_disable();
			systimer_intr();
			intr_restore(ef);
		}
		crit_exit_noyield(td);
	}
	/*
	 * Switch only from the outermost level; nest_count stays raised so
	 * the crit_exit inside lwkt_switch does not come back here.  A thread
	 * that preempted another runs on until it blocks: a switch from it
	 * would only return to the preempted thread and leave this one
	 * queued, to be switched to later as if the other had blocked.
	 *
	 * Option untimely_switch switches here too, as the clock might at
	 * any moment outside a critical section: a real lwkt_switch(), which
	 * never re-queues, so a thread that descheduled itself stops here
	 * until someone schedules it.  Chaos (sys/chaos.h) keeps RQF_UNTIMELY
	 * set too and switches here at random (CHAOS_UNTIMELY).
	 */
	if (td->td_nest_count == 1 && td->td_preempted == NULL) {
		if ((gd->gd_reqflags & RQF_AST_LWKT_RESCHED) ||
		    ((gd->gd_reqflags & RQF_UNTIMELY) &&
		    td != &gd->gd_idlethread &&
		    (td->td_flags & TDF_EXITING) == 0 && CHAOS_UNTIMELY()))
			lwkt_switch();
	}
	--td->td_nest_count;
}

/*
 * Each CPU's idle thread, on the CPU's boot stack.  It reaps dead threads,
 * switches when anything is runnable (and not just waiting for tokens,
 * whose arrival requests a reschedule) and otherwise halts with "sti; hlt"
 * after a last check with interrupts off, so a wakeup cannot be missed.
 */
void
lwkt_idle_loop(void)
{
	struct globaldata *gd = mycpu;
	thread_t td = gd->gd_curthread;

	KKASSERT(td == &gd->gd_idlethread);
	for (;;) {
		lwkt_reap();
		if ((gd->gd_runqmask != 0 && !gd->gd_tokwait) ||
		    (gd->gd_reqflags & RQF_AST_LWKT_RESCHED)) {
			lwkt_switch();
			continue;
		}
		cpu_disable_intr();
		if ((gd->gd_runqmask == 0 || gd->gd_tokwait) && (gd->gd_reqflags &
		    (RQF_DEFERRED | RQF_AST_LWKT_RESCHED)) == 0 &&
		    (td->td_flags & TDF_IDLE_NOHLT) == 0 &&
		    TAILQ_EMPTY(&gd->gd_tdreapq)) {
			gd->gd_cnt_idle_halt++;
			cpu_idle_halt();
		} else {
			cpu_enable_intr();
			cpu_pause();
		}
		if (gd->gd_reqflags & RQF_DEFERRED)
			lwkt_splz();
	}
}
