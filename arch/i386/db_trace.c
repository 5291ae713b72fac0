/*
 * Stack backtraces by walking the %ebp frame chain (the kernel is built
 * with -fno-omit-frame-pointer; boot code ends the chain with %ebp = 0).
 * Every frame pointer is checked for alignment, a mapping and upward
 * progress before it is read, so a corrupt stack ends the trace instead of
 * faulting again.  Any CPU, any context, including panic.
 */
#include <sys/param.h>
#include <sys/systm.h>
#include <machine/cpu.h>
#include <machine/cpufunc.h>
#include "i386_var.h"

#define BT_MAXDEPTH	24

void
cpu_backtrace(uint32_t fp)
{
	int depth;

	if (fp == 0)
		fp = read_ebp();
	for (depth = 0; depth < BT_MAXDEPTH && fp != 0; depth++) {
		const uint32_t *frame = (const uint32_t *)fp;

		if ((fp & 3) != 0 || !pmap_va_valid(fp) ||
		    !pmap_va_valid(fp + 7)) {
			kprintf("  (bad frame pointer 0x%08x; trace ends)\n", fp);
			return;
		}
		kprintf("  #%-2d ", depth);
		cpu_print_addr(frame[1]);
		kprintf("\n");
		if (frame[0] != 0 && frame[0] <= fp) {
			kprintf("  (frame chain goes backwards; trace ends)\n");
			return;
		}
		fp = frame[0];
	}
}
