/* waiter.h -- the one wait mechanism: every blocking call in weft parks on a
 * weft__waiter, whether the caller is a goroutine or a plain thread, with an
 * optional deadline. Channels, select, WaitGroup and sleep all use it.
 *
 * A waiter lives on the waiting party's own stack (as in libdill and musl).
 * A select parks once with one waiter per case; the case waiters point to
 * one owner record, which holds the parked party, the state and the
 * deadline. The owner is woken at most once:
 *
 *   WAITING --claim (CAS)--> CLAIMED --wake (release store)--> WOKEN
 *   WAITING --deadline (CAS)--> TIMEDOUT
 *
 * A waker first claims a waiter (under the lock of the queue it found it
 * in), then delivers (copies a value, sets success), then wakes it, after
 * dropping its locks. Between claim and wake the owner cannot return: a
 * goroutine is parked until weft__ready, and a thread waits for WOKEN. So a
 * waker and a deadline can race without a lost or double wake-up, and a
 * waker touches nothing of the object it took the waiter from after its
 * unlock (the object may be freed by the woken party).
 */
#ifndef WEFT_WAITER_H
#define WEFT_WAITER_H

#include <stddef.h>

#include "sched/runtime.h"
#include "sched/timerheap.h"

enum {
  WEFT__WAITING = 0,
  WEFT__CLAIMED = 1,
  WEFT__WOKEN = 2,
  WEFT__TIMEDOUT = 3,
};

typedef struct weft__waiter weft__waiter;
struct weft__waiter {
  weft__waiter *next, *prev; /* queue links; the queue's lock */
  weft__waiter *owner;       /* the record that parks; immutable */
  bool queued;               /* in a queue; the queue's lock */
  bool success;              /* set by the claimer before the wake */
  int index;                 /* a select's case index; immutable */
  void *elem;                /* a channel operation's value; immutable */
  /* Owner records only: */
  weft__g *g;                /* NULL: a plain thread; immutable */
  _Atomic uint32_t state;    /* see above; also the thread's futex word */
  weft__waiter *fired;       /* the claimed waiter; written before WOKEN */
  bool counted;              /* a thread in an endless wait, counted in
                                weft__dl (base/hooks.h); set before the
                                waiter is findable, read by the waker */
  bool lock_wait;            /* waits for a lock: woken with
                                WEFT__PUT_LOCAL (sched/sched.c); as counted */
  bool io_wait;              /* waits on an fd (io/): woken with
                                WEFT__PUT_TAIL, in the poller's order, and a
                                thread is never counted (the network may
                                wake it); as counted */
  weft__timer timer;         /* the deadline of a goroutine */
};

typedef struct weft__waitq {
  weft__waiter *head, *tail;
} weft__waitq;

/* Prepares an owner record for the calling goroutine or thread. */
WEFT_INTERNAL void weft__waiter_init(weft__waiter *w);
/* Prepares a case waiter (of a select) that parks through owner. */
WEFT_INTERNAL void weft__waiter_init_case(weft__waiter *w, weft__waiter *owner,
                                          int index, void *elem);

/* Blocks until the owner w is woken or its deadline passes. unlock(arg) is
 * called once the caller can be woken safely (a goroutine: after its context
 * is saved); it releases whatever made enqueueing safe. Returns WEFT__WOKEN
 * or WEFT__TIMEDOUT. Case waiters still queued must be removed by their
 * owner afterwards, under their queues' locks. */
WEFT_INTERNAL uint32_t weft__wait(weft__waiter *w, void (*unlock)(void *),
                                  void *arg, int64_t deadline,
                                  const char *reason);
/* weft__wait with one spinlock (or NULL) as what to release. */
WEFT_INTERNAL uint32_t weft__wait_locked(weft__waiter *w, weft__spinlock *lk,
                                         int64_t deadline, const char *reason);
/* The whole wait on one queue: w (an owner record, prepared) is queued on
 * q (at its front if front, as a waiter that already waited), whose lock
 * lk the caller holds; waits with lk released; on a timeout
 * takes w off q again under lk, unless a waker took it first. Returns as
 * weft__wait, with lk released and w off q; *dequeued (if not NULL) says
 * whether this call took it off (the waker did, otherwise). */
WEFT_INTERNAL uint32_t weft__wait_queued(weft__waitq *q, weft__waiter *w,
                                         bool front, weft__spinlock *lk,
                                         int64_t deadline, const char *reason,
                                         bool *dequeued);
/* Blocks forever, or until the deadline (a nil channel, a select with
 * nothing to wait for): -ETIMEDOUT. */
WEFT_INTERNAL int weft__block_until(int64_t deadline, const char *reason);

/* Whether a deadline has passed (never for WEFT_FOREVER). */
static inline bool weft__past(int64_t deadline) {
  return deadline != WEFT_FOREVER && deadline <= weft_now();
}

/* Claims w's owner for w. False if it was already claimed or timed out. */
WEFT_INTERNAL bool weft__claim(weft__waiter *w);
/* Wakes the owner of a waiter claimed with weft__claim. Call it after
 * dropping the locks of the object w was queued on. */
WEFT_INTERNAL void weft__wake_claimed(weft__waiter *w);
/* Wakes every waiter of list, claimed and linked through next (off their
 * queues, so the link is free); returns how many. After the locks. */
WEFT_INTERNAL int weft__wake_claimed_list(weft__waiter *list);
/* Claim and wake; false if the claim failed. */
WEFT_INTERNAL bool weft__wake(weft__waiter *w);

static inline void weft__waitq_push(weft__waitq *q, weft__waiter *w) {
  weft__assert(!w->queued);
  w->next = NULL;
  w->prev = q->tail;
  if (q->tail)
    q->tail->next = w;
  else
    q->head = w;
  q->tail = w;
  w->queued = true;
}

static inline void weft__waitq_push_front(weft__waitq *q, weft__waiter *w) {
  weft__assert(!w->queued);
  w->prev = NULL;
  w->next = q->head;
  if (q->head)
    q->head->prev = w;
  else
    q->tail = w;
  q->head = w;
  w->queued = true;
}

static inline void weft__waitq_remove(weft__waitq *q, weft__waiter *w) {
  weft__assert(w->queued);
  weft__assert(w->prev ? w->prev->next == w : q->head == w);
  weft__assert(w->next ? w->next->prev == w : q->tail == w);
  if (w->prev)
    w->prev->next = w->next;
  else
    q->head = w->next;
  if (w->next)
    w->next->prev = w->prev;
  else
    q->tail = w->prev;
  w->next = w->prev = NULL;
  w->queued = false;
}

/* Takes w off q if it is still there (its owner gave up waiting); true if
 * it was. q's lock held. */
static inline bool weft__waitq_unqueue(weft__waitq *q, weft__waiter *w) {
  if (!w->queued)
    return false;
  weft__waitq_remove(q, w);
  return true;
}

/* Removes and returns the first waiter that can be claimed, dropping the
 * ones that cannot (their owner fired elsewhere or timed out). */
static inline weft__waiter *weft__waitq_claim(weft__waitq *q) {
  for (weft__waiter *w = q->head; w; w = q->head) {
    weft__waitq_remove(q, w);
    if (weft__claim(w))
      return w;
  }
  return NULL;
}

#endif
