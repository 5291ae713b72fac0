/*
 * Per-CPU LWKT counters (LWKT-SPEC §10) and consistent snapshots of them.
 * A snapshot holds every CPU in one cpusync rendezvous and reads all of
 * them while none can run: a CPU is only ever held between critical
 * sections, so values a CPU updates together inside one critical section
 * are always seen together.  Thread context.
 */
#ifndef _SYS_COUNTERS_H_
#define _SYS_COUNTERS_H_

#include <sys/cpumask.h>

struct globaldata;

struct lwkt_counters {
	uint64_t	switch_count;
	uint64_t	preempt_hit;
	uint64_t	preempt_miss;
	uint64_t	preempt_weird;
	uint64_t	idle_halt;
	uint64_t	ipiq_count;		/* messages run */
	uint64_t	ipiq_fifofull;
	uint64_t	ipiq_avoided;
	uint64_t	ipiq_passive;
	uint64_t	ipiq_cscount;
	uint64_t	ipi_sent;
	uint64_t	ipi_recv;
	uint64_t	timer_intr;
	uint64_t	timer_deferred;
	uint64_t	tok_req;
	uint64_t	tok_migrate;
	uint64_t	tok_contention;
	uint64_t	tok_fwd_dropped;
};

/* Run read(gd, arg) for every CPU of `mask` while all of them are held. */
void	lwkt_snapshot(cpumask_t mask,
	    void (*read)(struct globaldata *gd, void *arg), void *arg);
/* percpu[cpu] for every online CPU, *sum their total (either may be NULL). */
void	lwkt_counters_snapshot(struct lwkt_counters *percpu,
	    struct lwkt_counters *sum);
void	lwkt_counters_print(void);

#endif
