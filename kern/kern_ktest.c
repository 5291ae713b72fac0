/*
 * The self-test runner (sys/ktest.h).  Runs on the BSP after every CPU has
 * started: picks the tests that kopts.ko_test selects from the ".ktests"
 * linker section, runs each `repeat` times and reports KTAP version 1 on
 * the console (LWKT-SPEC §12), nested as KUnit does: each suite with a
 * selected test is a subtest of the run (its own version line, "# Subtest:"
 * header and plan, its tests indented by KT_INDENT and numbered from 1,
 * then a per-suite totals line and the suite's own result line); the
 * format is described in docs/testing.md ("KTAP format").  "# start N
 * suite.name" (N counts every test of the run) precedes every test so the
 * host can name the test that was running when a run hangs.  Framework
 * diagnostics (ktest_fail, ktest_log, ktest_retry, ktest_bench_report) are
 * indented like the results they belong to; other console output is not.
 *
 * The runner is a thread on CPU 0 (ktest_main_thread); each test runs in a
 * thread of its own, and the runner waits for it with a timeout
 * (test.timeout): a test that does not finish fails by name, the threads
 * of every CPU are dumped and the run ends.  ktest_on_each_cpu() runs a
 * function in a new thread on every CPU.  Tests may use their context from
 * any CPU: failures are counted atomically.  ktest_relax() and
 * ktest_hold_us() are the tests' waits (backoff_pass() with a pass counter
 * per CPU, each written only by its own CPU).
 *
 * At the end of a run that was not aborted the runner prints how many
 * console lines each CPU wrote since boot ("# console: lines ..."); the
 * host compares the total with the lines it received (docs/testing.md).
 */
#include <sys/param.h>
#include <sys/systm.h>
#include <sys/backoff.h>
#include <sys/globaldata.h>
#include <sys/cons.h>
#include <sys/counters.h>
#include <sys/kopts.h>
#include <sys/ktest.h>
#include <sys/systimer.h>
#include <sys/thread2.h>
#include <machine/atomic.h>
#include <machine/cpu.h>
#define KT_MAX			512
/* A subtest's lines: KTAP nests a suite's lines 4 spaces deeper. */
#define KT_INDENT		"    "

extern const struct ktest __start_ktests[], __stop_ktests[];

struct ktest_ctx {
	const struct ktest	*t;
	int			num;		/* KTAP number within its suite */
	volatile uint32_t	failures;
	bool			skipped;
	char			skip_reason[96];
	uint32_t		rng;
	volatile uint32_t	retries;	/* attempts discarded (ktest_retry) */
};

/* A group of threads the caller waits for. */
struct kt_group {
	struct ktest_ctx	*kt;
	void			(*fn)(struct ktest_ctx *, void *);
	void			*arg;
	thread_t		waiter;
	volatile uint32_t	pending;
	volatile cpumask_t	done;		/* CPUs whose thread finished */
};

static int kt_pass, kt_fail, kt_skip;

/* The suite being run: its subtest number in the run and its results so far. */
static struct {
	int	num;
	int	pass, fail, skip;
} kt_suite;

void	ktest_main_thread(void *arg);

/* Every registered test, sorted by suite, then by line of declaration. */
static const struct ktest *kt_sorted[KT_MAX];
static int kt_count;

static bool
ktest_before(const struct ktest *a, const struct ktest *b)
{
	int c = strcmp(a->kt_suite, b->kt_suite);

	return c < 0 || (c == 0 && a->kt_line < b->kt_line);
}

static void
ktest_sort(void)
{
	const struct ktest *t;
	int i;

	kt_count = 0;
	for (t = __start_ktests; t < __stop_ktests; t++) {
		if (kt_count == KT_MAX)
			panic("ktest: more than %d tests; raise KT_MAX", KT_MAX);
		for (i = kt_count; i > 0 && ktest_before(t, kt_sorted[i - 1]); i--)
			kt_sorted[i] = kt_sorted[i - 1];
		kt_sorted[i] = t;
		kt_count++;
	}
}

static void
ktest_fullname(const struct ktest *t, char *buf, size_t len)
{
	ksnprintf(buf, len, "%s.%s", t->kt_suite, t->kt_name);
}

/* A pattern may select a manual or bench test only if its suite part is literal. */
static bool
pattern_names_suite(const char *pat, size_t len)
{
	size_t i;

	for (i = 0; i < len && pat[i] != '.'; i++)
		if (pat[i] == '*' || pat[i] == '?')
			return false;
	return i < len;
}

static bool
ktest_selected(const struct ktest *t, const char *patterns)
{
	char name[96], pat[KOPTS_TEST_MAX];
	const char *p = patterns, *comma;
	size_t len;

	if (patterns[0] == '\0')
		return (t->kt_flags & (KT_MANUAL | KT_BENCH)) == 0;
	ktest_fullname(t, name, sizeof(name));
	for (; *p != '\0'; p = comma + 1) {
		comma = strchr(p, ',');
		if (comma == NULL)
			comma = p + strlen(p);
		len = comma - p;
		memcpy(pat, p, len);
		pat[len] = '\0';
		if (glob_match(pat, name) &&
		    ((t->kt_flags & (KT_MANUAL | KT_BENCH)) == 0 ||
		    pattern_names_suite(pat, len)))
			return true;
		if (*comma == '\0')
			break;
	}
	return false;
}

void
ktest_fail(struct ktest_ctx *kt, const char *file, int line,
    const char *fmt, ...)
{
	char msg[400];
	va_list ap;

	va_start(ap, fmt);
	kvsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	atomic_add_int(&kt->failures, 1);
	kprintf(KT_INDENT "# FAIL %s:%d: %s (cpu %d)\n", file, line, msg,
	    mycpuid);
}

void
ktest_log(struct ktest_ctx *kt, const char *fmt, ...)
{
	char msg[400];
	va_list ap;

	va_start(ap, fmt);
	kvsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	kprintf(KT_INDENT "# %s.%s: %s\n", kt->t->kt_suite, kt->t->kt_name,
	    msg);
}

bool
ktest_retry(struct ktest_ctx *kt, const char *fmt, ...)
{
	char msg[300];
	va_list ap;
	uint32_t n;

	va_start(ap, fmt);
	kvsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	n = atomic_fetchadd_int(&kt->retries, 1) + 1;
	kprintf(KT_INDENT "# retry: %s.%s: %s\n", kt->t->kt_suite,
	    kt->t->kt_name, msg);
	if (kopts.ko_test_noretry) {
		ktest_fail(kt, __FILE__, __LINE__, "attempt discarded under "
		    "test.noretry (deterministic run): %s", msg);
		return false;
	}
	if (n > KTEST_RETRY_MAX) {
		ktest_fail(kt, __FILE__, __LINE__, "%u attempts discarded "
		    "(at most %d may be)", n, KTEST_RETRY_MAX);
		return false;
	}
	return true;
}

void
ktest_skip(struct ktest_ctx *kt, const char *reason)
{
	kt->skipped = true;
	strlcpy(kt->skip_reason, reason, sizeof(kt->skip_reason));
}

void
ktest_bench_report(struct ktest_ctx *kt, const char *name, uint64_t total,
    uint64_t ops, const char *unit, const char *extra)
{
	uint64_t centi = ops ? total * 100 / ops : 0;

	if (!cpu_ticks_are_tsc()) {
		ktest_skip(kt, "no TSC: cpu_ticks() counts the PIT, not "
		    "instructions");
		return;
	}
	if (ops == 0)
		ktest_fail(kt, __FILE__, __LINE__, "bench %s: no operations", name);
	kprintf(KT_INDENT "# bench: name=%s value=%llu.%02llu unit=%s "
	    "ops=%llu%s%s\n",
	    name, centi / 100, centi % 100, unit, ops, extra ? " " : "",
	    extra ? extra : "");
}

uint32_t
ktest_random(struct ktest_ctx *kt)
{
	uint32_t x = kt->rng;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	kt->rng = x;
	return x;
}

uint64_t
ktest_us_since(uint64_t tsc)
{
	return cpu_ticks_to_us(cpu_ticks() - tsc);
}

/* Pass counters of ktest_relax(), one per CPU (each written by its own). */
static uint32_t kt_relax_spins[MAXCPU];

void
ktest_relax(void)
{
	backoff_pass(&kt_relax_spins[mycpuid], 0);
}

void
ktest_relax_ipiq(void)
{
	backoff_pass(&kt_relax_spins[mycpuid], BACKOFF_IPIQ);
}

/*
 * A hold: some work between passes, so a hold with interrupts off (a
 * message handler), where a pass cannot halt, pauses about once a
 * microsecond instead of once per clock read.
 */
#define KT_HOLD_WORK	256
void
ktest_hold_us(uint32_t us)
{
	uint64_t t0 = cpu_ticks();

	while (ktest_us_since(t0) < us) {
		ktest_busy_work(KT_HOLD_WORK);
		ktest_relax();
	}
}

bool
ktest_poll(volatile uint32_t *word, uint32_t target, uint32_t step_us,
    uint32_t timeout_us)
{
	uint64_t t0 = cpu_ticks();

	while (*word < target) {
		if (ktest_us_since(t0) >= timeout_us)
			return false;
		lwkt_sleep_us(step_us);
	}
	return true;
}

cpumask_t
ktest_spread_cpus(void)
{
	cpumask_t others = cpumask_andnot(smp_active_mask, mycpu->gd_cpumask);
	cpumask_t picked;
	int n = cpumask_count(others), i = 0, k = 0, cpu;

	if (n <= KT_SPREAD_MAX)
		return others;
	CPUMASK_ASSZERO(picked);
	CPUMASK_FOREACH(cpu, others) {
		/* The k-th pick is the others' ((k * (n - 1)) / (MAX - 1))-th. */
		if (k < KT_SPREAD_MAX &&
		    i == k * (n - 1) / (KT_SPREAD_MAX - 1)) {
			CPUMASK_SETBIT(picked, cpu);
			k++;
		}
		i++;
	}
	KKASSERT(k == KT_SPREAD_MAX);
	return picked;
}

int
ktest_other_cpu(void)
{
	int cpu = cpumask_first(cpumask_andnot(smp_active_mask,
	    mycpu->gd_cpumask));

	return cpu >= 0 ? cpu : mycpuid;
}

__noinline uint32_t
ktest_busy_work(uint32_t n)
{
	volatile uint32_t x = n;
	uint32_t i;

	for (i = 0; i < n; i++)
		x = x * 1103515245u + 12345u;
	return x;
}

int
ktest_next_cpu(int cpu)
{
	int c = cpu;

	do {
		c = (c + 1) % MAXCPU;
	} while (!CPUMASK_TESTBIT(smp_active_mask, c));
	return c;
}

int
ktest_failures(struct ktest_ctx *kt)
{
	return (int)kt->failures;
}

/*
 * The group lives on the waiter's stack: once `pending` reaches 0 the
 * waiter may return, so nothing in it is read after the decrement.
 */
static void
kt_group_thread(void *arg)
{
	struct kt_group *g = arg;
	thread_t waiter = g->waiter;

	g->fn(g->kt, g->arg);
	atomic_cpumask_setbit(&g->done, mycpuid);
	if (atomic_fetchadd_int(&g->pending, (uint32_t)-1) == 1)
		lwkt_schedule(waiter);
}

static void
kt_wake(struct systimer *st __unused, void *data)
{
	lwkt_schedule(data);
}

/* Block until nothing is pending or `ms` pass; true if all finished. */
static bool
kt_wait(volatile uint32_t *pending, uint32_t ms)
{
	struct systimer st = { .st_queued = false };

	crit_enter();
	systimer_init_oneshot(&st, kt_wake, curthread, ms * 1000);
	while (*pending != 0 && st.st_queued) {
		lwkt_deschedule_self();
		lwkt_switch();
	}
	systimer_del(&st);
	crit_exit();
	return *pending == 0;
}

/*
 * The end of a suite's subtest: its totals (unindented, as KUnit prints
 * them) and its result line in the run: "not ok" if a test failed, "# SKIP"
 * if every test that reported was skipped.
 */
static void
ktest_suite_end(const char *suite)
{
	kprintf("# %s: pass:%d fail:%d skip:%d total:%d\n", suite,
	    kt_suite.pass, kt_suite.fail, kt_suite.skip,
	    kt_suite.pass + kt_suite.fail + kt_suite.skip);
	if (kt_suite.fail > 0)
		kprintf("not ok %d %s\n", kt_suite.num, suite);
	else if (kt_suite.pass == 0)
		kprintf("ok %d %s # SKIP\n", kt_suite.num, suite);
	else
		kprintf("ok %d %s\n", kt_suite.num, suite);
}

/*
 * A test (or a thread it started) did not finish in time.  Its threads may
 * still use the test's memory, so the run cannot go on: report the test as
 * "not ok ... # TIMEOUT", dump every CPU's threads, close its suite and end
 * with the failure status.
 */
static void __noreturn
ktest_abort(struct ktest_ctx *kt, const char *what)
{
	kprintf(KT_INDENT "# FAIL %s.%s: %s did not finish within %u s "
	    "(test.timeout)\n", kt->t->kt_suite, kt->t->kt_name, what,
	    kopts.ko_test_timeout);
	kprintf(KT_INDENT "# threads at the timeout:\n");
	lwkt_dump_threads();
	kprintf(KT_INDENT "not ok %d %s # TIMEOUT\n", kt->num, kt->t->kt_name);
	kt_suite.fail++;
	kt_fail++;
	ktest_suite_end(kt->t->kt_suite);
	kprintf("# totals: pass:%d fail:%d skip:%d\n", kt_pass, kt_fail,
	    kt_skip);
	kprintf("# aborted: %s.%s timed out; the remaining tests did not run\n",
	    kt->t->kt_suite, kt->t->kt_name);
	cpu_shutdown(KEXIT_FAIL);
}

static void kt_body(struct ktest_ctx *kt, void *arg);

static int
kt_run_group(struct ktest_ctx *kt, cpumask_t mask,
    void (*fn)(struct ktest_ctx *, void *), void *arg)
{
	struct kt_group g = { kt, fn, arg, curthread, 0, { { 0 } } };
	char what[48];
	int cpu, n = cpumask_count(mask);

	g.pending = n;
	CPUMASK_FOREACH(cpu, mask) {
		if (lwkt_create(kt_group_thread, &g, NULL, NULL, 0, cpu,
		    "kt_cpu%d", cpu) != 0) {
			ktest_fail(kt, __FILE__, __LINE__,
			    "no memory for a thread on cpu %d", cpu);
			if (atomic_fetchadd_int(&g.pending, (uint32_t)-1) == 1)
				return 0;
		}
	}
	if (!kt_wait(&g.pending, kopts.ko_test_timeout * 1000)) {
		cpu = cpumask_first(cpumask_andnot(mask, g.done));
		if (fn == kt_body)
			ksnprintf(what, sizeof(what), "the test");
		else
			ksnprintf(what, sizeof(what), "its thread on cpu %d", cpu);
		ktest_abort(kt, what);
	}
	return cpumask_count(g.done);
}

int
ktest_on_each_cpu(struct ktest_ctx *kt,
    void (*fn)(struct ktest_ctx *, void *), void *arg)
{
	return kt_run_group(kt, smp_active_mask, fn, arg);
}

int
ktest_on_cpu(struct ktest_ctx *kt, int cpu,
    void (*fn)(struct ktest_ctx *, void *), void *arg)
{
	if (cpu < 0 || cpu >= ncpus || !CPUMASK_TESTBIT(smp_active_mask, cpu)) {
		ktest_fail(kt, __FILE__, __LINE__, "cpu %d is not online", cpu);
		return 0;
	}
	return kt_run_group(kt, cpumask_bit(cpu), fn, arg);
}

/* A test's own thread: the body, then tell the runner. */
static void
kt_body(struct ktest_ctx *kt, void *arg __unused)
{
	kt->t->kt_func(kt);
}

static uint32_t
name_hash(const char *s)
{
	uint32_t h = 2166136261u;

	while (*s != '\0')
		h = (h ^ (uint8_t)*s++) * 16777619u;
	return h;
}

static void
ktest_list(void)
{
	const struct ktest *t;
	char name[96];
	int i;

	for (i = 0; i < kt_count; i++) {
		t = kt_sorted[i];
		ktest_fullname(t, name, sizeof(name));
		kprintf("test.list: %s%s\n", name,
		    (t->kt_flags & KT_MANUAL) ? "  (manual: fault demo, ends the run)" :
		    (t->kt_flags & KT_BENCH) ? "  (benchmark: make bench)" : "");
	}
}

/*
 * "# console: lines cpu0:N ... total:T": lines each CPU wrote before this
 * one, for CPU 0 and every other CPU that wrote any (every CPU that ever
 * started, online or not).  The line must fit one console line
 * (GD_CONBUF): once KT_CONS_ROOM bytes are used, the lines of the CPUs
 * left are summed into "more:M" (scripts/lwkt/ktap.py reads it).
 */
#define KT_CONS_ROOM	400
static void
ktest_print_console_lines(void)
{
	static char buf[KT_CONS_ROOM + 32];	/* runner thread only */
	size_t len = 0;
	uint32_t n, total = 0, more = 0;
	int cpu;

	_Static_assert(KT_CONS_ROOM + 64 < GD_CONBUF, "one console line");
	for (cpu = 0; cpu < ncpus; cpu++) {
		n = cons_lines(cpu);
		total += n;
		if (n == 0 && cpu != 0)
			continue;
		if (len > KT_CONS_ROOM) {
			more += n;
			continue;
		}
		len += ksnprintf(buf + len, sizeof(buf) - len, " cpu%d:%u",
		    cpu, n);
		KKASSERT(len < sizeof(buf));
	}
	if (more != 0)
		ksnprintf(buf + len, sizeof(buf) - len, " more:%u", more);
	kprintf("# console: lines%s total:%u\n", buf, total);
}

/* The end of the suite that starts at kt_sorted[first]. */
static int
ktest_suite_end_index(int first)
{
	int end = first + 1;

	while (end < kt_count &&
	    strcmp(kt_sorted[end]->kt_suite, kt_sorted[first]->kt_suite) == 0)
		end++;
	return end;
}

static int
ktest_count_selected(int first, int end)
{
	int i, n = 0;

	for (i = first; i < end; i++)
		if (ktest_selected(kt_sorted[i], kopts.ko_test))
			n++;
	return n;
}

/* Run one test: number `num` in its suite, `gnum` in the run. */
static void
ktest_run_one(const struct ktest *t, int num, int gnum)
{
	struct ktest_ctx ctx;
	char name[96];

	ktest_fullname(t, name, sizeof(name));
	memset(&ctx, 0, sizeof(ctx));
	ctx.t = t;
	ctx.num = num;
	ctx.rng = (kopts.ko_seed ^ name_hash(name)) | 1;
	kprintf(KT_INDENT "# start %d %s\n", gnum, name);
	kt_run_group(&ctx, cpumask_bit(0), kt_body, NULL);
	if (ctx.failures > 0) {
		kprintf(KT_INDENT "not ok %d %s\n", num, t->kt_name);
		kt_suite.fail++;
		kt_fail++;
	} else if (ctx.skipped) {
		kprintf(KT_INDENT "ok %d %s # SKIP %s\n", num, t->kt_name,
		    ctx.skip_reason);
		kt_suite.skip++;
		kt_skip++;
	} else {
		kprintf(KT_INDENT "ok %d %s\n", num, t->kt_name);
		kt_suite.pass++;
		kt_pass++;
	}
}

/*
 * One suite's subtest: the tests of kt_sorted[first..end) that are
 * selected (nsel of them), as subtest `snum` of the run.  *gnum counts the
 * tests run so far.
 */
static void
ktest_run_suite(int first, int end, int nsel, int snum, int *gnum)
{
	const char *suite = kt_sorted[first]->kt_suite;
	int i, num = 0;

	KKASSERT(nsel > 0);
	kprintf(KT_INDENT "KTAP version 1\n");
	kprintf(KT_INDENT "# Subtest: %s\n", suite);
	kprintf(KT_INDENT "1..%d\n", nsel);
	memset(&kt_suite, 0, sizeof(kt_suite));
	kt_suite.num = snum;
	for (i = first; i < end; i++) {
		if (!ktest_selected(kt_sorted[i], kopts.ko_test))
			continue;
		num++;
		(*gnum)++;
		ktest_run_one(kt_sorted[i], num, *gnum);
	}
	KKASSERT(num == nsel);
	ktest_suite_end(suite);
}

static int
ktest_main(void)
{
	int i, end, n, nsel = 0, nsuites = 0, snum = 0, gnum = 0;
	uint32_t r;
	uint64_t boot_us;

	ktest_sort();
	if (kopts.ko_test_list) {
		ktest_list();
		return KEXIT_PASS;
	}
	for (i = 0; i < kt_count; i = end) {
		end = ktest_suite_end_index(i);
		n = ktest_count_selected(i, end);
		nsel += n;
		if (n > 0)
			nsuites++;
	}
	if (nsel == 0) {
		kprintf("cmdline: test=%s selects no test (test.list shows "
		    "them all)\n", kopts.ko_test);
		return KEXIT_FAIL;
	}

	/* The plan right after the version line, where KUnit's parser reads it. */
	kprintf("KTAP version 1\n");
	kprintf("1..%d\n", nsuites * (int)kopts.ko_repeat);
	kprintf("# seed %u, repeat %u, %d CPU(s)\n", kopts.ko_seed,
	    kopts.ko_repeat, cpumask_count(smp_active_mask));
	boot_us = cpu_ticks_to_us(cpu_ticks() - cpu_boot_tsc);
	kprintf("# boot: first test at %llu.%03llu ms after kernel entry\n",
	    boot_us / 1000, boot_us % 1000);

	for (r = 0; r < kopts.ko_repeat; r++) {
		for (i = 0; i < kt_count; i = end) {
			end = ktest_suite_end_index(i);
			n = ktest_count_selected(i, end);
			if (n > 0)
				ktest_run_suite(i, end, n, ++snum, &gnum);
		}
	}
	KKASSERT(snum == nsuites * (int)kopts.ko_repeat);
	KKASSERT(gnum == nsel * (int)kopts.ko_repeat);
	lwkt_counters_print();
	kprintf("# totals: pass:%d fail:%d skip:%d\n", kt_pass, kt_fail, kt_skip);
	ktest_print_console_lines();
	return kt_fail > 0 ? KEXIT_FAIL : KEXIT_PASS;
}

/*
 * The test runner thread (CPU 0, above the tests' priority so it can
 * always notice a timeout); its result is the run's exit status.
 */
void
ktest_main_thread(void *arg __unused)
{
	cpu_shutdown(ktest_main());
}
