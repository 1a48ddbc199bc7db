/* Portable context switch on ucontext (-DWEFT_SWITCH=ucontext).
 *
 * swapcontext also saves and restores the signal mask with a system call,
 * so this is one to two orders of magnitude slower than the assembly; it
 * exists for architectures without one and to cross-check the assembly. */
#include <stdint.h>

#include "arch/arch.h"

void weft__ctx_switch(weft__ctx *from, weft__ctx *to) {
  swapcontext(&from->uc, &to->uc);
}

/* makecontext passes int arguments only, so pointers travel as two halves. */
static void start(unsigned fhi, unsigned flo, unsigned ahi, unsigned alo) {
  void (*entry)(void *) =
      (void (*)(void *))(((uintptr_t)fhi << 32) | (uintptr_t)flo);
  void *arg = (void *)(((uintptr_t)ahi << 32) | (uintptr_t)alo);
  entry(arg);
  __builtin_trap(); /* entry must not return */
}

void weft__ctx_make(weft__ctx *ctx, void *lo, size_t size,
                    void (*entry)(void *), void *arg) {
  getcontext(&ctx->uc);
  ctx->uc.uc_stack.ss_sp = lo;
  ctx->uc.uc_stack.ss_size = size;
  ctx->uc.uc_link = NULL;
  uintptr_t f = (uintptr_t)entry, a = (uintptr_t)arg;
  makecontext(&ctx->uc, (void (*)(void))start, 4, (unsigned)(f >> 32),
              (unsigned)f, (unsigned)(a >> 32), (unsigned)a);
}
