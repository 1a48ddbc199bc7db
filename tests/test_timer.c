/* test_timer.c -- Go's time.After, Timer and Ticker (time/sleep_test.go,
 * tick_test.go) with Go 1.23's Stop and Reset: firing no earlier than asked
 * (the value is the firing time), stop before and after firing, reset,
 * tickers (period, dropped ticks, stop, reset), invalid arguments, use from
 * plain threads, 10,000 goroutines each selecting on its own weft_after, and
 * stop/reset/free racing with the firing. */
#include <pthread.h>

#include "weft_test.h"

/* Check's ck_assert_* report every passing check to the parent through a
 * pipe (a system call each): hot loops use these, silent until they fail. */

/* Generous: the machine is small and shared. */
#define LATE (2 * WEFT_SEC)

static weft_waitgroup g_wg = WEFT_WAITGROUP_INIT;


/* Receives one firing time from c, checking that it is no earlier than
 * start + d and no later than now. Returns it. */
static int64_t recv_fired(weft_chan *c, int64_t start, int64_t d) {
  int64_t v = -1;
  ck_assert_int_eq(weft_recv_dl(c, &v, weft_now() + 10 * WEFT_SEC), 1);
  int64_t now = weft_now();
  ck_assert_msg(v >= start + d, "fired %lld ns after start, asked %lld",
                (long long)(v - start), (long long)d);
  ck_assert_int_le(v, now);
  ck_assert_msg(now - start < d + LATE, "received %lld ns after start",
                (long long)(now - start));
  return v;
}

/* Nothing arrives on c within ms milliseconds (and none is buffered). */
static void assert_silent(weft_chan *c, int ms) {
  int64_t v = 0;
  ck_assert_int_eq(weft_recv_dl(c, &v, weft_now() + ms * WEFT_MS),
                   -ETIMEDOUT);
  ck_assert_uint_eq(weft_chan_len(c), 0);
}

/* Waits until *counter reaches target, failing if it stops moving for
 * stall_s seconds: a deadlocked P never comes back, so waiting on a
 * WaitGroup would hang the test until its timeout. */
static void watch_progress(atomic_int *counter, int target, int stall_s,
                           const char *what) {
  int last = -1;
  int64_t stalled_since = weft_now();
  for (;;) {
    int now = atomic_load(counter);
    if (now >= target)
      return;
    if (now != last) {
      last = now;
      stalled_since = weft_now();
    } else if (weft_now() - stalled_since > stall_s * WEFT_SEC) {
      ck_abort_msg("%s: no progress for %d s at %d of %d", what, stall_s, now,
                   target);
    }
    weft_test_os_sleep_ms(5);
  }
}

/* ---- weft_after --------------------------------------------------------------- */

#define D (30 * WEFT_MS)

static void after_in_goroutine(void *arg) {
  int64_t d = (int64_t)(intptr_t)arg * WEFT_MS;
  int64_t start = weft_now();
  weft_chan *c = weft_after(d);
  WEFT_EXPECT(c != NULL, "weft_after returned NULL");
  int64_t v = -1;
  int rc = weft_recv(c, &v);
  int64_t now = weft_now();
  WEFT_EXPECT(rc == 1, "recv returned %d", rc);
  WEFT_EXPECT(v >= start + d && v <= now && now - start < d + LATE,
              "after(%lld): value at %lld, received at %lld", (long long)d,
              (long long)(v - start), (long long)(now - start));
  weft_chan_unref(c);
  weft_wg_done(&g_wg);
}

START_TEST(test_after) {
  weft_procs(2);
  int64_t start = weft_now();
  weft_chan *c = weft_after(D);
  ck_assert_ptr_nonnull(c);
  ck_assert_uint_eq(weft_chan_cap(c), 1);
  /* Not before its time (checkable only if we got here before D / 2: a
   * slow sanitizer build on a loaded machine may not). */
  int64_t v = 0;
  int rc = weft_recv_dl(c, &v, start + D / 2);
  if (weft_now() < start + D)
    ck_assert_int_eq(rc, -ETIMEDOUT);
  if (rc == 1) /* too late to check: the value still says when it fired */
    ck_assert_int_ge(v, start + D);
  else
    recv_fired(c, start, D);
  /* Exactly one value. */
  assert_silent(c, 2 * D / WEFT_MS);
  weft_chan_unref(c);

  /* Zero and negative durations fire at once. */
  for (int64_t d = -WEFT_SEC; d <= 0; d += WEFT_SEC) {
    start = weft_now();
    c = weft_after(d);
    recv_fired(c, start, 0);
    weft_chan_unref(c);
  }

  /* From goroutines, with several durations at once. */
  weft_wg_add(&g_wg, 20);
  for (int i = 0; i < 20; i++)
    go_or_die(after_in_goroutine, (void *)(intptr_t)(1 + i % 40));
  weft_wg_wait(&g_wg);
  WEFT_ASSERT_NO_FAILURES();

  /* Dropping the channel before it fires: the timer keeps its own
   * reference (ASan sees no use after free when they fire). */
  for (int i = 0; i < 100; i++)
    weft_chan_unref(weft_after((i % 5) * WEFT_MS));
  /* ... and dropping it after it fired, unreceived. */
  c = weft_after(0);
  ck_assert(WEFT_POLL_UNTIL(weft_chan_len(c) == 1, 10000));
  weft_chan_unref(c);
  weft_test_os_sleep_ms(50);
}
END_TEST

/* ---- Timer.Stop ------------------------------------------------------------- */

START_TEST(test_timer_stop) {
  weft_procs(2);
  /* Before firing: prevented, and nothing ever arrives. */
  weft_timer *t = weft_timer_new(D);
  ck_assert_ptr_nonnull(t);
  weft_chan *c = weft_timer_chan(t);
  ck_assert_ptr_nonnull(c);
  ck_assert_uint_eq(weft_chan_cap(c), 1);
  ck_assert_int_eq(weft_timer_stop(t), 1);
  assert_silent(c, 2 * D / WEFT_MS);
  ck_assert_int_eq(weft_timer_stop(t), 0); /* already stopped */
  weft_timer_free(t);

  /* After firing and receiving: nothing to prevent. */
  int64_t start = weft_now();
  t = weft_timer_new(10 * WEFT_MS);
  recv_fired(weft_timer_chan(t), start, 10 * WEFT_MS);
  ck_assert_int_eq(weft_timer_stop(t), 0);
  assert_silent(weft_timer_chan(t), 30);
  weft_timer_free(t);

  /* After firing but before receiving: Go 1.23 takes the value back and
   * reports the firing as prevented. */
  t = weft_timer_new(5 * WEFT_MS);
  c = weft_timer_chan(t);
  ck_assert(WEFT_POLL_UNTIL(weft_chan_len(c) == 1, 10000));
  ck_assert_int_eq(weft_timer_stop(t), 1);
  ck_assert_uint_eq(weft_chan_len(c), 0);
  assert_silent(c, 30);
  ck_assert_int_eq(weft_timer_stop(t), 0);
  weft_timer_free(t);

  /* Free without stop, before it fires (ASan: the firing must not
   * happen on freed memory). */
  for (int i = 0; i < 50; i++)
    weft_timer_free(weft_timer_new((i % 3) * WEFT_MS));
  weft_test_os_sleep_ms(20);
}
END_TEST

/* ---- Timer.Reset ------------------------------------------------------------ */

START_TEST(test_timer_reset) {
  weft_procs(2);
  /* Reset an active timer to fire sooner: returns 1. */
  weft_timer *t = weft_timer_new(3600 * WEFT_SEC);
  weft_chan *c = weft_timer_chan(t);
  int64_t start = weft_now();
  ck_assert_int_eq(weft_timer_reset(t, 20 * WEFT_MS), 1);
  int64_t v = recv_fired(c, start, 20 * WEFT_MS);
  (void)v;
  /* Reset after firing and receiving: returns 0 and fires again after the
   * new duration. */
  start = weft_now();
  ck_assert_int_eq(weft_timer_reset(t, D), 0);
  int64_t early = 0;
  ck_assert_int_eq(weft_recv_dl(c, &early, start + D / 2), -ETIMEDOUT);
  recv_fired(c, start, D);
  assert_silent(c, 20);
  /* Reset with a fired value pending: the stale value is discarded, the
   * timer counts as active (1), and only the new firing arrives. */
  ck_assert_int_eq(weft_timer_reset(t, 1 * WEFT_MS), 0);
  ck_assert(WEFT_POLL_UNTIL(weft_chan_len(c) == 1, 10000));
  start = weft_now();
  ck_assert_int_eq(weft_timer_reset(t, 50 * WEFT_MS), 1);
  ck_assert_uint_eq(weft_chan_len(c), 0);
  ck_assert_int_eq(weft_recv_dl(c, &early, start + 20 * WEFT_MS), -ETIMEDOUT);
  recv_fired(c, start, 50 * WEFT_MS);
  /* Reset after stop: 0, and it fires. */
  ck_assert_int_eq(weft_timer_reset(t, 3600 * WEFT_SEC), 0);
  ck_assert_int_eq(weft_timer_stop(t), 1);
  start = weft_now();
  ck_assert_int_eq(weft_timer_reset(t, 10 * WEFT_MS), 0);
  recv_fired(c, start, 10 * WEFT_MS);
  /* Go's TestReset: reset repeatedly before it fires; only the last
   * duration counts. */
  start = weft_now();
  ck_assert_int_eq(weft_timer_reset(t, 15 * WEFT_MS), 0);
  for (int i = 0; i < 5; i++) {
    weft_sleep(5 * WEFT_MS);
    start = weft_now();
    ck_assert_int_eq(weft_timer_reset(t, 15 * WEFT_MS), 1);
  }
  recv_fired(c, start, 15 * WEFT_MS);
  /* Zero or negative: fire at once. */
  start = weft_now();
  ck_assert_int_eq(weft_timer_reset(t, 0), 0);
  recv_fired(c, start, 0);
  ck_assert_int_eq(weft_timer_reset(t, -WEFT_SEC), 0);
  recv_fired(c, start, 0);
  assert_silent(c, 10);
  weft_timer_free(t);

  /* A timer made with 0 fires at once. */
  start = weft_now();
  t = weft_timer_new(0);
  recv_fired(weft_timer_chan(t), start, 0);
  weft_timer_free(t);
}
END_TEST

/* ---- tickers ------------------------------------------------------------------- */

#define PERIOD (20 * WEFT_MS)
#define TICKS 6

/* A ticker's slow receiver on the test's thread: ticks it misses are
 * dropped, not queued. In 60 ms the ticker is due 30 times, yet the
 * receiver then finds at most two that fired before it came back: the one
 * the channel has room for, and one whose firing read the clock before
 * the receiver came back and sent after it made room. */
static void assert_slow_receiver_drops(void) {
  weft_timer *t = weft_ticker_new(2 * WEFT_MS);
  weft_chan *c = weft_timer_chan(t);
  weft_test_os_sleep_ms(60);
  int64_t back = weft_now();
  int64_t v = 0, prev = 0;
  int stale = 0, drained = 0;
  while (drained < 100 && weft_recv_dl(c, &v, 0) == 1) { /* all there is */
    drained++;
    stale += v < back;
    prev = v;
  }
  for (int k = 0; k < 3; k++) { /* then it goes on ticking */
    ck_assert_int_eq(weft_recv_dl(c, &v, weft_now() + 10 * WEFT_SEC), 1);
    ck_assert_int_gt(v, prev);
    prev = v;
    stale += v < back;
  }
  ck_assert_msg(stale <= 2,
                "%d ticks from before the receiver came back (%d waiting "
                "at once): missed ticks were queued",
                stale, drained);
  weft_timer_free(t);
}

START_TEST(test_ticker) {
  weft_procs(2);
  ck_assert_ptr_null(weft_ticker_new(0));
  ck_assert_ptr_null(weft_ticker_new(-WEFT_MS));
  int64_t start = weft_now();
  weft_timer *t = weft_ticker_new(PERIOD);
  ck_assert_ptr_nonnull(t);
  weft_chan *c = weft_timer_chan(t);
  ck_assert_uint_eq(weft_chan_cap(c), 1);
  int64_t tick[TICKS];
  for (int k = 0; k < TICKS; k++) {
    tick[k] = -1;
    ck_assert_int_eq(weft_recv_dl(c, &tick[k], weft_now() + 10 * WEFT_SEC), 1);
    /* Tick k is due at start + (k + 1) * period, and never earlier. */
    ck_assert_msg(tick[k] >= start + (k + 1) * PERIOD,
                  "tick %d at %lld ns, due at %lld", k,
                  (long long)(tick[k] - start), (long long)((k + 1) * PERIOD));
    /* Tick k is due a period after tick k-1 was due, so the interval is at
     * least a period minus how late tick k-1 fired (at most its time past
     * the earliest it could have been due). */
    if (k > 0) {
      int64_t late = tick[k - 1] - (start + k * PERIOD);
      ck_assert_msg(tick[k] - tick[k - 1] >= PERIOD - late,
                    "ticks %d and %d only %lld ns apart (the first %lld late)",
                    k - 1, k, (long long)(tick[k] - tick[k - 1]),
                    (long long)late);
    }
  }
  ck_assert_int_lt(weft_now() - start, TICKS * PERIOD + LATE);
  /* Stop: active, so 1; no tick afterwards. (Half a period after the
   * last tick: test_ticker_stop_after_tick stops right after one.) */
  weft_test_os_sleep_ms(PERIOD / WEFT_MS / 2);
  ck_assert_int_eq(weft_timer_stop(t), 1);
  assert_silent(c, 3 * PERIOD / WEFT_MS);
  ck_assert_int_eq(weft_timer_stop(t), 0);
  weft_timer_free(t);

  assert_slow_receiver_drops();
}
END_TEST

/* A slow receiver that is a goroutine computing on the only P: while it
 * computes no timer can fire, so each receive parks, the P runs the
 * overdue ticker once, and the periods it missed are skipped, not fired
 * one after another (which would leave a stale tick waiting at once). */
#define SLOW_PERIOD (5 * WEFT_MS)
#define SLOW_ROUNDS 6

static void slow_ticker_reader(void *arg) {
  int *got = arg;
  weft_timer *t = weft_ticker_new(SLOW_PERIOD);
  weft_chan *c = weft_timer_chan(t);
  int64_t v;
  for (int r = 0; r < SLOW_ROUNDS; r++) {
    weft_test_busy_ms(4 * SLOW_PERIOD / WEFT_MS); /* four periods missed */
    int64_t asked = weft_now();
    int rc = weft_recv(c, &v);
    WEFT_EXPECT(rc == 1 && v >= asked,
                "round %d: rc %d, a tick fired %lld ns before the receive",
                r, rc, (long long)(asked - v));
    (*got)++;
    while (weft_recv_dl(c, &v, 0) == 1) /* must find none */
      (*got)++;
  }
  weft_timer_free(t);
  weft_wg_done(&g_wg);
}

START_TEST(test_ticker_slow_reader_skips) {
  weft_procs(1);
  int got = 0;
  int64_t start = weft_now();
  weft_wg_add(&g_wg, 1);
  ck_assert_int_eq(weft_go(slow_ticker_reader, &got), 0);
  weft_wg_wait(&g_wg);
  WEFT_ASSERT_NO_FAILURES();
  ck_assert_msg(got == SLOW_ROUNDS,
                "%d ticks in %d slow rounds (%lld periods elapsed)", got,
                SLOW_ROUNDS, (long long)((weft_now() - start) / SLOW_PERIOD));
}
END_TEST

/* A running ticker stopped (or reset) right after a tick was received:
 * the firing that delivered the tick may still be finishing (the receiver
 * was woken from inside it). The ticker is active and the stop prevents
 * its next firing, so stop (and reset) must return 1, and no tick may
 * follow the stop. */
#define STOP_TICK_N 200

START_TEST(test_ticker_stop_after_tick) {
  weft_procs(2);
  int stop0 = 0, reset0 = 0, later = 0;
  for (int i = 0; i < STOP_TICK_N; i++) {
    weft_timer *t = weft_ticker_new(2 * WEFT_MS);
    weft_chan *c = weft_timer_chan(t);
    int64_t v;
    ck_assert_int_eq(weft_recv(c, &v), 1);
    if (i % 2) {
      stop0 += weft_timer_stop(t) != 1;
      later += weft_recv_dl(c, &v, weft_now() + 10 * WEFT_MS) != -ETIMEDOUT;
    } else {
      reset0 += weft_timer_reset(t, 2 * WEFT_MS) != 1;
      ck_assert_int_eq(weft_recv(c, &v), 1); /* it keeps ticking */
    }
    weft_timer_free(t);
  }
  ck_assert_msg(stop0 == 0 && reset0 == 0 && later == 0,
                "of %d stops right after a tick, %d returned 0 for an active "
                "ticker; of %d resets, %d returned 0; %d ticks came after a "
                "stop",
                STOP_TICK_N / 2, stop0, STOP_TICK_N / 2, reset0, later);
}
END_TEST

START_TEST(test_ticker_reset) {
  weft_procs(2);
  weft_timer *t = weft_ticker_new(WEFT_SEC);
  weft_chan *c = weft_timer_chan(t);
  ck_assert_int_eq(weft_timer_reset(t, 0), -EINVAL);
  ck_assert_int_eq(weft_timer_reset(t, -5), -EINVAL);
  /* Still the old ticker after the failed resets. */
  int64_t v;
  ck_assert_int_eq(weft_recv_dl(c, &v, weft_now() + 20 * WEFT_MS), -ETIMEDOUT);
  /* From a 1 s period to 10 ms. */
  int64_t start = weft_now();
  ck_assert_int_eq(weft_timer_reset(t, 10 * WEFT_MS), 1);
  int64_t prev = start;
  for (int k = 0; k < 5; k++) {
    v = -1;
    ck_assert_int_eq(weft_recv_dl(c, &v, weft_now() + 10 * WEFT_SEC), 1);
    ck_assert_int_ge(v, start + (k + 1) * 10 * WEFT_MS);
    ck_assert_int_gt(v, prev);
    prev = v;
  }
  /* 5 ticks of 10 ms: nowhere near one 1 s period. */
  ck_assert_int_lt(weft_now() - start, 900 * WEFT_MS);
  /* Back to a long period: no tick for a while. (Half a period after the
   * last tick: test_ticker_stop_after_tick resets right after one.) */
  weft_test_os_sleep_ms(5);
  ck_assert_int_eq(weft_timer_reset(t, WEFT_SEC), 1);
  assert_silent(c, 50);
  /* Reset after stop restarts it. */
  ck_assert_int_eq(weft_timer_stop(t), 1);
  start = weft_now();
  ck_assert_int_eq(weft_timer_reset(t, 5 * WEFT_MS), 0);
  for (int k = 0; k < 3; k++)
    recv_fired(c, start, (k + 1) * 5 * WEFT_MS);
  weft_timer_free(t);
}
END_TEST

/* ---- plain threads ------------------------------------------------------------ */

static void *thread_timers(void *arg) {
  (void)arg;
  for (int i = 0; i < 5; i++) {
    int64_t start = weft_now();
    weft_chan *c = weft_after(5 * WEFT_MS);
    int64_t v = -1;
    int rc = weft_recv(c, &v);
    WEFT_EXPECT(rc == 1 && v >= start + 5 * WEFT_MS, "after on a thread: rc %d",
                rc);
    weft_chan_unref(c);
    weft_timer *t = weft_timer_new(3600 * WEFT_SEC);
    start = weft_now();
    WEFT_EXPECT(weft_timer_reset(t, 5 * WEFT_MS) == 1, "reset");
    rc = weft_recv(weft_timer_chan(t), &v);
    WEFT_EXPECT(rc == 1 && v >= start + 5 * WEFT_MS, "timer on a thread");
    WEFT_EXPECT(weft_timer_stop(t) == 0, "stop after receive");
    weft_timer_free(t);
  }
  return NULL;
}

START_TEST(test_timers_plain_threads) {
  /* Before anything else starts the runtime: the main thread's first call
   * is a timer. */
  int64_t start = weft_now();
  weft_chan *c = weft_after(10 * WEFT_MS);
  recv_fired(c, start, 10 * WEFT_MS);
  weft_chan_unref(c);
  pthread_t th[3];
  for (int i = 0; i < 3; i++)
    ck_assert_int_eq(pthread_create(&th[i], NULL, thread_timers, NULL), 0);
  for (int i = 0; i < 3; i++)
    pthread_join(th[i], NULL);
  WEFT_ASSERT_NO_FAILURES();
}
END_TEST

/* ---- 10,000 goroutines on their own timers --------------------------------------- */

#define MANY_G 10000
static atomic_int g_fired, g_returned;

static void select_on_after(void *arg) {
  int64_t d = (1 + (intptr_t)arg % 10) * WEFT_MS;
  int64_t start = weft_now();
  weft_chan *c = weft_after(d);
  int64_t v = -1;
  weft_case cs[2] = {WEFT_RECV(NULL, NULL), WEFT_RECV(c, &v)};
  int rc = weft_select_dl(cs, 2, start + 60 * WEFT_SEC);
  WEFT_EXPECT(rc == 1 && cs[1].ok == 1, "select returned %d", rc);
  WEFT_EXPECT(v >= start + d, "fired %lld ns after start, asked %lld",
              (long long)(v - start), (long long)d);
  if (rc == 1)
    atomic_fetch_add(&g_fired, 1);
  weft_chan_unref(c);
  atomic_fetch_add(&g_returned, 1);
  weft_wg_done(&g_wg);
}

#ifdef WEFT_TEST_TSAN
#define MANY_ROUNDS 1
#else
#define MANY_ROUNDS 3
#endif
static atomic_int g_spawn_errors;

/* Spawns from a plain thread (through the global queue), so that the main
 * thread stays free to watch: if the runtime deadlocks, the spawner may be
 * caught in it too. */
static void *many_spawner(void *arg) {
  (void)arg;
  for (int i = 0; i < MANY_G; i++)
    if (weft_go(select_on_after, (void *)(intptr_t)i) != 0) {
      atomic_fetch_add(&g_spawn_errors, 1);
      atomic_fetch_add(&g_returned, 1);
      weft_wg_done(&g_wg);
    }
  return NULL;
}

START_TEST(test_many_afters) {
  weft_procs(4);
  for (int round = 1; round <= MANY_ROUNDS; round++) {
    int64_t start = weft_now();
    weft_wg_add(&g_wg, MANY_G);
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, many_spawner, NULL), 0);
    watch_progress(&g_returned, round * MANY_G, 20,
                   "goroutines selecting on their own weft_after (the "
                   "runtime deadlocked?)");
    pthread_join(th, NULL);
    weft_wg_wait(&g_wg);
    WEFT_ASSERT_NO_FAILURES();
    ck_assert_int_eq(atomic_load(&g_spawn_errors), 0);
    ck_assert_int_eq(atomic_load(&g_fired), round * MANY_G);
    ck_assert_int_lt(weft_now() - start, 30 * WEFT_SEC);
  }
}
END_TEST

/* ---- stop, reset and free racing with the firing ----------------------------- */

#define RACE_N WEFT_SCALE(2000)
/* Not scaled: the sanitizers are what catches a timer freed while its
 * callback still runs (e.g. when two threads run one P's timers). */
#define FREE_RACE_N 3000

/* A timer whose value nobody received, stopped once: Go 1.23 says the
 * stop prevented (or took back) the firing, so it returns 1, and nothing is
 * received afterwards, however close the stop came to the firing. */
static void stop_racer(void *arg) {
  unsigned seed = (unsigned)(uintptr_t)arg;
  for (int i = 0; i < RACE_N; i++) {
    seed = seed * 1103515245u + 12345u;
    int64_t d = (int64_t)(seed >> 16) % (200 * WEFT_US);
    weft_timer *t = weft_timer_new(d);
    if (seed & 0x100)
      weft_sleep((int64_t)(seed >> 20) % (200 * WEFT_US));
    else
      weft_yield();
    int rc = weft_timer_stop(t);
    WEFT_EXPECT(rc == 1, "stop of an unreceived timer returned %d", rc);
    int64_t v;
    rc = weft_recv_dl(weft_timer_chan(t), &v, 0);
    WEFT_EXPECT(rc == -ETIMEDOUT, "received %d after stop", rc);
    if (i % 64 == 0) { /* and nothing comes later either */
      rc = weft_recv_dl(weft_timer_chan(t), &v, weft_now() + WEFT_MS);
      WEFT_EXPECT(rc == -ETIMEDOUT, "received %d long after stop", rc);
    }
    weft_timer_free(t);
  }
  weft_wg_done(&g_wg);
}

/* Reset racing with the firing: afterwards exactly one value arrives, and
 * it is from the new arming (no earlier than the reset + d). */
static void reset_racer(void *arg) {
  unsigned seed = (unsigned)(uintptr_t)arg;
  for (int i = 0; i < RACE_N / 4; i++) {
    seed = seed * 1103515245u + 12345u;
    weft_timer *t = weft_timer_new((int64_t)(seed >> 16) % (100 * WEFT_US));
    if (seed & 0x100)
      weft_sleep((int64_t)(seed >> 20) % (100 * WEFT_US));
    int64_t start = weft_now();
    int rc = weft_timer_reset(t, 200 * WEFT_US);
    WEFT_EXPECT(rc == 1, "reset of an unreceived timer returned %d", rc);
    int64_t v = -1;
    rc = weft_recv(weft_timer_chan(t), &v);
    WEFT_EXPECT(rc == 1 && v >= start + 200 * WEFT_US,
                "after reset got rc %d, fired %lld ns after the reset", rc,
                (long long)(v - start));
    rc = weft_recv_dl(weft_timer_chan(t), &v, weft_now() + 300 * WEFT_US);
    WEFT_EXPECT(rc == -ETIMEDOUT, "a second value after reset");
    weft_timer_free(t);
  }
  weft_wg_done(&g_wg);
}

/* Free racing with the firing (ASan: no use after free; TSan: no race). */
static void free_racer(void *arg) {
  unsigned seed = (unsigned)(uintptr_t)arg;
  for (int i = 0; i < FREE_RACE_N; i++) {
    seed = seed * 1103515245u + 12345u;
    weft_timer *t = (seed & 0x200)
                        ? weft_ticker_new(1 + (int64_t)(seed >> 16) % (50 * WEFT_US))
                        : weft_timer_new((int64_t)(seed >> 16) % (50 * WEFT_US));
    if (seed & 0x100)
      weft_sleep((int64_t)(seed >> 20) % (100 * WEFT_US));
    weft_timer_free(t);
  }
  weft_wg_done(&g_wg);
}

static void *thread_racer(void *arg) {
  stop_racer(arg);
  return NULL;
}

START_TEST(test_timer_races) {
  weft_procs(4);
  weft_wg_add(&g_wg, 10);
  for (uintptr_t i = 0; i < 3; i++) {
    go_or_die(stop_racer, (void *)(i + 1));
    go_or_die(reset_racer, (void *)(i + 11));
    go_or_die(free_racer, (void *)(i + 21));
  }
  pthread_t th;
  ck_assert_int_eq(pthread_create(&th, NULL, thread_racer, (void *)99), 0);
  weft_wg_wait(&g_wg);
  pthread_join(th, NULL);
  WEFT_ASSERT_NO_FAILURES();
}
END_TEST

/* ---- a timer that is due while its receiver parks ----------------------------
 *
 * A goroutine arms a timer and blocks on the timer's channel before the timer
 * has run, while the timer is already due (after(0), or a P busy past the
 * deadline). The P must run that timer at some point after the goroutine has
 * parked; it must never run it while the parking goroutine still holds the
 * channel's lock (fire() sends on that channel and would wait for the lock
 * forever, taking the P down with it). */
#define DUE_N WEFT_SCALE(3000)
#define DUE_G 4
static atomic_int g_due_progress;

static void due_while_parking(void *arg) {
  int kind = (int)(intptr_t)arg;
  for (int i = 0; i < DUE_N; i++) {
    int64_t v = -1;
    int rc;
    if (kind == 0) { /* <-time.After(0) */
      weft_chan *c = weft_after(0);
      rc = weft_recv(c, &v);
      weft_chan_unref(c);
    } else if (kind == 1) { /* select on time.After(0) and a nil channel */
      weft_chan *c = weft_after(0);
      weft_case cs[2] = {WEFT_RECV(NULL, NULL), WEFT_RECV(c, &v)};
      rc = weft_select(cs, 2) == 1 ? 1 : -1;
      weft_chan_unref(c);
    } else { /* NewTimer(0) */
      weft_timer *t = weft_timer_new(0);
      rc = weft_recv(weft_timer_chan(t), &v);
      weft_timer_free(t);
    }
    WEFT_EXPECT(rc == 1 && v > 0, "kind %d: rc %d v %lld", kind, rc,
                (long long)v);
    atomic_fetch_add(&g_due_progress, 1);
  }
  weft_wg_done(&g_wg);
}

START_TEST(test_timer_due_while_parking) {
  weft_procs(2);
  weft_wg_add(&g_wg, 3 * DUE_G);
  for (int k = 0; k < 3; k++)
    for (int i = 0; i < DUE_G; i++)
      go_or_die(due_while_parking, (void *)(intptr_t)k);
  watch_progress(&g_due_progress, 3 * DUE_G * DUE_N, 10,
                 "receives from due timers (a P deadlocked running a timer "
                 "whose channel the parking goroutine still locks?)");
  weft_wg_wait(&g_wg);
  WEFT_ASSERT_NO_FAILURES();
}
END_TEST

WEFT_TEST_MAIN("timer", test_after, test_timer_stop, test_timer_reset,
               test_ticker, test_ticker_slow_reader_skips,
               test_ticker_stop_after_tick, test_ticker_reset,
               test_timers_plain_threads,
               test_many_afters, test_timer_races,
               test_timer_due_while_parking)
