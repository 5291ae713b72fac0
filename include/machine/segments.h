/*
 * Segment selectors, descriptors and the 32-bit TSS (Intel SDM Vol. 3
 * §3.4.5 segment descriptors, §7.2.1 TSS, §6.11 IDT descriptors).
 */
#ifndef _MACHINE_SEGMENTS_H_
#define _MACHINE_SEGMENTS_H_

#include <sys/types.h>

/* GDT slots, identical on every CPU except for the PRIV and TSS bases. */
#define GNULL_SEL	0
#define GCODE_SEL	1	/* kernel code, flat */
#define GDATA_SEL	2	/* kernel data, flat */
#define GPRIV_SEL	3	/* base = this CPU's globaldata (%fs) */
#define GTSS_SEL	4	/* this CPU's TSS */
#define GDFTSS_SEL	5	/* double-fault task (stack overflow reports) */
#define NGDT		6

#define SEL(slot)	((slot) << 3)

struct i386tss {
	uint32_t	tss_link;
	uint32_t	tss_esp0;
	uint32_t	tss_ss0;
	uint32_t	tss_esp1;
	uint32_t	tss_ss1;
	uint32_t	tss_esp2;
	uint32_t	tss_ss2;
	uint32_t	tss_cr3;
	uint32_t	tss_eip;
	uint32_t	tss_eflags;
	uint32_t	tss_eax, tss_ecx, tss_edx, tss_ebx;
	uint32_t	tss_esp, tss_ebp, tss_esi, tss_edi;
	uint32_t	tss_es, tss_cs, tss_ss, tss_ds, tss_fs, tss_gs;
	uint32_t	tss_ldt;
	uint16_t	tss_trap;
	uint16_t	tss_iobase;
};

_Static_assert(sizeof(struct i386tss) == 104, "SDM Vol. 3 Figure 7-2");

#endif
