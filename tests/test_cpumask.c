/*
 * Suite "cpumask": every operation of sys/cpumask.h at the word
 * boundaries (bits 0, 31/32, 63/64, ..., 254/255), against a plain
 * bool-array model on random masks, iteration over sparse and full masks,
 * the CPU-list format, and the atomic bit operations, alone and from all
 * CPUs at once on bits of the same words (no lost update).
 */
#include <sys/param.h>
#include <sys/systm.h>
#include <sys/cpumask.h>
#include <sys/globaldata.h>
#include <sys/ktest.h>
#include <machine/atomic.h>

#define CM_RANDOM	64		/* random masks per model check */
/*
 * Rounds of the all-CPU atomics test, shared out among the CPUs (at least
 * CM_ATOMIC_MIN each): constant total work at any N.  Under multi-threaded
 * TCG at -smp 4 the unlocked or/and lose updates within this many.
 */
#define CM_ATOMIC_TOTAL	400000
#define CM_ATOMIC_MIN	2000

/* Bits next to every word boundary, and the last bits. */
static const int cm_edges[] = {
	0, 1, 30, 31, 32, 33, 63, 64, 65, 95, 96, 127, 128, 159, 160, 191,
	192, 223, 224, 253, 254, 255
};

/* The model: one bool per bit. */
struct cm_model {
	bool	b[CPUMASK_BITS];
};

static void
cm_to_model(cpumask_t m, struct cm_model *o)
{
	int i;

	for (i = 0; i < CPUMASK_BITS; i++)
		o->b[i] = (m.ary[i / 32] >> (i % 32)) & 1;
}

static cpumask_t
cm_random(struct ktest_ctx *kt)
{
	cpumask_t m;
	uint32_t r;
	int i;

	/* Words that are zero, full or random: sparse and dense masks. */
	for (i = 0; i < CPUMASK_WORDS; i++) {
		r = ktest_random(kt);
		m.ary[i] = (r & 3) == 0 ? 0 : (r & 3) == 1 ? ~0u :
		    ktest_random(kt) & ktest_random(kt);
	}
	return m;
}

/* The mask's contents as listed by CPUMASK_FOREACH equal the model's. */
static bool
cm_foreach_matches(struct ktest_ctx *kt, cpumask_t m)
{
	struct cm_model o;
	int cpu, want = -1, n = 0;

	cm_to_model(m, &o);
	CPUMASK_FOREACH(cpu, m) {
		for (want++; want < CPUMASK_BITS && !o.b[want]; want++)
			;
		if (cpu != want) {
			ktest_log(kt, "FOREACH gave %d, model %d", cpu, want);
			return false;
		}
		n++;
	}
	for (want++; want < CPUMASK_BITS && !o.b[want]; want++)
		;
	return want == CPUMASK_BITS && n == cpumask_count(m);
}

KTEST(cpumask, single_bit_at_word_edges)
{
	cpumask_t m, z;
	size_t k;
	int b, i;

	CPUMASK_ASSZERO(z);
	EXPECT_TRUE(cpumask_empty(z));
	EXPECT_EQ(cpumask_count(z), 0);
	EXPECT_EQ(cpumask_first(z), -1);
	EXPECT_EQ(cpumask_last(z), -1);
	EXPECT_EQ(cpumask_next(z, -1), -1);
	for (k = 0; k < nitems(cm_edges); k++) {
		b = cm_edges[k];
		CPUMASK_ASSBIT(m, b);
		for (i = 0; i < CPUMASK_WORDS; i++)
			EXPECT_EQ(m.ary[i], i == b / 32 ? 1u << (b % 32) : 0);
		EXPECT_EQ(CPUMASK_TESTBIT(m, b), 1);
		if (b > 0)
			EXPECT_EQ(CPUMASK_TESTBIT(m, b - 1), 0);
		if (b < CPUMASK_BITS - 1)
			EXPECT_EQ(CPUMASK_TESTBIT(m, b + 1), 0);
		EXPECT_FALSE(cpumask_empty(m));
		EXPECT_EQ(cpumask_count(m), 1);
		EXPECT_EQ(cpumask_first(m), b);
		EXPECT_EQ(cpumask_last(m), b);
		EXPECT_EQ(cpumask_next(m, -1), b);
		EXPECT_EQ(cpumask_next(m, b - 1), b);
		EXPECT_EQ(cpumask_next(m, b), -1);
		EXPECT_TRUE(cpumask_equal(m, cpumask_bit(b)));
		EXPECT_TRUE(cpumask_intersects(m, cpumask_bit(b)));
		EXPECT_FALSE(cpumask_intersects(m, z));
		/* The neighbours across the boundary are other bits. */
		if (b > 0) {
			EXPECT_FALSE(cpumask_equal(m, cpumask_bit(b - 1)));
			CPUMASK_SETBIT(m, b - 1);
			EXPECT_EQ(cpumask_count(m), 2);
			EXPECT_EQ(cpumask_first(m), b - 1);
			EXPECT_EQ(cpumask_next(m, b - 1), b);
			EXPECT_EQ(cpumask_last(m), b);
			CPUMASK_CLRBIT(m, b - 1);
		}
		CPUMASK_CLRBIT(m, b);
		EXPECT_TRUE(cpumask_empty(m));
		CPUMASK_SETBIT(m, b);
		CPUMASK_SETBIT(m, b);
		EXPECT_EQ(cpumask_count(m), 1);
	}
	EXPECT_EQ(CPUMASK_BITS, 256);
	EXPECT_EQ(MAXCPU, 255);
	EXPECT_GE(CPUMASK_BITS, MAXCPU);
}

KTEST(cpumask, ranges_and_full_masks)
{
	static const int ns[] = { 0, 1, 2, 31, 32, 33, 63, 64, 65, 254, 255,
	    256 };
	cpumask_t m;
	size_t k;
	int n, i, cpu, seen;

	for (k = 0; k < nitems(ns); k++) {
		n = ns[k];
		m = cpumask_range(n);
		EXPECT_EQ(cpumask_count(m), n);
		EXPECT_EQ(cpumask_first(m), n > 0 ? 0 : -1);
		EXPECT_EQ(cpumask_last(m), n - 1);
		for (i = 0; i < CPUMASK_BITS; i++)
			if (CPUMASK_TESTBIT(m, i) != (i < n)) {
				ktest_fail(kt, __FILE__, __LINE__, "range(%d) "
				    "bit %d is %d", n, i, CPUMASK_TESTBIT(m, i));
				break;
			}
		seen = 0;
		CPUMASK_FOREACH(cpu, m) {
			EXPECT_EQ(cpu, seen);
			seen++;
		}
		EXPECT_EQ(seen, n);
		EXPECT_TRUE(cm_foreach_matches(kt, m));
	}
	m = cpumask_range(CPUMASK_BITS);
	for (i = 0; i < CPUMASK_WORDS; i++)
		EXPECT_EQ(m.ary[i], ~0u);
	EXPECT_EQ(cpumask_next(m, CPUMASK_BITS - 2), CPUMASK_BITS - 1);
	EXPECT_EQ(cpumask_next(m, CPUMASK_BITS - 1), -1);
	EXPECT_TRUE(cpumask_equal(cpumask_andnot(m, cpumask_range(MAXCPU)),
	    cpumask_bit(255)));
}

KTEST(cpumask, sparse_iteration)
{
	static const int bits[] = { 0, 31, 32, 63, 64, 200, 254 };
	cpumask_t m;
	size_t k;
	int cpu;

	CPUMASK_ASSZERO(m);
	for (k = 0; k < nitems(bits); k++)
		CPUMASK_SETBIT(m, bits[k]);
	EXPECT_EQ(cpumask_count(m), (int)nitems(bits));
	k = 0;
	CPUMASK_FOREACH(cpu, m) {
		ASSERT_LT(k, nitems(bits));
		EXPECT_EQ(cpu, bits[k]);
		k++;
	}
	EXPECT_EQ(k, nitems(bits));
	for (k = 0; k + 1 < nitems(bits); k++) {
		EXPECT_EQ(cpumask_next(m, bits[k]), bits[k + 1]);
		EXPECT_EQ(cpumask_next(m, bits[k + 1] - 1), bits[k + 1]);
	}
	EXPECT_EQ(cpumask_next(m, 254), -1);
	/* Clearing the current bit inside the loop is allowed. */
	k = 0;
	CPUMASK_FOREACH(cpu, m) {
		CPUMASK_CLRBIT(m, cpu);
		k++;
	}
	EXPECT_EQ(k, nitems(bits));
	EXPECT_TRUE(cpumask_empty(m));
}

/* Every set operation against the model, on random masks. */
KTEST(cpumask, set_operations_match_model)
{
	struct cm_model oa, ob, oc;
	cpumask_t a, b, r, ip;
	int i, t, bad = 0, cnt, first, last;
	bool any_and, eq;

	for (t = 0; t < CM_RANDOM && bad == 0; t++) {
		a = cm_random(kt);
		b = (t & 3) == 0 ? a : cm_random(kt);
		cm_to_model(a, &oa);
		cm_to_model(b, &ob);

		r = cpumask_or(a, b);
		ip = a;
		CPUMASK_ORMASK(ip, b);
		EXPECT_TRUE(cpumask_equal(r, ip));
		cm_to_model(r, &oc);
		for (i = 0; i < CPUMASK_BITS; i++)
			bad += oc.b[i] != (oa.b[i] || ob.b[i]);

		r = cpumask_and(a, b);
		ip = a;
		CPUMASK_ANDMASK(ip, b);
		EXPECT_TRUE(cpumask_equal(r, ip));
		cm_to_model(r, &oc);
		for (i = 0; i < CPUMASK_BITS; i++)
			bad += oc.b[i] != (oa.b[i] && ob.b[i]);

		r = cpumask_andnot(a, b);
		ip = a;
		CPUMASK_NANDMASK(ip, b);
		EXPECT_TRUE(cpumask_equal(r, ip));
		cm_to_model(r, &oc);
		for (i = 0; i < CPUMASK_BITS; i++)
			bad += oc.b[i] != (oa.b[i] && !ob.b[i]);

		cnt = 0;
		first = last = -1;
		any_and = false;
		eq = true;
		for (i = 0; i < CPUMASK_BITS; i++) {
			if (oa.b[i]) {
				cnt++;
				if (first < 0)
					first = i;
				last = i;
			}
			any_and |= oa.b[i] && ob.b[i];
			eq &= oa.b[i] == ob.b[i];
		}
		EXPECT_EQ(cpumask_count(a), cnt);
		EXPECT_EQ(cpumask_first(a), first);
		EXPECT_EQ(cpumask_last(a), last);
		EXPECT_EQ(cpumask_empty(a), cnt == 0);
		EXPECT_EQ(cpumask_intersects(a, b), any_and);
		EXPECT_EQ(cpumask_equal(a, b), eq);
		EXPECT_TRUE(cm_foreach_matches(kt, a));
		for (i = -1; i < CPUMASK_BITS; i += 1 + (int)(ktest_random(kt) % 9)) {
			int want = i + 1;

			while (want < CPUMASK_BITS && !oa.b[want])
				want++;
			EXPECT_EQ(cpumask_next(a, i), want < CPUMASK_BITS ? want : -1);
		}
		for (i = 0; i < CPUMASK_BITS; i++)
			bad += CPUMASK_TESTBIT(a, i) != oa.b[i];
	}
	EXPECT_EQ(bad, 0);
}

KTEST(cpumask, format_cpu_list)
{
	char buf[CPUMASK_FMTLEN], tiny[12];
	cpumask_t m;

	CPUMASK_ASSZERO(m);
	EXPECT_STREQ(cpumask_format(buf, sizeof(buf), m), "none");
	EXPECT_STREQ(cpumask_format(buf, sizeof(buf), cpumask_range(4)), "0-3");
	CPUMASK_SETBIT(m, 0);
	CPUMASK_SETBIT(m, 1);
	CPUMASK_SETBIT(m, 2);
	CPUMASK_SETBIT(m, 3);
	CPUMASK_SETBIT(m, 7);
	EXPECT_STREQ(cpumask_format(buf, sizeof(buf), m), "0-3,7");
	CPUMASK_ASSZERO(m);
	CPUMASK_SETBIT(m, 31);
	CPUMASK_SETBIT(m, 32);
	CPUMASK_SETBIT(m, 254);
	EXPECT_STREQ(cpumask_format(buf, sizeof(buf), m), "31-32,254");
	EXPECT_STREQ(cpumask_format(buf, sizeof(buf), cpumask_range(256)),
	    "0-255");
	/* Every other CPU: longer than the buffer, cut with "...". */
	CPUMASK_ASSZERO(m);
	for (int i = 0; i < CPUMASK_BITS; i += 2)
		CPUMASK_SETBIT(m, i);
	cpumask_format(tiny, sizeof(tiny), m);
	EXPECT_LT(strlen(tiny), sizeof(tiny));
	EXPECT_EQ(memcmp(tiny + strlen(tiny) - 3, "...", 3), 0);
}

KTEST(cpumask, atomics_at_word_edges)
{
	volatile cpumask_t m;
	size_t k;
	int b, i;

	for (k = 0; k < nitems(cm_edges); k++) {
		b = cm_edges[k];
		for (i = 0; i < CPUMASK_WORDS; i++)
			m.ary[i] = 0;
		atomic_cpumask_setbit(&m, b);
		for (i = 0; i < CPUMASK_WORDS; i++)
			EXPECT_EQ(m.ary[i], i == b / 32 ? 1u << (b % 32) : 0);
		atomic_cpumask_setbit(&m, b);
		EXPECT_EQ(cpumask_count(m), 1);
		EXPECT_TRUE(atomic_cpumask_testandclr(&m, b));
		EXPECT_TRUE(cpumask_empty(m));
		EXPECT_FALSE(atomic_cpumask_testandclr(&m, b));
		for (i = 0; i < CPUMASK_WORDS; i++)
			m.ary[i] = ~0u;
		atomic_cpumask_clrbit(&m, b);
		for (i = 0; i < CPUMASK_WORDS; i++)
			EXPECT_EQ(m.ary[i], i == b / 32 ? ~(1u << (b % 32)) :
			    ~0u);
		EXPECT_FALSE(atomic_cpumask_testandclr(&m, b));
		EXPECT_EQ(cpumask_count(m), CPUMASK_BITS - 1);
	}
}

/*
 * All CPUs at once: CPU c toggles bit c of `mask` (CPUs 0-31 share word
 * 0, 32-63 word 1, ...) and bit 255 - c of `top` (the top words, from the
 * other end) with the atomic operations.  Nobody else touches a CPU's
 * bits, so after every step its bits are exactly what it last wrote: a
 * read-modify-write that is not atomic would, under contention, lose one
 * (counted).  Each CPU ends with bit c set iff c is even, its bit of top
 * clear.
 */
static struct {
	uint32_t	rounds;			/* per CPU */
	volatile cpumask_t mask;
	volatile cpumask_t top;
	volatile uint32_t lost[MAXCPU];
	volatile uint32_t tac_wrong[MAXCPU];
} ca;

static void
ca_thread(struct ktest_ctx *kt __unused, void *arg __unused)
{
	int c = mycpuid, hi = CPUMASK_BITS - 1 - c, i;

	for (i = 0; i < (int)ca.rounds; i++) {
		atomic_cpumask_setbit(&ca.mask, c);
		atomic_cpumask_setbit(&ca.top, hi);
		if (!CPUMASK_TESTBIT(ca.mask, c) || !CPUMASK_TESTBIT(ca.top, hi))
			ca.lost[c]++;
		atomic_cpumask_clrbit(&ca.mask, c);
		if (CPUMASK_TESTBIT(ca.mask, c) || !CPUMASK_TESTBIT(ca.top, hi))
			ca.lost[c]++;
		if (!atomic_cpumask_testandclr(&ca.top, hi))
			ca.tac_wrong[c]++;
		if (atomic_cpumask_testandclr(&ca.top, hi))
			ca.tac_wrong[c]++;
	}
	if ((c & 1) == 0)
		atomic_cpumask_setbit(&ca.mask, c);
}

KTEST(cpumask, atomics_all_cpus_same_words)
{
	cpumask_t want;
	int cpu, ran;

	memset((void *)&ca, 0, sizeof(ca));
	ca.rounds = MAX(CM_ATOMIC_MIN, CM_ATOMIC_TOTAL /
	    cpumask_count(smp_active_mask));
	ran = ktest_on_each_cpu(kt, ca_thread, NULL);
	EXPECT_EQ(ran, cpumask_count(smp_active_mask));
	CPUMASK_ASSZERO(want);
	CPUMASK_FOREACH(cpu, smp_active_mask) {
		EXPECT_EQ(ca.lost[cpu], 0);
		EXPECT_EQ(ca.tac_wrong[cpu], 0);
		if ((cpu & 1) == 0)
			CPUMASK_SETBIT(want, cpu);
	}
	if (!cpumask_equal(ca.mask, want)) {
		char got[CPUMASK_FMTLEN], exp[CPUMASK_FMTLEN];

		ktest_fail(kt, __FILE__, __LINE__, "final mask %s, want %s",
		    cpumask_format(got, sizeof(got), ca.mask),
		    cpumask_format(exp, sizeof(exp), want));
	}
	EXPECT_TRUE(cpumask_empty(ca.top));
	ktest_log(kt, "%d CPU(s) x %u rounds of set/clear/test-and-clear",
	    ran, ca.rounds);
}
