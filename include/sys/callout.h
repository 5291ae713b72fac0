/*
 * Callouts: functions run once, a number of hardclock ticks from now, in
 * the context of the CPU's softclock thread (an interrupt thread, so they
 * may block briefly and use critical sections like any thread).  A callout
 * belongs to the CPU that armed it; reset and stop it on that CPU.
 */
#ifndef _SYS_CALLOUT_H_
#define _SYS_CALLOUT_H_

#include <sys/types.h>
#include <sys/queue.h>

struct callout {
	TAILQ_ENTRY(callout) c_link;
	uint64_t	c_time;		/* gd_ticks at which it runs */
	void		(*c_func)(void *);
	void		*c_arg;
	struct globaldata *c_gd;
	bool		c_pending;
};
TAILQ_HEAD(callout_list, callout);

void	callout_init(struct callout *c);
void	callout_reset(struct callout *c, uint32_t ticks, void (*func)(void *),
	    void *arg);
void	callout_stop(struct callout *c);
bool	callout_pending(const struct callout *c);

/* kern/kern_clock.c: per-CPU hardclock and softclock thread. */
void	clock_start_cpu(void);

#endif
