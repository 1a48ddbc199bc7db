/*
 * context_timeout.c -- stopping goroutines with Go's context: a timeout on
 * one piece of work, and cancelling a whole pipeline.
 *
 * In Go:
 *
 *     ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
 *     defer cancel()
 *     err := slowWork(ctx)          // returns ctx.Err() once ctx is done
 *
 *     func slowWork(ctx context.Context) error {
 *         select {
 *         case <-time.After(time.Second):
 *             return nil
 *         case <-ctx.Done():
 *             return ctx.Err()      // context.DeadlineExceeded
 *         }
 *     }
 *
 * weft's contexts are the same tree of cancellation, with two C twists:
 * - A context is reference counted. Whoever creates one owns a reference
 *   and drops it with weft_ctx_unref, which also cancels it: that is Go's
 *   `defer cancel()`, and forgetting it leaks, exactly as in Go. A
 *   goroutine that may outlive its creator takes a reference of its own.
 * - Errors are negative errno values: context.DeadlineExceeded is
 *   -ETIMEDOUT and context.Canceled is -ECANCELED.
 * weft_ctx_done(ctx) is the ctx.Done() channel, for any select; the _ctx
 * twins (weft_sleep_ctx, weft_recv_ctx, weft_send_ctx, weft_select_ctx)
 * are that select written out once.
 *
 * Run: ./context_timeout
 */
#include <weft.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures;

static void check(int ok, const char *what) {
  printf("  %-58s %s\n", what, ok ? "ok" : "WRONG");
  if (!ok) failures++;
}

static void *xmalloc(size_t n) {
  void *p = malloc(n);
  if (!p) {
    fprintf(stderr, "out of memory\n");
    exit(1);
  }
  return p;
}

static weft_chan *make_chan(size_t elem_size, size_t cap) {
  weft_chan *c = weft_chan_make(elem_size, cap);
  if (!c) {
    fprintf(stderr, "weft_chan_make: out of memory\n");
    exit(1);
  }
  return c;
}

static weft_ctx *ctx_or_die(weft_ctx *c) {
  if (!c) {
    fprintf(stderr, "weft_ctx_with_*: out of memory\n");
    exit(1);
  }
  return c;
}

static void go_or_die(void (*fn)(void *), void *arg) {
  int rc = weft_go(fn, arg);
  if (rc != 0) {
    fprintf(stderr, "weft_go: %s\n", strerror(-rc));
    exit(1);
  }
}

static const char *err_name(int rc) {
  return rc == 0 ? "0" : rc == -ETIMEDOUT ? "-ETIMEDOUT"
                   : rc == -ECANCELED   ? "-ECANCELED"
                                        : strerror(-rc);
}

/* weft_num_goroutines counts goroutines that have not returned yet. A
 * cancelled goroutine needs a moment to be woken and to return: poll. (It
 * takes milliseconds; the limit is generous for overloaded machines.) */
static bool goroutines_back_to(int baseline) {
  int64_t give_up = weft_now() + 30 * WEFT_SEC;
  while (weft_num_goroutines() > baseline && weft_now() < give_up)
    weft_sleep(WEFT_MS);
  return weft_num_goroutines() == baseline;
}

/* ---- 1. a timeout on a goroutine's work -------------------------------- */

/* What a worker goroutine gets. It owns the references in here. */
typedef struct work {
  weft_ctx *ctx;
  int64_t work_ns;    /* how long the "work" takes */
  weft_chan *reply;   /* the worker waits for this; NULL: sleep instead */
  weft_chan *result;  /* int, capacity 1: the worker's return value */
} work;

/* Work that takes work_ns, or less if ctx says stop. weft_sleep_ctx is a
 * select on a timer and <-ctx.Done(); it returns 0 when the time is up and
 * ctx's error when ctx is done first. */
static int slow_work(weft_ctx *ctx, int64_t work_ns) {
  return weft_sleep_ctx(ctx, work_ns);
}

/* Waiting for an answer that may never come: weft_recv_ctx is a receive
 * with <-ctx.Done() as a second case. 1 = got a value, 0 = closed, else
 * ctx's error. */
static int await_reply(weft_ctx *ctx, weft_chan *reply) {
  int answer;
  int rc = weft_recv_ctx(ctx, reply, &answer);
  return rc == 1 ? 0 : rc == 0 ? -EPIPE : rc;
}

static void worker(void *arg) {
  work *w = arg;
  int rc = w->reply ? await_reply(w->ctx, w->reply)
                    : slow_work(w->ctx, w->work_ns);
  /* The result channel has room for one: this send never blocks, even if
   * nobody were listening any more. */
  weft_send(w->result, &rc);
  weft_chan_unref(w->result);
  weft_chan_unref(w->reply); /* NULL-safe */
  weft_ctx_unref(w->ctx);
  free(w);
}

/* Starts a worker under a timeout and waits for its result; returns the
 * result and the time it took. */
static int run_with_timeout(int64_t timeout, int64_t work_ns,
                            weft_chan *reply, double *ms) {
  int64_t t0 = weft_now();
  weft_ctx *ctx =
      ctx_or_die(weft_ctx_with_timeout(weft_ctx_background(), timeout));
  weft_chan *result = make_chan(sizeof(int), 1);
  work *w = xmalloc(sizeof *w);
  /* The worker gets its own references: it may run on after we return. */
  *w = (work){weft_ctx_ref(ctx), work_ns, reply ? weft_chan_ref(reply) : NULL,
              weft_chan_ref(result)};
  go_or_die(worker, w);
  int rc;
  weft_recv(result, &rc);
  *ms = (weft_now() - t0) / 1e6;
  weft_chan_unref(result);
  weft_ctx_unref(ctx); /* Go's `defer cancel()`: stops the timer at once */
  return rc;
}

static void timeouts(int baseline) {
  double ms;
  int rc;

  /* The checks stay true on a machine so loaded that threads wait whole
   * seconds for a CPU: an hour-long job cannot finish, and a timer never
   * fires early. So there is no "and quickly" check; the times printed
   * show how quick it was. */
  printf("an hour of work under a 20 ms timeout (weft_sleep_ctx):\n");
  rc = run_with_timeout(20 * WEFT_MS, 3600 * WEFT_SEC, NULL, &ms);
  printf("  worker returned %s after %.1f ms\n", err_name(rc), ms);
  /* weft_sleep_ctx returns 0 if the full time passed: -ETIMEDOUT means
   * the timeout, not the end of the work, stopped it. */
  check(rc == -ETIMEDOUT, "the worker gave up with -ETIMEDOUT");
  check(ms >= 20, "no earlier than the 20 ms timeout");

  printf("1 ms of work under a 1 h timeout:\n");
  rc = run_with_timeout(3600 * WEFT_SEC, WEFT_MS, NULL, &ms);
  printf("  worker returned %s after %.1f ms\n", err_name(rc), ms);
  check(rc == 0, "the work finished first: 0");

  printf("waiting for a reply nobody sends, under a 20 ms timeout "
         "(weft_recv_ctx):\n");
  weft_chan *never = make_chan(sizeof(int), 0);
  rc = run_with_timeout(20 * WEFT_MS, 0, never, &ms);
  weft_chan_unref(never);
  printf("  worker returned %s after %.1f ms\n", err_name(rc), ms);
  check(rc == -ETIMEDOUT && ms >= 20, "the receive gave up with -ETIMEDOUT");

  /* Deadlines only shrink down the tree: a child asking for an hour under
   * a parent with 20 ms gets the parent's deadline. */
  printf("a 1 h timeout under a 20 ms one:\n");
  weft_ctx *parent =
      ctx_or_die(weft_ctx_with_timeout(weft_ctx_background(), 20 * WEFT_MS));
  weft_ctx *child =
      ctx_or_die(weft_ctx_with_timeout(parent, 3600 * WEFT_SEC));
  check(weft_ctx_deadline(child) == weft_ctx_deadline(parent),
        "the child's deadline is the parent's");
  weft_recv(weft_ctx_done(child), NULL); /* returns when done closes */
  check(weft_ctx_err(child) == -ETIMEDOUT, "the child timed out with it");
  weft_ctx_unref(child);
  weft_ctx_unref(parent);

  check(goroutines_back_to(baseline), "no worker goroutine left");
}

/* ---- 2. a pipeline cancelled by its consumer --------------------------- */

/* gen -> add -> add -> add -> consumer. Each stage owns a reference to the
 * context and to its channels, and frees its own argument. */
typedef struct stage {
  weft_ctx *ctx;
  weft_chan *in;  /* NULL for the generator */
  weft_chan *out; /* ours to close */
  long add;
} stage;

static void stage_exit(stage *s) {
  weft_close(s->out); /* a finished stage still closes its output */
  weft_chan_unref(s->out);
  weft_chan_unref(s->in);
  weft_ctx_unref(s->ctx);
  free(s);
}

/* An endless generator: only the context can stop it. The select is
 * written out here; the other stages use the _ctx twins, which are the
 * same select. */
static void gen_body(void *arg) {
  stage *s = arg;
  weft_chan *done = weft_ctx_done(s->ctx); /* lives as long as s->ctx */
  for (long i = 1;; i++) {
    /* select { case out <- i: case <-ctx.Done(): return } */
    weft_case cases[] = {WEFT_SEND(s->out, &i), WEFT_RECV(done, NULL)};
    if (weft_select(cases, 2) != 0) break;
  }
  stage_exit(s);
}

static void add_body(void *arg) {
  stage *s = arg;
  long v;
  /* 1 = a value; 0 = input closed; negative = ctx done. */
  while (weft_recv_ctx(s->ctx, s->in, &v) == 1) {
    v += s->add;
    if (weft_send_ctx(s->ctx, s->out, &v) != 0) break; /* ctx done */
  }
  stage_exit(s);
}

/* Starts a stage; the caller gets a reference to its output. The stage
 * takes over the caller's reference to in. */
static weft_chan *start_stage(void (*body)(void *), weft_ctx *ctx,
                              weft_chan *in, long add) {
  stage *s = xmalloc(sizeof *s);
  weft_chan *out = make_chan(sizeof(long), 0);
  *s = (stage){weft_ctx_ref(ctx), in, weft_chan_ref(out), add};
  go_or_die(body, s);
  return out;
}

static void cancel_pipeline(int baseline) {
  enum { ADDERS = 3, WANT = 5 };
  printf("gen(1..) -> +10 -> +10 -> +10 -> consumer, who stops after %d:\n",
         WANT);
  weft_ctx *ctx = ctx_or_die(weft_ctx_with_cancel(weft_ctx_background()));
  weft_chan *c = start_stage(gen_body, ctx, NULL, 0);
  for (int i = 0; i < ADDERS; i++) c = start_stage(add_body, ctx, c, 10);

  bool in_order = true;
  printf("  consumer got");
  for (long i = 1; i <= WANT; i++) {
    long v = 0;
    in_order &= weft_recv(c, &v) == 1 && v == i + 10 * ADDERS;
    printf(" %ld", v);
  }
  printf("\n");
  check(in_order, "31 32 33 34 35, in order");
  int running = weft_num_goroutines() - baseline;
  printf("  goroutines before cancel: %d\n", running);
  check(running == 1 + ADDERS, "all four stages were running");

  /* The consumer has what it wants. Without a cancel every stage would
   * block in its send forever: a goroutine leak. One cancel closes the
   * done channel that every stage selects on, however long the chain. */
  weft_ctx_cancel(ctx);
  check(goroutines_back_to(baseline), "after cancel: every stage returned");
  printf("  goroutines after cancel:  %d\n", weft_num_goroutines() - baseline);
  check(weft_ctx_err(ctx) == -ECANCELED, "ctx's error is -ECANCELED");
  weft_chan_unref(c);
  weft_ctx_unref(ctx);
}

int main(void) {
  int baseline = weft_num_goroutines();
  timeouts(baseline);
  cancel_pipeline(baseline);
  if (failures) {
    printf("%d check(s) failed\n", failures);
    return 1;
  }
  printf("context_timeout ok\n");
  return 0;
}
