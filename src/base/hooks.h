/* hooks.h -- the one door from the runtime core to its diagnostics
 * (debug/), in the manner of mimalloc's track.h and Go's race0.go.
 *
 * The core (sched/, wait/, chan/, sync/, ctx/, io/) never includes debug/. It
 * calls the named hooks below, and debug/ implements them. Each costs the
 * normal build nothing or one predictable branch:
 *
 *   hooks                     implemented in        cost when off
 *   weft__race_*              debug/race.c          none: `if (WEFT__RACE)`
 *                                                   is a constant 0
 *   weft__sched_point,        debug/detsched.c      one relaxed load of a
 *   weft__det_*                                     flag fixed at start-up,
 *                                                   a branch not taken
 *   weft__dl_thread_*         debug/deadlock.c      a seq_cst RMW beside a
 *   weft__thread_wait_*       debug/threadwait.c    futex call (plain
 *                                                   threads only)
 *   weft__dl_tick             debug/deadlock.c      sysmon, every interval
 *   weft__diag_start, the     their files           once, at start-up
 *   start-up hooks
 *
 * What the hooks stand for:
 * - park/unpark: a channel party about to park and once woken
 *   (weft__race_park/_unpark), a plain thread that blocks in weft and wakes
 *   (weft__dl_thread_blocks/_woken, weft__thread_wait_enter/_leave).
 * - pick policy: the deterministic mode chooses the next goroutine
 *   (weft__det_pick) through sched/'s narrow interface (how many
 *   candidates, take the i-th: weft__runq_candidates/_take), and draws
 *   select's order, work-first or parent-first, and a mutex's starvation.
 * - synchronization points: weft__sched_point at the entry and exit of
 *   the public calls that synchronize (below).
 *
 * Race hooks are always compiled: in a normal build they sit under an
 * `if` on a constant 0 and are removed as dead code, and race.c defines
 * them to abort (Go's race0.go), so that an unoptimized build still links.
 */
#ifndef WEFT_HOOKS_H
#define WEFT_HOOKS_H

#include <stdint.h>
#include <sys/types.h>

#include "base/atomic.h"
#include "base/defs.h"

struct weft__p;
struct weft__g;
struct weft__waiter;

/* ---- race detection (debug/race.c; the edges are listed there) --------- */

WEFT_INTERNAL void weft__race_acquire_impl(const void *addr);
WEFT_INTERNAL void weft__race_release_impl(const void *addr);
WEFT_INTERNAL void weft__race_notify_impl(const void *addr);
WEFT_INTERNAL void weft__race_read_impl(const void *p, size_t n);
WEFT_INTERNAL void weft__race_write_impl(void *p, size_t n);
WEFT_INTERNAL void weft__race_ignore_begin_impl(void);
WEFT_INTERNAL void weft__race_ignore_end_impl(void);
WEFT_INTERNAL void weft__race_notify_for_impl(struct weft__waiter *w,
                                              const void *addr);
WEFT_INTERNAL void weft__race_sync_with_impl(struct weft__waiter *w,
                                             const void *addr);
WEFT_INTERNAL void weft__race_park_impl(struct weft__waiter *w);
WEFT_INTERNAL void weft__race_unpark_impl(struct weft__waiter *w);
WEFT_INTERNAL void *weft__race_timers_begin_impl(void);
WEFT_INTERNAL void weft__race_timers_end_impl(void *tok);
WEFT_INTERNAL void weft__race_stack_fresh_impl(void *lo, size_t size);
WEFT_INTERNAL void weft__race_g0_init_impl(void);
WEFT_INTERNAL void weft__race_fiber_name_impl(void *fiber,
                                              unsigned long long id,
                                              const char *name);

/* An edge: release on addr by one party, acquire by the other. */
static inline void weft__race_acquire(const void *addr) {
  if (WEFT__RACE)
    weft__race_acquire_impl(addr);
}
static inline void weft__race_release(const void *addr) {
  if (WEFT__RACE)
    weft__race_release_impl(addr);
}
/* Go's racenotify for one party: what came before on addr, then us. */
static inline void weft__race_notify(const void *addr) {
  if (WEFT__RACE)
    weft__race_notify_impl(addr);
}
/* The program's own memory, read or written for it by the runtime. */
static inline void weft__race_read(const void *p, size_t n) {
  if (WEFT__RACE)
    weft__race_read_impl(p, n);
}
static inline void weft__race_write(void *p, size_t n) {
  if (WEFT__RACE)
    weft__race_write_impl(p, n);
}
/* Accesses in between go unrecorded; per fiber, so begin and end must not
 * straddle a switch. */
static inline void weft__race_ignore_begin(void) {
  if (WEFT__RACE)
    weft__race_ignore_begin_impl();
}
static inline void weft__race_ignore_end(void) {
  if (WEFT__RACE)
    weft__race_ignore_end_impl();
}
/* Runs notify(addr) as the parked owner of w. */
static inline void weft__race_notify_for(struct weft__waiter *w,
                                         const void *addr) {
  if (WEFT__RACE)
    weft__race_notify_for_impl(w, addr);
}
/* Go's racesync on an unbuffered channel, with w the parked partner. */
static inline void weft__race_sync_with(struct weft__waiter *w,
                                        const void *addr) {
  if (WEFT__RACE)
    weft__race_sync_with_impl(w, addr);
}
/* A channel party about to park (owner record w), and once woken. */
static inline void weft__race_park(struct weft__waiter *w) {
  if (WEFT__RACE)
    weft__race_park_impl(w);
}
static inline void weft__race_unpark(struct weft__waiter *w) {
  if (WEFT__RACE)
    weft__race_unpark_impl(w);
}
/* Timer callbacks run as the current P's g0 fiber (Go's per-P timer
 * context); begin returns what to pass to end. */
static inline void *weft__race_timers_begin(void) {
  return WEFT__RACE ? weft__race_timers_begin_impl() : NULL;
}
static inline void weft__race_timers_end(void *tok) {
  if (WEFT__RACE)
    weft__race_timers_end_impl(tok);
}
/* Fresh shadow for a goroutine stack that may have been used before. */
static inline void weft__race_stack_fresh(void *lo, size_t size) {
  if (WEFT__RACE)
    weft__race_stack_fresh_impl(lo, size);
}
/* On a P's thread: its g0 runs only the runtime, and its errno, which weft
 * keeps per goroutine, is no race between the goroutines that share it. */
static inline void weft__race_g0_init(void) {
  if (WEFT__RACE)
    weft__race_g0_init_impl();
}
/* Reports then say "Thread T5 'goroutine 12'" (or the goroutine's name). */
static inline void weft__race_fiber_name(void *fiber, unsigned long long id,
                                         const char *name) {
  if (WEFT__RACE)
    weft__race_fiber_name_impl(fiber, id, name);
}
/* A copy TSan does not see (libc's memcpy is intercepted, and would be
 * charged to whichever fiber happens to copy a partner's value); volatile
 * keeps the compiler from turning the loop back into a memcpy call. */
static inline void weft__race_copy(void *dst, const void *src, size_t n) {
  volatile unsigned char *d = dst;
  const unsigned char *s = src;
  for (size_t i = 0; i < n; i++)
    d[i] = s[i];
}
static inline void weft__race_zero(void *dst, size_t n) {
  volatile unsigned char *d = dst;
  for (size_t i = 0; i < n; i++)
    d[i] = 0;
}

/* ---- the deterministic schedule mode (debug/detsched.c) --------------- */

/* Whether the mode is on. Written once by start-up before any P thread or
 * goroutine exists (and so before any goroutine can reach a point); read
 * relaxed: a plain thread that reads it before start-up sees false and has
 * nothing to yield anyway. */
extern WEFT_INTERNAL _Atomic bool weft__det_on;

static inline bool weft__det_enabled(void) {
  return weft__unlikely(weft__load_relaxed(&weft__det_on));
}

WEFT_INTERNAL void weft__det_point_slow(void);

/* A synchronization point: the entry and exit of the public channel,
 * select and sync calls and of the blocking context and timer calls, and
 * the entry of weft_go; in the mode, the running goroutine may yield here.
 * Only where the caller holds none of weft's locks (src/HACKING.md,
 * "Schedule points"): internal code that runs a public operation under a
 * lock uses the point-free internal form (weft__chan_poll,
 * weft__chan_close). */
static inline void weft__sched_point(void) {
  if (weft__det_enabled())
    weft__det_point_slow();
}

/* The next goroutine for p (its owner only), drawn uniformly among
 * runnext, the ring and the global queue; NULL when there is none. */
WEFT_INTERNAL struct weft__g *weft__det_pick(struct weft__p *p);
/* A draw of the mode's generator, for weft__fastrand (select's order). */
WEFT_INTERNAL uint64_t weft__det_rand(void);
/* weft_go in the mode: whether the parent keeps running (the child is only
 * queued) instead of the usual work-first switch to the child. */
WEFT_INTERNAL bool weft__det_parent_first(void);
/* True once in one_in draws (on a plain thread, of the thread's own). */
WEFT_INTERNAL bool weft__det_coin(uint32_t one_in);
/* Appends "weft: schedule seed N (replay: WEFT_SCHED_SEED=N)\n" to fd when
 * the mode is on. Async-signal-safe (weft__fatal calls it). */
WEFT_INTERNAL void weft__det_report(int fd);
/* Start-up (sched/proc.c): the seed $WEFT_SCHED_SEED asks for (0 when
 * unset or invalid, with a warning; "random" prints the one it picks), and
 * the mode turned on with seed before the Ps exist. */
WEFT_INTERNAL uint64_t weft__det_env_seed(void);
WEFT_INTERNAL void weft__det_start(uint64_t seed);
/* The seed in use, 0 in the normal mode. */
WEFT_INTERNAL uint64_t weft__det_seed(void);

/* ---- blocked plain threads: the deadlock detector and the dump -------- */

/* Two monotonic counters describe the plain threads blocked in weft with no
 * deadline (debug/deadlock.c): nblock counts commitments to such a wait,
 * nwake the wake-ups that end one. Monotonic (not one up/down count), so
 * that the detector sees that nothing happened between two reads. */
typedef struct weft__dl_counters {
  _Atomic uint64_t nblock; /* seq_cst; pairs with the detector's loads */
  _Atomic uint64_t nwake;  /* seq_cst; pairs with the detector's loads */
} weft__dl_counters;

extern WEFT_INTERNAL weft__dl_counters weft__dl;

/* A plain thread commits to an endless wait: called before the lock that
 * makes its waiter findable is released, so no waker can precede it. */
static inline void weft__dl_thread_blocks(void) {
  weft__add_seqcst(&weft__dl.nblock, 1);
}
/* The waker of a counted thread, before it publishes WOKEN: from then on
 * the thread may run, so it must not be counted as blocked any longer. */
static inline void weft__dl_thread_woken(void) {
  weft__add_seqcst(&weft__dl.nwake, 1);
}
/* Start-up: whether detection is on (cfg: weft_config.deadlock_check; 0
 * asks $WEFT_DEADLOCK). */
WEFT_INTERNAL void weft__dl_configure(int cfg);
/* One look, from sysmon. Returns the longest sysmon should sleep before the
 * next look (a candidate is confirmed soon), or WEFT_FOREVER. Does not
 * return when it reports a deadlock. */
WEFT_INTERNAL int64_t weft__dl_tick(void);

/* Where a plain thread blocked in weft waits, for the dump: a record on the
 * thread's own stack, listed while it waits (debug/threadwait.c). */
typedef struct weft__thread_wait {
  struct weft__thread_wait *next, *prev; /* the list's lock */
  const char *reason;                    /* immutable while listed */
  int64_t since;
  pid_t tid;
  uintptr_t fp, lo, hi; /* the wait's frame, the stack's bounds */
} weft__thread_wait;

/* Lists tw for the calling thread, about to block for reason; fp is a
 * frame pointer of the caller's stack (its frames are shown). */
WEFT_INTERNAL void weft__thread_wait_enter(weft__thread_wait *tw,
                                           const char *reason, uintptr_t fp);
WEFT_INTERNAL void weft__thread_wait_leave(weft__thread_wait *tw);

/* ---- opt-in diagnostics (debug/sigquit_leaks.c) ----------------------- */

/* The SIGQUIT dump and the leak report at exit, if the environment asks
 * for them. Called once, at start-up. */
WEFT_INTERNAL void weft__diag_start(void);

#endif
