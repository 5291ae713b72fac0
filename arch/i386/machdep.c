/*
 * i386_init(): the BSP's boot sequence, a list of init steps in the order
 * the hardware needs them; it ends in mi_startup() and never returns.
 * Also the small machine hooks of machine/cpu.h that belong to no device:
 * shutdown through QEMU's isa-debug-exit port, freezing CPUs for a panic,
 * halting, console output.
 */
#include <sys/param.h>
#include <sys/systm.h>
#include <sys/globaldata.h>
#include <sys/chaos.h>
#include <sys/kopts.h>
#include <sys/cons.h>
#include <sys/ipiq.h>
#include <sys/systimer.h>
#include <sys/thread.h>
#include <sys/vm_page.h>
#include <machine/atomic.h>
#include <machine/cpu.h>
#include <machine/cpufunc.h>
#include "i386_var.h"

#define DEBUG_EXIT_PORT		0xF4	/* -device isa-debug-exit,iobase=0xf4 */
#define PIC1_CMD		0x20
#define PIC1_DATA		0x21
#define PIC2_CMD		0xA0
#define PIC2_DATA		0xA1
#define STOP_WAIT_US		100000

extern char bsp_boot_stack[], bsp_boot_stack_top[];
extern void mi_startup(void) __noreturn;

static void
boot_complain(void *cookie __unused, const char *line)
{
	kprintf("%s\n", line);
}

/*
 * Remap the 8259 pair away from the exception vectors and mask every line:
 * all interrupts we use come through the local APIC.  (8259A data sheet:
 * ICW1-ICW4.)
 */
static void
pic_disable(void)
{
	outb(PIC1_CMD, 0x11);
	outb(PIC2_CMD, 0x11);
	outb(PIC1_DATA, VEC_PIC_BASE);
	outb(PIC2_DATA, VEC_PIC_BASE + 8);
	outb(PIC1_DATA, 4);
	outb(PIC2_DATA, 2);
	outb(PIC1_DATA, 1);
	outb(PIC2_DATA, 1);
	outb(PIC1_DATA, 0xFF);
	outb(PIC2_DATA, 0xFF);
}

void
i386_init(uint32_t magic, vm_paddr_t mbi)
{
	struct mdglobaldata *md = cpu_private[0];
	struct bootinfo bi;
	int cpu;

	identcpu_probe();
	if (cpu_has(CPUID_TSC, 0))
		cpu_boot_tsc = rdtsc();
	gdt_init_cpu(md, 0);
	gdt_load(md);
	md->mi.gd_stack_base = (vm_offset_t)bsp_boot_stack;
	md->mi.gd_stack_size = bsp_boot_stack_top - bsp_boot_stack;
	lwkt_init_cpu_threads();	/* curthread: the idle thread, on this stack */
	idt_init();
	idt_load();
	serial_init();
	kprintf("\nLWKT i386 SMP kernel\n");

	multiboot2_parse(magic, mbi, &bi);
	kopts_defaults(&kopts);
	kopts_parse(bi.bi_cmdline, &kopts, boot_complain, NULL);
	identcpu_report();
	if (kopts.ko_mem_limit != 0)
		vm_page_limit((vm_paddr_t)kopts.ko_mem_limit << 20);
	hz = kopts.ko_hz;
	ipiq_optimized = kopts.ko_ipiq_optimized != 0;
	lwkt_untimely_switch = kopts.ko_untimely_switch != 0;
	clock_calibrate();
	mp_discover(&bi);
	if (!cpu_ticks_are_tsc())
		mp_uniprocessor("no TSC: the clock is PIT channel 2, which "
		    "only one CPU can extend");
	mp_afford_memory();
	mp_alloc_private();
	pmap_bootstrap();
	pic_disable();
	if (lapic_base != NULL) {
		lapic_init_cpu();
		if (!lapic_timer_calibrate())
			mp_uniprocessor("the local APIC timer does not count "
			    "and the PIT interrupts only CPU 0");
	}
	for (cpu = 0; cpu < ncpus; cpu++)
		lwkt_ipiq_init_cpu(&cpu_private[cpu]->mi);
	cpu_init_lwkt();
	mp_start_aps();
	mi_startup();
}

/*
 * The last per-CPU step before a CPU runs threads (BSP here, each AP in
 * ap_main): its systimer queue and timer, the untimely_switch flag, its
 * chaos stream (sys/chaos.h), online.
 */
void
cpu_init_lwkt(void)
{
	struct globaldata *gd = mycpu;

	dblfault_init_cpu();
	systimer_init_cpu();
	clock_init_cpu();
	if (lwkt_untimely_switch)
		atomic_set_int(&gd->gd_reqflags, RQF_UNTIMELY);
	chaos_init_cpu();
	atomic_store_rel_int(&gd->gd_state, GDS_ONLINE);
}

void
cpu_shutdown(int kexit)
{
	cons_flush();
	cpu_disable_intr();
	outl(DEBUG_EXIT_PORT, (uint32_t)kexit);
	for (;;)
		cpu_hlt();
}

void
cpu_cons_write(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (s[i] == '\n')
			serial_putc('\r');
		serial_putc(s[i]);
	}
}

void
cpu_idle_halt(void)
{
	cpu_sti_hlt();
}

int
cpu_apicid_live(void)
{
	return lapic_base != NULL ? (int)lapic_id() : -1;
}

/*
 * Panic path, interrupts off: NMI the CPUs of `mask` (an NMI gets through
 * even where interrupts or critical sections hold a CPU) and wait up to
 * 100 ms for each to report GDS_STOPPED.
 */
void
cpu_stop_cpus(cpumask_t mask)
{
	uint64_t deadline;
	int cpu;

	mask = cpumask_andnot(cpumask_and(mask, smp_active_mask),
	    mycpu->gd_cpumask);
	if (!smp_active || cpumask_empty(mask))
		return;
	CPUMASK_FOREACH(cpu, mask)
		lapic_send_ipi(globaldata_find(cpu)->gd_apicid, ICR_NMI);
	deadline = cpu_ticks() + cpu_tsc_hz / 1000000 * STOP_WAIT_US;
	CPUMASK_FOREACH(cpu, mask) {
		struct globaldata *ogd;

		ogd = globaldata_find(cpu);
		while (ogd->gd_state != GDS_STOPPED && cpu_ticks() < deadline)
			cpu_pause();
		if (ogd->gd_state != GDS_STOPPED)
			kprintf("panic: cpu %d did not stop within %d ms\n",
			    cpu, STOP_WAIT_US / 1000);
	}
}

void
cpu_stop_self(void)
{
	cpu_disable_intr();
	atomic_store_rel_int(&mycpu->gd_state, GDS_STOPPED);
	for (;;)
		cpu_hlt();
}

void
cpu_dump_md(struct globaldata *gd)
{
	if ((gd->gd_state == GDS_STOPPED || gd->gd_state == GDS_HELD) &&
	    gd->gd_stop_eip != 0) {
		kprintf("    stopped at ");
		cpu_print_addr(gd->gd_stop_eip);
		kprintf("\n");
		cpu_backtrace(gd->gd_stop_ebp);
	}
}
