/*
 * In-kernel self-test framework.  Tests are declared right beside what they
 * test's suite with KTEST(suite, name) { ... }; the macro places a struct
 * ktest in the ".ktests" linker section, and kern/kern_ktest.c runs the
 * selected ones and reports KTAP version 1 on the console.
 *
 * Inside a test body `kt` names the running test's context.  EXPECT_*
 * record a failure and continue; ASSERT_* record it and return from the
 * enclosing function.  Both print file, line, expression and values.  The
 * context may be used from several CPUs at once (failures are counted
 * atomically, console lines never interleave).
 */
#ifndef _SYS_KTEST_H_
#define _SYS_KTEST_H_

#include <sys/types.h>
#include <sys/cpumask.h>

struct ktest_ctx;

struct ktest {
	const char	*kt_suite;
	const char	*kt_name;
	void		(*kt_func)(struct ktest_ctx *kt);
	uint32_t	kt_flags;
	uint32_t	kt_line;	/* orders tests as declared in their file */
};

/*
 * KT_MANUAL: a fault demonstration that ends the run (panic).  Never in
 * the default set; selected only by a test= pattern whose suite part has
 * no wildcard (e.g. test=selftest.panic*).
 */
#define KT_MANUAL	0x0001
/* KT_BENCH: a benchmark (make bench); selected like KT_MANUAL tests. */
#define KT_BENCH	0x0002

#define KTEST_FLAGS(suite, name, flags)					\
	static void ktest_fn_##suite##_##name(struct ktest_ctx *kt);	\
	static const struct ktest ktest_##suite##_##name		\
	    __used __section(".ktests") __aligned(4) = {		\
		#suite, #name, ktest_fn_##suite##_##name, (flags), __LINE__ };	\
	static void ktest_fn_##suite##_##name(struct ktest_ctx *kt __unused)

#define KTEST(suite, name)	KTEST_FLAGS(suite, name, 0)

/* Record a failure with a printf-style explanation (one "# " line). */
void	ktest_fail(struct ktest_ctx *kt, const char *file, int line,
	    const char *fmt, ...) __printflike(4, 5);
/* Print a "# " diagnostic line attributed to the test. */
void	ktest_log(struct ktest_ctx *kt, const char *fmt, ...) __printflike(2, 3);
/* Mark the test skipped with a reason (the test should return after). */
void	ktest_skip(struct ktest_ctx *kt, const char *reason);
/* Deterministic per-test pseudo-random numbers, seeded by seed= and the test name. */
uint32_t ktest_random(struct ktest_ctx *kt);
/*
 * Benchmarks: print "# bench: name=NAME value=TOTAL/OPS unit=UNIT ..." with
 * two decimals (scripts/runner.py bench collects these into bench.json).
 * `extra` is appended verbatim (space-separated key=value pairs) or NULL.
 */
void	ktest_bench_report(struct ktest_ctx *kt, const char *name,
	    uint64_t total, uint64_t ops, const char *unit, const char *extra);
/* Microseconds since TSC value `tsc` (the CPU's own clock). */
uint64_t ktest_us_since(uint64_t tsc);
/*
 * Sleep-poll until *word >= target, checking every step_us, for at most
 * timeout_us; true if reached.  Thread context.
 */
bool	ktest_poll(volatile uint32_t *word, uint32_t target, uint32_t step_us,
	    uint32_t timeout_us);
/*
 * One pass of a test's wait for another CPU's store or for the clock,
 * instead of cpu_pause(): backoff_pass() (sys/backoff.h) with a pass
 * counter per CPU, so a long wait halts between interrupts instead of
 * spinning (host time grows with N otherwise).  Interrupts on or off, in
 * or out of a critical section; it never drains the IPIQ.
 */
void	ktest_relax(void);
/* The same, for a loop that drains this CPU's IPIQ itself. */
void	ktest_relax_ipiq(void);
/*
 * Stay on this CPU for `us` (running, never blocking): some work, then
 * ktest_relax(), in turn.  Any context, interrupts on or off.
 */
void	ktest_hold_us(uint32_t us);
/*
 * The online CPUs other than this one that a test visits one at a time:
 * all of them up to KT_SPREAD_MAX, else KT_SPREAD_MAX of them spread
 * evenly over the online CPUs in cpuid order (the first and the last
 * among them), so a test's cost stays bounded at any N.
 */
#define KT_SPREAD_MAX	16
cpumask_t ktest_spread_cpus(void);
/* The lowest online CPU other than this one; this one if it is alone. */
int	ktest_other_cpu(void);
/* Some work (n steps) the compiler cannot drop. */
uint32_t ktest_busy_work(uint32_t n);
/* The next online CPU after `cpu`, cyclically (`cpu` itself if alone). */
int	ktest_next_cpu(int cpu);
/*
 * Discard the current attempt of a test that may retry, for a cause measured
 * in that attempt that the property under test does not depend on (the
 * property itself must be asserted on every attempt).  Prints
 * "# retry: suite.name: <reason>".  Returns true if another attempt may be
 * made; false, recording a failure, once the test has discarded
 * KTEST_RETRY_MAX attempts, and at once under test.noretry (the
 * deterministic -icount rows, where host load cannot disturb a run).
 */
#define KTEST_RETRY_MAX	3
bool	ktest_retry(struct ktest_ctx *kt, const char *fmt, ...) __printflike(2, 3);
/* Number of failures recorded so far in this test. */
int	ktest_failures(struct ktest_ctx *kt);

/*
 * Run fn(kt, arg) once on every online CPU, concurrently, and wait for all
 * of them.  A CPU that does not finish within a bounded time fails the test
 * by name.  Returns the number of CPUs that ran fn.
 */
int	ktest_on_each_cpu(struct ktest_ctx *kt,
	    void (*fn)(struct ktest_ctx *kt, void *arg), void *arg);
/* Same, on one CPU only (returns 1 if it ran, 0 if it did not finish). */
int	ktest_on_cpu(struct ktest_ctx *kt, int cpu,
	    void (*fn)(struct ktest_ctx *kt, void *arg), void *arg);

#define KT__CMP(kind, onfail, a, op, b) do {				\
	long long kt_a_ = (long long)(a), kt_b_ = (long long)(b);	\
	if (!(kt_a_ op kt_b_)) {					\
		ktest_fail(kt, __FILE__, __LINE__,			\
		    kind "(%s, %s): %s == %lld (0x%llx), %s == %lld (0x%llx)", \
		    #a, #b, #a, kt_a_, (unsigned long long)kt_a_,	\
		    #b, kt_b_, (unsigned long long)kt_b_);		\
		onfail;							\
	}								\
} while (0)

#define KT__TRUE(kind, onfail, c) do {					\
	if (!(c)) {							\
		ktest_fail(kt, __FILE__, __LINE__, kind "(%s): false", #c); \
		onfail;							\
	}								\
} while (0)

#define KT__PTR(kind, onfail, a, op, b) do {				\
	const void *kt_pa_ = (a), *kt_pb_ = (b);			\
	if (!(kt_pa_ op kt_pb_)) {					\
		ktest_fail(kt, __FILE__, __LINE__,			\
		    kind "(%s, %s): %s == %p, %s == %p",		\
		    #a, #b, #a, kt_pa_, #b, kt_pb_);			\
		onfail;							\
	}								\
} while (0)

#define KT__STR(kind, onfail, a, b) do {				\
	const char *kt_sa_ = (a), *kt_sb_ = (b);			\
	if (strcmp(kt_sa_, kt_sb_) != 0) {				\
		ktest_fail(kt, __FILE__, __LINE__,			\
		    kind "(%s, %s): \"%s\" != \"%s\"",			\
		    #a, #b, kt_sa_, kt_sb_);				\
		onfail;							\
	}								\
} while (0)

#define EXPECT_TRUE(c)		KT__TRUE("EXPECT_TRUE", (void)0, c)
#define EXPECT_FALSE(c)		KT__TRUE("EXPECT_FALSE", (void)0, !(c))
#define EXPECT_EQ(a, b)		KT__CMP("EXPECT_EQ", (void)0, a, ==, b)
#define EXPECT_NE(a, b)		KT__CMP("EXPECT_NE", (void)0, a, !=, b)
#define EXPECT_LT(a, b)		KT__CMP("EXPECT_LT", (void)0, a, <, b)
#define EXPECT_LE(a, b)		KT__CMP("EXPECT_LE", (void)0, a, <=, b)
#define EXPECT_GT(a, b)		KT__CMP("EXPECT_GT", (void)0, a, >, b)
#define EXPECT_GE(a, b)		KT__CMP("EXPECT_GE", (void)0, a, >=, b)
#define EXPECT_PTR_EQ(a, b)	KT__PTR("EXPECT_PTR_EQ", (void)0, a, ==, b)
#define EXPECT_PTR_NE(a, b)	KT__PTR("EXPECT_PTR_NE", (void)0, a, !=, b)
#define EXPECT_STREQ(a, b)	KT__STR("EXPECT_STREQ", (void)0, a, b)

#define ASSERT_TRUE(c)		KT__TRUE("ASSERT_TRUE", return, c)
#define ASSERT_FALSE(c)		KT__TRUE("ASSERT_FALSE", return, !(c))
#define ASSERT_EQ(a, b)		KT__CMP("ASSERT_EQ", return, a, ==, b)
#define ASSERT_NE(a, b)		KT__CMP("ASSERT_NE", return, a, !=, b)
#define ASSERT_LT(a, b)		KT__CMP("ASSERT_LT", return, a, <, b)
#define ASSERT_LE(a, b)		KT__CMP("ASSERT_LE", return, a, <=, b)
#define ASSERT_GT(a, b)		KT__CMP("ASSERT_GT", return, a, >, b)
#define ASSERT_GE(a, b)		KT__CMP("ASSERT_GE", return, a, >=, b)
#define ASSERT_PTR_EQ(a, b)	KT__PTR("ASSERT_PTR_EQ", return, a, ==, b)
#define ASSERT_PTR_NE(a, b)	KT__PTR("ASSERT_PTR_NE", return, a, !=, b)
#define ASSERT_STREQ(a, b)	KT__STR("ASSERT_STREQ", return, a, b)

#endif
