/*
 * Atomic operations on 32-bit words (locked instructions, Intel SDM Vol. 3
 * §8.1.2).  Each is also a full compiler and CPU memory barrier.
 */
#ifndef _MACHINE_ATOMIC_H_
#define _MACHINE_ATOMIC_H_

#include <sys/types.h>

static inline void atomic_add_int(volatile uint32_t *p, uint32_t v) { __asm__ __volatile__("lock; addl %1, %0" : "+m"(*p) : "ir"(v) : "memory"); }
static inline void atomic_subtract_int(volatile uint32_t *p, uint32_t v) { __asm__ __volatile__("lock; subl %1, %0" : "+m"(*p) : "ir"(v) : "memory"); }
static inline void atomic_set_int(volatile uint32_t *p, uint32_t v) { __asm__ __volatile__("lock; orl %1, %0" : "+m"(*p) : "ir"(v) : "memory"); }
static inline void atomic_clear_int(volatile uint32_t *p, uint32_t v) { __asm__ __volatile__("lock; andl %1, %0" : "+m"(*p) : "ir"(~v) : "memory"); }

/* Returns the value before the add. */
static inline uint32_t
atomic_fetchadd_int(volatile uint32_t *p, uint32_t v)
{
	__asm__ __volatile__("lock; xaddl %0, %1" : "+r"(v), "+m"(*p) :: "memory");
	return v;
}

static inline uint32_t
atomic_swap_int(volatile uint32_t *p, uint32_t v)
{
	__asm__ __volatile__("xchgl %0, %1" : "+r"(v), "+m"(*p) :: "memory");
	return v;
}

/* If *p == expect, store v; returns true on success. */
static inline bool
atomic_cmpset_int(volatile uint32_t *p, uint32_t expect, uint32_t v)
{
	uint8_t ok;
	__asm__ __volatile__("lock; cmpxchgl %3, %1; sete %0"
	    : "=q"(ok), "+m"(*p), "+a"(expect) : "r"(v) : "memory");
	return ok;
}

static inline uint32_t atomic_load_acq_int(volatile uint32_t *p) { uint32_t v = *p; __asm__ __volatile__("" ::: "memory"); return v; }
static inline void atomic_store_rel_int(volatile uint32_t *p, uint32_t v) { __asm__ __volatile__("" ::: "memory"); *p = v; }

#endif
