/* rand.h -- the runtime's one fast generator (xorshift64, Marsaglia
 * 2003): stealing's victim order, select's case order, the thread-side
 * coins. Not for anything an adversary may predict. */
#ifndef WEFT_RAND_H
#define WEFT_RAND_H

#include <stdint.h>

/* Advances *state (never 0) and returns the new value. */
static inline uint64_t weft__xorshift64(uint64_t *state) {
  uint64_t x = *state;
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  return *state = x;
}

#endif
