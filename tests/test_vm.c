/*
 * Suite "vm": the physical page allocator and the kernel heap.  The arena
 * tests use an arena over an address range with no memory behind it (the
 * allocator only does bookkeeping), so exhaustion is tested without
 * starving the kernel.
 *
 * The page and heap counters are global: any CPU moves them at any time
 * (an idle thread freeing the exited threads of an earlier test, for one:
 * soak-0057 saw a thread of sched.noresched_migrating freed in the middle
 * of kmalloc_sizes_and_failure).  The tests that check the counters hold
 * every other CPU while they measure (vm_quiet_enter), and run with a
 * "churner" thread on another CPU that allocates and frees pages and heap
 * blocks all the time, so that a measurement that lets other CPUs in
 * fails on every run.
 */
#include <sys/param.h>
#include <sys/systm.h>
#include <sys/globaldata.h>
#include <sys/cpusync.h>
#include <sys/ktest.h>
#include <sys/malloc.h>
#include <sys/thread.h>
#include <sys/vm_page.h>
#include <machine/cpu.h>
#include <machine/cpufunc.h>

#define NPAGES_TEST	64
#define VM_WAIT_US	5000000		/* churner start and exit, at most */
#define VM_WINDOW_US	20000		/* a measurement waits for the churner */
#define CHURN_MAX	64		/* blocks and pages the churner holds */

static struct {
	volatile uint32_t ops;		/* steps done */
	volatile uint32_t stop;
	volatile uint32_t exited;
	volatile uint32_t nomem;	/* allocations that failed */
	int		cpu;		/* -1: no other CPU, no churner */
} churn;

static void
churn_release(void **blk, void **page, int n)
{
	int i;

	for (i = 0; i < n; i++) {
		kfree(blk[i]);
		if (page[i] != NULL)
			vm_page_free(page[i], 1);
	}
}

/*
 * Each step takes one more heap block and one more page, up to CHURN_MAX
 * of each, then a step gives them all back: the counters read at two
 * moments differ unless the churner did nothing in between (or a whole
 * number of cycles).
 */
/*
 * The PAUSE in the loop: under single-threaded TCG with -icount (the
 * deterministic rows), QEMU 7.2 gives each virtual CPU in turn what is
 * left of the instruction budget up to the next timer deadline; a CPU
 * that runs its whole turn without PAUSE, HLT or an interrupt leaves
 * nothing for the CPU after it, which then never runs (docs/testing.md).
 */
static void
vm_churner(void *arg __unused)
{
	void *blk[CHURN_MAX], *page[CHURN_MAX];
	int n = 0;

	while (!churn.stop) {
		if (n == CHURN_MAX) {
			churn_release(blk, page, n);
			n = 0;
		} else {
			blk[n] = kmalloc(200);
			page[n] = vm_page_alloc(1);
			if (blk[n] == NULL || page[n] == NULL)
				churn.nomem++;
			n++;
		}
		churn.ops++;
		cpu_pause();
	}
	churn_release(blk, page, n);
	churn.exited = 1;
}

/*
 * Between two readings of the counters: give the churner the chance to
 * move them (until it has done something, for VM_WINDOW_US at most), so
 * that a measurement that does not keep the other CPUs out fails every
 * time rather than once in a few hundred boots.
 */
static void
vm_window(void)
{
	uint32_t ops = churn.ops;
	uint64_t t0 = cpu_ticks();

	while (churn.cpu >= 0 && churn.ops == ops &&
	    ktest_us_since(t0) < VM_WINDOW_US)
		ktest_relax();
}

/*
 * From vm_quiet_enter() to vm_quiet_exit() the counters move by this
 * thread's own allocations only.  A cpusync holds every other CPU in its
 * IPIQ processing, which runs only outside critical sections, so never
 * inside an allocator's spinlock (no deadlock with us, and whatever a held
 * CPU was doing stays as it was until the exit); this CPU stays in the
 * cpusync's critical section, and interrupt handlers do not allocate.
 * In between: no ASSERT (it would return with the CPUs held) and nothing
 * that blocks.
 */
static void
vm_quiet_enter(struct lwkt_cpusync *cs)
{
	*cs = (struct lwkt_cpusync)CPUSYNC_INITIALIZER(NULL, NULL, NULL, NULL);
	lwkt_cpusync_start(cpumask_andnot(smp_active_mask, mycpu->gd_cpumask),
	    cs);
}

static void
vm_quiet_exit(struct lwkt_cpusync *cs)
{
	lwkt_cpusync_finish(cs);
}

/* Start the churner on another CPU; false (a failure recorded) if it does not run. */
static bool
vm_churn_start(struct ktest_ctx *kt)
{
	memset((void *)&churn, 0, sizeof(churn));
	churn.cpu = ktest_other_cpu();
	if (churn.cpu == mycpuid) {
		churn.cpu = -1;
		return true;
	}
	if (lwkt_create(vm_churner, NULL, NULL, NULL, 0, churn.cpu,
	    "vm_churner") != 0) {
		ktest_fail(kt, __FILE__, __LINE__, "no memory for the churner");
		return false;
	}
	if (!ktest_poll(&churn.ops, 1, 100, VM_WAIT_US)) {
		ktest_fail(kt, __FILE__, __LINE__, "the churner on cpu %d did "
		    "not start within %u ms", churn.cpu,
		    VM_WAIT_US / 1000);
		churn.stop = 1;
		return false;
	}
	return true;
}

static void
vm_churn_stop(struct ktest_ctx *kt)
{
	churn.stop = 1;
	if (churn.cpu < 0)
		return;
	EXPECT_TRUE(ktest_poll(&churn.exited, 1, 100, VM_WAIT_US));
	EXPECT_EQ(churn.nomem, 0);
	ktest_log(kt, "churner: %u steps", churn.ops);
}

KTEST(vm, pages_distinct_aligned)
{
	static uint32_t *pages[NPAGES_TEST];
	struct lwkt_cpusync cs;
	uint32_t before;
	int i, j, n;

	ASSERT_TRUE(vm_churn_start(kt));
	vm_quiet_enter(&cs);
	before = vm_page_free_count();
	for (n = 0; n < NPAGES_TEST; n++) {
		if ((pages[n] = vm_page_alloc(1)) == NULL)
			break;
		EXPECT_EQ((uint32_t)pages[n] & PAGE_MASK, 0);
		EXPECT_GE((uint32_t)pages[n], 0x100000);
		/* Fill each page with its own index, check nobody overlaps. */
		for (j = 0; j < (int)(PAGE_SIZE / 4); j++)
			pages[n][j] = (uint32_t)n;
	}
	vm_window();
	EXPECT_EQ(vm_page_free_count(), before - n);
	for (i = 0; i < n; i++) {
		for (j = 0; j < i; j++)
			EXPECT_PTR_NE(pages[i], pages[j]);
		EXPECT_EQ(pages[i][0], i);
		EXPECT_EQ(pages[i][PAGE_SIZE / 4 - 1], i);
	}
	for (i = 0; i < n; i++)
		vm_page_free(pages[i], 1);
	vm_window();
	EXPECT_EQ(vm_page_free_count(), before);
	vm_quiet_exit(&cs);
	EXPECT_EQ(n, NPAGES_TEST);
	vm_churn_stop(kt);
}

KTEST(vm, contiguous_run)
{
	uint8_t *run = vm_page_alloc(8);

	ASSERT_PTR_NE(run, NULL);
	EXPECT_EQ((uint32_t)run & PAGE_MASK, 0);
	memset(run, 0xA5, 8 * PAGE_SIZE);
	EXPECT_EQ(run[8 * PAGE_SIZE - 1], 0xA5);
	vm_page_free(run, 8);
}

KTEST(vm, arena_exhaustion)
{
	static uint32_t bitmap[1];
	struct vm_arena a;
	vm_paddr_t base = 0x20000000, got[8];
	int i, j;

	vm_arena_init(&a, "test", base, 8, bitmap);
	EXPECT_EQ(vm_arena_alloc(&a, 1, 1), 0);		/* nothing free yet */
	vm_arena_add(&a, base, 8 * PAGE_SIZE);
	vm_arena_reserve(&a, base + 3 * PAGE_SIZE, 1);	/* rounds out to page 3 */
	EXPECT_EQ(a.va_nfree, 7);
	for (i = 0; i < 7; i++) {
		got[i] = vm_arena_alloc(&a, 1, 1);
		ASSERT_NE(got[i], 0);
		EXPECT_EQ(got[i] & PAGE_MASK, 0);
		EXPECT_NE(got[i], base + 3 * PAGE_SIZE);
		EXPECT_GE(got[i], base);
		EXPECT_LT(got[i], base + 8 * PAGE_SIZE);
		for (j = 0; j < i; j++)
			EXPECT_NE(got[i], got[j]);
	}
	EXPECT_EQ(vm_arena_alloc(&a, 1, 1), 0);		/* exhausted */
	vm_arena_free(&a, got[2], 1);
	EXPECT_EQ(vm_arena_alloc(&a, 1, 1), got[2]);	/* the freed page comes back */
	for (i = 0; i < 7; i++)
		vm_arena_free(&a, got[i], 1);
	/* Runs: pages 0-2 and 4-7 free; a 4-page run aligned to 4 is 4-7. */
	EXPECT_EQ(vm_arena_alloc(&a, 4, 4), base + 4 * PAGE_SIZE);
	EXPECT_EQ(vm_arena_alloc(&a, 4, 1), 0);		/* only 3 left in a row */
	EXPECT_EQ(vm_arena_alloc(&a, 3, 1), base);
	EXPECT_EQ(vm_arena_alloc(&a, 0, 1), 0);		/* bad requests */
	EXPECT_EQ(vm_arena_alloc(&a, 1, 3), 0);
}

KTEST(vm, kmalloc_sizes_and_failure)
{
	static const size_t sizes[] = { 1, 8, 15, 16, 100, 500, 2040, 2041,
	    4096, 10000, 65536 };
	void *p[nitems(sizes)];
	struct kmalloc_stats s0, s1, s2;
	struct lwkt_cpusync cs;
	size_t i, j, n;

	ASSERT_TRUE(vm_churn_start(kt));
	vm_quiet_enter(&cs);
	kmalloc_stats(&s0);
	for (n = 0; n < nitems(sizes); n++) {
		if ((p[n] = kmalloc(sizes[n])) == NULL)
			break;
		EXPECT_EQ((uint32_t)p[n] & 7, 0);
		memset(p[n], (int)n, sizes[n]);
	}
	for (i = 0; i < n; i++) {
		const uint8_t *b = p[i];

		EXPECT_EQ(b[0], i);
		EXPECT_EQ(b[sizes[i] - 1], i);
		for (j = 0; j < i; j++)
			EXPECT_PTR_NE(p[i], p[j]);
	}
	vm_window();
	kmalloc_stats(&s1);
	EXPECT_EQ(s1.ks_inuse_count, s0.ks_inuse_count + n);
	for (i = 0; i < n; i++)
		kfree(p[i]);
	vm_window();
	kmalloc_stats(&s2);
	EXPECT_EQ(s2.ks_inuse_bytes, s0.ks_inuse_bytes);
	EXPECT_EQ(s2.ks_inuse_count, s0.ks_inuse_count);

	/* Failure is an error return, not a crash. */
	EXPECT_PTR_EQ(kmalloc(0), NULL);
	EXPECT_PTR_EQ(kmalloc(VM_PAGE_MAX_PA / 2 - 64), NULL);
	kmalloc_stats(&s2);
	EXPECT_EQ(s2.ks_failures, s0.ks_failures + 1);
	kfree(NULL);
	vm_quiet_exit(&cs);
	EXPECT_EQ(n, nitems(sizes));
	vm_churn_stop(kt);
}
