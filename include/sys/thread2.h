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
	++td->td_critcount;
	cpu_ccfence();
}

static __always_inline void
crit_enter(void)
{
	crit_enter_quick(curthread);
}

/* Leave without running deferred work (switch and interrupt paths). */
static __always_inline void
crit_exit_noyield(struct thread *td)
{
	cpu_ccfence();
	if (__predict_false(--td->td_critcount < 0))
		crit_panic();
}

static __always_inline void
crit_exit_quick(struct thread *td)
{
	cpu_ccfence();
	if (__predict_false(--td->td_critcount <= 0)) {
		if (td->td_critcount < 0)
			crit_panic();
		if (_get_reqflags() != 0)
			lwkt_splz();
	}
}

static __always_inline void
crit_exit(void)
{
	crit_exit_quick(curthread);
}

static __always_inline bool
lwkt_in_crit(void)
{
	return curthread->td_critcount > 0;
}

#endif
