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

static __always_inline struct globaldata *
_get_mycpu(void)
{
	struct globaldata *gd;

	__asm__ ("movl %%fs:0, %0" : "=r"(gd));
	return gd;
}

/* The current thread: one load, %fs:4 (gd_curthread). */
static __always_inline struct thread *
_get_curthread(void)
{
	struct thread *td;

	__asm__ ("movl %%fs:4, %0" : "=r"(td));
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

#define mycpu		_get_mycpu()
#define mycpuid		(mycpu->gd_cpuid)
#define curthread	_get_curthread()

#endif
