/* ring: 1,000 goroutines in a ring of unbuffered channels pass a token 1,000
 * times around (1,000,000 hops). Prints nanoseconds per hop.
 *
 * Twin of bench/go/ring. Goroutine i receives on ring[i] and sends on
 * ring[(i+1) % N]. The driver goroutine plays Go's main: it makes the
 * channels, starts the ring, then (timed from here) injects the token into
 * ring[0] and receives it back on done; on its last lap the final goroutine
 * hands the token to the driver over done instead, so only goroutine 0 ever
 * receives on ring[0]. Every hop adds 1 to the token. The plain main thread
 * only starts the driver and waits for it. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "weft.h"

enum { N = 1000, LAPS = 1000 };

static weft_chan *ring[N];
static weft_chan *done;
static weft_waitgroup driver_done = WEFT_WAITGROUP_INIT;
static int64_t token;
static double ns_per_op;

static void must(int rc, const char *what) {
  if (rc < 0) {
    fprintf(stderr, "ring: %s: %s\n", what, strerror(-rc));
    exit(1);
  }
}

static weft_chan *make_chan(void) {
  weft_chan *c = weft_chan_make(sizeof(int64_t), 0);
  if (c == NULL) {
    fprintf(stderr, "ring: weft_chan_make: out of memory\n");
    exit(1);
  }
  return c;
}

static void member(void *arg) {
  int i = (int)(intptr_t)arg;
  weft_chan *in = ring[i], *out = ring[(i + 1) % N];
  for (int lap = 0; lap < LAPS; lap++) {
    int64_t v;
    if (weft_recv(in, &v) != 1) {
      fprintf(stderr, "ring: member %d: closed\n", i);
      exit(1);
    }
    v++;
    if (i == N - 1 && lap == LAPS - 1)
      must(weft_send(done, &v), "send done");
    else
      must(weft_send(out, &v), "send");
  }
}

static void driver(void *arg) {
  (void)arg;
  for (int i = 0; i < N; i++)
    ring[i] = make_chan();
  done = make_chan();
  for (int i = 0; i < N; i++)
    must(weft_go(member, (void *)(intptr_t)i), "weft_go(member)");
  int64_t start = weft_now();
  int64_t v = 0;
  must(weft_send(ring[0], &v), "send ring[0]");
  if (weft_recv(done, &token) != 1) {
    fprintf(stderr, "ring: done closed\n");
    exit(1);
  }
  ns_per_op = (double)(weft_now() - start) / ((double)N * LAPS);
  /* Every member has returned or is about to (its last send was taken);
   * the channels stay allocated until exit, as the members may still be
   * leaving their last call. */
  weft_wg_done(&driver_done);
}

int main(void) {
  weft_wg_add(&driver_done, 1);
  int rc = weft_go(driver, NULL);
  if (rc != 0) {
    fprintf(stderr, "ring: weft_go(driver): %s\n", strerror(-rc));
    return 1;
  }
  weft_wg_wait(&driver_done);
  if (token != (int64_t)N * LAPS) {
    fprintf(stderr, "ring: token %lld, want %d\n", (long long)token, N * LAPS);
    return 1;
  }
  printf("ring %.1f ns/op\n", ns_per_op);
  return 0;
}
