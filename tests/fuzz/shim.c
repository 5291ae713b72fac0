/*
 * Host definitions behind the fuzz targets (tests/fuzz/).  The parsers
 * (arch/i386/madt.c, mptable.c, multiboot2.c, kern/kern_kopts.c,
 * kern/subr_prf.c) are compiled unchanged against the kernel's headers;
 * this file, compiled against the host's C library, supplies the kernel
 * functions they call:
 *
 *   cons_putc          kprintf's output: dropped, or to stderr when
 *                      FUZZ_VERBOSE is set (to read what a regression
 *                      input prints); a line longer than 4 KiB fails.
 *   cpu_enum_map       firmware memory from fuzz_mem_load()'s chunks;
 *                      NULL for a range the chunk holding its first byte
 *                      does not hold whole.
 *   vm_page_add_range  checks what the kernel's arena relies on: ranges
 *   vm_page_reserve_range  within 4 GiB, added ranges below
 *                      VM_PAGE_MAX_PA.
 *   cpu_shutdown       never reached from a parser: fails.
 *   _kernel_start/_end stand-ins for the linker symbols.
 *
 * Owned by the fuzz targets; the kernel never links it.
 */
#include <sys/mman.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "shim.h"

#define VM_PAGE_MAX_PA	0x40000000u	/* include/sys/vm_page.h */
#define MEM_CHUNKS_MAX	64
#define LINE_MAX_BYTES	4096

struct chunk {
	uint32_t	pa;
	size_t		len;
	uint8_t		*buf;
};

static struct chunk chunks[MEM_CHUNKS_MAX];
static unsigned nchunks;
static void *copies[4];
static size_t console_bytes, line_bytes;
static int verbose = -1;

void
fuzz_fail(const char *what)
{
	fprintf(stderr, "fuzz: property failed: %s\n", what);
	abort();
}

void
fuzz_mem_load(const uint8_t *data, size_t size)
{
	size_t off = 0, len;
	unsigned i;

	for (i = 0; i < nchunks; i++)
		free(chunks[i].buf);
	nchunks = 0;
	while (size - off >= 6 && nchunks < MEM_CHUNKS_MAX) {
		struct chunk *c = &chunks[nchunks++];

		c->pa = (uint32_t)data[off] | (uint32_t)data[off + 1] << 8 |
		    (uint32_t)data[off + 2] << 16 |
		    (uint32_t)data[off + 3] << 24;
		len = (size_t)data[off + 4] | (size_t)data[off + 5] << 8;
		off += 6;
		if (len > size - off)
			len = size - off;
		c->len = len;
		c->buf = malloc(len > 0 ? len : 1);
		memcpy(c->buf, data + off, len);
		off += len;
	}
}

const void *
fuzz_mem_chunk(unsigned i, uint32_t *pa, size_t *len)
{
	if (i >= nchunks)
		return NULL;
	*pa = chunks[i].pa;
	*len = chunks[i].len;
	return chunks[i].buf;
}

void *
fuzz_copy(unsigned slot, const void *data, size_t size)
{
	free(copies[slot]);
	copies[slot] = malloc(size > 0 ? size : 1);
	memcpy(copies[slot], data, size);
	return copies[slot];
}

char *
fuzz_cstring(unsigned slot, const void *data, size_t size)
{
	char *s;

	free(copies[slot]);
	copies[slot] = s = malloc(size + 1);
	memcpy(s, data, size);
	s[size] = '\0';
	return s;
}

/* In the high application range, below AddressSanitizer's allocator
 * (0x600000000000); low 32 bits zero. */
#define LOW_STRING_AT	0x500000000000ull

const char *
fuzz_low_string(const char *str)
{
	static char *page;

	if (page == NULL) {
		page = mmap((void *)LOW_STRING_AT, 4096, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
		if (page == MAP_FAILED)
			fuzz_fail("mmap of the low string page");
	}
	strncpy(page + 16, str, 4096 - 17);
	return page + 16;
}

size_t
fuzz_console_bytes(void)
{
	size_t n = console_bytes;

	console_bytes = 0;
	return n;
}

const void *cpu_enum_map(uint32_t pa, size_t len);
void cons_putc(int c);
void vm_page_add_range(uint32_t pa, uint32_t len);
void vm_page_reserve_range(uint32_t pa, uint32_t len);
void cpu_shutdown(int how) __attribute__((noreturn));
char _kernel_start[16], _kernel_end[1];

const void *
cpu_enum_map(uint32_t pa, size_t len)
{
	unsigned i;

	/* The first chunk holding `pa` is its memory, as the identity view
	 * gives one pointer per address whatever the length asked for. */
	for (i = 0; i < nchunks; i++) {
		const struct chunk *c = &chunks[i];

		if (pa >= c->pa && pa - c->pa < c->len)
			return len <= c->len - (pa - c->pa) ?
			    c->buf + (pa - c->pa) : NULL;
	}
	return NULL;
}

void
cons_putc(int c)
{
	if (verbose < 0)
		verbose = getenv("FUZZ_VERBOSE") != NULL;
	if (verbose)
		fputc(c, stderr);
	console_bytes++;
	line_bytes = c == '\n' ? 0 : line_bytes + 1;
	if (line_bytes > LINE_MAX_BYTES)
		fuzz_fail("a console line longer than 4 KiB");
}

void
vm_page_add_range(uint32_t pa, uint32_t len)
{
	if ((uint64_t)pa + len > VM_PAGE_MAX_PA)
		fuzz_fail("vm_page_add_range past VM_PAGE_MAX_PA");
}

void
vm_page_reserve_range(uint32_t pa, uint32_t len)
{
	if ((uint64_t)pa + len > (uint64_t)UINT32_MAX + 1)
		fuzz_fail("vm_page_reserve_range wraps past 4 GiB");
}

void
cpu_shutdown(int how)
{
	fprintf(stderr, "fuzz: cpu_shutdown(%d) from a parser\n", how);
	abort();
}
