/* x86-64: lay out a fresh stack for weft__ctx_switch (see switch.S). */
#include <stdint.h>

#include "arch/arch.h"

void weft__ctx_trampoline(void);

void weft__ctx_make(weft__ctx *ctx, void *lo, size_t size,
                    void (*entry)(void *), void *arg) {
  uintptr_t top = ((uintptr_t)lo + size) & ~(uintptr_t)15;
  /* Nine slots: six registers, the return address, and two zero words so
   * that the trampoline starts with rsp 16-byte aligned, as a call needs. */
  uintptr_t *sp = (uintptr_t *)(top - 9 * sizeof(uintptr_t));
  sp[0] = 0;                               /* r15 */
  sp[1] = 0;                               /* r14 */
  sp[2] = (uintptr_t)arg;                  /* r13 */
  sp[3] = (uintptr_t)entry;                /* r12 */
  sp[4] = 0;                               /* rbx */
  sp[5] = 0;                               /* rbp: ends frame-pointer walks */
  sp[6] = (uintptr_t)weft__ctx_trampoline; /* return address */
  sp[7] = 0;
  sp[8] = 0;
  ctx->sp = sp;
}
