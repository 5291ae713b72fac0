/*
 * Host stand-in for include/machine/cpufunc.h, found first on the include
 * path of the fuzz builds (tests/fuzz/): the kernel sources compiled for
 * the host (kern/subr_prf.c) only disable and restore interrupts around
 * console output, which a host process has no use for.  Owned by the fuzz
 * targets; nothing in the kernel includes it.
 */
#ifndef _MACHINE_CPUFUNC_H_
#define _MACHINE_CPUFUNC_H_

#include <sys/types.h>

static inline uint32_t
intr_disable(void)
{
	return 0;
}

static inline void
intr_restore(uint32_t ef __unused)
{
}

#endif
