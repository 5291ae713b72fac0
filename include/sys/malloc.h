/*
 * Kernel heap.  kmalloc() returns NULL when memory runs out (callers must
 * handle it); kfree(NULL) is a no-op.  Any CPU, not from interrupt
 * handlers.  kmalloc_stats() reports bytes in use so tests can check that
 * a workload gives back everything it took.
 */
#ifndef _SYS_MALLOC_H_
#define _SYS_MALLOC_H_

#include <sys/types.h>

void	*kmalloc(size_t size);
void	*kzalloc(size_t size);
void	kfree(void *p);

struct kmalloc_stats {
	uint32_t	ks_inuse_bytes;	/* bytes handed out (bucket-rounded) */
	uint32_t	ks_inuse_count;	/* live allocations */
	uint32_t	ks_failures;	/* kmalloc() calls that returned NULL */
};
void	kmalloc_stats(struct kmalloc_stats *ks);

#endif
