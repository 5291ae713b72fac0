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

static __always_inline struct globaldata *
_get_mycpu(void)
{
	struct globaldata *gd;

	__asm__ ("movl %%fs:0, %0" : "=r"(gd));
	return gd;
}

#define mycpu		_get_mycpu()
#define mycpuid		(mycpu->gd_cpuid)

#endif
