/* timer.c -- a binary min-heap of timers per P.
 *
 * Invariants (all under ts->lock)
 * - heap[0..n) is a min-heap on when; heap[i]->idx == i.
 * - A timer is in at most one heap. idx == -1 means it is not in one.
 * - fn runs with ts->lock held, right after its timer leaves the heap. That
 *   is what makes weft__timer_del safe for timers that live on a goroutine's
 *   stack: once del has taken the lock, fn is finished or will never start.
 *   So fn must be short and must not touch any timer heap.
 *
 * Timers are added by the P's own thread (the parking hook, see wait.c) and
 * removed by whichever thread the goroutine resumed on.
 */
#include <stdlib.h>

#include "timer.h"

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

void weft__timer_add(weft__timers *ts, weft__timer *t) {
  weft__spin_lock(&ts->lock);
  if (ts->n == ts->cap) {
    int32_t cap = ts->cap ? 2 * ts->cap : 64;
    weft__timer **h = realloc(ts->heap, (size_t)cap * sizeof *h);
    if (h == NULL)
      weft__fatal("out of memory growing a timer heap");
    ts->heap = h;
    ts->cap = cap;
  }
  t->heap = ts;
  place(ts, ts->n++, t);
  sift_up(ts, t->idx);
  publish_next(ts);
  weft__spin_unlock(&ts->lock);
}

int weft__timer_del(weft__timer *t) {
  weft__timers *ts = t->heap;
  if (ts == NULL)
    return 0;
  weft__spin_lock(&ts->lock);
  int removed = t->idx >= 0;
  if (removed) {
    remove_at(ts, t->idx);
    publish_next(ts);
  }
  weft__spin_unlock(&ts->lock);
  return removed;
}

int64_t weft__timers_run(weft__timers *ts, int64_t now) {
  if (weft__timers_next(ts) > now)
    return weft__timers_next(ts);
  weft__spin_lock(&ts->lock);
  while (ts->n > 0 && ts->heap[0]->when <= now) {
    weft__timer *t = ts->heap[0];
    remove_at(ts, 0);
    t->fn(t);
  }
  publish_next(ts);
  int64_t next = ts->n ? ts->heap[0]->when : WEFT_FOREVER;
  weft__spin_unlock(&ts->lock);
  return next;
}
