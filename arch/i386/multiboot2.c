/*
 * Multiboot2 boot information (Multiboot2 specification §3.6): the BSP
 * reads it once, paging off, before anything else allocates memory.  Tags
 * used: command line (1), module (3), memory map (6), ACPI old/new RSDP
 * copies (14/15); every tag is 8-byte aligned and the list ends with tag
 * type 0.  The memory map is handed to the page allocator here.
 *
 * multiboot2_read() is the pure reading of a buffer (no physical
 * addresses, nothing but vm_page_add_range/vm_page_reserve_range called),
 * so the host fuzz target compiles this file unchanged; multiboot2_parse()
 * adds what only the kernel has: the loader's magic, the physical address
 * and the kernel's own reservations.
 */
#include <sys/param.h>
#include <sys/systm.h>
#include <sys/vm_page.h>
#include <machine/cpu.h>
#include "multiboot2.h"

#define MB2_BOOTLOADER_MAGIC	0x36D76289
#define MB2_TAG_END		0
#define MB2_TAG_CMDLINE		1
#define MB2_TAG_MODULE		3
#define MB2_TAG_MMAP		6
#define MB2_TAG_ACPI_OLD	14
#define MB2_TAG_ACPI_NEW	15
#define MB2_MMAP_AVAILABLE	1

/* Largest information accepted; GRUB's is a few KiB. */
#define MB2_INFO_MAX		(1u << 20)

struct mb2_tag {
	uint32_t	type;
	uint32_t	size;		/* header included, padding excluded */
};

struct mb2_module {
	struct mb2_tag	mod_tag;
	uint32_t	mod_start;	/* physical */
	uint32_t	mod_end;
};

struct mb2_mmap {
	struct mb2_tag	mm_tag;
	uint32_t	mm_entry_size;	/* a multiple of 8, >= 24 */
	uint32_t	mm_entry_version;
};

struct mb2_mmap_entry {
	uint64_t	base;
	uint64_t	len;
	uint32_t	type;
	uint32_t	reserved;
};

/* Pages that stay reserved: the real-mode area, BIOS and the AP trampoline. */
#define LOW_MEMORY_END		0x100000

extern char _kernel_start[], _kernel_end[];

/*
 * The kernel's cmdline tag holds what follows the kernel's path on GRUB's
 * multiboot2 line; some loaders include the path itself, so a first word
 * that starts with '/' and has no '=' is the image name, not an option.
 */
static const char *
skip_image_path(const char *s)
{
	const char *p = s;

	while (*p == ' ')
		p++;
	if (*p != '/')
		return s;
	while (*p != '\0' && *p != ' ' && *p != '=')
		p++;
	if (*p == '=')
		return s;
	return p;
}

static void
mmap_add(const struct mb2_mmap *mm)
{
	const uint8_t *p = (const uint8_t *)(mm + 1);
	const uint8_t *end = (const uint8_t *)mm + mm->mm_tag.size;
	uint32_t esize = mm->mm_entry_size;
	const struct mb2_mmap_entry *e;
	uint64_t lo, hi;

	if (esize < sizeof(*e) || esize % 8 != 0) {
		kprintf("multiboot2: memory map entry size %u is not a "
		    "multiple of 8 of at least %u; no memory map used\n",
		    esize, (unsigned)sizeof(*e));
		return;
	}
	for (; (size_t)(end - p) >= esize; p += esize) {
		e = (const void *)p;
		lo = e->base;
		if (e->type != MB2_MMAP_AVAILABLE || lo >= VM_PAGE_MAX_PA ||
		    e->len == 0)
			continue;
		if (e->len > UINT64_MAX - lo) {
			kprintf("multiboot2: memory map entry 0x%llx+0x%llx "
			    "wraps around; ignored\n", (unsigned long long)lo,
			    (unsigned long long)e->len);
			continue;
		}
		hi = MIN(lo + e->len, (uint64_t)VM_PAGE_MAX_PA);
		vm_page_add_range((vm_paddr_t)lo, (vm_paddr_t)(hi - lo));
	}
}

static void
module_reserve(const struct mb2_module *m)
{
	vm_paddr_t lo = rounddown2(m->mod_start, PAGE_SIZE);
	uint64_t hi = roundup2((uint64_t)m->mod_end, PAGE_SIZE);

	/* Nothing to keep from the arena for a module above what it covers. */
	if (m->mod_end <= m->mod_start || lo >= VM_PAGE_MAX_PA)
		return;
	vm_page_reserve_range(lo, (vm_paddr_t)(MIN(hi,
	    (uint64_t)VM_PAGE_MAX_PA) - lo));
}

/*
 * The tag at `off`, or NULL at the end of the list.  A tag that does not
 * fit, or a list without its end tag, gets one line (`quiet` on the second
 * pass) and ends the list.
 */
static const struct mb2_tag *
mb2_tag_at(const uint8_t *info, size_t size, size_t off, bool quiet)
{
	const struct mb2_tag *tag;

	/* off may be past the end: the last tag's padding is not counted. */
	if (off >= size || size - off < sizeof(*tag)) {
		if (!quiet)
			kprintf("multiboot2: the information (%u bytes) ends "
			    "without an end tag; using the tags before it\n",
			    (unsigned)size);
		return NULL;
	}
	tag = (const void *)(info + off);
	if (tag->type == MB2_TAG_END)
		return NULL;
	if (tag->size < sizeof(*tag) || tag->size > size - off) {
		if (!quiet)
			kprintf("multiboot2: tag type %u at offset %u has size "
			    "%u (%u bytes left); the list ends here\n",
			    tag->type, (unsigned)off, tag->size,
			    (unsigned)(size - off));
		return NULL;
	}
	return tag;
}

/* Tag payload minimum sizes; a shorter tag is ignored with one line. */
static bool
mb2_tag_fits(const struct mb2_tag *tag, size_t need, const char *what)
{
	if (tag->size >= need)
		return true;
	kprintf("multiboot2: %s tag of size %u is shorter than %u bytes; "
	    "ignored\n", what, tag->size, (unsigned)need);
	return false;
}

void
multiboot2_read(const void *info, size_t size, struct bootinfo *bi)
{
	const uint8_t *base = info;
	const struct mb2_tag *tag;
	const char *s;
	size_t off;
	bool modules = false;

	bi->bi_cmdline = "";
	bi->bi_rsdp = NULL;
	bi->bi_rsdp_len = 0;
	if (size < 8)
		return;
	size = MIN(size, (size_t)MB2_INFO_MAX);
	for (off = 8; (tag = mb2_tag_at(base, size, off, false)) != NULL;
	    off += roundup2((size_t)tag->size, 8)) {
		switch (tag->type) {
		case MB2_TAG_CMDLINE:
			s = (const char *)(tag + 1);
			if (strnlen(s, tag->size - sizeof(*tag)) ==
			    tag->size - sizeof(*tag)) {
				kprintf("multiboot2: command line not "
				    "terminated within its tag; ignored\n");
				break;
			}
			bi->bi_cmdline = skip_image_path(s);
			break;
		case MB2_TAG_MODULE:
			if (mb2_tag_fits(tag, sizeof(struct mb2_module),
			    "module"))
				modules = true;
			break;
		case MB2_TAG_MMAP:
			if (mb2_tag_fits(tag, sizeof(struct mb2_mmap),
			    "memory map"))
				mmap_add((const void *)tag);
			break;
		case MB2_TAG_ACPI_OLD:
		case MB2_TAG_ACPI_NEW:
			/* The 2.0 copy is preferred over the 1.0 one. */
			if (bi->bi_rsdp != NULL && tag->type == MB2_TAG_ACPI_OLD)
				break;
			bi->bi_rsdp = tag + 1;
			bi->bi_rsdp_len = tag->size - sizeof(*tag);
			break;
		}
	}
	if (!modules)
		return;
	/* Reserved after the memory map has freed everything it lists. */
	for (off = 8; (tag = mb2_tag_at(base, size, off, true)) != NULL;
	    off += roundup2((size_t)tag->size, 8))
		if (tag->type == MB2_TAG_MODULE &&
		    tag->size >= sizeof(struct mb2_module))
			module_reserve((const void *)tag);
}

void
multiboot2_parse(uint32_t magic, vm_paddr_t mbi, struct bootinfo *bi)
{
	uint32_t total;

	memset(bi, 0, sizeof(*bi));
	bi->bi_cmdline = "";
	if (magic != MB2_BOOTLOADER_MAGIC) {
		kprintf("multiboot2: bad loader magic 0x%08x (expected 0x%08x): "
		    "not booted by a multiboot2 loader; cannot continue\n",
		    magic, MB2_BOOTLOADER_MAGIC);
		cpu_shutdown(KEXIT_PANIC);
	}
	total = *(const uint32_t *)(uintptr_t)mbi;
	if (total < 8 || total > MB2_INFO_MAX || total > UINT32_MAX - mbi) {
		kprintf("multiboot2: information at 0x%08x claims %u bytes; "
		    "using none of it\n", mbi, total);
		total = 8;
	}
	bi->bi_mbi_start = mbi;
	bi->bi_mbi_end = mbi + total;
	multiboot2_read((const void *)(uintptr_t)mbi, total, bi);

	/* What must never be handed out. */
	vm_page_reserve_range(0, LOW_MEMORY_END);
	vm_page_reserve_range((vm_paddr_t)(uintptr_t)_kernel_start,
	    (vm_paddr_t)((uintptr_t)_kernel_end - (uintptr_t)_kernel_start));
	vm_page_reserve_range(rounddown2(mbi, PAGE_SIZE),
	    roundup2(bi->bi_mbi_end, PAGE_SIZE) - rounddown2(mbi, PAGE_SIZE));
}
