/* deadlock.h -- what the wait path tells the deadlock detector (deadlock.c).
 *
 * Two monotonic counters describe the plain threads blocked in weft with no
 * deadline: nblock counts commitments to such a wait, nwake the wake-ups
 * that end one. nblock - nwake is how many are blocked now; monotonic
 * counters (not one up/down count) let the detector see that nothing
 * happened between two reads, with no ABA. Both are seq_cst RMWs; each sits
 * next to a futex system call, so they cost nothing measurable. */
#ifndef WEFT_DEADLOCK_H
#define WEFT_DEADLOCK_H

#include <stdint.h>

#include "base/internal.h"

typedef struct weft__dl_counters {
  _Atomic uint64_t nblock; /* seq_cst; pairs with the detector's loads */
  _Atomic uint64_t nwake;  /* seq_cst; pairs with the detector's loads */
} weft__dl_counters;

extern WEFT_INTERNAL weft__dl_counters weft__dl;

/* Runtime threads besides the Ps and sysmon: diag.c's SIGQUIT dump thread
 * (0 or 1; set once it exists, and it never exits but by _exit). */
extern WEFT_INTERNAL _Atomic int weft__diag_nthreads;

/* A plain thread commits to an endless wait: called before the lock that
 * makes its waiter findable is released, so no waker can precede it. */
static inline void weft__dl_thread_blocks(void) {
  weft__add_seqcst(&weft__dl.nblock, 1);
}

/* The waker of a counted thread, before it publishes WOKEN: from then on the
 * thread may run, so it must not be counted as blocked any longer. */
static inline void weft__dl_thread_woken(void) {
  weft__add_seqcst(&weft__dl.nwake, 1);
}

/* Whether detection is on: cfg is weft_config.deadlock_check (0: ask
 * $WEFT_DEADLOCK). Called once from start(). */
WEFT_INTERNAL void weft__dl_configure(int cfg);
/* One look, from sysmon. Returns the interval sysmon should sleep before
 * the next look at most (a candidate is confirmed soon), or WEFT_FOREVER.
 * Does not return when it reports a deadlock. */
WEFT_INTERNAL int64_t weft__dl_tick(void);

#endif
