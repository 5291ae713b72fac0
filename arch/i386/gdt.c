/*
 * Per-CPU GDT and TSS (Intel SDM Vol. 3 §3.4.5, §7.2).  Every CPU has its
 * own GDT inside its mdglobaldata: the same flat code and data segments,
 * plus a private data segment whose base is that CPU's globaldata (loaded
 * into %fs so `mycpu` is one instruction) and a TSS of its own.
 * gdt_init_cpu() fills a CPU's tables: the BSP for itself at boot and for
 * each AP before starting it; gdt_load() is run by the owning CPU.
 */
#include <sys/param.h>
#include <sys/systm.h>
#include <machine/segments.h>
#include "i386_var.h"

#define SDT_MEMRWA	0x92		/* present, DPL 0, data read/write */
#define SDT_MEMERA	0x9A		/* present, DPL 0, code exec/read */
#define SDT_SYS386TSS	0x89		/* present, DPL 0, available 32-bit TSS */
#define GRAN_4K_32	0xC		/* G=1, D/B=1 */
#define GRAN_BYTE_32	0x4		/* G=0, D/B=1 */

static uint64_t
sd_make(uint32_t base, uint32_t limit, uint8_t access, uint8_t flags)
{
	uint64_t d;

	d = (limit & 0xFFFF) | ((uint64_t)(base & 0xFFFFFF) << 16);
	d |= (uint64_t)access << 40;
	d |= (uint64_t)((limit >> 16) & 0xF) << 48;
	d |= (uint64_t)(flags & 0xF) << 52;
	d |= (uint64_t)(base >> 24) << 56;
	return d;
}

void
gdt_init_cpu(struct mdglobaldata *md, int cpuid)
{
	memset(&md->gd_tss, 0, sizeof(md->gd_tss));
	md->gd_tss.tss_ss0 = SEL(GDATA_SEL);
	md->gd_tss.tss_iobase = sizeof(md->gd_tss);	/* no I/O bitmap */

	md->gd_gdt[GNULL_SEL] = 0;
	md->gd_gdt[GCODE_SEL] = sd_make(0, 0xFFFFF, SDT_MEMERA, GRAN_4K_32);
	md->gd_gdt[GDATA_SEL] = sd_make(0, 0xFFFFF, SDT_MEMRWA, GRAN_4K_32);
	md->gd_gdt[GPRIV_SEL] = sd_make((uint32_t)md,
	    sizeof(*md) - 1, SDT_MEMRWA, GRAN_BYTE_32);
	md->gd_gdt[GTSS_SEL] = sd_make((uint32_t)&md->gd_tss,
	    sizeof(md->gd_tss) - 1, SDT_SYS386TSS, GRAN_BYTE_32);
	md->gd_gdt[GDFTSS_SEL] = sd_make((uint32_t)&md->gd_dftss,
	    sizeof(md->gd_dftss) - 1, SDT_SYS386TSS, GRAN_BYTE_32);

	md->mi.gd_self = &md->mi;
	md->mi.gd_cpuid = cpuid;
	CPUMASK_ASSBIT(md->mi.gd_cpumask, cpuid);
	md->mi.gd_spinid = (uint32_t)(cpuid + 1) << 24;
}

/* Run by the CPU that owns `md`, interrupts off. */
void
gdt_load(struct mdglobaldata *md)
{
	struct {
		uint16_t limit;
		uint32_t base;
	} __packed gdtr = { sizeof(md->gd_gdt) - 1, (uint32_t)md->gd_gdt };

	__asm__ __volatile__(
	    "lgdt %0\n\t"
	    "ljmp %1, $1f\n"
	    "1:\n\t"
	    "movw %w2, %%ds\n\t"
	    "movw %w2, %%es\n\t"
	    "movw %w2, %%ss\n\t"
	    "movw %w2, %%gs\n\t"
	    "movw %w3, %%fs\n\t"
	    "ltr %w4"
	    :: "m"(gdtr), "i"(SEL(GCODE_SEL)), "r"(SEL(GDATA_SEL)),
	       "r"(SEL(GPRIV_SEL)), "r"(SEL(GTSS_SEL))
	    : "memory");
}
