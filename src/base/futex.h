/* futex.h -- how weft's waits block an OS thread: idle Ps and plain
 * threads in blocking weft calls wait on a 32-bit word (a plain thread's
 * weft_sleep uses clock_nanosleep instead). */
#ifndef WEFT_FUTEX_H
#define WEFT_FUTEX_H

#include <stdatomic.h>
#include <stdint.h>

#include "base/internal.h"

/* Sleeps while *word == expected, until woken or until the absolute
 * monotonic deadline (WEFT_FOREVER: none). Returns 0, or -ETIMEDOUT once the
 * deadline has passed. Spurious returns happen: callers re-check. */
WEFT_INTERNAL int weft__futex_wait(_Atomic uint32_t *word, uint32_t expected,
                                   int64_t deadline);
/* Wakes up to n threads sleeping on word. */
WEFT_INTERNAL void weft__futex_wake(_Atomic uint32_t *word, int n);

#endif
