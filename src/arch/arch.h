/* arch.h -- the context-switch contract, implemented once per architecture
 * (arch/x86_64/switch.S, arch/aarch64/switch.S) with a portable fallback
 * (arch/ucontext/switch.c, -DWEFT_SWITCH=ucontext).
 *
 * A weft__ctx is a saved execution context. The assembly versions save only
 * the callee-saved registers, on the stack being left, and keep the stack
 * pointer in ctx->sp; a switch is a handful of pushes, two stores and a ret.
 */
#ifndef WEFT_ARCH_H
#define WEFT_ARCH_H

#include <stddef.h>

#ifdef WEFT_SWITCH_UCONTEXT
#include <ucontext.h>
typedef struct weft__ctx {
  ucontext_t uc;
} weft__ctx;
#else
typedef struct weft__ctx {
  void *sp; /* saved stack pointer; callee-saved registers sit below it */
} weft__ctx;
#endif

/* Saves the running context into *from and resumes *to. Returns when some
 * other switch resumes *from. from and to must differ. */
void weft__ctx_switch(weft__ctx *from, weft__ctx *to);

/* Prepares *ctx so that the first switch to it calls entry(arg) on the stack
 * [lo, lo + size). entry must never return. */
void weft__ctx_make(weft__ctx *ctx, void *lo, size_t size,
                    void (*entry)(void *), void *arg);

#endif
