/* stress_chan.c -- channels and select under load, on 4 Ps:
 * - rings of 100 goroutines passing a token around 1000 times over
 *   unbuffered channels, every hop counted, shut down by a close cascade;
 * - generator -> square workers -> merge -> sink pipelines cancelled midway
 *   through a done channel: every stage exits (weft_num_goroutines returns
 *   to its baseline) and every value that arrived is right and unique;
 * - select-heavy fan-in from 8 producers with timeouts on both sides;
 * - chaos: goroutines and plain threads doing random sends, receives and
 *   selects with deadlines on a few channels; what was sent is what was
 *   received plus what is left in the buffers. */
#include <pthread.h>

#include "weft_test.h"



/* Waits up to ms for the goroutine count to come back to base. */
static void assert_goroutines_back_to(int base, int ms, const char *what) {
  ck_assert_msg(WEFT_POLL_UNTIL(weft_num_goroutines() == base, ms),
                "%s: %d goroutines left", what, weft_num_goroutines() - base);
}

static uint64_t xorshift(uint64_t *s) {
  uint64_t x = *s;
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  return *s = x;
}

/* ---- token rings ----------------------------------------------------------------- */

#define RING_N 100
#define RING_ROUNDS WEFT_SCALE(1000)
#define RINGS 4
#define RING_HOPS (RING_N * RING_ROUNDS)

typedef struct ring_node {
  weft_chan *in, *out, *done;
  int index;
  long hops;
} ring_node;

/* The token's value is the number of hops so far, so node i only ever sees
 * values congruent to i modulo RING_N. A closed input ends the node, which
 * closes its output: one close (the test's, of node 0's input) shuts the
 * whole ring down. The last node's output is that same channel, already
 * closed, and a second close would abort. */
static void ring_node_run(void *arg) {
  ring_node *n = arg;
  long v;
  while (weft_recv(n->in, &v) == 1) {
    WEFT_EXPECT(v % RING_N == n->index, "node %d got token %ld", n->index, v);
    n->hops++;
    v++;
    weft_chan *to = v == RING_HOPS ? n->done : n->out;
    int rc = weft_send(to, &v);
    WEFT_EXPECT(rc == 0, "node %d: send returned %d", n->index, rc);
  }
  if (n->index != RING_N - 1)
    weft_close(n->out);
  weft_chan_unref(n->in);
  weft_chan_unref(n->out);
}

START_TEST(test_token_ring) {
  weft_procs(4);
  int base = weft_num_goroutines();
  static ring_node nodes[RINGS][RING_N];
  weft_chan *ch[RINGS][RING_N], *done[RINGS];
  for (int r = 0; r < RINGS; r++) {
    done[r] = weft_chan_make(sizeof(long), 1);
    for (int i = 0; i < RING_N; i++)
      ch[r][i] = weft_chan_make(sizeof(long), 0);
    for (int i = 0; i < RING_N; i++) {
      nodes[r][i] = (ring_node){weft_chan_ref(ch[r][i]),
                                weft_chan_ref(ch[r][(i + 1) % RING_N]),
                                done[r], i, 0};
      go_or_die(ring_node_run, &nodes[r][i]);
    }
  }
  for (int r = 0; r < RINGS; r++)
    ck_assert_int_eq(weft_send(ch[r][0], &(long){0}), 0);
  for (int r = 0; r < RINGS; r++) {
    long v = -1;
    ck_assert_int_eq(weft_recv_dl(done[r], &v, weft_now() + 120 * WEFT_SEC), 1);
    ck_assert_int_eq(v, RING_HOPS);
  }
  for (int r = 0; r < RINGS; r++)
    ck_assert_int_eq(weft_close(ch[r][0]), 0);
  assert_goroutines_back_to(base, 30000, "rings");
  WEFT_ASSERT_NO_FAILURES();
  for (int r = 0; r < RINGS; r++) {
    long total = 0;
    for (int i = 0; i < RING_N; i++) {
      ck_assert_int_eq(nodes[r][i].hops, RING_ROUNDS);
      total += nodes[r][i].hops;
    }
    ck_assert_int_eq(total, RING_HOPS);
    for (int i = 0; i < RING_N; i++)
      weft_chan_unref(ch[r][i]);
    weft_chan_unref(done[r]);
  }
}
END_TEST

/* ---- cancelled pipelines ------------------------------------------------------ */

#define PIPES WEFT_SCALE(300)
#define SQUARERS 4
#define PIPE_RANGE 100000

typedef struct stage {
  weft_chan *in, *out, *done;
} stage;

static stage *stage_new(weft_chan *in, weft_chan *out, weft_chan *done) {
  stage *s = malloc(sizeof *s);
  s->in = in ? weft_chan_ref(in) : NULL;
  s->out = weft_chan_ref(out);
  s->done = weft_chan_ref(done);
  return s;
}

static void stage_free(stage *s) {
  if (s->in)
    weft_chan_unref(s->in);
  weft_chan_unref(s->out);
  weft_chan_unref(s->done);
  free(s);
}

/* Sends v on out unless done is closed first; 0 = cancelled. */
static int send_or_done(stage *s, long *v) {
  weft_case cs[2] = {WEFT_SEND(s->out, v), WEFT_RECV(s->done, NULL)};
  int rc = weft_select(cs, 2);
  WEFT_EXPECT(rc == 0 || (rc == 1 && cs[1].ok == 0),
              "send_or_done: select %d", rc);
  return rc == 0;
}

static void gen(void *arg) {
  stage *s = arg;
  for (long i = 1; i <= PIPE_RANGE; i++)
    if (!send_or_done(s, &i))
      break;
  weft_close(s->out); /* Go: defer close(out) */
  stage_free(s);
}

static void square(void *arg) {
  stage *s = arg;
  for (;;) {
    long v;
    weft_case cs[2] = {WEFT_RECV(s->in, &v), WEFT_RECV(s->done, NULL)};
    int rc = weft_select(cs, 2);
    if (rc != 0 || !cs[0].ok)
      break;
    long sq = v * v;
    if (!send_or_done(s, &sq))
      break;
  }
  /* The merge closes out once every squarer is gone. */
  weft_send(s->out, &(long){-1});
  stage_free(s);
}

/* Fan-in: forwards values from the shared square channel until every
 * squarer has said goodbye (-1), then closes the sink's channel. */
static void merge(void *arg) {
  stage *s = arg;
  int left = SQUARERS;
  while (left > 0) {
    long v;
    if (weft_recv(s->in, &v) != 1)
      break;
    if (v == -1) {
      left--;
      continue;
    }
    if (!send_or_done(s, &v)) {
      /* cancelled: keep draining goodbyes so no squarer blocks */
      while (left > 0 && weft_recv(s->in, &v) == 1)
        if (v == -1)
          left--;
      break;
    }
  }
  weft_close(s->out);
  stage_free(s);
}

static void pipeline_round(uint64_t *seed) {
  weft_chan *done = weft_chan_make(0, 0);
  weft_chan *nums = weft_chan_make(sizeof(long), xorshift(seed) % 3);
  weft_chan *sqs = weft_chan_make(sizeof(long), xorshift(seed) % 3);
  weft_chan *out = weft_chan_make(sizeof(long), xorshift(seed) % 3);
  go_or_die(gen, stage_new(NULL, nums, done));
  for (int i = 0; i < SQUARERS; i++)
    go_or_die(square, stage_new(nums, sqs, done));
  go_or_die(merge, stage_new(sqs, out, done));
  /* Take a random number of results, then cancel. */
  int want = (int)(xorshift(seed) % 200);
  static unsigned char seen[PIPE_RANGE + 1];
  memset(seen, 0, sizeof seen);
  for (int k = 0; k < want; k++) {
    long v = -1;
    REQUIRE(weft_recv(out, &v) == 1);
    long r = 1;
    while (r * r < v)
      r++;
    if (r * r != v || r > PIPE_RANGE)
      ck_abort_msg("pipeline delivered %ld, not a square in range", v);
    if (seen[r]++)
      ck_abort_msg("pipeline delivered %ld twice", v);
  }
  REQUIRE(weft_close(done) == 0);
  /* Whatever was in flight may still arrive, then out is closed. */
  long v;
  while (weft_recv(out, &v) == 1)
    ;
  weft_chan_unref(done);
  weft_chan_unref(nums);
  weft_chan_unref(sqs);
  weft_chan_unref(out);
}

START_TEST(test_pipeline_cancel) {
  weft_procs(4);
  int base = weft_num_goroutines();
  uint64_t seed = 0x9E3779B97F4A7C15ull;
  for (int i = 0; i < PIPES; i++) {
    pipeline_round(&seed);
    if (i % 50 == 49)
      assert_goroutines_back_to(base, 30000, "pipelines");
  }
  assert_goroutines_back_to(base, 30000, "pipelines");
  WEFT_ASSERT_NO_FAILURES();
}
END_TEST

/* ---- select-heavy fan-in with timeouts ------------------------------------------ */

#define PRODUCERS 8
#define FAN_PER WEFT_SCALE(20000)
#define CONSUMERS 2

typedef struct producer {
  weft_chan *c;
  int id;
  atomic_long send_timeouts;
} producer;

static void produce(void *arg) {
  producer *p = arg;
  uint64_t seed = 0x1234567ull * (uint64_t)(p->id + 1);
  for (int i = 0; i < FAN_PER;) {
    int v[2] = {p->id, i};
    if (xorshift(&seed) % 16 == 0) {
      /* A send with a short deadline, 0, 10 or 20 us away (0: past at once,
       * Go's select with a default case, which gives up whenever the
       * consumers are busy): retried until it lands. */
      weft_case cs[1] = {WEFT_SEND(p->c, v)};
      int64_t wait = (int64_t)(xorshift(&seed) % 3) * 10 * WEFT_US;
      int rc = weft_select_dl(cs, 1, weft_now() + wait);
      if (rc == -ETIMEDOUT) {
        atomic_fetch_add(&p->send_timeouts, 1);
        continue;
      }
      WEFT_EXPECT(rc == 0, "producer %d: select %d", p->id, rc);
    } else {
      int rc = weft_send(p->c, v);
      WEFT_EXPECT(rc == 0, "producer %d: send %d", p->id, rc);
    }
    if (xorshift(&seed) % 512 == 0)
      weft_sleep((int64_t)(xorshift(&seed) % 200) * WEFT_US);
    i++;
  }
  weft_close(p->c);
}

static atomic_uchar *g_fan_seen;
static atomic_long g_fan_total, g_fan_timeouts, g_fan_after_fired;
static atomic_long g_fan_progress; /* select calls that returned */
static atomic_int g_fan_finished;
static weft_waitgroup g_fan_wg = WEFT_WAITGROUP_INIT;

static void consume(void *arg) {
  producer *ps = arg;
  int v[2];
  weft_case cs[PRODUCERS + 1];
  for (int i = 0; i < PRODUCERS; i++)
    cs[i] = WEFT_RECV(ps[i].c, v);
  int last[PRODUCERS];
  for (int i = 0; i < PRODUCERS; i++)
    last[i] = -1;
  int open = PRODUCERS;
  uint64_t seed = (uint64_t)(uintptr_t)&seed | 1;
  long n = 0;
  while (open > 0) {
    int rc;
    uint64_t r = xorshift(&seed) % 8;
    weft_chan *after = NULL;
    if (r == 0) { /* a time.After case */
      after = weft_after((int64_t)(xorshift(&seed) % 100) * WEFT_US);
      cs[PRODUCERS] = WEFT_RECV(after, NULL);
      rc = weft_select(cs, PRODUCERS + 1);
    } else if (r == 1) { /* a deadline */
      rc = weft_select_dl(cs, PRODUCERS,
                          weft_now() + (int64_t)(xorshift(&seed) % 50) * WEFT_US);
    } else {
      rc = weft_select(cs, PRODUCERS);
    }
    if (after)
      weft_chan_unref(after);
    atomic_fetch_add_explicit(&g_fan_progress, 1, memory_order_relaxed);
    if (rc == -ETIMEDOUT || rc == PRODUCERS) {
      atomic_fetch_add(rc == PRODUCERS ? &g_fan_after_fired : &g_fan_timeouts,
                       1);
      continue;
    }
    if (rc < 0 || rc > PRODUCERS) {
      WEFT_EXPECT(0, "consumer select returned %d", rc);
      break;
    }
    if (!cs[rc].ok) { /* that producer is done: disable its case */
      cs[rc].chan = NULL;
      open--;
      continue;
    }
    if (v[0] != rc || v[1] < 0 || v[1] >= FAN_PER) {
      WEFT_EXPECT(0, "case %d delivered (%d, %d)", rc, v[0], v[1]);
      continue;
    }
    WEFT_EXPECT(v[1] > last[rc], "producer %d: %d after %d", rc, v[1],
                last[rc]);
    last[rc] = v[1];
    atomic_fetch_add(&g_fan_seen[rc * FAN_PER + v[1]], 1);
    n++;
  }
  atomic_fetch_add(&g_fan_total, n);
  atomic_fetch_add(&g_fan_finished, 1);
  weft_wg_done(&g_fan_wg);
}

static void *consume_thread(void *arg) {
  consume(arg);
  return NULL;
}

START_TEST(test_fan_in_timeouts) {
  weft_procs(4);
  int base = weft_num_goroutines();
  long send_timeouts = 0;
  for (int round = 0; round < 2; round++) {
    /* Round 0: goroutine consumers; round 1: one of them a plain thread. */
    static producer ps[PRODUCERS];
    g_fan_seen = calloc(PRODUCERS * FAN_PER, 1);
    atomic_store(&g_fan_total, 0);
    for (int i = 0; i < PRODUCERS; i++) {
      ps[i].c = weft_chan_make(2 * sizeof(int), (size_t)(i % 3));
      ps[i].id = i;
      atomic_store(&ps[i].send_timeouts, 0);
    }
    weft_wg_add(&g_fan_wg, CONSUMERS);
    pthread_t th;
    go_or_die(consume, ps);
    if (round)
      ck_assert_int_eq(pthread_create(&th, NULL, consume_thread, ps), 0);
    else
      go_or_die(consume, ps);
    for (int i = 0; i < PRODUCERS; i++)
      go_or_die(produce, &ps[i]);
    /* A P that deadlocks never comes back (the consumers arm timers that
     * are often due as they park): watch progress rather than wait. */
    long last = -1;
    int64_t stalled_since = weft_now();
    while (atomic_load(&g_fan_finished) < CONSUMERS * (round + 1)) {
      long now = atomic_load(&g_fan_progress);
      if (now != last) {
        last = now;
        stalled_since = weft_now();
      } else if (weft_now() - stalled_since > 20 * WEFT_SEC) {
        ck_abort_msg("round %d: the consumers made no progress for 20 s "
                     "(%ld selects had returned)",
                     round, now);
      }
      weft_test_os_sleep_ms(5);
    }
    weft_wg_wait(&g_fan_wg);
    if (round)
      pthread_join(th, NULL);
    WEFT_ASSERT_NO_FAILURES();
    ck_assert_int_eq(atomic_load(&g_fan_total), PRODUCERS * FAN_PER);
    for (int i = 0; i < PRODUCERS * FAN_PER; i++)
      if (atomic_load(&g_fan_seen[i]) != 1)
        ck_abort_msg("producer %d value %d received %d times", i / FAN_PER,
                     i % FAN_PER, atomic_load(&g_fan_seen[i]));
    for (int i = 0; i < PRODUCERS; i++) {
      send_timeouts += atomic_load(&ps[i].send_timeouts);
      weft_chan_unref(ps[i].c);
    }
    free(g_fan_seen);
  }
  /* The timeouts really happened, on both sides: the producers' timed
   * sends (retried until they land) and the consumers' deadlines and
   * weft_after cases. */
  long consumer_timeouts =
      atomic_load(&g_fan_timeouts) + atomic_load(&g_fan_after_fired);
  ck_assert_msg(send_timeouts > 0 && consumer_timeouts > 0,
                "timeouts: %ld of the producers' sends, %ld of the "
                "consumers' selects",
                send_timeouts, consumer_timeouts);
  assert_goroutines_back_to(base, 30000, "fan-in");
}
END_TEST

/* ---- chaos: conservation of values ---------------------------------------------- */

#define CHAOS_CHANS 4
#define CHAOS_G 16
#define CHAOS_T 2
#define CHAOS_OPS WEFT_SCALE(20000)

static weft_chan *g_chaos[CHAOS_CHANS];
static atomic_llong g_sent_sum, g_recv_sum;
static atomic_long g_sent_n, g_recv_n;

static void chaos(void *arg) {
  uint64_t seed = (uint64_t)(uintptr_t)arg * 0x9E3779B97F4A7C15ull | 1;
  long long sent = 0, recvd = 0;
  long sn = 0, rn = 0;
  for (int i = 0; i < CHAOS_OPS; i++) {
    uint64_t r = xorshift(&seed);
    weft_chan *c = g_chaos[r % CHAOS_CHANS];
    long long v = (long long)(r >> 20) % 1000000 + 1, w = 0;
    int64_t dl = (r >> 8) % 4 == 0 ? 0 : weft_now() + (int64_t)((r >> 12) % 100) * WEFT_US;
    switch ((r >> 4) % 4) {
    case 0:
      if (weft_send_dl(c, &v, dl) == 0) {
        sent += v;
        sn++;
      }
      break;
    case 1:
      if (weft_recv_dl(c, &w, dl) == 1) {
        recvd += w;
        rn++;
      }
      break;
    default: { /* a select over two channels, both directions */
      weft_chan *d = g_chaos[(r >> 24) % CHAOS_CHANS];
      weft_case cs[3] = {WEFT_SEND(c, &v), WEFT_RECV(d, &w),
                         WEFT_RECV(c, &w)};
      int rc = weft_select_dl(cs, 3, dl);
      if (rc == 0) {
        sent += v;
        sn++;
      } else if (rc == 1 || rc == 2) {
        WEFT_EXPECT(cs[rc].ok, "chaos channel closed?");
        recvd += w;
        rn++;
      } else {
        WEFT_EXPECT(rc == -ETIMEDOUT, "select returned %d", rc);
      }
    }
    }
  }
  atomic_fetch_add(&g_sent_sum, sent);
  atomic_fetch_add(&g_recv_sum, recvd);
  atomic_fetch_add(&g_sent_n, sn);
  atomic_fetch_add(&g_recv_n, rn);
}

static weft_waitgroup g_chaos_wg = WEFT_WAITGROUP_INIT;

static void chaos_goroutine(void *arg) {
  chaos(arg);
  weft_wg_done(&g_chaos_wg);
}

static void *chaos_thread(void *arg) {
  chaos(arg);
  return NULL;
}

START_TEST(test_chaos_conservation) {
  weft_procs(4);
  for (int i = 0; i < CHAOS_CHANS; i++)
    g_chaos[i] = weft_chan_make(sizeof(long long), (size_t)i * 2);
  weft_wg_add(&g_chaos_wg, CHAOS_G);
  for (uintptr_t i = 0; i < CHAOS_G; i++)
    go_or_die(chaos_goroutine, (void *)(i + 1));
  pthread_t th[CHAOS_T];
  for (uintptr_t i = 0; i < CHAOS_T; i++)
    ck_assert_int_eq(
        pthread_create(&th[i], NULL, chaos_thread, (void *)(i + 100)), 0);
  weft_wg_wait(&g_chaos_wg);
  for (int i = 0; i < CHAOS_T; i++)
    pthread_join(th[i], NULL);
  WEFT_ASSERT_NO_FAILURES();
  /* Drain what is left in the buffers. */
  long long left = 0;
  long left_n = 0;
  for (int i = 0; i < CHAOS_CHANS; i++) {
    ck_assert_int_eq(weft_close(g_chaos[i]), 0);
    long long w;
    while (weft_recv(g_chaos[i], &w) == 1) {
      left += w;
      left_n++;
    }
    weft_chan_unref(g_chaos[i]);
  }
  ck_assert_int_eq(atomic_load(&g_sent_n), atomic_load(&g_recv_n) + left_n);
  ck_assert_int_eq(atomic_load(&g_sent_sum), atomic_load(&g_recv_sum) + left);
  ck_assert_int_gt(atomic_load(&g_recv_n), 0);
}
END_TEST

WEFT_TEST_MAIN("stress_chan", test_token_ring, test_pipeline_cancel,
               test_fan_in_timeouts, test_chaos_conservation)
