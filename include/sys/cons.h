/*
 * Console: line-atomic output shared by all CPUs.  Each CPU collects a line
 * in its own buffer and writes it to the device whole, under the console
 * lock, when it sees '\n' (or the buffer fills).  Callers must have
 * interrupts disabled around a group of cons_putc() calls that belong
 * together (kprintf does this).
 */
#ifndef _SYS_CONS_H_
#define _SYS_CONS_H_

#include <sys/types.h>

void	cons_putc(int c);
/* Write out this CPU's partial line, if any (panic path). */
void	cons_flush(void);
/* Panic path: stop waiting for a console lock that a stopped CPU may hold. */
void	cons_break_lock(void);
/* Lines CPU `cpu` has written to the console since boot. */
uint32_t cons_lines(int cpu);

#endif
