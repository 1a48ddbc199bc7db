/* futex.c -- thin wrappers over futex(2). Process-private futexes with an
 * absolute CLOCK_MONOTONIC deadline (FUTEX_WAIT_BITSET), so that a retry
 * after a spurious wake-up needs no time arithmetic. */
#include <errno.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "base/futex.h"

int weft__futex_wait(_Atomic uint32_t *word, uint32_t expected,
                     int64_t deadline) {
  struct timespec ts, *tsp = NULL;
  if (deadline != WEFT_FOREVER) {
    if (deadline <= weft_now())
      return -ETIMEDOUT;
    ts.tv_sec = deadline / WEFT_SEC;
    ts.tv_nsec = deadline % WEFT_SEC;
    tsp = &ts;
  }
  long rc = syscall(SYS_futex, (uint32_t *)word,
                    FUTEX_WAIT_BITSET | FUTEX_PRIVATE_FLAG, expected, tsp,
                    NULL, FUTEX_BITSET_MATCH_ANY);
  if (rc < 0 && errno == ETIMEDOUT)
    return -ETIMEDOUT;
  return 0;
}

void weft__futex_wake(_Atomic uint32_t *word, int n) {
  syscall(SYS_futex, (uint32_t *)word, FUTEX_WAKE | FUTEX_PRIVATE_FLAG, n,
          NULL, NULL, 0);
}
