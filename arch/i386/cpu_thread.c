/*
 * The i386 part of thread creation: the initial switch frame that makes a
 * new thread start in cpu_thread_trampoline (swtch.asm), and the guard page
 * below every thread stack.  Called by the CPU creating or freeing a thread.
 */
#include <sys/param.h>
#include <sys/systm.h>
#include <sys/thread.h>
#include <machine/cpu.h>
#include "i386_var.h"

/* What cpu_lwkt_switch pops, lowest address first. */
struct switchframe {
	uint32_t	sf_eflags;
	uint32_t	sf_edi;
	uint32_t	sf_esi;
	uint32_t	sf_ebx;
	uint32_t	sf_ebp;
	uint32_t	sf_eip;
};
_Static_assert(sizeof(struct switchframe) == 24, "swtch.asm pushes 6 words");

extern void cpu_thread_trampoline(void);

void
cpu_thread_init(struct thread *td)
{
	struct switchframe *sf;
	uint32_t top = (uint32_t)td->td_kstack + td->td_kstack_size;

	sf = (struct switchframe *)(top - 16) - 1;	/* 16: keep a gap above */
	memset(sf, 0, sizeof(*sf));
	sf->sf_eflags = 0x2;		/* interrupts off until the trampoline */
	sf->sf_eip = (uint32_t)cpu_thread_trampoline;
	td->td_sp = (uint32_t)sf;
}

void
cpu_kstack_guard(struct thread *td, bool on)
{
	pmap_set_guard((vm_offset_t)td->td_kstack, on);
}
