/*
 * COM1 (I/O port 0x3F8) as the console device: 115200 baud, 8N1, FIFO on,
 * polled output (no interrupts).  serial_init() runs once on the BSP before
 * the first kprintf; serial_putc() is called only by kern/kern_cons.c with
 * the console lock held, so one CPU at a time drives the UART.
 *
 * Register layout: PC16550D data sheet (THR/RBR 0, IER 1, FCR 2, LCR 3,
 * MCR 4, LSR 5; DLL/DLM at 0/1 with LCR.DLAB set).
 */
#include <sys/types.h>
#include <machine/cpufunc.h>
#include "i386_var.h"

#define COM1		0x3F8
#define UART_THR	0
#define UART_IER	1
#define UART_FCR	2
#define UART_LCR	3
#define UART_MCR	4
#define UART_LSR	5
#define LSR_THRE	0x20
#define LCR_DLAB	0x80
#define LCR_8N1		0x03
#define UART_CLOCK	115200

static bool serial_present;

void
serial_init(void)
{
	uint16_t div = UART_CLOCK / 115200;

	outb(COM1 + UART_IER, 0x00);
	outb(COM1 + UART_LCR, LCR_DLAB);
	outb(COM1 + 0, div & 0xff);
	outb(COM1 + 1, div >> 8);
	outb(COM1 + UART_LCR, LCR_8N1);
	outb(COM1 + UART_FCR, 0xC7);		/* enable + clear FIFOs */
	outb(COM1 + UART_MCR, 0x03);		/* DTR, RTS */
	/* A missing UART reads back 0xFF from the line status register. */
	serial_present = inb(COM1 + UART_LSR) != 0xFF;
}

void
serial_putc(int c)
{
	int spins;

	if (!serial_present)
		return;
	/* Bounded: a wedged UART must not hang the console. */
	for (spins = 0; spins < 100000; spins++) {
		if (inb(COM1 + UART_LSR) & LSR_THRE)
			break;
	}
	outb(COM1 + UART_THR, (uint8_t)c);
}
