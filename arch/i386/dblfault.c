/*
 * Double faults and kernel stack overflow (Intel SDM Vol. 3 §6.15
 * "Interrupt 8 — Double Fault Exception", §7.3 task switching).  Running
 * off the bottom of a thread stack hits the unmapped guard page; the page
 * fault cannot push its frame on that stack, which raises a double fault.
 * IDT vector 8 is a task gate, so the CPU switches to this CPU's double-
 * fault task (gd_dftss), with its own stack, saving the faulting state in
 * the CPU's main TSS.  dblfault_handler() reads it back, names the thread
 * and panics.  Set up with paging on: for an AP by the BSP before starting
 * it (dblfault_setup_cpu), else by the CPU for itself (dblfault_init_cpu).
 */
#include <sys/param.h>
#include <sys/systm.h>
#include <sys/cons.h>
#include <sys/thread.h>
#include <sys/vm_page.h>
#include <machine/cpu.h>
#include <machine/cpufunc.h>
#include <machine/globaldata.h>
#include <machine/segments.h>
#include "i386_var.h"


void	dblfault_handler(void) __noreturn;

/*
 * Give the CPU of `md` its double-fault stack and task.  Any CPU, paging
 * on: the BSP does it for each AP before starting it (mp_start_aps(), so
 * the page allocator's lock is not fought over by every AP at once), a CPU
 * left unprepared does it for itself in dblfault_init_cpu().
 */
void
dblfault_setup_cpu(struct mdglobaldata *md)
{
	struct i386tss *t = &md->gd_dftss;
	uint8_t *stack = vm_page_alloc(DF_STACK_PAGES);

	if (stack == NULL)
		panic("dblfault: no memory for cpu %d's stack", md->mi.gd_cpuid);
	memset(t, 0, sizeof(*t));
	t->tss_eip = (uint32_t)dblfault_handler;
	t->tss_esp = t->tss_esp0 = (uint32_t)stack + DF_STACK_PAGES * PAGE_SIZE - 16;
	t->tss_ebp = 0;
	t->tss_cr3 = rcr3();
	t->tss_eflags = 0x2;			/* interrupts off */
	t->tss_cs = SEL(GCODE_SEL);
	t->tss_ss = t->tss_ss0 = t->tss_ds = t->tss_es = t->tss_gs =
	    SEL(GDATA_SEL);
	t->tss_fs = SEL(GPRIV_SEL);		/* so mycpu works in the handler */
	t->tss_iobase = sizeof(*t);
}

void
dblfault_init_cpu(void)
{
	if (mdcpu->gd_dftss.tss_eip == 0)
		dblfault_setup_cpu(mdcpu);
}

/* Entered by the task switch, on the double-fault stack; never returns. */
void
dblfault_handler(void)
{
	struct mdglobaldata *md = mdcpu;
	struct globaldata *gd = &md->mi;
	struct thread *td = gd->gd_curthread;
	const struct i386tss *t = &md->gd_tss;	/* state at the fault */
	uint32_t lo = (uint32_t)td->td_kstack;

	cons_flush();
	if (td->td_kstack != NULL && t->tss_esp < lo + PAGE_SIZE + 256 &&
	    t->tss_esp + PAGE_SIZE >= lo) {
		kprintf("Fatal double fault on cpu %d: stack overflow in thread "
		    "\"%s\" (esp 0x%08x; stack 0x%08x-0x%08x, guard page "
		    "0x%08x-0x%08x)\n", gd->gd_cpuid, td->td_comm, t->tss_esp,
		    lo + PAGE_SIZE, lo + td->td_kstack_size, lo, lo + PAGE_SIZE);
	} else {
		kprintf("Fatal double fault on cpu %d in thread \"%s\" "
		    "(esp 0x%08x)\n", gd->gd_cpuid, td->td_comm, t->tss_esp);
	}
	kprintf("  eip ");
	cpu_print_addr(t->tss_eip);
	kprintf("\n  backtrace of the faulting code:\n");
	cpu_backtrace(t->tss_ebp);
	panic("double fault on cpu %d in thread \"%s\"%s", gd->gd_cpuid,
	    td->td_comm, t->tss_esp < lo + PAGE_SIZE + 256 ?
	    ": kernel stack overflow" : "");
}
