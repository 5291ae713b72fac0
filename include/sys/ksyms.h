/*
 * Kernel symbol table, for printing function names in backtraces.
 *
 * The table is built by the second link pass (scripts/ksyms.py) from the
 * symbols of the first and placed in the ".ksyms" section, which the linker
 * script keeps last so nothing else moves between passes.  The first pass
 * has no table: the weak declarations below then resolve to address 0 and
 * ksym_lookup() finds nothing.
 *
 * ksyms_table holds ksyms_count entries sorted by address, followed by one
 * sentinel entry whose addr bounds the last function and whose name_off is
 * KSYM_NAME_NONE.  name_off indexes the NUL-terminated names in ksyms_names.
 */
#ifndef _SYS_KSYMS_H_
#define _SYS_KSYMS_H_

#include <sys/types.h>

struct ksym {
	uint32_t	addr;		/* first byte of the function */
	uint32_t	name_off;	/* offset of its name in ksyms_names */
};

#define KSYM_NAME_NONE	0xffffffffu	/* name_off of the end sentinel */

extern const struct ksym ksyms_table[] __attribute__((weak));
extern const uint32_t ksyms_count __attribute__((weak));
extern const char ksyms_names[] __attribute__((weak));

/*
 * Name of the function containing addr, with *offset (if offset is not
 * NULL) set to addr minus the function's start.  Returns NULL, leaving
 * *offset alone, when there is no table, or addr lies below the first or
 * past the last function.  Lock-free and read-only: callable from any CPU
 * in any context, including panic and exception handlers.
 */
const char	*ksym_lookup(uint32_t addr, uint32_t *offset);

#endif
