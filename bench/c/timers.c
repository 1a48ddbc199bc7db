/* timers: 100,000 goroutines each wait (1 + i%10) ms in a select on a timer
 * (the other case, a quit channel, never fires); then the driver waits for
 * all. Prints milliseconds in total, from the first spawn to the last exit.
 * Every timer must fire, and the whole must take at least 10 ms.
 *
 * Twin of bench/go/timers. The driver goroutine plays Go's main; the plain
 * main thread only starts the driver and waits for it. Go collects each
 * timer once unreachable; here each goroutine frees its own timer after the
 * select (weft_timer_free). */
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "weft.h"

enum { N = 100000 };

static weft_chan *quit;
static weft_waitgroup wg = WEFT_WAITGROUP_INIT;
static weft_waitgroup driver_done = WEFT_WAITGROUP_INIT;
static _Atomic int64_t fired;
static int failed;
static double ms;

static void waiter(void *arg) {
  int64_t d = (int64_t)(intptr_t)arg;
  weft_timer *t = weft_timer_new(d);
  if (t == NULL) {
    fprintf(stderr, "timers: weft_timer_new: out of memory\n");
    exit(1);
  }
  int64_t when;
  weft_case cases[2] = {WEFT_RECV(weft_timer_chan(t), &when),
                        WEFT_RECV(quit, NULL)};
  int k = weft_select(cases, 2);
  switch (k) {
  case 0:
    atomic_fetch_add_explicit(&fired, 1, memory_order_relaxed);
    break;
  case 1:
    weft_timer_stop(t);
    break;
  default:
    fprintf(stderr, "timers: weft_select: %s\n", strerror(-k));
    exit(1);
  }
  weft_timer_free(t);
  weft_wg_done(&wg);
}

static void driver(void *arg) {
  (void)arg;
  quit = weft_chan_make(0, 0);
  if (quit == NULL) {
    fprintf(stderr, "timers: weft_chan_make: out of memory\n");
    exit(1);
  }
  weft_wg_add(&wg, N);
  int64_t start = weft_now();
  for (int i = 0; i < N; i++) {
    int64_t d = (1 + i % 10) * WEFT_MS;
    int rc = weft_go(waiter, (void *)(intptr_t)d);
    if (rc != 0) {
      fprintf(stderr, "timers: weft_go #%d: %s\n", i, strerror(-rc));
      exit(1);
    }
  }
  weft_wg_wait(&wg);
  int64_t elapsed = weft_now() - start;
  int64_t n = atomic_load(&fired);
  if (n != N || elapsed < 10 * WEFT_MS) {
    fprintf(stderr, "timers: %lld of %d fired in %.3f ms\n", (long long)n, N,
            (double)elapsed / 1e6);
    failed = 1;
  }
  ms = (double)elapsed / 1e6;
  weft_chan_unref(quit);
  weft_wg_done(&driver_done);
}

int main(void) {
  weft_wg_add(&driver_done, 1);
  int rc = weft_go(driver, NULL);
  if (rc != 0) {
    fprintf(stderr, "timers: weft_go(driver): %s\n", strerror(-rc));
    return 1;
  }
  weft_wg_wait(&driver_done);
  if (failed)
    return 1;
  printf("timers %.1f ms\n", ms);
  return 0;
}
