/* workerpool: 8 workers square 5,000,000 jobs taken from a capacity-128 jobs
 * channel into a capacity-128 results channel; a collector sums them. Prints
 * nanoseconds per job. The sum (of 0^2 .. (n-1)^2, modulo 2^64) must be
 * exact.
 *
 * Twin of bench/go/workerpool. The driver goroutine plays Go's main: it
 * starts the feeder (sends every job, then closes jobs), the workers and the
 * collector (sums results until closed, then closes collected), waits for
 * the workers, closes results and receives from collected. The plain main
 * thread only starts the driver and waits for it. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "weft.h"

enum { JOBS = 5000000, WORKERS = 8, CAPACITY = 128 };

static weft_chan *job_ch, *res_ch, *collected;
static weft_waitgroup work_wg = WEFT_WAITGROUP_INIT;
static weft_waitgroup driver_done = WEFT_WAITGROUP_INIT;
static uint64_t sum;
static int failed;
static double ns_per_op;

static void must(int rc, const char *what) {
  if (rc < 0) {
    fprintf(stderr, "workerpool: %s: %s\n", what, strerror(-rc));
    exit(1);
  }
}

static weft_chan *make_chan(size_t elem_size, size_t cap) {
  weft_chan *c = weft_chan_make(elem_size, cap);
  if (c == NULL) {
    fprintf(stderr, "workerpool: weft_chan_make: out of memory\n");
    exit(1);
  }
  return c;
}

static void feeder(void *arg) {
  (void)arg;
  for (uint64_t i = 0; i < JOBS; i++)
    must(weft_send(job_ch, &i), "send job");
  must(weft_close(job_ch), "close jobs");
}

static void worker(void *arg) {
  (void)arg;
  uint64_t j;
  while (weft_recv(job_ch, &j)) {
    uint64_t r = j * j;
    must(weft_send(res_ch, &r), "send result");
  }
  weft_wg_done(&work_wg);
}

static void collector(void *arg) {
  (void)arg;
  uint64_t s = 0, r;
  while (weft_recv(res_ch, &r))
    s += r;
  sum = s;
  must(weft_close(collected), "close collected");
}

static void driver(void *arg) {
  (void)arg;
  uint64_t want = 0;
  for (uint64_t i = 0; i < JOBS; i++)
    want += i * i;

  job_ch = make_chan(sizeof(uint64_t), CAPACITY);
  res_ch = make_chan(sizeof(uint64_t), CAPACITY);
  collected = make_chan(0, 0);
  weft_wg_add(&work_wg, WORKERS);
  int64_t start = weft_now();
  must(weft_go(feeder, NULL), "weft_go(feeder)");
  for (int w = 0; w < WORKERS; w++)
    must(weft_go(worker, NULL), "weft_go(worker)");
  must(weft_go(collector, NULL), "weft_go(collector)");
  weft_wg_wait(&work_wg);
  must(weft_close(res_ch), "close results");
  weft_recv(collected, NULL);
  int64_t elapsed = weft_now() - start;
  if (sum != want) {
    fprintf(stderr, "workerpool: sum %llu, want %llu\n",
            (unsigned long long)sum, (unsigned long long)want);
    failed = 1;
  }
  ns_per_op = (double)elapsed / JOBS;
  /* The feeder and collector may still be leaving their last call (close);
   * the channels stay allocated until exit. */
  weft_wg_done(&driver_done);
}

int main(void) {
  weft_wg_add(&driver_done, 1);
  int rc = weft_go(driver, NULL);
  if (rc != 0) {
    fprintf(stderr, "workerpool: weft_go(driver): %s\n", strerror(-rc));
    return 1;
  }
  weft_wg_wait(&driver_done);
  if (failed)
    return 1;
  printf("workerpool %.1f ns/op\n", ns_per_op);
  return 0;
}
