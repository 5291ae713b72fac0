/*
 * The self-test runner (sys/ktest.h).  Runs on the BSP after every CPU has
 * started: picks the tests that kopts.ko_test selects from the ".ktests"
 * linker section, runs each `repeat` times and reports KTAP version 1 on
 * the console (LWKT-SPEC §12).  "# start N name" precedes every test so
 * the host can name the test that was running when a run hangs.  Tests
 * may use their context from any CPU: failures are counted atomically.
 */
#include <sys/param.h>
#include <sys/systm.h>
#include <sys/globaldata.h>
#include <sys/kopts.h>
#include <sys/ktest.h>
#include <sys/xcall.h>
#include <machine/atomic.h>
#include <machine/cpu.h>

#define KT_ONCPU_TIMEOUT_MS	10000
#define KT_MAX			512

extern const struct ktest __start_ktests[], __stop_ktests[];

struct ktest_ctx {
	const struct ktest	*t;
	volatile uint32_t	failures;
	bool			skipped;
	char			skip_reason[96];
	uint32_t		rng;
};

int	ktest_main(void);

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

/* A pattern may select a manual test only if its suite part is literal. */
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
		return (t->kt_flags & KT_MANUAL) == 0;
	ktest_fullname(t, name, sizeof(name));
	for (; *p != '\0'; p = comma + 1) {
		comma = strchr(p, ',');
		if (comma == NULL)
			comma = p + strlen(p);
		len = comma - p;
		memcpy(pat, p, len);
		pat[len] = '\0';
		if (glob_match(pat, name) && ((t->kt_flags & KT_MANUAL) == 0 ||
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
	kprintf("# FAIL %s:%d: %s (cpu %d)\n", file, line, msg, mycpuid);
}

void
ktest_log(struct ktest_ctx *kt, const char *fmt, ...)
{
	char msg[400];
	va_list ap;

	va_start(ap, fmt);
	kvsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	kprintf("# %s.%s: %s\n", kt->t->kt_suite, kt->t->kt_name, msg);
}

void
ktest_skip(struct ktest_ctx *kt, const char *reason)
{
	kt->skipped = true;
	strlcpy(kt->skip_reason, reason, sizeof(kt->skip_reason));
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

int
ktest_failures(struct ktest_ctx *kt)
{
	return (int)kt->failures;
}

struct kt_call {
	struct ktest_ctx *kt;
	void		(*fn)(struct ktest_ctx *, void *);
	void		*arg;
};

static void
ktest_call_tramp(void *p)
{
	struct kt_call *c = p;

	c->fn(c->kt, c->arg);
}

int
ktest_on_each_cpu(struct ktest_ctx *kt,
    void (*fn)(struct ktest_ctx *, void *), void *arg)
{
	struct kt_call call = { kt, fn, arg };
	int64_t ticket[MAXCPU];
	int cpu, ran = 0;

	for (cpu = 0; cpu < ncpus; cpu++) {
		ticket[cpu] = -1;
		if (cpu == mycpuid || !CPUMASK_TEST(smp_active_mask, cpu))
			continue;
		ticket[cpu] = xcall_post(cpu, ktest_call_tramp, &call);
		if (ticket[cpu] < 0)
			ktest_fail(kt, __FILE__, __LINE__,
			    "cpu %d is still busy with an earlier call", cpu);
	}
	fn(kt, arg);
	ran++;
	for (cpu = 0; cpu < ncpus; cpu++) {
		if (ticket[cpu] < 0)
			continue;
		if (xcall_wait(cpu, ticket[cpu], KT_ONCPU_TIMEOUT_MS))
			ran++;
		else
			ktest_fail(kt, __FILE__, __LINE__,
			    "cpu %d did not finish within %d ms", cpu,
			    KT_ONCPU_TIMEOUT_MS);
	}
	return ran;
}

int
ktest_on_cpu(struct ktest_ctx *kt, int cpu,
    void (*fn)(struct ktest_ctx *, void *), void *arg)
{
	struct kt_call call = { kt, fn, arg };
	int64_t ticket;

	if (cpu == mycpuid) {
		fn(kt, arg);
		return 1;
	}
	if (cpu < 0 || cpu >= ncpus || !CPUMASK_TEST(smp_active_mask, cpu)) {
		ktest_fail(kt, __FILE__, __LINE__, "cpu %d is not online", cpu);
		return 0;
	}
	ticket = xcall_post(cpu, ktest_call_tramp, &call);
	if (ticket < 0) {
		ktest_fail(kt, __FILE__, __LINE__,
		    "cpu %d is still busy with an earlier call", cpu);
		return 0;
	}
	if (!xcall_wait(cpu, ticket, KT_ONCPU_TIMEOUT_MS)) {
		ktest_fail(kt, __FILE__, __LINE__,
		    "cpu %d did not finish within %d ms", cpu,
		    KT_ONCPU_TIMEOUT_MS);
		return 0;
	}
	return 1;
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
		kprintf("test.list: %s%s\n", name, (t->kt_flags & KT_MANUAL) ?
		    "  (manual: fault demo, ends the run)" : "");
	}
}

/* Returns the exit status for cpu_shutdown(). */
int
ktest_main(void)
{
	const struct ktest *t;
	struct ktest_ctx ctx;
	char name[96];
	int i, nsel = 0, num = 0, pass = 0, fail = 0, skip = 0;
	uint32_t r;
	uint64_t boot_us;

	ktest_sort();
	if (kopts.ko_test_list) {
		ktest_list();
		return KEXIT_PASS;
	}
	for (i = 0; i < kt_count; i++)
		if (ktest_selected(kt_sorted[i], kopts.ko_test))
			nsel++;
	if (nsel == 0) {
		kprintf("cmdline: test=%s selects no test (test.list shows "
		    "them all)\n", kopts.ko_test);
		return KEXIT_FAIL;
	}

	kprintf("KTAP version 1\n");
	kprintf("1..%d\n", nsel * (int)kopts.ko_repeat);
	kprintf("# seed %u, repeat %u, %d CPU(s)\n", kopts.ko_seed,
	    kopts.ko_repeat, cpumask_count(smp_active_mask));
	boot_us = cpu_ticks_to_us(cpu_ticks() - cpu_boot_tsc);
	kprintf("# boot: first test at %llu.%03llu ms after kernel entry\n",
	    boot_us / 1000, boot_us % 1000);

	for (r = 0; r < kopts.ko_repeat; r++) {
		for (i = 0; i < kt_count; i++) {
			t = kt_sorted[i];
			if (!ktest_selected(t, kopts.ko_test))
				continue;
			ktest_fullname(t, name, sizeof(name));
			num++;
			memset(&ctx, 0, sizeof(ctx));
			ctx.t = t;
			ctx.rng = (kopts.ko_seed ^ name_hash(name)) | 1;
			kprintf("# start %d %s\n", num, name);
			t->kt_func(&ctx);
			if (ctx.failures > 0) {
				kprintf("not ok %d %s\n", num, name);
				fail++;
			} else if (ctx.skipped) {
				kprintf("ok %d %s # SKIP %s\n", num, name,
				    ctx.skip_reason);
				skip++;
			} else {
				kprintf("ok %d %s\n", num, name);
				pass++;
			}
		}
	}
	kprintf("# totals: pass:%d fail:%d skip:%d\n", pass, fail, skip);
	return fail > 0 ? KEXIT_FAIL : KEXIT_PASS;
}
