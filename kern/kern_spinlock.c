/*
 * Spinlocks: the contended path, try-lock and shared mode (sys/spinlock.h;
 * the lock word's layout is in include/machine/thread.h).
 *
 * Exclusive: taken only when the whole word is 0 (no holder, no readers).
 * A contended writer sets SPINLOCK_WANT, which keeps new readers out, waits
 * for the holder and the readers to leave, and then takes the word from
 * WANT alone to its own tag (another waiting writer sets WANT again).
 * Shared: a reader adds 1 and keeps it if there is neither a holder nor a
 * waiting writer, else backs out and waits.  Releasing an exclusive lock
 * clears only the top byte, so a reader's transient count survives it.
 *
 * Waits are bounded: a console line after 1 s naming the lock and its
 * holder CPU, a panic after 10 s.  Any CPU, any context that may spin
 * (never a hard interrupt on a CPU that may hold the lock).
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
	s->name = name;
}

static int
spin_holder(uint32_t v)
{
	return (int)(v >> 24) - 1;
}

static void
spin_wait(struct spinlock *s, uint64_t t0, bool *warned, const char *what)
{
	uint64_t us = cpu_ticks_to_us(cpu_ticks() - t0);
	uint32_t v = s->lock;

	if (us > SPIN_WARN_US && !*warned) {
		*warned = true;
		kprintf("spin: cpu %d has waited %llu ms for %s \"%s\" (held by "
		    "cpu %d, %u readers)\n", mycpuid, us / 1000, what, s->name,
		    spin_holder(v), v & SPINLOCK_SHARED_MASK);
	}
	if (us > SPIN_PANIC_US)
		panic("spin: cpu %d waited %u s for %s \"%s\" held by cpu %d "
		    "(%u readers)", mycpuid, SPIN_PANIC_US / 1000000, what,
		    s->name, spin_holder(v), v & SPINLOCK_SHARED_MASK);
	cpu_pause();
}

void
spin_lock_contested(struct spinlock *s)
{
	uint64_t t0 = cpu_ticks();
	uint32_t me = mycpu->gd_spinid, v;
	bool warned = false;

	if ((s->lock & SPINLOCK_EXCL_MASK) == me)
		panic("spin: cpu %d takes spinlock \"%s\" it already holds",
		    mycpuid, s->name);
	for (;;) {
		v = s->lock;
		if ((v & ~SPINLOCK_WANT) == 0) {
			if (atomic_cmpset_int(&s->lock, v, me))
				return;
			continue;
		}
		if ((v & SPINLOCK_WANT) == 0)
			atomic_set_int(&s->lock, SPINLOCK_WANT);
		spin_wait(s, t0, &warned, "spinlock");
	}
}

/*
 * The critical sections below are the _quick kind: they end in
 * spin_unlock()/spin_unlock_shared(), another function, by design.
 */
bool
spin_trylock(struct spinlock *s)
{
	crit_enter_quick(curthread);
	if (cpu_spin_tryget(&s->lock)) {
		cpu_spin_count(1);
		return true;
	}
	if ((s->lock & SPINLOCK_EXCL_MASK) == mycpu->gd_spinid)
		panic("spin: cpu %d trylock of spinlock \"%s\" it already holds",
		    mycpuid, s->name);
	crit_exit_quick(curthread);
	return false;
}

void
spin_lock_shared(struct spinlock *s)
{
	uint64_t t0 = cpu_ticks();
	bool warned = false;
	uint32_t v;

	crit_enter_quick(curthread);
	for (;;) {
		v = atomic_fetchadd_int(&s->lock, 1);
		if ((v & (SPINLOCK_EXCL_MASK | SPINLOCK_WANT)) == 0)
			break;
		atomic_subtract_int(&s->lock, 1);
		while (s->lock & (SPINLOCK_EXCL_MASK | SPINLOCK_WANT))
			spin_wait(s, t0, &warned, "shared spinlock");
	}
	cpu_spin_count(1);
}

void
spin_unlock_shared(struct spinlock *s)
{
	cpu_spin_count(-1);
	atomic_subtract_int(&s->lock, 1);
	crit_exit_quick(curthread);
}
