/*
 * The i386 part of a CPU's private data: the MI globaldata first (so the
 * same %fs base serves both), then this CPU's own GDT and TSS.  Written by
 * the owning CPU during its start-up (the BSP fills an AP's copy before
 * sending the STARTUP IPI), read-only afterwards.
 */
#ifndef _MACHINE_GLOBALDATA_H_
#define _MACHINE_GLOBALDATA_H_

#include <sys/globaldata.h>
#include <machine/segments.h>

struct mdglobaldata {
	struct globaldata	mi;
	uint64_t		gd_gdt[NGDT];
	struct i386tss		gd_tss;
	struct i386tss		gd_dftss;	/* double-fault task */
};

_Static_assert(offsetof(struct mdglobaldata, mi) == 0,
    "mycpu and mdcpu share the %fs base");
_Static_assert(offsetof(struct globaldata, gd_self) == 0,
    "machine/thread.h reads gd_self at %fs:0");

#define mdcpu		((struct mdglobaldata *)mycpu)

#endif
