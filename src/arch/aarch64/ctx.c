/* AArch64: lay out a fresh stack for weft__ctx_switch (see switch.S). */
#include <stdint.h>
#include <string.h>

#include "arch/arch.h"

void weft__ctx_trampoline(void);

void weft__ctx_make(weft__ctx *ctx, void *lo, size_t size,
                    void (*entry)(void *), void *arg) {
  uintptr_t top = ((uintptr_t)lo + size) & ~(uintptr_t)15;
  uintptr_t *sp = (uintptr_t *)(top - 160); /* one switch frame */
  memset(sp, 0, 160);
  sp[0] = (uintptr_t)entry;                 /* x19 */
  sp[1] = (uintptr_t)arg;                   /* x20 */
  sp[10] = 0;                               /* x29: ends frame-pointer walks */
  sp[11] = (uintptr_t)weft__ctx_trampoline; /* x30 */
  ctx->sp = sp;
}
