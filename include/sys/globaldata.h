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
#include <sys/thread.h>
#include <sys/systimer.h>
#include <sys/callout.h>

struct lwkt_ipiq;
struct lwkt_cpusync;

#define GD_CONBUF	512		/* one console line */

/* gd_reqflags bits: deferred work waiting for the end of a critical section */
#define RQF_IPIQ	0x0001
#define RQF_INTPEND	0x0002
#define RQF_AST_LWKT_RESCHED 0x0004
#define RQF_TIMER	0x0008
#define RQF_UNTIMELY	0x0010		/* option untimely_switch: always set */
#define RQF_DEFERRED	(RQF_IPIQ | RQF_INTPEND | RQF_TIMER)

/* gd_state: life of a CPU, written by that CPU only (read by any) */
#define GDS_OFFLINE	0		/* not started (or failed to start) */
#define GDS_ONLINE	1		/* running kernel code */
#define GDS_STOPPED	2		/* frozen by NMI for a panic elsewhere */
#define GDS_HELD	3		/* frozen for a panic elsewhere, serving IPIQ */

struct globaldata {
	struct globaldata *gd_self;	/* offset 0: target of %fs:0 */
	struct thread	*gd_curthread;	/* offset 4: machine/thread.h */
	volatile uint32_t gd_reqflags;	/* offset 8: RQF_*, set with atomics */
	int		gd_cpuid;	/* offset 12: dense 0..ncpus-1 */
	int		gd_spinlocks;	/* offset 16: spinlocks held (owner only) */
	uint32_t	gd_spinid;	/* offset 20: (cpuid + 1) << 24, spinlock owner tag */
	cpumask_t	gd_cpumask;	/* only gd_cpuid */
	cpumask_t	gd_other_cpus;	/* every started CPU but this one */
	int		gd_apicid;	/* local APIC id, as the MADT listed it */
	int		gd_intr_nesting_level;
	volatile uint32_t gd_state;	/* GDS_* */

	/* Scheduler (kern/lwkt_switch.c): owner CPU, in a critical section. */
	struct thread_list gd_tdrunq[NQS];
	uint32_t	gd_runqmask;	/* bit n: queue n may be non-empty */
	struct thread_list gd_tdallq;	/* every thread of this CPU */
	struct thread_list gd_tdfreeq;	/* cache of dead threads */
	int		gd_tdfreecount;
	struct thread_list gd_tdreapq;	/* exited, waiting to be freed */
	struct thread	gd_idlethread;	/* runs on the boot stack */
	struct thread	*gd_softclock;	/* interrupt thread run by hardclock */

	/* Timers (kern/kern_systimer.c): owner CPU, in a critical section. */
	struct systimer_list gd_systimerq;
	struct systimer	gd_hardclock;
	uint64_t	gd_ticks;	/* hardclock ticks */
	struct callout_list gd_callouts; /* run by gd_softclock, by deadline */
	uint64_t	gd_softclock_runs;

	/* IPIQ (kern/lwkt_ipiq.c): this CPU's outgoing FIFOs, one per target. */
	struct lwkt_ipiq *gd_ipiq;
	/* cpusyncs this CPU is held in (kern/lwkt_cpusync.c): owner only. */
	struct lwkt_cpusync *gd_cpusyncq[MAXCPU];
	int		gd_cpusyncq_n;
	/* A thread that switched out to migrate, for the next thread to send on. */
	struct thread	*gd_migrate_td;
	/* lwkt_switch found runnable threads all waiting for tokens: idle may halt. */
	bool		gd_tokwait;
	/* lwkt_switch is choosing/switching out: no IPIQ draining (§10b). */
	bool		gd_inswitch;
	uint32_t	gd_ipiq_nest;	/* IPIQ drain nesting, this CPU in crit */
	uint32_t	gd_ipiq_nest_max; /* deepest gd_ipiq_nest seen (tests reset it) */
	/* Tokens (kern/lwkt_token.c), owner CPU in a critical section. */
	cpumask_t	gd_tokwake;	/* granted inside a switch: wake them after */
	bool		gd_tokresend;	/* a request could not be queued: again */
	uint64_t	gd_tokreq_ticks; /* gd_ticks of the last full re-send */
	/* Sleepers (kern/kern_synch.c): owner CPU, in a critical section. */
	struct thread_list *gd_tsleep_hash;
	struct wakeup_rec *gd_wakeup_recs; /* this CPU's wakeup chain records */
	volatile uint32_t gd_wakeup_free; /* bit i: record i free (atomics) */

	/* Boot stack of this CPU. */
	vm_offset_t	gd_stack_base;
	uint32_t	gd_stack_size;

	/* Where a CPU frozen by panic was interrupted (for the dump). */
	uint32_t	gd_stop_eip;
	uint32_t	gd_stop_ebp;

	/* Counters (LWKT-SPEC §10); each written by its CPU only. */
	uint64_t	gd_cnt_switch;
	uint64_t	gd_cnt_preempt_hit;
	uint64_t	gd_cnt_preempt_miss;
	uint64_t	gd_cnt_preempt_weird;
	uint64_t	gd_cnt_idle_halt;	/* hlt executed by the idle thread */
	uint64_t	gd_cnt_ipiq_count;	/* messages run here */
	uint64_t	gd_cnt_ipiq_fifofull;
	uint64_t	gd_cnt_ipiq_avoided;
	uint64_t	gd_cnt_ipiq_passive;
	uint64_t	gd_cnt_ipiq_cscount;
	uint64_t	gd_cnt_ipi_sent;
	uint64_t	gd_cnt_ipi_recv;
	uint64_t	gd_cnt_intr;
	uint64_t	gd_cnt_timer_intr;
	uint64_t	gd_cnt_timer_deferred;
	uint64_t	gd_cnt_tok_req;		/* lwkt_gettoken calls here */
	uint64_t	gd_cnt_tok_migrate;	/* tokens this CPU handed away */
	uint64_t	gd_cnt_tok_contention;	/* requests it had to refuse */
	uint64_t	gd_cnt_tok_fwd_dropped;	/* forwards that found no room */

	/* Console: this CPU's line being built (kern/kern_cons.c). */
	uint32_t	gd_conlen;
	char		gd_conbuf[GD_CONBUF];
};

extern int ncpus;			/* CPUs started, 1..MAXCPU */
extern volatile cpumask_t smp_active_mask; /* CPUs online */
extern int smp_active;			/* 0: uniprocessor (no LAPIC or one CPU) */

struct globaldata *globaldata_find(int cpuid);

_Static_assert(offsetof(struct globaldata, gd_curthread) == 4,
    "machine/thread.h reads curthread at %fs:4");
_Static_assert(offsetof(struct globaldata, gd_reqflags) == 8,
    "machine/thread.h reads reqflags at %fs:8");
_Static_assert(offsetof(struct globaldata, gd_cpuid) == 12,
    "machine/thread.h reads the cpuid at %fs:12");
_Static_assert(offsetof(struct globaldata, gd_spinlocks) == 16,
    "machine/thread.h counts spinlocks at %fs:16");
_Static_assert(offsetof(struct globaldata, gd_spinid) == 20,
    "machine/thread.h reads the spinlock owner tag at %fs:20");

#include <machine/thread.h>

#endif
