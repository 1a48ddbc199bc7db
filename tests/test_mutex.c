/* test_mutex.c -- sync.Mutex: mutual exclusion under heavy contention from
 * goroutines on several Ps and plain threads at once (an exact non-atomic
 * count), trylock, the static and zeroed initializers, a mutex locked in one
 * party and unlocked in another (goroutine <-> thread), starvation mode (a
 * waiter gets the lock within bounds while others relock in tight loops),
 * and the unlock-of-unlocked panic. */
#include <pthread.h>

#include "sync/mutex.h"
#include "weft_test.h"

#ifdef WEFT_TEST_SANITIZED
#define SLOW 3 /* sanitizers: more slack on time bounds */
#else
#define SLOW 1
#endif

static weft_waitgroup g_joined = WEFT_WAITGROUP_INIT;

/* ---- mutual exclusion under contention ------------------------------------ */

#define EX_GOROUTINES 12
#define EX_THREADS 2
#define EX_ITERS WEFT_SCALE(20000)

static weft_mutex g_ex = WEFT_MUTEX_INIT;
static long g_ex_counter;        /* guarded by g_ex; deliberately not atomic */
static atomic_int g_ex_inside;   /* parties inside the critical section */
static weft_waitgroup g_ex_gate = WEFT_WAITGROUP_INIT;

/* The critical section: a read-modify-write with a gap in the middle, which
 * sometimes yields the P (or the thread), so that a broken lock loses
 * increments and shows two parties inside. */
static void ex_critical(int i) {
  int in = atomic_fetch_add(&g_ex_inside, 1);
  WEFT_EXPECT(in == 0, "%d other parties inside the critical section", in);
  long v = g_ex_counter;
  if (i % 64 == 0)
    weft_yield();
  else
    for (volatile int k = 0; k < 20; k++)
      ;
  g_ex_counter = v + 1;
  atomic_fetch_sub(&g_ex_inside, 1);
}

static void ex_loop(void) {
  weft_wg_wait(&g_ex_gate);
  for (int i = 0; i < EX_ITERS; i++) {
    weft_mutex_lock(&g_ex);
    ex_critical(i);
    weft_mutex_unlock(&g_ex);
  }
}

START_TEST(test_mutual_exclusion) {
  weft_procs(4);
  weft_wg_add(&g_ex_gate, 1);
  weft_test_mixed m = {0};
  weft_test_mixed_start(&m, ex_loop, EX_GOROUTINES, EX_THREADS);
  weft_wg_done(&g_ex_gate); /* everyone starts together */
  weft_test_mixed_join(&m);
  WEFT_ASSERT_NO_FAILURES();
  weft_mutex_lock(&g_ex);
  ck_assert_int_eq(g_ex_counter, (long)(EX_GOROUTINES + EX_THREADS) * EX_ITERS);
  weft_mutex_unlock(&g_ex);
}
END_TEST

/* ---- trylock ---------------------------------------------------------------- */

static weft_mutex g_try = WEFT_MUTEX_INIT;
static atomic_int g_try_result = -1;

static void try_from_goroutine(void *arg) {
  (void)arg;
  atomic_store(&g_try_result, weft_mutex_trylock(&g_try));
  weft_wg_done(&g_joined);
}

START_TEST(test_trylock) {
  weft_procs(2);
  ck_assert_int_eq(weft_mutex_trylock(&g_try), 1);
  ck_assert_int_eq(weft_mutex_trylock(&g_try), 0); /* not recursive */
  /* Held by the main thread: a goroutine's trylock fails without blocking. */
  weft_wg_add(&g_joined, 1);
  ck_assert_int_eq(weft_go(try_from_goroutine, NULL), 0);
  weft_wg_wait(&g_joined);
  ck_assert_int_eq(atomic_load(&g_try_result), 0);
  weft_mutex_unlock(&g_try);
  /* Free: the goroutine takes it, and the main thread then cannot. */
  weft_wg_add(&g_joined, 1);
  ck_assert_int_eq(weft_go(try_from_goroutine, NULL), 0);
  weft_wg_wait(&g_joined);
  ck_assert_int_eq(atomic_load(&g_try_result), 1);
  ck_assert_int_eq(weft_mutex_trylock(&g_try), 0);
  /* A trylock-taken lock is a real lock: lock blocks until it is freed, and
   * unlock from here (not the goroutine that took it) is allowed. */
  weft_mutex_unlock(&g_try);
  weft_mutex_lock(&g_try);
  ck_assert_int_eq(weft_mutex_trylock(&g_try), 0);
  weft_mutex_unlock(&g_try);
  ck_assert_int_eq(weft_mutex_trylock(&g_try), 1);
  weft_mutex_unlock(&g_try);
}
END_TEST

/* ---- static and zeroed initializers ------------------------------------------ */

static weft_mutex g_static = WEFT_MUTEX_INIT;
typedef struct guarded {
  weft_mutex m;
  long n;
} guarded;

static void static_worker(void *arg) {
  guarded *gd = arg;
  for (int i = 0; i < 1000; i++) {
    weft_mutex_lock(&g_static);
    weft_mutex_lock(&gd->m);
    gd->n++;
    if (i % 100 == 0)
      weft_yield();
    weft_mutex_unlock(&gd->m);
    weft_mutex_unlock(&g_static);
  }
  weft_wg_done(&g_joined);
}

START_TEST(test_static_and_zeroed) {
  weft_procs(2);
  /* A calloc'ed struct with an embedded mutex needs no init call. */
  guarded *gd = calloc(1, sizeof *gd);
  ck_assert_ptr_nonnull(gd);
  /* And a stack one with the initializer. */
  weft_mutex local = WEFT_MUTEX_INIT;
  weft_mutex_lock(&local);
  ck_assert_int_eq(weft_mutex_trylock(&local), 0);
  weft_mutex_unlock(&local);
  weft_wg_add(&g_joined, 8);
  for (int i = 0; i < 8; i++)
    ck_assert_int_eq(weft_go(static_worker, gd), 0);
  weft_wg_wait(&g_joined);
  ck_assert_int_eq(gd->n, 8000);
  ck_assert_int_eq(weft_mutex_trylock(&g_static), 1);
  ck_assert_int_eq(weft_mutex_trylock(&gd->m), 1);
  weft_mutex_unlock(&gd->m);
  weft_mutex_unlock(&g_static);
  free(gd);
}
END_TEST

/* ---- lock in one party, unlock in another --------------------------------- */

/* Two mutexes used as binary semaphores, handed back and forth: every
 * lock is released by the other side, a goroutine and a plain thread, so
 * each side wakes the other (a parked goroutine from a thread, a futex-
 * blocked thread from a goroutine). */
#define BATON_ROUNDS WEFT_SCALE(20000)
static weft_mutex g_a = WEFT_MUTEX_INIT, g_b = WEFT_MUTEX_INIT;
static long g_baton; /* written by the goroutine, read by the thread */

static void baton_goroutine(void *arg) {
  (void)arg;
  for (int i = 0; i < BATON_ROUNDS; i++) {
    weft_mutex_lock(&g_a); /* released by the thread */
    g_baton++;
    weft_mutex_unlock(&g_b); /* locked by the thread */
  }
  weft_wg_done(&g_joined);
}

static void *baton_thread(void *arg) {
  (void)arg;
  for (int i = 0; i < BATON_ROUNDS; i++) {
    weft_mutex_unlock(&g_a); /* locked by main or the goroutine */
    weft_mutex_lock(&g_b);   /* released by the goroutine */
    WEFT_EXPECT(g_baton == i + 1, "round %d: baton %ld", i, g_baton);
  }
  return NULL;
}

/* And the same between two goroutines on different Ps. */
static weft_mutex g_c = WEFT_MUTEX_INIT, g_d = WEFT_MUTEX_INIT;
static long g_baton2;

static void baton_taker(void *arg) {
  (void)arg;
  for (int i = 0; i < BATON_ROUNDS; i++) {
    weft_mutex_lock(&g_c);
    g_baton2++;
    weft_mutex_unlock(&g_d);
  }
  weft_wg_done(&g_joined);
}

static void baton_giver(void *arg) {
  (void)arg;
  for (int i = 0; i < BATON_ROUNDS; i++) {
    weft_mutex_unlock(&g_c);
    weft_mutex_lock(&g_d);
    WEFT_EXPECT(g_baton2 == i + 1, "round %d: baton %ld", i, g_baton2);
  }
  weft_wg_done(&g_joined);
}

START_TEST(test_cross_unlock) {
  weft_procs(4);
  weft_mutex_lock(&g_a); /* both start locked by main */
  weft_mutex_lock(&g_b);
  weft_mutex_lock(&g_c);
  weft_mutex_lock(&g_d);
  weft_wg_add(&g_joined, 3);
  ck_assert_int_eq(weft_go(baton_goroutine, NULL), 0);
  ck_assert_int_eq(weft_go(baton_taker, NULL), 0);
  ck_assert_int_eq(weft_go(baton_giver, NULL), 0);
  pthread_t th;
  ck_assert_int_eq(pthread_create(&th, NULL, baton_thread, NULL), 0);
  pthread_join(th, NULL);
  weft_wg_wait(&g_joined);
  WEFT_ASSERT_NO_FAILURES();
  ck_assert_int_eq(g_baton, BATON_ROUNDS);
  ck_assert_int_eq(g_baton2, BATON_ROUNDS);
  /* Final state: a and c held (by the goroutines' last lock), b and d held
   * (by the other side's last lock). Main may unlock all four. */
  ck_assert_int_eq(weft_mutex_trylock(&g_a), 0);
  ck_assert_int_eq(weft_mutex_trylock(&g_b), 0);
  weft_mutex_unlock(&g_a);
  weft_mutex_unlock(&g_b);
  weft_mutex_unlock(&g_c);
  weft_mutex_unlock(&g_d);
  ck_assert_int_eq(weft_mutex_trylock(&g_a), 1);
  ck_assert_int_eq(weft_mutex_trylock(&g_d), 1);
  weft_mutex_unlock(&g_a);
  weft_mutex_unlock(&g_d);
}
END_TEST

/* ---- a blocked locker really blocks, and is released by unlock ------------- */

static weft_mutex g_blk = WEFT_MUTEX_INIT;
static atomic_int g_blk_got;

static void blk_locker(void *arg) {
  (void)arg;
  weft_mutex_lock(&g_blk);
  atomic_fetch_add(&g_blk_got, 1);
  weft_mutex_unlock(&g_blk);
  weft_wg_done(&g_joined);
}

static void *blk_thread(void *arg) {
  (void)arg;
  weft_mutex_lock(&g_blk);
  atomic_fetch_add(&g_blk_got, 1);
  weft_mutex_unlock(&g_blk);
  return NULL;
}

START_TEST(test_lock_blocks) {
  weft_procs(2);
  weft_mutex_lock(&g_blk);
  weft_wg_add(&g_joined, 4);
  for (int i = 0; i < 4; i++)
    ck_assert_int_eq(weft_go(blk_locker, NULL), 0);
  pthread_t th;
  ck_assert_int_eq(pthread_create(&th, NULL, blk_thread, NULL), 0);
  weft_test_os_sleep_ms(50);
  ck_assert_int_eq(atomic_load(&g_blk_got), 0);
  weft_mutex_unlock(&g_blk);
  ck_assert(WEFT_POLL_UNTIL(atomic_load(&g_blk_got) == 5, 10000));
  pthread_join(th, NULL);
  weft_wg_wait(&g_joined);
}
END_TEST

/* ---- starvation mode: a waiter is not starved by relockers ---------------- */

#define HOGS 3
#define STARVE_ACQUIRES 20
static weft_mutex g_st = WEFT_MUTEX_INIT;
static atomic_int g_st_stop, g_st_waiter_done;
static atomic_long g_st_hog_rounds;
static atomic_llong g_st_max_wait_g, g_st_max_wait_t;

/* lock / short work / unlock / lock ...: the unlocker is running and almost
 * always re-takes the lock before a woken waiter can, so only starvation
 * mode (hand-off to a waiter that waited over 1 ms) lets waiters in.
 * yield_every > 0: the hog yields its P that often, outside the lock. */
static void hog(void *arg) {
  long yield_every = (long)(intptr_t)arg;
  long rounds = 0;
  while (!atomic_load_explicit(&g_st_stop, memory_order_relaxed)) {
    weft_mutex_lock(&g_st);
    for (volatile int k = 0; k < 50; k++)
      ;
    weft_mutex_unlock(&g_st);
    rounds++;
    if (yield_every > 0 && rounds % yield_every == 0)
      weft_yield();
  }
  atomic_fetch_add(&g_st_hog_rounds, rounds);
  weft_wg_done(&g_joined);
}

static void record_max(atomic_llong *max, long long v) {
  long long m = atomic_load(max);
  while (v > m && !atomic_compare_exchange_weak(max, &m, v))
    ;
}

static void starve_waits(atomic_llong *max) {
  for (int i = 0; i < STARVE_ACQUIRES; i++) {
    int64_t t0 = weft_now();
    weft_mutex_lock(&g_st);
    int64_t dt = weft_now() - t0;
    weft_mutex_unlock(&g_st);
    record_max(max, dt);
    weft_sleep(2 * WEFT_MS); /* let the hogs run alone a while */
  }
}

static void starve_goroutine(void *arg) {
  (void)arg;
  starve_waits(&g_st_max_wait_g);
  atomic_store(&g_st_waiter_done, 1);
  weft_wg_done(&g_joined);
}

static atomic_int g_st_thread_done;
static void *starve_thread(void *arg) {
  (void)arg;
  starve_waits(&g_st_max_wait_t);
  atomic_store(&g_st_thread_done, 1);
  return NULL;
}

static void starvation_case(long yield_every) {
  weft_procs(4);
  uint64_t handoffs = atomic_load(&weft__mutex_handoffs);
  weft_wg_add(&g_joined, HOGS);
  for (int i = 0; i < HOGS; i++)
    ck_assert_int_eq(weft_go(hog, (void *)(intptr_t)yield_every), 0);
  /* Let the hogs get going before anyone waits. */
  ck_assert(WEFT_POLL_UNTIL(weft_num_goroutines() == HOGS, 10000));
  weft_test_os_sleep_ms(20);
  weft_wg_add(&g_joined, 1);
  ck_assert_int_eq(weft_go(starve_goroutine, NULL), 0);
  pthread_t th; /* a plain thread competes too */
  ck_assert_int_eq(pthread_create(&th, NULL, starve_thread, NULL), 0);
  /* Each acquisition should take well under a second; give the whole run
   * 10 s (x3 under sanitizers) before calling a waiter starved, rather than
   * hanging until Check's timeout. */
  int finished = WEFT_POLL_UNTIL(atomic_load(&g_st_waiter_done) &&
                                     atomic_load(&g_st_thread_done),
                                 10000 * SLOW);
  long long mg = atomic_load(&g_st_max_wait_g);
  long long mt = atomic_load(&g_st_max_wait_t);
  ck_assert_msg(finished,
                "starved: goroutine waiter %s, thread waiter %s, %d "
                "acquisitions each in %d s (longest completed waits %lld and "
                "%lld ms) while %d goroutines relocked (yielding every %ld "
                "rounds; 0 = never)",
                atomic_load(&g_st_waiter_done) ? "done" : "NOT done",
                atomic_load(&g_st_thread_done) ? "done" : "NOT done",
                STARVE_ACQUIRES, 10 * SLOW, mg / WEFT_MS, mt / WEFT_MS, HOGS,
                yield_every);
  pthread_join(th, NULL);
  atomic_store(&g_st_stop, 1);
  weft_wg_wait(&g_joined);
  ck_assert_msg(mg < SLOW * WEFT_SEC,
                "goroutine waiter waited %lld ms for the lock", mg / WEFT_MS);
  ck_assert_msg(mt < SLOW * WEFT_SEC,
                "thread waiter waited %lld ms for the lock", mt / WEFT_MS);
  /* The hogs really did run (and so really competed). */
  ck_assert_int_gt(atomic_load(&g_st_hog_rounds), 1000);
  /* And the waiters got in by starvation mode's hand-off, not by luck. */
  ck_assert_msg(atomic_load(&weft__mutex_handoffs) > handoffs,
                "no unlock handed the mutex to a starving waiter");
}

START_TEST(test_starvation_mode) {
  /* Hogs that yield now and then (outside the lock): this is about the
   * mutex's hand-off, not about the scheduler. */
  starvation_case(64);
}
END_TEST

START_TEST(test_starvation_tight_relock) {
  /* Hogs that never yield: lock/unlock/lock... on several Ps. The waiter
   * woken by a hog's unlock must still get to run and take the lock while
   * other Ps are free. */
  starvation_case(0);
}
END_TEST

/* ---- misuse ------------------------------------------------------------------ */

static void unlock_unlocked(void) {
  weft_mutex m = WEFT_MUTEX_INIT;
  weft_mutex_unlock(&m);
}

static void unlock_twice(void) {
  weft_mutex m = WEFT_MUTEX_INIT;
  weft_mutex_lock(&m);
  weft_mutex_unlock(&m);
  weft_mutex_unlock(&m);
}

static weft_mutex g_child_m = WEFT_MUTEX_INIT;
static void unlock_in_goroutine(void *arg) {
  (void)arg;
  weft_mutex_unlock(&g_child_m);
}

static void unlock_unlocked_in_goroutine(void) {
  weft_procs(2);
  weft_go(unlock_in_goroutine, NULL);
  weft_sleep(10 * WEFT_SEC); /* the abort comes first */
}

START_TEST(test_unlock_unlocked_aborts) {
  WEFT_ASSERT_ABORTS_WITH(unlock_unlocked, "weft: sync: unlock of unlocked mutex");
  WEFT_ASSERT_ABORTS_WITH(unlock_twice, "unlock of unlocked mutex");
  WEFT_ASSERT_ABORTS_WITH(unlock_unlocked_in_goroutine,
                          "unlock of unlocked mutex");
}
END_TEST

WEFT_TEST_MAIN("mutex", test_mutual_exclusion, test_trylock,
               test_static_and_zeroed, test_cross_unlock, test_lock_blocks,
               test_starvation_mode, test_starvation_tight_relock,
               test_unlock_unlocked_aborts)
