/*
 * cpumask_t: one bit per dense cpuid (gd_cpuid), a fixed bitmap of
 * CPUMASK_WORDS 32-bit words (256 bits >= MAXCPU).  This header owns the
 * type and every operation on it; code elsewhere never reaches into
 * .ary except through these.  (Anyone may add an operation here; keep
 * each one word-at-a-time and freestanding.)
 *
 * Bit `cpu` lives in word cpu / 32, bit cpu % 32.  Value operations
 * (cpumask_or() ...) take and return masks by value; the CPUMASK_*
 * macros modify an lvalue in place and evaluate `cpu` once.  Plain reads
 * of a mask other CPUs change are per-word snapshots: each word is read
 * once, but two words may be read at different moments, so only code
 * whose bits are independent of each other may use such a read.
 * Concurrent writers use the atomic_cpumask_* operations, a locked
 * instruction on the one word holding the bit (a full barrier, like
 * machine/atomic.h).  Iteration (cpumask_first/next, CPUMASK_FOREACH)
 * skips zero words, so a sparse mask costs a few word tests.
 */
#ifndef _SYS_CPUMASK_H_
#define _SYS_CPUMASK_H_

#include <sys/param.h>

#define CPUMASK_WORDS		8
#define CPUMASK_BITS		(CPUMASK_WORDS * 32)

typedef struct {
	uint32_t ary[CPUMASK_WORDS];
} cpumask_t;

_Static_assert(MAXCPU <= CPUMASK_BITS, "cpumask_t holds every cpuid");

#define CPUMASK_WORD(cpu)	((unsigned)(cpu) >> 5)
#define CPUMASK_BIT(cpu)	(1u << ((unsigned)(cpu) & 31))

/* Is `cpu` in m?  (0 or 1) */
#define CPUMASK_TESTBIT(m, cpu) __extension__({			\
	unsigned _cm_c = (unsigned)(cpu);				\
	(int)(((m).ary[_cm_c >> 5] >> (_cm_c & 31)) & 1);		\
})

#define CPUMASK_SETBIT(m, cpu) do {					\
	unsigned _cm_c = (unsigned)(cpu);				\
	(m).ary[_cm_c >> 5] |= 1u << (_cm_c & 31);			\
} while (0)

#define CPUMASK_CLRBIT(m, cpu) do {					\
	unsigned _cm_c = (unsigned)(cpu);				\
	(m).ary[_cm_c >> 5] &= ~(1u << (_cm_c & 31));			\
} while (0)

#define CPUMASK_ASSZERO(m) do {						\
	int _cm_i;							\
	for (_cm_i = 0; _cm_i < CPUMASK_WORDS; _cm_i++)			\
		(m).ary[_cm_i] = 0;					\
} while (0)

/* m = { cpu } */
#define CPUMASK_ASSBIT(m, cpu) do {					\
	unsigned _cm_b = (unsigned)(cpu);				\
	CPUMASK_ASSZERO(m);						\
	CPUMASK_SETBIT(m, _cm_b);					\
} while (0)

/* In place: m |= v, m &= v, m &= ~v. */
#define CPUMASK_ORMASK(m, v) do {					\
	cpumask_t _cm_v = (v);						\
	int _cm_i;							\
	for (_cm_i = 0; _cm_i < CPUMASK_WORDS; _cm_i++)			\
		(m).ary[_cm_i] |= _cm_v.ary[_cm_i];			\
} while (0)

#define CPUMASK_ANDMASK(m, v) do {					\
	cpumask_t _cm_v = (v);						\
	int _cm_i;							\
	for (_cm_i = 0; _cm_i < CPUMASK_WORDS; _cm_i++)			\
		(m).ary[_cm_i] &= _cm_v.ary[_cm_i];			\
} while (0)

#define CPUMASK_NANDMASK(m, v) do {					\
	cpumask_t _cm_v = (v);						\
	int _cm_i;							\
	for (_cm_i = 0; _cm_i < CPUMASK_WORDS; _cm_i++)			\
		(m).ary[_cm_i] &= ~_cm_v.ary[_cm_i];			\
} while (0)

/* { cpu } as a value. */
static inline cpumask_t
cpumask_bit(int cpu)
{
	cpumask_t m;

	CPUMASK_ASSBIT(m, cpu);
	return m;
}

/* { 0 .. n-1 } as a value (n may be 0 .. CPUMASK_BITS). */
static inline cpumask_t
cpumask_range(int n)
{
	cpumask_t m;
	int i;

	for (i = 0; i < CPUMASK_WORDS; i++)
		m.ary[i] = n >= 32 * (i + 1) ? ~0u :
		    n <= 32 * i ? 0 : (1u << (n - 32 * i)) - 1;
	return m;
}

static inline cpumask_t
cpumask_or(cpumask_t a, cpumask_t b)
{
	CPUMASK_ORMASK(a, b);
	return a;
}

static inline cpumask_t
cpumask_and(cpumask_t a, cpumask_t b)
{
	CPUMASK_ANDMASK(a, b);
	return a;
}

/* a & ~b */
static inline cpumask_t
cpumask_andnot(cpumask_t a, cpumask_t b)
{
	CPUMASK_NANDMASK(a, b);
	return a;
}

static inline bool
cpumask_empty(cpumask_t m)
{
	uint32_t any = 0;
	int i;

	for (i = 0; i < CPUMASK_WORDS; i++)
		any |= m.ary[i];
	return any == 0;
}

static inline bool
cpumask_equal(cpumask_t a, cpumask_t b)
{
	uint32_t diff = 0;
	int i;

	for (i = 0; i < CPUMASK_WORDS; i++)
		diff |= a.ary[i] ^ b.ary[i];
	return diff == 0;
}

static inline bool
cpumask_intersects(cpumask_t a, cpumask_t b)
{
	uint32_t both = 0;
	int i;

	for (i = 0; i < CPUMASK_WORDS; i++)
		both |= a.ary[i] & b.ary[i];
	return both != 0;
}

static inline int
cpumask_count(cpumask_t m)
{
	int i, n = 0;

	for (i = 0; i < CPUMASK_WORDS; i++)
		n += __builtin_popcount(m.ary[i]);
	return n;
}

/* Lowest cpuid in m, -1 if m is empty. */
static inline int
cpumask_first(cpumask_t m)
{
	int i;

	for (i = 0; i < CPUMASK_WORDS; i++)
		if (m.ary[i] != 0)
			return 32 * i + __builtin_ctz(m.ary[i]);
	return -1;
}

/* Lowest cpuid in m above `cpu` (cpu may be -1), -1 if none. */
static inline int
cpumask_next(cpumask_t m, int cpu)
{
	unsigned b = (unsigned)(cpu + 1);
	unsigned i = b >> 5;
	uint32_t w;

	if (b >= CPUMASK_BITS)
		return -1;
	w = m.ary[i] & (~0u << (b & 31));
	for (;;) {
		if (w != 0)
			return 32 * i + __builtin_ctz(w);
		if (++i == CPUMASK_WORDS)
			return -1;
		w = m.ary[i];
	}
}

/* Highest cpuid in m, -1 if m is empty. */
static inline int
cpumask_last(cpumask_t m)
{
	int i;

	for (i = CPUMASK_WORDS - 1; i >= 0; i--)
		if (m.ary[i] != 0)
			return 32 * i + 31 - __builtin_clz(m.ary[i]);
	return -1;
}

/*
 * for each cpu in m, ascending.  m is re-read at each step: bits the body
 * clears at or below `cpu`, or sets above it, are seen as such.
 */
#define CPUMASK_FOREACH(cpu, m)						\
	for ((cpu) = cpumask_first(m); (cpu) >= 0;			\
	    (cpu) = cpumask_next((m), (cpu)))

/* Locked read-modify-write of the word holding `cpu` (full barriers). */
static inline void
atomic_cpumask_setbit(volatile cpumask_t *m, int cpu)
{
	__asm__ __volatile__("lock; orl %1, %0"
	    : "+m"(m->ary[CPUMASK_WORD(cpu)]) : "ir"(CPUMASK_BIT(cpu))
	    : "memory");
}

static inline void
atomic_cpumask_clrbit(volatile cpumask_t *m, int cpu)
{
	__asm__ __volatile__("lock; andl %1, %0"
	    : "+m"(m->ary[CPUMASK_WORD(cpu)]) : "ir"(~CPUMASK_BIT(cpu))
	    : "memory");
}

/* Clear `cpu`'s bit; returns whether it was set. */
static inline bool
atomic_cpumask_testandclr(volatile cpumask_t *m, int cpu)
{
	uint8_t was;

	__asm__ __volatile__("lock; btrl %2, %1; setc %0"
	    : "=q"(was), "+m"(m->ary[CPUMASK_WORD(cpu)])
	    : "r"((uint32_t)cpu & 31) : "memory", "cc");
	return was;
}

/*
 * kern/subr_cpumask.c: format m as a CPU list ("0-3,7", "none") into
 * buf; returns buf.  Truncated lists end in "...".
 */
char	*cpumask_format(char *buf, size_t size, cpumask_t m);
#define CPUMASK_FMTLEN		64	/* enough for most masks' lists */

#endif
