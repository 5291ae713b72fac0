/*
 * Spinlocks: the contended path, try-lock and shared (reader) locking
 * (sys/spinlock.h).  A contended lock is retried with a bounded wait: a
 * console line after 1 s naming the lock and its holder CPU, a panic after
 * 10 s.  Shared mode: readers count themselves in `shared` while no writer
 * holds `lock`; a writer takes `lock` and then waits for the readers to
 * drain, so readers never see a half-written value.  Any CPU, any context
 * that may spin (never a hard interrupt on a CPU that may hold the lock).
 */
#include <sys/param.h>
#include <sys/systm.h>
#include <sys/globaldata.h>
#include <sys/spinlock2.h>
#include <machine/atomic.h>
#include <machine/cpu.h>
#include <machine/cpufunc.h>

#define SPIN_WARN_US	1000000
#define SPIN_PANIC_US	10000000

void
spin_init(struct spinlock *s, const char *name)
{
	s->lock = 0;
	s->shared = 0;
	s->name = name;
}

/* Bounded wait while `busy` holds; reports name the lock and its holder. */
static void
spin_wait(struct spinlock *s, uint64_t t0, bool *warned, const char *what)
{
	uint64_t us = cpu_ticks_to_us(cpu_ticks() - t0);
	uint32_t v = s->lock;

	if (us > SPIN_WARN_US && !*warned) {
		*warned = true;
		kprintf("spin: cpu %d has waited %llu ms for %s \"%s\" (held by "
		    "cpu %d, %u readers)\n", mycpuid, us / 1000, what, s->name,
		    (int)v - 1, s->shared);
	}
	if (us > SPIN_PANIC_US)
		panic("spin: cpu %d waited %u s for %s \"%s\" held by cpu %d "
		    "(%u readers)", mycpuid, SPIN_PANIC_US / 1000000, what,
		    s->name, (int)v - 1, s->shared);
	cpu_pause();
}

/* The lock was taken: spin until the exchange succeeds. */
void
spin_lock_contested(struct spinlock *s)
{
	uint64_t t0 = cpu_ticks();
	bool warned = false;

	if (s->lock == (uint32_t)mycpuid + 1)
		panic("spin: cpu %d takes spinlock \"%s\" it already holds",
		    mycpuid, s->name);
	for (;;) {
		while (s->lock != 0)
			spin_wait(s, t0, &warned, "spinlock");
		if (cpu_spin_tryget(&s->lock))
			break;
	}
	/* A writer also waits for readers that got in before it. */
	while (s->shared != 0)
		spin_wait(s, t0, &warned, "the readers of spinlock");
}

bool
spin_trylock(struct spinlock *s)
{
	crit_enter();
	if (cpu_spin_tryget(&s->lock)) {
		if (s->shared == 0) {
			cpu_spin_count(1);
			return true;
		}
		atomic_store_rel_int(&s->lock, 0);
	} else if (s->lock == (uint32_t)mycpuid + 1) {
		panic("spin: cpu %d trylock of spinlock \"%s\" it already holds",
		    mycpuid, s->name);
	}
	crit_exit();
	return false;
}

/*
 * Shared: count in, then back out and wait if a writer holds the lock.  A
 * writer that wins the exchange waits for every counted reader (above), so
 * readers and the writer never overlap.
 */
void
spin_lock_shared(struct spinlock *s)
{
	uint64_t t0 = cpu_ticks();
	bool warned = false;

	crit_enter();
	for (;;) {
		atomic_add_int(&s->shared, 1);
		if (s->lock == 0)
			break;
		atomic_subtract_int(&s->shared, 1);
		while (s->lock != 0)
			spin_wait(s, t0, &warned, "shared spinlock");
	}
	cpu_spin_count(1);
}

void
spin_unlock_shared(struct spinlock *s)
{
	cpu_spin_count(-1);
	atomic_subtract_int(&s->shared, 1);
	crit_exit();
}
