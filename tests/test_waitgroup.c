/* test_waitgroup.c -- sync.WaitGroup: static and zero-counter use, waiters on
 * goroutines and plain threads (many of each at once), wait really blocking
 * until zero, reuse over many rounds, add/done split across plain threads and
 * goroutines both ways, and the negative-counter panics. */
#include <pthread.h>

#include "weft_test.h"

static weft_waitgroup g_static = WEFT_WAITGROUP_INIT;

START_TEST(test_static_and_zero) {
  /* A static all-zero WaitGroup is ready; waiting on zero returns at once,
   * on a plain thread, before and after use. */
  weft_wg_wait(&g_static);
  weft_waitgroup local = WEFT_WAITGROUP_INIT;
  weft_wg_wait(&local);
  weft_wg_add(&local, 3);
  weft_wg_done(&local);
  weft_wg_add(&local, -2);
  int64_t t0 = weft_now();
  weft_wg_wait(&local);
  weft_wg_wait(&local);
  ck_assert_int_lt(weft_now() - t0, 100 * WEFT_MS);
  /* add(0) on zero is no misuse. */
  weft_wg_add(&local, 0);
  weft_wg_wait(&local);
}
END_TEST

static weft_waitgroup g_zero = WEFT_WAITGROUP_INIT;
static weft_waitgroup g_joined = WEFT_WAITGROUP_INIT;
static atomic_int g_zero_waits;

static void wait_on_zero(void *arg) {
  (void)arg;
  for (int i = 0; i < 100; i++) {
    weft_wg_wait(&g_zero);
    atomic_fetch_add(&g_zero_waits, 1);
  }
  weft_wg_done(&g_joined);
}

START_TEST(test_zero_wait_in_goroutine) {
  weft_procs(2);
  weft_wg_add(&g_joined, 10);
  for (int i = 0; i < 10; i++)
    ck_assert_int_eq(weft_go(wait_on_zero, NULL), 0);
  weft_wg_wait(&g_joined);
  ck_assert_int_eq(atomic_load(&g_zero_waits), 1000);
}
END_TEST

/* ---- many workers, many waiters of both kinds ------------------------------ */

#define WORKERS WEFT_SCALE(2000)
#define G_WAITERS 16
#define T_WAITERS 4

static weft_waitgroup g_work = WEFT_WAITGROUP_INIT;
static weft_waitgroup g_gate = WEFT_WAITGROUP_INIT;
static atomic_int g_worked;
static atomic_int g_released;

static void worker(void *arg) {
  (void)arg;
  weft_wg_wait(&g_gate); /* hold every worker until the waiters wait */
  atomic_fetch_add(&g_worked, 1);
  weft_wg_done(&g_work);
}

static void goroutine_waiter(void *arg) {
  (void)arg;
  weft_wg_wait(&g_work);
  int w = atomic_load(&g_worked);
  WEFT_EXPECT(w == WORKERS, "a goroutine waiter was released with %d of %d "
                            "done",
              w, WORKERS);
  atomic_fetch_add(&g_released, 1);
  weft_wg_done(&g_joined);
}

static void *thread_waiter(void *arg) {
  (void)arg;
  weft_wg_wait(&g_work);
  int w = atomic_load(&g_worked);
  WEFT_EXPECT(w == WORKERS, "a thread waiter was released with %d of %d done",
              w, WORKERS);
  atomic_fetch_add(&g_released, 1);
  return NULL;
}

START_TEST(test_many_waiters) {
  weft_procs(4);
  weft_wg_add(&g_gate, 1);
  weft_wg_add(&g_work, WORKERS);
  for (int i = 0; i < WORKERS; i++)
    ck_assert_int_eq(weft_go(worker, NULL), 0);
  weft_wg_add(&g_joined, G_WAITERS);
  for (int i = 0; i < G_WAITERS; i++)
    ck_assert_int_eq(weft_go(goroutine_waiter, NULL), 0);
  pthread_t th[T_WAITERS];
  for (int i = 0; i < T_WAITERS; i++)
    ck_assert_int_eq(pthread_create(&th[i], NULL, thread_waiter, NULL), 0);
  /* Nobody may pass the wait while the workers are held. */
  weft_test_os_sleep_ms(50);
  ck_assert_int_eq(atomic_load(&g_released), 0);
  weft_wg_done(&g_gate);
  weft_wg_wait(&g_work); /* main waits too */
  ck_assert_int_eq(atomic_load(&g_worked), WORKERS);
  for (int i = 0; i < T_WAITERS; i++)
    pthread_join(th[i], NULL);
  weft_wg_wait(&g_joined);
  WEFT_ASSERT_NO_FAILURES();
  ck_assert_int_eq(atomic_load(&g_released), G_WAITERS + T_WAITERS);
}
END_TEST

/* ---- wait blocks until the last done --------------------------------------- */

static weft_waitgroup g_one = WEFT_WAITGROUP_INIT;
static atomic_int g_passed;

static void wait_one(void *arg) {
  (void)arg;
  weft_wg_wait(&g_one);
  atomic_store(&g_passed, 1);
  weft_wg_done(&g_joined);
}

START_TEST(test_wait_blocks_until_zero) {
  weft_procs(2);
  weft_wg_add(&g_one, 2);
  weft_wg_add(&g_joined, 1);
  ck_assert_int_eq(weft_go(wait_one, NULL), 0);
  weft_test_os_sleep_ms(30);
  ck_assert_int_eq(atomic_load(&g_passed), 0);
  weft_wg_done(&g_one); /* 1 left */
  weft_test_os_sleep_ms(30);
  ck_assert_int_eq(atomic_load(&g_passed), 0);
  weft_wg_add(&g_one, 5); /* 6 */
  weft_wg_add(&g_one, -5); /* 1 */
  weft_test_os_sleep_ms(30);
  ck_assert_int_eq(atomic_load(&g_passed), 0);
  weft_wg_done(&g_one); /* 0: released */
  ck_assert(WEFT_POLL_UNTIL(atomic_load(&g_passed), 10000));
  weft_wg_wait(&g_joined);
}
END_TEST

/* ---- reuse over many rounds ------------------------------------------------ */

#define ROUNDS WEFT_SCALE(500)
#define PER_ROUND 20

typedef struct round_ctx {
  weft_waitgroup *wg;
  atomic_int *count;
} round_ctx;

static void round_worker(void *arg) {
  round_ctx *c = arg;
  weft_yield();
  atomic_fetch_add(c->count, 1);
  weft_wg_done(c->wg);
}

static atomic_int g_round_bad;

static void round_driver(void *arg) {
  weft_waitgroup *wg = arg; /* one WaitGroup reused for every round */
  for (int r = 0; r < ROUNDS; r++) {
    atomic_int count = 0;
    round_ctx c = {wg, &count};
    weft_wg_add(wg, PER_ROUND);
    for (int i = 0; i < PER_ROUND; i++) {
      int rc = weft_go(round_worker, &c);
      WEFT_EXPECT(rc == 0, "weft_go returned %d", rc);
    }
    weft_wg_wait(wg);
    if (atomic_load(&count) != PER_ROUND)
      atomic_fetch_add(&g_round_bad, 1);
  }
  weft_wg_done(&g_joined);
}

START_TEST(test_reuse_rounds) {
  weft_procs(4);
  /* A goroutine driver and the main thread reuse their own WaitGroups. */
  weft_waitgroup gwg = WEFT_WAITGROUP_INIT;
  weft_wg_add(&g_joined, 1);
  ck_assert_int_eq(weft_go(round_driver, &gwg), 0);
  weft_waitgroup twg = WEFT_WAITGROUP_INIT;
  for (int r = 0; r < ROUNDS; r++) {
    atomic_int count = 0;
    round_ctx c = {&twg, &count};
    weft_wg_add(&twg, PER_ROUND);
    for (int i = 0; i < PER_ROUND; i++)
      ck_assert_int_eq(weft_go(round_worker, &c), 0);
    weft_wg_wait(&twg);
    ck_assert_int_eq(atomic_load(&count), PER_ROUND);
  }
  weft_wg_wait(&g_joined);
  WEFT_ASSERT_NO_FAILURES();
  ck_assert_int_eq(atomic_load(&g_round_bad), 0);
}
END_TEST

/* ---- add on plain threads, done in goroutines ------------------------------ */

#define SPLIT_THREADS 4
#define SPLIT_PER WEFT_SCALE(2000)
static weft_waitgroup g_split = WEFT_WAITGROUP_INIT;
static atomic_int g_split_count;

static void split_done(void *arg) {
  (void)arg;
  atomic_fetch_add(&g_split_count, 1);
  weft_wg_done(&g_split);
}

static void *split_adder(void *arg) {
  (void)arg;
  for (int i = 0; i < SPLIT_PER; i++) {
    weft_wg_add(&g_split, 1);
    int rc = weft_go(split_done, NULL);
    WEFT_EXPECT(rc == 0, "weft_go returned %d", rc);
  }
  return NULL;
}

START_TEST(test_add_threads_done_goroutines) {
  weft_procs(4);
  /* The main thread holds one count so the counter cannot touch zero
   * before every thread has added. */
  weft_wg_add(&g_split, 1);
  pthread_t th[SPLIT_THREADS];
  for (int i = 0; i < SPLIT_THREADS; i++)
    ck_assert_int_eq(pthread_create(&th[i], NULL, split_adder, NULL), 0);
  for (int i = 0; i < SPLIT_THREADS; i++)
    pthread_join(th[i], NULL);
  weft_wg_done(&g_split);
  weft_wg_wait(&g_split);
  WEFT_ASSERT_NO_FAILURES();
  ck_assert_int_eq(atomic_load(&g_split_count), SPLIT_THREADS * SPLIT_PER);
}
END_TEST

/* ---- add in a goroutine, done on plain threads ------------------------------ */

#define REV_THREADS 4
#define REV_PER 1000
static weft_waitgroup g_rev = WEFT_WAITGROUP_INIT;
static atomic_int g_rev_go;       /* the goroutine has added: threads may go */
static atomic_int g_rev_done;     /* dones performed */
static atomic_int g_rev_seen;     /* what the goroutine saw after waiting */

static void rev_owner(void *arg) {
  (void)arg;
  weft_wg_add(&g_rev, REV_THREADS * REV_PER);
  atomic_store(&g_rev_go, 1);
  weft_wg_wait(&g_rev); /* parks: woken by a plain thread's done */
  atomic_store(&g_rev_seen, atomic_load(&g_rev_done));
  weft_wg_done(&g_joined);
}

static void *rev_doner(void *arg) {
  (void)arg;
  while (!atomic_load(&g_rev_go))
    sched_yield();
  for (int i = 0; i < REV_PER; i++) {
    atomic_fetch_add(&g_rev_done, 1);
    weft_wg_done(&g_rev);
  }
  return NULL;
}

START_TEST(test_add_goroutine_done_threads) {
  weft_procs(2);
  weft_wg_add(&g_joined, 1);
  pthread_t th[REV_THREADS];
  for (int i = 0; i < REV_THREADS; i++)
    ck_assert_int_eq(pthread_create(&th[i], NULL, rev_doner, NULL), 0);
  ck_assert_int_eq(weft_go(rev_owner, NULL), 0);
  for (int i = 0; i < REV_THREADS; i++)
    pthread_join(th[i], NULL);
  weft_wg_wait(&g_joined);
  ck_assert_int_eq(atomic_load(&g_rev_seen), REV_THREADS * REV_PER);
}
END_TEST

/* ---- misuse ------------------------------------------------------------------ */

static void done_on_zero(void) {
  weft_waitgroup wg = WEFT_WAITGROUP_INIT;
  weft_wg_done(&wg);
}

static void add_minus5_on_3(void) {
  weft_waitgroup wg = WEFT_WAITGROUP_INIT;
  weft_wg_add(&wg, 3);
  weft_wg_add(&wg, -5);
}

static weft_waitgroup g_child_wg = WEFT_WAITGROUP_INIT;
static void done_twice(void *arg) {
  (void)arg;
  weft_wg_done(&g_child_wg);
  weft_wg_done(&g_child_wg); /* one more than added */
}

static void done_on_zero_in_goroutine(void) {
  weft_procs(2);
  weft_wg_add(&g_child_wg, 1);
  weft_go(done_twice, NULL);
  weft_sleep(10 * WEFT_SEC); /* the abort comes first */
}

START_TEST(test_negative_counter_aborts) {
  WEFT_ASSERT_ABORTS_WITH(done_on_zero, "weft: sync: negative WaitGroup counter");
  WEFT_ASSERT_ABORTS_WITH(add_minus5_on_3,
                          "weft: sync: negative WaitGroup counter");
  WEFT_ASSERT_ABORTS_WITH(done_on_zero_in_goroutine,
                          "weft: sync: negative WaitGroup counter");
}
END_TEST


/* ---- a WaitGroup in the waiter's stack frame ----------------------------- */

/* The zeroing Done must be finished with the WaitGroup before Wait returns:
 * a WaitGroup often lives in the waiter's frame, reused the moment Wait
 * returns. Main overwrites the bytes right after Wait, as a reused frame
 * would, and checks that nothing wrote into them afterwards (and that Done
 * still returns: it once spun on the overwritten lock word). */
typedef union frame_wg {
  weft_waitgroup wg;
  unsigned char bytes[sizeof(weft_waitgroup)];
} frame_wg;
static atomic_int g_about_to_done, g_done_returned;

static void done_child(void *arg) {
  atomic_store(&g_about_to_done, 1);
  weft_wg_done(arg);
  atomic_store(&g_done_returned, 1);
}

START_TEST(test_wg_in_reused_frame) {
  long iters = WEFT_SCALE(20000);
  for (long i = 0; i < iters; i++) {
    frame_wg u;
    memset(&u, 0, sizeof u);
    atomic_store(&g_about_to_done, 0);
    atomic_store(&g_done_returned, 0);
    weft_wg_add(&u.wg, 1);
    ck_assert_int_eq(weft_go(done_child, &u.wg), 0);
    while (!atomic_load(&g_about_to_done))
      ;
    weft_wg_wait(&u.wg);
    memset(u.bytes, 0xA5, sizeof u.bytes);
    int64_t t0 = weft_now();
    while (!atomic_load(&g_done_returned))
      ck_assert_msg(weft_now() - t0 < 10 * WEFT_SEC,
                    "iteration %ld: weft_wg_done still running 10 s after "
                    "weft_wg_wait returned", i);
    for (size_t b = 0; b < sizeof u.bytes; b++)
      ck_assert_msg(u.bytes[b] == 0xA5,
                    "iteration %ld: byte %zu of the WaitGroup written after "
                    "weft_wg_wait returned", i, b);
  }
}
END_TEST

WEFT_TEST_MAIN("waitgroup", test_static_and_zero, test_zero_wait_in_goroutine,
               test_many_waiters, test_wait_blocks_until_zero,
               test_reuse_rounds, test_add_threads_done_goroutines,
               test_add_goroutine_done_threads, test_negative_counter_aborts,
               test_wg_in_reused_frame)
