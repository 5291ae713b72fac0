/*
 * The IPIQ (LWKT-SPEC §7): each CPU owns one single-writer FIFO per target
 * CPU.  FIFO (s -> t) is written only by s (ip_windex) and read only by t
 * (ip_rindex before running an entry, ip_xindex once it has returned).
 * Indices run freely; their difference is the fill level.  A message is a
 * function, a pointer and an integer, run on the target inside a critical
 * section.  See kern/lwkt_ipiq.c for the ordering rules.
 *
 * Sizes: rows exist for the ncpus CPUs the kernel starts (not MAXCPU), and
 * the ring depth ipiq_fifo_depth is chosen at boot from ncpus (a power of
 * two <= MAXCPUFIFO, >= 8) so that one CPU's FIFOs take at most
 * IPIQ_CPU_BYTES_MAX; code that sizes anything by the FIFO uses
 * ipiq_fifo_depth, MAXCPUFIFO is only its upper bound.
 */
#ifndef _SYS_IPIQ_H_
#define _SYS_IPIQ_H_

#include <sys/types.h>
#include <sys/cpumask.h>

#ifndef MAXCPUFIFO
#define MAXCPUFIFO	32		/* power of two; -DMAXCPUFIFO=N to change */
#endif
_Static_assert((MAXCPUFIFO & (MAXCPUFIFO - 1)) == 0 && MAXCPUFIFO >= 8,
    "MAXCPUFIFO must be a power of two >= 8");
#define IPIQ_FIFO_MIN	8		/* smallest depth chosen at boot */
#define IPIQ_CPU_BYTES_MAX (64 * 1024)	/* one CPU's FIFOs, at most */

struct globaldata;
struct intrframe;

/* frame: the interrupt frame when run from the IPI handler, else NULL. */
typedef void ipifunc3_t(void *arg, int arg2, struct intrframe *frame);

struct lwkt_ipiq_entry {
	ipifunc3_t	*ie_func;
	void		*ie_arg;
	int		ie_arg2;
};

/*
 * One FIFO's indices, two cache lines: the first is written by the source
 * (and ip_npoll cleared by the target, which reads ip_windex there anyway),
 * the second only by the target, so a source publishing and its target
 * consuming do not write the same line.  The ring (ipiq_fifo_depth
 * entries) is written by the source only, set at boot, never moves.
 */
struct lwkt_ipiq {
	volatile uint32_t ip_windex;	/* written by the source only */
	volatile uint32_t ip_npoll;	/* source sets, target clears */
	struct lwkt_ipiq_entry *ip_info; /* the ring, fixed at boot */
	uint32_t	ip_pad_src[13];
	volatile uint32_t ip_rindex __aligned(64); /* target only */
	volatile uint32_t ip_xindex;	/* written by the target only */
	uint32_t	ip_nest;	/* target: nested processing depth */
	uint32_t	ip_pad_dst[13];
} __aligned(64);

/*
 * Ring depth, its mask and half (the send path's FIFO-full threshold, one
 * compare), set once at boot by the first lwkt_ipiq_init_cpu().
 */
extern uint32_t ipiq_fifo_depth;
extern uint32_t ipiq_fifo_mask;
extern uint32_t ipiq_fifo_half;
/* Bytes of one CPU's FIFOs (rows and rings) for `n` CPUs, at depth `depth`. */
uint32_t lwkt_ipiq_cpu_bytes(int n, uint32_t depth);
/* The depth lwkt_ipiq_init_cpu() will choose for `n` CPUs. */
uint32_t lwkt_ipiq_depth_for(int n);

int	lwkt_send_ipiq3_passive(struct globaldata *target, ipifunc3_t *func,
	    void *arg, int arg2);
int	lwkt_send_ipiq3_nowait(struct globaldata *target, ipifunc3_t *func,
	    void *arg, int arg2);
int	lwkt_send_ipiq3_mask(cpumask_t mask, ipifunc3_t *func, void *arg,
	    int arg2);
/* The same without ever waiting for room (as _nowait); the CPUs reached. */
cpumask_t lwkt_send_ipiq3_mask_nowait(cpumask_t mask, ipifunc3_t *func,
	    void *arg, int arg2);
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
/* Whether a send to every other CPU may use one all-but-self IPI. */
bool	lwkt_ipiq_allbutself_ok(void);
/* This CPU has IPIQ work a pass would find (interrupts off, in crit). */
bool	lwkt_ipiq_work_pending(struct globaldata *gd);

#define lwkt_send_ipiq_passive(gd, f, a) lwkt_send_ipiq3_passive(gd, f, a, 0)
#define lwkt_send_ipiq_nowait(gd, f, a)	lwkt_send_ipiq3_nowait(gd, f, a, 0)
#define lwkt_send_ipiq_mask(m, f, a)	lwkt_send_ipiq3_mask(m, f, a, 0)

#include <sys/ipiq2.h>

#endif
