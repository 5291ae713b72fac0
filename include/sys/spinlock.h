/*
 * Spinlocks (LWKT-SPEC §9.2): short, non-blocking mutual exclusion between
 * CPUs.  The fast paths are in sys/spinlock2.h.
 */
#ifndef _SYS_SPINLOCK_H_
#define _SYS_SPINLOCK_H_

#include <sys/types.h>

struct spinlock {
	volatile uint32_t	lock;		/* 0 free, 1 held */
	uint32_t		saved_flags;	/* holder's EFLAGS, restored on unlock */
};

#define SPINLOCK_INITIALIZER	{ 0, 0 }

#endif
