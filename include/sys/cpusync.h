/*
 * cpusync (LWKT-SPEC §8): a synchronous rendezvous of CPUs built on the
 * IPIQ.  The master (a thread) calls lwkt_cpusync_start(); every other CPU
 * in the mask runs cs_run_func, counts itself in (so start returns once the
 * function has finished everywhere), and is then held inside
 * its IPIQ processing (still serving other messages) until the master's
 * lwkt_cpusync_finish(), when it runs cs_fin1_func, counts itself out and
 * runs cs_fin2_func.  The master stays in a critical section from start to
 * finish.  Several CPUs may master cpusyncs at once with overlapping masks:
 * a CPU whose thread masters one (td_cscount > 0) counts into the others
 * but is not held by them until its own finishes: the rendezvous it is
 * counted into stay flagged as pending work (RQF_IPIQ), so the crit_exit()
 * that ends its own cpusync polls them and it is held from then on.
 */
#ifndef _SYS_CPUSYNC_H_
#define _SYS_CPUSYNC_H_

#include <sys/cpumask.h>

struct lwkt_cpusync;
typedef void cpusync_func_t(struct lwkt_cpusync *cs);
typedef void cpusync_func2_t(void *data);

struct lwkt_cpusync {
	cpumask_t	cs_mask;	/* CPUs taking part (master included if set) */
	volatile uint32_t cs_count;	/* targets in; -1.. while finishing */
	int		cs_maxcount;	/* targets sent to */
	cpusync_func_t	*cs_run_func;	/* on each CPU once it is held */
	cpusync_func_t	*cs_fin1_func;	/* on each CPU before it is released */
	cpusync_func2_t	*cs_fin2_func;	/* on each CPU after it is released */
	void		*cs_data;
};

#define CPUSYNC_INITIALIZER(run, fin1, fin2, data) \
	{ { { 0 } }, 0, 0, (run), (fin1), (fin2), (data) }

void	lwkt_cpusync_start(cpumask_t mask, struct lwkt_cpusync *cs);
void	lwkt_cpusync_add(cpumask_t mask, struct lwkt_cpusync *cs);
void	lwkt_cpusync_finish(struct lwkt_cpusync *cs);
/* func(cs) runs on every CPU of the mask (data in cs->cs_data) and has
 * finished everywhere when this returns. */
void	lwkt_cpusync_simple(cpumask_t mask, cpusync_func_t *func, void *data);
/* func(data) runs on every CPU of the mask in tandem with the release. */
void	lwkt_cpusync_fastdata(cpumask_t mask, cpusync_func2_t *func, void *data);
/*
 * Panic: start a rendezvous on `mask` without waiting and never finished,
 * with sends that never wait for room; returns the CPUs it reached (a full
 * FIFO leaves a CPU out).
 */
cpumask_t lwkt_cpusync_launch(cpumask_t mask, struct lwkt_cpusync *cs);
/* IPIQ processing: poll the rendezvous this CPU is held in; true if any remain. */
bool	lwkt_cpusync_poll(void);

#endif
