/* spinlock.c -- the lock-order checks of debug builds (spinlock.h).
 *
 * held[] is the calling thread's own: no synchronization. These functions
 * are out of line on purpose (see spinlock.h), and called only when
 * WEFT__CHECKS is 1. */
#include "base/fatal.h"
#include "base/spinlock.h"

static __thread unsigned held[WEFT__RANK_COUNT];

static const char *const rank_names[WEFT__RANK_COUNT] = {
    [WEFT__RANK_OBJECT] = "object",   [WEFT__RANK_POLL] = "poll",
    [WEFT__RANK_THREADWAIT] = "threadwait", [WEFT__RANK_STACKS] = "stacks",
    [WEFT__RANK_SCHED] = "sched",     [WEFT__RANK_TIMERS] = "timers"};

WEFT_NOINLINE void weft__spin_note_lock(weft__spin_rank rank) {
  for (int r = (int)rank + 1; r < WEFT__RANK_COUNT; r++)
    if (held[r])
      weft__fatal("internal error: lock order: %s lock taken while "
                  "holding %s lock", rank_names[rank], rank_names[r]);
  if (rank != WEFT__RANK_OBJECT && held[rank])
    weft__fatal("internal error: lock order: second %s lock",
                rank_names[rank]);
  held[rank]++;
}

WEFT_NOINLINE void weft__spin_note_trylock(weft__spin_rank rank) {
  held[rank]++; /* a trylock cannot deadlock: no order to check */
}

WEFT_NOINLINE void weft__spin_note_unlock(weft__spin_rank rank) {
  if (held[rank] == 0)
    weft__fatal("internal error: unlock of %s lock this thread does not "
                "hold", rank_names[rank]);
  held[rank]--;
}

WEFT_NOINLINE void weft__spin_assert_none_held(const char *where) {
  for (int r = 0; r < WEFT__RANK_COUNT; r++)
    if (held[r])
      weft__fatal("internal error: %s with %s lock held", where,
                  rank_names[r]);
}
