/*
 * Seeded chaos (LWKT-SPEC §15, docs/testing.md "Chaos"): hook points in the
 * IPIQ, token, cpusync, scheduler and timer paths that, in a kernel built
 * with `make CHAOS=1` (-DCHAOS) and booted with chaos=SEED, perturb the
 * interleaving from a per-CPU pseudo-random stream derived from (seed,
 * cpuid) only.  Under the deterministic mode the same seed replays the same
 * interleaving.  Owned by kern/kern_chaos.c; the hook sites are one line
 * each in the files that own those paths.
 *
 * In the default kernel every hook macro expands to nothing (CHAOS_ROLL to
 * a constant false, CHAOS_UNTIMELY to a constant true), so its hot paths
 * are unchanged; chaos= there prints one line and is otherwise ignored.
 *
 * Each CPU draws only from its own stream, taking the draw number with one
 * atomic instruction, so a draw is never shared or lost between a thread
 * and an interrupt on that CPU.  Draw number n of CPU c is chaos_stream_value(seed,
 * c, n): a pure function (tests/test_chaos.c re-derives it).
 */
#ifndef _SYS_CHAOS_H_
#define _SYS_CHAOS_H_

#include <sys/types.h>

/* Hook points; each counts (per CPU) how often it perturbed something. */
enum chaos_point {
	CHAOS_IPIQ_PUBLISH,	/* delay: slot filled, ip_windex not yet bumped */
	CHAOS_IPIQ_SIGNAL,	/* delay: published, target not yet signalled */
	CHAOS_IPIQ_DRAIN,	/* delay: target about to drain a FIFO */
	CHAOS_IPIQ_CLEAR,	/* delay: target about to clear ip_npoll */
	CHAOS_IPIQ_DEFER,	/* drain stops early, the rest left for later */
	CHAOS_TOK_GET,		/* delay: tokref linked, ownership not checked */
	CHAOS_TOK_REL,		/* delay: tokref unlinked, requests not checked */
	CHAOS_TOK_GRANT,	/* delay: owner about to hand the token over */
	CHAOS_CPUSYNC,		/* delay: between two cpusync phases */
	CHAOS_SWITCH,		/* real lwkt_switch at an outermost crit_exit */
	CHAOS_RESCHED,		/* spurious reschedule request */
	CHAOS_TIMER,		/* timer deadline shifted later by a few us */
	CHAOS_NPOINTS
};

#define CHAOS_RATE_DEFAULT	64	/* chaos.rate=N: N/1024 per hook visit */
#define CHAOS_DELAY_MAX		1024	/* a delay is 0..MAX-1 empty loops */
#define CHAOS_JITTER_MAX_US	8	/* timer shift 0..MAX-1 us */

/*
 * At the end of each CPU's start-up, on that CPU (cpu_init_lwkt): reads
 * chaos= and chaos.rate= (the BSP prints what it does) and, with chaos on,
 * sets RQF_UNTIMELY so every outermost crit_exit() visits CHAOS_SWITCH.
 */
void	chaos_init_cpu(void);

#ifdef CHAOS
extern bool chaos_on;			/* set once by the BSP, read-only after */

/* Draw from this CPU's stream: true with probability rate/1024 (counted). */
bool	chaos_roll(enum chaos_point p);
/* If the roll succeeds, busy-loop a random 0..CHAOS_DELAY_MAX-1 times. */
void	chaos_delay(enum chaos_point p);
/* If the roll succeeds, a random shift of 0..CHAOS_JITTER_MAX_US-1 us in TSC ticks. */
uint64_t chaos_jitter(enum chaos_point p);

/* The pure stream and the bookkeeping the chaos suite checks. */
uint32_t chaos_stream_value(uint32_t seed, int cpu, uint32_t n);
uint32_t chaos_next(void);		/* this CPU's next draw */
uint32_t chaos_draws(int cpu);		/* draws CPU `cpu` has made (mod 2^32) */
uint32_t chaos_fired(enum chaos_point p); /* perturbations, all CPUs */
uint32_t chaos_fired_cpu(enum chaos_point p, int cpu);
const char *chaos_point_name(enum chaos_point p);
uint32_t chaos_seed(void);
uint32_t chaos_rate(void);

#define CHAOS_DELAY(p)	do {						\
	if (__predict_false(chaos_on))					\
		chaos_delay(p);						\
} while (0)
#define CHAOS_ROLL(p)	(__predict_false(chaos_on) && chaos_roll(p))
/* CHAOS_ROLL only where `cond` holds (not evaluated in a default kernel). */
#define CHAOS_ROLL_IF(cond, p) (__predict_false(chaos_on) && (cond) &&	\
	chaos_roll(p))
#define CHAOS_JITTER(p)	(__predict_false(chaos_on) ? chaos_jitter(p) : 0)
/* lwkt_splz with RQF_UNTIMELY: untimely_switch=1 always, chaos at random. */
#define CHAOS_UNTIMELY() (lwkt_untimely_switch || CHAOS_ROLL(CHAOS_SWITCH))
/* Tests: perturbations of point p on CPU cpu so far (0 without CHAOS). */
#define CHAOS_FIRED_CPU(p, cpu) chaos_fired_cpu(p, cpu)
#else
#define CHAOS_DELAY(p)	do { } while (0)
#define CHAOS_ROLL(p)	false
#define CHAOS_ROLL_IF(cond, p) false
#define CHAOS_JITTER(p)	0
#define CHAOS_UNTIMELY() true
#define CHAOS_FIRED_CPU(p, cpu) 0u
#endif

#endif
