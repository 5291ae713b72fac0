/*
 * Cross-calls: the simplest way to run a function on another CPU, used by
 * the self-test framework before LWKT threads and the IPIQ exist.  Each CPU
 * has one slot (gd_xcall_*); the BSP posts a function there and sends a
 * wakeup IPI; the target CPU, halted in xcall_loop(), runs it with
 * interrupts enabled and counts it done.  One call per target at a time.
 */
#ifndef _SYS_XCALL_H_
#define _SYS_XCALL_H_

#include <sys/types.h>

/* Post fn(arg) to `cpu`; returns the done-count to wait for, or -1 if busy. */
int64_t	xcall_post(int cpu, void (*fn)(void *), void *arg);
/* Wait until cpu's done-count reaches `ticket`; false after timeout_ms. */
bool	xcall_wait(int cpu, int64_t ticket, uint32_t timeout_ms);
/* An AP's life after start-up: wait for and run posted calls, forever. */
void	xcall_loop(void) __noreturn;

#endif
