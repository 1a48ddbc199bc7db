/*
 * select_timeouts.c -- giving up on a channel operation after a while, two
 * ways, and a ticker.
 *
 * Go has one way, a timer channel as one more select case:
 *
 *     select {
 *     case res := <-results:
 *         use(res)
 *     case <-time.After(20 * time.Millisecond):
 *         fmt.Println("timeout")
 *     }
 *
 * weft has that (weft_after, weft_timer_new), and also a deadline argument
 * on the operation itself: weft_recv_dl, weft_send_dl and weft_select_dl
 * take an absolute weft_now() time and return -ETIMEDOUT when it passes.
 * The deadline needs no channel and no allocation, and one deadline
 * computed up front bounds any number of operations; the timer channel is
 * a value that can be passed around, shared and stopped early.
 *
 * Then a ticker, Go's time.NewTicker: a channel that receives the time
 * every period until it is stopped.
 *
 * The checks only use what cannot depend on timing: a wait with a
 * deadline never ends early, a reply that is not sent yet cannot arrive,
 * and a stopped ticker never ticks again.
 *
 * Run: ./select_timeouts
 */
#include <weft.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures;

static void check(int ok, const char *what) {
  printf("  %-56s %s\n", what, ok ? "ok" : "WRONG");
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

static double ms_since(int64_t t0) { return (weft_now() - t0) / 1e6; }

/* ---- 1. a timer as a select case --------------------------------------- */

typedef struct result {
  char text[16];
} result;

typedef struct worker_args {
  weft_chan *go_ahead; /* chan struct{}: closed when the worker may reply */
  weft_chan *results;  /* capacity 1 */
} worker_args;

/* A slow worker. It replies only once main closes go_ahead, so the first
 * select below times out for certain, however loaded the machine is. */
static void slow_worker(void *arg) {
  worker_args a = *(worker_args *)arg;
  free(arg);
  weft_recv(a.go_ahead, NULL);
  result r = {"result"};
  /* results has room for one value: this send never blocks, even if main
   * had given up and nobody ever received. With an unbuffered channel, a
   * timed-out caller would leave this goroutine blocked forever (the
   * classic goroutine leak of the Go version too). */
  weft_send(a.results, &r);
  weft_chan_unref(a.go_ahead);
  weft_chan_unref(a.results);
}

static void timer_case(void) {
  printf("a timer as a select case:\n");
  weft_chan *go_ahead = make_chan(0, 0);
  weft_chan *results = make_chan(sizeof(result), 1);
  worker_args *a = malloc(sizeof *a);
  if (!a) exit(1);
  *a = (worker_args){weft_chan_ref(go_ahead), weft_chan_ref(results)};
  if (weft_go(slow_worker, a) != 0) exit(1);

  /* time.After: a channel that receives one int64_t (the firing time)
   * after 20 ms. We own one reference and must drop it, fired or not; the
   * timer holds its own until it fires. */
  result r;
  int64_t fired_at, t0 = weft_now();
  weft_chan *after = weft_after(20 * WEFT_MS);
  if (!after) exit(1);
  weft_case cases[] = {WEFT_RECV(results, &r), WEFT_RECV(after, &fired_at)};
  int i = weft_select(cases, 2);
  weft_chan_unref(after);
  printf("  no reply yet: select chose case %d after %.1f ms\n", i,
         ms_since(t0));
  check(i == 1 && fired_at - t0 >= 20 * WEFT_MS,
        "timed out, and not before 20 ms");

  /* Let the worker reply, and wait again, this time with a timer object
   * (time.NewTimer) that we stop as soon as the reply is in. */
  weft_close(go_ahead);
  weft_timer *timer = weft_timer_new(5 * WEFT_SEC);
  if (!timer) exit(1);
  cases[1] = WEFT_RECV(weft_timer_chan(timer), &fired_at);
  i = weft_select(cases, 2);
  printf("  reply sent: select chose case %d, \"%s\"\n", i,
         i == 0 ? r.text : "");
  check(i == 0 && strcmp(r.text, "result") == 0, "got the reply in time");
  /* Stop returns 1: we prevented the firing. An unstopped timer would
   * still fire in 5 s into a channel nobody reads. */
  check(weft_timer_stop(timer) == 1, "timer stopped before it fired");
  weft_timer_free(timer);

  weft_chan_unref(go_ahead);
  weft_chan_unref(results);
}

/* ---- 2. a deadline on the operation itself ----------------------------- */

static void deadlines(void) {
  printf("a deadline on the operation:\n");
  weft_chan *quiet = make_chan(sizeof(int), 0); /* nobody ever sends */
  weft_chan *full = make_chan(sizeof(int), 1);
  int v = 7;
  weft_send(full, &v); /* now a second send would block */

  int64_t t0 = weft_now();
  int rc = weft_recv_dl(quiet, &v, t0 + 20 * WEFT_MS);
  printf("  weft_recv_dl returned %s after %.1f ms\n",
         rc == -ETIMEDOUT ? "-ETIMEDOUT" : strerror(-rc), ms_since(t0));
  check(rc == -ETIMEDOUT && weft_now() - t0 >= 20 * WEFT_MS,
        "receive gave up at its deadline, not before");

  /* One deadline for a whole select: neither case can run. */
  t0 = weft_now();
  weft_case cases[] = {WEFT_RECV(quiet, &v), WEFT_SEND(full, &v)};
  rc = weft_select_dl(cases, 2, t0 + 10 * WEFT_MS);
  check(rc == -ETIMEDOUT && weft_now() - t0 >= 10 * WEFT_MS,
        "select gave up at its deadline, not before");

  /* A deadline already past (0 is as good as any) does not wait at all:
   * that is Go's select with a default case. A case that is ready still
   * runs. */
  check(weft_recv_dl(quiet, &v, 0) == -ETIMEDOUT,
        "past deadline, nothing ready: -ETIMEDOUT at once");
  cases[1] = WEFT_RECV(full, &v);
  v = 0; /* so that a 7 can only come out of the channel */
  rc = weft_select_dl(cases, 2, 0);
  check(rc == 1 && v == 7, "past deadline, a case ready: it runs");

  weft_chan_unref(quiet);
  weft_chan_unref(full);
}

/* ---- 3. a ticker -------------------------------------------------------- */

static void ticker(void) {
  enum { TICKS = 3 };
  const int64_t period = 10 * WEFT_MS;
  printf("a ticker every 10 ms:\n");

  int64_t t0 = weft_now();
  weft_timer *tk = weft_ticker_new(period);
  if (!tk) exit(1);
  weft_chan *ticks = weft_timer_chan(tk);

  /* Go's  for t := range ticker.C { ...; if n == 3 { break } }
   * Each value is the time of its tick. A receiver that falls behind gets
   * fewer ticks, never a backlog (the channel holds one), so the n-th tick
   * received is at least n periods after the start. */
  int on_time = 1;
  for (int n = 1; n <= TICKS; n++) {
    int64_t at;
    weft_recv(ticks, &at);
    printf("  tick %d at %.1f ms\n", n, (at - t0) / 1e6);
    on_time &= at - t0 >= n * period;
  }
  check(on_time, "no tick came early");

  /* Stop it: a ticker is not stopped by ignoring it, it keeps firing
   * (and keeps its place in the timer heap) until stopped. After the
   * stop, no tick from before it is delivered either. */
  weft_timer_stop(tk);
  int64_t at;
  check(weft_recv_dl(ticks, &at, weft_now() + 3 * period) == -ETIMEDOUT,
        "no tick in the 3 periods after the stop");
  weft_timer_free(tk);
}

int main(void) {
  timer_case();
  deadlines();
  ticker();

  /* The worker may still be between its send and its unrefs. */
  int64_t give_up = weft_now() + 5 * WEFT_SEC;
  while (weft_num_goroutines() > 0 && weft_now() < give_up)
    weft_sleep(WEFT_MS);
  check(weft_num_goroutines() == 0, "every goroutine returned");

  if (failures) {
    printf("%d check(s) failed\n", failures);
    return 1;
  }
  printf("select and timeouts ok\n");
  return 0;
}
