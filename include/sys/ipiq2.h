/*
 * The IPIQ send fast path, inline (LWKT-SPEC §7; ordering rules in
 * kern/lwkt_ipiq.c).  Any context, any CPU.  lwkt_send_ipiq3() queues
 * func(arg, arg2) for `target` and signals it by IPI only if the FIFO's
 * ip_npoll was clear (or the ipiq_optimized knob is off); it returns the
 * sequence number to give lwkt_wait_ipiq(), or 0 when the target is this
 * CPU and the function was simply called.
 */
#ifndef _SYS_IPIQ2_H_
#define _SYS_IPIQ2_H_

#include <sys/chaos.h>
#include <sys/globaldata.h>
#include <sys/ipiq.h>
#include <sys/thread2.h>
#include <machine/atomic.h>
#include <machine/cpu.h>

static __always_inline uint32_t
lwkt_ipiq_fill(const struct lwkt_ipiq *ip)
{
	return ip->ip_windex - ip->ip_rindex;
}

/* Fill the next slot and publish it; returns the new ip_windex. */
static __always_inline uint32_t
lwkt_ipiq_put(struct lwkt_ipiq *ip, ipifunc3_t *func, void *arg, int arg2)
{
	uint32_t wi = ip->ip_windex;
	struct lwkt_ipiq_entry *e = &ip->ip_info[wi & ipiq_fifo_mask];

	e->ie_func = func;
	e->ie_arg = arg;
	e->ie_arg2 = arg2;
	cpu_ccfence();			/* slot before index (x86: stores in order) */
	CHAOS_DELAY(CHAOS_IPIQ_PUBLISH);
	ip->ip_windex = wi + 1;
	CHAOS_DELAY(CHAOS_IPIQ_SIGNAL);
	return wi + 1;
}

/*
 * After a put: mark the FIFO signalled.  Only the source that turns
 * ip_npoll from 0 to 1 sets its bit in the target's pending mask (and must
 * then make sure the target drains: an IPI, or the tick); a source that
 * finds ip_npoll already 1 adds nothing, the target will visit the FIFO
 * (ordering in kern/lwkt_ipiq.c).  Returns whether it was 0.
 */
static __always_inline bool
lwkt_ipiq_signal(struct globaldata *gd, struct globaldata *target,
    struct lwkt_ipiq *ip)
{
	if (atomic_swap_int(&ip->ip_npoll, 1) != 0)
		return false;
	atomic_cpumask_setbit(&target->gd_ipiq_pending, gd->gd_cpuid);
	return true;
}

static __always_inline int
lwkt_send_ipiq3(struct globaldata *target, ipifunc3_t *func, void *arg,
    int arg2)
{
	struct globaldata *gd = mycpu;
	struct thread *td;
	struct lwkt_ipiq *ip;
	uint32_t seq;

	if (__predict_false(target == gd)) {
		func(arg, arg2, NULL);
		return 0;
	}
	td = gd->gd_curthread;
	crit_enter_quick(td);
	++gd->gd_intr_nesting_level;
	ip = &gd->gd_ipiq[target->gd_cpuid];
	if (__predict_false(lwkt_ipiq_fill(ip) > ipiq_fifo_half))
		lwkt_ipiq_wait_room(gd, target, ip);
	seq = lwkt_ipiq_put(ip, func, arg, arg2);
	if (lwkt_ipiq_signal(gd, target, ip) || !ipiq_optimized)
		cpu_send_ipiq(target);
	else
		gd->gd_cnt_ipiq_avoided++;
	--gd->gd_intr_nesting_level;
	crit_exit_quick(td);
	return (int)seq;
}

#define lwkt_send_ipiq(gd, f, a)	lwkt_send_ipiq3(gd, f, a, 0)
#define lwkt_send_ipiq2(gd, f, a, a2)	lwkt_send_ipiq3(gd, f, a, a2)

#endif
