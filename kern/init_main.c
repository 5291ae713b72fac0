/*
 * Machine-independent start-up.  The BSP arrives in mi_startup() from the
 * arch boot sequence with every CPU already started; each AP arrives in
 * kern_ap_started() once its own hardware is set up.
 */
#include <sys/param.h>
#include <sys/systm.h>
#include <sys/globaldata.h>
#include <sys/ktest.h>
#include <sys/xcall.h>
#include <machine/cpu.h>
#include <machine/cpufunc.h>

int	ktest_main(void);

void	mi_startup(void) __noreturn;
void	kern_ap_started(void) __noreturn;

void
mi_startup(void)
{
	kprintf("kernel: %d CPU(s) online (mask 0x%x), %s\n",
	    cpumask_count(smp_active_mask), smp_active_mask,
	    smp_active ? "SMP" : "uniprocessor");
	cpu_enable_intr();
	cpu_shutdown(ktest_main());
}

void
kern_ap_started(void)
{
	xcall_loop();
}
