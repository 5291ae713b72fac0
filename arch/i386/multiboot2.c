/*
 * Multiboot2 boot information (Multiboot2 specification §3.6): the BSP
 * reads it once, paging off, before anything else allocates memory.  Tags
 * used: command line (1), memory map (6), ACPI old/new RSDP copies (14/15);
 * every tag is 8-byte aligned and the list ends with tag type 0.  The
 * memory map is handed to the page allocator here.
 */
#include <sys/param.h>
#include <sys/systm.h>
#include <sys/vm_page.h>
#include <machine/cpu.h>
#include "i386_var.h"

#define MB2_BOOTLOADER_MAGIC	0x36D76289
#define MB2_TAG_END		0
#define MB2_TAG_CMDLINE		1
#define MB2_TAG_MODULE		3
#define MB2_TAG_MMAP		6
#define MB2_TAG_ACPI_OLD	14
#define MB2_TAG_ACPI_NEW	15
#define MB2_MMAP_AVAILABLE	1

struct mb2_tag {
	uint32_t	type;
	uint32_t	size;
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
mmap_add(const struct mb2_tag *tag)
{
	const uint8_t *p = (const uint8_t *)tag + 16;
	const uint8_t *end = (const uint8_t *)tag + tag->size;
	uint32_t esize = ((const uint32_t *)tag)[2];

	if (esize < sizeof(struct mb2_mmap_entry)) {
		kprintf("multiboot2: memory map entry size %u too small; "
		    "no memory map used\n", esize);
		return;
	}
	for (; p + esize <= end; p += esize) {
		const struct mb2_mmap_entry *e = (const void *)p;
		uint64_t lo = e->base, hi = e->base + e->len;

		if (e->type != MB2_MMAP_AVAILABLE || lo >= VM_PAGE_MAX_PA)
			continue;
		if (hi > VM_PAGE_MAX_PA)
			hi = VM_PAGE_MAX_PA;
		vm_page_add_range((vm_paddr_t)lo, (vm_paddr_t)(hi - lo));
	}
}

/* Module tags: mod_start, mod_end (physical), then the module's string. */
static void
reserve_modules(const struct bootinfo *bi)
{
	const struct mb2_tag *tag;

	for (tag = (const void *)(bi->bi_mbi_start + 8);
	    (vm_paddr_t)tag + sizeof(*tag) <= bi->bi_mbi_end &&
	    tag->type != MB2_TAG_END && tag->size >= sizeof(*tag);
	    tag = (const void *)((vm_paddr_t)tag + roundup2(tag->size, 8))) {
		const uint32_t *m = (const uint32_t *)(tag + 1);

		if (tag->type == MB2_TAG_MODULE && m[1] > m[0])
			vm_page_reserve_range(rounddown2(m[0], PAGE_SIZE),
			    roundup2(m[1], PAGE_SIZE) - rounddown2(m[0], PAGE_SIZE));
	}
}

void
multiboot2_parse(uint32_t magic, vm_paddr_t mbi, struct bootinfo *bi)
{
	const struct mb2_tag *tag;
	uint32_t total, nmod = 0;

	memset(bi, 0, sizeof(*bi));
	bi->bi_cmdline = "";
	if (magic != MB2_BOOTLOADER_MAGIC) {
		kprintf("multiboot2: bad loader magic 0x%08x (expected 0x%08x): "
		    "not booted by a multiboot2 loader; cannot continue\n",
		    magic, MB2_BOOTLOADER_MAGIC);
		cpu_shutdown(KEXIT_PANIC);
	}
	total = *(const uint32_t *)mbi;
	bi->bi_mbi_start = mbi;
	bi->bi_mbi_end = mbi + total;

	for (tag = (const void *)(mbi + 8);
	    (vm_paddr_t)tag + sizeof(*tag) <= bi->bi_mbi_end &&
	    tag->type != MB2_TAG_END;
	    tag = (const void *)((vm_paddr_t)tag + roundup2(tag->size, 8))) {
		if (tag->size < sizeof(*tag)) {
			kprintf("multiboot2: tag of size %u, list ends here\n",
			    tag->size);
			break;
		}
		switch (tag->type) {
		case MB2_TAG_CMDLINE:
			bi->bi_cmdline = skip_image_path((const char *)(tag + 1));
			break;
		case MB2_TAG_MODULE:
			nmod++;
			break;
		case MB2_TAG_MMAP:
			mmap_add(tag);
			break;
		case MB2_TAG_ACPI_OLD:
			if (bi->bi_rsdp == NULL)
				bi->bi_rsdp = tag + 1;
			break;
		case MB2_TAG_ACPI_NEW:
			bi->bi_rsdp = tag + 1;	/* preferred over the 1.0 copy */
			break;
		}
	}

	/* What must never be handed out. */
	vm_page_reserve_range(0, LOW_MEMORY_END);
	vm_page_reserve_range((vm_paddr_t)_kernel_start,
	    (vm_paddr_t)_kernel_end - (vm_paddr_t)_kernel_start);
	vm_page_reserve_range(rounddown2(mbi, PAGE_SIZE),
	    roundup2(bi->bi_mbi_end, PAGE_SIZE) - rounddown2(mbi, PAGE_SIZE));
	if (nmod > 0)
		reserve_modules(bi);
}
