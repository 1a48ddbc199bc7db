/* time.c -- Go's time package: the monotonic clock, Sleep, After, Timer and
 * Ticker.
 *
 * A weft_timer is a heap timer (sched/timerheap.c) plus a channel of capacity 1
 * that receives the firing time (int64_t). Firing is a non-blocking send, so a
 * ticker drops the ticks a slow receiver misses, as Go's does. The timer lives
 * in the heap of the P that armed it (any P, from a plain thread).
 *
 * Stop and Reset follow Go 1.23: once they return, no value from an earlier
 * arming is received; one already buffered is taken back out. t->lock
 * serializes Stop, Reset and Free on one timer; firing needs no lock of
 * ours, since weft__timer_del waits for a running fire.
 */
#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include "chan/chan.h"

struct weft_timer {
  weft__timer t;       /* in a P's heap while armed */
  weft_chan *c;        /* capacity 1, int64_t; one reference is ours */
  int64_t period;      /* 0: one-shot; t->lock */
  bool once;           /* weft_after: free ourselves after firing */
  weft__spinlock lock; /* serializes stop/reset/free */
};

int64_t weft_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * WEFT_SEC + ts.tv_nsec;
}

static int64_t deadline_in(int64_t ns) {
  int64_t now = weft_now();
  if (ns <= 0)
    return now;
  return ns > WEFT_FOREVER - now ? WEFT_FOREVER : now + ns;
}

int weft_sleep(int64_t ns) {
  if (ns <= 0)
    return 0;
  int64_t deadline = deadline_in(ns);
  if (weft__curg() != NULL) {
    /* A waiter that nobody wakes: only its deadline timer ends the wait. */
    weft__waiter w;
    weft__waiter_init(&w);
    weft__wait(&w, NULL, NULL, deadline, "sleep");
    return 0;
  }
  struct timespec ts = {deadline / WEFT_SEC, deadline % WEFT_SEC};
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
    ;
  return 0;
}

/* Runs on the thread of the P whose heap held t, without the heap lock. */
static bool fire(weft__timer *ht) {
  weft_timer *t = (weft_timer *)ht;
  weft__race_acquire(t); /* whoever started it happened before */
  int64_t now = weft_now();
  /* non-blocking: a full channel drops it */
  weft__chan_poll(t->c, &now, true);
  if (t->once) {
    weft_chan_unref(t->c);
    weft__rt_free(t);
    return false;
  }
  if (t->period == 0)
    return false;
  ht->when += t->period;
  if (ht->when <= now) /* fell behind: skip the missed ticks */
    ht->when = now + t->period;
  return true;
}

/* A timer with its channel, not yet started. */
static weft_timer *timer_alloc(int64_t period, bool once) {
  weft_timer *t = weft__rt_calloc(1, sizeof *t);
  if (t == NULL)
    return NULL;
  t->c = weft_chan_make(sizeof(int64_t), 1);
  if (t->c == NULL) {
    weft__rt_free(t);
    return NULL;
  }
  t->period = period;
  t->once = once;
  t->t.idx = -1;
  t->t.fn = fire;
  return t;
}

static void timer_start(weft_timer *t, int64_t ns) {
  t->t.when = deadline_in(ns);
  weft__race_release(t); /* start -> fire */
  weft__timer_add_any(&t->t);
}

static weft_timer *timer_make(int64_t ns, int64_t period) {
  weft_timer *t = timer_alloc(period, false);
  if (t)
    timer_start(t, ns);
  return t;
}

weft_chan *weft_after(int64_t ns) {
  weft_timer *t = timer_alloc(0, true);
  if (t == NULL)
    return NULL;
  /* The caller's reference; the timer holds its own until it fires. */
  weft_chan *c = weft_chan_ref(t->c);
  timer_start(t, ns);
  return c;
}

weft_timer *weft_timer_new(int64_t ns) { return timer_make(ns, 0); }

weft_timer *weft_ticker_new(int64_t period) {
  if (period <= 0)
    return NULL;
  return timer_make(period, period);
}

weft_chan *weft_timer_chan(weft_timer *t) { return t ? t->c : NULL; }

/* Disarms t and takes back a value it fired but nobody received; lock held.
 * Returns 1 if a firing was prevented or taken back. */
static int disarm(weft_timer *t) {
  int stopped = weft__timer_del(&t->t);
  int64_t stale;
  if (weft__chan_poll(t->c, &stale, false) == 1) /* t->lock held */
    stopped = 1;
  return stopped;
}

int weft_timer_stop(weft_timer *t) {
  if (t == NULL)
    return -EINVAL;
  weft__sched_point();
  weft__spin_lock(&t->lock);
  int rc = disarm(t);
  weft__spin_unlock(&t->lock);
  weft__sched_point();
  return rc;
}

int weft_timer_reset(weft_timer *t, int64_t ns) {
  if (t == NULL)
    return -EINVAL;
  weft__sched_point();
  weft__spin_lock(&t->lock);
  if (t->period && ns <= 0) {
    weft__spin_unlock(&t->lock);
    return -EINVAL;
  }
  int rc = disarm(t);
  if (t->period)
    t->period = ns;
  t->t.when = deadline_in(ns);
  weft__race_release(t); /* start -> fire */
  weft__timer_add_any(&t->t);
  weft__spin_unlock(&t->lock);
  weft__sched_point();
  return rc;
}

void weft_timer_free(weft_timer *t) {
  if (t == NULL)
    return;
  weft__spin_lock(&t->lock);
  weft__timer_del(&t->t);
  weft__spin_unlock(&t->lock);
  weft_chan_unref(t->c);
  weft__rt_free(t);
}
