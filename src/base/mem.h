/* mem.h -- the runtime's one allocation convention.
 *
 * Every allocation the runtime makes goes through weft__rt_*: the objects
 * behind the user's handles (channels, timers, contexts, groups), its own
 * tables (Ps, stacks' bookkeeping, timer heaps) and diagnostics' buffers.
 * In a race build (debug/race.c) TSan must not see them, since the runtime
 * is not instrumented and would otherwise appear to race with the program
 * on its own memory; elsewhere they are the plain libc calls. The one
 * exception is stacks, which are mmap'd (sched/stack.c).
 */
#ifndef WEFT_MEM_H
#define WEFT_MEM_H

#include <stdlib.h>
#include <string.h>

#include "base/hooks.h"

static inline void *weft__rt_malloc(size_t n) {
  weft__race_ignore_begin();
  void *p = malloc(n);
  weft__race_ignore_end();
  return p;
}
static inline void *weft__rt_calloc(size_t k, size_t n) {
  weft__race_ignore_begin();
  void *p = calloc(k, n);
  weft__race_ignore_end();
  return p;
}
static inline void *weft__rt_realloc(void *o, size_t n) {
  weft__race_ignore_begin();
  void *p = realloc(o, n);
  weft__race_ignore_end();
  return p;
}
/* Zeroed, aligned to a cache line, size rounded up to whole lines. */
static inline void *weft__rt_calloc_lines(size_t n) {
  size_t size = (n + WEFT__CACHE_LINE - 1) & ~(size_t)(WEFT__CACHE_LINE - 1);
  weft__race_ignore_begin();
  void *p = aligned_alloc(WEFT__CACHE_LINE, size);
  if (p)
    memset(p, 0, size);
  weft__race_ignore_end();
  return p;
}
static inline void weft__rt_free(void *p) {
  weft__race_ignore_begin();
  free(p);
  weft__race_ignore_end();
}

/* Copies and zeroing of memory that may be the program's (a value sent on
 * a channel, a goroutine's name): in a race build TSan must not charge the
 * runtime's copy to whichever fiber happens to run it (debug/race.c). */
static inline void weft__rt_memcpy(void *dst, const void *src, size_t n) {
  if (WEFT__RACE)
    weft__race_copy(dst, src, n);
  else
    memcpy(dst, src, n);
}
static inline void weft__rt_memset0(void *dst, size_t n) {
  if (WEFT__RACE)
    weft__race_zero(dst, n);
  else
    memset(dst, 0, n);
}

#endif
