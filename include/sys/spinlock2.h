/*
 * Spinlock fast paths (LWKT-SPEC §9.2).  spin_lock() enters a critical
 * section, then takes the lock with one exchange; spin_lock_quick() assumes
 * the caller already is in one.  Holders must not block or switch (that
 * panics) and must release in reverse order.  Never take a spinlock from a
 * hard interrupt on a CPU that may already hold it.  Any CPU.
 */
#ifndef _SYS_SPINLOCK2_H_
#define _SYS_SPINLOCK2_H_

#include <sys/spinlock.h>
#include <sys/thread2.h>
#include <machine/atomic.h>

static __always_inline void
spin_lock_quick(struct spinlock *s)
{
	if (__predict_false(!cpu_spin_tryget(&s->lock)))
		spin_lock_contested(s);
	cpu_spin_count(1);
}

static __always_inline void
spin_unlock_quick(struct spinlock *s)
{
	cpu_spin_count(-1);
	cpu_spin_release(&s->lock);
}

static __always_inline void
spin_lock(struct spinlock *s)
{
	crit_enter_quick(curthread);
	spin_lock_quick(s);
}

static __always_inline void
spin_unlock(struct spinlock *s)
{
	spin_unlock_quick(s);
	crit_exit_quick(curthread);
}

#endif
