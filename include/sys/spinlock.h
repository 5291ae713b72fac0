/*
 * Spinlocks (LWKT-SPEC §9.2): short, non-blocking mutual exclusion between
 * CPUs, with an optional shared (reader) mode.  One lock word: the top byte
 * is the exclusive holder's cpuid + 1, bit 23 says a writer waits, the low
 * bits count shared holders (include/machine/thread.h).  The fast paths are
 * in sys/spinlock2.h, the contended paths and shared mode in
 * kern/kern_spinlock.c.
 */
#ifndef _SYS_SPINLOCK_H_
#define _SYS_SPINLOCK_H_

#include <sys/types.h>

struct spinlock {
	volatile uint32_t	lock;		/* holder tag | WANT | readers */
	const char		*name;		/* for reports */
};

#define SPINLOCK_INITIALIZER(name)	{ 0, (name) }

void	spin_init(struct spinlock *s, const char *name);
void	spin_lock_contested(struct spinlock *s);
bool	spin_trylock(struct spinlock *s);
void	spin_lock_shared(struct spinlock *s);
void	spin_unlock_shared(struct spinlock *s);

#endif
