/* spawn: start 1,000,000 goroutines, each of which only calls
 * weft_wg_done(), then wait for all. Prints nanoseconds per goroutine.
 *
 * Twin of bench/go/spawn. Go's main is itself a goroutine, so the spawning
 * loop runs in one driver goroutine here too; the plain main thread only
 * starts the driver and waits for it. The thread count comes from
 * $WEFT_PROCS, which the runtime reads itself (bench/run.sh sets it equal to
 * $GOMAXPROCS). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "weft.h"

enum { N = 1000000 };

static weft_waitgroup children = WEFT_WAITGROUP_INIT;
static weft_waitgroup driver_done = WEFT_WAITGROUP_INIT;
static double ns_per_op;

static void child(void *arg) {
  (void)arg;
  weft_wg_done(&children);
}

static void driver(void *arg) {
  (void)arg;
  int64_t start = weft_now();
  weft_wg_add(&children, N);
  for (int i = 0; i < N; i++) {
    int rc = weft_go(child, NULL);
    if (rc != 0) {
      fprintf(stderr, "spawn: weft_go #%d: %s\n", i, strerror(-rc));
      exit(1);
    }
  }
  weft_wg_wait(&children);
  ns_per_op = (double)(weft_now() - start) / N;
  weft_wg_done(&driver_done);
}

int main(void) {
  weft_wg_add(&driver_done, 1);
  int rc = weft_go(driver, NULL);
  if (rc != 0) {
    fprintf(stderr, "spawn: weft_go(driver): %s\n", strerror(-rc));
    return 1;
  }
  weft_wg_wait(&driver_done);
  printf("spawn %.1f ns/op\n", ns_per_op);
  return 0;
}
