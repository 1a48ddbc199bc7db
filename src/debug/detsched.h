/* detsched.h -- the deterministic schedule mode (see detsched.c).
 *
 * weft__sched_point() marks a synchronization point: the entry and exit of
 * every public channel, select, sync, context, timer and go call. In the
 * normal mode it is one relaxed load of a flag that never changes after
 * start-up and a branch the compiler lays out as not taken; in the
 * deterministic mode the running goroutine may yield there, by a draw from
 * the mode's seeded generator.
 *
 * Call it only where the caller holds none of weft's internal locks: a
 * goroutine that yields with a spinlock held would spin forever against the
 * one P. Internal code that runs a public operation under a lock uses the
 * point-free internal form instead (weft__chan_poll, weft__chan_close).
 */
#ifndef WEFT_DETSCHED_H
#define WEFT_DETSCHED_H

#include "base/internal.h"

struct weft__p;
struct weft__g;

/* Whether the mode is on. Written once by start-up before any P thread or
 * goroutine exists (and so before any goroutine can reach a point); read
 * relaxed: a plain thread that reads it before start-up sees false and has
 * nothing to yield anyway. */
extern WEFT_INTERNAL _Atomic bool weft__det_on;

static inline bool weft__det_enabled(void) {
  return weft__unlikely(weft__load_relaxed(&weft__det_on));
}

WEFT_INTERNAL void weft__det_point_slow(void);

static inline void weft__sched_point(void) {
  if (weft__det_enabled())
    weft__det_point_slow();
}

/* Start-up (proc.c): turns the mode on with seed (nonzero), before the Ps
 * are created. */
WEFT_INTERNAL void weft__det_start(uint64_t seed);
/* The seed $WEFT_SCHED_SEED asks for: a number, or "random" (one from the
 * clock, printed to stderr so that the run can be replayed); 0 when unset,
 * empty or invalid (with a warning). */
WEFT_INTERNAL uint64_t weft__det_env_seed(void);
/* The seed in use, 0 in the normal mode. */
WEFT_INTERNAL uint64_t weft__det_seed(void);
/* A draw of the mode's generator, for weft__fastrand (select's order): the
 * P's own generator also serves stealing, which draws as often as the clock
 * lets an idle P spin. */
WEFT_INTERNAL uint64_t weft__det_rand(void);
/* local_pick in the mode: a uniformly random runnable G (runnext, the
 * ring, the global queue), or NULL. Owner of p only. */
WEFT_INTERNAL struct weft__g *weft__det_pick(struct weft__p *p);
/* weft_go in the mode: whether the parent keeps running (the child is only
 * queued) instead of the usual work-first switch to the child. */
WEFT_INTERNAL bool weft__det_parent_first(void);
/* True once in one_in draws of the mode's generator (on a plain thread, of
 * the thread's own). */
WEFT_INTERNAL bool weft__det_coin(uint32_t one_in);

/* The mutex's starvation test: whether a waiter waited over limit ns since
 * start. In the mode it is a seeded coin instead: the clock would make the
 * run depend on how fast the machine was, and the coin still exercises
 * starvation mode. */
static inline bool weft__waited_long(int64_t start, int64_t limit) {
  if (weft__det_enabled())
    return weft__det_coin(4);
  return weft_now() - start > limit;
}
/* Appends "weft: schedule seed N (replay: WEFT_SCHED_SEED=N)\n" to fd when
 * the mode is on. Async-signal-safe (weft__fatal runs in a signal handler). */
WEFT_INTERNAL void weft__det_report(int fd);

#endif
