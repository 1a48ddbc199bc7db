/* waiter.c -- parking on a weft__waiter (see waiter.h for the protocol).
 *
 * Goroutines park through weft__park; the hook that runs after the switch
 * first arms the deadline timer on the P it parked on, then releases the
 * queue lock. Arming after the switch means the timer can never ready a
 * goroutine that is still running; releasing the lock last means no waker
 * can see the waiter before its timer exists.
 *
 * Plain threads sleep on the state word itself with futex(2).
 */
#include "waiter.h"

#include "futex.h"

typedef struct park_args {
  weft__waiter *w;
  weft__spinlock *lk;
  int64_t deadline;
} park_args;

static void on_deadline(weft__timer *t) {
  weft__waiter *w =
      (weft__waiter *)((char *)t - offsetof(weft__waiter, timer));
  weft__g *g = w->g;
  uint32_t expected = WEFT__WAITING;
  /* acq_rel: pairs with the CAS in weft__wake; one of the two wins. */
  if (weft__cas_acqrel(&w->state, &expected, WEFT__TIMEDOUT))
    weft__ready(g, false); /* in firing order, behind the running work */
}

static void arm_and_unlock(weft__p *p, void *arg) {
  park_args *a = arg;
  if (a->deadline != WEFT_FOREVER) {
    a->w->timer.when = a->deadline;
    a->w->timer.fn = on_deadline;
    weft__timer_add(&p->timers, &a->w->timer);
  }
  if (a->lk)
    weft__spin_unlock(a->lk);
}

void weft__waiter_init(weft__waiter *w) {
  w->next = w->prev = NULL;
  w->g = weft__curg();
  atomic_init(&w->state, WEFT__WAITING);
  w->timer.idx = -1;
  w->timer.heap = NULL;
}

static uint32_t wait_thread(weft__waiter *w, weft__spinlock *lk,
                            int64_t deadline) {
  if (lk)
    weft__spin_unlock(lk);
  for (;;) {
    uint32_t s = weft__load_acquire(&w->state); /* pairs with wake's CAS */
    if (s != WEFT__WAITING)
      return s;
    if (weft__futex_wait(&w->state, WEFT__WAITING, deadline) == -ETIMEDOUT) {
      uint32_t expected = WEFT__WAITING;
      if (weft__cas_acqrel(&w->state, &expected, WEFT__TIMEDOUT))
        return WEFT__TIMEDOUT;
      return expected; /* a waker won the race */
    }
  }
}

uint32_t weft__wait(weft__waiter *w, weft__spinlock *lk, int64_t deadline,
                    const char *reason) {
  if (w->g == NULL)
    return wait_thread(w, lk, deadline);
  park_args a = {w, lk, deadline};
  weft__park(arm_and_unlock, &a, reason);
  if (deadline != WEFT_FOREVER)
    weft__timer_del(&w->timer); /* after this, on_deadline cannot touch w */
  return weft__load_acquire(&w->state); /* pairs with the winning CAS */
}

bool weft__wake(weft__waiter *w) {
  weft__g *g = w->g; /* read before the claim: w may vanish right after */
  uint32_t expected = WEFT__WAITING;
  if (!weft__cas_acqrel(&w->state, &expected, WEFT__WOKEN))
    return false;
  if (g)
    weft__ready(g, true);
  else
    weft__futex_wake(&w->state, 1);
  return true;
}
