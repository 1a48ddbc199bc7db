/*
 * fan_in_fan_out.c -- several workers share one input channel (fan-out),
 * and their output channels are merged back into one (fan-in).
 *
 * After the Go blog's "Pipelines and cancellation":
 *
 *     in := gen(1, 2, ..., N)
 *     c1, c2, c3, c4 := sq(in), sq(in), sq(in), sq(in)  // fan-out
 *     for v := range merge(c1, c2, c3, c4) { sum += v } // fan-in
 *
 *     func merge(cs ...<-chan int) <-chan int {
 *         var wg sync.WaitGroup
 *         out := make(chan int)
 *         output := func(c <-chan int) {
 *             for v := range c { out <- v }
 *             wg.Done()
 *         }
 *         wg.Add(len(cs))
 *         for _, c := range cs { go output(c) }
 *         go func() { wg.Wait(); close(out) }()
 *         return out
 *     }
 *
 * Fan-out needs nothing special: a channel may have any number of
 * receivers, and each value goes to exactly one of them. Fan-in needs one
 * forwarding goroutine per input, and someone to close the merged channel
 * once ALL inputs have ended: closing it when the first input ends would
 * lose the others' values. That someone is the closer goroutine, which
 * waits on a WaitGroup counting the forwarders.
 *
 * Each worker sleeps a little per value, standing in for slow work (a
 * network call, a disk read). That is where fan-out pays: while one worker
 * waits, the others take the next values.
 *
 * Run: ./fan_in_fan_out
 */
#include <weft.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { N = 200, WORKERS = 4 };
#define WORK_NS WEFT_MS /* the "slow work" per value */

static weft_chan *make_chan(size_t elem_size, size_t cap) {
  weft_chan *c = weft_chan_make(elem_size, cap);
  if (!c) {
    fprintf(stderr, "weft_chan_make: out of memory\n");
    exit(1);
  }
  return c;
}

static void spawn(void (*fn)(void *), void *arg) {
  int rc = weft_go(fn, arg);
  if (rc != 0) {
    fprintf(stderr, "weft_go: %s\n", strerror(-rc));
    exit(1);
  }
}

/* ---- the generator and the workers ------------------------------------- */

static void gen(void *arg) {
  weft_chan *out = arg;
  for (long i = 1; i <= N; i++) weft_send(out, &i);
  weft_close(out); /* every worker's range loop ends */
  weft_chan_unref(out);
}

/* How many values each worker handled: written by the worker before it
 * closes its output, read by main after the merged channel has closed,
 * which can only happen after that close. The channels order the accesses;
 * no atomics needed. */
static long handled[WORKERS];

typedef struct worker_args {
  int id;
  weft_chan *in, *out; /* our own references */
} worker_args;

static void sq(void *arg) {
  worker_args a = *(worker_args *)arg;
  free(arg);
  long v;
  while (weft_recv(a.in, &v) == 1) { /* the shared input: fan-out */
    weft_sleep(WORK_NS);
    long square = v * v;
    weft_send(a.out, &square);
    handled[a.id]++;
  }
  weft_close(a.out);
  weft_chan_unref(a.out);
  weft_chan_unref(a.in);
}

/* ---- merge: fan-in ------------------------------------------------------ */

/* Shared by merge's goroutines. The closer frees it: it is the last one to
 * use it (a WaitGroup is done with itself before Wait returns). */
typedef struct merge_state {
  weft_waitgroup wg; /* counts the forwarders still running */
  weft_chan *out;    /* the closer's reference */
} merge_state;

typedef struct forward_args {
  merge_state *m;
  weft_chan *in, *out; /* our own references */
} forward_args;

/* Go's output(c): copy one input to the merged channel until it closes. */
static void forward(void *arg) {
  forward_args a = *(forward_args *)arg;
  free(arg);
  long v;
  while (weft_recv(a.in, &v) == 1) weft_send(a.out, &v);
  weft_chan_unref(a.in);
  weft_chan_unref(a.out);
  weft_wg_done(&a.m->wg); /* last: m may be freed as soon as this returns */
}

/* The closer: the merged channel ends when every input has ended. */
static void close_when_done(void *arg) {
  merge_state *m = arg;
  weft_wg_wait(&m->wg);
  weft_close(m->out);
  weft_chan_unref(m->out);
  free(m);
}

/* Merges n channels into one. Takes over the caller's references to the
 * inputs; returns the merged channel with one reference for the caller. */
static weft_chan *merge(weft_chan **cs, int n) {
  merge_state *m = malloc(sizeof *m);
  if (!m) exit(1);
  weft_chan *out = make_chan(sizeof(long), 0);
  *m = (merge_state){WEFT_WAITGROUP_INIT, weft_chan_ref(out)};

  /* Add before any goroutine starts, so that the closer can never see
   * the counter at 0 while inputs are still running. */
  weft_wg_add(&m->wg, n);
  for (int i = 0; i < n; i++) {
    forward_args *a = malloc(sizeof *a);
    if (!a) exit(1);
    *a = (forward_args){m, cs[i], weft_chan_ref(out)};
    spawn(forward, a);
  }
  spawn(close_when_done, m);
  return out;
}

int main(void) {
  int64_t t0 = weft_now();

  weft_chan *in = make_chan(sizeof(long), 0);
  spawn(gen, weft_chan_ref(in));

  /* Fan-out: every worker receives from the same channel. */
  weft_chan *outs[WORKERS];
  for (int i = 0; i < WORKERS; i++) {
    worker_args *a = malloc(sizeof *a);
    if (!a) exit(1);
    outs[i] = make_chan(sizeof(long), 0);
    *a = (worker_args){i, weft_chan_ref(in), weft_chan_ref(outs[i])};
    spawn(sq, a);
  }
  weft_chan_unref(in); /* main never touches it again */

  /* Fan-in: merge takes over our references to the workers' outputs. */
  weft_chan *merged = merge(outs, WORKERS);
  long v, n = 0, sum = 0;
  while (weft_recv(merged, &v) == 1) {
    n++;
    sum += v;
  }
  weft_chan_unref(merged);
  int64_t elapsed = weft_now() - t0;

  long want = (long)N * (N + 1) * (2 * N + 1) / 6;
  long total = 0;
  for (int i = 0; i < WORKERS; i++) {
    printf("worker %d squared %ld values\n", i, handled[i]);
    total += handled[i];
  }
  printf("merged %ld values, sum %ld, expected %ld: %s\n", n, sum, want,
         n == N && sum == want ? "ok" : "WRONG");
  printf("%d values x %.1f ms of work on %d workers: %.1f ms (one worker "
         "alone: at least %.1f ms)\n", N, WORK_NS / 1e6, WORKERS,
         elapsed / 1e6, N * WORK_NS / 1e6);

  /* The closer may still be between close and free; wait for it so that
   * nothing is left running (or allocated) when main returns. */
  int64_t give_up = weft_now() + 5 * WEFT_SEC;
  while (weft_num_goroutines() > 0 && weft_now() < give_up)
    weft_sleep(WEFT_MS);
  int ended = weft_num_goroutines() == 0;
  printf("all goroutines ended: %s\n", ended ? "ok" : "WRONG");

  return n == N && sum == want && total == N && ended ? 0 : 1;
}
