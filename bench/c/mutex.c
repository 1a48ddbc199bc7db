/* mutex: 8 goroutines make 10,000,000 lock/increment/unlock steps on one
 * weft_mutex (1,250,000 each). Prints nanoseconds per step. The total must
 * be exact.
 *
 * Twin of bench/go/mutex. Go's main is itself a goroutine, so the driver
 * goroutine here plays it: it starts the timer, spawns the workers and
 * waits for them; the plain main thread only starts the driver and waits.
 *
 * Layout: in Go, mu (8 bytes) and counter (8 bytes) escape into the closure
 * and, both being small pointer-free objects, come from the tiny allocator
 * as neighbours in one 16-byte block: one cache line. The struct below puts
 * them in one cache line too, so neither side pays an extra line transfer
 * per step that the other does not. */
#include <stdalign.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "weft.h"

enum { STEPS = 10000000, WORKERS = 8 };

static struct {
  alignas(64) weft_mutex mu;
  long counter;
} shared = {.mu = WEFT_MUTEX_INIT};

static weft_waitgroup wg = WEFT_WAITGROUP_INIT;
static weft_waitgroup driver_done = WEFT_WAITGROUP_INIT;
static double ns_per_op;

static void worker(void *arg) {
  (void)arg;
  for (int i = 0; i < STEPS / WORKERS; i++) {
    weft_mutex_lock(&shared.mu);
    shared.counter++;
    weft_mutex_unlock(&shared.mu);
  }
  weft_wg_done(&wg);
}

static void driver(void *arg) {
  (void)arg;
  weft_wg_add(&wg, WORKERS);
  int64_t start = weft_now();
  for (int w = 0; w < WORKERS; w++) {
    int rc = weft_go(worker, NULL);
    if (rc != 0) {
      fprintf(stderr, "mutex: weft_go: %s\n", strerror(-rc));
      exit(1);
    }
  }
  weft_wg_wait(&wg);
  ns_per_op = (double)(weft_now() - start) / STEPS;
  weft_wg_done(&driver_done);
}

int main(void) {
  weft_wg_add(&driver_done, 1);
  int rc = weft_go(driver, NULL);
  if (rc != 0) {
    fprintf(stderr, "mutex: weft_go(driver): %s\n", strerror(-rc));
    return 1;
  }
  weft_wg_wait(&driver_done);
  if (shared.counter != STEPS) {
    fprintf(stderr, "mutex: total %ld, want %d\n", shared.counter, STEPS);
    return 1;
  }
  printf("mutex %.1f ns/op\n", ns_per_op);
  return 0;
}
