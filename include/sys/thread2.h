/*
 * Critical sections (LWKT-SPEC §5): the inline fast paths.  A critical
 * section is a per-thread counter: while it is non-zero the thread cannot be
 * preempted and interrupt work that touches LWKT state is deferred (recorded
 * in gd_reqflags).  The outermost crit_exit() runs deferred work through
 * lwkt_splz().  Current thread only; any context.
 *
 * Cost: crit_enter is a %fs-relative load and an increment; crit_exit adds a
 * decrement, a test of gd_reqflags (also %fs-relative) and a branch.
 */
#ifndef _SYS_THREAD2_H_
#define _SYS_THREAD2_H_

#include <sys/globaldata.h>
#include <sys/thread.h>

static __always_inline void
crit_enter_quick(struct thread *td)
{
	cpu_crit_inc(&td->td_critcount);
}

#ifndef DEBUG_CRIT_SECTIONS
static __always_inline void
crit_enter(void)
{
	crit_enter_quick(curthread);
}
#endif

/* Leave without running deferred work (switch and interrupt paths). */
static __always_inline void
crit_exit_noyield(struct thread *td)
{
	if (__predict_false(cpu_crit_dec_noyield(&td->td_critcount) < 0))
		crit_panic();
}

static __always_inline void
crit_exit_quick(struct thread *td)
{
	int r = cpu_crit_dec(&td->td_critcount);

	if (__predict_false(r != 0)) {
		if (r < 0)
			crit_panic();
		lwkt_splz();
	}
}

#ifndef DEBUG_CRIT_SECTIONS
static __always_inline void
crit_exit(void)
{
	crit_exit_quick(curthread);
}
#else
/*
 * Build option DEBUG_CRIT_SECTIONS (make CRIT_DEBUG=1): crit_enter() and
 * crit_exit() record the function they are called from, per thread and
 * nesting level, and an exit from another function than the matching
 * enter is reported and panics (kern/lwkt_switch.c).  The _quick variants
 * are not tracked.
 */
#define crit_enter()	crit_enter_id(__func__)
#define crit_exit()	crit_exit_id(__func__)

static __always_inline void
crit_enter_id(const char *id)
{
	struct thread *td = curthread;

	td->td_crit_debug[td->td_critcount & (CRIT_DEBUG_DEPTH - 1)] = id;
	crit_enter_quick(td);
}

static __always_inline void
crit_exit_id(const char *id)
{
	struct thread *td = curthread;

	crit_debug_check(td, id);
	crit_exit_quick(td);
}
#endif

static __always_inline bool
lwkt_in_crit(void)
{
	return curthread->td_critcount > 0;
}

#endif
