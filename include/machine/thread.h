/*
 * mycpu: the current CPU's globaldata, one %fs-relative load (LWKT-SPEC
 * §2.4).  Each CPU's GDT has a data segment (GSEL_PRIV) whose base is that
 * CPU's globaldata, and %fs holds it from early CPU start-up on.  Any CPU,
 * any context; the value cannot change under the caller (threads do not
 * migrate without switching, and a switch reloads nothing here).
 */
#ifndef _MACHINE_THREAD_H_
#define _MACHINE_THREAD_H_

struct globaldata;
struct thread;

/*
 * The dummy memory operand makes every function call (which may migrate
 * the thread to another CPU, lwkt_setcpu_self) invalidate a previous
 * `mycpu`, while straight-line code may still reuse one load.
 */
extern int mycpu_reload;

static __always_inline struct globaldata *
_get_mycpu(void)
{
	struct globaldata *gd;

	__asm__("movl %%fs:0, %0" : "=r"(gd) : "m"(mycpu_reload));
	return gd;
}

/*
 * The current thread: one load, %fs:4 (gd_curthread).  It may be reused
 * across calls: a thread is still the current thread after it migrates.
 */
static __always_inline struct thread *
_get_curthread(void)
{
	struct thread *td;

	__asm__("movl %%fs:4, %0" : "=r"(td));
	return td;
}

/* This CPU's pending-work flags, %fs:8 (gd_reqflags). */
static __always_inline uint32_t
_get_reqflags(void)
{
	uint32_t f;

	__asm__ __volatile__("movl %%fs:8, %0" : "=r"(f) :: "memory");
	return f;
}

/*
 * Critical-section counter primitives for sys/thread2.h: one
 * read-modify-write instruction each, so the common paths stay a handful
 * of instructions.  cpu_crit_dec() returns 0 while sections remain or when
 * the outermost one ends with nothing pending, 1 when it ends with work in
 * gd_reqflags (%fs:8), -1 when the count went negative.
 */
static __always_inline void
cpu_crit_inc(int *count)
{
	__asm__ __volatile__("incl %0" : "+m"(*count) :: "memory");
}

static __always_inline int
cpu_crit_dec(int *count)
{
	__asm__ goto __volatile__(
	    "decl %0\n\t"
	    "jg %l[inner]\n\t"
	    "jl %l[negative]\n\t"
	    "cmpl $0, %%fs:8\n\t"
	    "jne %l[work]"
	    : : "m"(*count) : "memory", "cc" : inner, negative, work);
	return 0;
inner:
	return 0;
negative:
	return -1;
work:
	return 1;
}

/* Decrement without looking at pending work: -1 if negative, else 0. */
static __always_inline int
cpu_crit_dec_noyield(int *count)
{
	__asm__ goto __volatile__(
	    "decl %0\n\t"
	    "jl %l[negative]"
	    : : "m"(*count) : "memory", "cc" : negative);
	return 0;
negative:
	return -1;
}

/*
 * Spinlock fast paths for sys/spinlock2.h.  The lock word holds the
 * exclusive holder's tag ((cpuid + 1) << 24, gd_spinid at %fs:20) in its
 * top byte, a "writer waiting" bit and the count of shared holders below.
 * An exclusive lock is taken only from 0 (one compare-and-exchange) and
 * released by clearing the top byte alone, so shared holders counting in
 * or backing out meanwhile are never lost.
 */
#define SPINLOCK_EXCL_MASK	0xFF000000u
#define SPINLOCK_WANT		0x00800000u
#define SPINLOCK_SHARED_MASK	0x007FFFFFu

static __always_inline bool
cpu_spin_tryget(volatile uint32_t *lock)
{
	uint32_t old = 0, me;

	__asm__ goto __volatile__(
	    "movl %%fs:20, %1\n\t"
	    "lock; cmpxchgl %1, %2\n\t"
	    "jnz %l[busy]"
	    : "+a"(old), "=&r"(me), "+m"(*lock) :: "memory", "cc" : busy);
	return true;
busy:
	return false;
}

static __always_inline void
cpu_spin_release(volatile uint32_t *lock)
{
	__asm__ __volatile__("lock; andl %1, %0"
	    : "+m"(*lock) : "i"(~SPINLOCK_EXCL_MASK) : "memory", "cc");
}

/* Add 1 to a 64-bit counter of this CPU's globaldata (one %fs-relative add). */
#define cpu_gd_count(field)						\
	__asm__ __volatile__("addl $1, %%fs:%c0\n\tadcl $0, %%fs:%c1"	\
	    :: "i"(offsetof(struct globaldata, field)),			\
	       "i"(offsetof(struct globaldata, field) + 4) : "memory", "cc")

static __always_inline void
cpu_spin_count(int delta)
{
	__asm__ __volatile__("addl %0, %%fs:16" :: "ri"(delta) : "memory", "cc");
}

#define mycpu		_get_mycpu()
#define mycpuid		(mycpu->gd_cpuid)
#define curthread	_get_curthread()

#endif
