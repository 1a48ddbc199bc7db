/*
 * pipeline.c -- a pipeline of goroutines, and how to cancel all of it.
 *
 * After the Go blog's "Pipelines and cancellation":
 *
 *     func gen(done <-chan struct{}, n int) <-chan int {
 *         out := make(chan int)
 *         go func() {
 *             defer close(out)
 *             for i := 1; n == 0 || i <= n; i++ {
 *                 select {
 *                 case out <- i:
 *                 case <-done:
 *                     return
 *                 }
 *             }
 *         }()
 *         return out
 *     }
 *     // sq is the same shape: for v := range in { select { out <- v*v ... } }
 *
 *     for v := range sq(done, gen(done, 100)) { sum += v }  // runs dry
 *     ... gen(done, 0) ...  // never runs dry: the sink closes done instead
 *
 * Each stage owns its output channel: it is the only sender, so it is the
 * one that closes it, and a stage downstream learns that its input ended
 * from weft_recv returning 0. Cancellation travels the other way, and it
 * cannot use the same channels (a receiver must not close what others send
 * on). So every stage also watches a shared `done` channel that carries no
 * values at all: closing it wakes every goroutine waiting on it at once.
 *
 * Run: ./pipeline
 */
#include <weft.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures;

static void check(int ok, const char *what) {
  printf("  %-50s %s\n", what, ok ? "ok" : "WRONG");
  if (!ok) failures++;
}

static weft_chan *make_chan(size_t elem_size, size_t cap) {
  weft_chan *c = weft_chan_make(elem_size, cap);
  if (!c) {
    fprintf(stderr, "weft_chan_make: out of memory\n");
    exit(1);
  }
  return c;
}

/* What a stage goroutine needs. Allocated by whoever starts the stage and
 * freed by the stage itself, which may outlive its starter's frame. Each
 * channel pointer here is a reference of the stage's own. */
typedef struct stage {
  weft_chan *done; /* closed to cancel: never carries a value */
  weft_chan *in;   /* NULL for the generator */
  weft_chan *out;  /* ours to close */
  long count;      /* generator only: how many values, 0 = no end */
} stage;

/* Go's
 *     select {
 *     case out <- v:  return true
 *     case <-done:    return false
 *     }
 * Without the done case, a stage whose consumer has gone away would block
 * in this send forever, and keep its stack and channels with it. */
static bool send_or_done(weft_chan *out, long v, weft_chan *done) {
  weft_case cases[] = {WEFT_SEND(out, &v), WEFT_RECV(done, NULL)};
  return weft_select(cases, 2) == 0;
}

/* A stage's `defer`: close the output (downstream's range loop ends), drop
 * our references, free the argument. */
static void stage_exit(stage *s) {
  weft_close(s->out);
  weft_chan_unref(s->out);
  weft_chan_unref(s->in); /* NULL-safe: the generator has none */
  weft_chan_unref(s->done);
  free(s);
}

static void gen_body(void *arg) {
  stage *s = arg;
  for (long i = 1; s->count == 0 || i <= s->count; i++)
    if (!send_or_done(s->out, i, s->done)) break;
  stage_exit(s);
}

static void sq_body(void *arg) {
  stage *s = arg;
  long v;
  /* Ends either way: the input closes (upstream finished or was itself
   * cancelled), or done closes while we wait to send. */
  while (weft_recv(s->in, &v) == 1)
    if (!send_or_done(s->out, v * v, s->done)) break;
  stage_exit(s);
}

/* Starts a stage and returns its output channel; the caller gets one
 * reference to it. in, if any, is taken over: the stage now holds that
 * reference. (Go's functions return <-chan int; the type is ours to keep
 * straight here.) */
static weft_chan *start_stage(void (*body)(void *), weft_chan *done,
                              weft_chan *in, long count) {
  stage *s = malloc(sizeof *s);
  if (!s) exit(1);
  weft_chan *out = make_chan(sizeof(long), 0);
  *s = (stage){weft_chan_ref(done), in, weft_chan_ref(out), count};
  int rc = weft_go(body, s);
  if (rc != 0) {
    fprintf(stderr, "weft_go: %s\n", strerror(-rc));
    exit(1);
  }
  return out;
}

/* weft_num_goroutines counts goroutines that have not returned yet; a
 * cancelled stage needs a moment to wake up and return, so poll. */
static bool goroutines_back_to(int baseline) {
  int64_t give_up = weft_now() + 5 * WEFT_SEC;
  while (weft_num_goroutines() > baseline && weft_now() < give_up)
    weft_sleep(WEFT_MS);
  return weft_num_goroutines() == baseline;
}

/* ---- a pipeline that runs dry ------------------------------------------ */

static void run_to_the_end(int baseline) {
  enum { N = 100 };
  printf("gen(1..%d) -> sq -> sink, to the end:\n", N);
  weft_chan *done = make_chan(0, 0);
  weft_chan *squares = start_stage(sq_body, done,
                                   start_stage(gen_body, done, NULL, N), 0);
  long v, n = 0, sum = 0;
  while (weft_recv(squares, &v) == 1) { /* ends when sq closes squares */
    n++;
    sum += v;
  }
  printf("  sink got %ld squares, sum %ld\n", n, sum);
  check(n == N && sum == (long)N * (N + 1) * (2 * N + 1) / 6,
        "sum of squares of 1..100 is 338350");
  /* Each stage closed its output and returned on its own: the close went
   * down the pipeline. */
  check(goroutines_back_to(baseline), "both stages returned");
  weft_chan_unref(squares);
  weft_chan_unref(done);
}

/* ---- a pipeline that never ends unless cancelled ----------------------- */

static void cancel_midway(int baseline) {
  enum { WANT = 5 };
  printf("gen(1..) -> sq -> sink, cancelled after %d values:\n", WANT);
  weft_chan *done = make_chan(0, 0); /* chan struct{} */
  weft_chan *squares = start_stage(sq_body, done,
                                   start_stage(gen_body, done, NULL, 0), 0);
  bool in_order = true;
  for (long i = 1; i <= WANT; i++) {
    long v;
    in_order &= weft_recv(squares, &v) == 1 && v == i * i;
    printf("  sink got %ld\n", v);
  }
  check(in_order, "1 4 9 16 25, in order");
  printf("  goroutines running before cancel: %d\n",
         weft_num_goroutines() - baseline);

  /* The sink has seen enough. One close tells every stage, however long
   * the pipeline: each is blocked in (or will reach) a select with a
   * <-done case, which a closed channel makes ready for good. */
  weft_close(done);
  check(goroutines_back_to(baseline), "after close(done): every stage ended");
  printf("  goroutines running after cancel:  %d\n",
         weft_num_goroutines() - baseline);
  weft_chan_unref(squares);
  weft_chan_unref(done);
}

/* The program's main runs as goroutine 1 (WEFT_MAIN, weft.h), as Go's
 * does: its sends and receives are goroutine switches. */
static int pipeline_main(int argc, char **argv) {
  (void)argc;
  (void)argv;
  int baseline = weft_num_goroutines();
  run_to_the_end(baseline);
  cancel_midway(baseline);
  if (failures) {
    printf("%d check(s) failed\n", failures);
    return 1;
  }
  printf("pipeline ok\n");
  return 0;
}

WEFT_MAIN(pipeline_main)
