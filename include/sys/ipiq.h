/*
 * The IPIQ (LWKT-SPEC §7): each CPU owns one single-writer FIFO per target
 * CPU.  FIFO (s -> t) is written only by s (ip_windex) and read only by t
 * (ip_rindex before running an entry, ip_xindex once it has returned).
 * Indices run freely; their difference is the fill level.  A message is a
 * function, a pointer and an integer, run on the target inside a critical
 * section.  See kern/lwkt_ipiq.c for the ordering rules.
 */
#ifndef _SYS_IPIQ_H_
#define _SYS_IPIQ_H_

#include <sys/types.h>
#include <sys/cpumask.h>

#ifndef MAXCPUFIFO
#define MAXCPUFIFO	32		/* power of two; -DMAXCPUFIFO=N to change */
#endif
#define MAXCPUFIFO_MASK	(MAXCPUFIFO - 1)
_Static_assert((MAXCPUFIFO & MAXCPUFIFO_MASK) == 0 && MAXCPUFIFO >= 8,
    "MAXCPUFIFO must be a power of two >= 8");

struct globaldata;
struct intrframe;

/* frame: the interrupt frame when run from the IPI handler, else NULL. */
typedef void ipifunc3_t(void *arg, int arg2, struct intrframe *frame);

struct lwkt_ipiq_entry {
	ipifunc3_t	*ie_func;
	void		*ie_arg;
	int		ie_arg2;
};

struct lwkt_ipiq {
	volatile uint32_t ip_windex;	/* written by the source only */
	volatile uint32_t ip_npoll;	/* source sets, target clears */
	volatile uint32_t ip_rindex;	/* written by the target only */
	volatile uint32_t ip_xindex;	/* written by the target only */
	uint32_t	ip_nest;	/* target: nested processing depth */
	struct lwkt_ipiq_entry ip_info[MAXCPUFIFO];
} __aligned(64);

int	lwkt_send_ipiq3_passive(struct globaldata *target, ipifunc3_t *func,
	    void *arg, int arg2);
int	lwkt_send_ipiq3_nowait(struct globaldata *target, ipifunc3_t *func,
	    void *arg, int arg2);
int	lwkt_send_ipiq3_mask(cpumask_t mask, ipifunc3_t *func, void *arg,
	    int arg2);
uint32_t lwkt_seq_ipiq(struct globaldata *target);
void	lwkt_wait_ipiq(struct globaldata *target, uint32_t seq);
void	lwkt_process_ipiq(void);
void	lwkt_process_ipiq_frame(struct intrframe *frame);
void	lwkt_ipiq_init_cpu(struct globaldata *gd);

/* Knob: 0 = always send the IPI (no ip_npoll interlock), for comparison. */
extern bool ipiq_optimized;

/* Out-of-line parts of lwkt_send_ipiq3() (sys/ipiq2.h). */
void	lwkt_ipiq_wait_room(struct globaldata *gd, struct globaldata *target,
	    struct lwkt_ipiq *ip);

#define lwkt_send_ipiq_passive(gd, f, a) lwkt_send_ipiq3_passive(gd, f, a, 0)
#define lwkt_send_ipiq_nowait(gd, f, a)	lwkt_send_ipiq3_nowait(gd, f, a, 0)
#define lwkt_send_ipiq_mask(m, f, a)	lwkt_send_ipiq3_mask(m, f, a, 0)

#include <sys/ipiq2.h>

#endif
