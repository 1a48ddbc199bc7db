/* mutex.h -- what tests read of sync.Mutex's internals. */
#ifndef WEFT_SYNC_MUTEX_H
#define WEFT_SYNC_MUTEX_H

#include <stdint.h>

/* Unlocks that handed a starving mutex straight to its front waiter, over
 * all mutexes: the proof that starvation mode ran, which no timing can
 * give. Relaxed: a count, not synchronization. */
extern _Atomic uint64_t weft__mutex_handoffs;

#endif
