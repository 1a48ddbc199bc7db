/* sema.c -- a counting semaphore with a wait queue (Go's semacquire and
 * semrelease).
 *
 * count holds the free units; anyone may take one with a CAS. A waiter
 * queues under lock after announcing itself in nwait and re-checking count;
 * a releaser adds to count and only then looks at nwait. Both sides are
 * seq_cst, so either the waiter sees the unit or the releaser sees the
 * waiter (no lost wake-up). A woken waiter competes for the unit again,
 * unless the releaser handed it over directly (success, Go's ticket).
 */
#include <errno.h>

#include "wait/sema.h"

bool weft__sema_try(weft__sema *s) {
  uint32_t v = weft__load_relaxed(&s->count);
  while (v > 0)
    if (weft__cas_acqrel(&s->count, &v, v - 1))
      return true;
  return false;
}

int weft__sema_acquire(weft__sema *s, int flags, int64_t deadline,
                       const char *reason) {
  if (weft__sema_try(s))
    return 0;
  weft__ensure_started();
  for (;;) {
    weft__spin_lock(&s->lock);
    weft__add_seqcst(&s->nwait, 1);
    bool got = weft__sema_try(s);
    if (got || weft__past(deadline)) {
      weft__add_seqcst(&s->nwait, -1);
      weft__spin_unlock(&s->lock);
      return got ? 0 : -ETIMEDOUT; /* a unit taken is never reported lost */
    }
    weft__waiter w;
    weft__waiter_init(&w);
    w.lock_wait = flags & WEFT__SEMA_LOCK;
    bool dequeued;
    uint32_t st = weft__wait_queued(&s->q, &w, flags & WEFT__SEMA_LIFO,
                                    &s->lock, deadline, reason, &dequeued);
    if (dequeued) /* else the releaser took w off, and counted it */
      weft__add_seqcst(&s->nwait, -1);
    if (st == WEFT__TIMEDOUT)
      return -ETIMEDOUT;
    if (w.success || weft__sema_try(s))
      return 0; /* handed over, or won the race for the unit */
  }
}

void weft__sema_release(weft__sema *s, bool handoff) {
  weft__add_seqcst(&s->count, 1);
  if (weft__load_seqcst(&s->nwait) == 0)
    return;
  weft__spin_lock(&s->lock);
  weft__waiter *w;
  /* Drop waiters that timed out; claim the first that did not. */
  while ((w = s->q.head) != NULL) {
    weft__waitq_remove(&s->q, w);
    weft__add_seqcst(&s->nwait, -1);
    if (weft__claim(w))
      break;
  }
  bool ticket = w && handoff && weft__sema_try(s);
  if (w)
    w->success = ticket;
  weft__spin_unlock(&s->lock);
  if (w == NULL)
    return;
  weft__wake_claimed(w);
  if (ticket && weft__curg())
    weft_yield(); /* let the new owner run now, from our runnext */
}
