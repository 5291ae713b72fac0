/*
 * Suite "chaos": the seeded chaos mechanism itself (sys/chaos.h,
 * kern/kern_chaos.c).  Every test SKIPs with its reason in a kernel built
 * without CHAOS=1; those that need perturbations SKIP with chaos off.
 *   - stream_reference: chaos_stream_value() gives the values computed
 *     independently on the host for four (seed, cpu, n), and different
 *     CPUs and seeds get different streams.
 *   - stream_pure: on every CPU, the next draws of the live stream are
 *     exactly chaos_stream_value(seed, cpu, n) for the draw numbers they
 *     take (interrupts off, so no other draw interleaves), i.e. the stream
 *     is a pure function of (seed, cpu) and nothing else touches it.
 *   - every_point_fires: every hook point has perturbed something at least
 *     once; a point that has not yet during the boot is driven here (its
 *     path exercised, bounded) until it does.  A point that never fires
 *     fails by name.  Not checked: the IPIQ and grant points on one CPU,
 *     and the switch point under untimely_switch=1 (every outermost
 *     crit_exit switches anyway, so chaos never draws there).
 */
#include <sys/param.h>
#include <sys/systm.h>
#include <sys/globaldata.h>
#include <sys/chaos.h>
#include <sys/cpusync.h>
#include <sys/ipiq.h>
#include <sys/ktest.h>
#include <sys/systimer.h>
#include <sys/thread2.h>
#include <sys/token.h>
#include <machine/atomic.h>
#include <machine/cpufunc.h>

#ifdef CHAOS

#define STREAM_DRAWS	64

KTEST(chaos, stream_reference)
{
	/* Computed on the host (docs/testing.md "Chaos"), wrap-around included. */
	EXPECT_EQ(chaos_stream_value(1, 0, 0), 0xd1657c2fu);
	EXPECT_EQ(chaos_stream_value(1, 3, 100), 0x6437dacdu);
	EXPECT_EQ(chaos_stream_value(12345, 7, 1000000), 0xaa0476adu);
	EXPECT_EQ(chaos_stream_value(UINT32_MAX, 31, UINT32_MAX), 0x7e567d9fu);
	EXPECT_NE(chaos_stream_value(1, 0, 0), chaos_stream_value(1, 1, 0));
	EXPECT_NE(chaos_stream_value(1, 0, 0), chaos_stream_value(2, 0, 0));
}

static void
stream_check(struct ktest_ctx *kt, void *arg __unused)
{
	uint32_t got[STREAM_DRAWS], n0, n1, ef;
	int cpu, i;

	ef = intr_disable();
	cpu = mycpuid;
	n0 = chaos_draws(cpu);
	for (i = 0; i < STREAM_DRAWS; i++)
		got[i] = chaos_next();
	n1 = chaos_draws(cpu);
	intr_restore(ef);
	EXPECT_EQ(n1 - n0, STREAM_DRAWS);
	for (i = 0; i < STREAM_DRAWS; i++)
		if (got[i] != chaos_stream_value(chaos_seed(), cpu, n0 + i)) {
			ktest_fail(kt, __FILE__, __LINE__, "cpu %d draw %u: "
			    "0x%x, want 0x%x", cpu, n0 + i, got[i],
			    chaos_stream_value(chaos_seed(), cpu, n0 + i));
			return;
		}
}

KTEST(chaos, stream_pure)
{
	EXPECT_EQ(ktest_on_each_cpu(kt, stream_check, NULL),
	    cpumask_count(smp_active_mask));
}

/* ---------------------------------------------------------------------
 * every_point_fires: drivers, one round of a path each.
 */

static struct lwkt_token pf_tok;
static bool pf_tok_ready;
static volatile uint32_t pf_ran;

static void
pf_msg(void *arg __unused, int arg2 __unused, struct intrframe *f __unused)
{
	atomic_add_int(&pf_ran, 1);
}

/* A burst of messages to the other CPU, waited for: IPIQ points. */
static void
drive_ipiq(struct ktest_ctx *kt __unused)
{
	struct globaldata *target = globaldata_find(ktest_other_cpu());
	uint32_t seq = 0;
	int i;

	crit_enter();
	for (i = 0; i < 8; i++)
		seq = lwkt_send_ipiq(target, pf_msg, NULL);
	crit_exit();
	lwkt_wait_ipiq(target, seq);
}

static void
tok_round(struct ktest_ctx *kt __unused, void *arg __unused)
{
	struct lwkt_tokref ref;

	lwkt_gettoken(&ref, &pf_tok);
	lwkt_reltoken(&ref);
}

/* The token here, then on the other CPU: two grants a round. */
static void
drive_token(struct ktest_ctx *kt)
{
	tok_round(kt, NULL);
	if (ncpus > 1)
		ktest_on_cpu(kt, ktest_other_cpu(), tok_round, NULL);
}

static void
pf_cpusync(struct lwkt_cpusync *cs __unused)
{
}

static void
drive_cpusync(struct ktest_ctx *kt __unused)
{
	lwkt_cpusync_simple(smp_active_mask, pf_cpusync, NULL);
}

static void
drive_crit(struct ktest_ctx *kt __unused)
{
	crit_enter();
	crit_exit();
}

static void
drive_timer(struct ktest_ctx *kt __unused)
{
	lwkt_sleep_us(50);
}

struct pf_point {
	enum chaos_point pp_point;
	void		(*pp_drive)(struct ktest_ctx *kt);
	bool		pp_smp;		/* needs a second CPU */
};

static const struct pf_point pf_points[] = {
	{ CHAOS_IPIQ_PUBLISH, drive_ipiq, true },
	{ CHAOS_IPIQ_SIGNAL, drive_ipiq, true },
	{ CHAOS_IPIQ_DRAIN, drive_ipiq, true },
	{ CHAOS_IPIQ_CLEAR, drive_ipiq, true },
	{ CHAOS_IPIQ_DEFER, drive_ipiq, true },
	{ CHAOS_RESCHED, drive_ipiq, true },
	{ CHAOS_TOK_GET, drive_token, false },
	{ CHAOS_TOK_REL, drive_token, false },
	{ CHAOS_TOK_GRANT, drive_token, true },
	{ CHAOS_CPUSYNC, drive_cpusync, false },
	{ CHAOS_SWITCH, drive_crit, false },
	{ CHAOS_TIMER, drive_timer, false },
};
_Static_assert(nitems(pf_points) == CHAOS_NPOINTS, "one row per hook point");

KTEST(chaos, every_point_fires)
{
	const struct pf_point *pp;
	uint32_t before;
	uint32_t round, rounds;

	if (!chaos_on) {
		ktest_skip(kt, "chaos is off (boot with chaos=SEED)");
		return;
	}
	if (chaos_rate() == 0) {
		ktest_skip(kt, "chaos.rate=0: no hook point can fire");
		return;
	}
	if (!pf_tok_ready) {
		lwkt_token_init(&pf_tok, "chaos_pf");
		pf_tok_ready = true;
	}
	/* P(a point visited `rounds` times never fires) < e^-32. */
	rounds = 32 * 1024 / chaos_rate();
	for (pp = pf_points; pp < pf_points + nitems(pf_points); pp++) {
		if (pp->pp_smp && ncpus < 2) {
			ktest_log(kt, "%s: needs two CPUs, not driven",
			    chaos_point_name(pp->pp_point));
			continue;
		}
		if (pp->pp_point == CHAOS_SWITCH && lwkt_untimely_switch) {
			ktest_log(kt, "%s: untimely_switch=1 already switches at "
			    "every outermost crit_exit; never drawn",
			    chaos_point_name(pp->pp_point));
			continue;
		}
		before = chaos_fired(pp->pp_point);
		for (round = 0; round < rounds &&
		    chaos_fired(pp->pp_point) == 0; round++)
			pp->pp_drive(kt);
		if (chaos_fired(pp->pp_point) == 0)
			ktest_fail(kt, __FILE__, __LINE__, "hook point %s never "
			    "fired (%u rounds driven, rate %u/1024)",
			    chaos_point_name(pp->pp_point), round, chaos_rate());
		else
			ktest_log(kt, "%s fired %u times (%u before this "
			    "test, %u rounds driven)",
			    chaos_point_name(pp->pp_point),
			    chaos_fired(pp->pp_point), before, round);
	}
}

#else

KTEST(chaos, stream_reference)
{
	ktest_skip(kt, "chaos not compiled in (make CHAOS=1)");
}

KTEST(chaos, stream_pure)
{
	ktest_skip(kt, "chaos not compiled in (make CHAOS=1)");
}

KTEST(chaos, every_point_fires)
{
	ktest_skip(kt, "chaos not compiled in (make CHAOS=1)");
}

#endif
