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
