/*
 * cpumask_t: one bit per dense cpuid (gd_cpuid).  MAXCPU <= 32 so a mask
 * is one word and can be updated with a single locked instruction.
 */
#ifndef _SYS_CPUMASK_H_
#define _SYS_CPUMASK_H_

#include <sys/param.h>

typedef uint32_t cpumask_t;

_Static_assert(MAXCPU <= 32, "cpumask_t is one 32-bit word");

#define CPUMASK(cpu)		((cpumask_t)1 << (cpu))
#define CPUMASK_TEST(m, cpu)	(((m) & CPUMASK(cpu)) != 0)

static inline int
cpumask_count(cpumask_t m)
{
	return __builtin_popcount(m);
}

/* Lowest cpuid in a non-empty mask. */
static inline int
cpumask_first(cpumask_t m)
{
	return __builtin_ctz(m);
}

#endif
