/*
 * Multiboot2 boot information as the kernel uses it (arch-internal).
 * multiboot2.c owns the parser; machdep.c calls multiboot2_parse() once on
 * the BSP, paging off; the host fuzz target (tests/fuzz/fuzz_multiboot2.c)
 * calls multiboot2_read() on arbitrary bytes.
 */
#ifndef _ARCH_I386_MULTIBOOT2_H_
#define _ARCH_I386_MULTIBOOT2_H_

#include <sys/types.h>

struct bootinfo {
	const char	*bi_cmdline;	/* arguments after the kernel path */
	const void	*bi_rsdp;	/* copy of the ACPI RSDP, or NULL */
	size_t		bi_rsdp_len;	/* bytes of that copy */
	vm_paddr_t	bi_mbi_start, bi_mbi_end;
};

/*
 * Check the loader's magic (a wrong one stops the kernel with one line),
 * read the information at physical `mbi` (multiboot2_read) and reserve
 * the pages that must never be handed out: low memory, the kernel, the
 * information itself and the modules.
 */
void	multiboot2_parse(uint32_t magic, vm_paddr_t mbi, struct bootinfo *bi);

/*
 * Read the `size` bytes of information at `info` (8-byte aligned; its
 * own total-size field is not trusted beyond `size`) into *bi: the
 * command line, the RSDP copy, the memory map (vm_page_add_range) and
 * the modules (vm_page_reserve_range).  A malformed tag gets one console
 * line and ends the list, or is ignored, as the line says.
 */
void	multiboot2_read(const void *info, size_t size, struct bootinfo *bi);

#endif
