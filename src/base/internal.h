/* internal.h -- small shared pieces of the runtime: atomics spelled with
 * their memory order (mimalloc style), a spinlock, and fatal errors.
 *
 * Every atomic access in weft names its order through these macros, and the
 * comment beside it names the access it pairs with.
 */
#ifndef WEFT_INTERNAL_H
#define WEFT_INTERNAL_H

#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "weft.h"

#define WEFT_INTERNAL __attribute__((visibility("hidden")))
#define weft__likely(x) __builtin_expect(!!(x), 1)
#define weft__unlikely(x) __builtin_expect(!!(x), 0)
#define WEFT_NOINLINE __attribute__((noinline))

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

/* A test-and-test-and-set lock for short critical sections (queue splicing,
 * heap updates). Holders never block or switch goroutines while holding one,
 * except through weft__park's hand-off, which releases it after the switch.
 * After a few hundred spins it yields the CPU: the holder may be a preempted
 * OS thread. */
typedef struct weft__spinlock {
  atomic_int locked; /* 0 free, 1 held; acquire on lock, release on unlock */
} weft__spinlock;
#define WEFT__SPINLOCK_INIT {0}

static inline bool weft__spin_trylock(weft__spinlock *l) {
  int expected = 0;
  return weft__load_relaxed(&l->locked) == 0 &&
         atomic_compare_exchange_weak_explicit(&l->locked, &expected, 1,
                                               memory_order_acquire,
                                               memory_order_relaxed);
}

static inline void weft__spin_lock(weft__spinlock *l) {
  for (unsigned n = 0; !weft__spin_trylock(l); n++) {
    if (n < 128)
      weft__cpu_relax();
    else
      sched_yield();
  }
}

static inline void weft__spin_unlock(weft__spinlock *l) {
  weft__store_release(&l->locked, 0); /* pairs with the acquire in trylock */
}

/* Prints "weft: <message>" to stderr and aborts. Used for the misuses that
 * Go turns into panics. Async-signal-safe (write + abort). */
WEFT_INTERNAL _Noreturn void weft__fatal(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

/* Runtime start-up, idempotent and cheap once started. */
WEFT_INTERNAL void weft__ensure_started(void);

#endif
