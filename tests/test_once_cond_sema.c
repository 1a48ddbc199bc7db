/* test_once_cond_sema.c -- sync.Once (exactly one run under a race of
 * goroutines and threads, every caller returning only after fn finished),
 * sync.Cond (broadcast wakes every waiter, signal exactly one at a time, no
 * lost signal when a signal races with a waiter entering wait), and the
 * counting semaphore (concurrency limit, deadlines, try, release waking a
 * waiter, timed-out waiters not swallowing units, plain threads). */
#include <pthread.h>

#include "weft_test.h"

#ifdef WEFT_TEST_SANITIZED
#define SLOW 3
#else
#define SLOW 1
#endif

static weft_waitgroup g_joined = WEFT_WAITGROUP_INIT;

static void record_max(atomic_int *max, int v) {
  int m = atomic_load(max);
  while (v > m && !atomic_compare_exchange_weak(max, &m, v))
    ;
}

/* ================================ Once =================================== */

#define ONCE_GOROUTINES 32
#define ONCE_THREADS 4
static weft_once g_once = WEFT_ONCE_INIT;
static atomic_int g_once_runs;
static int g_once_value; /* plain: callers must see it through the once */
static atomic_int g_once_returned;
static weft_waitgroup g_once_gate = WEFT_WAITGROUP_INIT;

static void once_fn(void *arg) {
  atomic_fetch_add(&g_once_runs, 1);
  /* Take long enough that every caller arrives while fn runs; on a
   * goroutine this parks, on a thread it blocks the thread. */
  weft_sleep(30 * WEFT_MS);
  WEFT_EXPECT(atomic_load(&g_once_returned) == 0,
              "%d caller(s) returned from weft_once_do while fn ran",
              atomic_load(&g_once_returned));
  g_once_value = *(int *)arg;
}

static int g_once_arg = 42;
static void once_caller(void) {
  weft_wg_wait(&g_once_gate);
  weft_once_do(&g_once, once_fn, &g_once_arg);
  WEFT_EXPECT(g_once_value == 42, "returned before fn finished: value %d",
              g_once_value);
  atomic_fetch_add(&g_once_returned, 1);
}

static void never(void *arg) {
  (void)arg;
  atomic_fetch_add(&g_once_runs, 1000);
}

START_TEST(test_once_race) {
  weft_procs(4);
  weft_wg_add(&g_once_gate, 1);
  weft_test_mixed m = {0};
  weft_test_mixed_start(&m, once_caller, ONCE_GOROUTINES, ONCE_THREADS);
  weft_test_os_sleep_ms(10);
  weft_wg_done(&g_once_gate);
  weft_test_mixed_join(&m);
  WEFT_ASSERT_NO_FAILURES();
  ck_assert_int_eq(atomic_load(&g_once_runs), 1);
  ck_assert_int_eq(atomic_load(&g_once_returned),
                   ONCE_GOROUTINES + ONCE_THREADS);
  /* Done for good: later calls, with another fn, run nothing. */
  weft_once_do(&g_once, never, NULL);
  ck_assert_int_eq(atomic_load(&g_once_runs), 1);
}
END_TEST

/* Many fresh Onces, each raced by a few goroutines and the main thread with
 * no sleep in fn: exercises the fast path's acquire against fn's writes. */
#define ONCE_ROUNDS WEFT_SCALE(2000)
#define ONCE_RACERS 4

typedef struct once_round {
  weft_once once;
  atomic_int runs;
  long payload[4]; /* plain: written by fn, read by every caller */
  weft_waitgroup wg;
} once_round;

static void round_fn(void *arg) {
  once_round *r = arg;
  atomic_fetch_add(&r->runs, 1);
  for (int i = 0; i < 4; i++)
    r->payload[i] = 1000 + i;
}

static void round_check(once_round *r) {
  weft_once_do(&r->once, round_fn, r);
  for (int i = 0; i < 4; i++)
    WEFT_EXPECT(r->payload[i] == 1000 + i, "payload[%d] = %ld after once_do",
                i, r->payload[i]);
}

static void round_racer(void *arg) {
  once_round *r = arg;
  round_check(r);
  weft_wg_done(&r->wg);
}

START_TEST(test_once_rounds) {
  weft_procs(4);
  for (int k = 0; k < ONCE_ROUNDS; k++) {
    once_round *r = calloc(1, sizeof *r);
    ck_assert_ptr_nonnull(r);
    weft_wg_add(&r->wg, ONCE_RACERS);
    for (int i = 0; i < ONCE_RACERS; i++)
      ck_assert_int_eq(weft_go(round_racer, r), 0);
    round_check(r);
    weft_wg_wait(&r->wg);
    ck_assert_int_eq(atomic_load(&r->runs), 1);
    free(r);
  }
  WEFT_ASSERT_NO_FAILURES();
}
END_TEST

/* fn may itself use another Once, and block on a goroutine it starts. */
static weft_once g_outer = WEFT_ONCE_INIT, g_inner = WEFT_ONCE_INIT;
static atomic_int g_inner_runs, g_outer_runs;
static void inner_fn(void *arg) {
  (void)arg;
  atomic_fetch_add(&g_inner_runs, 1);
}
static void helper(void *arg) {
  weft_once_do(&g_inner, inner_fn, NULL);
  weft_wg_done(arg);
}
static void outer_fn(void *arg) {
  (void)arg;
  atomic_fetch_add(&g_outer_runs, 1);
  weft_waitgroup wg = WEFT_WAITGROUP_INIT;
  weft_wg_add(&wg, 1);
  weft_go(helper, &wg);
  weft_wg_wait(&wg);
  weft_once_do(&g_inner, inner_fn, NULL);
}
static void outer_caller(void *arg) {
  (void)arg;
  weft_once_do(&g_outer, outer_fn, NULL);
  WEFT_EXPECT(atomic_load(&g_inner_runs) == 1, "inner ran %d times",
              atomic_load(&g_inner_runs));
  weft_wg_done(&g_joined);
}

START_TEST(test_once_nested) {
  weft_procs(2);
  weft_wg_add(&g_joined, 8);
  for (int i = 0; i < 8; i++)
    ck_assert_int_eq(weft_go(outer_caller, NULL), 0);
  weft_wg_wait(&g_joined);
  WEFT_ASSERT_NO_FAILURES();
  ck_assert_int_eq(atomic_load(&g_outer_runs), 1);
  ck_assert_int_eq(atomic_load(&g_inner_runs), 1);
}
END_TEST

/* ================================ Cond =================================== */

/* ---- broadcast wakes every waiter, goroutines and threads ------------------ */

#define BC_GOROUTINES 16
#define BC_THREADS 3
#define BC_N (BC_GOROUTINES + BC_THREADS)
static weft_mutex g_bm = WEFT_MUTEX_INIT;
static weft_cond g_bc = WEFT_COND_INIT;
static int g_b_waiting; /* g_bm */
static int g_b_go;      /* g_bm */
static atomic_int g_b_woken;

static void bc_wait(void) {
  weft_mutex_lock(&g_bm);
  g_b_waiting++;
  while (!g_b_go)
    weft_cond_wait(&g_bc, &g_bm);
  /* wait returns with the mutex held */
  WEFT_EXPECT(weft_mutex_trylock(&g_bm) == 0, "cond_wait returned unlocked");
  weft_mutex_unlock(&g_bm);
  atomic_fetch_add(&g_b_woken, 1);
}

START_TEST(test_cond_broadcast) {
  weft_procs(4);
  weft_test_mixed m = {0};
  weft_test_mixed_start(&m, bc_wait, BC_GOROUTINES, BC_THREADS);
  /* Every waiter counted itself under the mutex before waiting, so once
   * the count is full, all of them are in (or past) cond_wait. */
  int all = 0;
  for (int64_t dl = weft_test_clock() + 10 * WEFT_SEC; weft_test_clock() < dl;) {
    weft_mutex_lock(&g_bm);
    all = g_b_waiting == BC_N;
    weft_mutex_unlock(&g_bm);
    if (all)
      break;
    weft_test_os_sleep_ms(1);
  }
  ck_assert(all);
  weft_test_os_sleep_ms(20);
  ck_assert_int_eq(atomic_load(&g_b_woken), 0); /* nobody left early */
  weft_mutex_lock(&g_bm);
  g_b_go = 1;
  weft_cond_broadcast(&g_bc); /* one broadcast must wake all of them */
  weft_mutex_unlock(&g_bm);
  ck_assert_msg(WEFT_POLL_UNTIL(atomic_load(&g_b_woken) == BC_N, 10000),
                "broadcast woke %d of %d waiters", atomic_load(&g_b_woken),
                BC_N);
  weft_test_mixed_join(&m);
  WEFT_ASSERT_NO_FAILURES();
}
END_TEST

/* ---- signal wakes exactly one ------------------------------------------------ */

#define SG_GOROUTINES 8
#define SG_THREADS 2
#define SG_N (SG_GOROUTINES + SG_THREADS)
static weft_mutex g_sm = WEFT_MUTEX_INIT;
static weft_cond g_sc = WEFT_COND_INIT;
static int g_s_waiting; /* g_sm */
static atomic_int g_s_woken;

/* One wait each, no predicate loop: every return from wait is a wake-up
 * that a signal must account for. */
static void sg_wait(void) {
  weft_mutex_lock(&g_sm);
  g_s_waiting++;
  weft_cond_wait(&g_sc, &g_sm);
  atomic_fetch_add(&g_s_woken, 1);
  weft_mutex_unlock(&g_sm);
}

START_TEST(test_cond_signal_one) {
  weft_procs(4);
  /* Signal with nobody waiting is a no-op (it is not remembered). */
  weft_cond_signal(&g_sc);
  weft_cond_broadcast(&g_sc);
  weft_test_mixed m = {0};
  weft_test_mixed_start(&m, sg_wait, SG_GOROUTINES, SG_THREADS);
  int all = 0;
  for (int64_t dl = weft_test_clock() + 10 * WEFT_SEC; weft_test_clock() < dl;) {
    weft_mutex_lock(&g_sm);
    all = g_s_waiting == SG_N;
    weft_mutex_unlock(&g_sm);
    if (all)
      break;
    weft_test_os_sleep_ms(1);
  }
  ck_assert(all);
  weft_test_os_sleep_ms(10);
  ck_assert_int_eq(atomic_load(&g_s_woken), 0);
  for (int i = 1; i <= SG_N; i++) {
    if (i % 2)
      weft_cond_signal(&g_sc); /* without the lock */
    else {
      weft_mutex_lock(&g_sm);
      weft_cond_signal(&g_sc); /* with it */
      weft_mutex_unlock(&g_sm);
    }
    ck_assert_msg(WEFT_POLL_UNTIL(atomic_load(&g_s_woken) >= i, 10000),
                  "signal %d woke nobody", i);
    weft_test_os_sleep_ms(5); /* would a second waiter wake too? */
    ck_assert_msg(atomic_load(&g_s_woken) == i,
                  "signal %d woke %d waiters in all", i,
                  atomic_load(&g_s_woken));
  }
  weft_test_mixed_join(&m);
}
END_TEST

/* ---- no lost signal: ping-pong where the signal races the wait ------------ */

/* Two parties take turns: each waits (in a predicate loop) until the turn
 * is its own, then passes it and signals. The other side's signal very
 * often lands between a waiter's unlock inside cond_wait and its park; a
 * lost signal there hangs the ping-pong, which the watchdog reports. */
#define PP_ROUNDS WEFT_SCALE(30000)

typedef struct pingpong {
  weft_mutex m;
  weft_cond c;
  int turn;      /* m: 0 or 1 */
  long rounds[2]; /* m */
  int signal_outside; /* signal after unlock rather than before */
  atomic_long progress;
} pingpong;

static void pp_play(pingpong *pp, int me) {
  for (int i = 0; i < PP_ROUNDS; i++) {
    weft_mutex_lock(&pp->m);
    while (pp->turn != me)
      weft_cond_wait(&pp->c, &pp->m);
    pp->rounds[me]++;
    pp->turn = 1 - me;
    if (!pp->signal_outside)
      weft_cond_signal(&pp->c);
    weft_mutex_unlock(&pp->m);
    if (pp->signal_outside)
      weft_cond_signal(&pp->c);
    atomic_fetch_add_explicit(&pp->progress, 1, memory_order_relaxed);
  }
}

static void pp_g0(void *arg) {
  pp_play(arg, 0);
  weft_wg_done(&g_joined);
}
static void pp_g1(void *arg) {
  pp_play(arg, 1);
  weft_wg_done(&g_joined);
}
static void *pp_t1(void *arg) {
  pp_play(arg, 1);
  return NULL;
}

/* Waits for both players with a watchdog: fails if no progress in 5 s. */
static int pp_watch(pingpong *pp) {
  long last = -1;
  int64_t last_change = weft_test_clock();
  while (atomic_load(&pp->progress) < 2L * PP_ROUNDS) {
    long now = atomic_load(&pp->progress);
    if (now != last) {
      last = now;
      last_change = weft_test_clock();
    } else if (weft_test_clock() - last_change > 5 * SLOW * WEFT_SEC) {
      return 0;
    }
    weft_test_os_sleep_ms(2);
  }
  return 1;
}

START_TEST(test_cond_no_lost_signal) {
  weft_procs(4);
  for (int variant = 0; variant < 4; variant++) {
    pingpong *pp = calloc(1, sizeof *pp);
    ck_assert_ptr_nonnull(pp);
    pp->signal_outside = variant & 1;
    int with_thread = variant & 2;
    pthread_t th;
    weft_wg_add(&g_joined, with_thread ? 1 : 2);
    ck_assert_int_eq(weft_go(pp_g0, pp), 0);
    if (with_thread)
      ck_assert_int_eq(pthread_create(&th, NULL, pp_t1, pp), 0);
    else
      ck_assert_int_eq(weft_go(pp_g1, pp), 0);
    ck_assert_msg(pp_watch(pp),
                  "ping-pong stuck at %ld of %ld steps (signal %s the lock, "
                  "%s): a lost signal",
                  atomic_load(&pp->progress), 2L * PP_ROUNDS,
                  pp->signal_outside ? "outside" : "under",
                  with_thread ? "goroutine vs thread"
                              : "goroutine vs goroutine");
    if (with_thread)
      pthread_join(th, NULL);
    weft_wg_wait(&g_joined);
    ck_assert_int_eq(pp->rounds[0], PP_ROUNDS);
    ck_assert_int_eq(pp->rounds[1], PP_ROUNDS);
    free(pp);
  }
}
END_TEST

/* ---- a producer/consumer queue on two conds -------------------------------- */

#define Q_CAP 4
#define Q_PRODUCERS 4
#define Q_CONSUMERS 4
#define Q_PER WEFT_SCALE(20000)
static weft_mutex g_qm = WEFT_MUTEX_INIT;
static weft_cond g_not_full = WEFT_COND_INIT, g_not_empty = WEFT_COND_INIT;
static long g_q[Q_CAP]; /* g_qm */
static int g_q_head, g_q_len; /* g_qm */
static atomic_llong g_q_sum;
static atomic_long g_q_got;

static void q_producer(void *arg) {
  long base = (long)(intptr_t)arg * Q_PER;
  for (long i = 1; i <= Q_PER; i++) {
    weft_mutex_lock(&g_qm);
    while (g_q_len == Q_CAP)
      weft_cond_wait(&g_not_full, &g_qm);
    g_q[(g_q_head + g_q_len++) % Q_CAP] = base + i;
    weft_cond_signal(&g_not_empty);
    weft_mutex_unlock(&g_qm);
  }
  weft_wg_done(&g_joined);
}

static void q_consume(void) {
  for (long i = 0; i < Q_PER; i++) {
    weft_mutex_lock(&g_qm);
    while (g_q_len == 0)
      weft_cond_wait(&g_not_empty, &g_qm);
    long v = g_q[g_q_head];
    g_q_head = (g_q_head + 1) % Q_CAP;
    g_q_len--;
    weft_cond_signal(&g_not_full);
    weft_mutex_unlock(&g_qm);
    atomic_fetch_add(&g_q_sum, v);
    atomic_fetch_add(&g_q_got, 1);
  }
}

static void q_consumer_g(void *arg) {
  (void)arg;
  q_consume();
  weft_wg_done(&g_joined);
}

static void *q_consumer_t(void *arg) {
  (void)arg;
  q_consume();
  return NULL;
}

START_TEST(test_cond_queue) {
  weft_procs(4);
  weft_wg_add(&g_joined, Q_PRODUCERS + Q_CONSUMERS - 1);
  for (int i = 0; i < Q_PRODUCERS; i++)
    ck_assert_int_eq(weft_go(q_producer, (void *)(intptr_t)i), 0);
  for (int i = 0; i < Q_CONSUMERS - 1; i++)
    ck_assert_int_eq(weft_go(q_consumer_g, NULL), 0);
  pthread_t th; /* one consumer is a plain thread */
  ck_assert_int_eq(pthread_create(&th, NULL, q_consumer_t, NULL), 0);
  pthread_join(th, NULL);
  weft_wg_wait(&g_joined);
  long long n = (long long)Q_PRODUCERS * Q_PER;
  /* sum over producers p of sum_{i=1..Q_PER} (p*Q_PER + i) */
  long long want = (long long)Q_PER * Q_PER * (Q_PRODUCERS * (Q_PRODUCERS - 1) / 2) +
                   (long long)Q_PRODUCERS * Q_PER * (Q_PER + 1) / 2;
  ck_assert_int_eq(atomic_load(&g_q_got), n);
  ck_assert_int_eq(atomic_load(&g_q_sum), want);
  ck_assert_int_eq(g_q_len, 0);
}
END_TEST

/* ============================== Semaphore ================================= */

/* ---- the count limits concurrency --------------------------------------------- */

#define SL_UNITS 3
#define SL_GOROUTINES 12
#define SL_THREADS 2
#define SL_ITERS WEFT_SCALE(200)
static weft_sema g_sl = WEFT_SEMA_INIT(SL_UNITS);
static atomic_int g_sl_in, g_sl_max;
static atomic_long g_sl_total;

static void sl_loop(void) {
  for (int i = 0; i < SL_ITERS; i++) {
    int rc = weft_sema_acquire(&g_sl);
    WEFT_EXPECT(rc == 0, "acquire returned %d", rc);
    int n = atomic_fetch_add(&g_sl_in, 1) + 1;
    record_max(&g_sl_max, n);
    WEFT_EXPECT(n <= SL_UNITS, "%d holders of a %d-unit semaphore", n,
                SL_UNITS);
    if (i % 4 == 0)
      weft_sleep(100 * WEFT_US);
    else
      weft_yield();
    atomic_fetch_sub(&g_sl_in, 1);
    atomic_fetch_add(&g_sl_total, 1);
    weft_sema_release(&g_sl);
  }
}

START_TEST(test_sema_limit) {
  weft_procs(4);
  weft_test_mixed m = {0};
  weft_test_mixed_start(&m, sl_loop, SL_GOROUTINES, SL_THREADS);
  weft_test_mixed_join(&m);
  WEFT_ASSERT_NO_FAILURES();
  ck_assert_int_eq(atomic_load(&g_sl_total),
                   (long)(SL_GOROUTINES + SL_THREADS) * SL_ITERS);
  ck_assert_int_le(atomic_load(&g_sl_max), SL_UNITS);
  ck_assert_int_eq(atomic_load(&g_sl_max), SL_UNITS); /* and it was used */
  /* All units are back, and no more. */
  for (int i = 0; i < SL_UNITS; i++)
    ck_assert_int_eq(weft_sema_tryacquire(&g_sl), 1);
  ck_assert_int_eq(weft_sema_tryacquire(&g_sl), 0);
}
END_TEST

/* ---- try and past deadlines ------------------------------------------------------ */

static void noop(void *arg) { weft_wg_done(arg); }

START_TEST(test_sema_try_and_past_deadline) {
  /* Start the runtime first: its start-up is not what is timed below. */
  weft_waitgroup wg = WEFT_WAITGROUP_INIT;
  weft_wg_add(&wg, 1);
  ck_assert_int_eq(weft_go(noop, &wg), 0);
  weft_wg_wait(&wg);
  weft_sema s = WEFT_SEMA_INIT(2);
  ck_assert_int_eq(weft_sema_tryacquire(&s), 1);
  ck_assert_int_eq(weft_sema_tryacquire(&s), 1);
  ck_assert_int_eq(weft_sema_tryacquire(&s), 0);
  /* A past deadline tries once, at once. */
  int64_t t0 = weft_now();
  ck_assert_int_eq(weft_sema_acquire_dl(&s, weft_now() - 1), -ETIMEDOUT);
  ck_assert_int_eq(weft_sema_acquire_dl(&s, 0), -ETIMEDOUT);
  ck_assert_int_lt(weft_now() - t0, 100 * WEFT_MS * SLOW);
  weft_sema_release(&s);
  ck_assert_int_eq(weft_sema_acquire_dl(&s, 0), 0); /* a free unit: taken */
  ck_assert_int_eq(weft_sema_tryacquire(&s), 0);
  weft_sema_release(&s);
  weft_sema_release(&s);
  ck_assert_int_eq(weft_sema_acquire_dl(&s, weft_now() - WEFT_SEC), 0);
  ck_assert_int_eq(weft_sema_acquire(&s), 0);
  ck_assert_int_eq(weft_sema_tryacquire(&s), 0);
  /* A zeroed semaphore has no units. */
  weft_sema z = WEFT_SEMA_INIT(0);
  ck_assert_int_eq(weft_sema_tryacquire(&z), 0);
  weft_sema_release(&z);
  ck_assert_int_eq(weft_sema_tryacquire(&z), 1);
}
END_TEST

/* ---- a deadline in the future times out, not earlier ------------------------ */

static weft_sema g_dl = WEFT_SEMA_INIT(0);

static void dl_check(const char *who) {
  for (int k = 0; k < 3; k++) {
    int64_t d = weft_now() + (20 + 10 * k) * WEFT_MS;
    int rc = weft_sema_acquire_dl(&g_dl, d);
    int64_t end = weft_now();
    WEFT_EXPECT(rc == -ETIMEDOUT, "%s: acquire_dl returned %d", who, rc);
    WEFT_EXPECT(end >= d, "%s: timed out %lld us early", who,
                (long long)(d - end) / 1000);
    WEFT_EXPECT(end - d < SLOW * WEFT_SEC, "%s: timed out %lld ms late", who,
                (long long)(end - d) / WEFT_MS);
  }
}

static void dl_g(void *arg) {
  (void)arg;
  dl_check("goroutine");
  weft_wg_done(&g_joined);
}

static void *dl_t(void *arg) {
  (void)arg;
  dl_check("thread");
  return NULL;
}

START_TEST(test_sema_deadline) {
  weft_procs(2);
  weft_wg_add(&g_joined, 4);
  for (int i = 0; i < 4; i++)
    ck_assert_int_eq(weft_go(dl_g, NULL), 0);
  pthread_t th;
  ck_assert_int_eq(pthread_create(&th, NULL, dl_t, NULL), 0);
  dl_check("main");
  pthread_join(th, NULL);
  weft_wg_wait(&g_joined);
  WEFT_ASSERT_NO_FAILURES();
  /* The timed-out waiters left no trace: a release leaves a unit. */
  weft_sema_release(&g_dl);
  ck_assert_int_eq(weft_sema_tryacquire(&g_dl), 1);
  ck_assert_int_eq(weft_sema_tryacquire(&g_dl), 0);
}
END_TEST

/* ---- release wakes a waiter (goroutine <-> thread) ------------------------- */

static weft_sema g_rw = WEFT_SEMA_INIT(0);
static atomic_int g_rw_got;

static void rw_acquirer(void *arg) {
  (void)arg;
  int rc = weft_sema_acquire(&g_rw);
  WEFT_EXPECT(rc == 0, "acquire returned %d", rc);
  atomic_fetch_add(&g_rw_got, 1);
  weft_wg_done(&g_joined);
}

static void *rw_thread_acquirer(void *arg) {
  (void)arg;
  int rc = weft_sema_acquire_dl(&g_rw, weft_now() + 60 * WEFT_SEC);
  WEFT_EXPECT(rc == 0, "acquire_dl returned %d", rc);
  atomic_fetch_add(&g_rw_got, 1);
  return NULL;
}

static void rw_releaser(void *arg) {
  (void)arg;
  weft_sema_release(&g_rw);
  weft_wg_done(&g_joined);
}

START_TEST(test_sema_release_wakes) {
  weft_procs(2);
  /* Goroutine waiters, released by the main thread one at a time. */
  weft_wg_add(&g_joined, 3);
  for (int i = 0; i < 3; i++)
    ck_assert_int_eq(weft_go(rw_acquirer, NULL), 0);
  weft_test_os_sleep_ms(30);
  ck_assert_int_eq(atomic_load(&g_rw_got), 0);
  for (int i = 1; i <= 3; i++) {
    weft_sema_release(&g_rw);
    ck_assert(WEFT_POLL_UNTIL(atomic_load(&g_rw_got) >= i, 10000));
    weft_test_os_sleep_ms(5);
    ck_assert_int_eq(atomic_load(&g_rw_got), i); /* one unit, one waiter */
  }
  weft_wg_wait(&g_joined);
  /* Thread waiters (one with a far deadline), released by goroutines. */
  pthread_t th[2];
  ck_assert_int_eq(pthread_create(&th[0], NULL, rw_thread_acquirer, NULL), 0);
  ck_assert_int_eq(pthread_create(&th[1], NULL, rw_thread_acquirer, NULL), 0);
  weft_test_os_sleep_ms(30);
  ck_assert_int_eq(atomic_load(&g_rw_got), 3);
  weft_wg_add(&g_joined, 2);
  ck_assert_int_eq(weft_go(rw_releaser, NULL), 0);
  ck_assert_int_eq(weft_go(rw_releaser, NULL), 0);
  pthread_join(th[0], NULL);
  pthread_join(th[1], NULL);
  weft_wg_wait(&g_joined);
  WEFT_ASSERT_NO_FAILURES();
  ck_assert_int_eq(atomic_load(&g_rw_got), 5);
  ck_assert_int_eq(weft_sema_tryacquire(&g_rw), 0);
}
END_TEST

/* ---- timed-out waiters mixed with releases: units are conserved ------------ */

#define MX_WORKERS 16
#define MX_ITERS WEFT_SCALE(500)
static weft_sema g_mx = WEFT_SEMA_INIT(2);
static atomic_int g_mx_in, g_mx_max;
static atomic_long g_mx_ok, g_mx_timeouts;

static void mx_worker(void *arg) {
  (void)arg;
  for (int i = 0; i < MX_ITERS; i++) {
    /* Short deadlines: many waiters time out while others release. */
    int rc = weft_sema_acquire_dl(&g_mx, weft_now() + (i % 5) * 50 * WEFT_US);
    if (rc == -ETIMEDOUT) {
      atomic_fetch_add(&g_mx_timeouts, 1);
      continue;
    }
    WEFT_EXPECT(rc == 0, "acquire_dl returned %d", rc);
    int n = atomic_fetch_add(&g_mx_in, 1) + 1;
    record_max(&g_mx_max, n);
    weft_yield();
    atomic_fetch_sub(&g_mx_in, 1);
    atomic_fetch_add(&g_mx_ok, 1);
    weft_sema_release(&g_mx);
  }
  weft_wg_done(&g_joined);
}

START_TEST(test_sema_timeouts_conserve_units) {
  weft_procs(4);
  weft_wg_add(&g_joined, MX_WORKERS);
  for (int i = 0; i < MX_WORKERS; i++)
    ck_assert_int_eq(weft_go(mx_worker, NULL), 0);
  weft_wg_wait(&g_joined);
  WEFT_ASSERT_NO_FAILURES();
  ck_assert_int_eq(atomic_load(&g_mx_ok) + atomic_load(&g_mx_timeouts),
                   (long)MX_WORKERS * MX_ITERS);
  ck_assert_int_gt(atomic_load(&g_mx_ok), 0);
  ck_assert_int_le(atomic_load(&g_mx_max), 2);
  /* Exactly the two units are left. */
  ck_assert_int_eq(weft_sema_tryacquire(&g_mx), 1);
  ck_assert_int_eq(weft_sema_tryacquire(&g_mx), 1);
  ck_assert_int_eq(weft_sema_tryacquire(&g_mx), 0);
}
END_TEST

/* ---- a deadline that passes while a unit turns up --------------------------- */

/* acquire_dl either takes a unit (0) or does not (-ETIMEDOUT): a unit
 * released right as the deadline passes must end up in exactly one place.
 * The main thread acquires with a past or very near deadline while a plain
 * thread releases one unit at nearly the same moment; afterwards the unit
 * is either taken (rc 0, none left) or still there (rc -ETIMEDOUT). */
#ifdef WEFT_TEST_TSAN
#define DR_ROUNDS 1500 /* TSan is slow at this ping-pong; it still shows */
#else
#define DR_ROUNDS WEFT_SCALE(60000)
#endif
static weft_sema g_dr;
static atomic_int g_dr_phase;

static void *dr_releaser(void *arg) {
  (void)arg;
  for (int i = 1;; i++) {
    int ph;
    /* Spin hot: the release must follow the phase change at once. */
    while ((ph = atomic_load(&g_dr_phase)) != 2 * i - 1)
      if (ph < 0)
        return NULL;
    for (volatile int k = 0; k < (i * 7) % 160; k++)
      ;
    weft_sema_release(&g_dr);
    atomic_store(&g_dr_phase, 2 * i);
  }
}

START_TEST(test_sema_deadline_race_conserves_unit) {
  pthread_t th;
  ck_assert_int_eq(pthread_create(&th, NULL, dr_releaser, NULL), 0);
  int lost = 0, gained = 0, first_bad = -1, first_rc = 0;
  for (int i = 1; i <= DR_ROUNDS; i++) {
    weft_sema z = WEFT_SEMA_INIT(0);
    g_dr = z;
    atomic_store(&g_dr_phase, 2 * i - 1);
    int rc = weft_sema_acquire_dl(&g_dr, i % 2 ? 0 : weft_now() + 2 * WEFT_US);
    while (atomic_load(&g_dr_phase) != 2 * i)
      sched_yield();
    int left = weft_sema_tryacquire(&g_dr);
    int bad = (rc == -ETIMEDOUT && !left) || (rc == 0 && left) ||
              (rc != 0 && rc != -ETIMEDOUT);
    if (bad && first_bad < 0) {
      first_bad = i;
      first_rc = rc;
    }
    lost += rc == -ETIMEDOUT && !left;
    gained += rc == 0 && left;
  }
  atomic_store(&g_dr_phase, -1);
  pthread_join(th, NULL);
  ck_assert_msg(first_bad < 0,
                "%d of %d rounds lost the unit (acquire_dl said -ETIMEDOUT but "
                "took it), %d duplicated it; first bad round %d returned %d",
                lost, DR_ROUNDS, gained, first_bad, first_rc);
}
END_TEST

WEFT_TEST_MAIN("once_cond_sema", test_once_race, test_once_rounds,
               test_once_nested, test_cond_broadcast, test_cond_signal_one,
               test_cond_no_lost_signal, test_cond_queue, test_sema_limit,
               test_sema_try_and_past_deadline, test_sema_deadline,
               test_sema_release_wakes, test_sema_timeouts_conserve_units,
               test_sema_deadline_race_conserves_unit)
