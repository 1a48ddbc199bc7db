/* timerheap.h -- per-P timer heaps: the one deadline mechanism under sleep,
 * blocking calls with deadlines, and timers and tickers (chan/time.c). */
#ifndef WEFT_TIMERHEAP_H
#define WEFT_TIMERHEAP_H

#include <stdint.h>

#include "base/internal.h"

typedef struct weft__timers weft__timers;

typedef struct weft__timer {
  int64_t when;                         /* fire time; owner before add */
  /* Runs without the heap's lock, on the thread running the heap, maybe in
   * the middle of another goroutine's switch: it may ready goroutines and
   * take locks, but must never block or switch (weft__go_queued, not
   * weft_go). Returns true to be re-armed at the (updated) t->when. */
  bool (*fn)(struct weft__timer *t);
  int32_t idx;                          /* heap slot, -1 outside; heap lock */
  weft__timers *heap;                   /* heap added to; set by add */
} weft__timer;

/* A min-heap on when, guarded by lock. next mirrors heap[0]->when (or
 * WEFT_FOREVER) so that schedulers can peek without the lock: written under
 * lock (release), read relaxed as a hint, re-checked under lock. */
struct weft__timers {
  weft__spinlock lock;
  weft__timer **heap;
  int32_t n, cap;
  _Atomic int64_t next;
  bool busy;              /* a thread is running this heap's timers: one
                             at a time (the owner, or a helping P); lock */
  weft__timer *running;   /* whose fn runs now; lock */
  bool running_cancelled; /* a del met it running: do not re-arm; lock */
  weft__timer *rearm_cancelled; /* the last timer whose re-arm a del
                                   cancelled; that del reports it removed;
                                   lock */
};

WEFT_INTERNAL void weft__timers_init(weft__timers *ts);
/* Adds t (t->idx must be -1). Aborts if memory for the heap runs out. */
WEFT_INTERNAL void weft__timer_add(weft__timers *ts, weft__timer *t);
/* Removes t if it has not fired. Returns 1 if removed, 0 if it fired or was
 * never added. Once this returns, t->fn is not running and will not run
 * (a running fn is waited for, and a ticker is not re-armed). */
WEFT_INTERNAL int weft__timer_del(weft__timer *t);
/* Runs every timer due at now. Returns the next fire time (WEFT_FOREVER). */
WEFT_INTERNAL int64_t weft__timers_run(weft__timers *ts, int64_t now);

/* Whether the heap holds no timer and runs none now. */
WEFT_INTERNAL bool weft__timers_empty(weft__timers *ts);

static inline int64_t weft__timers_next(weft__timers *ts) {
  return weft__load_relaxed(&ts->next); /* hint; pairs with nothing */
}

#endif
