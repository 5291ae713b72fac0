/*
 * Physical page allocator (see sys/vm_page.h).  Bitmap first-fit with a
 * rotating start hint; every arena operation holds the arena's spinlock.
 * The kernel arena is filled from the multiboot2 memory map by the BSP
 * before any other CPU runs and is used by every CPU afterwards.
 */
#include <sys/param.h>
#include <sys/systm.h>
#include <sys/vm_page.h>
#include <sys/spinlock2.h>

static uint32_t kernel_bitmap[VM_PAGE_MAX_PA / PAGE_SIZE / 32];
static struct vm_arena kernel_arena = {
	.va_name = "kernel",
	.va_base = 0,
	.va_npages = VM_PAGE_MAX_PA / PAGE_SIZE,
	.va_bitmap = kernel_bitmap,
	.va_nfree = 0,
	.va_lock = SPINLOCK_INITIALIZER("vm_page kernel"),
};
static vm_paddr_t kernel_top;

static inline bool
page_is_free(const struct vm_arena *a, uint32_t i)
{
	return (a->va_bitmap[i / 32] >> (i % 32)) & 1;
}

static inline void
page_set(struct vm_arena *a, uint32_t i, bool free)
{
	uint32_t bit = 1u << (i % 32);

	if (free && !page_is_free(a, i)) {
		a->va_bitmap[i / 32] |= bit;
		a->va_nfree++;
	} else if (!free && page_is_free(a, i)) {
		a->va_bitmap[i / 32] &= ~bit;
		a->va_nfree--;
	}
}

void
vm_arena_init(struct vm_arena *a, const char *name, vm_paddr_t base,
    uint32_t npages, uint32_t *bitmap)
{
	KKASSERT((base & PAGE_MASK) == 0);
	a->va_name = name;
	a->va_base = base;
	a->va_npages = npages;
	a->va_bitmap = bitmap;
	a->va_nfree = 0;
	spin_init(&a->va_lock, name);
	memset(bitmap, 0, howmany(npages, 32) * sizeof(uint32_t));
}

/* Clip [pa, pa+len) to whole pages inside the arena; returns page count. */
static uint32_t
clip(const struct vm_arena *a, vm_paddr_t pa, vm_paddr_t len, bool inner,
    uint32_t *first)
{
	uint64_t lo = pa, hi = (uint64_t)pa + len;
	uint64_t alo = a->va_base, ahi = (uint64_t)a->va_base +
	    (uint64_t)a->va_npages * PAGE_SIZE;

	if (inner) {
		lo = roundup2(lo, PAGE_SIZE);
		hi = rounddown2(hi, PAGE_SIZE);
	} else {
		lo = rounddown2(lo, PAGE_SIZE);
		hi = roundup2(hi, (uint64_t)PAGE_SIZE);
	}
	lo = MAX(lo, alo);
	hi = MIN(hi, ahi);
	if (hi <= lo)
		return 0;
	*first = (uint32_t)((lo - alo) / PAGE_SIZE);
	return (uint32_t)((hi - lo) / PAGE_SIZE);
}

/* Free pages wholly inside the range; reserve every page it touches. */
static void
arena_mark(struct vm_arena *a, vm_paddr_t pa, vm_paddr_t len, bool free)
{
	uint32_t first = 0, n, i;

	spin_lock(&a->va_lock);
	n = clip(a, pa, len, free, &first);
	for (i = 0; i < n; i++)
		page_set(a, first + i, free);
	spin_unlock(&a->va_lock);
}

void
vm_arena_add(struct vm_arena *a, vm_paddr_t pa, vm_paddr_t len)
{
	arena_mark(a, pa, len, true);
}

void
vm_arena_reserve(struct vm_arena *a, vm_paddr_t pa, vm_paddr_t len)
{
	arena_mark(a, pa, len, false);
}

vm_paddr_t
vm_arena_alloc(struct vm_arena *a, uint32_t npages, uint32_t align)
{
	uint32_t start, i;
	vm_paddr_t pa = 0;

	if (npages == 0 || align == 0 || (align & (align - 1)) != 0)
		return 0;
	spin_lock(&a->va_lock);
	if (a->va_nfree >= npages) {
		for (start = 0; start + npages <= a->va_npages; start += align) {
			for (i = 0; i < npages; i++) {
				if (!page_is_free(a, start + i))
					break;
			}
			if (i == npages) {
				for (i = 0; i < npages; i++)
					page_set(a, start + i, false);
				pa = a->va_base + start * PAGE_SIZE;
				break;
			}
			/* Skip past the page that stopped us, keeping alignment. */
			start = rounddown2(start + i, align);
		}
	}
	spin_unlock(&a->va_lock);
	return pa;
}

void
vm_arena_free(struct vm_arena *a, vm_paddr_t pa, uint32_t npages)
{
	uint32_t first = (pa - a->va_base) / PAGE_SIZE, i;

	KASSERT((pa & PAGE_MASK) == 0 && pa >= a->va_base &&
	    first + npages <= a->va_npages,
	    ("vm_arena_free: %s: bad range 0x%x+%u", a->va_name, pa, npages));
	spin_lock(&a->va_lock);
	for (i = 0; i < npages; i++) {
		KASSERT(!page_is_free(a, first + i),
		    ("vm_arena_free: %s: page 0x%x freed twice", a->va_name,
		    pa + i * PAGE_SIZE));
		page_set(a, first + i, true);
	}
	spin_unlock(&a->va_lock);
}

void
vm_page_add_range(vm_paddr_t pa, vm_paddr_t len)
{
	vm_arena_add(&kernel_arena, pa, len);
	if (pa + len > kernel_top)
		kernel_top = MIN((uint64_t)pa + len, (uint64_t)VM_PAGE_MAX_PA);
}

void
vm_page_reserve_range(vm_paddr_t pa, vm_paddr_t len)
{
	vm_arena_reserve(&kernel_arena, pa, len);
}

void *
vm_page_alloc(uint32_t npages)
{
	return (void *)vm_arena_alloc(&kernel_arena, npages, 1);
}

void
vm_page_free(void *p, uint32_t npages)
{
	vm_arena_free(&kernel_arena, (vm_paddr_t)p, npages);
}

uint32_t
vm_page_free_count(void)
{
	return kernel_arena.va_nfree;
}

void
vm_page_limit(vm_paddr_t limit)
{
	uint32_t before = kernel_arena.va_nfree;

	limit = rounddown2(limit, PAGE_SIZE);
	if (limit >= kernel_top)
		return;
	vm_arena_reserve(&kernel_arena, limit, kernel_top - limit);
	kprintf("vm: mem.limit: no RAM at or above %u MiB is used (%u KiB "
	    "left out)\n", limit >> 20,
	    (before - kernel_arena.va_nfree) * (PAGE_SIZE / 1024));
}

vm_paddr_t
vm_page_top(void)
{
	return kernel_top;
}
