/*
 * Sleeping and waking (LWKT-SPEC §10).  tsleep() blocks the current thread
 * on an address until wakeup()/wakeup_one() on the same address, or until
 * `timo` hardclock ticks pass (EWOULDBLOCK; 0 = no timeout).  Each CPU
 * keeps its own sleepers in a hash table; for every hash slot a global CPU
 * mask says which CPUs may have sleepers there, and a wakeup visits those
 * CPUs by passing one IPIQ message from CPU to CPU.
 *
 * To close the window between testing a condition and sleeping on it,
 * call tsleep_interlock(ident) first, then test, then tsleep(ident,
 * PINTERLOCKED, ...): a wakeup after tsleep_interlock is never lost.
 * Thread context.
 */
#ifndef _SYS_TSLEEP_H_
#define _SYS_TSLEEP_H_

#include <sys/types.h>
#include <sys/cpumask.h>

#define PINTERLOCKED	0x0400		/* tsleep_interlock() already queued us */
#define TSLEEP_HASH	64		/* hash slots per CPU (power of two) */
#define TSLEEP_WAKEUP_RECS 32		/* wakeup chains in flight per waker */

/* The hash slot of ident (tests use it to pick idents in distinct slots). */
static inline uint32_t
tsleep_slot(const volatile void *ident)
{
	uint32_t h = (uint32_t)ident;

	h ^= h >> 11;
	h *= 0x9E3779B1u;
	return h >> (32 - 6);
}
_Static_assert(TSLEEP_HASH == 64, "tsleep_slot returns 6 bits");

void	tsleep_interlock(const volatile void *ident);
int	tsleep(const volatile void *ident, int flags, const char *wmesg, int timo);
void	wakeup(const volatile void *ident);
void	wakeup_one(const volatile void *ident);
void	tsleep_init_cpu(void);
/* The CPUs with a sleeper in ident's hash slot now (a snapshot; tests). */
cpumask_t tsleep_slot_cpus(const volatile void *ident);
/* Take a thread of this CPU off its sleep queue (after an unused interlock). */
struct thread;
void	tsleep_remove(struct thread *td);

#endif
