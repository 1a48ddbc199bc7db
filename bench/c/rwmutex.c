/* rwmutex: 8 goroutines make 10,000,000 operations on one weft_rwmutex
 * (1,250,000 each). Every 100th operation of each goroutine is a write
 * (lock, increment both fields of a small shared struct, unlock); the rest
 * are reads (rlock, compare the two fields, runlock). Prints nanoseconds
 * per operation. The write count (100,000) must be exact and no read may
 * see the two fields differ.
 *
 * Twin of bench/go/rwmutex. The driver goroutine plays Go's main; the plain
 * main thread only starts it and waits.
 *
 * Layout: in Go, mu and shared escape into the closure as two heap objects
 * of different size classes, so they sit in different cache lines. Here
 * each gets a cache line of its own for the same reason: a write then
 * invalidates the data line, and every read bounces only the lock's line. */
#include <stdalign.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "weft.h"

enum { OPS = 10000000, WORKERS = 8, WRITE_EVERY = 100 };

static alignas(64) weft_rwmutex mu = WEFT_RWMUTEX_INIT;
static alignas(64) struct {
  long a, b;
} shared;
static _Atomic int64_t torn;

static weft_waitgroup wg = WEFT_WAITGROUP_INIT;
static weft_waitgroup driver_done = WEFT_WAITGROUP_INIT;
static double ns_per_op;

static void worker(void *arg) {
  (void)arg;
  int64_t bad = 0;
  for (int i = 0; i < OPS / WORKERS; i++) {
    if (i % WRITE_EVERY == 0) {
      weft_rwmutex_lock(&mu);
      shared.a++;
      shared.b++;
      weft_rwmutex_unlock(&mu);
    } else {
      weft_rwmutex_rlock(&mu);
      if (shared.a != shared.b)
        bad++;
      weft_rwmutex_runlock(&mu);
    }
  }
  atomic_fetch_add(&torn, bad);
  weft_wg_done(&wg);
}

static void driver(void *arg) {
  (void)arg;
  weft_wg_add(&wg, WORKERS);
  int64_t start = weft_now();
  for (int w = 0; w < WORKERS; w++) {
    int rc = weft_go(worker, NULL);
    if (rc != 0) {
      fprintf(stderr, "rwmutex: weft_go: %s\n", strerror(-rc));
      exit(1);
    }
  }
  weft_wg_wait(&wg);
  ns_per_op = (double)(weft_now() - start) / OPS;
  weft_wg_done(&driver_done);
}

int main(void) {
  weft_wg_add(&driver_done, 1);
  int rc = weft_go(driver, NULL);
  if (rc != 0) {
    fprintf(stderr, "rwmutex: weft_go(driver): %s\n", strerror(-rc));
    return 1;
  }
  weft_wg_wait(&driver_done);
  long writes = OPS / WRITE_EVERY;
  if (shared.a != writes || shared.b != writes || atomic_load(&torn) != 0) {
    fprintf(stderr, "rwmutex: %ld and %ld writes, want %ld; %lld torn reads\n",
            shared.a, shared.b, writes, (long long)atomic_load(&torn));
    return 1;
  }
  printf("rwmutex %.1f ns/op\n", ns_per_op);
  return 0;
}
