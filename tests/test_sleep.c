/* test_sleep.c -- weft_sleep and weft_now: durations respected on goroutines
 * and plain threads, many concurrent timers, wake order by deadline, zero and
 * negative durations, a sleeping goroutine freeing its P, and the clock. */
#include <pthread.h>

#include "weft_test.h"

static weft_waitgroup g_wg = WEFT_WAITGROUP_INIT;

#define SLACK (500 * WEFT_MS)

/* ---- one sleep ------------------------------------------------------------ */

static int64_t g_elapsed;
static int g_rc = -1;

static void sleep20(void *arg) {
  (void)arg;
  int64_t t0 = weft_now();
  g_rc = weft_sleep(20 * WEFT_MS);
  g_elapsed = weft_now() - t0;
  weft_wg_done(&g_wg);
}

START_TEST(test_sleep_goroutine) {
  weft_wg_add(&g_wg, 1);
  ck_assert_int_eq(weft_go(sleep20, NULL), 0);
  weft_wg_wait(&g_wg);
  ck_assert_int_eq(g_rc, 0);
  ck_assert_int_ge(g_elapsed, 20 * WEFT_MS);
  ck_assert_int_lt(g_elapsed, 20 * WEFT_MS + SLACK);
}
END_TEST

static void *sleep_thread(void *arg) {
  (void)arg;
  int64_t t0 = weft_test_clock();
  int rc = weft_sleep(20 * WEFT_MS);
  int64_t el = weft_test_clock() - t0;
  WEFT_EXPECT(rc == 0, "weft_sleep returned %d", rc);
  WEFT_EXPECT(el >= 20 * WEFT_MS && el < 20 * WEFT_MS + SLACK,
              "a plain thread slept %lld ns for 20 ms", (long long)el);
  return NULL;
}

START_TEST(test_sleep_plain_thread) {
  /* On main before the runtime ever ran a goroutine... */
  int64_t t0 = weft_now();
  ck_assert_int_eq(weft_sleep(20 * WEFT_MS), 0);
  int64_t el = weft_now() - t0;
  ck_assert_int_ge(el, 20 * WEFT_MS);
  ck_assert_int_lt(el, 20 * WEFT_MS + SLACK);
  /* ...and on several threads at once, while goroutines sleep too. */
  weft_wg_add(&g_wg, 1);
  ck_assert_int_eq(weft_go(sleep20, NULL), 0);
  pthread_t th[4];
  for (int i = 0; i < 4; i++)
    ck_assert_int_eq(pthread_create(&th[i], NULL, sleep_thread, NULL), 0);
  for (int i = 0; i < 4; i++)
    pthread_join(th[i], NULL);
  weft_wg_wait(&g_wg);
  WEFT_ASSERT_NO_FAILURES();
  ck_assert_int_ge(g_elapsed, 20 * WEFT_MS);
  ck_assert_int_lt(g_elapsed, 20 * WEFT_MS + SLACK);
}
END_TEST

/* ---- many timers ---------------------------------------------------------- */

#define MANY 1000
static atomic_int g_woken;
static atomic_int g_early;

static void sleep_random(void *arg) {
  int64_t d = (int64_t)(uintptr_t)arg * WEFT_MS;
  int64_t t0 = weft_now();
  int rc = weft_sleep(d);
  int64_t el = weft_now() - t0;
  WEFT_EXPECT(rc == 0, "weft_sleep returned %d", rc);
  WEFT_EXPECT(el >= d, "slept %lld ns for %lld ns", (long long)el,
              (long long)d);
  if (el < d)
    atomic_fetch_add(&g_early, 1);
  atomic_fetch_add(&g_woken, 1);
  weft_wg_done(&g_wg);
}

START_TEST(test_many_sleepers) {
  weft_procs(4);
  unsigned seed = 12345;
  weft_wg_add(&g_wg, MANY);
  for (int i = 0; i < MANY; i++) {
    seed = seed * 1103515245u + 12345u;
    uintptr_t ms = 1 + (seed >> 16) % 50;
    ck_assert_int_eq(weft_go(sleep_random, (void *)ms), 0);
  }
  /* All 1000 must wake well within a few seconds: a lost timer would leave
   * the count short instead of hanging the test. */
  int ok = WEFT_POLL_UNTIL(atomic_load(&g_woken) == MANY, 20000);
  ck_assert_msg(ok, "only %d of %d sleepers woke within 20 s",
                atomic_load(&g_woken), MANY);
  weft_wg_wait(&g_wg);
  WEFT_ASSERT_NO_FAILURES();
  ck_assert_int_eq(atomic_load(&g_early), 0);
}
END_TEST

/* ---- zero and negative ---------------------------------------------------- */

static atomic_int g_bad_rc;

static void sleep_zeroes(void *arg) {
  (void)arg;
  const int64_t v[] = {0, -1, -WEFT_SEC, INT64_MIN};
  for (int k = 0; k < 250; k++)
    for (int i = 0; i < 4; i++)
      if (weft_sleep(v[i]) != 0)
        atomic_fetch_add(&g_bad_rc, 1);
  weft_wg_done(&g_wg);
}

START_TEST(test_sleep_zero_and_negative) {
  const int64_t v[] = {0, -1, -WEFT_SEC, INT64_MIN};
  int64_t t0 = weft_now();
  for (int k = 0; k < 250; k++)
    for (int i = 0; i < 4; i++)
      ck_assert_int_eq(weft_sleep(v[i]), 0);
  int64_t el = weft_now() - t0;
  ck_assert_msg(el < 200 * WEFT_MS, "1000 zero sleeps on a thread took %lld ns",
                (long long)el);
  t0 = weft_now();
  weft_wg_add(&g_wg, 4);
  for (int i = 0; i < 4; i++)
    ck_assert_int_eq(weft_go(sleep_zeroes, NULL), 0);
  weft_wg_wait(&g_wg);
  el = weft_now() - t0;
  ck_assert_int_eq(atomic_load(&g_bad_rc), 0);
  ck_assert_msg(el < 500 * WEFT_MS,
                "4 goroutines x 1000 zero sleeps took %lld ns", (long long)el);
}
END_TEST

/* ---- wake order follows the deadlines ------------------------------------- */

#define ORDER_N 10
#define ORDER_STEP (20 * WEFT_MS) /* sleeper k sleeps (k + 1) steps */
/* Two deadlines closer than this are not judged: each sleeper reads the
 * clock just before weft_sleep does, and a thread descheduled in between
 * moves its real deadline past what it recorded. */
#define ORDER_SLACK (5 * WEFT_MS)
static atomic_int g_order_next;
static int g_order[ORDER_N];
static int64_t g_order_at[ORDER_N];

static int64_t g_order_deadline[ORDER_N]; /* by k, set by each sleeper */

static void sleep_then_record(void *arg) {
  int k = (int)(uintptr_t)arg;
  g_order_deadline[k] = weft_now() + (int64_t)(k + 1) * ORDER_STEP;
  weft_sleep((int64_t)(k + 1) * ORDER_STEP);
  int slot = atomic_fetch_add(&g_order_next, 1);
  if (slot < ORDER_N) {
    g_order[slot] = k;
    g_order_at[slot] = weft_now();
  }
  weft_wg_done(&g_wg);
}

static void spawn_order(void *arg) {
  (void)arg;
  /* Longest first, so that spawn order and deadline order disagree. */
  for (int k = ORDER_N - 1; k >= 0; k--) {
    int rc = weft_go(sleep_then_record, (void *)(uintptr_t)k);
    WEFT_EXPECT(rc == 0, "weft_go returned %d", rc);
  }
  weft_wg_done(&g_wg);
}

START_TEST(test_sleep_order) {
  /* One P: its thread fires every timer, from one heap, in deadline order,
   * and readies each woken sleeper at the tail of its run queue, so the
   * sleepers run (and take their slots) in deadline order however late
   * that thread gets the CPU: several overdue timers fire in one batch, in
   * order. With more Ps, a P whose thread is descheduled fires its own
   * timers late while the others fire theirs, and no order holds. */
  weft_procs(1);
  weft_wg_add(&g_wg, ORDER_N + 1);
  int64_t t0 = weft_now();
  ck_assert_int_eq(weft_go(spawn_order, NULL), 0);
  weft_wg_wait(&g_wg);
  WEFT_ASSERT_NO_FAILURES();
  ck_assert_int_eq(atomic_load(&g_order_next), ORDER_N);
  char msg[512];
  int len = 0;
  for (int i = 0; i < ORDER_N; i++)
    len += snprintf(msg + len, sizeof msg - (size_t)len, " %lld@%lldms",
                    (long long)((g_order_deadline[g_order[i]] - t0) / WEFT_MS),
                    (long long)((g_order_at[i] - t0) / WEFT_MS));
  /* Each sleeper's deadline is its own start plus its duration (spawning
   * the ten takes a while on a loaded machine). No pair may wake against
   * its deadlines' order. */
  for (int i = 0; i < ORDER_N; i++)
    for (int j = i + 1; j < ORDER_N; j++)
      ck_assert_msg(g_order_deadline[g_order[j]] + ORDER_SLACK >
                        g_order_deadline[g_order[i]],
                    "wake order (deadline@woken):%s", msg);
  for (int i = 0; i < ORDER_N; i++)
    ck_assert_int_ge(g_order_at[i], g_order_deadline[g_order[i]]);
}
END_TEST

/* ---- a sleeping goroutine frees its P ------------------------------------- */

static atomic_int g_sleeper_done, g_counter_stop;
static atomic_long g_progress_while_asleep;

static void long_sleeper(void *arg) {
  (void)arg;
  weft_sleep(200 * WEFT_MS);
  atomic_store(&g_sleeper_done, 1);
  weft_wg_done(&g_wg);
}

static void counter_until_woken(void *arg) {
  (void)arg;
  while (!atomic_load(&g_sleeper_done) && !atomic_load(&g_counter_stop)) {
    atomic_fetch_add(&g_progress_while_asleep, 1);
    weft_yield();
  }
  weft_wg_done(&g_wg);
}

START_TEST(test_sleep_frees_p) {
  weft_procs(1);
  /* Two yielders, so that each yield switches straight to the other one
   * and the P's scheduler loop (g0) never runs by itself. */
  weft_wg_add(&g_wg, 3);
  ck_assert_int_eq(weft_go(long_sleeper, NULL), 0);
  ck_assert_int_eq(weft_go(counter_until_woken, NULL), 0);
  ck_assert_int_eq(weft_go(counter_until_woken, NULL), 0);
  weft_sleep(100 * WEFT_MS);
  long mid = atomic_load(&g_progress_while_asleep);
  int done_early = atomic_load(&g_sleeper_done);
  /* The sleeper must wake although the other goroutine never blocks: the
   * P runs due timers between yields. */
  int woke = WEFT_POLL_UNTIL(atomic_load(&g_sleeper_done), 10000);
  atomic_store(&g_counter_stop, 1);
  weft_wg_wait(&g_wg);
  ck_assert_msg(!done_early, "a 200 ms sleep ended before 100 ms");
  ck_assert_msg(mid > 0, "the only P sat idle while its goroutine slept");
  ck_assert_msg(woke, "a sleeper on a P busy with a yielding goroutine did "
                      "not wake within 10 s");
}
END_TEST

/* ---- weft_now ------------------------------------------------------------- */

START_TEST(test_now_monotonic) {
  int64_t prev = weft_now();
  ck_assert_int_gt(prev, 0);
  int64_t back_from = 0, back_to = 0;
  for (int i = 0; i < 1000000; i++) {
    int64_t t = weft_now();
    if (t < prev && back_from == 0) {
      back_from = prev;
      back_to = t;
    }
    prev = t;
  }
  ck_assert_msg(back_from == 0, "weft_now went back: %lld then %lld",
                (long long)back_from, (long long)back_to);
  /* It is CLOCK_MONOTONIC in nanoseconds. */
  for (int i = 0; i < 100; i++) {
    int64_t a = weft_test_clock();
    int64_t w = weft_now();
    int64_t b = weft_test_clock();
    ck_assert_int_le(a, w);
    ck_assert_int_le(w, b);
  }
  int64_t t0 = weft_now();
  weft_test_os_sleep_ms(30);
  ck_assert_int_ge(weft_now() - t0, 30 * WEFT_MS);
}
END_TEST

WEFT_TEST_MAIN("sleep", test_sleep_goroutine, test_sleep_plain_thread,
               test_many_sleepers, test_sleep_zero_and_negative,
               test_sleep_order, test_sleep_frees_p, test_now_monotonic)
