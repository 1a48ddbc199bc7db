/* cond.c -- sync.Cond, with Go's ticket scheme (runtime notifyList).
 *
 * A waiter takes a ticket (wait++, atomic) while it still holds the user's
 * mutex, then unlocks the mutex and parks unless its ticket has already
 * been notified. Signal notifies the oldest unnotified ticket; broadcast
 * all of them. So a signal sent between the waiter's unlock and its park
 * is not lost: the waiter sees its ticket notified and does not park.
 * wait is an atomic (acq_rel RMW); notify and q are guarded by lock.
 */
#include "wait/waiter.h"

typedef struct cond_impl {
  _Atomic uint32_t wait;  /* next ticket to hand out */
  uint32_t notify;        /* next ticket to notify; lock */
  weft__spinlock lock;
  weft__waitq q;          /* parked waiters, index = ticket; lock */
} cond_impl;

_Static_assert(sizeof(cond_impl) <= sizeof(weft_cond), "weft_cond too small");
_Static_assert(_Alignof(cond_impl) <= _Alignof(weft_cond),
               "weft_cond under-aligned");

/* Ticket a comes before b, with wrap-around. */
static bool before(uint32_t a, uint32_t b) { return (int32_t)(a - b) < 0; }

static void cond_signal(cond_impl *c);
static void cond_broadcast(cond_impl *c);

void weft_cond_wait(weft_cond *cp, weft_mutex *m) {
  cond_impl *c = (cond_impl *)cp;
  weft__sched_point(); /* the exit point is weft_mutex_lock's */
  uint32_t t = weft__add_acqrel(&c->wait, 1);
  weft_mutex_unlock(m);
  weft__ensure_started();
  weft__spin_lock(&c->lock);
  if (before(t, c->notify)) { /* already signalled */
    weft__spin_unlock(&c->lock);
  } else {
    weft__waiter w;
    weft__waiter_init(&w);
    w.index = (int)t;
    weft__waitq_push(&c->q, &w);
    weft__wait_locked(&w, &c->lock, WEFT_FOREVER, "sync.Cond.Wait");
  }
  weft__race_acquire(c); /* signal -> wake (the mutex orders the rest) */
  weft_mutex_lock(m);
}

void weft_cond_signal(weft_cond *cp) {
  weft__sched_point();
  cond_signal((cond_impl *)cp);
  weft__sched_point();
}

static void cond_signal(cond_impl *c) {
  weft__race_release(c);
  weft__spin_lock(&c->lock);
  uint32_t t = c->notify;
  if (t == weft__load_relaxed(&c->wait)) { /* no waiter without a signal */
    weft__spin_unlock(&c->lock);
    return;
  }
  c->notify = t + 1;
  weft__waiter *w = c->q.head;
  while (w && (uint32_t)w->index != t)
    w = w->next;
  if (w) {
    weft__waitq_remove(&c->q, w);
    weft__claim(w);
  }
  weft__spin_unlock(&c->lock);
  if (w) /* else the waiter has its ticket but has not parked yet */
    weft__wake_claimed(w);
}

void weft_cond_broadcast(weft_cond *cp) {
  weft__sched_point();
  cond_broadcast((cond_impl *)cp);
  weft__sched_point();
}

static void cond_broadcast(cond_impl *c) {
  weft__race_release(c);
  weft__spin_lock(&c->lock);
  c->notify = weft__load_relaxed(&c->wait);
  weft__waiter *w = c->q.head;
  c->q.head = c->q.tail = NULL;
  for (weft__waiter *x = w; x; x = x->next) {
    x->queued = false;
    weft__claim(x);
  }
  weft__spin_unlock(&c->lock);
  while (w) {
    weft__waiter *next = w->next; /* read before the wake */
    weft__wake_claimed(w);
    w = next;
  }
}
