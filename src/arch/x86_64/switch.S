/* x86-64 System V context switch.
 *
 * void weft__ctx_switch(weft__ctx *from, weft__ctx *to)
 *   Pushes the callee-saved registers (rbp rbx r12-r15) on the current
 *   stack, stores rsp in from->sp, loads to->sp, pops the same six
 *   registers from the new stack and returns into it. Everything else is
 *   caller-saved under the ABI, so the compiler has already spilled it.
 *   MXCSR and the x87 control word are not switched: goroutines share the
 *   floating-point environment of the thread (see weft.h).
 *
 * The CFI describes each push and pop, so gdb and perf unwind through a
 * switch on either stack: both stacks hold a frame of the same shape.
 *
 * weft__ctx_trampoline is where a new context starts (weft__ctx_make puts its
 * address as the return address of the first switch): it calls r12(r13).
 * Its CFI marks the return address undefined, which ends a backtrace there.
 */
	.text
	.globl	weft__ctx_switch
	.hidden	weft__ctx_switch
	.type	weft__ctx_switch, @function
	.p2align 4
weft__ctx_switch:
	.cfi_startproc
	pushq	%rbp
	.cfi_adjust_cfa_offset 8
	.cfi_rel_offset %rbp, 0
	pushq	%rbx
	.cfi_adjust_cfa_offset 8
	.cfi_rel_offset %rbx, 0
	pushq	%r12
	.cfi_adjust_cfa_offset 8
	.cfi_rel_offset %r12, 0
	pushq	%r13
	.cfi_adjust_cfa_offset 8
	.cfi_rel_offset %r13, 0
	pushq	%r14
	.cfi_adjust_cfa_offset 8
	.cfi_rel_offset %r14, 0
	pushq	%r15
	.cfi_adjust_cfa_offset 8
	.cfi_rel_offset %r15, 0
	movq	%rsp, (%rdi)
	movq	(%rsi), %rsp
	/* Now on the target stack, whose frame has the same layout. */
	popq	%r15
	.cfi_adjust_cfa_offset -8
	.cfi_restore %r15
	popq	%r14
	.cfi_adjust_cfa_offset -8
	.cfi_restore %r14
	popq	%r13
	.cfi_adjust_cfa_offset -8
	.cfi_restore %r13
	popq	%r12
	.cfi_adjust_cfa_offset -8
	.cfi_restore %r12
	popq	%rbx
	.cfi_adjust_cfa_offset -8
	.cfi_restore %rbx
	popq	%rbp
	.cfi_adjust_cfa_offset -8
	.cfi_restore %rbp
	ret
	.cfi_endproc
	.size	weft__ctx_switch, .-weft__ctx_switch

	.globl	weft__ctx_trampoline
	.hidden	weft__ctx_trampoline
	.type	weft__ctx_trampoline, @function
	.p2align 4
weft__ctx_trampoline:
	.cfi_startproc
	.cfi_undefined %rip
	movq	%r13, %rdi
	callq	*%r12
	ud2	/* entry must not return */
	.cfi_endproc
	.size	weft__ctx_trampoline, .-weft__ctx_trampoline

	.section .note.GNU-stack,"",@progbits
