/*
 * Physical page allocator.  A vm_arena hands out runs of 4 KiB pages from a
 * bitmap (1 = free) covering [va_base, va_base + va_npages pages).  The
 * kernel's arena covers all RAM below VM_PAGE_MAX_PA, which is also what the
 * kernel page tables identity-map, so a page's physical address is usable
 * as a pointer.  Arenas are locked internally: any CPU, not from an
 * interrupt handler.  Allocation failure returns 0 / NULL, never panics.
 */
#ifndef _SYS_VM_PAGE_H_
#define _SYS_VM_PAGE_H_

#include <sys/param.h>
#include <sys/spinlock.h>

#define VM_PAGE_MAX_PA	0x40000000u	/* 1 GiB managed and identity-mapped */

struct vm_arena {
	const char	*va_name;
	vm_paddr_t	va_base;	/* physical address of page 0 */
	uint32_t	va_npages;
	uint32_t	*va_bitmap;	/* howmany(va_npages, 32) words */
	uint32_t	va_nfree;
	struct spinlock	va_lock;
};

/* Set up an arena with every page allocated (not free). */
void	vm_arena_init(struct vm_arena *a, const char *name, vm_paddr_t base,
	    uint32_t npages, uint32_t *bitmap);
/* Mark [pa, pa+len) free / in use; partial pages at the edges are skipped. */
void	vm_arena_add(struct vm_arena *a, vm_paddr_t pa, vm_paddr_t len);
void	vm_arena_reserve(struct vm_arena *a, vm_paddr_t pa, vm_paddr_t len);
/* npages contiguous pages aligned to `align` pages (power of two); 0 if none. */
vm_paddr_t vm_arena_alloc(struct vm_arena *a, uint32_t npages, uint32_t align);
void	vm_arena_free(struct vm_arena *a, vm_paddr_t pa, uint32_t npages);

/* The kernel arena (all of RAM). */
void	vm_page_add_range(vm_paddr_t pa, vm_paddr_t len);
void	vm_page_reserve_range(vm_paddr_t pa, vm_paddr_t len);
void	*vm_page_alloc(uint32_t npages);
void	vm_page_free(void *p, uint32_t npages);
uint32_t vm_page_free_count(void);
/* Leave RAM at and above `limit` unused (mem.limit=; BSP, at boot). */
void	vm_page_limit(vm_paddr_t limit);
/* End of the highest page ever made free (what the page tables must map). */
vm_paddr_t vm_page_top(void);

#endif
