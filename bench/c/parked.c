/* parked: 1,000,000 goroutines parked on one channel. Prints the growth of
 * the resident set (from /proc/self/statm) per goroutine, in bytes.
 *
 * Twin of bench/go/parked. Each goroutine bumps a counter just before it
 * blocks receiving on an unbuffered signal channel (the gate); the driver
 * waits until the counter reaches N, sleeps 100 ms so that the last ones are
 * really parked, reads statm, then closes the gate and waits for all of them
 * to exit. As in the Go twin (whose main is a goroutine), all of this runs in
 * one driver goroutine; the plain main thread only starts it and waits. */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "weft.h"

enum { N = 1000000 };

static atomic_long parked;
static weft_chan *gate;
static weft_waitgroup exited = WEFT_WAITGROUP_INIT;
static weft_waitgroup driver_done = WEFT_WAITGROUP_INIT;
static double bytes_per_goroutine;

/* Resident set size in bytes. */
static long rss_bytes(void) {
  FILE *f = fopen("/proc/self/statm", "r");
  long size = 0, resident = 0;
  if (f == NULL) {
    perror("parked: /proc/self/statm");
    exit(1);
  }
  int got = fscanf(f, "%ld %ld", &size, &resident);
  fclose(f);
  if (got != 2) {
    fprintf(stderr, "parked: cannot parse /proc/self/statm\n");
    exit(1);
  }
  return resident * sysconf(_SC_PAGESIZE);
}

static void sleeper(void *arg) {
  (void)arg;
  atomic_fetch_add_explicit(&parked, 1, memory_order_relaxed);
  weft_recv(gate, NULL);
  weft_wg_done(&exited);
}

static void driver(void *arg) {
  (void)arg;
  gate = weft_chan_make(0, 0);
  if (gate == NULL) {
    fprintf(stderr, "parked: weft_chan_make: out of memory\n");
    exit(1);
  }
  long before = rss_bytes();
  weft_wg_add(&exited, N);
  for (int i = 0; i < N; i++) {
    int rc = weft_go(sleeper, NULL);
    if (rc != 0) {
      fprintf(stderr, "parked: weft_go #%d: %s\n", i, strerror(-rc));
      exit(1);
    }
  }
  while (atomic_load_explicit(&parked, memory_order_relaxed) < N)
    weft_sleep(WEFT_MS);
  weft_sleep(100 * WEFT_MS);
  long after = rss_bytes();
  weft_close(gate);
  weft_wg_wait(&exited);
  weft_chan_unref(gate);
  bytes_per_goroutine = (double)(after - before) / N;
  weft_wg_done(&driver_done);
}

int main(void) {
  weft_wg_add(&driver_done, 1);
  int rc = weft_go(driver, NULL);
  if (rc != 0) {
    fprintf(stderr, "parked: weft_go(driver): %s\n", strerror(-rc));
    return 1;
  }
  weft_wg_wait(&driver_done);
  printf("parked %.0f B/goroutine\n", bytes_per_goroutine);
  return 0;
}
