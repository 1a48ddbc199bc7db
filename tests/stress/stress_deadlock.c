/* stress_deadlock.c -- the deadlock detector never fires while someone could
 * still wake somebody, under heavy traffic between plain threads and
 * goroutines. A false report aborts the test process, which Check reports
 * as an error ("Received signal 6").
 *
 * The nastiest pattern is the near-deadlock: every goroutine parked, every
 * other thread blocked in weft, and one plain thread briefly outside weft
 * (in nanosleep) before it releases them all. The detector sees all the Ps
 * idle and every counted thread blocked then, over and over; only the
 * thread count stops it. The same with a goroutine asleep on a timer. */
#include <stdbool.h>

#include "weft_test.h"

#define NTHREADS 3
#define NGOROUTINES 6

static weft_waitgroup all_done;
static weft_mutex mu = WEFT_MUTEX_INIT;
static long shared_count; /* mu */

/* ---- ping-pong: thread <-> thread, thread <-> goroutine, g <-> g -------- */

typedef struct pair {
  weft_chan *ping, *pong;
  int rounds;
} pair;

static void pinger(void *arg) {
  pair *p = arg;
  for (int i = 0; i < p->rounds; i++) {
    WEFT_EXPECT(weft_send(p->ping, &i) == 0, "send %d", i);
    int v = -1;
    WEFT_EXPECT(weft_recv(p->pong, &v) == 1 && v == i, "pong %d: %d", i, v);
    if (i % 64 == 0) {
      weft_mutex_lock(&mu);
      shared_count++;
      weft_mutex_unlock(&mu);
    }
  }
  weft_wg_done(&all_done);
}

static void ponger(void *arg) {
  pair *p = arg;
  for (int i = 0; i < p->rounds; i++) {
    int v = -1;
    WEFT_EXPECT(weft_recv(p->ping, &v) == 1 && v == i, "ping %d: %d", i, v);
    /* Half the answers go through a select with a second, idle case. */
    if (i & 1) {
      weft_case cs[2] = {WEFT_SEND(p->pong, &v), WEFT_RECV(NULL, NULL)};
      WEFT_EXPECT(weft_select(cs, 2) == 0, "select %d", i);
    } else {
      WEFT_EXPECT(weft_send(p->pong, &v) == 0, "send %d", i);
    }
  }
  weft_wg_done(&all_done);
}

static pair *pair_new(int rounds) {
  pair *p = malloc(sizeof *p);
  ck_assert_ptr_nonnull(p);
  p->ping = weft_chan_make(sizeof(int), 0);
  p->pong = weft_chan_make(sizeof(int), 0);
  p->rounds = rounds;
  return p;
}

static void pair_free(pair *p) {
  weft_chan_unref(p->ping);
  weft_chan_unref(p->pong);
  free(p);
}

/* fn(arg) on a plain thread (true) or a goroutine (false). */
static pthread_t start(bool thread, void (*fn)(void *), void *arg) {
  if (thread)
    return spawn_thread(fn, arg);
  go_or_die(fn, arg);
  return 0;
}

static void pingpong(int procs) {
  weft_config cfg = {.procs = procs, .deadlock_check = 1};
  ck_assert_int_eq(weft_init(&cfg), 0);
  int rounds = WEFT_SCALE(20000);
  /* (thread, thread), (thread, g), (g, thread), (g, g) */
  pair *ps[4];
  pthread_t ts[8];
  int nt = 0;
  for (int k = 0; k < 4; k++) {
    ps[k] = pair_new(rounds);
    weft_wg_add(&all_done, 2);
    pthread_t a = start(!(k & 2), pinger, ps[k]);
    pthread_t b = start(!(k & 1), ponger, ps[k]);
    if (!(k & 2))
      ts[nt++] = a;
    if (!(k & 1))
      ts[nt++] = b;
  }
  weft_wg_wait(&all_done); /* main is counted as blocked meanwhile */
  for (int i = 0; i < nt; i++)
    pthread_join(ts[i], NULL);
  for (int k = 0; k < 4; k++)
    pair_free(ps[k]);
  WEFT_ASSERT_NO_FAILURES();
  ck_assert_int_eq(shared_count, 4 * ((rounds + 63) / 64));
}

START_TEST(test_pingpong_1p) { pingpong(1); }
END_TEST

START_TEST(test_pingpong_4p) { pingpong(4); }
END_TEST

/* ---- near-deadlocks ------------------------------------------------------
 * Round r: every worker (threads and goroutines) reports at arrived[r] and
 * parks on gates[r]; main waits for them, starts the closer and parks on
 * the gate too. The closer is a plain thread asleep outside weft, or (the
 * timer variant) a goroutine asleep on a timer: for those 2 ms the closer
 * is the only one who can wake anybody. */

#define MAX_ROUNDS 300

static weft_chan *gates[MAX_ROUNDS];
static weft_waitgroup arrived[MAX_ROUNDS];
static int gate_rounds;

static void gate_worker(void *arg) {
  (void)arg;
  for (int r = 0; r < gate_rounds; r++) {
    weft_wg_done(&arrived[r]);
    WEFT_EXPECT(weft_recv(gates[r], NULL) == 0, "gate %d not closed", r);
  }
  weft_wg_done(&all_done);
}

static void sleepy_close(void *arg) {
  weft_chan *g = arg;
  if (weft_goid() != 0)
    weft_sleep(2 * WEFT_MS); /* a goroutine on a timer */
  else
    weft_test_os_sleep_ms(2); /* a plain thread outside weft */
  weft_close(g);
}

static void near_deadlocks(int procs, bool timer) {
  weft_config cfg = {.procs = procs, .deadlock_check = 1};
  ck_assert_int_eq(weft_init(&cfg), 0);
  gate_rounds = WEFT_SCALE(MAX_ROUNDS);
  int parties = NTHREADS + NGOROUTINES;
  for (int r = 0; r < gate_rounds; r++) {
    gates[r] = weft_chan_make(0, 0);
    ck_assert_ptr_nonnull(gates[r]);
    weft_wg_add(&arrived[r], parties);
  }
  weft_wg_add(&all_done, parties);
  pthread_t ts[NTHREADS];
  for (int i = 0; i < NTHREADS; i++)
    ts[i] = spawn_thread(gate_worker, NULL);
  for (int i = 0; i < NGOROUTINES; i++)
    go_or_die(gate_worker, NULL);
  for (int r = 0; r < gate_rounds; r++) {
    weft_wg_wait(&arrived[r]); /* everyone parked, or about to be */
    pthread_t closer = 0;
    if (timer)
      go_or_die(sleepy_close, gates[r]);
    else
      closer = spawn_thread(sleepy_close, gates[r]);
    ck_assert_int_eq(weft_recv(gates[r], NULL), 0); /* main parks too */
    if (!timer)
      pthread_join(closer, NULL);
  }
  weft_wg_wait(&all_done);
  for (int i = 0; i < NTHREADS; i++)
    pthread_join(ts[i], NULL);
  for (int r = 0; r < gate_rounds; r++)
    weft_chan_unref(gates[r]);
  WEFT_ASSERT_NO_FAILURES();
}

START_TEST(test_near_deadlock_thread_1p) { near_deadlocks(1, false); }
END_TEST

START_TEST(test_near_deadlock_thread_3p) { near_deadlocks(3, false); }
END_TEST

START_TEST(test_near_deadlock_timer_1p) { near_deadlocks(1, true); }
END_TEST

START_TEST(test_near_deadlock_timer_3p) { near_deadlocks(3, true); }
END_TEST

WEFT_TEST_MAIN("stress_deadlock", test_pingpong_1p, test_pingpong_4p,
               test_near_deadlock_thread_1p, test_near_deadlock_thread_3p,
               test_near_deadlock_timer_1p, test_near_deadlock_timer_3p)
