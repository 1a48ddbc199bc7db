/* time.c -- the monotonic clock and time.Sleep. */
#include <errno.h>
#include <time.h>

#include "runtime.h"
#include "waiter.h"

int64_t weft_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * WEFT_SEC + ts.tv_nsec;
}

int weft_sleep(int64_t ns) {
  if (ns <= 0)
    return 0;
  int64_t now = weft_now();
  int64_t deadline = ns > WEFT_FOREVER - now ? WEFT_FOREVER : now + ns;
  if (weft__curg() != NULL) {
    /* A waiter that nobody wakes: only its deadline timer ends the wait. */
    weft__waiter w;
    weft__waiter_init(&w);
    weft__wait(&w, NULL, deadline, "sleep");
    return 0;
  }
  struct timespec ts = {deadline / WEFT_SEC, deadline % WEFT_SEC};
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
    ;
  return 0;
}
