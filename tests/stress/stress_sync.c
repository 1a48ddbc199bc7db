/* stress_sync.c -- many goroutines and some plain threads, on several Ps,
 * mixing every sync primitive for many iterations, with exact invariants:
 * - transfers between accounts under per-account mutexes (locked in index
 *   order), inside a read lock, inside a semaphore of SLOTS units (acquired
 *   with and without deadlines): money is conserved;
 * - audits under the write lock (sometimes via trylock) see the exact total
 *   and no transfer in flight;
 * - a bounded queue on a mutex and two conds carries items from the workers
 *   to consumers: every item arrives exactly once (count and sum);
 * - a cyclic barrier on a cond broadcast syncs all workers every PHASE
 *   iterations: everyone arrives, nobody passes early;
 * - a Once initialises a table on first use, exactly once.
 * A watchdog fails the test if all progress stops (a lost wake-up). */
#include <pthread.h>

#include "weft_test.h"

#ifdef WEFT_TEST_SANITIZED
#define SLOW 3
#else
#define SLOW 1
#endif

#define G_WORKERS 40
#define T_WORKERS 3
#define WORKERS (G_WORKERS + T_WORKERS)
#define ITERS WEFT_SCALE(20000)
#define PHASE 500
#define ACCOUNTS 16
#define START_BALANCE 1000L
#define SLOTS 5
#define Q_CAP 8
#define G_CONSUMERS 3

typedef struct account {
  weft_mutex m;
  long balance; /* m */
} account;

static account g_acc[ACCOUNTS];
static weft_rwmutex g_audit = WEFT_RWMUTEX_INIT;
static weft_sema g_slots = WEFT_SEMA_INIT(SLOTS);
static atomic_int g_in_flight, g_slots_in, g_slots_max;
static atomic_long g_transfers, g_slot_timeouts, g_audits;
static atomic_long g_progress;

static weft_once g_table_once = WEFT_ONCE_INIT;
static atomic_int g_table_inits;
static long g_table[ACCOUNTS]; /* written once, read after weft_once_do */

/* The queue. */
static weft_mutex g_qm = WEFT_MUTEX_INIT;
static weft_cond g_not_full = WEFT_COND_INIT, g_not_empty = WEFT_COND_INIT;
static long g_q[Q_CAP];           /* g_qm */
static int g_q_head, g_q_len;     /* g_qm */
static int g_q_closed;            /* g_qm */
static atomic_llong g_pushed_sum, g_popped_sum;
static atomic_long g_pushed, g_popped;

/* The barrier. */
static weft_mutex g_bm = WEFT_MUTEX_INIT;
static weft_cond g_bc = WEFT_COND_INIT;
static int g_b_count;   /* g_bm */
static long g_b_gen;    /* g_bm */
static atomic_int g_b_arrived[ITERS / PHASE + 1];

static weft_waitgroup g_workers_wg = WEFT_WAITGROUP_INIT;
static weft_waitgroup g_consumers_wg = WEFT_WAITGROUP_INIT;

static void record_max(atomic_int *max, int v) {
  int m = atomic_load(max);
  while (v > m && !atomic_compare_exchange_weak(max, &m, v))
    ;
}

static void table_init(void *arg) {
  (void)arg;
  atomic_fetch_add(&g_table_inits, 1);
  weft_yield();
  for (int i = 0; i < ACCOUNTS; i++)
    g_table[i] = i * 3 + 1;
}

static void transfer(uint64_t r, int i) {
  int a = (int)(r % ACCOUNTS);
  int b = (int)((r >> 8) % (ACCOUNTS - 1));
  if (b >= a)
    b++;
  weft_once_do(&g_table_once, table_init, NULL);
  long amount = g_table[(a + b) % ACCOUNTS];
  WEFT_EXPECT(amount == ((a + b) % ACCOUNTS) * 3 + 1, "table not initialised");
  /* A slot; every 4th try with a short deadline, which may time out. */
  if (i % 4 == 0) {
    int rc = weft_sema_acquire_dl(&g_slots, weft_now() + 50 * WEFT_US);
    if (rc == -ETIMEDOUT) {
      atomic_fetch_add(&g_slot_timeouts, 1);
      return;
    }
    WEFT_EXPECT(rc == 0, "acquire_dl returned %d", rc);
  } else if (i % 4 == 1 && weft_sema_tryacquire(&g_slots)) {
    /* got it without waiting */
  } else {
    weft_sema_acquire(&g_slots);
  }
  int s = atomic_fetch_add(&g_slots_in, 1) + 1;
  record_max(&g_slots_max, s);
  weft_rwmutex_rlock(&g_audit);
  atomic_fetch_add(&g_in_flight, 1);
  account *lo = &g_acc[a < b ? a : b], *hi = &g_acc[a < b ? b : a];
  weft_mutex_lock(&lo->m);
  weft_mutex_lock(&hi->m);
  g_acc[a].balance -= amount;
  if (i % 16 == 0)
    weft_yield(); /* money is in the air: audits must not see this */
  g_acc[b].balance += amount;
  weft_mutex_unlock(&hi->m);
  weft_mutex_unlock(&lo->m);
  atomic_fetch_sub(&g_in_flight, 1);
  weft_rwmutex_runlock(&g_audit);
  atomic_fetch_sub(&g_slots_in, 1);
  weft_sema_release(&g_slots);
  atomic_fetch_add(&g_transfers, 1);
}

static void audit(int i) {
  if (i % 2 == 0 || !weft_rwmutex_trylock(&g_audit))
    weft_rwmutex_lock(&g_audit);
  int f = atomic_load(&g_in_flight);
  WEFT_EXPECT(f == 0, "audit with %d transfers in flight", f);
  long sum = 0;
  for (int k = 0; k < ACCOUNTS; k++)
    sum += g_acc[k].balance; /* no account lock: the write lock suffices */
  WEFT_EXPECT(sum == ACCOUNTS * START_BALANCE, "audit found %ld, not %ld",
              sum, ACCOUNTS * START_BALANCE);
  weft_rwmutex_unlock(&g_audit);
  atomic_fetch_add(&g_audits, 1);
}

static void push(long v) {
  weft_mutex_lock(&g_qm);
  while (g_q_len == Q_CAP)
    weft_cond_wait(&g_not_full, &g_qm);
  g_q[(g_q_head + g_q_len++) % Q_CAP] = v;
  weft_cond_signal(&g_not_empty);
  weft_mutex_unlock(&g_qm);
  atomic_fetch_add(&g_pushed, 1);
  atomic_fetch_add(&g_pushed_sum, v);
}

static void barrier(int phase) {
  atomic_fetch_add(&g_b_arrived[phase], 1);
  weft_mutex_lock(&g_bm);
  long gen = g_b_gen;
  if (++g_b_count == WORKERS) {
    g_b_count = 0;
    g_b_gen++;
    weft_cond_broadcast(&g_bc);
  } else {
    while (gen == g_b_gen)
      weft_cond_wait(&g_bc, &g_bm);
  }
  weft_mutex_unlock(&g_bm);
  int n = atomic_load(&g_b_arrived[phase]);
  WEFT_EXPECT(n == WORKERS, "passed barrier %d with %d of %d arrived", phase,
              n, WORKERS);
}

static void work(int id) {
  uint64_t r = 0x9E3779B97F4A7C15ull * (uint64_t)(id + 1);
  for (int i = 0; i < ITERS; i++) {
    r ^= r << 13;
    r ^= r >> 7;
    r ^= r << 17;
    if (i % 64 == 63)
      audit(i);
    else
      transfer(r, i);
    if (i % 8 == 0)
      push((long)id * ITERS + i + 1);
    if (i % PHASE == PHASE - 1)
      barrier(i / PHASE);
    atomic_fetch_add_explicit(&g_progress, 1, memory_order_relaxed);
  }
}

static void worker_g(void *arg) {
  work((int)(intptr_t)arg);
  weft_wg_done(&g_workers_wg);
}

static void *worker_t(void *arg) {
  work((int)(intptr_t)arg);
  return NULL;
}

static void consume(void) {
  for (;;) {
    weft_mutex_lock(&g_qm);
    while (g_q_len == 0 && !g_q_closed)
      weft_cond_wait(&g_not_empty, &g_qm);
    if (g_q_len == 0) { /* closed and drained */
      weft_mutex_unlock(&g_qm);
      return;
    }
    long v = g_q[g_q_head];
    g_q_head = (g_q_head + 1) % Q_CAP;
    g_q_len--;
    weft_cond_signal(&g_not_full);
    weft_mutex_unlock(&g_qm);
    atomic_fetch_add(&g_popped, 1);
    atomic_fetch_add(&g_popped_sum, v);
    atomic_fetch_add_explicit(&g_progress, 1, memory_order_relaxed);
  }
}

static void consumer_g(void *arg) {
  (void)arg;
  consume();
  weft_wg_done(&g_consumers_wg);
}

static void *consumer_t(void *arg) {
  (void)arg;
  consume();
  return NULL;
}

static atomic_int g_workers_left;
static void *join_workers(void *arg) {
  pthread_t *th = arg;
  for (int i = 0; i < T_WORKERS; i++)
    pthread_join(th[i], NULL);
  weft_wg_wait(&g_workers_wg);
  atomic_store(&g_workers_left, 0);
  return NULL;
}

START_TEST(test_stress_sync) {
  weft_procs(4);
  for (int i = 0; i < ACCOUNTS; i++)
    g_acc[i].balance = START_BALANCE;
  weft_wg_add(&g_consumers_wg, G_CONSUMERS);
  for (int i = 0; i < G_CONSUMERS; i++)
    ck_assert_int_eq(weft_go(consumer_g, NULL), 0);
  pthread_t cth;
  ck_assert_int_eq(pthread_create(&cth, NULL, consumer_t, NULL), 0);
  atomic_store(&g_workers_left, 1);
  weft_wg_add(&g_workers_wg, G_WORKERS);
  for (int i = 0; i < G_WORKERS; i++)
    ck_assert_int_eq(weft_go(worker_g, (void *)(intptr_t)i), 0);
  pthread_t th[T_WORKERS];
  for (int i = 0; i < T_WORKERS; i++)
    ck_assert_int_eq(pthread_create(&th[i], NULL, worker_t,
                                    (void *)(intptr_t)(G_WORKERS + i)), 0);
  pthread_t joiner;
  ck_assert_int_eq(pthread_create(&joiner, NULL, join_workers, th), 0);
  /* Watchdog: progress must never stall for long. */
  long last = -1;
  int64_t last_change = weft_test_clock();
  while (atomic_load(&g_workers_left)) {
    long p = atomic_load(&g_progress);
    if (p != last) {
      last = p;
      last_change = weft_test_clock();
    }
    /* count_ is the semaphore's free units (weft.h: WEFT_SEMA_INIT sets
     * it); read here only to tell a lost unit from a lost wake-up. */
    ck_assert_msg(weft_test_clock() - last_change < 20 * SLOW * WEFT_SEC,
                  "no progress for 20 s at %ld steps (%ld transfers, %ld "
                  "slot timeouts, %ld audits, %ld pushed, %ld popped); "
                  "semaphore: %u of %d units free, %d holders",
                  p, atomic_load(&g_transfers), atomic_load(&g_slot_timeouts),
                  atomic_load(&g_audits), atomic_load(&g_pushed),
                  atomic_load(&g_popped),
                  __atomic_load_n(&g_slots.count_, __ATOMIC_RELAXED), SLOTS,
                  atomic_load(&g_slots_in));
    weft_test_os_sleep_ms(10);
  }
  pthread_join(joiner, NULL);
  /* Close the queue; the consumers drain it and return. */
  weft_mutex_lock(&g_qm);
  g_q_closed = 1;
  weft_cond_broadcast(&g_not_empty);
  weft_mutex_unlock(&g_qm);
  pthread_join(cth, NULL);
  weft_wg_wait(&g_consumers_wg);
  WEFT_ASSERT_NO_FAILURES();

  long ops = (long)WORKERS * ITERS;
  long audits = (long)WORKERS * (ITERS / 64);
  ck_assert_int_eq(atomic_load(&g_audits), audits);
  ck_assert_int_eq(atomic_load(&g_transfers) + atomic_load(&g_slot_timeouts),
                   ops - audits);
  long sum = 0;
  for (int i = 0; i < ACCOUNTS; i++)
    sum += g_acc[i].balance;
  ck_assert_int_eq(sum, ACCOUNTS * START_BALANCE);
  ck_assert_int_le(atomic_load(&g_slots_max), SLOTS);
  for (int i = 0; i < SLOTS; i++)
    ck_assert_int_eq(weft_sema_tryacquire(&g_slots), 1);
  ck_assert_int_eq(weft_sema_tryacquire(&g_slots), 0);
  long pushes = (long)WORKERS * ((ITERS + 7) / 8);
  ck_assert_int_eq(atomic_load(&g_pushed), pushes);
  ck_assert_int_eq(atomic_load(&g_popped), pushes);
  long long want = 0;
  for (long id = 0; id < WORKERS; id++)
    for (long i = 0; i < ITERS; i += 8)
      want += id * ITERS + i + 1;
  ck_assert_int_eq(atomic_load(&g_pushed_sum), want);
  ck_assert_int_eq(atomic_load(&g_popped_sum), want);
  ck_assert_int_eq(g_q_len, 0);
  ck_assert_int_eq(g_b_gen, ITERS / PHASE);
  ck_assert_int_eq(g_b_count, 0);
  ck_assert_int_eq(atomic_load(&g_table_inits), 1);
  ck_assert_int_eq(weft_rwmutex_trylock(&g_audit), 1);
  weft_rwmutex_unlock(&g_audit);
  fprintf(stderr, "stress_sync: %ld transfers, %ld slot timeouts, %ld audits, "
          "%ld items, %ld barriers, max %d slots\n",
          atomic_load(&g_transfers), atomic_load(&g_slot_timeouts),
          atomic_load(&g_audits), atomic_load(&g_popped), g_b_gen,
          atomic_load(&g_slots_max));
}
END_TEST

WEFT_TEST_MAIN("stress_sync", test_stress_sync)
