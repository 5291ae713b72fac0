; Multiboot2 header and the BSP's 32-bit entry point.
;
; GRUB 2 enters _start in 32-bit protected mode with paging off, interrupts
; off, EAX = 0x36D76289 and EBX = physical address of the boot information
; (Multiboot2 specification §3.3, "I386 machine state").  GRUB's GDT is not
; ours to keep: we load our own flat GDT and stack before touching anything,
; and i386_init() installs the IDT as its first step.  Only the BSP runs this.

%define MB2_MAGIC	0xE85250D6
%define MB2_ARCH_I386	0
%define BOOT_STACK_SIZE	16384

section .multiboot2
align 8
mb2_header:
	dd MB2_MAGIC
	dd MB2_ARCH_I386
	dd mb2_header_end - mb2_header
	dd -(MB2_MAGIC + MB2_ARCH_I386 + (mb2_header_end - mb2_header))
	; end tag
	dw 0, 0
	dd 8
mb2_header_end:

section .text.boot
global _start
extern i386_init
_start:
	cli
	cld
	lgdt	[boot_gdt_desc]
	jmp	0x08:.reload_cs
.reload_cs:
	mov	cx, 0x10
	mov	ds, cx
	mov	es, cx
	mov	ss, cx
	xor	cx, cx
	mov	fs, cx
	mov	gs, cx
	mov	esp, bsp_boot_stack_top
	xor	ebp, ebp		; ends the backtrace chain
	push	ebx			; boot information
	push	eax			; loader magic
	call	i386_init
.halt:
	cli
	hlt
	jmp	.halt

section .rodata
align 8
boot_gdt:
	dq 0
	dq 0x00CF9A000000FFFF		; 0x08: code, base 0, limit 4 GiB
	dq 0x00CF92000000FFFF		; 0x10: data, base 0, limit 4 GiB
boot_gdt_desc:
	dw boot_gdt_desc - boot_gdt - 1
	dd boot_gdt

section .bss
align 4096
global bsp_boot_stack, bsp_boot_stack_top
bsp_boot_stack:
	resb BOOT_STACK_SIZE
bsp_boot_stack_top:
