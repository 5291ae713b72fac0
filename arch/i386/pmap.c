/*
 * Kernel page tables (Intel SDM Vol. 3 §4.3 "32-bit paging", §11.3 memory
 * types).  One address space shared by every CPU: RAM below vm_page_top()
 * and the kernel image are identity-mapped with 4 KiB pages, page 0 is left
 * unmapped so NULL dereferences fault, and the local APIC page is mapped
 * uncached (PCD|PWT).  The BSP builds the tables before any AP starts;
 * APs load the same CR3 in boot/mpentry.asm.
 */
#include <sys/param.h>
#include <sys/systm.h>
#include <sys/vm_page.h>
#include <sys/globaldata.h>
#include <sys/cpusync.h>
#include <machine/cpufunc.h>
#include "i386_var.h"

#define PG_V		0x001
#define PG_RW		0x002
#define PG_PWT		0x008
#define PG_PCD		0x010
#define PG_FRAME	0xFFFFF000u
#define CR0_PG		0x80000000u
#define CR0_WP		0x00010000u
#define NPTEPG		1024
#define PDRSHIFT	22

extern char _kernel_end[];

static uint32_t *kernel_pd;		/* page directory (physical = virtual) */
uint32_t ap_boot_cr3;			/* read by boot/mpentry.asm */

/* Page table entry for va, allocating its page table if asked. */
static uint32_t *
pmap_pte(vm_offset_t va, bool alloc)
{
	uint32_t *pde = &kernel_pd[va >> PDRSHIFT];
	uint32_t *pt;

	if ((*pde & PG_V) == 0) {
		if (!alloc)
			return NULL;
		pt = vm_page_alloc(1);
		if (pt == NULL)
			panic("pmap: out of memory for a page table (va 0x%x)", va);
		memset(pt, 0, PAGE_SIZE);
		*pde = (uint32_t)pt | PG_V | PG_RW;
	}
	pt = (uint32_t *)(*pde & PG_FRAME);
	return &pt[(va >> PAGE_SHIFT) & (NPTEPG - 1)];
}

static void
pmap_enter(vm_offset_t va, vm_paddr_t pa, uint32_t flags)
{
	*pmap_pte(va, true) = (pa & PG_FRAME) | flags | PG_V;
}

void
pmap_map_uncached(vm_paddr_t pa)
{
	pmap_enter(rounddown2(pa, PAGE_SIZE), rounddown2(pa, PAGE_SIZE),
	    PG_RW | PG_PCD | PG_PWT);
	if (rcr0() & CR0_PG)
		invlpg(rounddown2(pa, PAGE_SIZE));
}

static vm_paddr_t
pmap_bootstrap_top(void)
{
	return MAX(vm_page_top(), (vm_paddr_t)_kernel_end);
}

/* The pages pmap_bootstrap() takes: the directory and its page tables. */
uint32_t
pmap_bootstrap_pages(void)
{
	return 1 + howmany(pmap_bootstrap_top(), (vm_paddr_t)NPTEPG * PAGE_SIZE);
}

/* Runs on the BSP, paging off, after vm_page knows the memory map. */
void
pmap_bootstrap(void)
{
	vm_paddr_t top = pmap_bootstrap_top();
	vm_paddr_t pa;

	kernel_pd = vm_page_alloc(1);
	if (kernel_pd == NULL)
		panic("pmap: no page for the page directory");
	memset(kernel_pd, 0, PAGE_SIZE);
	for (pa = PAGE_SIZE; pa < top; pa += PAGE_SIZE)
		pmap_enter(pa, pa, PG_RW);
	if (lapic_base != NULL)
		pmap_map_uncached((vm_paddr_t)lapic_base);

	ap_boot_cr3 = (uint32_t)kernel_pd;
	load_cr3(ap_boot_cr3);
	load_cr0(rcr0() | CR0_PG | CR0_WP);
	kprintf("pmap: paging on, %u MiB identity-mapped, page 0 unmapped\n",
	    top >> 20);
}

static void
pmap_invlpg_cpusync(struct lwkt_cpusync *cs)
{
	invlpg((vm_offset_t)cs->cs_data);
}

/*
 * Change the kernel mapping of page `va` (pa 0: unmap it) and make sure no
 * CPU can still use the old translation when this returns: every online
 * CPU runs invlpg inside one cpusync rendezvous (LWKT-SPEC §8, TLB
 * shootdown).  Thread context, any CPU.
 */
void
pmap_kenter_sync(vm_offset_t va, vm_paddr_t pa)
{
	uint32_t *pte;

	KKASSERT((va & PAGE_MASK) == 0);
	pte = pmap_pte(va, true);
	*pte = pa != 0 ? ((pa & PG_FRAME) | PG_RW | PG_V) : 0;
	if (rcr0() & CR0_PG)
		lwkt_cpusync_simple(smp_active_mask, pmap_invlpg_cpusync,
		    (void *)va);
}

/*
 * Guard page of a thread stack: unmap it (on) or map it back (off).  The
 * unmapping is invalidated on this CPU only.  Other CPUs may still hold
 * the old translation, which matters only to code running on this stack
 * there: the thread invalidates it again on every CPU it starts or arrives
 * on (cpu_kstack_guard from lwkt_thread_start and adoption), so no TLB
 * shootdown of every CPU is needed per new stack.  Mapping it back needs
 * no invalidation: no CPU caches a not-present entry.
 */
void
pmap_set_guard(vm_offset_t va, bool on)
{
	uint32_t *pte = pmap_pte(va, false);

	KKASSERT(pte != NULL && (va & PAGE_MASK) == 0);
	if (on) {
		*pte = 0;
		invlpg(va);
	} else {
		*pte = (va & PG_FRAME) | PG_RW | PG_V;
	}
}

bool
pmap_va_valid(vm_offset_t va)
{
	uint32_t *pte;

	if (kernel_pd == NULL)
		return va >= PAGE_SIZE;
	pte = pmap_pte(va, false);
	return pte != NULL && (*pte & PG_V) != 0;
}
