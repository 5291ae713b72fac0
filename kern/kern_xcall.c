/*
 * Cross-call slots (sys/xcall.h).  The slot of a CPU is written by the
 * poster only while empty and cleared by the owning CPU after the call;
 * gd_xcall_done is bumped by the owner only, so the poster waits for a
 * count, never for the slot.
 */
#include <sys/param.h>
#include <sys/systm.h>
#include <sys/globaldata.h>
#include <sys/xcall.h>
#include <machine/atomic.h>
#include <machine/cpu.h>
#include <machine/cpufunc.h>

int64_t
xcall_post(int cpu, void (*fn)(void *), void *arg)
{
	struct globaldata *gd = globaldata_find(cpu);
	uint32_t done = gd->gd_xcall_done;

	if (gd->gd_xcall_func != NULL)
		return -1;
	gd->gd_xcall_arg = arg;
	cpu_ccfence();
	gd->gd_xcall_func = fn;		/* publishes arg (x86 store order) */
	cpu_send_xcall_ipi(gd);
	return (int64_t)done + 1;
}

bool
xcall_wait(int cpu, int64_t ticket, uint32_t timeout_ms)
{
	struct globaldata *gd = globaldata_find(cpu);
	uint64_t deadline = cpu_ticks() + cpu_tsc_hz / 1000 * timeout_ms;

	while ((int32_t)(gd->gd_xcall_done - (uint32_t)ticket) < 0) {
		if (cpu_ticks() > deadline)
			return false;
		cpu_pause();
	}
	return true;
}

void
xcall_loop(void)
{
	struct globaldata *gd = mycpu;
	void (*fn)(void *);

	for (;;) {
		/* Check with interrupts off, then sti;hlt: no lost wakeup. */
		cpu_disable_intr();
		while ((fn = gd->gd_xcall_func) == NULL) {
			cpu_idle_halt();
			cpu_disable_intr();
		}
		cpu_enable_intr();
		fn(gd->gd_xcall_arg);
		gd->gd_xcall_func = NULL;
		atomic_add_int(&gd->gd_xcall_done, 1);
	}
}
