; LWKT context switch (LWKT-SPEC §4).
;
; cpu_lwkt_switch(ntd) saves the callee-saved registers and EFLAGS of the
; current thread on its own stack, stores %esp in td_sp, loads ntd's %esp,
; makes ntd current (gd_curthread at %fs:4) and restores ntd's registers.
; TDF_RUNNING moves from the old thread to the new one only once we are off
; the old stack, so another CPU that sees it clear may free that stack.
; Called by the owning CPU inside a critical section; interrupts are
; disabled across the stack swap and each thread gets its own EFLAGS back.
;
; Frame at td_sp (struct switchframe in cpu_thread.c): eflags, edi, esi,
; ebx, ebp, return address.

%define TD_SP		0		; offsetof(struct thread, td_sp)
%define TD_FLAGS	4		; offsetof(struct thread, td_flags)
%define TDF_RUNNING	0x0001
%define GD_CURTHREAD	4		; offsetof(struct globaldata, gd_curthread)

section .text
bits 32
global cpu_lwkt_switch, cpu_thread_trampoline
extern lwkt_thread_start

cpu_lwkt_switch:
	mov	eax, [esp + 4]		; ntd
	push	ebp
	push	ebx
	push	esi
	push	edi
	pushfd
	cli
	mov	ecx, [fs:GD_CURTHREAD]	; old thread
	mov	[ecx + TD_SP], esp
	mov	esp, [eax + TD_SP]
	mov	[fs:GD_CURTHREAD], eax
	and	dword [ecx + TD_FLAGS], ~TDF_RUNNING
	or	dword [eax + TD_FLAGS], TDF_RUNNING
	popfd
	pop	edi
	pop	esi
	pop	ebx
	pop	ebp
	ret

; First instructions of every new thread: its switch frame "returns" here.
; lwkt_thread_start() leaves the start-up critical section, enables
; interrupts, runs td_func(td_arg) and exits; it never returns.
cpu_thread_trampoline:
	xor	ebp, ebp		; end of the backtrace chain
	call	lwkt_thread_start
.dead:
	cli
	hlt
	jmp	.dead
