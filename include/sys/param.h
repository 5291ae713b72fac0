/*
 * System-wide constants.
 */
#ifndef _SYS_PARAM_H_
#define _SYS_PARAM_H_

#include <sys/types.h>

#define MAXCPU		255		/* xAPIC ids 0..254 (0xff broadcasts) */
#define PAGE_SHIFT	12
#define PAGE_SIZE	(1u << PAGE_SHIFT)
#define PAGE_MASK	(PAGE_SIZE - 1)

#define roundup2(x, y)	(((x) + ((y) - 1)) & ~((y) - 1))
#define rounddown2(x, y) ((x) & ~((y) - 1))
#define howmany(x, y)	(((x) + ((y) - 1)) / (y))
#define nitems(a)	(sizeof(a) / sizeof((a)[0]))
#define MIN(a, b)	((a) < (b) ? (a) : (b))
#define MAX(a, b)	((a) > (b) ? (a) : (b))

#define ENOMEM		12
#define EINVAL		22
#define ENOENT		2
#define EWOULDBLOCK	35
#define ETIMEDOUT	60

#endif
