/* test_rwmutex.c -- sync.RWMutex: readers share (all N hold the read lock at
 * once), a writer excludes readers and writers (no reader sees a half-written
 * multi-field record), a waiting writer gets in under a continuous stream of
 * readers, the try variants (including a pending writer holding back
 * tryrlock), goroutines and plain threads mixed, and the misuse panics. */
#include <pthread.h>

#include "weft_test.h"

#ifdef WEFT_TEST_SANITIZED
#define SLOW 3
#else
#define SLOW 1
#endif

static weft_waitgroup g_joined = WEFT_WAITGROUP_INIT;

/* ---- readers share ----------------------------------------------------------- */

#define PR_GOROUTINES 6
#define PR_THREADS 2
#define PR_N (PR_GOROUTINES + PR_THREADS)
#define PR_ROUNDS 20

static weft_rwmutex g_pr = WEFT_RWMUTEX_INIT;
static atomic_int g_pr_in[PR_ROUNDS];
static atomic_int g_pr_max;

/* Each reader takes the read lock and then waits, still holding it, until
 * every reader of the round holds it: readers that excluded one another
 * could never all be in at once. */
static void pr_reader(void) {
  for (int r = 0; r < PR_ROUNDS; r++) {
    weft_rwmutex_rlock(&g_pr);
    int n = atomic_fetch_add(&g_pr_in[r], 1) + 1;
    int m = atomic_load(&g_pr_max);
    while (n > m && !atomic_compare_exchange_weak(&g_pr_max, &m, n))
      ;
    int64_t dl = weft_now() + 10 * SLOW * WEFT_SEC;
    while (atomic_load(&g_pr_in[r]) < PR_N && weft_now() < dl)
      weft_sleep(100 * WEFT_US);
    WEFT_EXPECT(atomic_load(&g_pr_in[r]) == PR_N,
                "round %d: only %d of %d readers got the read lock together",
                r, atomic_load(&g_pr_in[r]), PR_N);
    weft_rwmutex_runlock(&g_pr);
  }
}

START_TEST(test_readers_share) {
  weft_procs(4);
  weft_test_mixed m = {0};
  weft_test_mixed_start(&m, pr_reader, PR_GOROUTINES, PR_THREADS);
  weft_test_mixed_join(&m);
  WEFT_ASSERT_NO_FAILURES();
  ck_assert_int_eq(atomic_load(&g_pr_max), PR_N);
  /* All read locks were released: a writer gets in at once. */
  ck_assert_int_eq(weft_rwmutex_trylock(&g_pr), 1);
  weft_rwmutex_unlock(&g_pr);
}
END_TEST

/* ---- writers exclude ----------------------------------------------------------- */

#define WX_READERS 8
#define WX_WRITERS 3
#define WX_THREAD_READERS 1
#define WX_THREAD_WRITERS 1
#define WX_ITERS WEFT_SCALE(5000)

typedef struct record {
  long a, b, c; /* written together under the write lock */
} record;
static record g_rec;
static weft_rwmutex g_wx = WEFT_RWMUTEX_INIT;
static atomic_int g_wx_readers, g_wx_writers;
static atomic_long g_wx_reads, g_wx_writes;

static void wx_read(int i) {
  weft_rwmutex_rlock(&g_wx);
  atomic_fetch_add(&g_wx_readers, 1);
  int w = atomic_load(&g_wx_writers);
  WEFT_EXPECT(w == 0, "a reader is in with %d writer(s)", w);
  long a = g_rec.a;
  if (i % 32 == 0)
    weft_yield();
  long b = g_rec.b;
  long c = g_rec.c;
  WEFT_EXPECT(a == b && b == c, "torn read: %ld %ld %ld", a, b, c);
  atomic_fetch_sub(&g_wx_readers, 1);
  weft_rwmutex_runlock(&g_wx);
  atomic_fetch_add(&g_wx_reads, 1);
}

static void wx_write(int i) {
  weft_rwmutex_lock(&g_wx);
  int w = atomic_fetch_add(&g_wx_writers, 1);
  int r = atomic_load(&g_wx_readers);
  WEFT_EXPECT(w == 0 && r == 0, "a writer is in with %d writer(s) and %d "
              "reader(s)", w, r);
  long v = g_rec.a + 1;
  g_rec.a = v;
  if (i % 8 == 0)
    weft_yield(); /* let readers try to get in mid-update */
  else
    for (volatile int k = 0; k < 20; k++)
      ;
  g_rec.b = v;
  g_rec.c = v;
  atomic_fetch_sub(&g_wx_writers, 1);
  weft_rwmutex_unlock(&g_wx);
  atomic_fetch_add(&g_wx_writes, 1);
}

static void wx_reader(void) {
  for (int i = 0; i < WX_ITERS; i++)
    wx_read(i);
}

static void wx_writer(void) {
  for (int i = 0; i < WX_ITERS; i++)
    wx_write(i);
}

START_TEST(test_writer_excludes) {
  weft_procs(4);
  weft_test_mixed m = {0};
  weft_test_mixed_start(&m, wx_reader, WX_READERS, WX_THREAD_READERS);
  weft_test_mixed_start(&m, wx_writer, WX_WRITERS, WX_THREAD_WRITERS);
  weft_test_mixed_join(&m);
  WEFT_ASSERT_NO_FAILURES();
  long writes = (long)(WX_WRITERS + WX_THREAD_WRITERS) * WX_ITERS;
  ck_assert_int_eq(atomic_load(&g_wx_writes), writes);
  ck_assert_int_eq(atomic_load(&g_wx_reads),
                   (long)(WX_READERS + WX_THREAD_READERS) * WX_ITERS);
  /* Every increment survived: writers excluded each other. */
  ck_assert_int_eq(g_rec.a, writes);
  ck_assert_int_eq(g_rec.b, writes);
  ck_assert_int_eq(g_rec.c, writes);
}
END_TEST

/* ---- a writer is not starved by a stream of readers --------------------- */

#define WP_READERS 8
#define WP_WRITES 10
static weft_rwmutex g_wp = WEFT_RWMUTEX_INIT;
static atomic_int g_wp_stop, g_wp_active;
static atomic_long g_wp_reads;
static atomic_int g_wp_overlap; /* times a reader found another inside */

/* Readers overlap: each holds the read lock for 1-3 ms and re-takes it at
 * once, so without writer preference the count of readers would hardly
 * ever reach zero. */
static void wp_reader(void *arg) {
  int id = (int)(intptr_t)arg;
  long n = 0;
  while (!atomic_load(&g_wp_stop)) {
    weft_rwmutex_rlock(&g_wp);
    if (atomic_fetch_add(&g_wp_active, 1) > 0)
      atomic_fetch_add(&g_wp_overlap, 1);
    weft_sleep((1 + (id + n) % 3) * WEFT_MS);
    atomic_fetch_sub(&g_wp_active, 1);
    weft_rwmutex_runlock(&g_wp);
    n++;
  }
  atomic_fetch_add(&g_wp_reads, n);
  weft_wg_done(&g_joined);
}

static atomic_llong g_wp_max_g;
static void wp_time_writes(atomic_llong *max) {
  for (int i = 0; i < WP_WRITES; i++) {
    int64_t t0 = weft_now();
    weft_rwmutex_lock(&g_wp);
    int64_t dt = weft_now() - t0;
    int a = atomic_load(&g_wp_active);
    WEFT_EXPECT(a == 0, "writer in with %d readers", a);
    weft_rwmutex_unlock(&g_wp);
    long long m = atomic_load(max);
    while (dt > m && !atomic_compare_exchange_weak(max, &m, dt))
      ;
    weft_sleep(5 * WEFT_MS);
  }
}

static void wp_writer_g(void *arg) {
  (void)arg;
  wp_time_writes(&g_wp_max_g);
  weft_wg_done(&g_joined);
}

START_TEST(test_writer_not_starved) {
  weft_procs(4);
  weft_wg_add(&g_joined, WP_READERS);
  for (int i = 0; i < WP_READERS; i++)
    ck_assert_int_eq(weft_go(wp_reader, (void *)(intptr_t)i), 0);
  weft_test_os_sleep_ms(20); /* the stream is flowing */
  weft_wg_add(&g_joined, 1);
  ck_assert_int_eq(weft_go(wp_writer_g, NULL), 0); /* a goroutine writer */
  atomic_llong max_t = 0;
  wp_time_writes(&max_t); /* and the main thread as a writer */
  ck_assert(WEFT_POLL_UNTIL(weft_num_goroutines() == WP_READERS, 30000));
  atomic_store(&g_wp_stop, 1);
  weft_wg_wait(&g_joined);
  WEFT_ASSERT_NO_FAILURES();
  ck_assert_msg(atomic_load(&g_wp_max_g) < SLOW * WEFT_SEC,
                "goroutine writer waited %lld ms",
                atomic_load(&g_wp_max_g) / WEFT_MS);
  ck_assert_msg(atomic_load(&max_t) < SLOW * WEFT_SEC,
                "thread writer waited %lld ms", atomic_load(&max_t) / WEFT_MS);
  /* The readers did stream, and did overlap. */
  ck_assert_int_gt(atomic_load(&g_wp_reads), 50);
  ck_assert_int_gt(atomic_load(&g_wp_overlap), 10);
}
END_TEST

/* ---- try variants ---------------------------------------------------------------- */

static weft_rwmutex g_try = WEFT_RWMUTEX_INIT;
static atomic_int g_try_writer_in;

static void try_writer(void *arg) {
  (void)arg;
  weft_rwmutex_lock(&g_try);
  atomic_store(&g_try_writer_in, 1);
  weft_sleep(20 * WEFT_MS);
  atomic_store(&g_try_writer_in, 2);
  weft_rwmutex_unlock(&g_try);
  weft_wg_done(&g_joined);
}

/* Whether tryrlock fails now; a read lock it took is given back. */
static int tryrlock_fails(weft_rwmutex *rw) {
  if (!weft_rwmutex_tryrlock(rw))
    return 1;
  weft_rwmutex_runlock(rw);
  return 0;
}

START_TEST(test_try_variants) {
  weft_procs(2);
  /* Free: both succeed. */
  ck_assert_int_eq(weft_rwmutex_tryrlock(&g_try), 1);
  ck_assert_int_eq(weft_rwmutex_tryrlock(&g_try), 1); /* readers share */
  ck_assert_int_eq(weft_rwmutex_trylock(&g_try), 0);   /* readers in */
  weft_rwmutex_runlock(&g_try);
  ck_assert_int_eq(weft_rwmutex_trylock(&g_try), 0); /* one reader left */
  weft_rwmutex_runlock(&g_try);
  ck_assert_int_eq(weft_rwmutex_trylock(&g_try), 1);
  ck_assert_int_eq(weft_rwmutex_trylock(&g_try), 0);  /* writer in */
  ck_assert_int_eq(weft_rwmutex_tryrlock(&g_try), 0); /* writer in */
  weft_rwmutex_unlock(&g_try);
  /* A reader in and a writer waiting: new readers are held back, so
   * tryrlock fails even though only readers hold the lock. */
  weft_rwmutex_rlock(&g_try);
  weft_wg_add(&g_joined, 1);
  ck_assert_int_eq(weft_go(try_writer, NULL), 0);
  ck_assert_msg(WEFT_POLL_UNTIL(tryrlock_fails(&g_try), 10000),
                "a pending writer did not hold back tryrlock");
  ck_assert_int_eq(weft_rwmutex_trylock(&g_try), 0);
  weft_test_os_sleep_ms(20);
  ck_assert_int_eq(atomic_load(&g_try_writer_in), 0); /* still waiting */
  weft_rwmutex_runlock(&g_try); /* the writer gets in */
  ck_assert(WEFT_POLL_UNTIL(atomic_load(&g_try_writer_in) != 0, 10000));
  weft_rwmutex_rlock(&g_try); /* blocks until the writer is out */
  ck_assert_int_eq(atomic_load(&g_try_writer_in), 2);
  weft_rwmutex_runlock(&g_try);
  weft_wg_wait(&g_joined);
  ck_assert_int_eq(weft_rwmutex_trylock(&g_try), 1);
  weft_rwmutex_unlock(&g_try);
}
END_TEST

/* ---- a zeroed RWMutex and readers unlocking from another party ------------- */

static atomic_int g_runlocks_begun;
static weft_rwmutex *g_cross_rw;

/* Each reader drops one of the main thread's read locks, the i-th after
 * i * 5 ms, so that a writer let in early would find some still held. It
 * counts itself before its runlock: a writer in the lock must see all ten. */
static void runlock_other(void *arg) {
  weft_sleep((int64_t)(intptr_t)arg * 5 * WEFT_MS);
  atomic_fetch_add(&g_runlocks_begun, 1);
  weft_rwmutex_runlock(g_cross_rw); /* a read lock taken by the main thread */
  weft_wg_done(&g_joined);
}

START_TEST(test_zeroed_and_cross_runlock) {
  weft_procs(2);
  weft_rwmutex *rw = calloc(1, sizeof *rw);
  ck_assert_ptr_nonnull(rw);
  g_cross_rw = rw;
  for (int i = 0; i < 10; i++)
    weft_rwmutex_rlock(rw);
  weft_wg_add(&g_joined, 10);
  for (int i = 0; i < 10; i++)
    ck_assert_int_eq(weft_go(runlock_other, (void *)(intptr_t)(i + 1)), 0);
  weft_rwmutex_lock(rw); /* waits for the ten runlocks */
  int begun = atomic_load(&g_runlocks_begun);
  ck_assert_msg(begun == 10, "the writer got in after %d of the 10 runlocks",
                begun);
  weft_wg_wait(&g_joined);
  weft_rwmutex_unlock(rw);
  free(rw);
}
END_TEST

/* ---- misuse ---------------------------------------------------------------------- */

static void runlock_unlocked(void) {
  weft_rwmutex rw = WEFT_RWMUTEX_INIT;
  weft_rwmutex_runlock(&rw);
}

static void runlock_write_locked(void) {
  weft_rwmutex rw = WEFT_RWMUTEX_INIT;
  weft_rwmutex_lock(&rw);
  weft_rwmutex_runlock(&rw);
}

static void unlock_unlocked(void) {
  weft_rwmutex rw = WEFT_RWMUTEX_INIT;
  weft_rwmutex_unlock(&rw);
}

static void unlock_read_locked(void) {
  weft_rwmutex rw = WEFT_RWMUTEX_INIT;
  weft_rwmutex_rlock(&rw);
  weft_rwmutex_unlock(&rw);
}

static weft_rwmutex g_child_rw = WEFT_RWMUTEX_INIT;
static void runlock_twice_g(void *arg) {
  (void)arg;
  weft_rwmutex_rlock(&g_child_rw);
  weft_rwmutex_runlock(&g_child_rw);
  weft_rwmutex_runlock(&g_child_rw);
}

static void runlock_twice_in_goroutine(void) {
  weft_procs(2);
  weft_go(runlock_twice_g, NULL);
  weft_sleep(10 * WEFT_SEC); /* the abort comes first */
}

START_TEST(test_misuse_aborts) {
  WEFT_ASSERT_ABORTS_WITH(runlock_unlocked,
                          "weft: sync: RUnlock of unlocked RWMutex");
  WEFT_ASSERT_ABORTS_WITH(runlock_write_locked, "RUnlock of unlocked RWMutex");
  WEFT_ASSERT_ABORTS_WITH(runlock_twice_in_goroutine,
                          "RUnlock of unlocked RWMutex");
  WEFT_ASSERT_ABORTS_WITH(unlock_unlocked,
                          "weft: sync: Unlock of unlocked RWMutex");
  WEFT_ASSERT_ABORTS_WITH(unlock_read_locked, "Unlock of unlocked RWMutex");
}
END_TEST

WEFT_TEST_MAIN("rwmutex", test_readers_share, test_writer_excludes,
               test_writer_not_starved, test_try_variants,
               test_zeroed_and_cross_runlock, test_misuse_aborts)
