/* prodcons: 4 producers and 4 consumers move 10,000,000 ints through one
 * channel of capacity 128. Prints nanoseconds per item. The sum of all items
 * received must be exact.
 *
 * Twin of bench/go/prodcons. The driver goroutine plays Go's main: it starts
 * the producers (each sends its own range of 2,500,000 values) and the
 * consumers (each sums what it receives until the channel is closed and adds
 * its sum to the total), waits for the producers, closes the channel and
 * waits for the consumers. The plain main thread only starts the driver and
 * waits for it. */
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "weft.h"

enum { ITEMS = 10000000, PRODUCERS = 4, CONSUMERS = 4, CAPACITY = 128 };
static const int64_t PER = ITEMS / PRODUCERS;

static weft_chan *ch;
static weft_waitgroup prod_wg = WEFT_WAITGROUP_INIT;
static weft_waitgroup cons_wg = WEFT_WAITGROUP_INIT;
static weft_waitgroup driver_done = WEFT_WAITGROUP_INIT;
static _Atomic int64_t total;
static int failed;
static double ns_per_op;

static void must(int rc, const char *what) {
  if (rc < 0) {
    fprintf(stderr, "prodcons: %s: %s\n", what, strerror(-rc));
    exit(1);
  }
}

static void producer(void *arg) {
  int64_t lo = (int64_t)(intptr_t)arg;
  for (int64_t v = lo; v < lo + PER; v++)
    must(weft_send(ch, &v), "send");
  weft_wg_done(&prod_wg);
}

static void consumer(void *arg) {
  (void)arg;
  int64_t sum = 0, v;
  while (weft_recv(ch, &v))
    sum += v;
  atomic_fetch_add(&total, sum);
  weft_wg_done(&cons_wg);
}

static void driver(void *arg) {
  (void)arg;
  ch = weft_chan_make(sizeof(int64_t), CAPACITY);
  if (ch == NULL) {
    fprintf(stderr, "prodcons: weft_chan_make: out of memory\n");
    exit(1);
  }
  weft_wg_add(&prod_wg, PRODUCERS);
  weft_wg_add(&cons_wg, CONSUMERS);
  int64_t start = weft_now();
  for (int64_t p = 0; p < PRODUCERS; p++)
    must(weft_go(producer, (void *)(intptr_t)(p * PER)), "weft_go(producer)");
  for (int c = 0; c < CONSUMERS; c++)
    must(weft_go(consumer, NULL), "weft_go(consumer)");
  weft_wg_wait(&prod_wg);
  must(weft_close(ch), "close");
  weft_wg_wait(&cons_wg);
  int64_t elapsed = weft_now() - start;
  int64_t want = (int64_t)ITEMS * (ITEMS - 1) / 2;
  int64_t got = atomic_load(&total);
  if (got != want) {
    fprintf(stderr, "prodcons: sum %lld, want %lld\n", (long long)got,
            (long long)want);
    failed = 1;
  }
  ns_per_op = (double)elapsed / ITEMS;
  weft_chan_unref(ch);
  weft_wg_done(&driver_done);
}

int main(void) {
  weft_wg_add(&driver_done, 1);
  int rc = weft_go(driver, NULL);
  if (rc != 0) {
    fprintf(stderr, "prodcons: weft_go(driver): %s\n", strerror(-rc));
    return 1;
  }
  weft_wg_wait(&driver_done);
  if (failed)
    return 1;
  printf("prodcons %.1f ns/op\n", ns_per_op);
  return 0;
}
