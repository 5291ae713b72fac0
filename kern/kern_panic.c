/*
 * panic() (LWKT-SPEC §11): print the message, the CPU and its context, a
 * backtrace; freeze every other CPU; dump each CPU's state; end the run
 * with the panic status.  The first CPU to panic owns the panic (panic_cpu);
 * another CPU that panics meanwhile freezes itself, and a panic on the
 * panicking CPU itself (during the dump, say) prints one line and exits at
 * once, so a panic inside a panic never loops.  Any CPU, any context.
 */
#include <sys/param.h>
#include <sys/systm.h>
#include <sys/globaldata.h>
#include <sys/cons.h>
#include <sys/cpusync.h>
#include <sys/ipiq.h>
#include <sys/thread.h>
#include <machine/atomic.h>
#include <machine/cpu.h>
#include <machine/cpufunc.h>

volatile int panic_cpu = -1;		/* sys/systm.h */

#define PANIC_HOLD_WAIT_US	100000

static const char *const gd_state_names[] = {
	[GDS_OFFLINE] = "offline", [GDS_ONLINE] = "online",
	[GDS_STOPPED] = "stopped by NMI", [GDS_HELD] = "held, serving IPIQ",
};

/*
 * Stop the world for a panic.  First a cpusync that is never finished,
 * sent without ever waiting for FIFO room (a CPU with interrupts off may
 * never make room): each other CPU reached, at its next IPIQ pass, counts
 * in and freezes inside IPIQ processing, still serving messages.  A CPU
 * the send could not reach is stopped by NMI at once; one that does not
 * count in within 100 ms (interrupts or a critical section hold it) is
 * stopped by NMI then.  Nothing here blocks, switches or drains: on the
 * panicking CPU lwkt_splz(), lwkt_switch() and lwkt_process_ipiq_frame()
 * return at once.
 */
static void
panic_freeze(struct lwkt_cpusync *cs __unused)
{
	struct globaldata *gd = mycpu;

	atomic_store_rel_int(&gd->gd_state, GDS_HELD);
	for (;;) {
		lwkt_process_ipiq();
		cpu_pause();
	}
}

static struct lwkt_cpusync panic_cs = CPUSYNC_INITIALIZER(panic_freeze, NULL,
    NULL, NULL);

static void
panic_stop_world(void)
{
	cpumask_t others = cpumask_andnot(smp_active_mask, mycpu->gd_cpumask);
	cpumask_t reached, held, missed;
	char cpus[CPUMASK_FMTLEN];
	uint64_t deadline;
	int cpu;

	if (cpumask_empty(others))
		return;
	CPUMASK_ASSZERO(held);
	reached = lwkt_cpusync_launch(others, &panic_cs);
	missed = cpumask_andnot(others, reached);
	if (!cpumask_empty(missed)) {
		kprintf("panic: IPIQ full toward cpus %s: NMI\n",
		    cpumask_format(cpus, sizeof(cpus), missed));
		cpu_stop_cpus(missed);
	}
	deadline = cpu_ticks() + cpu_tsc_hz / 1000000 * PANIC_HOLD_WAIT_US;
	while (cpu_ticks() < deadline && !cpumask_equal(held, reached)) {
		CPUMASK_FOREACH(cpu, reached)
			if (globaldata_find(cpu)->gd_state == GDS_HELD)
				CPUMASK_SETBIT(held, cpu);
		cpu_pause();
	}
	missed = cpumask_andnot(reached, held);
	if (!cpumask_empty(missed))
		cpu_stop_cpus(missed);
}

static void
panic_dump_cpus(void)
{
	int cpu;

	kprintf("panic: per-CPU state:\n");
	for (cpu = 0; cpu < ncpus; cpu++) {
		struct globaldata *gd = globaldata_find(cpu);

		thread_t td = gd->gd_curthread;

		kprintf("  cpu %d: apic id %d, %s%s, curthread \"%s\" (crit %d), "
		    "runqmask 0x%08x, reqflags 0x%x, intr nesting %d\n",
		    gd->gd_cpuid, gd->gd_apicid,
		    gd->gd_state < nitems(gd_state_names) ?
		    gd_state_names[gd->gd_state] : "?",
		    cpu == panic_cpu ? " (panicking)" : "",
		    td ? td->td_comm : "-", td ? td->td_critcount : 0,
		    gd->gd_runqmask, gd->gd_reqflags,
		    gd->gd_intr_nesting_level);
		kprintf("    switches %llu, preempt hit/miss/weird %llu/%llu/%llu, "
		    "IPIs sent/recv %llu/%llu, ipiq msgs %llu\n",
		    gd->gd_cnt_switch, gd->gd_cnt_preempt_hit,
		    gd->gd_cnt_preempt_miss, gd->gd_cnt_preempt_weird,
		    gd->gd_cnt_ipi_sent, gd->gd_cnt_ipi_recv,
		    gd->gd_cnt_ipiq_count);
		cpu_dump_md(gd);
	}
	kprintf("panic: threads:\n");
	lwkt_dump_threads();
}

void
panic(const char *fmt, ...)
{
	struct globaldata *gd = mycpu;
	int me = gd->gd_cpuid;
	va_list ap;

	cpu_disable_intr();
	if (!atomic_cmpset_int((volatile uint32_t *)&panic_cpu,
	    (uint32_t)-1, (uint32_t)me)) {
		if (panic_cpu != me)
			cpu_stop_self();	/* another CPU owns the panic */
		cons_break_lock();
		kprintf("\npanic: recursive panic on cpu %d: ", me);
		va_start(ap, fmt);
		kvprintf(fmt, ap);
		va_end(ap);
		kprintf("\n");
		cpu_shutdown(KEXIT_PANIC);
	}

	cons_flush();
	kprintf("panic: ");
	va_start(ap, fmt);
	kvprintf(fmt, ap);
	va_end(ap);
	kprintf("\n");
	kprintf("panic: on cpu %d (apic id %d), thread \"%s\", crit %d, "
	    "intr nesting %d\n", me, gd->gd_apicid,
	    gd->gd_curthread ? gd->gd_curthread->td_comm : "-",
	    gd->gd_curthread ? gd->gd_curthread->td_critcount : 0,
	    gd->gd_intr_nesting_level);
	kprintf("panic: backtrace:\n");
	cpu_backtrace(0);
	panic_stop_world();
	cons_break_lock();
	panic_dump_cpus();
	kprintf("panic: halting with the panic status\n");
	cpu_shutdown(KEXIT_PANIC);
}
