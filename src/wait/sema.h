/* sema.h -- the runtime semaphore under Mutex, RWMutex and weft_sema (Go's
 * runtime/sema.go, on weft's waiters). */
#ifndef WEFT_SEMA_H
#define WEFT_SEMA_H

#include "wait/waiter.h"

typedef struct weft__sema {
  _Atomic uint32_t count;  /* units available; CAS (acq_rel) to take */
  _Atomic uint32_t nwait;  /* waiters queued; changed under lock (seq_cst) */
  weft__spinlock lock;     /* guards q */
  weft__waitq q;
} weft__sema;

/* Flags of weft__sema_acquire. */
enum {
  WEFT__SEMA_LIFO = 1, /* queue at the front (a waiter that already waited,
                          as Go's mutex does) */
  WEFT__SEMA_LOCK = 2, /* the semaphore is a lock's (Mutex, RWMutex): the
                          waiter is woken with WEFT__PUT_LOCAL
                          (sched/sched.c) */
};

/* Takes one unit, parking while there is none; flags as above. Returns 0,
 * or -ETIMEDOUT at the deadline. */
WEFT_INTERNAL int weft__sema_acquire(weft__sema *s, int flags, int64_t deadline,
                                     const char *reason);
/* Gives one unit back and wakes a waiter if there is one. handoff: the
 * unit goes straight to that waiter, which then runs next on this P (Go's
 * starvation-mode hand-off). */
WEFT_INTERNAL void weft__sema_release(weft__sema *s, bool handoff);
/* Takes a unit only if one is free now. */
WEFT_INTERNAL bool weft__sema_try(weft__sema *s);

#endif
