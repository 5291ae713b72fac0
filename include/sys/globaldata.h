/*
 * struct globaldata: everything one CPU owns (LWKT-SPEC §3.2).  Each CPU
 * writes only its own globaldata, except the fields marked "any CPU",
 * which are published with atomic operations.  `mycpu` is a single
 * %fs-relative load (machine/thread.h); globaldata_find() returns any
 * CPU's.  Fields that later subsystems fill are present from the start.
 */
#ifndef _SYS_GLOBALDATA_H_
#define _SYS_GLOBALDATA_H_

#include <sys/cpumask.h>

struct thread;

#define GD_CONBUF	512		/* one console line */

/* gd_reqflags bits: deferred work waiting for the end of a critical section */
#define RQF_IPIQ	0x0001
#define RQF_INTPEND	0x0002
#define RQF_AST_LWKT_RESCHED 0x0004
#define RQF_TIMER	0x0008

/* gd_state: life of a CPU, written by that CPU only (read by any) */
#define GDS_OFFLINE	0		/* not started (or failed to start) */
#define GDS_ONLINE	1		/* running kernel code */
#define GDS_STOPPED	2		/* frozen by a panic on another CPU */

struct globaldata {
	struct globaldata *gd_self;	/* offset 0: target of %fs:0 */
	int		gd_cpuid;	/* dense 0..ncpus-1 */
	cpumask_t	gd_cpumask;	/* CPUMASK(gd_cpuid) */
	cpumask_t	gd_other_cpus;	/* every started CPU but this one */
	int		gd_apicid;	/* local APIC id, as the MADT listed it */
	struct thread	*gd_curthread;
	volatile uint32_t gd_reqflags;	/* RQF_*: any CPU may set bits */
	int		gd_intr_nesting_level;
	volatile uint32_t gd_state;	/* GDS_* */

	/* Cross-call slot used by ktest_on_cpu() until the IPIQ exists. */
	void		(*volatile gd_xcall_func)(void *);
	void		*volatile gd_xcall_arg;
	volatile uint32_t gd_xcall_done; /* count of completed calls */

	/* Boot stack of this CPU. */
	vm_offset_t	gd_stack_base;
	uint32_t	gd_stack_size;

	/* Where a CPU frozen by panic was interrupted (for the dump). */
	uint32_t	gd_stop_eip;
	uint32_t	gd_stop_ebp;

	/* Counters (LWKT-SPEC §10); summed for display. */
	uint64_t	gd_cnt_ipi_sent;
	uint64_t	gd_cnt_ipi_recv;
	uint64_t	gd_cnt_intr;

	/* Console: this CPU's line being built (kern/kern_cons.c). */
	uint32_t	gd_conlen;
	char		gd_conbuf[GD_CONBUF];
};

extern int ncpus;			/* CPUs started, 1..MAXCPU */
extern volatile cpumask_t smp_active_mask; /* CPUs online */
extern int smp_active;			/* 0: uniprocessor (no LAPIC or one CPU) */

struct globaldata *globaldata_find(int cpuid);

#include <machine/thread.h>

#define curthread	(mycpu->gd_curthread)

#endif
