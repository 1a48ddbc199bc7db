/* defs.h -- what every file of the runtime assumes: the public header, the
 * visibility and branch-hint macros, and the build's constants.
 *
 * Build constants are always defined, 0 or 1, and tested with a plain `if`
 * (Go's raceenabled): both branches are compiled in every build, so a race
 * build cannot break unseen, and the optimizer drops the dead one.
 */
#ifndef WEFT_DEFS_H
#define WEFT_DEFS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "weft.h"

#define WEFT_INTERNAL __attribute__((visibility("hidden")))
#define weft__likely(x) __builtin_expect(!!(x), 1)
#define weft__unlikely(x) __builtin_expect(!!(x), 0)
#define WEFT_NOINLINE __attribute__((noinline))

/* A race-detection build (WEFT_RACE, Go's -race): debug/race.c. */
#if defined(WEFT_RACE) && WEFT_RACE
#define WEFT__RACE 1
#else
#define WEFT__RACE 0
#endif

/* Misuse checks and internal assertions (WEFT_DEBUG_CHECKS): assert.h. */
#if defined(WEFT_DEBUG_CHECKS) && WEFT_DEBUG_CHECKS
#define WEFT__CHECKS 1
#else
#define WEFT__CHECKS 0
#endif

/* The most Ps weft_init, weft_procs and WEFT_PROCS accept. */
#define WEFT__MAX_PROCS 4096
/* The line size that per-P and hot shared fields are aligned to. */
#define WEFT__CACHE_LINE 64
/* 2^64 / the golden ratio: the odd constant of Weyl sequences (splitmix64)
 * and of spreading small seeds over 64 bits. */
#define WEFT__GOLDEN64 0x9e3779b97f4a7c15ull

#endif
