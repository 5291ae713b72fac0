/*
 * Seeded chaos (sys/chaos.h): the per-CPU pseudo-random streams, the hook
 * functions and their counters, and the start-up that reads chaos= and
 * chaos.rate=.  Compiled into every kernel; without -DCHAOS (make CHAOS=1)
 * only chaos_init_cpu() exists, to say that chaos is not compiled in.
 *
 * Ownership: chaos_on, chaos_seed_v and chaos_rate_v are written once by
 * the BSP in its cpu_init_lwkt(), before any AP starts, read-only after.
 * chaos_cpus[c] is written only by CPU c, with interrupts disabled (a draw
 * and its counter never race with an interrupt on the same CPU); any CPU
 * may read the counters (tests, best effort).
 *
 * The stream: splitmix64.  CPU c's draw number n (from 0) is
 * mix(base + (n + 1) * GOLDEN) with base = mix((seed << 8) ^ c), a pure
 * function of (seed, c, n), so the same seed gives every CPU the same
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

#define CHAOS_GOLDEN	0x9e3779b97f4a7c15ULL

struct chaos_cpu {
	uint64_t	cc_base;	/* mix((seed << 8) ^ cpuid) */
	uint64_t	cc_n;		/* draws made */
	uint64_t	cc_fired[CHAOS_NPOINTS];
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

static uint64_t
chaos_mix(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static uint64_t
chaos_base(uint32_t seed, int cpu)
{
	return chaos_mix(((uint64_t)seed << 8) ^ (uint32_t)cpu);
}

uint64_t
chaos_stream_value(uint32_t seed, int cpu, uint64_t n)
{
	return chaos_mix(chaos_base(seed, cpu) + (n + 1) * CHAOS_GOLDEN);
}

uint64_t
chaos_next(void)
{
	struct chaos_cpu *cc = &chaos_cpus[mycpuid];
	uint32_t ef = intr_disable();
	uint64_t n = cc->cc_n++;

	intr_restore(ef);
	return chaos_mix(cc->cc_base + (n + 1) * CHAOS_GOLDEN);
}

/* One draw for point p: true (and counted) with probability rate/1024. */
static bool
chaos_draw(enum chaos_point p, uint64_t *v)
{
	*v = chaos_next();
	if ((uint32_t)(*v & 1023) >= chaos_rate_v)
		return false;
	chaos_cpus[mycpuid].cc_fired[p]++;	/* this CPU only; see the top */
	return true;
}

bool
chaos_roll(enum chaos_point p)
{
	uint64_t v;

	return chaos_draw(p, &v);
}

void
chaos_delay(enum chaos_point p)
{
	uint64_t v;
	uint32_t i, n;

	if (!chaos_draw(p, &v))
		return;
	n = (uint32_t)(v >> 32) & (CHAOS_DELAY_MAX - 1);
	for (i = 0; i < n; i++)
		cpu_pause();
}

uint64_t
chaos_jitter(enum chaos_point p)
{
	uint64_t v;

	if (!chaos_draw(p, &v))
		return 0;
	return cpu_tsc_hz * ((uint32_t)(v >> 32) % CHAOS_JITTER_MAX_US) /
	    1000000;
}

uint64_t
chaos_draws(int cpu)
{
	return chaos_cpus[cpu].cc_n;
}

uint64_t
chaos_fired(enum chaos_point p)
{
	uint64_t sum = 0;
	int cpu;

	for (cpu = 0; cpu < ncpus; cpu++)
		sum += chaos_cpus[cpu].cc_fired[p];
	return sum;
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
