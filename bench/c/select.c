/* select: one sender round-robins 5,000,000 ints over 4 channels of capacity
 * 64; one receiver selects over all 4. Prints nanoseconds per select. The sum
 * received must be exact.
 *
 * Twin of bench/go/select. The driver goroutine plays Go's main: it makes the
 * channels, starts the sender and the receiver and waits for both. The plain
 * main thread only starts the driver and waits for it. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "weft.h"

enum { ITEMS = 5000000, NCHANS = 4, CAPACITY = 64 };

static weft_chan *chans[NCHANS];
static weft_waitgroup wg = WEFT_WAITGROUP_INIT;
static weft_waitgroup driver_done = WEFT_WAITGROUP_INIT;
static int64_t sum;
static int failed;
static double ns_per_op;

static void must(int rc, const char *what) {
  if (rc < 0) {
    fprintf(stderr, "select: %s: %s\n", what, strerror(-rc));
    exit(1);
  }
}

static void sender(void *arg) {
  (void)arg;
  for (int64_t i = 0; i < ITEMS; i++)
    must(weft_send(chans[i % NCHANS], &i), "send");
  weft_wg_done(&wg);
}

static void receiver(void *arg) {
  (void)arg;
  int64_t s = 0, v;
  weft_case cases[NCHANS];
  for (int k = 0; k < NCHANS; k++)
    cases[k] = WEFT_RECV(chans[k], &v);
  for (int i = 0; i < ITEMS; i++) {
    int k = weft_select(cases, NCHANS);
    if (k < 0 || !cases[k].ok) {
      fprintf(stderr, "select: weft_select returned %d (ok %d)\n", k,
              k < 0 ? 0 : cases[k].ok);
      exit(1);
    }
    s += v;
  }
  sum = s;
  weft_wg_done(&wg);
}

static void driver(void *arg) {
  (void)arg;
  for (int k = 0; k < NCHANS; k++) {
    chans[k] = weft_chan_make(sizeof(int64_t), CAPACITY);
    if (chans[k] == NULL) {
      fprintf(stderr, "select: weft_chan_make: out of memory\n");
      exit(1);
    }
  }
  weft_wg_add(&wg, 2);
  int64_t start = weft_now();
  must(weft_go(sender, NULL), "weft_go(sender)");
  must(weft_go(receiver, NULL), "weft_go(receiver)");
  weft_wg_wait(&wg);
  int64_t elapsed = weft_now() - start;
  int64_t want = (int64_t)ITEMS * (ITEMS - 1) / 2;
  if (sum != want) {
    fprintf(stderr, "select: sum %lld, want %lld\n", (long long)sum,
            (long long)want);
    failed = 1;
  }
  ns_per_op = (double)elapsed / ITEMS;
  for (int k = 0; k < NCHANS; k++)
    weft_chan_unref(chans[k]);
  weft_wg_done(&driver_done);
}

int main(void) {
  weft_wg_add(&driver_done, 1);
  int rc = weft_go(driver, NULL);
  if (rc != 0) {
    fprintf(stderr, "select: weft_go(driver): %s\n", strerror(-rc));
    return 1;
  }
  weft_wg_wait(&driver_done);
  if (failed)
    return 1;
  printf("select %.1f ns/op\n", ns_per_op);
  return 0;
}
