/* waitgroup.c -- sync.WaitGroup.
 *
 * count is the counter. Add changes it with one atomic RMW (acq_rel: each
 * Done releases, and the RMW chain carries every earlier Done to whoever
 * reads the final zero). A Wait that reads zero with acquire returns at
 * once. Otherwise it takes lock, re-checks, and queues a waiter; the Add
 * that reaches zero takes lock after its RMW and wakes the whole queue.
 * Either the waiter's check under lock sees zero, or its waiter is queued
 * before that Add takes lock: no lost wake-up.
 *
 * Go packs a waiter count into the counter word to let Add skip the lock;
 * here Add takes the lock only on the transition to zero.
 */
#include "waiter.h"

typedef struct wg_impl {
  _Atomic int64_t count;
  weft__spinlock lock;  /* guards waiters */
  weft__waitq waiters;
} wg_impl;

_Static_assert(sizeof(wg_impl) <= sizeof(weft_waitgroup),
               "weft_waitgroup is too small");
_Static_assert(_Alignof(wg_impl) <= _Alignof(weft_waitgroup),
               "weft_waitgroup is under-aligned");

static void wg_add(weft_waitgroup *wgp, int64_t delta, const char *call) {
  wg_impl *wg = (wg_impl *)wgp;
  int64_t v = weft__add_acqrel(&wg->count, delta) + delta;
  if (v < 0)
    weft__fatal("sync: negative WaitGroup counter in %s (goroutine %llu)",
                call, (unsigned long long)weft_goid());
  if (v > 0 || delta == 0)
    return;
  weft__spin_lock(&wg->lock);
  weft__waiter *w = NULL;
  if (weft__load_relaxed(&wg->count) == 0) {
    w = wg->waiters.head;
    wg->waiters.head = wg->waiters.tail = NULL;
  }
  weft__spin_unlock(&wg->lock);
  while (w) {
    weft__waiter *next = w->next; /* read before the wake frees w */
    weft__wake(w);
    w = next;
  }
}

void weft_wg_add(weft_waitgroup *wg, int64_t delta) {
  wg_add(wg, delta, "weft_wg_add");
}

void weft_wg_done(weft_waitgroup *wg) { wg_add(wg, -1, "weft_wg_done"); }

void weft_wg_wait(weft_waitgroup *wgp) {
  wg_impl *wg = (wg_impl *)wgp;
  if (weft__load_acquire(&wg->count) == 0) /* pairs with Add's RMW */
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
  weft__wait(&w, &wg->lock, WEFT_FOREVER, "sync.WaitGroup.Wait");
}
