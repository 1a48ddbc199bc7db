/* stack.h -- goroutine stacks: mmap'd arenas, guard pages, per-P caches. */
#ifndef WEFT_STACK_H
#define WEFT_STACK_H

#include <stdbool.h>
#include <stddef.h>

#include "base/internal.h"

typedef struct weft__stack {
  char *lo;    /* lowest usable byte; the guard region sits just below */
  size_t size; /* usable bytes (a power of two) */
} weft__stack;

/* Bytes of guard below every stack. Large enough that a frame of up to this
 * size cannot jump over it into the neighbouring stack. */
#define WEFT__GUARD_SIZE ((size_t)64 * 1024)

/* A P's private cache of stacks of the default size: spawning and exiting
 * goroutines reuse hot stacks without touching a shared lock. Owner only. */
#define WEFT__STACK_CACHE 64
typedef struct weft__stack_cache {
  char *lo[WEFT__STACK_CACHE];
  int n;
} weft__stack_cache;

/* Chooses the guard mechanism (MADV_GUARD_INSTALL, else mprotect; the
 * environment variable WEFT_STACK_GUARD=mprotect forces the fallback) and
 * sets the default stack size. Called once at start-up. */
WEFT_INTERNAL void weft__stack_init(size_t default_size);

/* Rounds a requested size up to a supported power of two; 0 if the request
 * is out of range. 0 requests the default. */
WEFT_INTERNAL size_t weft__stack_round(size_t req);

/* Takes a stack of the given (rounded) size, from cache (may be NULL on a
 * plain thread) when it fits. Returns 0 or -ENOMEM. */
WEFT_INTERNAL int weft__stack_alloc(weft__stack_cache *cache, size_t size,
                                    weft__stack *out);
/* Gives a stack back. Its memory stays mapped for reuse; only when the
 * pool's free list cannot grow are its pages returned to the kernel. */
WEFT_INTERNAL void weft__stack_free(weft__stack_cache *cache,
                                    const weft__stack *s);

/* Whether addr lies in the guard region below s. */
static inline bool weft__stack_guard_hit(const weft__stack *s, const void *a) {
  const char *c = (const char *)a;
  return c < s->lo && c >= s->lo - WEFT__GUARD_SIZE;
}

/* An arena of stacks (stack.c): n slots of [guard | stack of size] from
 * base, each slot bytes apart. Immutable once published. */
typedef struct weft__arena {
  struct weft__arena *next;
  char *base;
  size_t slot, size, n;
} weft__arena;
/* Every arena ever made, newest first (the gdb script reads it too). */
extern WEFT_INTERNAL _Atomic(weft__arena *) weft__stack_arenas;

/* Calls fn(lo, size, arg) for every stack slot ever carved or carvable,
 * live, cached or never used. Safe from any thread at any time. */
WEFT_INTERNAL void weft__stack_each(void (*fn)(char *lo, size_t size,
                                               void *arg),
                                    void *arg);

/* Testing hook: the next n stack allocations fail with -ENOMEM, as if the
 * kernel had refused the memory. */
void weft__stack_fault_inject(int n);

#endif
