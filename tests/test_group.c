/* test_group.c -- errgroup with a limit: at most limit tasks at once (and
 * group_go blocking meanwhile), the first error returned by wait and
 * cancelling the group's context (with that error as the cause) while the
 * other tasks see the cancel, wait returning 0 when all succeed (and then
 * cancelling the context, as errgroup.Wait does), a parent context reaching
 * the tasks, bad arguments, and a million tasks through a limit of 8 with
 * an exact sum and bounded memory. */
#include <pthread.h>

#include "weft_test.h"

#ifdef WEFT_TEST_SANITIZED
#define SLOW 3
#else
#define SLOW 1
#endif

static void record_max(atomic_int *max, int v) {
  int m = atomic_load(max);
  while (v > m && !atomic_compare_exchange_weak(max, &m, v))
    ;
}

/* ---- the limit -------------------------------------------------------------------- */

#define LIM 3
#define LIM_TASKS 40
static atomic_int g_lim_in, g_lim_max, g_lim_ran;

static int lim_task(weft_ctx *ctx, void *arg) {
  (void)arg;
  WEFT_EXPECT(weft_ctx_err(ctx) == 0, "task started on a done ctx");
  int n = atomic_fetch_add(&g_lim_in, 1) + 1;
  record_max(&g_lim_max, n);
  WEFT_EXPECT(n <= LIM, "%d tasks running under a limit of %d", n, LIM);
  weft_sleep(2 * WEFT_MS); /* overlap with the others */
  atomic_fetch_sub(&g_lim_in, 1);
  atomic_fetch_add(&g_lim_ran, 1);
  return 0;
}

START_TEST(test_limit) {
  weft_procs(4);
  weft_group *g = weft_group_new(NULL, LIM);
  ck_assert_ptr_nonnull(g);
  for (int i = 0; i < LIM_TASKS; i++)
    ck_assert_int_eq(weft_group_go(g, lim_task, NULL), 0);
  ck_assert_int_eq(weft_group_wait(g), 0);
  WEFT_ASSERT_NO_FAILURES();
  ck_assert_int_eq(atomic_load(&g_lim_ran), LIM_TASKS);
  ck_assert_int_le(atomic_load(&g_lim_max), LIM);
  ck_assert_int_eq(atomic_load(&g_lim_max), LIM); /* they did overlap */
  weft_group_free(g);
}
END_TEST

/* group_go blocks while the limit is reached, until a task returns. */
static weft_chan *g_release;
static atomic_int g_go_returned;

static int block_task(weft_ctx *ctx, void *arg) {
  (void)arg;
  weft_recv_ctx(ctx, g_release, NULL);
  return 0;
}

static int quick_task(weft_ctx *ctx, void *arg) {
  (void)ctx;
  (void)arg;
  return 0;
}

typedef struct go_from {
  weft_group *g;
  weft_waitgroup wg;
} go_from;

static void third_go(void *arg) {
  go_from *f = arg;
  int rc = weft_group_go(f->g, quick_task, NULL);
  WEFT_EXPECT(rc == 0, "group_go returned %d", rc);
  atomic_store(&g_go_returned, 1);
  weft_wg_done(&f->wg);
}

START_TEST(test_go_blocks_at_limit) {
  weft_procs(2);
  g_release = weft_chan_make(0, 0);
  go_from f = {weft_group_new(NULL, 2), WEFT_WAITGROUP_INIT};
  ck_assert_int_eq(weft_group_go(f.g, block_task, NULL), 0);
  ck_assert_int_eq(weft_group_go(f.g, block_task, NULL), 0);
  weft_wg_add(&f.wg, 1);
  ck_assert_int_eq(weft_go(third_go, &f), 0);
  weft_test_os_sleep_ms(50);
  ck_assert_int_eq(atomic_load(&g_go_returned), 0); /* blocked at the limit */
  ck_assert_int_eq(weft_send(g_release, NULL), 0);  /* one task returns */
  ck_assert(WEFT_POLL_UNTIL(atomic_load(&g_go_returned), 10000));
  weft_close(g_release);
  weft_wg_wait(&f.wg);
  ck_assert_int_eq(weft_group_wait(f.g), 0);
  WEFT_ASSERT_NO_FAILURES();
  weft_group_free(f.g);
  weft_chan_unref(g_release);
}
END_TEST

/* ---- the first error ------------------------------------------------------------ */

#define SLEEPERS 10
static atomic_int g_sleep_rc[SLEEPERS];
static atomic_int g_sleepers_done;
static atomic_llong g_fail_at;

static int sleeper(weft_ctx *ctx, void *arg) {
  int i = (int)(intptr_t)arg;
  int rc = weft_sleep_ctx(ctx, 30 * WEFT_SEC);
  atomic_store(&g_sleep_rc[i], rc);
  WEFT_EXPECT(weft_ctx_err(ctx) != 0, "sleeper %d woke with a live ctx", i);
  atomic_fetch_add(&g_sleepers_done, 1);
  return 0; /* a success: does not hide the first error */
}

static int failer(weft_ctx *ctx, void *arg) {
  (void)ctx;
  (void)arg;
  weft_sleep(20 * WEFT_MS);
  atomic_store(&g_fail_at, weft_now());
  return -EIO;
}

/* Fails after it sees the cancel: a later error, never the first. */
static int late_failer(weft_ctx *ctx, void *arg) {
  (void)arg;
  weft_recv(weft_ctx_done(ctx), NULL);
  return -EPERM;
}

START_TEST(test_first_error_cancels) {
  weft_procs(4);
  weft_group *g = weft_group_new(NULL, 0); /* no limit */
  ck_assert_ptr_nonnull(g);
  weft_ctx *ctx = weft_group_ctx(g);
  ck_assert_int_eq(weft_ctx_err(ctx), 0);
  for (int i = 0; i < SLEEPERS; i++)
    ck_assert_int_eq(weft_group_go(g, sleeper, (void *)(intptr_t)i), 0);
  ck_assert_int_eq(weft_group_go(g, late_failer, NULL), 0);
  ck_assert_int_eq(weft_group_go(g, failer, NULL), 0);
  ck_assert_int_eq(weft_group_go(g, late_failer, NULL), 0);
  int64_t t0 = weft_now();
  ck_assert_int_eq(weft_group_wait(g), -EIO);
  int64_t end = weft_now();
  ck_assert_int_lt(end - t0, SLOW * 5 * WEFT_SEC); /* not the 30 s sleeps */
  WEFT_ASSERT_NO_FAILURES();
  ck_assert_int_eq(atomic_load(&g_sleepers_done), SLEEPERS);
  for (int i = 0; i < SLEEPERS; i++)
    ck_assert_int_eq(atomic_load(&g_sleep_rc[i]), -ECANCELED);
  ck_assert_int_eq(weft_ctx_err(ctx), -ECANCELED);
  ck_assert_int_eq(weft_ctx_cause(ctx), -EIO);
  weft_group_free(g);
}
END_TEST

/* With a limit of 1, tasks queued behind a failure still run (errgroup
 * does not skip them), see the cancelled context, and do not replace the
 * first error. */
static atomic_int g_after_fail_saw;
static int fail_now(weft_ctx *ctx, void *arg) {
  (void)ctx;
  return (int)(intptr_t)arg;
}
static int after_fail(weft_ctx *ctx, void *arg) {
  (void)arg;
  if (weft_ctx_err(ctx) == -ECANCELED)
    atomic_fetch_add(&g_after_fail_saw, 1);
  return -ENOENT;
}

START_TEST(test_first_error_serial) {
  weft_group *g = weft_group_new(NULL, 1);
  ck_assert_int_eq(weft_group_go(g, quick_task, NULL), 0);
  ck_assert_int_eq(weft_group_go(g, fail_now, (void *)(intptr_t)-EXDEV), 0);
  for (int i = 0; i < 5; i++)
    ck_assert_int_eq(weft_group_go(g, after_fail, NULL), 0);
  ck_assert_int_eq(weft_group_wait(g), -EXDEV);
  ck_assert_int_eq(atomic_load(&g_after_fail_saw), 5);
  ck_assert_int_eq(weft_ctx_cause(weft_group_ctx(g)), -EXDEV);
  weft_group_free(g);
  /* Positive results are errors too. */
  g = weft_group_new(NULL, 0);
  ck_assert_int_eq(weft_group_go(g, fail_now, (void *)(intptr_t)7), 0);
  ck_assert_int_eq(weft_group_wait(g), 7);
  ck_assert_int_eq(weft_ctx_cause(weft_group_ctx(g)), 7);
  weft_group_free(g);
}
END_TEST

/* ---- success, wait, and the context afterwards -------------------------------- */

static atomic_int g_ok_ran;
static int ok_task(weft_ctx *ctx, void *arg) {
  (void)arg;
  WEFT_EXPECT(weft_ctx_err(ctx) == 0, "ctx done during a successful run");
  weft_yield();
  atomic_fetch_add(&g_ok_ran, 1);
  return 0;
}

static void *wait_from_thread(void *arg) {
  return (void *)(intptr_t)weft_group_wait(arg);
}

START_TEST(test_all_succeed) {
  weft_procs(2);
  weft_group *g = weft_group_new(weft_ctx_background(), 4);
  ck_assert_int_eq(weft_group_wait(g), 0); /* nothing started: at once */
  weft_group_free(g);
  g = weft_group_new(NULL, 4);
  for (int i = 0; i < 100; i++)
    ck_assert_int_eq(weft_group_go(g, ok_task, NULL), 0);
  /* Waited on from another thread as well. */
  pthread_t th;
  ck_assert_int_eq(pthread_create(&th, NULL, wait_from_thread, g), 0);
  ck_assert_int_eq(weft_group_wait(g), 0);
  void *trc;
  pthread_join(th, &trc);
  ck_assert_int_eq((int)(intptr_t)trc, 0);
  WEFT_ASSERT_NO_FAILURES();
  ck_assert_int_eq(atomic_load(&g_ok_ran), 100);
  /* As errgroup.Wait: the context is cancelled once wait returns. */
  ck_assert_int_eq(weft_ctx_err(weft_group_ctx(g)), -ECANCELED);
  ck_assert_int_eq(weft_ctx_cause(weft_group_ctx(g)), -ECANCELED);
  /* Bad arguments. */
  ck_assert_int_eq(weft_group_go(g, NULL, NULL), -EINVAL);
  ck_assert_int_eq(weft_group_go(NULL, ok_task, NULL), -EINVAL);
  weft_group_free(g);
  weft_group_free(NULL);
}
END_TEST

/* ---- a parent context reaches the tasks ------------------------------------------ */

static char g_key;
static atomic_int g_parent_saw_value, g_parent_saw_cancel;

static int parent_task(weft_ctx *ctx, void *arg) {
  (void)arg;
  if (weft_ctx_value(ctx, &g_key) == &g_key)
    atomic_fetch_add(&g_parent_saw_value, 1);
  if (weft_sleep_ctx(ctx, 30 * WEFT_SEC) == -ECANCELED)
    atomic_fetch_add(&g_parent_saw_cancel, 1);
  return 0;
}

START_TEST(test_parent_ctx) {
  weft_procs(2);
  weft_ctx *parent = weft_ctx_with_cancel(weft_ctx_background());
  weft_ctx *vp = weft_ctx_with_value(parent, &g_key, &g_key);
  weft_group *g = weft_group_new(vp, 2);
  ck_assert_int_eq(weft_ctx_deadline(weft_group_ctx(g)), WEFT_FOREVER);
  ck_assert_ptr_eq(weft_ctx_value(weft_group_ctx(g), &g_key), &g_key);
  for (int i = 0; i < 2; i++)
    ck_assert_int_eq(weft_group_go(g, parent_task, NULL), 0);
  weft_test_os_sleep_ms(20);
  weft_ctx_cancel_cause(parent, -ESHUTDOWN);
  ck_assert_int_eq(weft_group_wait(g), 0); /* tasks returned 0 */
  ck_assert_int_eq(atomic_load(&g_parent_saw_value), 2);
  ck_assert_int_eq(atomic_load(&g_parent_saw_cancel), 2);
  ck_assert_int_eq(weft_ctx_cause(weft_group_ctx(g)), -ESHUTDOWN);
  weft_group_free(g);
  weft_ctx_unref(vp);
  weft_ctx_unref(parent);
}
END_TEST

/* ---- a million tasks through a limit of 8 ------------------------------------------ */

#define MANY WEFT_SCALE(1000000)
static atomic_llong g_many_sum;
static atomic_int g_many_in, g_many_max;

static int sum_task(weft_ctx *ctx, void *arg) {
  (void)ctx;
  int n = atomic_fetch_add_explicit(&g_many_in, 1, memory_order_relaxed) + 1;
  if (n > atomic_load_explicit(&g_many_max, memory_order_relaxed))
    record_max(&g_many_max, n);
  long i = (long)(intptr_t)arg;
  if (i % 8 == 0)
    weft_yield(); /* some tasks linger, so the limit is reached */
  atomic_fetch_add_explicit(&g_many_sum, i, memory_order_relaxed);
  atomic_fetch_sub_explicit(&g_many_in, 1, memory_order_relaxed);
  return 0;
}

static long rss_pages(void) {
  FILE *f = fopen("/proc/self/statm", "r");
  long size = 0, rss = 0;
  if (f) {
    if (fscanf(f, "%ld %ld", &size, &rss) != 2)
      rss = 0;
    fclose(f);
  }
  return rss;
}

typedef struct driver {
  weft_group *g;
  int rc;
  weft_waitgroup wg;
} driver;

static void many_driver(void *arg) {
  driver *d = arg;
  for (long i = 1; i <= MANY; i++) {
    int rc = weft_group_go(d->g, sum_task, (void *)(intptr_t)i);
    if (rc != 0) {
      d->rc = rc;
      break;
    }
  }
  weft_wg_done(&d->wg);
}

START_TEST(test_million_tasks) {
  weft_procs(4);
  /* Warm the runtime up first, so its own start-up is not counted. */
  weft_group *warm = weft_group_new(NULL, 8);
  for (int i = 0; i < 1000; i++)
    weft_group_go(warm, quick_task, NULL);
  ck_assert_int_eq(weft_group_wait(warm), 0);
  weft_group_free(warm);
  long before = rss_pages();
  ck_assert_int_gt(before, 0);
  driver d = {weft_group_new(NULL, 8), 0, WEFT_WAITGROUP_INIT};
  ck_assert_ptr_nonnull(d.g);
  weft_wg_add(&d.wg, 1);
  int64_t t0 = weft_now();
  ck_assert_int_eq(weft_go(many_driver, &d), 0);
  weft_wg_wait(&d.wg);
  ck_assert_int_eq(d.rc, 0);
  ck_assert_int_eq(weft_group_wait(d.g), 0);
  int64_t dt = weft_now() - t0;
  long after = rss_pages();
  long growth_kib = (after - before) * (sysconf(_SC_PAGESIZE) / 1024);
  long long n = MANY;
  ck_assert_int_eq(atomic_load(&g_many_sum), n * (n + 1) / 2);
  ck_assert_int_le(atomic_load(&g_many_max), 8);
  ck_assert_int_gt(atomic_load(&g_many_max), 1); /* tasks did overlap */
#ifndef WEFT_TEST_TSAN
  /* Under TSan every goroutine is a TSan fiber, and TSan keeps state for
   * dead fibers and its shadow memory: RSS there measures TSan itself. */
  ck_assert_msg(growth_kib < 64 * 1024,
                "RSS grew by %ld KiB over %lld tasks", growth_kib, n);
#endif
  fprintf(stderr, "million_tasks: %lld tasks in %lld ms, RSS growth %ld KiB, "
          "max concurrent %d\n", n, (long long)(dt / WEFT_MS), growth_kib,
          atomic_load(&g_many_max));
  weft_group_free(d.g);
}
END_TEST

WEFT_TEST_MAIN("group", test_limit, test_go_blocks_at_limit,
               test_first_error_cancels, test_first_error_serial,
               test_all_succeed, test_parent_ctx, test_million_tasks)
