; Interrupt and exception entry stubs for all 256 vectors (Intel SDM Vol. 3
; §6.12 "Exception and Interrupt Handling", §6.13 error codes).
;
; Every stub makes the frame uniform (pushes a 0 where the CPU pushed no
; error code), pushes its vector number and joins intr_common, which saves
; the general registers (struct intrframe in i386_var.h) and calls
; trap(frame).  We only ever run in ring 0, so no segment registers change:
; %fs keeps pointing at this CPU's globaldata.

section .text
bits 32
extern trap

%macro VECTOR_NOERR 1
vec_%1:
	push	dword 0
	push	dword %1
	jmp	intr_common
%endmacro

%macro VECTOR_ERR 1
vec_%1:
	push	dword %1
	jmp	intr_common
%endmacro

%assign v 0
%rep 256
%if v == 8 || (v >= 10 && v <= 14) || v == 17 || v == 21 || v == 29 || v == 30
	VECTOR_ERR v
%else
	VECTOR_NOERR v
%endif
%assign v v + 1
%endrep

intr_common:
	pushad
	cld
	push	esp			; struct intrframe *
	call	trap
	add	esp, 4
	popad
	add	esp, 8			; vector number, error code
	iretd

section .rodata
align 4
global intr_vectors
intr_vectors:
%assign v 0
%rep 256
	dd vec_ %+ v
%assign v v + 1
%endrep
