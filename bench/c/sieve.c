/* sieve: the concurrent prime sieve (a chain of filter goroutines over
 * unbuffered channels) for the first 5,000 primes. Prints milliseconds in
 * total. The last prime must be 48611.
 *
 * Twin of bench/go/sieve. The driver goroutine plays Go's main: it starts the
 * generator, then 5,000 times receives a prime from the head of the chain
 * and starts a filter for it on a new channel. The plain main thread only
 * starts the driver and waits for it. As in the Go program, the generator and
 * the filters are left blocked when the program exits; their channels and
 * argument records are never freed (nor are Go's: blocked goroutines are
 * never collected). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "weft.h"

enum { NPRIMES = 5000, LAST = 48611 };

typedef struct filter_args {
  weft_chan *in, *out;
  int64_t prime;
} filter_args;

static weft_waitgroup driver_done = WEFT_WAITGROUP_INIT;
static int64_t last;
static double ms;

static void must(int rc, const char *what) {
  if (rc < 0) {
    fprintf(stderr, "sieve: %s: %s\n", what, strerror(-rc));
    exit(1);
  }
}

static weft_chan *make_chan(void) {
  weft_chan *c = weft_chan_make(sizeof(int64_t), 0);
  if (c == NULL) {
    fprintf(stderr, "sieve: weft_chan_make: out of memory\n");
    exit(1);
  }
  return c;
}

static void generate(void *arg) {
  weft_chan *ch = arg;
  for (int64_t i = 2;; i++)
    must(weft_send(ch, &i), "generate: send");
}

static void filter(void *arg) {
  filter_args *a = arg;
  for (;;) {
    int64_t i;
    if (weft_recv(a->in, &i) != 1) {
      fprintf(stderr, "sieve: filter %lld: input closed\n",
              (long long)a->prime);
      exit(1);
    }
    if (i % a->prime != 0)
      must(weft_send(a->out, &i), "filter: send");
  }
}

static void driver(void *arg) {
  (void)arg;
  int64_t start = weft_now();
  weft_chan *ch = make_chan();
  must(weft_go(generate, weft_chan_ref(ch)), "weft_go(generate)");
  for (int i = 0; i < NPRIMES; i++) {
    int64_t prime;
    if (weft_recv(ch, &prime) != 1) {
      fprintf(stderr, "sieve: chain closed\n");
      exit(1);
    }
    last = prime;
    weft_chan *ch1 = make_chan();
    filter_args *a = malloc(sizeof *a);
    if (a == NULL) {
      fprintf(stderr, "sieve: out of memory\n");
      exit(1);
    }
    /* The filter takes over the driver's reference to ch and one to ch1. */
    *a = (filter_args){ch, weft_chan_ref(ch1), prime};
    must(weft_go(filter, a), "weft_go(filter)");
    ch = ch1;
  }
  ms = (double)(weft_now() - start) / 1e6;
  weft_chan_unref(ch);
  weft_wg_done(&driver_done);
}

int main(void) {
  weft_wg_add(&driver_done, 1);
  int rc = weft_go(driver, NULL);
  if (rc != 0) {
    fprintf(stderr, "sieve: weft_go(driver): %s\n", strerror(-rc));
    return 1;
  }
  weft_wg_wait(&driver_done);
  if (last != LAST) {
    fprintf(stderr, "sieve: prime #%d is %lld, want %d\n", NPRIMES,
            (long long)last, LAST);
    return 1;
  }
  printf("sieve %.1f ms\n", ms);
  return 0;
}
