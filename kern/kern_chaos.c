/*
 * Seeded chaos (sys/chaos.h): the per-CPU pseudo-random streams, the hook
 * functions and their counters, and the start-up that reads chaos= and
 * chaos.rate=.  Compiled into every kernel; without -DCHAOS (make CHAOS=1)
 * only chaos_init_cpu() exists, to say that chaos is not compiled in.
 *
 * Ownership: chaos_on, chaos_seed_v and chaos_rate_v are written once by
 * the BSP in its cpu_init_lwkt(), before any AP starts, read-only after.
 * chaos_cpus[c] is written only by CPU c, with single atomic instructions
 * (a draw and its counter never race with an interrupt on the same CPU);
 * any CPU may read the counters.
 *
 * The stream: CPU c's draw number n (from 0, modulo 2^32) is
 * hash(base + (n + 1) * GOLDEN) with base = hash(seed ^ hash(c + GOLDEN))
 * and hash a 32-bit xorshift-multiply mixer (cheap on i386: chaos is
 * drawn at every hook visit), a pure function of (seed, c, n), so the
 * same seed gives every CPU the same
 * sequence of decisions on every boot; what differs between boots is only
 * how the CPUs interleave, which the deterministic mode fixes too.
 */
#include <sys/param.h>
#include <sys/systm.h>
#include <sys/globaldata.h>
#include <sys/chaos.h>
#include <sys/kopts.h>
#include <machine/atomic.h>
#include <machine/cpu.h>
#include <machine/cpufunc.h>

#ifdef CHAOS

#define CHAOS_GOLDEN	0x9e3779b9u

struct chaos_cpu {
	uint32_t	cc_base;	/* chaos_hash(seed ^ chaos_hash(cpu + GOLDEN)) */
	volatile uint32_t cc_n;		/* draws made */
	volatile uint32_t cc_fired[CHAOS_NPOINTS];
} __aligned(64);

bool chaos_on;
static uint32_t chaos_seed_v, chaos_rate_v;
static struct chaos_cpu chaos_cpus[MAXCPU];

static const char *const chaos_names[CHAOS_NPOINTS] = {
	[CHAOS_IPIQ_PUBLISH] = "ipiq_publish",
	[CHAOS_IPIQ_SIGNAL] = "ipiq_signal",
	[CHAOS_IPIQ_DRAIN] = "ipiq_drain",
	[CHAOS_IPIQ_CLEAR] = "ipiq_clear",
	[CHAOS_IPIQ_DEFER] = "ipiq_defer",
	[CHAOS_TOK_GET] = "tok_get",
	[CHAOS_TOK_REL] = "tok_rel",
	[CHAOS_TOK_GRANT] = "tok_grant",
	[CHAOS_CPUSYNC] = "cpusync",
	[CHAOS_SWITCH] = "switch",
	[CHAOS_RESCHED] = "resched",
	[CHAOS_TIMER] = "timer",
};

/* A 32-bit integer hash (xorshift-multiply, full avalanche). */
static uint32_t
chaos_hash(uint32_t x)
{
	x ^= x >> 16;
	x *= 0x7feb352du;
	x ^= x >> 15;
	x *= 0x846ca68bu;
	x ^= x >> 16;
	return x;
}

static uint32_t
chaos_base(uint32_t seed, int cpu)
{
	return chaos_hash(seed ^ chaos_hash((uint32_t)cpu + CHAOS_GOLDEN));
}

uint32_t
chaos_stream_value(uint32_t seed, int cpu, uint32_t n)
{
	return chaos_hash(chaos_base(seed, cpu) + (n + 1) * CHAOS_GOLDEN);
}

/*
 * One fetch-and-add takes the draw number: an interrupt on this CPU
 * lands before or after it, never inside, so every draw number is used
 * exactly once (no other CPU touches cc_n).
 */
uint32_t
chaos_next(void)
{
	struct chaos_cpu *cc = &chaos_cpus[mycpuid];
	uint32_t n = atomic_fetchadd_int(&cc->cc_n, 1);

	return chaos_hash(cc->cc_base + (n + 1) * CHAOS_GOLDEN);
}

/*
 * One draw for point p: true (and counted) with probability rate/1024;
 * *v then holds fresh bits for the size of the perturbation.
 */
static bool
chaos_draw(enum chaos_point p, uint32_t *v)
{
	uint32_t x = chaos_next();

	if ((x & 1023) >= chaos_rate_v)
		return false;
	atomic_add_int(&chaos_cpus[mycpuid].cc_fired[p], 1);
	*v = chaos_hash(x);
	return true;
}

bool
chaos_roll(enum chaos_point p)
{
	uint32_t v;

	return chaos_draw(p, &v);
}

void
chaos_delay(enum chaos_point p)
{
	uint32_t i, n, v;

	if (!chaos_draw(p, &v))
		return;
	/*
	 * Not `pause`: under -icount single-threaded TCG each pause hands the
	 * host thread to the next vCPU, which made a delay cost thousands of
	 * other CPUs' time slices.  A plain loop only shifts this CPU's
	 * instruction count, and so where the round robin switches.
	 */
	n = v & (CHAOS_DELAY_MAX - 1);
	for (i = 0; i < n; i++)
		cpu_ccfence();
}

uint64_t
chaos_jitter(enum chaos_point p)
{
	uint32_t v;

	if (!chaos_draw(p, &v))
		return 0;
	return cpu_tsc_hz * (v % CHAOS_JITTER_MAX_US) / 1000000;
}

uint32_t
chaos_draws(int cpu)
{
	return chaos_cpus[cpu].cc_n;
}

uint32_t
chaos_fired(enum chaos_point p)
{
	uint32_t sum = 0;
	int cpu;

	for (cpu = 0; cpu < ncpus; cpu++)
		sum += chaos_cpus[cpu].cc_fired[p];
	return sum;
}

uint32_t
chaos_fired_cpu(enum chaos_point p, int cpu)
{
	return chaos_cpus[cpu].cc_fired[p];
}

const char *
chaos_point_name(enum chaos_point p)
{
	return chaos_names[p];
}

uint32_t
chaos_seed(void)
{
	return chaos_seed_v;
}

uint32_t
chaos_rate(void)
{
	return chaos_rate_v;
}

void
chaos_init_cpu(void)
{
	struct globaldata *gd = mycpu;
	struct chaos_cpu *cc = &chaos_cpus[gd->gd_cpuid];

	if (gd->gd_cpuid == 0) {
		chaos_seed_v = kopts.ko_chaos;
		chaos_rate_v = kopts.ko_chaos_rate;
		chaos_on = chaos_seed_v != 0;
		if (chaos_on)
			kprintf("chaos: seed %u, rate %u/1024 per hook point, "
			    "streams per CPU\n", chaos_seed_v, chaos_rate_v);
		else
			kprintf("chaos: compiled in, off (chaos=SEED turns it "
			    "on)\n");
	}
	cc->cc_base = chaos_base(chaos_seed_v, gd->gd_cpuid);
	cc->cc_n = 0;
	if (chaos_on)
		atomic_set_int(&gd->gd_reqflags, RQF_UNTIMELY);
}

#else

void
chaos_init_cpu(void)
{
	if (mycpuid == 0 && kopts.ko_chaos != 0)
		kprintf("chaos: not compiled in (make CHAOS=1)\n");
}

#endif
