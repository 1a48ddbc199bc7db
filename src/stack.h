/* stack.h -- goroutine stacks: mmap'd arenas, guard pages, per-P caches. */
#ifndef WEFT_STACK_H
#define WEFT_STACK_H

#include <stddef.h>

typedef struct weft__stack {
  char *lo;    /* lowest usable byte; the guard region sits just below */
  size_t size; /* usable bytes (a power of two) */
} weft__stack;

/* Testing hook: the next n stack allocations fail with -ENOMEM, as if the
 * kernel had refused the memory. */
void weft__stack_fault_inject(int n);

#endif
