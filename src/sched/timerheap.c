/* timerheap.c -- a binary min-heap of timers per P.
 *
 * Invariants (all under ts->lock)
 * - heap[0..n) is a min-heap on when; heap[i]->idx == i.
 * - A timer is in at most one heap. idx == -1 means it is not in one.
 * - fn runs without ts->lock, after its timer has left the heap, while
 *   ts->running points to it. weft__timer_del waits while its timer is
 *   running, except on the thread running it: a fn may release the object
 *   that owns its timer (a context whose deadline fires may drop the last
 *   reference to itself), and then it must not touch t after fn returns
 *   false. So once del returns, fn is finished or will never start: that
 *   makes timers on a goroutine's stack safe, and lets fn take other locks
 *   (a channel's) without a lock-order cycle against code that holds a
 *   channel lock and adds a timer (the parking hook).
 *
 * Timers are added by the thread of a P (parking hooks, timer objects) or
 * by any thread for timer objects, and removed by any thread.
 */
#include <stdlib.h>

#include "sched/timerheap.h"

/* Heap locks are leaves of the lock order (base/spinlock.h). */
static void heap_lock(weft__timers *ts) {
  weft__spin_lock_ranked(&ts->lock, WEFT__RANK_TIMERS);
}
static void heap_unlock(weft__timers *ts) {
  weft__spin_unlock_ranked(&ts->lock, WEFT__RANK_TIMERS);
}

void weft__timers_init(weft__timers *ts) {
  ts->heap = NULL;
  ts->n = ts->cap = 0;
  atomic_init(&ts->next, WEFT_FOREVER);
  atomic_init(&ts->lock.locked, 0);
}

static void place(weft__timers *ts, int32_t i, weft__timer *t) {
  ts->heap[i] = t;
  t->idx = i;
}

static void sift_up(weft__timers *ts, int32_t i) {
  weft__timer *t = ts->heap[i];
  while (i > 0) {
    int32_t parent = (i - 1) / 2;
    if (ts->heap[parent]->when <= t->when)
      break;
    place(ts, i, ts->heap[parent]);
    i = parent;
  }
  place(ts, i, t);
}

static void sift_down(weft__timers *ts, int32_t i) {
  weft__timer *t = ts->heap[i];
  for (;;) {
    int32_t c = 2 * i + 1;
    if (c >= ts->n)
      break;
    if (c + 1 < ts->n && ts->heap[c + 1]->when < ts->heap[c]->when)
      c++;
    if (t->when <= ts->heap[c]->when)
      break;
    place(ts, i, ts->heap[c]);
    i = c;
  }
  place(ts, i, t);
}

static void publish_next(weft__timers *ts) {
  /* release: a peeker that sees the new value also sees the heap; pairs
   * with the lock acquire taken before acting on the hint. */
  weft__store_release(&ts->next, ts->n ? ts->heap[0]->when : WEFT_FOREVER);
}

/* Removes heap[i]; lock held. */
static void remove_at(weft__timers *ts, int32_t i) {
  weft__timer *t = ts->heap[i];
  t->idx = -1;
  if (--ts->n != i) {
    weft__timer *moved = ts->heap[ts->n];
    place(ts, i, moved);
    sift_down(ts, i);
    sift_up(ts, moved->idx);
  }
}

/* Inserts t; lock held. */
static void insert(weft__timers *ts, weft__timer *t) {
  if (ts->n == ts->cap) {
    int32_t cap = ts->cap ? 2 * ts->cap : 64;
    weft__timer **h = weft__rt_realloc(ts->heap, (size_t)cap * sizeof *h);
    if (h == NULL)
      weft__fatal("out of memory growing a timer heap");
    ts->heap = h;
    ts->cap = cap;
  }
  place(ts, ts->n++, t);
  sift_up(ts, t->idx);
}

void weft__timer_add(weft__timers *ts, weft__timer *t) {
  /* heap is set here only, never by a ticker's re-arm in timers_run: del
   * reads it without the heap's lock (see weft__timer_del). */
  weft__assert(t->idx == -1);
  t->heap = ts;
  heap_lock(ts);
  insert(ts, t);
  publish_next(ts);
  heap_unlock(ts);
}

/* The timer whose fn this thread is running, if any. */
static __thread weft__timer *running_here;

int weft__timer_del(weft__timer *t) {
  /* heap is written only by weft__timer_add, which happens before this
   * call (same owner, or ordered by the owner's lock or wake-up). */
  weft__timers *ts = t->heap;
  if (ts == NULL)
    return 0;
  heap_lock(ts);
  for (;;) {
    if (t->idx >= 0) {
      remove_at(ts, t->idx);
      publish_next(ts);
      heap_unlock(ts);
      return 1;
    }
    if (ts->running != t)
      break;
    ts->running_cancelled = true; /* fn is short: wait it out */
    if (running_here == t)
      break; /* called from inside t's own fn (it released its owner) */
    heap_unlock(ts);
    weft__cpu_relax();
    heap_lock(ts);
  }
  /* A ticker caught firing was still active: its next firing is what this
   * del prevented. */
  int removed = ts->rearm_cancelled == t;
  if (removed)
    ts->rearm_cancelled = NULL;
  heap_unlock(ts);
  return removed;
}

int64_t weft__timers_run(weft__timers *ts, int64_t now) {
  if (weft__timers_next(ts) > now)
    return weft__timers_next(ts);
  heap_lock(ts);
  if (ts->busy) { /* another thread runs them right now */
    heap_unlock(ts);
    return weft__timers_next(ts);
  }
  ts->busy = true;
  while (ts->n > 0 && ts->heap[0]->when <= now) {
    weft__timer *t = ts->heap[0];
    remove_at(ts, 0);
    ts->running = t;
    ts->running_cancelled = false;
    heap_unlock(ts);
    running_here = t;
    void *race = weft__race_timers_begin(); /* as this P's g0 (base/hooks.h) */
    bool again = t->fn(t); /* may free t, if it returns false */
    weft__race_timers_end(race);
    running_here = NULL;
    heap_lock(ts);
    ts->running = NULL;
    if (again && !ts->running_cancelled)
      insert(ts, t);
    else if (again)
      ts->rearm_cancelled = t;
  }
  ts->busy = false;
  publish_next(ts);
  int64_t next = ts->n ? ts->heap[0]->when : WEFT_FOREVER;
  heap_unlock(ts);
  return next;
}

bool weft__timers_empty(weft__timers *ts) {
  heap_lock(ts);
  bool none = ts->n == 0 && !ts->busy && ts->running == NULL;
  heap_unlock(ts);
  return none;
}
