/*
 * The interrupt descriptor table (Intel SDM Vol. 3 §6.10, §6.11): one table
 * shared by all CPUs, 256 interrupt gates to the stubs in vectors.asm.
 * idt_init() fills it once on the BSP before anything can fault; every CPU
 * then loads it with idt_load().  Interrupt gates clear EFLAGS.IF on entry.
 */
#include <sys/param.h>
#include <machine/segments.h>
#include "i386_var.h"

#define GATE_INTR32	0x8E		/* present, DPL 0, 32-bit interrupt gate */
#define GATE_TASK	0x85		/* present, DPL 0, task gate */
#define IDT_DF		8

extern const uint32_t intr_vectors[IDT_NVEC];

static uint64_t idt[IDT_NVEC] __aligned(8);

void
idt_init(void)
{
	int v;

	for (v = 0; v < IDT_NVEC; v++) {
		uint32_t off = intr_vectors[v];

		idt[v] = (off & 0xFFFF) | ((uint64_t)SEL(GCODE_SEL) << 16) |
		    ((uint64_t)GATE_INTR32 << 40) |
		    ((uint64_t)(off >> 16) << 48);
	}
	/*
	 * A double fault switches to each CPU's own double-fault task (the
	 * selector resolves in that CPU's GDT), so a kernel stack overflow is
	 * reported from a good stack instead of ending in a triple fault.
	 */
	idt[IDT_DF] = ((uint64_t)SEL(GDFTSS_SEL) << 16) |
	    ((uint64_t)GATE_TASK << 40);
}

void
idt_load(void)
{
	struct {
		uint16_t limit;
		uint32_t base;
	} __packed idtr = { sizeof(idt) - 1, (uint32_t)idt };

	__asm__ __volatile__("lidt %0" :: "m"(idtr));
}
