/* mutex.c -- sync.Mutex, a port of Go's src/sync/mutex.go onto weft__sema.
 *
 * state: LOCKED | WOKEN | STARVING | waiters << WAITER_SHIFT.
 * - The fast path is one CAS 0 -> LOCKED, and unlock one atomic add.
 * - Normal mode: waiters queue FIFO, but a woken waiter competes with
 *   newly arriving lockers (which are running, so usually win); a waiter
 *   that loses is requeued at the front. A locker may spin briefly first,
 *   when other Ps are running and its own run queue is empty.
 * - A waiter that has waited over 1 ms switches the mutex to starvation
 *   mode: unlock hands ownership straight to the front waiter, and new
 *   lockers queue at the tail without trying. The new owner leaves
 *   starvation mode when it is the last waiter or waited under 1 ms.
 * - WOKEN tells unlock that a waiter is already awake (spinning or just
 *   woken), so it need not wake another.
 * Every transition of state is a CAS or an add with acq_rel order: lock
 * acquires, unlock releases, and that pair is the mutex's happens-before.
 *
 * Like a pthread mutex, a weft_mutex must not be freed while another party
 * may still be inside weft_mutex_unlock on it.
 */
#include "sched/runq.h"
#include "sched/runtime.h"
#include "sync/mutex.h"
#include "wait/sema.h"

_Atomic uint64_t weft__mutex_handoffs;

/* The starvation test: whether a waiter waited over limit ns since start.
 * In the deterministic mode a seeded coin instead: the clock would make
 * the run depend on how fast the machine was, and the coin still
 * exercises starvation mode. */
static bool waited_long(int64_t start, int64_t limit) {
  if (weft__det_enabled())
    return weft__det_coin(4);
  return weft_now() - start > limit;
}

enum {
  LOCKED = 1,
  WOKEN = 2,
  STARVING = 4,
  WAITER_SHIFT = 3,
};
#define STARVATION_NS WEFT_MS
#define ACTIVE_SPIN 4
#define SPIN_PAUSES 30

typedef struct mutex_impl {
  _Atomic int32_t state;
  weft__sema sema;
} mutex_impl;

_Static_assert(sizeof(mutex_impl) <= sizeof(weft_mutex), "weft_mutex too small");
_Static_assert(_Alignof(mutex_impl) <= _Alignof(weft_mutex),
               "weft_mutex under-aligned");

static bool cas(mutex_impl *m, int32_t *old, int32_t new) {
  return weft__cas_acqrel(&m->state, old, new);
}

/* Go's canSpin: briefly, and only while other Ps run and ours has no work
 * waiting. Plain threads spin under the same count. */
static bool can_spin(int iter) {
  if (iter >= ACTIVE_SPIN)
    return false;
  weft__p *p = weft__curp();
  if (p == NULL)
    return true;
  weft__sched *s = &weft__sched_g;
  int32_t idle = weft__load_relaxed(&s->npidle) +
                 weft__load_relaxed(&s->nmspinning);
  return s->nprocs > idle + 1 && weft__runq_empty(p) &&
         weft__load_relaxed(&p->runnext) == NULL;
}

static void spin(void) {
  for (int i = 0; i < SPIN_PAUSES; i++)
    weft__cpu_relax();
}

static WEFT_NOINLINE void lock_slow(mutex_impl *m) {
  int64_t wait_start = 0;
  bool starving = false, awoke = false;
  int iter = 0;
  int32_t old = weft__load_relaxed(&m->state);
  for (;;) {
    if ((old & (LOCKED | STARVING)) == LOCKED && can_spin(iter)) {
      /* Tell unlock not to wake anyone: we are awake and about to try. */
      if (!awoke && !(old & WOKEN) && (old >> WAITER_SHIFT) != 0 &&
          cas(m, &old, old | WOKEN))
        awoke = true;
      spin();
      iter++;
      old = weft__load_relaxed(&m->state);
      continue;
    }
    int32_t new = old;
    if (!(old & STARVING))
      new |= LOCKED; /* a starving mutex belongs to the queue */
    if (old & (LOCKED | STARVING))
      new += 1 << WAITER_SHIFT;
    if (starving && (old & LOCKED))
      new |= STARVING;
    if (awoke) {
      if (!(new & WOKEN))
        weft__fatal("sync: inconsistent mutex state");
      new &= ~WOKEN;
    }
    if (!cas(m, &old, new))
      continue; /* old was reloaded by the failed CAS */
    if (!(old & (LOCKED | STARVING)))
      return; /* locked it */
    bool lifo = wait_start != 0;
    if (wait_start == 0)
      wait_start = weft_now();
    weft__sema_acquire(&m->sema, WEFT__SEMA_LOCK | (lifo ? WEFT__SEMA_LIFO : 0),
                       WEFT_FOREVER, "sync.Mutex.Lock");
    starving = starving || waited_long(wait_start, STARVATION_NS);
    old = weft__load_relaxed(&m->state);
    if (old & STARVING) {
      /* Ownership was handed to us; we are still counted as a waiter. */
      if ((old & (LOCKED | WOKEN)) || (old >> WAITER_SHIFT) == 0)
        weft__fatal("sync: inconsistent mutex state");
      int32_t delta = LOCKED - (1 << WAITER_SHIFT);
      if (!starving || (old >> WAITER_SHIFT) == 1)
        delta -= STARVING; /* leave starvation mode */
      weft__add_acqrel(&m->state, delta);
      return;
    }
    awoke = true;
    iter = 0;
  }
}

static inline void mutex_lock(mutex_impl *m) {
  int32_t unlocked = 0;
  if (weft__unlikely(!cas(m, &unlocked, LOCKED)))
    lock_slow(m);
  weft__race_acquire(m); /* the last unlock happened before */
}

/* Lock and unlock between synchronization points (base/hooks.h), apart from
 * the public calls so that their fast paths stay a flag test, one atomic
 * and a tail call, without a stack frame. */
static WEFT_NOINLINE void lock_det(mutex_impl *m) {
  weft__det_point_slow();
  mutex_lock(m);
  weft__det_point_slow();
}

void weft_mutex_lock(weft_mutex *mp) {
  mutex_impl *m = (mutex_impl *)mp;
  if (weft__det_enabled()) {
    lock_det(m);
    return;
  }
  mutex_lock(m);
}

int weft_mutex_trylock(weft_mutex *mp) {
  mutex_impl *m = (mutex_impl *)mp;
  weft__sched_point();
  int32_t old = weft__load_relaxed(&m->state);
  int rc = !(old & (LOCKED | STARVING)) && cas(m, &old, old | LOCKED);
  if (rc)
    weft__race_acquire(m);
  weft__sched_point();
  return rc;
}

static WEFT_NOINLINE void unlock_slow(mutex_impl *m, int32_t new) {
  if (!((new + LOCKED) & LOCKED))
    weft__fatal("sync: unlock of unlocked mutex in weft_mutex_unlock "
                "(goroutine %llu)", (unsigned long long)weft_goid());
  if (new & STARVING) {
    weft__add_relaxed(&weft__mutex_handoffs, 1);
    weft__sema_release(&m->sema, true); /* hand it to the front waiter */
    return;
  }
  int32_t old = new;
  for (;;) {
    /* Nobody to wake, or someone already awake or owning it. */
    if ((old >> WAITER_SHIFT) == 0 || (old & (LOCKED | WOKEN | STARVING)))
      return;
    new = (old - (1 << WAITER_SHIFT)) | WOKEN;
    if (cas(m, &old, new)) {
      weft__sema_release(&m->sema, false);
      return;
    }
  }
}

static inline void mutex_unlock(mutex_impl *m) {
  weft__race_release(m);
  int32_t new = weft__add_acqrel(&m->state, -LOCKED) - LOCKED;
  if (new != 0)
    unlock_slow(m, new);
}

static WEFT_NOINLINE void unlock_det(mutex_impl *m) {
  weft__det_point_slow();
  mutex_unlock(m);
  weft__det_point_slow(); /* touches nothing of *m, which may be freed now */
}

void weft_mutex_unlock(weft_mutex *mp) {
  mutex_impl *m = (mutex_impl *)mp;
  if (weft__det_enabled()) { /* see lock_det */
    unlock_det(m);
    return;
  }
  mutex_unlock(m);
}
