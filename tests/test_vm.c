/*
 * Suite "vm": the physical page allocator and the kernel heap.  The arena
 * tests use an arena over an address range with no memory behind it (the
 * allocator only does bookkeeping), so exhaustion is tested without
 * starving the kernel.
 */
#include <sys/param.h>
#include <sys/systm.h>
#include <sys/ktest.h>
#include <sys/malloc.h>
#include <sys/vm_page.h>

#define NPAGES_TEST	64

KTEST(vm, pages_distinct_aligned)
{
	static uint32_t *pages[NPAGES_TEST];
	uint32_t before = vm_page_free_count();
	int i, j;

	for (i = 0; i < NPAGES_TEST; i++) {
		pages[i] = vm_page_alloc(1);
		ASSERT_PTR_NE(pages[i], NULL);
		EXPECT_EQ((uint32_t)pages[i] & PAGE_MASK, 0);
		EXPECT_GE((uint32_t)pages[i], 0x100000);
		/* Fill each page with its own index, check nobody overlaps. */
		for (j = 0; j < (int)(PAGE_SIZE / 4); j++)
			pages[i][j] = (uint32_t)i;
	}
	EXPECT_EQ(vm_page_free_count(), before - NPAGES_TEST);
	for (i = 0; i < NPAGES_TEST; i++) {
		for (j = 0; j < i; j++)
			EXPECT_PTR_NE(pages[i], pages[j]);
		EXPECT_EQ(pages[i][0], i);
		EXPECT_EQ(pages[i][PAGE_SIZE / 4 - 1], i);
	}
	for (i = 0; i < NPAGES_TEST; i++)
		vm_page_free(pages[i], 1);
	EXPECT_EQ(vm_page_free_count(), before);
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
	size_t i, j;

	kmalloc_stats(&s0);
	for (i = 0; i < nitems(sizes); i++) {
		p[i] = kmalloc(sizes[i]);
		ASSERT_PTR_NE(p[i], NULL);
		EXPECT_EQ((uint32_t)p[i] & 7, 0);
		memset(p[i], (int)i, sizes[i]);
	}
	for (i = 0; i < nitems(sizes); i++) {
		const uint8_t *b = p[i];

		EXPECT_EQ(b[0], i);
		EXPECT_EQ(b[sizes[i] - 1], i);
		for (j = 0; j < i; j++)
			EXPECT_PTR_NE(p[i], p[j]);
	}
	kmalloc_stats(&s1);
	EXPECT_EQ(s1.ks_inuse_count, s0.ks_inuse_count + nitems(sizes));
	for (i = 0; i < nitems(sizes); i++)
		kfree(p[i]);
	kmalloc_stats(&s2);
	EXPECT_EQ(s2.ks_inuse_bytes, s0.ks_inuse_bytes);
	EXPECT_EQ(s2.ks_inuse_count, s0.ks_inuse_count);

	/* Failure is an error return, not a crash. */
	EXPECT_PTR_EQ(kmalloc(0), NULL);
	EXPECT_PTR_EQ(kmalloc(VM_PAGE_MAX_PA / 2 - 64), NULL);
	kmalloc_stats(&s2);
	EXPECT_EQ(s2.ks_failures, s0.ks_failures + 1);
	kfree(NULL);
}
