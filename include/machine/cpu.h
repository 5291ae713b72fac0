/*
 * The arch hooks machine-independent code may call (the whole contract
 * between kern/ and arch/i386/).  Each says its calling context.
 */
#ifndef _MACHINE_CPU_H_
#define _MACHINE_CPU_H_

#include <sys/types.h>
#include <sys/cpumask.h>

struct globaldata;

/*
 * Values written to QEMU's isa-debug-exit port (iobase 0xf4); QEMU exits
 * with (value << 1) | 1, so the host sees 33, 35 and 37.
 */
#define KEXIT_PASS	0x10
#define KEXIT_FAIL	0x11
#define KEXIT_PANIC	0x12

/* Any CPU: end the run with a status (halts forever if no exit device). */
void	cpu_shutdown(int kexit) __noreturn;

/* Panic path: freeze the CPUs in `mask` by NMI, bounded wait. */
void	cpu_stop_cpus(cpumask_t mask);
/* Frozen-CPU loop entered by a CPU that finds another CPU panicking. */
void	cpu_stop_self(void) __noreturn;

/* Any CPU: print a backtrace starting at frame pointer `fp` (0 = here). */
void	cpu_backtrace(uint32_t fp);

/* Any CPU: print the arch part of a CPU's state for the panic dump. */
void	cpu_dump_md(struct globaldata *gd);

/*
 * The kernel's clock and its calibrated rate (Hz); any CPU, any context.
 * TSC ticks, or on a CPU without a TSC (then uniprocessor) PIT ticks at
 * 1.193182 MHz; cpu_ticks_are_tsc() says which (instruction counts under
 * -icount, as the benchmarks report them, need the TSC).
 */
uint64_t cpu_ticks(void);
extern uint64_t cpu_tsc_hz;
uint64_t cpu_ticks_to_us(uint64_t ticks);
bool	cpu_ticks_are_tsc(void);
/* cpu_ticks() at kernel entry (the BSP's first instructions; 0 with the PIT). */
extern uint64_t cpu_boot_tsc;

/* Busy-wait at least `us` microseconds (real time, calibrated). */
void	cpu_delay_us(uint32_t us);

/* Send the IPIQ "you have messages" interrupt to `gd`'s CPU. */
void	cpu_send_ipiq(struct globaldata *gd);
/*
 * Send the IPIQ interrupt to every other APIC with one IPI (destination
 * shorthand all-excluding-self); counts as one IPI sent.  Any context.  It
 * reaches APICs of CPUs the kernel never started too: callers use it only
 * under lwkt_ipiq_allbutself_ok() (kern/lwkt_ipiq.c says why that is safe).
 */
void	cpu_send_ipiq_allbutself(void);

struct thread;
/* Build a new thread's first switch frame (it starts in lwkt_thread_start). */
void	cpu_thread_init(struct thread *td);
/*
 * Unmap (on) or remap (off) the guard page at the base of td's stack; "on"
 * also drops it from this CPU's TLB, and is repeated on each CPU the thread
 * runs on.
 */
void	cpu_kstack_guard(struct thread *td, bool on);
/*
 * Map kernel page `va` to physical `pa` (0: unmap) and shoot the old
 * translation down on every CPU before returning (thread context).
 */
void	pmap_kenter_sync(vm_offset_t va, vm_paddr_t pa);
/* Switch from curthread to ntd (owner CPU, in a critical section). */
void	cpu_lwkt_switch(struct thread *ntd);
/* Program this CPU's timer to interrupt once, `tsc_delta` TSC ticks from now. */
void	cpu_timer_reload(uint64_t tsc_delta);
/* How late a systimer may run: 0 with a one-shot LAPIC timer, a tick with the PIT. */
uint32_t cpu_timer_resolution_us(void);
/* True once this CPU's timer interrupt can be used (LAPIC or PIT). */
bool	cpu_timer_ready(void);

/* Console device output; called only with the console lock held. */
void	cpu_cons_write(const char *s, size_t n);

/* This CPU's local APIC id read from the hardware now, -1 without one. */
int	cpu_apicid_live(void);

/* Wait for an interrupt: enable interrupts and halt atomically. */
void	cpu_idle_halt(void);

#endif
