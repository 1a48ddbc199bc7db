/* spinlock.h -- a test-and-test-and-set lock for short critical sections
 * (queue splicing, heap updates), and the lock order.
 *
 * Rules (src/HACKING.md, "Locks")
 * - A holder never blocks and never switches goroutines, except through
 *   weft__park's hand-off: the parking goroutine's pending hook releases
 *   its locks on the same thread, right after its context is saved.
 * - Locks are taken in rank order, lowest first (weft__spin_rank). Every
 *   rank but the object rank is one lock, held alone at its rank. Object
 *   locks nest only in a fixed order: by address (select), or by
 *   ownership (a timer's lock, then its channel's; a context's, then its
 *   done channel's), never the other way round. The debug checks cover
 *   the ranks, not the order among object locks.
 * - After SPIN_BEFORE_YIELD failed tries the waiter yields the CPU: the
 *   holder may be a preempted OS thread.
 *
 * Debug builds (WEFT_DEBUG_CHECKS) count the locks each thread holds per
 * rank and abort on an out-of-order acquire, an unlock of a rank not held,
 * and a goroutine resumed on a thread that still holds a lock. The counts
 * live in out-of-line functions: a goroutine may resume on another thread
 * in the middle of a function, and an inlined thread-local address would
 * be the old thread's.
 */
#ifndef WEFT_SPINLOCK_H
#define WEFT_SPINLOCK_H

#include <sched.h>

#include "base/atomic.h"
#include "base/defs.h"

typedef struct weft__spinlock {
  atomic_int locked; /* 0 free, 1 held; acquire on lock, release on unlock */
} weft__spinlock;
#define WEFT__SPINLOCK_INIT {0}

/* The lock order, lowest first. */
typedef enum weft__spin_rank {
  WEFT__RANK_OBJECT,     /* a channel's, semaphore's, context's, timer's,
                            Cond's, WaitGroup's: the user's objects */
  WEFT__RANK_POLL,       /* an fd's poll descriptor (io/pd.h): taken under
                            a context's done channel */
  WEFT__RANK_THREADWAIT, /* debug/threadwait.c's list of blocked threads */
  WEFT__RANK_STACKS,     /* a stack size class (sched/stack.c) */
  WEFT__RANK_SCHED,      /* sched.lock: the global queue and idle Ps */
  WEFT__RANK_TIMERS,     /* a P's timer heap (sched/timerheap.c) */
  WEFT__RANK_COUNT
} weft__spin_rank;

#define WEFT__SPIN_BEFORE_YIELD 128

WEFT_INTERNAL void weft__spin_note_lock(weft__spin_rank rank);
WEFT_INTERNAL void weft__spin_note_trylock(weft__spin_rank rank);
WEFT_INTERNAL void weft__spin_note_unlock(weft__spin_rank rank);
/* Aborts, naming where, if the calling thread holds any spinlock. */
WEFT_INTERNAL void weft__spin_assert_none_held(const char *where);

static inline bool weft__spin_try_raw(weft__spinlock *l) {
  int expected = 0;
  return weft__load_relaxed(&l->locked) == 0 &&
         atomic_compare_exchange_weak_explicit(&l->locked, &expected, 1,
                                               memory_order_acquire,
                                               memory_order_relaxed);
}

static inline bool weft__spin_trylock_ranked(weft__spinlock *l,
                                             weft__spin_rank rank) {
  bool ok = weft__spin_try_raw(l);
  if (WEFT__CHECKS && ok)
    weft__spin_note_trylock(rank);
  return ok;
}

static inline void weft__spin_lock_ranked(weft__spinlock *l,
                                          weft__spin_rank rank) {
  if (WEFT__CHECKS)
    weft__spin_note_lock(rank); /* before spinning: a wrong order may
                                   deadlock here */
  for (unsigned n = 0; !weft__spin_try_raw(l); n++) {
    if (n < WEFT__SPIN_BEFORE_YIELD)
      weft__cpu_relax();
    else
      sched_yield();
  }
}

static inline void weft__spin_unlock_ranked(weft__spinlock *l,
                                            weft__spin_rank rank) {
  if (WEFT__CHECKS)
    weft__spin_note_unlock(rank);
  weft__store_release(&l->locked, 0); /* pairs with the acquire in trylock */
}

/* The object rank, which most locks have. */
static inline bool weft__spin_trylock(weft__spinlock *l) {
  return weft__spin_trylock_ranked(l, WEFT__RANK_OBJECT);
}
static inline void weft__spin_lock(weft__spinlock *l) {
  weft__spin_lock_ranked(l, WEFT__RANK_OBJECT);
}
static inline void weft__spin_unlock(weft__spinlock *l) {
  weft__spin_unlock_ranked(l, WEFT__RANK_OBJECT);
}

#endif
