/* atomic.h -- atomics spelled with their memory order (mimalloc style).
 *
 * Every atomic access in weft names its order through these macros, and the
 * comment beside it names the access it pairs with.
 */
#ifndef WEFT_ATOMIC_H
#define WEFT_ATOMIC_H

#include <stdatomic.h>

#define weft__load_relaxed(p) atomic_load_explicit((p), memory_order_relaxed)
#define weft__load_acquire(p) atomic_load_explicit((p), memory_order_acquire)
#define weft__load_seqcst(p) atomic_load_explicit((p), memory_order_seq_cst)
#define weft__store_relaxed(p, v) atomic_store_explicit((p), (v), memory_order_relaxed)
#define weft__store_release(p, v) atomic_store_explicit((p), (v), memory_order_release)
#define weft__store_seqcst(p, v) atomic_store_explicit((p), (v), memory_order_seq_cst)
#define weft__add_relaxed(p, v) atomic_fetch_add_explicit((p), (v), memory_order_relaxed)
#define weft__add_acqrel(p, v) atomic_fetch_add_explicit((p), (v), memory_order_acq_rel)
#define weft__add_seqcst(p, v) atomic_fetch_add_explicit((p), (v), memory_order_seq_cst)
#define weft__xchg_acqrel(p, v) atomic_exchange_explicit((p), (v), memory_order_acq_rel)
#define weft__cas_acqrel(p, e, v)                                             \
  atomic_compare_exchange_strong_explicit((p), (e), (v), memory_order_acq_rel, \
                                          memory_order_acquire)
#define weft__cas_release(p, e, v)                                            \
  atomic_compare_exchange_strong_explicit((p), (e), (v), memory_order_release, \
                                          memory_order_relaxed)

/* A full fence, for the Dekker-style pairs of the scheduler. gcc refuses
 * atomic_thread_fence under -fsanitize=thread (TSan does not model fences);
 * there a seq_cst RMW stands in, which is a full barrier on every target. */
static inline void weft__fence_seqcst(void) {
#if defined(__SANITIZE_THREAD__) && !defined(__clang__)
  static _Atomic int word;
  atomic_fetch_add_explicit(&word, 0, memory_order_seq_cst);
#else
  atomic_thread_fence(memory_order_seq_cst);
#endif
}

static inline void weft__cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ __volatile__("yield" ::: "memory");
#endif
}

#endif
