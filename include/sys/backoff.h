/*
 * Back-off for waits that may last (kern/kern_backoff.c): a wait for
 * another CPU's store, or for the clock, calls backoff_pass() once per
 * pass instead of cpu_pause().  Any CPU, any context; it halts only with
 * interrupts enabled.
 */
#ifndef _SYS_BACKOFF_H_
#define _SYS_BACKOFF_H_

#include <sys/types.h>

#define BACKOFF_SPINS	64	/* passes with a pause before a halt */
#define BACKOFF_US	50	/* the longest halt */

/* backoff_pass() flags */
#define BACKOFF_IPIQ	0x1	/* the loop serves this CPU's IPIQ */

/*
 * One pass of a wait loop: a pause, and every BACKOFF_SPINS passes a halt
 * until the next interrupt or for at most BACKOFF_US.  *spins starts at
 * 0 and belongs to the loop.  BACKOFF_IPIQ: the loop drains this CPU's
 * IPIQ itself, so no halt while a pass would find messages.
 */
void	backoff_pass(uint32_t *spins, int flags);

#endif
