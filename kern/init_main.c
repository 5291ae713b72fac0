/*
 * Machine-independent start-up.  The BSP arrives in mi_startup() from the
 * arch boot sequence once every CPU has started; each AP arrives in
 * kern_ap_started() once its own hardware is set up.  Both end up as their
 * CPU's idle thread, running on the CPU's boot stack.
 */
#include <sys/param.h>
#include <sys/systm.h>
#include <sys/globaldata.h>
#include <sys/callout.h>
#include <sys/kopts.h>
#include <sys/thread2.h>
#include <sys/tsleep.h>
#include <machine/cpu.h>
#include <machine/cpufunc.h>

void	ktest_main_thread(void *arg);
void	mi_startup(void) __noreturn;
void	kern_ap_started(void) __noreturn;

void
mi_startup(void)
{
	thread_t td;
	char cpus[CPUMASK_FMTLEN];

	kprintf("kernel: %d CPU(s) online (cpus %s), %s, hz %u%s\n",
	    cpumask_count(smp_active_mask),
	    cpumask_format(cpus, sizeof(cpus), smp_active_mask),
	    smp_active ? "SMP" : "uniprocessor", hz,
	    lwkt_untimely_switch ? ", untimely_switch on" : "");
	tsleep_init_cpu();
	clock_start_cpu();
	if (lwkt_create(ktest_main_thread, NULL, &td, NULL, TDF_STOPREQ, 0,
	    "ktest") != 0)
		panic("no memory for the test runner thread");
	lwkt_setpri(td, TDPRI_SOFT_NORM);
	lwkt_schedule(td);
	cpu_enable_intr();
	lwkt_idle_loop();
}

void
kern_ap_started(void)
{
	tsleep_init_cpu();
	clock_start_cpu();
	cpu_enable_intr();
	lwkt_idle_loop();
}
