/*
 * LWKT threads (LWKT-SPEC §3).  A thread belongs to one CPU (td_gd) and only
 * that CPU touches its scheduling state (td_flags run-queue bits, the run
 * queues, td_allq), always inside a critical section.  Other CPUs act on a
 * thread by IPIQ message (sys/ipiq.h).  The inline fast paths (critical
 * sections) are in sys/thread2.h.
 */
#ifndef _SYS_THREAD_H_
#define _SYS_THREAD_H_

#include <sys/types.h>
#include <sys/queue.h>
#include <sys/msgport.h>

struct globaldata;

/* Priorities (fact: DragonFly's values). */
#define TDPRI_IDLE_THREAD	0
#define TDPRI_USER_IDLE		4
#define TDPRI_USER_NORM		6
#define TDPRI_USER_REAL		8
#define TDPRI_KERN_LPSCHED	9
#define TDPRI_KERN_USER		10
#define TDPRI_KERN_DAEMON	12
#define TDPRI_SOFT_NORM		14
#define TDPRI_SOFT_TIMER	16
#define TDPRI_EXITING		19
#define TDPRI_INT_SUPPORT	20
#define TDPRI_INT_LOW		27
#define TDPRI_INT_MED		28
#define TDPRI_INT_HIGH		29
#define TDPRI_MAX		31
#define TDPRI_MASK		31
#define NQS			32	/* one run queue per priority */

/* td_flags */
#define TDF_RUNNING		0x0001	/* on a CPU now (cleared after the switch-out completes) */
#define TDF_RUNQ		0x0002	/* on its CPU's run queue */
#define TDF_PREEMPT_LOCK	0x0004	/* this thread is preempted */
#define TDF_PREEMPT_DONE	0x0008	/* this thread preempted and returned */
#define TDF_IDLE_NOHLT		0x0010	/* idle thread: spin instead of hlt */
#define TDF_ALLOCATED_THREAD	0x0020	/* struct from the heap */
#define TDF_ALLOCATED_STACK	0x0040	/* stack from vm_page */
#define TDF_VERBOSE		0x0080	/* say when it exits */
#define TDF_STOPREQ		0x0100	/* lwkt_create: do not schedule */
#define TDF_EXITING		0x0200	/* lwkt_exit() called */
#define TDF_MPSAFE		0x0400
#define TDF_TSLEEPQ		0x0800	/* on a sleep queue (tsleep) */
#define TDF_MIGRATING		0x1000	/* switched out to move to td_migrate_gd */

#define MAXCOMLEN		23
#define KSTACK_PAGES		4	/* usable stack; one guard page below */
#define CACHE_NTHREADS		6	/* per-CPU cache of dead threads */

struct thread {
	uint32_t	td_sp;		/* saved %esp: offset 0 for swtch.asm */
	uint32_t	td_flags;	/* TDF_*: offset 4 for swtch.asm */
	struct globaldata *td_gd;	/* owning CPU */
	int		td_pri;		/* 0..TDPRI_MAX */
	int		td_critcount;	/* critical-section depth */
	int		td_nest_count;	/* depth of deferred-work processing */
	struct thread	*td_preempted;	/* the thread this one preempted */
	/* set on interrupt-like threads: lwkt_preempt */
	void		(*td_preemptable)(struct thread *td, int critcount);
	TAILQ_ENTRY(thread) td_threadq;	/* run queue, reap or free list */
	TAILQ_ENTRY(thread) td_allq;	/* gd_tdallq */
	volatile uint32_t td_refs;	/* lwkt_hold() count */
	char		*td_kstack;	/* base of the stack, guard page included */
	uint32_t	td_kstack_size;	/* guard page included */
	void		(*td_func)(void *);
	void		*td_arg;
	const volatile void *td_wchan;	/* what it sleeps on */
	const char	*td_wmesg;
	TAILQ_ENTRY(thread) td_sleepq;	/* gd_tsleep_hash slot */
	bool		td_timedout;	/* tsleep: the timeout fired */
	int		td_cscount;	/* cpusyncs this thread masters */
	struct globaldata *td_migrate_gd; /* lwkt_setcpu_self() target */
	struct lwkt_tokref *td_toks;	/* tokens held, newest first */
	struct lwkt_port td_msgport;	/* this thread's reply port */
	uint64_t	td_switch_count; /* times switched to */
	char		td_comm[MAXCOMLEN + 1];
#ifdef DEBUG_CRIT_SECTIONS
#define CRIT_DEBUG_DEPTH	16
	const char	*td_crit_debug[CRIT_DEBUG_DEPTH]; /* enter site per level */
#endif
};

_Static_assert(offsetof(struct thread, td_sp) == 0, "swtch.asm");
_Static_assert(offsetof(struct thread, td_flags) == 4, "swtch.asm");

typedef struct thread *thread_t;
TAILQ_HEAD(thread_list, thread);

/* Lifecycle (kern/lwkt_thread.c) */
thread_t lwkt_alloc_thread(thread_t template, int cpu, int flags);
void	lwkt_init_thread(thread_t td, int cpu, int flags);
int	lwkt_create(void (*func)(void *), void *arg, thread_t *tdp,
	    thread_t template, int tdflags, int cpu, const char *fmt, ...)
	    __printflike(7, 8);
void	lwkt_exit(void) __noreturn;
void	lwkt_free_thread(thread_t td);
void	lwkt_hold(thread_t td);
void	lwkt_rele(thread_t td);
void	lwkt_wait_free(thread_t td);
int	lwkt_reap(void);
void	lwkt_init_cpu_threads(void);
void	lwkt_dump_threads(void);
void	lwkt_flags_str(uint32_t flags, char *buf, size_t len);

/* Scheduling (kern/lwkt_switch.c) */
void	lwkt_switch(void);
void	lwkt_schedule(thread_t td);
void	lwkt_schedule_noresched(thread_t td);
void	lwkt_schedule_self(void);
void	lwkt_deschedule(thread_t td);
void	lwkt_deschedule_self(void);
void	lwkt_yield(void);
void	lwkt_yield_quick(void);
void	lwkt_maybe_switch(void);
void	lwkt_setpri(thread_t td, int pri);
void	lwkt_setpri_self(int pri);
void	lwkt_preempt(thread_t ntd, int critcount);
void	lwkt_idle_loop(void) __noreturn;
void	lwkt_setcpu_self(struct globaldata *rgd);
void	lwkt_acquire(thread_t td);
void	lwkt_switch_return(void);
void	lwkt_splz(void);
void	crit_panic(void) __noreturn;
void	crit_debug_check(struct thread *td, const char *id);
void	need_lwkt_resched(void);

/* Debug option untimely_switch: every outermost crit_exit() switches. */
extern bool lwkt_untimely_switch;

#endif
