/*
 * Declarations shared between the files of arch/i386 (not for kern/).
 */
#ifndef _ARCH_I386_VAR_H_
#define _ARCH_I386_VAR_H_

#include <sys/types.h>
#include <machine/globaldata.h>

/* Interrupt vectors (LWKT-SPEC §2.5). */
#define IDT_NVEC		256
#define VEC_PIC_BASE		0x20	/* legacy 8259s, remapped and masked */
#define VEC_IPIQ		0xE0	/* IPIQ: "you have messages" */
#define VEC_TIMER		0xE1	/* local APIC timer: systimers */
#define VEC_SPURIOUS		0xFF	/* LAPIC spurious: no EOI */

/* Register state pushed by the common interrupt stub (vectors.asm). */
struct intrframe {
	uint32_t	tf_edi, tf_esi, tf_ebp, tf_isp;	/* pushal order */
	uint32_t	tf_ebx, tf_edx, tf_ecx, tf_eax;
	uint32_t	tf_trapno;
	uint32_t	tf_err;
	uint32_t	tf_eip, tf_cs, tf_eflags;	/* pushed by the CPU */
};
_Static_assert(sizeof(struct intrframe) == 13 * 4, "vectors.asm builds this frame");
_Static_assert(offsetof(struct intrframe, tf_trapno) == 32, "vectors.asm");

/* identcpu.c: the CPU model's features (BSP fills it before APs start). */
struct cpu_ident {
	bool		ci_i486;	/* EFLAGS.AC toggles */
	bool		ci_cpuid;	/* EFLAGS.ID toggles: CPUID exists */
	bool		ci_fault_no_cpuid; /* fault.no_cpuid hid it */
	char		ci_vendor[13];
	uint32_t	ci_max_leaf;	/* CPUID.0:EAX */
	uint32_t	ci_family, ci_model, ci_stepping;
	uint32_t	ci_feat_edx;	/* CPUID.1:EDX, 0 without leaf 1 */
	uint32_t	ci_feat_ecx;	/* CPUID.1:ECX */
};
extern struct cpu_ident cpu_ident;
#define CPUID_FPU	(1u << 0)	/* CPUID.1:EDX */
#define CPUID_TSC	(1u << 4)
#define CPUID_MSR	(1u << 5)
#define CPUID_CX8	(1u << 8)
#define CPUID_APIC	(1u << 9)
#define CPUID_CMOV	(1u << 15)
#define CPUID_SSE2	(1u << 26)
#define CPUID2_HYPERVISOR (1u << 31)	/* CPUID.1:ECX */
#define CPUID_HV_BASE	0x40000000u
void	identcpu_probe(void);
void	identcpu_report(void);
/* All the CPUID.1 EDX bits `edx` and ECX bits `ecx` are set. */
bool	cpu_has(uint32_t edx, uint32_t ecx);
/* CPUID `leaf` into r if the CPU has it (basic range), else false. */
bool	cpuid_leaf(uint32_t leaf, uint32_t r[4]);
/* A hypervisor CPUID leaf (0x4000xxxx) if one is reported, else false. */
bool	cpuid_hypervisor_leaf(uint32_t leaf, uint32_t r[4]);

/* serial.c */
void	serial_init(void);
void	serial_putc(int c);

/* gdt.c */
void	gdt_init_cpu(struct mdglobaldata *md, int cpuid);
void	gdt_load(struct mdglobaldata *md);

/* idt.c, trap.c */
void	idt_init(void);
void	idt_load(void);
void	trap(struct intrframe *tf);
void	cpu_print_addr(uint32_t addr);

/* multiboot2.c: struct bootinfo, multiboot2_parse() */
#include "multiboot2.h"

/* pmap.c */
void	pmap_bootstrap(void);
uint32_t pmap_bootstrap_pages(void);
void	pmap_map_uncached(vm_paddr_t pa);
bool	pmap_va_valid(vm_offset_t va);
void	pmap_set_guard(vm_offset_t va, bool on);

/* lapic.c */
extern volatile uint8_t *lapic_base;
bool	lapic_present(void);
#define LAPIC_DEFAULT_PA 0xFEE00000u	/* SDM Vol. 3 §10.4.1 */
vm_paddr_t lapic_pa_check(vm_paddr_t table_pa, const char *source);
void	lapic_init_cpu(void);
uint32_t lapic_id(void);
void	lapic_eoi(void);
int	lapic_send_ipi(uint32_t apicid, uint32_t icr_lo);
#define ICR_DELMODE_MASK 0x00000700
#define ICR_INIT	0x00000500
#define ICR_STARTUP	0x00000600
#define ICR_NMI		0x00000400
#define ICR_FIXED	0x00000000
#define ICR_LEVEL_ASSERT 0x00004000
#define ICR_TRIG_LEVEL	0x00008000
#define ICR_DEST_ALLBUT	0x000C0000	/* shorthand: all excluding self */

bool	lapic_timer_calibrate(void);
bool	lapic_timer_usable(void);
void	lapic_route_pic(void);
void	lapic_timer_init_cpu(void);
void	lapic_timer_reload(uint64_t tsc_delta);

/* clock.c */
void	clock_calibrate(void);
void	clock_init_cpu(void);
void	timer_intr(struct intrframe *frame);
void	clock_pace_startup(bool on);	/* mp_start_aps() only */

/* dblfault.c */
#define DF_STACK_PAGES	2		/* each CPU's double-fault stack */
void	dblfault_init_cpu(void);
void	dblfault_setup_cpu(struct mdglobaldata *md);

/* machdep.c */
void	cpu_init_lwkt(void);

/* mp_boot.c */
struct cpu_enum;
vm_paddr_t mp_lapic_pa(const struct cpu_enum *ce);
void	mp_discover(const struct bootinfo *bi);
void	mp_start_aps(void);
void	mp_uniprocessor(const char *why);
void	mp_afford_memory(void);	/* before pmap_bootstrap() */
void	mp_alloc_private(void);	/* after mp_afford_memory() */
void	ap_main(int cpuid) __noreturn;
/* The wait between INIT and STARTUP a CPU model needs, in microseconds. */
uint32_t mp_init_wait_us(uint32_t family, uint32_t lapic_version);
#define MP_INIT_WAIT_US		10000	/* MP Spec B.4: 82489DX, Pentium */
extern uint8_t ap_apicid_to_cpu[256];
#define AP_SLOT_WAITING		0	/* not yet claimed by either side */
#define AP_SLOT_RUNNING		1	/* claimed by the AP: it will be online */
#define AP_SLOT_ABANDONED	2	/* claimed by the BSP: the AP is not counted */
#define AP_SLOT_PARKED		3	/* the AP came late, saw it, and halted */
extern volatile uint32_t ap_start_slot[MAXCPU];

/*
 * The private area of each CPU, indexed by dense cpuid: CPU 0's is static,
 * an AP's is allocated by mp_alloc_private() for the CPUs to be started
 * only; NULL for the others.
 */
extern struct mdglobaldata *cpu_private[MAXCPU];

#endif
