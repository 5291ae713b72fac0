/*
 * The host side of the fuzz targets (tests/fuzz/): what shim.c offers the
 * harnesses, in plain C types only, because the harnesses are compiled
 * against the kernel's headers and shim.c against the host's C library.
 * shim.c also defines the few kernel functions the parsers call
 * (cons_putc, cpu_enum_map, vm_page_add_range, vm_page_reserve_range,
 * cpu_shutdown): see the comment at its top.
 */
#ifndef _FUZZ_SHIM_H_
#define _FUZZ_SHIM_H_

#include <stddef.h>
#include <stdint.h>

/*
 * Firmware memory for cpu_enum_map(): `data` is a list of chunks, each a
 * little-endian u32 physical address, a u16 length and that many bytes (the
 * last one may be cut short).  Every chunk is copied into a heap block of
 * exactly its length, so a read past what a table may read is an
 * AddressSanitizer report.  Replaces what the previous call loaded.
 */
void	fuzz_mem_load(const uint8_t *data, size_t size);

/* Chunk i as loaded (NULL past the last), its address and length. */
const void *fuzz_mem_chunk(unsigned i, uint32_t *pa, size_t *len);

/* A heap copy of `size` bytes (size 0: a valid pointer), freed by the next
 * fuzz_copy() of the same slot (0..3). */
void	*fuzz_copy(unsigned slot, const void *data, size_t size);

/* A heap copy of `size` bytes followed by a NUL, in slot 0..3 likewise. */
char	*fuzz_cstring(unsigned slot, const void *data, size_t size);

/*
 * A NUL-terminated copy of `str` at an address whose low 32 bits are
 * small (fuzz_prf.c: an int taken from a pointer argument, such as a '*'
 * width, is then a small number, not a 100000-character field).
 */
const char *fuzz_low_string(const char *str);

/* Stop with a message (a failed property: libFuzzer saves the input). */
void	fuzz_fail(const char *what) __attribute__((noreturn));

/* Bytes written through cons_putc() since the last call (0 resets). */
size_t	fuzz_console_bytes(void);

#endif
