/* stress_spawn.c -- spawning at volume from many threads, and churn.
 *
 * test_spawn_rounds: 8 plain threads x 50 rounds; each round spawns 2000
 * goroutines that each spawn one child and join it; every round is joined
 * with a WaitGroup and counted exactly.
 *
 * test_churn: root goroutines, started from several plain threads, run a
 * random mix of yields, short sleeps (0..1 ms), joined child spawns (whose
 * children yield, sleep or spawn again) and detached spawns, on 4 Ps. Every
 * action is counted where it is issued and where it runs; the two tallies
 * must agree exactly. */
#include <pthread.h>

#include "weft_test.h"

/* ---- spawn rounds ----------------------------------------------------------- */

#define SR_THREADS 8
#define SR_ROUNDS WEFT_SCALE(50)
#define SR_PER_ROUND 2000

static atomic_long g_parents, g_children;
static atomic_uint_fast64_t g_value_sum;

static void sr_child(void *arg) {
  weft_waitgroup *wg = arg;
  atomic_fetch_add_explicit(&g_children, 1, memory_order_relaxed);
  weft_wg_done(wg);
}

typedef struct sr_parent_arg {
  weft_waitgroup *round;
  uint64_t value;
} sr_parent_arg;

static void sr_parent(void *arg) {
  sr_parent_arg *a = arg;
  weft_waitgroup wg = WEFT_WAITGROUP_INIT;
  weft_wg_add(&wg, 1);
  int rc = weft_go(sr_child, &wg);
  WEFT_EXPECT(rc == 0, "child weft_go returned %d", rc);
  if (rc != 0)
    weft_wg_done(&wg);
  weft_wg_wait(&wg);
  atomic_fetch_add_explicit(&g_value_sum, a->value, memory_order_relaxed);
  atomic_fetch_add_explicit(&g_parents, 1, memory_order_relaxed);
  weft_wg_done(a->round);
}

static void *sr_thread(void *arg) {
  uint64_t t = (uintptr_t)arg;
  sr_parent_arg *args = malloc(SR_PER_ROUND * sizeof *args);
  for (int r = 0; r < SR_ROUNDS; r++) {
    weft_waitgroup round = WEFT_WAITGROUP_INIT;
    weft_wg_add(&round, SR_PER_ROUND);
    for (int i = 0; i < SR_PER_ROUND; i++) {
      args[i] = (sr_parent_arg){&round, t * 1000000000ull +
                                            (uint64_t)r * SR_PER_ROUND +
                                            (uint64_t)i};
      int rc = weft_go(sr_parent, &args[i]);
      WEFT_EXPECT(rc == 0, "weft_go returned %d", rc);
      if (rc != 0)
        weft_wg_done(&round);
    }
    weft_wg_wait(&round); /* args[] is reused next round */
  }
  free(args);
  return NULL;
}

START_TEST(test_spawn_rounds) {
  weft_procs(4);
  int base = weft_num_goroutines();
  int64_t t0 = weft_now();
  pthread_t th[SR_THREADS];
  for (uintptr_t t = 0; t < SR_THREADS; t++)
    ck_assert_int_eq(pthread_create(&th[t], NULL, sr_thread, (void *)t), 0);
  for (int t = 0; t < SR_THREADS; t++)
    pthread_join(th[t], NULL);
  fprintf(stderr, "stress_spawn: %d x %d rounds x %d parents + children in "
          "%.2f s\n", SR_THREADS, SR_ROUNDS, SR_PER_ROUND,
          (double)(weft_now() - t0) / 1e9);
  WEFT_ASSERT_NO_FAILURES();
  long want = (long)SR_THREADS * SR_ROUNDS * SR_PER_ROUND;
  ck_assert_int_eq(atomic_load(&g_parents), want);
  ck_assert_int_eq(atomic_load(&g_children), want);
  uint64_t sum = 0;
  for (uint64_t t = 0; t < SR_THREADS; t++)
    for (uint64_t r = 0; r < SR_ROUNDS; r++)
      for (uint64_t i = 0; i < SR_PER_ROUND; i++)
        sum += t * 1000000000ull + r * SR_PER_ROUND + i;
  ck_assert_uint_eq(atomic_load(&g_value_sum), sum);
  ck_assert_msg(WEFT_POLL_UNTIL(weft_num_goroutines() == base, 30000),
                "%d goroutines counted after all joins, want %d",
                weft_num_goroutines(), base);
}
END_TEST

/* ---- churn ------------------------------------------------------------------ */

#define CH_THREADS 4
#define CH_ROOTS_PER_THREAD 8
#define CH_ITERS WEFT_SCALE(1500)

enum { A_YIELD, A_SLEEP, A_JOINED, A_DETACHED, A_KINDS };

static atomic_long g_issued[A_KINDS];   /* counted by the issuer */
static atomic_long g_ran_children;      /* joined children that ran */
static atomic_long g_ran_detached;      /* detached children that ran */
static atomic_long g_grandchildren;     /* spawned by children, joined */
static atomic_long g_ran_grandchildren;
static atomic_long g_short_sleeps;      /* sleeps that woke early */
static weft_waitgroup g_detached = WEFT_WAITGROUP_INIT;
static weft_waitgroup g_roots = WEFT_WAITGROUP_INIT;

static uint64_t rng_next(uint64_t *s) {
  *s ^= *s << 13;
  *s ^= *s >> 7;
  *s ^= *s << 17;
  return *s;
}

static void checked_sleep(int64_t ns) {
  int64_t t0 = weft_now();
  weft_sleep(ns);
  if (weft_now() - t0 < ns)
    atomic_fetch_add(&g_short_sleeps, 1);
}

static void grandchild(void *arg) {
  atomic_fetch_add_explicit(&g_ran_grandchildren, 1, memory_order_relaxed);
  weft_yield();
  weft_wg_done(arg);
}

typedef struct child_arg {
  weft_waitgroup *wg;
  uint64_t seed;
} child_arg;

static void joined_child(void *arg) {
  child_arg *c = arg;
  atomic_fetch_add_explicit(&g_ran_children, 1, memory_order_relaxed);
  uint64_t s = c->seed | 1;
  switch (rng_next(&s) % 3) {
  case 0:
    weft_yield();
    break;
  case 1:
    checked_sleep((int64_t)(rng_next(&s) % 1000) * WEFT_US);
    break;
  default: {
    weft_waitgroup wg = WEFT_WAITGROUP_INIT;
    weft_wg_add(&wg, 1);
    atomic_fetch_add_explicit(&g_grandchildren, 1, memory_order_relaxed);
    int rc = weft_go(grandchild, &wg);
    WEFT_EXPECT(rc == 0, "grandchild weft_go returned %d", rc);
    weft_wg_wait(&wg);
  }
  }
  weft_wg_done(c->wg);
}

static void detached_child(void *arg) {
  (void)arg;
  weft_yield();
  atomic_fetch_add_explicit(&g_ran_detached, 1, memory_order_relaxed);
  weft_wg_done(&g_detached);
}

static void churn_root(void *arg) {
  uint64_t s = (uintptr_t)arg * 0x9E3779B97F4A7C15ull + 1;
  uint64_t id = weft_goid();
  for (int it = 0; it < CH_ITERS; it++) {
    int kind = (int)(rng_next(&s) % A_KINDS);
    atomic_fetch_add_explicit(&g_issued[kind], 1, memory_order_relaxed);
    switch (kind) {
    case A_YIELD:
      weft_yield();
      break;
    case A_SLEEP:
      checked_sleep((int64_t)(rng_next(&s) % 1001) * WEFT_US);
      break;
    case A_JOINED: {
      weft_waitgroup wg = WEFT_WAITGROUP_INIT;
      child_arg c = {&wg, rng_next(&s)};
      weft_wg_add(&wg, 1);
      int rc = weft_go(joined_child, &c);
      WEFT_EXPECT(rc == 0, "joined weft_go returned %d", rc);
      weft_wg_wait(&wg);
      break;
    }
    default: {
      weft_wg_add(&g_detached, 1);
      int rc = weft_go(detached_child, NULL);
      WEFT_EXPECT(rc == 0, "detached weft_go returned %d", rc);
      break;
    }
    }
    WEFT_EXPECT(weft_goid() == id, "goid changed mid-churn");
  }
  weft_wg_done(&g_roots);
}

static void *churn_thread(void *arg) {
  uintptr_t t = (uintptr_t)arg;
  for (uintptr_t i = 0; i < CH_ROOTS_PER_THREAD; i++) {
    int rc = weft_go(churn_root, (void *)(t * CH_ROOTS_PER_THREAD + i));
    WEFT_EXPECT(rc == 0, "root weft_go returned %d", rc);
    weft_yield();
  }
  return NULL;
}

START_TEST(test_churn) {
  weft_procs(4);
  int base = weft_num_goroutines();
  int64_t t0 = weft_now();
  weft_wg_add(&g_roots, CH_THREADS * CH_ROOTS_PER_THREAD);
  pthread_t th[CH_THREADS];
  for (uintptr_t t = 0; t < CH_THREADS; t++)
    ck_assert_int_eq(pthread_create(&th[t], NULL, churn_thread, (void *)t), 0);
  for (int t = 0; t < CH_THREADS; t++)
    pthread_join(th[t], NULL);
  weft_wg_wait(&g_roots);
  weft_wg_wait(&g_detached);
  fprintf(stderr, "stress_spawn: churn of %d roots x %d actions in %.2f s\n",
          CH_THREADS * CH_ROOTS_PER_THREAD, CH_ITERS,
          (double)(weft_now() - t0) / 1e9);
  WEFT_ASSERT_NO_FAILURES();
  long total = 0;
  for (int k = 0; k < A_KINDS; k++)
    total += atomic_load(&g_issued[k]);
  ck_assert_int_eq(total, (long)CH_THREADS * CH_ROOTS_PER_THREAD * CH_ITERS);
  for (int k = 0; k < A_KINDS; k++)
    ck_assert_msg(atomic_load(&g_issued[k]) > 0, "action %d never drawn", k);
  ck_assert_int_eq(atomic_load(&g_ran_children),
                   atomic_load(&g_issued[A_JOINED]));
  ck_assert_int_eq(atomic_load(&g_ran_detached),
                   atomic_load(&g_issued[A_DETACHED]));
  ck_assert_int_eq(atomic_load(&g_ran_grandchildren),
                   atomic_load(&g_grandchildren));
  ck_assert_int_gt(atomic_load(&g_grandchildren), 0);
  ck_assert_int_eq(atomic_load(&g_short_sleeps), 0);
  ck_assert_msg(WEFT_POLL_UNTIL(weft_num_goroutines() == base, 30000),
                "%d goroutines counted after all joins, want %d",
                weft_num_goroutines(), base);
}
END_TEST

WEFT_TEST_MAIN("stress_spawn", test_spawn_rounds, test_churn)
