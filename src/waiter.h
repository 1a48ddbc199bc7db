/* waiter.h -- the one wait mechanism: every blocking call in weft parks on a
 * weft__waiter, whether the caller is a goroutine or a plain thread, with an
 * optional deadline.
 *
 * A waiter lives on the waiting party's own stack (as in libdill and musl).
 * It is woken at most once: its state goes from WAITING to WOKEN (a waker
 * won) or to TIMEDOUT (its deadline won) by a single CAS, so a waker and a
 * deadline can race without a lost or double wake-up. Queues of waiters are
 * protected by the lock of the object they wait on.
 */
#ifndef WEFT_WAITER_H
#define WEFT_WAITER_H

#include <stddef.h>

#include "runtime.h"
#include "timer.h"

enum { WEFT__WAITING = 0, WEFT__WOKEN = 1, WEFT__TIMEDOUT = 2 };

typedef struct weft__waiter {
  struct weft__waiter *next, *prev; /* queue links; the queue's lock */
  weft__g *g;                       /* NULL: a plain thread; immutable */
  _Atomic uint32_t state;           /* WAITING -> WOKEN | TIMEDOUT by CAS
                                       (acq_rel); also the thread's futex */
  weft__timer timer;                /* deadline of a goroutine */
} weft__waiter;

typedef struct weft__waitq {
  weft__waiter *head, *tail;
} weft__waitq;

/* Prepares a waiter for the calling goroutine or thread. */
WEFT_INTERNAL void weft__waiter_init(weft__waiter *w);

/* Blocks until weft__wake(w) or the deadline. lk (may be NULL) is held on
 * entry and released once the caller can be woken safely; it is not held on
 * return. Returns WEFT__WOKEN or WEFT__TIMEDOUT. A timed-out waiter that is
 * still queued must be removed by its owner, under the queue's lock. */
WEFT_INTERNAL uint32_t weft__wait(weft__waiter *w, weft__spinlock *lk,
                                  int64_t deadline, const char *reason);

/* Claims w and makes its owner runnable. Returns false if w had already been
 * woken or timed out. Reads nothing of w after the claim, because the owner
 * may return at once. */
WEFT_INTERNAL bool weft__wake(weft__waiter *w);

static inline void weft__waitq_push(weft__waitq *q, weft__waiter *w) {
  w->next = NULL;
  w->prev = q->tail;
  if (q->tail)
    q->tail->next = w;
  else
    q->head = w;
  q->tail = w;
}

static inline void weft__waitq_remove(weft__waitq *q, weft__waiter *w) {
  if (w->prev)
    w->prev->next = w->next;
  else
    q->head = w->next;
  if (w->next)
    w->next->prev = w->prev;
  else
    q->tail = w->prev;
  w->next = w->prev = NULL;
}

#endif
