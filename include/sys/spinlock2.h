/*
 * Spinlock fast paths.  Until critical sections exist (scheduler issue),
 * holding a spinlock masks interrupts on the holding CPU, which is what a
 * critical section will provide: no preemption and no local interrupt
 * handler racing the holder.  Locks must be released in reverse order of
 * acquisition on a CPU (the saved EFLAGS nest).  Any CPU, any context.
 */
#ifndef _SYS_SPINLOCK2_H_
#define _SYS_SPINLOCK2_H_

#include <sys/spinlock.h>
#include <machine/atomic.h>
#include <machine/cpufunc.h>

static inline void
spin_init(struct spinlock *s)
{
	s->lock = 0;
	s->saved_flags = 0;
}

static inline void
spin_lock(struct spinlock *s)
{
	uint32_t ef = intr_disable();

	while (atomic_swap_int(&s->lock, 1) != 0) {
		while (s->lock != 0)
			cpu_pause();
	}
	s->saved_flags = ef;
}

static inline void
spin_unlock(struct spinlock *s)
{
	uint32_t ef = s->saved_flags;

	atomic_store_rel_int(&s->lock, 0);
	intr_restore(ef);
}

#endif
