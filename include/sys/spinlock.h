/*
 * Spinlocks (LWKT-SPEC §9.2): short, non-blocking mutual exclusion between
 * CPUs.  The lock word is 0 when free, else the holder's cpuid + 1.  The
 * fast paths are in sys/spinlock2.h, the contended paths and the shared
 * (reader) locks in kern/kern_spinlock.c.
 */
#ifndef _SYS_SPINLOCK_H_
#define _SYS_SPINLOCK_H_

#include <sys/types.h>

struct spinlock {
	volatile uint32_t	lock;		/* 0 free, else holder cpuid + 1 */
	volatile uint32_t	shared;		/* readers inside (spin_lock_shared) */
	const char		*name;		/* for reports */
};

#define SPINLOCK_INITIALIZER(name)	{ 0, 0, (name) }

void	spin_init(struct spinlock *s, const char *name);
void	spin_lock_contested(struct spinlock *s);
bool	spin_trylock(struct spinlock *s);
void	spin_lock_shared(struct spinlock *s);
void	spin_unlock_shared(struct spinlock *s);

#endif
