/*
 * Fixed-width types for the freestanding kernel (gcc's <stdint.h>,
 * <stddef.h>, <stdbool.h> and <stdarg.h> are freestanding headers).
 */
#ifndef _SYS_TYPES_H_
#define _SYS_TYPES_H_

#include <stdint.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdarg.h>
#include <sys/cdefs.h>

typedef uint32_t	vm_paddr_t;	/* physical address */
typedef uint32_t	vm_offset_t;	/* virtual address */
typedef int32_t		ssize_t;

#endif
