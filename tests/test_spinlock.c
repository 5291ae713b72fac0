/*
 * Suite "spinlock": spinlocks (LWKT-SPEC §9.2, sys/spinlock.h).
 *   - exclusive_counter: every CPU increments a shared non-atomic counter
 *     under one spinlock (20,000 times each up to 8 CPUs, 160,000 in all
 *     beyond); the count is exact, and a holder is always in
 *     a critical section with the lock word naming its CPU.
 *   - shared_no_torn: readers on every CPU but one read a two-word value
 *     under spin_lock_shared(), then under spin_lock(), while the
 *     remaining CPU rewrites it under the exclusive lock; no reader ever
 *     sees a half-written pair, no reader is inside while the writer is,
 *     and the writer progresses (3,000 writes up to 8 CPUs, fewer beyond,
 *     as each meets more readers).  Control: the same readers without the
 *     lock do see a torn pair.  Also: two readers hold the lock at the
 *     same time, and a writer waits for a reader to leave.  Skipped when
 *     one CPU is online.
 *   - trylock: spin_trylock() fails, leaving no critical section behind,
 *     while another CPU holds the lock exclusively or shared, and succeeds
 *     (inside a critical section, holding the lock) when it is free.
 *
 * Spinning is bounded everywhere: a thread that waits for another CPU
 * gives up after a deadline and the test fails instead of hanging.
 */
#include <sys/param.h>
#include <sys/systm.h>
#include <sys/globaldata.h>
#include <sys/ktest.h>
#include <sys/spinlock2.h>
#include <sys/systimer.h>
#include <sys/thread2.h>
#include <sys/tsleep.h>
#include <machine/atomic.h>
#include <machine/cpu.h>
#include <machine/cpufunc.h>

#define MS		1000u		/* microseconds */

/* ---------------------------------------------------------------------
 * Helpers
 */

/* Spin (no blocking) until *word >= target or `us` pass; true if reached. */
static bool
spin_for(volatile uint32_t *word, uint32_t target, uint32_t us)
{
	uint64_t end = cpu_ticks() + cpu_tsc_hz * us / 1000000;

	while (*word < target) {
		if (cpu_ticks() >= end)
			return false;
		ktest_relax();
	}
	return true;
}

/* A start line for `n` threads: the last to arrive wakes the others. */
struct start_line {
	uint32_t	n;
	volatile uint32_t ready;
	volatile uint32_t go;
};

static void
start_line_wait(struct start_line *sl)
{
	int i;

	if (atomic_fetchadd_int(&sl->ready, 1) + 1 == sl->n) {
		sl->go = 1;
		wakeup(&sl->go);
		return;
	}
	for (i = 0; i < 3 && sl->go == 0; i++) {
		tsleep_interlock(&sl->go);
		if (sl->go == 0)
			tsleep(&sl->go, PINTERLOCKED, "spstart", hz);
	}
	tsleep_remove(curthread);
}

/* ---------------------------------------------------------------------
 * exclusive_counter
 */

/*
 * Increments per CPU: 20,000 up to 8 CPUs, then the same total shared out
 * (at least EC_MIN_PER_CPU each): with every CPU spinning on one lock the
 * machine's work grows with CPUs times increments.
 */
#define EC_PER_CPU	20000
#define EC_TOTAL	(8 * EC_PER_CPU)
#define EC_MIN_PER_CPU	500

static struct spinlock ec_lock = SPINLOCK_INITIALIZER("test_counter");

static struct {
	struct start_line sl;
	volatile uint32_t counter;	/* incremented non-atomically */
	volatile uint32_t not_crit;	/* held outside a critical section */
	volatile uint32_t bad_word;	/* lock word did not name us */
	volatile uint32_t bad_count;	/* gd_spinlocks != 1 while held */
	volatile uint32_t left_held;	/* gd_spinlocks != 0 afterwards */
	volatile uint32_t left_crit;	/* td_critcount != 0 afterwards */
	uint32_t	per_cpu;	/* increments each CPU makes */
} ec;

static void
ec_worker(struct ktest_ctx *kt __unused, void *arg __unused)
{
	struct globaldata *gd = mycpu;
	thread_t td = curthread;
	uint32_t i, c, not_crit = 0, bad_word = 0, bad_count = 0;

	start_line_wait(&ec.sl);
	for (i = 0; i < ec.per_cpu; i++) {
		spin_lock(&ec_lock);
		if (td->td_critcount == 0)
			not_crit++;
		if ((ec_lock.lock & SPINLOCK_EXCL_MASK) != gd->gd_spinid)
			bad_word++;
		if (gd->gd_spinlocks != 1)
			bad_count++;
		c = ec.counter;
		ktest_busy_work(4);
		ec.counter = c + 1;
		spin_unlock(&ec_lock);
	}
	atomic_add_int(&ec.not_crit, not_crit);
	atomic_add_int(&ec.bad_word, bad_word);
	atomic_add_int(&ec.bad_count, bad_count);
	if (gd->gd_spinlocks != 0)
		atomic_add_int(&ec.left_held, 1);
	if (td->td_critcount != 0)
		atomic_add_int(&ec.left_crit, 1);
}

KTEST(spinlock, exclusive_counter)
{
	int n = cpumask_count(smp_active_mask);
	uint64_t t0;

	memset((void *)&ec, 0, sizeof(ec));
	ec.sl.n = n;
	ec.per_cpu = EC_TOTAL / n < EC_PER_CPU ? EC_TOTAL / n : EC_PER_CPU;
	if (ec.per_cpu < EC_MIN_PER_CPU)
		ec.per_cpu = EC_MIN_PER_CPU;
	t0 = cpu_ticks();
	ASSERT_EQ(ktest_on_each_cpu(kt, ec_worker, NULL), n);
	ktest_log(kt, "%d CPU(s) x %u increments in %llu ms", n, ec.per_cpu,
	    ktest_us_since(t0) / 1000);
	EXPECT_EQ(ec.counter, (uint32_t)n * ec.per_cpu);
	EXPECT_EQ(ec.not_crit, 0);
	EXPECT_EQ(ec.bad_word, 0);
	EXPECT_EQ(ec.bad_count, 0);
	EXPECT_EQ(ec.left_held, 0);
	EXPECT_EQ(ec.left_crit, 0);
	EXPECT_EQ(ec_lock.lock, 0);
	EXPECT_EQ((ec_lock.lock & SPINLOCK_SHARED_MASK), 0);
}

/* ---------------------------------------------------------------------
 * shared_no_torn
 */

/*
 * Writes per phase: SH_WRITES up to SH_FULL_READERS readers; beyond, each
 * write meets more readers and costs more (every reader spins), so the
 * writes shrink to keep writes x readers about the same, at least
 * SH_WRITES_MIN.  SH_WRITES_MAX(n): no write met a reader by then.
 */
#define SH_WRITES	3000
#define SH_FULL_READERS	7
#define SH_WRITES_MIN	200
#define SH_WRITES_MAX(n) (10 * sh_writes(n))
#define SH_WRITE_STUCK_US (10000 * MS)	/* one write waited this long: starved */
#define SH_CONTROL_US	(4000 * MS)	/* the control's deadline for a torn pair */
#define SH_READER_US	(50000 * MS)	/* readers' safety net; test.timeout is 60 s */

static struct spinlock sh_lock = SPINLOCK_INITIALIZER("test_shared");

/* The writes a phase needs with n CPUs online (n - 1 readers). */
static uint32_t
sh_writes(int n)
{
	uint32_t w = SH_WRITES * SH_FULL_READERS / (uint32_t)(n > 1 ? n - 1 : 1);

	return w > SH_WRITES ? SH_WRITES : w < SH_WRITES_MIN ? SH_WRITES_MIN : w;
}

/* How the readers of a phase read the pair. */
enum { SH_SHARED, SH_EXCL, SH_NOLOCK, SH_MODES };
static const char *const sh_mode_name[SH_MODES] = {
	"spin_lock_shared", "spin_lock", "no lock (control)"
};

static struct {
	struct start_line sl;
	int		writer;		/* the writer's CPU */
	int		mode;		/* SH_*: how the readers read */
	volatile uint32_t a, b;		/* (x, x) or, x odd, (x, ~x) */
	volatile uint32_t w_inside;	/* the writer holds the lock */
	volatile uint32_t writes;
	volatile uint32_t started;	/* readers that have read once */
	volatile uint32_t done;
	volatile uint32_t torn;		/* torn pairs read, all readers */
	volatile uint32_t overlap;	/* reader inside with the writer */
	volatile uint32_t readers_at_write; /* writes that saw shared != 0 */
	volatile uint32_t contended;	/* writes that found the lock taken */
	volatile uint32_t reads[MAXCPU];
	volatile uint32_t max_shared;	/* most readers seen inside */
} sh;

static inline uint32_t
sh_second(uint32_t x)
{
	return (x & 1) ? ~x : x;
}

/*
 * Both windows hold pauses, where single-threaded TCG switches virtual
 * CPUs: one in the writer's, none to three (random) in a reader's, and one
 * after each write and each read, outside the lock (the lock is not fair:
 * a CPU that re-takes it at once could starve the other side).  The readers' reads of a and b thus
 * fall on either side of the writer's stores by construction, and not only
 * under multi-threaded TCG; without the lock a reader must see a torn pair.
 */
static void
sh_write_one(uint32_t x)
{
	if (!spin_trylock(&sh_lock)) {
		sh.contended++;
		spin_lock(&sh_lock);
	}
	sh.w_inside = 1;
	if ((sh_lock.lock & SPINLOCK_SHARED_MASK) != 0)
		sh.readers_at_write++;
	sh.a = x;
	ktest_busy_work(8);			/* a reader here: a torn pair */
	cpu_pause();
	sh.b = sh_second(x);
	sh.w_inside = 0;
	spin_unlock(&sh_lock);
}

/* Read the pair as `mode` says; false if it was torn. */
static bool
sh_read_one(int mode, uint32_t *overlap, uint32_t *rng)
{
	uint32_t a, b, n, pauses;

	if (mode == SH_SHARED)
		spin_lock_shared(&sh_lock);
	else if (mode == SH_EXCL)
		spin_lock(&sh_lock);
	if (sh.w_inside)
		(*overlap)++;
	*rng = *rng * 1664525u + 1013904223u;
	pauses = *rng >> 30;
	a = sh.a;
	ktest_busy_work(16);			/* a writer here: a torn pair */
	while (pauses-- > 0)
		cpu_pause();
	b = sh.b;
	if (mode == SH_SHARED) {
		n = (sh_lock.lock & SPINLOCK_SHARED_MASK);
		if (n > sh.max_shared)
			sh.max_shared = n; /* racy maximum: statistics only */
		spin_unlock_shared(&sh_lock);
	} else if (mode == SH_EXCL) {
		spin_unlock(&sh_lock);
	}
	return b == sh_second(a);
}

/*
 * One CPU writes, the others read, all at once.  The writer goes on until
 * what makes the phase meaningful has happened: sh_writes() writes and one
 * that found the lock taken (it met a reader); in the control phase
 * (SH_NOLOCK), a reader that saw a torn pair.  Its bounds do not depend on
 * the host's speed: under the lock it stops after SH_WRITES_MAX writes, or
 * at a write that waited SH_WRITE_STUCK_US for the lock (starved: the
 * count check fails); the control stops at its deadline.  The readers
 * read until the writer is done.
 */
static void
sh_worker(struct ktest_ctx *kt __unused, void *arg __unused)
{
	int me = mycpuid, mode = sh.mode;
	uint64_t t0, tw;
	uint32_t i, overlap = 0, reads = 0, rng = 0x9e3779b9u * (me + 1);

	start_line_wait(&sh.sl);
	t0 = cpu_ticks();
	if (me == sh.writer) {
		/* Let every reader get going first. */
		spin_for(&sh.started, sh.sl.n - 1, 2000 * MS);
		t0 = cpu_ticks();
		for (i = 1; i <= SH_WRITES_MAX(sh.sl.n); i++) {
			if (mode == SH_NOLOCK ? sh.torn > 0 ||
			    ktest_us_since(t0) >= SH_CONTROL_US :
			    i > sh_writes(sh.sl.n) && sh.contended > 0)
				break;
			tw = cpu_ticks();
			sh_write_one(i);
			sh.writes = i;
			if (ktest_us_since(tw) >= SH_WRITE_STUCK_US)
				break;
			ktest_busy_work(16);
			cpu_pause();
		}
		sh.done = 1;
	} else {
		while (sh.done == 0 && ktest_us_since(t0) < SH_READER_US) {
			if (!sh_read_one(mode, &overlap, &rng))
				atomic_add_int(&sh.torn, 1);
			cpu_pause();
			if (reads++ == 0)
				atomic_add_int(&sh.started, 1);
		}
	}
	sh.reads[me] = reads;
	atomic_add_int(&sh.overlap, overlap);
}

/* One phase: the readers read as `mode`; returns the reader CPUs. */
static uint32_t
sh_phase(struct ktest_ctx *kt, int mode)
{
	int n = cpumask_count(smp_active_mask), i;
	uint32_t reads = 0, readers = 0;
	uint64_t t0;

	memset((void *)&sh, 0, sizeof(sh));
	sh.sl.n = n;
	sh.mode = mode;
	sh.writer = cpumask_first(smp_active_mask);
	t0 = cpu_ticks();
	if (ktest_on_each_cpu(kt, sh_worker, NULL) != n)
		return 0;
	for (i = 0; i < ncpus; i++) {
		reads += sh.reads[i];
		if (i != sh.writer && sh.reads[i] > 0)
			readers++;
	}
	ktest_log(kt, "readers by %s: %u writes, %u reads by %u reader CPU(s) "
	    "in %llu ms, %u torn, %u inside with the writer; %u write(s) found "
	    "the lock taken; up to %u readers inside at once; %u write(s) saw "
	    "a reader count", sh_mode_name[mode], sh.writes, reads, readers,
	    ktest_us_since(t0) / 1000, sh.torn, sh.overlap, sh.contended,
	    sh.max_shared, sh.readers_at_write);
	EXPECT_GT(reads, 0);
	EXPECT_EQ(sh_lock.lock, 0);
	EXPECT_EQ((sh_lock.lock & SPINLOCK_SHARED_MASK), 0);
	return readers;
}

/* Two-reader and writer-waits checks: threads on another CPU. */
static struct {
	volatile uint32_t r1_in;	/* the test holds it shared */
	volatile uint32_t r2_in;	/* the other reader got in too */
	volatile uint32_t r1_out;	/* the test released it */
	volatile uint32_t r1_in_at_r2;	/* was the test inside then? */
	volatile uint32_t w_try;	/* the writer is about to lock */
	volatile uint32_t w_in;
	volatile uint32_t reader_out_at_w; /* the reader had left by then */
	volatile uint32_t exited;
} pr;

static void
pr_reader(void *arg __unused)
{
	if (ktest_poll(&pr.r1_in, 1, 100, 2000 * MS)) {
		spin_lock_shared(&sh_lock);
		pr.r1_in_at_r2 = pr.r1_out == 0;
		pr.r2_in = 1;
		spin_unlock_shared(&sh_lock);
	}
	pr.exited = 1;
}

static void
pr_writer(void *arg __unused)
{
	if (ktest_poll(&pr.r1_in, 1, 100, 2000 * MS)) {
		pr.w_try = 1;
		spin_lock(&sh_lock);
		pr.reader_out_at_w = pr.r1_out;
		pr.w_in = 1;
		spin_unlock(&sh_lock);
	}
	pr.exited = 1;
}

KTEST(spinlock, shared_no_torn)
{
	int n = cpumask_count(smp_active_mask), cpu = ktest_other_cpu(), mode;
	uint32_t r2_seen, w_seen, readers;

	if (cpu == mycpuid) {
		ktest_skip(kt, "one CPU online: no reader runs beside the writer");
		return;
	}

	/* Many readers against one writer, under the lock each way. */
	for (mode = SH_SHARED; mode <= SH_EXCL; mode++) {
		readers = sh_phase(kt, mode);
		EXPECT_EQ(readers, (uint32_t)n - 1);
		EXPECT_EQ(sh.torn, 0);
		EXPECT_EQ(sh.overlap, 0);
		EXPECT_GE(sh.writes, sh_writes(n));	/* the writer progressed */
		EXPECT_GT(sh.contended, 0);		/* and met the readers */
	}

	/*
	 * Control: the same readers without the lock do see a torn pair
	 * (else the checks above prove nothing).
	 */
	readers = sh_phase(kt, SH_NOLOCK);
	EXPECT_EQ(readers, (uint32_t)n - 1);
	EXPECT_GT(sh.torn, 0);

	/* A second reader gets in while we hold it shared. */
	memset((void *)&pr, 0, sizeof(pr));
	ASSERT_EQ(lwkt_create(pr_reader, NULL, NULL, NULL, 0, cpu,
	    "spin_reader"), 0);
	spin_lock_shared(&sh_lock);
	pr.r1_in = 1;
	spin_for(&pr.r2_in, 1, 1000 * MS);
	r2_seen = pr.r2_in;
	pr.r1_out = 1;
	spin_unlock_shared(&sh_lock);
	EXPECT_TRUE(ktest_poll(&pr.exited, 1, 200, 3000 * MS));
	EXPECT_EQ(r2_seen, 1);
	EXPECT_EQ(pr.r1_in_at_r2, 1);

	/* A writer waits while we hold it shared. */
	memset((void *)&pr, 0, sizeof(pr));
	ASSERT_EQ(lwkt_create(pr_writer, NULL, NULL, NULL, 0, cpu,
	    "spin_writer"), 0);
	spin_lock_shared(&sh_lock);
	pr.r1_in = 1;
	spin_for(&pr.w_try, 1, 1000 * MS);
	ktest_hold_us(20 * MS);		/* it spins meanwhile */
	w_seen = pr.w_in;
	pr.r1_out = 1;
	spin_unlock_shared(&sh_lock);
	EXPECT_TRUE(ktest_poll(&pr.exited, 1, 200, 3000 * MS));
	EXPECT_EQ(pr.w_try, 1);
	EXPECT_EQ(w_seen, 0);
	EXPECT_EQ(pr.w_in, 1);
	EXPECT_EQ(pr.reader_out_at_w, 1);
	EXPECT_EQ(sh_lock.lock, 0);
	EXPECT_EQ((sh_lock.lock & SPINLOCK_SHARED_MASK), 0);
}

/* ---------------------------------------------------------------------
 * trylock
 */

static struct spinlock tl_lock = SPINLOCK_INITIALIZER("test_try");

static struct {
	volatile uint32_t held;
	volatile uint32_t release;
	volatile uint32_t exited;
	bool		shared;
} tl;

/* Another CPU: hold tl_lock (exclusive or shared) until told to release. */
static void
tl_holder(void *arg __unused)
{
	if (tl.shared)
		spin_lock_shared(&tl_lock);
	else
		spin_lock(&tl_lock);
	tl.held = 1;
	spin_for(&tl.release, 1, 2000 * MS);
	if (tl.shared)
		spin_unlock_shared(&tl_lock);
	else
		spin_unlock(&tl_lock);
	tl.exited = 1;
}

/* Try while another CPU holds it: fails, and leaves nothing behind. */
static void
tl_try_held(struct ktest_ctx *kt, int cpu, bool shared)
{
	struct globaldata *gd = mycpu;
	thread_t td = curthread;
	int crit0 = td->td_critcount, spins0 = gd->gd_spinlocks, i, got = 0;

	memset((void *)&tl, 0, sizeof(tl));
	tl.shared = shared;
	ASSERT_EQ(lwkt_create(tl_holder, NULL, NULL, NULL, 0, cpu,
	    "spin_holder"), 0);
	if (!ktest_poll(&tl.held, 1, 100, 2000 * MS)) {
		EXPECT_EQ(tl.held, 1);
		tl.release = 1;
		EXPECT_TRUE(ktest_poll(&tl.exited, 1, 200, 3000 * MS));
		return;
	}
	if (!shared)
		EXPECT_EQ(tl_lock.lock & SPINLOCK_EXCL_MASK,
		    globaldata_find(cpu)->gd_spinid);
	for (i = 0; i < 100; i++) {
		if (spin_trylock(&tl_lock)) {
			got++;
			spin_unlock(&tl_lock);
		}
		if (td->td_critcount != crit0 || gd->gd_spinlocks != spins0)
			break;
	}
	EXPECT_EQ(got, 0);
	EXPECT_EQ(td->td_critcount, crit0);
	EXPECT_EQ(gd->gd_spinlocks, spins0);
	EXPECT_EQ(tl.exited, 0);	/* still held all along */
	tl.release = 1;
	EXPECT_TRUE(ktest_poll(&tl.exited, 1, 200, 3000 * MS));
}

/* Try on a free lock: succeeds inside a critical section, holding it. */
static void
tl_try_free(struct ktest_ctx *kt)
{
	struct globaldata *gd = mycpu;
	thread_t td = curthread;
	int crit0 = td->td_critcount, spins0 = gd->gd_spinlocks;
	bool ok;

	EXPECT_EQ(tl_lock.lock, 0);
	EXPECT_EQ((tl_lock.lock & SPINLOCK_SHARED_MASK), 0);
	ok = spin_trylock(&tl_lock);
	EXPECT_TRUE(ok);
	if (!ok)
		return;
	EXPECT_EQ(td->td_critcount, crit0 + 1);
	EXPECT_EQ(gd->gd_spinlocks, spins0 + 1);
	EXPECT_EQ(tl_lock.lock & SPINLOCK_EXCL_MASK, gd->gd_spinid);
	spin_unlock(&tl_lock);
	EXPECT_EQ(td->td_critcount, crit0);
	EXPECT_EQ(gd->gd_spinlocks, spins0);
	EXPECT_EQ(tl_lock.lock, 0);
}

KTEST(spinlock, trylock)
{
	int cpu = ktest_other_cpu();

	tl_try_free(kt);
	if (cpu == mycpuid) {
		ktest_log(kt, "one CPU: no other holder");
		return;
	}
	tl_try_held(kt, cpu, false);
	tl_try_free(kt);
	tl_try_held(kt, cpu, true);
	tl_try_free(kt);
}
