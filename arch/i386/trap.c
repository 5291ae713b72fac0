/*
 * Interrupt and exception dispatch.  trap() runs on the interrupted CPU with
 * interrupts disabled (interrupt gates), on the interrupted stack.
 * Exceptions 0-31 print a full report (vector, name, error code, EIP with
 * symbol, CR2 for page faults, registers, CPU, backtrace) and panic; an NMI
 * sent by a panicking CPU freezes this one (cpu_stop_self); LAPIC vectors
 * are acknowledged here.  Intel SDM Vol. 3 §6.3.1 (exception table), §6.15
 * (exception classes and error codes).
 */
#include <sys/param.h>
#include <sys/systm.h>
#include <sys/globaldata.h>
#include <sys/cons.h>
#include <sys/ksyms.h>
#include <sys/ipiq.h>
#include <sys/thread2.h>
#include <machine/atomic.h>
#include <machine/cpu.h>
#include <machine/cpufunc.h>
#include "i386_var.h"

static const char *const trap_names[32] = {
	"Divide error", "Debug", "NMI", "Breakpoint", "Overflow",
	"BOUND range exceeded", "Invalid opcode", "Device not available",
	"Double fault", "Coprocessor segment overrun", "Invalid TSS",
	"Segment not present", "Stack-segment fault", "General protection",
	"Page fault", "Reserved (15)", "x87 floating-point error",
	"Alignment check", "Machine check", "SIMD floating-point error",
	"Virtualization exception", "Control protection", "Reserved (22)",
	"Reserved (23)", "Reserved (24)", "Reserved (25)", "Reserved (26)",
	"Reserved (27)", "Hypervisor injection", "VMM communication",
	"Security exception", "Reserved (31)",
};

/* Set by the panic path before it sends NMIs (kern_panic.c reads it too). */
extern volatile int panic_cpu;

void
cpu_print_addr(uint32_t addr)
{
	uint32_t off;
	const char *name = ksym_lookup(addr, &off);

	if (name != NULL)
		kprintf("0x%08x <%s+0x%x>", addr, name, off);
	else
		kprintf("0x%08x", addr);
}

static void
trap_report(struct intrframe *tf)
{
	struct globaldata *gd = mycpu;
	uint32_t err = tf->tf_err;

	cons_flush();			/* the report starts on a line of its own */
	kprintf("Fatal trap %u (%s) on cpu %d (apic id %d)\n",
	    tf->tf_trapno, trap_names[tf->tf_trapno], gd->gd_cpuid,
	    gd->gd_apicid);
	if (tf->tf_trapno == 14) {
		kprintf("  page fault: cr2 0x%08x, error 0x%x (%s, %s)\n",
		    rcr2(), err, (err & 2) ? "write" : "read",
		    (err & 1) ? "protection violation" : "page not present");
	} else {
		kprintf("  error code 0x%08x\n", err);
	}
	kprintf("  eip ");
	cpu_print_addr(tf->tf_eip);
	kprintf("  cs 0x%04x  eflags 0x%08x\n", tf->tf_cs, tf->tf_eflags);
	kprintf("  eax 0x%08x  ebx 0x%08x  ecx 0x%08x  edx 0x%08x\n",
	    tf->tf_eax, tf->tf_ebx, tf->tf_ecx, tf->tf_edx);
	kprintf("  esi 0x%08x  edi 0x%08x  ebp 0x%08x  esp 0x%08x\n",
	    tf->tf_esi, tf->tf_edi, tf->tf_ebp,
	    (uint32_t)&tf->tf_eflags + 4);
	kprintf("  backtrace of the faulting code:\n");
	cpu_backtrace(tf->tf_ebp);
}

static void ipiq_intr(struct intrframe *tf);

void
trap(struct intrframe *tf)
{
	struct globaldata *gd = mycpu;
	thread_t td = gd->gd_curthread;
	uint32_t vec = tf->tf_trapno;

	if (vec == 2 && panic_cpu >= 0 && panic_cpu != gd->gd_cpuid &&
	    gd->gd_state != GDS_HELD) {
		gd->gd_stop_eip = tf->tf_eip;
		gd->gd_stop_ebp = tf->tf_ebp;
		cpu_stop_self();
	}
	if (vec < 32) {
		trap_report(tf);
		panic("fatal trap %u (%s) on cpu %d", vec, trap_names[vec],
		    gd->gd_cpuid);
	}

	gd->gd_cnt_intr++;
	gd->gd_intr_nesting_level++;
	switch (vec) {
	case VEC_SPURIOUS:
		break;			/* no EOI for the spurious vector */
	case VEC_IPIQ:
		lapic_eoi();
		ipiq_intr(tf);
		break;
	case VEC_TIMER:
	case VEC_PIC_BASE:		/* PIT, uniprocessor fallback */
		timer_intr(tf);
		break;
	default:
		if (vec > VEC_PIC_BASE && vec < VEC_PIC_BASE + 16)
			break;		/* spurious 8259 IRQ: the lines are masked */
		kprintf("trap: unexpected interrupt vector 0x%x on cpu %d\n",
		    vec, gd->gd_cpuid);
		if (lapic_present())
			lapic_eoi();
		break;
	}
	gd->gd_intr_nesting_level--;
	/* Back to thread level: run what the handler deferred or requested. */
	if (gd->gd_intr_nesting_level == 0 && td->td_critcount == 0 &&
	    (gd->gd_reqflags & (RQF_DEFERRED | RQF_AST_LWKT_RESCHED)) != 0)
		lwkt_splz();
}

/*
 * IPIQ interrupt: run the messages now, or, if the interrupted thread is in
 * a critical section, leave them for the end of that section.
 */
static void
ipiq_intr(struct intrframe *tf)
{
	struct globaldata *gd = mycpu;
	thread_t td = gd->gd_curthread;

	gd->gd_cnt_ipi_recv++;
	if (td->td_critcount > 0) {
		atomic_set_int(&gd->gd_reqflags, RQF_IPIQ);
		return;
	}
	gd->gd_stop_eip = tf->tf_eip;		/* where a panic freeze finds us */
	gd->gd_stop_ebp = tf->tf_ebp;
	crit_enter_quick(td);
	lwkt_process_ipiq_frame(tf);
	crit_exit_noyield(td);
}
