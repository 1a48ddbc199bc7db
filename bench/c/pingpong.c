/* pingpong: two goroutines bounce an int over two unbuffered channels,
 * 1,000,000 round trips. Prints nanoseconds per round trip.
 *
 * Twin of bench/go/pingpong. The driver goroutine plays Go's main: it makes
 * the channels, starts the pinger (sends v, expects v+1 back) and the ponger,
 * and waits for both; the plain main thread only starts the driver and waits
 * for it. The pinger's final value must be 1,000,000. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "weft.h"

enum { ROUNDS = 1000000 };

static weft_chan *ping, *pong;
static weft_waitgroup wg = WEFT_WAITGROUP_INIT;
static weft_waitgroup driver_done = WEFT_WAITGROUP_INIT;
static int64_t last;
static int failed;
static double ns_per_op;

static void must(int rc, const char *what) {
  if (rc < 0) {
    fprintf(stderr, "pingpong: %s: %s\n", what, strerror(-rc));
    exit(1);
  }
}

static void pinger(void *arg) {
  (void)arg;
  int64_t v = 0;
  for (int i = 0; i < ROUNDS; i++) {
    must(weft_send(ping, &v), "send ping");
    if (weft_recv(pong, &v) != 1) {
      fprintf(stderr, "pingpong: pong closed\n");
      exit(1);
    }
  }
  last = v;
  weft_wg_done(&wg);
}

static void ponger(void *arg) {
  (void)arg;
  for (int i = 0; i < ROUNDS; i++) {
    int64_t v;
    if (weft_recv(ping, &v) != 1) {
      fprintf(stderr, "pingpong: ping closed\n");
      exit(1);
    }
    v++;
    must(weft_send(pong, &v), "send pong");
  }
  weft_wg_done(&wg);
}

static void driver(void *arg) {
  (void)arg;
  ping = weft_chan_make(sizeof(int64_t), 0);
  pong = weft_chan_make(sizeof(int64_t), 0);
  if (ping == NULL || pong == NULL) {
    fprintf(stderr, "pingpong: weft_chan_make: out of memory\n");
    exit(1);
  }
  weft_wg_add(&wg, 2);
  int64_t start = weft_now();
  must(weft_go(pinger, NULL), "weft_go(pinger)");
  must(weft_go(ponger, NULL), "weft_go(ponger)");
  weft_wg_wait(&wg);
  int64_t elapsed = weft_now() - start;
  if (last != ROUNDS) {
    fprintf(stderr, "pingpong: final value %lld, want %d\n", (long long)last,
            ROUNDS);
    failed = 1;
  }
  ns_per_op = (double)elapsed / ROUNDS;
  weft_chan_unref(ping);
  weft_chan_unref(pong);
  weft_wg_done(&driver_done);
}

int main(void) {
  weft_wg_add(&driver_done, 1);
  int rc = weft_go(driver, NULL);
  if (rc != 0) {
    fprintf(stderr, "pingpong: weft_go(driver): %s\n", strerror(-rc));
    return 1;
  }
  weft_wg_wait(&driver_done);
  if (failed)
    return 1;
  printf("pingpong %.1f ns/op\n", ns_per_op);
  return 0;
}
