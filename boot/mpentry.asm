; Application processor start-up (Intel SDM Vol. 3 §8.4.4 "MP
; Initialization Example", MP Spec 1.4 Appendix B.4).
;
; ap_trampoline .. ap_trampoline_end is copied by mp_boot.c to the page at
; MP_TRAMPOLINE_PA (below 1 MiB, page aligned); a STARTUP IPI with vector
; MP_TRAMPOLINE_PA >> 12 starts the AP there in real mode with CS =
; vector << 8, IP = 0.  The code loads a temporary flat GDT, enters
; protected mode and jumps to ap_entry (linked into the kernel proper),
; which turns on the kernel's paging, picks this CPU's stack by its local
; APIC id and calls ap_main(cpuid).  Every AP runs this concurrently, so
; nothing here writes shared memory.

%define MP_TRAMPOLINE_PA	0x8000
%define CR0_PE			0x00000001
%define CR0_PG			0x80000000
%define TRAMP(x)		(MP_TRAMPOLINE_PA + ((x) - ap_trampoline))

section .rodata
bits 16
align 16
global ap_trampoline, ap_trampoline_end
ap_trampoline:
	cli
	cld
	mov	ax, cs
	mov	ds, ax
	lgdt	[tramp_gdt_desc - ap_trampoline]
	mov	eax, cr0
	or	eax, CR0_PE
	mov	cr0, eax
	jmp	dword 0x08:TRAMP(tramp_pm32)

bits 32
tramp_pm32:
	mov	ax, 0x10
	mov	ds, ax
	mov	es, ax
	mov	ss, ax
	xor	ax, ax
	mov	fs, ax
	mov	gs, ax
	mov	eax, ap_entry
	jmp	eax

align 8
tramp_gdt:
	dq 0
	dq 0x00CF9A000000FFFF		; 0x08: code, flat
	dq 0x00CF92000000FFFF		; 0x10: data, flat
tramp_gdt_desc:
	dw tramp_gdt_desc - tramp_gdt - 1
	dd TRAMP(tramp_gdt)
ap_trampoline_end:

section .text
bits 32
extern ap_boot_cr3, ap_boot_stack, ap_apicid_to_cpu, ap_lapic_id_reg, ap_main
global ap_entry
; Paging is still off here; the kernel page tables identity-map the kernel
; and map the local APIC, so everything below stays valid once CR0.PG is set.
ap_entry:
	mov	eax, [ap_boot_cr3]
	mov	cr3, eax
	mov	eax, cr0
	or	eax, CR0_PG
	mov	cr0, eax
	mov	eax, [ap_lapic_id_reg]
	mov	eax, [eax]
	shr	eax, 24
	movzx	ebx, byte [ap_apicid_to_cpu + eax]
	cmp	ebx, 0xFF		; an APIC id we did not ask to start
	je	.park
	mov	esp, [ap_boot_stack + ebx * 4]
	xor	ebp, ebp
	push	ebx
	call	ap_main
.park:
	cli
	hlt
	jmp	.park
