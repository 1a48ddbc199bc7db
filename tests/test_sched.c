/* test_sched.c -- the scheduler: yield fairness on one P, runnext not
 * starving the run queue, work stealing across Ps, a spinning goroutine not
 * blocking the other Ps, and the migration hazards (errno and goroutine
 * identity preserved across a move to another OS thread). */
#include <pthread.h>

#include "weft_test.h"

static weft_waitgroup g_wg = WEFT_WAITGROUP_INIT;
static atomic_int g_stop;

/* ---- yield fairness ------------------------------------------------------- */

#define FAIR_N 8
static atomic_long g_fair[FAIR_N];

static void fair_worker(void *arg) {
  uintptr_t i = (uintptr_t)arg;
  while (!atomic_load_explicit(&g_stop, memory_order_relaxed)) {
    atomic_fetch_add_explicit(&g_fair[i], 1, memory_order_relaxed);
    weft_yield();
  }
  weft_wg_done(&g_wg);
}

START_TEST(test_yield_fairness_one_p) {
  ck_assert_int_gt(weft_procs(1), 0); /* the previous value */
  ck_assert_int_eq(weft_procs(0), 1);
  weft_wg_add(&g_wg, FAIR_N);
  for (uintptr_t i = 0; i < FAIR_N; i++)
    ck_assert_int_eq(weft_go(fair_worker, (void *)i), 0);
  ck_assert_int_eq(weft_sleep(200 * WEFT_MS), 0); /* plain thread */
  long snap[FAIR_N];
  for (int i = 0; i < FAIR_N; i++)
    snap[i] = atomic_load(&g_fair[i]);
  atomic_store(&g_stop, 1);
  weft_wg_wait(&g_wg);
  long mn = snap[0], mx = snap[0];
  for (int i = 1; i < FAIR_N; i++) {
    mn = snap[i] < mn ? snap[i] : mn;
    mx = snap[i] > mx ? snap[i] : mx;
  }
  ck_assert_msg(mn > 0, "a yielding goroutine never ran (min 0, max %ld)", mx);
  ck_assert_msg(mn >= mx / 4, "unfair yields on one P: min %ld, max %ld", mn,
                mx);
}
END_TEST

/* ---- runnext must not starve the queue ------------------------------------ */

static atomic_long g_spawn_iters, g_yield_iters;

static void child_done(void *arg) { weft_wg_done(arg); }

static void spawn_join_loop(void *arg) {
  (void)arg;
  while (!atomic_load_explicit(&g_stop, memory_order_relaxed)) {
    weft_waitgroup wg = WEFT_WAITGROUP_INIT;
    weft_wg_add(&wg, 1);
    int rc = weft_go(child_done, &wg);
    WEFT_EXPECT(rc == 0, "weft_go returned %d", rc);
    weft_wg_wait(&wg);
    atomic_fetch_add_explicit(&g_spawn_iters, 1, memory_order_relaxed);
  }
  weft_wg_done(&g_wg);
}

static void yield_counter(void *arg) {
  (void)arg;
  while (!atomic_load_explicit(&g_stop, memory_order_relaxed)) {
    atomic_fetch_add_explicit(&g_yield_iters, 1, memory_order_relaxed);
    weft_yield();
  }
  weft_wg_done(&g_wg);
}

START_TEST(test_runnext_does_not_starve) {
  weft_procs(1);
  weft_wg_add(&g_wg, 2);
  /* The spawner goes first so that it holds the P before the counter runs. */
  ck_assert_int_eq(weft_go(spawn_join_loop, NULL), 0);
  ck_assert_int_eq(weft_go(yield_counter, NULL), 0);
  weft_sleep(300 * WEFT_MS);
  long spawns = atomic_load(&g_spawn_iters);
  long yields = atomic_load(&g_yield_iters);
  atomic_store(&g_stop, 1);
  weft_wg_wait(&g_wg);
  WEFT_ASSERT_NO_FAILURES();
  ck_assert_msg(spawns > 0, "the spawn/join loop never ran");
  ck_assert_msg(yields > 0,
                "a spawn/join loop starved a yielding goroutine on one P "
                "for 300 ms (%ld spawn/joins, 0 yields)",
                spawns);
}
END_TEST

/* ---- work stealing: fork-join sum over 4 Ps ------------------------------- */

/* 128 leaves, 255 goroutines per tree: fewer than a P's run queue holds
 * (256), so no part of the tree ever overflows into the global queue and a
 * leaf can reach another P only by being stolen. */
#define WS_PROCS 4
#define WS_RANGE (1u << 13)
#define WS_LEAF 64u
static atomic_long g_leaves_on[WS_PROCS];
static atomic_long g_leaves_bad;
static _Atomic uint64_t g_sink; /* keeps burn() alive; relaxed, racy by design */

typedef struct range_job {
  uint64_t lo, hi, sum;
  weft_waitgroup *done;
} range_job;

/* About 100-200 microseconds of real CPU work the compiler cannot drop. */
static uint64_t burn(uint64_t x) {
  for (int i = 0; i < 100000; i++) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
  }
  return x;
}

static void range_sum(void *arg) {
  range_job *j = arg;
  if (j->hi - j->lo <= WS_LEAF) {
    int p = weft_proc_id();
    if (p >= 0 && p < WS_PROCS)
      atomic_fetch_add(&g_leaves_on[p], 1);
    else
      atomic_fetch_add(&g_leaves_bad, 1);
    atomic_store_explicit(&g_sink, burn(j->lo | 1), memory_order_relaxed);
    uint64_t s = 0;
    for (uint64_t i = j->lo; i < j->hi; i++)
      s += i;
    j->sum = s;
  } else {
    uint64_t mid = j->lo + (j->hi - j->lo) / 2;
    weft_waitgroup wg = WEFT_WAITGROUP_INIT;
    range_job a = {j->lo, mid, 0, &wg}, b = {mid, j->hi, 0, &wg};
    weft_wg_add(&wg, 2);
    int ra = weft_go(range_sum, &a);
    int rb = weft_go(range_sum, &b);
    WEFT_EXPECT(ra == 0 && rb == 0, "weft_go returned %d, %d", ra, rb);
    weft_wg_wait(&wg);
    j->sum = a.sum + b.sum;
  }
  weft_wg_done(j->done);
}

/* Stealing must spread the fork-join trees: the root runs on one P, and
 * the others get leaves only by stealing (see WS_RANGE). What the scheduler
 * guarantees is that work made stealable wakes an idle P (wakep), which
 * steals it: so within a generous deadline, leaves run on more than one P.
 * How many more is the kernel's business: on a 2-core machine four P
 * threads share two CPUs with the other tests, and the idle Ps form a stack
 * (as Go's pidle does), so the same P may be the one woken round after
 * round. Rounds repeat until every P has run leaves or 30 s have passed;
 * the test asserts two Ps, and prints how many ran leaves. */
START_TEST(test_work_stealing) {
  weft_procs(WS_PROCS);
  const uint64_t want = (uint64_t)WS_RANGE * (WS_RANGE - 1) / 2;
  int64_t deadline = weft_test_clock() + 30 * (int64_t)1000000000;
  int rounds = 0, seen = 0;
  long on[WS_PROCS] = {0}; /* leaves per P over all rounds */
  long total = 0;
  while (seen < WS_PROCS && weft_test_clock() < deadline) {
    for (int p = 0; p < WS_PROCS; p++)
      atomic_store(&g_leaves_on[p], 0);
    weft_waitgroup wg = WEFT_WAITGROUP_INIT;
    range_job root = {0, WS_RANGE, 0, &wg};
    weft_wg_add(&wg, 1);
    ck_assert_int_eq(weft_go(range_sum, &root), 0);
    weft_wg_wait(&wg);
    rounds++;
    ck_assert_uint_eq(root.sum, want);
    long round_total = 0;
    seen = 0;
    for (int p = 0; p < WS_PROCS; p++) {
      long n = atomic_load(&g_leaves_on[p]);
      round_total += n;
      on[p] += n;
      seen += on[p] > 0;
    }
    ck_assert_int_eq(round_total, WS_RANGE / WS_LEAF);
    total += round_total;
  }
  WEFT_ASSERT_NO_FAILURES();
  ck_assert_int_eq(atomic_load(&g_leaves_bad), 0);
  ck_assert_int_eq(total, (long)rounds * (WS_RANGE / WS_LEAF));
  fprintf(stderr, "test_work_stealing: %d of %d Ps ran leaves in %d rounds "
          "(%ld %ld %ld %ld)\n", seen, WS_PROCS, rounds, on[0], on[1], on[2],
          on[3]);
  ck_assert_msg(seen >= 2,
                "in %d fork-join rounds over 30 s no leaf was stolen: "
                "%ld %ld %ld %ld", rounds, on[0], on[1], on[2], on[3]);
}
END_TEST

/* ---- a spinning goroutine keeps only its own P ---------------------------- */

static atomic_int g_flag, g_spinning;

static void spinner(void *arg) {
  (void)arg;
  atomic_store(&g_spinning, 1);
  while (!atomic_load(&g_flag)) /* no weft call: keeps its P */
    ;
  weft_wg_done(&g_wg);
}

static void setter(void *arg) {
  (void)arg;
  atomic_store(&g_flag, 1);
  weft_wg_done(&g_wg);
}

START_TEST(test_spinner_leaves_other_ps) {
  weft_procs(2);
  weft_wg_add(&g_wg, 2);
  ck_assert_int_eq(weft_go(spinner, NULL), 0);
  ck_assert(WEFT_POLL_UNTIL(atomic_load(&g_spinning), 10000));
  ck_assert_int_eq(weft_go(setter, NULL), 0);
  int ok = WEFT_POLL_UNTIL(atomic_load(&g_flag), 20000);
  atomic_store(&g_flag, 1); /* unblock the spinner either way */
  ck_assert_msg(ok, "a goroutine queued while another spins never ran on "
                    "the second P");
  weft_wg_wait(&g_wg);
}
END_TEST

/* ---- migration hazards: errno and identity across yields ------------------- */

#define MIG_G 64
#define MIG_ITERS WEFT_SCALE(2000)
static atomic_long g_migrations, g_checks;

/* errno must be re-read in a separate function after a call that may move
 * the goroutine to another thread (weft.h, "Migration hazards"). */
__attribute__((noinline)) static void set_errno(int v) { errno = v; }
__attribute__((noinline)) static int get_errno(void) { return errno; }
__attribute__((noinline)) static long tid_now(void) {
  return weft_test_gettid();
}

static void errno_worker(void *arg) {
  uintptr_t idx = (uintptr_t)arg;
  uint64_t id = weft_goid();
  long migrated = 0;
  for (int it = 0; it < MIG_ITERS; it++) {
    int v = (int)(idx * 100000 + (uintptr_t)it + 1);
    set_errno(v);
    long t0 = tid_now();
    if (it % 8 == 7)
      weft_sleep(20 * WEFT_US); /* a timer wake-up may land on another P */
    else
      weft_yield();
    int e = get_errno();
    long t1 = tid_now();
    uint64_t id2 = weft_goid();
    WEFT_EXPECT(e == v, "goroutine %lu: errno %d after a yield, set %d "
                        "(thread %ld -> %ld)",
                (unsigned long)idx, e, v, t0, t1);
    WEFT_EXPECT(id2 == id, "goid changed %llu -> %llu",
                (unsigned long long)id, (unsigned long long)id2);
    if (t1 != t0)
      migrated++;
  }
  atomic_fetch_add(&g_migrations, migrated);
  atomic_fetch_add(&g_checks, MIG_ITERS);
  weft_wg_done(&g_wg);
}

START_TEST(test_migration_preserves_errno_and_goid) {
  weft_procs(4);
  weft_wg_add(&g_wg, MIG_G);
  for (uintptr_t i = 0; i < MIG_G; i++)
    ck_assert_int_eq(weft_go(errno_worker, (void *)i), 0);
  weft_wg_wait(&g_wg);
  WEFT_ASSERT_NO_FAILURES();
  ck_assert_int_eq(atomic_load(&g_checks), (long)MIG_G * MIG_ITERS);
  ck_assert_msg(atomic_load(&g_migrations) > 0,
                "no goroutine ever resumed on another OS thread in %ld "
                "yields/sleeps over 4 Ps: the test proved nothing about "
                "migration (is stealing working?)",
                (long)MIG_G * MIG_ITERS);
}
END_TEST

/* ---- a stuck P's ring gets another P ------------------------------------ */

/* Readers woken by a writer's unlock are a lock's waiters: the ones runnext
 * displaces into the ring wake no other P (src/sched/sched.c), so a P can be left
 * with goroutines in its ring while another P sleeps. If the P then
 * computes without switching, sysmon must send the idle P (src/sched/sysmon.c). The
 * setup makes that the only way out: eight readers park behind the root's
 * write lock; its unlock readies them all onto its P, one in runnext and
 * seven in the ring; each then computes for 50 ms without a weft call,
 * so the P never switches on its own, and runnext is empty after the first
 * pick. */
#define STUCK_READERS 8
static weft_rwmutex g_stuck_rw = WEFT_RWMUTEX_INIT;
static atomic_int g_stuck_started;
static atomic_long g_stuck_on[8]; /* readers that finished on each P */

static void stuck_reader(void *arg) {
  (void)arg;
  atomic_fetch_add(&g_stuck_started, 1);
  weft_rwmutex_rlock(&g_stuck_rw); /* parks: the root holds the lock */
  weft_rwmutex_runlock(&g_stuck_rw);
  /* sysmon sees a P stuck when two looks, up to 20 ms apart once it has
   * backed off, find the same switch count: one reader must outlast two. */
  weft_test_busy_ms(50); /* no switch, so the ring stays as it is */
  int p = weft_proc_id();
  if (p >= 0 && p < 8)
    atomic_fetch_add(&g_stuck_on[p], 1);
  weft_wg_done(&g_wg);
}

static void stuck_root(void *arg) {
  weft_waitgroup *done = arg;
  weft_rwmutex_lock(&g_stuck_rw);
  weft_wg_add(&g_wg, STUCK_READERS);
  for (int i = 0; i < STUCK_READERS; i++)
    WEFT_EXPECT(weft_go(stuck_reader, NULL) == 0, "weft_go failed");
  while (atomic_load(&g_stuck_started) < STUCK_READERS)
    weft_sleep(WEFT_MS);
  /* Parked for sure, and the other P asleep again after the spawns. */
  weft_sleep(50 * WEFT_MS);
  /* The sleep's wake-up woke an idle P, which spins for tens of us: let
   * it give up and sleep before the readers are readied. */
  weft_test_busy_ms(5);
  weft_rwmutex_unlock(&g_stuck_rw); /* readies all eight onto this P */
  weft_wg_wait(&g_wg);
  weft_wg_done(done);
}

START_TEST(test_stuck_ring_gets_idle_p) {
  weft_procs(2);
  weft_waitgroup done = WEFT_WAITGROUP_INIT;
  weft_wg_add(&done, 1);
  ck_assert_int_eq(weft_go(stuck_root, &done), 0);
  weft_wg_wait(&done);
  WEFT_ASSERT_NO_FAILURES();
  long p0 = atomic_load(&g_stuck_on[0]), p1 = atomic_load(&g_stuck_on[1]);
  ck_assert_int_eq(p0 + p1, STUCK_READERS);
  ck_assert_msg(p0 > 0 && p1 > 0,
                "8 readers of 50 ms each, readied onto one P's ring, all ran "
                "on one P (%ld and %ld) while the other slept: sysmon did not "
                "help the stuck P", p0, p1);
}
END_TEST

/* ---- weft_yield on plain threads ------------------------------------------- */

static void *yield_thread(void *arg) {
  (void)arg;
  for (int i = 0; i < 1000; i++)
    weft_yield();
  return (void *)(uintptr_t)(weft_goid() + 1);
}

static void yield_a_bit(void *arg) {
  (void)arg;
  for (int i = 0; i < 100; i++)
    weft_yield();
  weft_wg_done(&g_wg);
}

START_TEST(test_yield_plain_thread) {
  /* Before the runtime starts... */
  for (int i = 0; i < 1000; i++)
    weft_yield();
  ck_assert_uint_eq(weft_goid(), 0);
  /* ...and while goroutines run, on main and on other threads. */
  weft_procs(2);
  weft_wg_add(&g_wg, 16);
  for (int i = 0; i < 16; i++)
    ck_assert_int_eq(weft_go(yield_a_bit, NULL), 0);
  pthread_t th[4];
  for (int i = 0; i < 4; i++)
    ck_assert_int_eq(pthread_create(&th[i], NULL, yield_thread, NULL), 0);
  for (int i = 0; i < 1000; i++)
    weft_yield();
  for (int i = 0; i < 4; i++) {
    void *r;
    pthread_join(th[i], &r);
    ck_assert_uint_eq((uintptr_t)r, 1); /* goid 0 there */
  }
  weft_wg_wait(&g_wg);
  ck_assert_int_eq(weft_proc_id(), -1);
}
END_TEST

WEFT_TEST_MAIN("sched", test_yield_fairness_one_p, test_runnext_does_not_starve,
               test_work_stealing, test_spinner_leaves_other_ps,
               test_migration_preserves_errno_and_goid,
               test_stuck_ring_gets_idle_p, test_yield_plain_thread)
