/* waiter.c -- parking on a weft__waiter (see waiter.h for the protocol).
 *
 * Goroutines park through weft__park; the hook that runs after the switch
 * first arms the deadline timer on the P it parked on, then calls unlock.
 * Arming after the switch means the timer can never ready a goroutine that
 * is still running; unlocking last means no waker can find a waiter before
 * its timer exists.
 *
 * Plain threads sleep on the owner's state word itself with futex(2).
 */
#include "wait/waiter.h"

#include "base/futex.h"

typedef struct park_args {
  weft__waiter *w;
  void (*unlock)(void *);
  void *arg;
  int64_t deadline;
} park_args;

static bool on_deadline(weft__timer *t) {
  weft__waiter *w =
      (weft__waiter *)((char *)t - offsetof(weft__waiter, timer));
  weft__g *g = w->g;
  uint32_t expected = WEFT__WAITING;
  /* acq_rel: pairs with weft__claim's CAS; exactly one of the two wins. */
  if (weft__cas_acqrel(&w->state, &expected, WEFT__TIMEDOUT))
    weft__ready(g, WEFT__PUT_TAIL); /* in firing order, behind the work */
  return false;
}

static void arm_and_unlock(weft__p *p, void *arg) {
  /* Copy everything first: once the timer is in a heap, another P may fire
   * it (spinning Ps run busy Ps' timers), and the goroutine may resume and
   * reuse the stack that holds *a. It cannot get past its own locks, which
   * are released last, from the copies. */
  park_args a = *(park_args *)arg;
  if (a.deadline != WEFT_FOREVER) {
    a.w->timer.when = a.deadline;
    a.w->timer.fn = on_deadline;
    if (p)
      weft__timer_add(&p->timers, &a.w->timer);
    else /* a goroutine that lost its P to a raw call parked */
      weft__timer_add_any(&a.w->timer);
  }
  if (a.unlock)
    a.unlock(a.arg);
}

static void waiter_clear(weft__waiter *w) {
  w->next = w->prev = NULL;
  w->queued = false;
  w->success = false;
  w->g = NULL;
  w->fired = NULL;
  w->counted = false;
  w->lock_wait = false;
  w->io_wait = false;
  atomic_init(&w->state, WEFT__WAITING);
  w->timer.idx = -1;
  w->timer.heap = NULL;
}

void weft__waiter_init(weft__waiter *w) {
  waiter_clear(w);
  w->owner = w;
  w->index = 0;
  w->elem = NULL;
  w->g = weft__curg();
}

void weft__waiter_init_case(weft__waiter *w, weft__waiter *owner, int index,
                            void *elem) {
  waiter_clear(w);
  w->owner = owner;
  w->index = index;
  w->elem = elem;
}

/* How long a plain thread spins for its wake before it sleeps: a partner
 * goroutine on a running P usually answers within a few microseconds, and
 * a futex sleep and wake-up costs more than that (glibc's adaptive mutex
 * and Go's spinning Ms make the same bet). Short, since on a busy machine
 * the spinner takes a CPU from the thread it waits for. */
#define THREAD_SPIN_NS (5 * WEFT_US)
#define THREAD_SPIN_CHECK 16 /* state loads between clock reads */

/* Spins until w's state leaves WAITING and CLAIMED, or THREAD_SPIN_NS or
 * the deadline passes; returns the state last seen. */
static uint32_t spin_for_wake(weft__waiter *w, int64_t deadline) {
  int64_t until = weft_now() + THREAD_SPIN_NS;
  if (deadline < until)
    until = deadline;
  for (;;) {
    for (int i = 0; i < THREAD_SPIN_CHECK; i++) {
      uint32_t s = weft__load_acquire(&w->state); /* pairs with wake */
      if (s == WEFT__WOKEN || s == WEFT__TIMEDOUT)
        return s;
      weft__cpu_relax();
    }
    if (weft_now() >= until)
      return weft__load_acquire(&w->state);
  }
}

static uint32_t wait_thread(weft__waiter *w, int64_t deadline) {
  uint32_t first = spin_for_wake(w, deadline);
  if (first == WEFT__WOKEN || first == WEFT__TIMEDOUT)
    return first;
  for (;;) {
    uint32_t s = weft__load_acquire(&w->state); /* pairs with wake's store */
    if (s == WEFT__WOKEN || s == WEFT__TIMEDOUT)
      return s;
    /* Once claimed, the wake is coming: wait without a deadline. */
    int64_t until = s == WEFT__WAITING ? deadline : WEFT_FOREVER;
    if (weft__futex_wait(&w->state, s, until) == -ETIMEDOUT) {
      uint32_t expected = WEFT__WAITING;
      if (weft__cas_acqrel(&w->state, &expected, WEFT__TIMEDOUT))
        return WEFT__TIMEDOUT;
    }
  }
}

uint32_t weft__wait(weft__waiter *w, void (*unlock)(void *), void *arg,
                    int64_t deadline, const char *reason) {
  if (w->g == NULL) {
    if (weft__unlikely(weft__forked_child))
      weft__fork_misuse(reason); /* nobody is left to wake it */
    /* Counted before the unlock that lets wakers find w (base/hooks.h). */
    w->counted = deadline == WEFT_FOREVER && !w->io_wait;
    if (w->counted)
      weft__dl_thread_blocks();
    weft__thread_wait tw; /* for the dump: where this thread waits */
    weft__thread_wait_enter(&tw, reason,
                            (uintptr_t)__builtin_frame_address(0));
    if (unlock)
      unlock(arg);
    uint32_t st = wait_thread(w, deadline);
    weft__thread_wait_leave(&tw);
    return st;
  }
  park_args a = {w, unlock, arg, deadline};
  weft__park(arm_and_unlock, &a, reason);
  if (deadline != WEFT_FOREVER)
    weft__timer_del(&w->timer); /* after this, on_deadline cannot touch w */
  return weft__load_acquire(&w->state); /* pairs with the winning write */
}

static void unlock_spin(void *lk) { weft__spin_unlock(lk); }

uint32_t weft__wait_locked(weft__waiter *w, weft__spinlock *lk,
                           int64_t deadline, const char *reason) {
  return weft__wait(w, lk ? unlock_spin : NULL, lk, deadline, reason);
}

uint32_t weft__wait_queued(weft__waitq *q, weft__waiter *w, bool front,
                           weft__spinlock *lk, int64_t deadline,
                           const char *reason, bool *dequeued) {
  if (front)
    weft__waitq_push_front(q, w);
  else
    weft__waitq_push(q, w);
  uint32_t st = weft__wait_locked(w, lk, deadline, reason);
  bool mine = false;
  if (st == WEFT__TIMEDOUT) {
    weft__spin_lock(lk);
    mine = weft__waitq_unqueue(q, w);
    weft__spin_unlock(lk);
  }
  weft__assert(!w->queued || st != WEFT__TIMEDOUT);
  if (dequeued)
    *dequeued = mine;
  return st;
}

int weft__block_until(int64_t deadline, const char *reason) {
  weft__ensure_started();
  weft__waiter w;
  weft__waiter_init(&w);
  weft__wait(&w, NULL, NULL, deadline, reason);
  return -ETIMEDOUT;
}

bool weft__claim(weft__waiter *w) {
  uint32_t expected = WEFT__WAITING;
  /* acq_rel: pairs with on_deadline's CAS and the owner's acquire loads. */
  return weft__cas_acqrel(&w->owner->state, &expected, WEFT__CLAIMED);
}

void weft__wake_claimed(weft__waiter *w) {
  weft__waiter *o = w->owner;
  /* Claimed before woken, and woken once (waiter.h's state machine). */
  weft__assert(weft__load_relaxed(&o->state) == WEFT__CLAIMED);
  weft__g *g = o->g; /* read before WOKEN: a thread owner may return then */
  weft__put put = o->lock_wait ? WEFT__PUT_LOCAL /* too */
                  : o->io_wait ? WEFT__PUT_TAIL
                               : WEFT__PUT_NEXT;
  if (g == NULL && o->counted)
    weft__dl_thread_woken(); /* before WOKEN: then the thread may run */
  o->fired = w;
  weft__store_release(&o->state, WEFT__WOKEN); /* publishes fired, success
                                                  and the delivered value */
  if (g)
    weft__ready(g, put);
  else
    weft__futex_wake(&o->state, 1);
}

int weft__wake_claimed_list(weft__waiter *list) {
  int n = 0;
  while (list) {
    weft__waiter *next = list->next; /* read before the wake frees it */
    weft__wake_claimed(list);
    list = next;
    n++;
  }
  return n;
}

bool weft__wake(weft__waiter *w) {
  if (!weft__claim(w))
    return false;
  weft__wake_claimed(w);
  return true;
}
