/* waitgroup.c -- sync.WaitGroup.
 *
 * The hazard that shapes this file: a WaitGroup often lives in the waiter's
 * stack frame, and the moment a Wait returns, that frame may be reused. So
 * the Add that brings the counter to zero must be finished with the
 * WaitGroup's memory before any Wait can return.
 * - An Add that leaves the counter above zero is one CAS (acq_rel: each
 *   Done releases, and the RMW chain carries every earlier Done to whoever
 *   reads the final zero).
 * - An Add that brings it to zero does so under lock, detaches the queued
 *   waiters, and unlocks; after that it touches only the detached waiters,
 *   which stay parked (and their records alive) until it wakes them.
 * - Wait returns at once only when it reads zero (acquire) and then the lock
 *   free (acquire, pairs with that Add's unlock): the zeroing Add is then
 *   wholly done. Otherwise it takes the lock, and either reads zero (the
 *   Add has unlocked) or queues a waiter that the zeroing Add will find.
 */
#include "wait/waiter.h"

typedef struct wg_impl {
  _Atomic int64_t count;
  weft__spinlock lock;  /* guards waiters */
  weft__waitq waiters;
} wg_impl;

_Static_assert(sizeof(wg_impl) <= sizeof(weft_waitgroup),
               "weft_waitgroup is too small");
_Static_assert(_Alignof(wg_impl) <= _Alignof(weft_waitgroup),
               "weft_waitgroup is under-aligned");

static _Noreturn void negative(const char *call) {
  weft__fatal("sync: negative WaitGroup counter in %s (goroutine %llu)",
              call, (unsigned long long)weft_goid());
}

static void wg_add(weft_waitgroup *wgp, int64_t delta, const char *call) {
  wg_impl *wg = (wg_impl *)wgp;
  if (delta < 0) /* Done -> Wait (Go's ReleaseMerge) */
    weft__race_release(wg);
  int64_t v = weft__load_relaxed(&wg->count);
  while (v + delta != 0) { /* fast path: the counter stays above zero */
    if (v + delta < 0)
      negative(call);
    if (weft__cas_acqrel(&wg->count, &v, v + delta))
      return;
  }
  weft__spin_lock(&wg->lock);
  v = weft__add_acqrel(&wg->count, delta) + delta;
  weft__waiter *w = NULL;
  if (v == 0) {
    w = wg->waiters.head;
    wg->waiters.head = wg->waiters.tail = NULL;
  }
  weft__spin_unlock(&wg->lock); /* the last touch of *wg */
  if (v < 0)
    negative(call);
  while (w) {
    weft__waiter *next = w->next; /* read before the wake frees w */
    weft__wake(w);
    w = next;
  }
}

/* The synchronization points touch nothing of *wg, which a returning Wait
 * may free. */
void weft_wg_add(weft_waitgroup *wg, int64_t delta) {
  weft__sched_point();
  wg_add(wg, delta, "weft_wg_add");
  weft__sched_point();
}

void weft_wg_done(weft_waitgroup *wg) {
  weft__sched_point();
  wg_add(wg, -1, "weft_wg_done");
  weft__sched_point();
}

static void wg_wait(wg_impl *wg);

void weft_wg_wait(weft_waitgroup *wgp) {
  weft__sched_point();
  wg_wait((wg_impl *)wgp);
  weft__race_acquire(wgp); /* every Done before the zero */
  weft__sched_point();
}

static void wg_wait(wg_impl *wg) {
  if (weft__load_acquire(&wg->count) == 0 && /* pairs with Add's RMW */
      weft__load_acquire(&wg->lock.locked) == 0) /* and with its unlock */
    return;
  weft__ensure_started();
  weft__waiter w;
  weft__waiter_init(&w);
  weft__spin_lock(&wg->lock);
  if (weft__load_acquire(&wg->count) == 0) {
    weft__spin_unlock(&wg->lock);
    return;
  }
  weft__waitq_push(&wg->waiters, &w);
  weft__wait_locked(&w, &wg->lock, WEFT_FOREVER, "sync.WaitGroup.Wait");
}
