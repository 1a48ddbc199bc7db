/* test_chan.c -- channels, ported from Go's semantics (test/chan and
 * runtime/chan_test.go): unbuffered handoff, FIFO order, close (draining,
 * waking blocked receivers and senders, errors), the nil channel, deadlines
 * and non-blocking operations (nonblock.go), zero-size and large elements,
 * make limits, reference counting and freeing a channel right after its last
 * operation, no value lost or duplicated with many senders and receivers on
 * goroutines and plain threads, and the concurrent prime sieve. */
#include <pthread.h>

#include "chan/chan.h"
#include "weft_test.h"

/* Check's ck_assert_* report every passing check to the parent through a
 * pipe (a system call each): hot loops use these, silent until they fail. */

/* ---- helpers ---------------------------------------------------------------- */


static weft_waitgroup g_wg = WEFT_WAITGROUP_INIT;

/* ---- Go's TestChan, over many capacities ------------------------------------ */

static atomic_int g_recv_flag[2];
static atomic_int g_send_flag;

static void recv_flag0(void *arg) {
  int v;
  weft_recv(arg, &v);
  atomic_store(&g_recv_flag[0], 1);
  weft_wg_done(&g_wg);
}

static void recv_flag1(void *arg) {
  int v;
  weft_recv(arg, &v);
  atomic_store(&g_recv_flag[1], 1);
  weft_wg_done(&g_wg);
}

static void send_flag(void *arg) {
  int v = 0;
  int rc = weft_send(arg, &v);
  WEFT_EXPECT(rc == 0, "send returned %d", rc);
  atomic_store(&g_send_flag, 1);
  weft_wg_done(&g_wg);
}

typedef struct seq_arg {
  weft_chan *c;
  int n;
} seq_arg;

static void send_seq(void *arg) {
  seq_arg *a = arg;
  for (int i = 0; i < a->n; i++) {
    int rc = weft_send(a->c, &i);
    WEFT_EXPECT(rc == 0, "send %d returned %d", i, rc);
  }
  weft_wg_done(&g_wg);
}

#define TC_P 4
#define TC_L 1000
static atomic_int g_tc_counts[TC_L];

static void recv_count(void *arg) {
  for (int i = 0; i < TC_L; i++) {
    int v = -1;
    int rc = weft_recv(arg, &v);
    WEFT_EXPECT(rc == 1 && v >= 0 && v < TC_L, "recv rc %d v %d", rc, v);
    if (rc == 1 && v >= 0 && v < TC_L)
      atomic_fetch_add(&g_tc_counts[v], 1);
  }
  weft_wg_done(&g_wg);
}

START_TEST(test_go_testchan) {
  weft_procs(4);
  static const size_t caps[] = {0, 1, 2, 3, 7, 16, 100};
  for (size_t ci = 0; ci < sizeof caps / sizeof caps[0]; ci++) {
    size_t cap = caps[ci];
    {
      /* Receive from an empty channel blocks; a non-blocking one fails. */
      weft_chan *c = weft_chan_make(sizeof(int), cap);
      ck_assert_ptr_nonnull(c);
      atomic_store(&g_recv_flag[0], 0);
      atomic_store(&g_recv_flag[1], 0);
      weft_wg_add(&g_wg, 2);
      go_or_die(recv_flag0, c);
      go_or_die(recv_flag1, c);
      weft_test_os_sleep_ms(10);
      REQUIRE_EQ(atomic_load(&g_recv_flag[0]), 0);
      REQUIRE_EQ(atomic_load(&g_recv_flag[1]), 0);
      int v = 7;
      REQUIRE_EQ(weft_recv_dl(c, &v, 0), -ETIMEDOUT);
      int zero = 0;
      REQUIRE_EQ(weft_send(c, &zero), 0);
      REQUIRE_EQ(weft_send(c, &zero), 0);
      weft_wg_wait(&g_wg);
      REQUIRE_EQ(atomic_load(&g_recv_flag[0]), 1);
      REQUIRE_EQ(atomic_load(&g_recv_flag[1]), 1);
      REQUIRE_EQ(weft_chan_len(c), 0);
      weft_chan_unref(c);
    }
    {
      /* Send to a full channel blocks; a non-blocking one fails. */
      weft_chan *c = weft_chan_make(sizeof(int), cap);
      for (int i = 0; i < (int)cap; i++)
        REQUIRE_EQ(weft_send_dl(c, &i, 0), 0);
      atomic_store(&g_send_flag, 0);
      weft_wg_add(&g_wg, 1);
      go_or_die(send_flag, c);
      weft_test_os_sleep_ms(10);
      REQUIRE_EQ(atomic_load(&g_send_flag), 0);
      int v = 0;
      REQUIRE_EQ(weft_send_dl(c, &v, 0), -ETIMEDOUT);
      REQUIRE_EQ(weft_recv(c, &v), 1);
      REQUIRE_EQ(v, 0); /* the oldest value (or the sender's 0) */
      weft_wg_wait(&g_wg);
      REQUIRE_EQ(atomic_load(&g_send_flag), 1);
      REQUIRE_EQ(weft_chan_len(c), cap);
      weft_chan_unref(c);
    }
    {
      /* Values buffered before close are delivered, then zero values. */
      weft_chan *c = weft_chan_make(sizeof(int), cap);
      for (int i = 0; i < (int)cap; i++)
        REQUIRE_EQ(weft_send(c, &(int){i + 1}), 0);
      REQUIRE_EQ(weft_close(c), 0);
      for (int i = 0; i < (int)cap; i++) {
        int v = -1;
        REQUIRE_EQ(weft_recv(c, &v), 1);
        REQUIRE_EQ(v, i + 1);
      }
      for (int k = 0; k < 3; k++) {
        int v = -1;
        REQUIRE_EQ(weft_recv(c, &v), 0);
        REQUIRE_EQ(v, 0);
        v = -1;
        REQUIRE_EQ(weft_recv_dl(c, &v, 0), 0);
        REQUIRE_EQ(v, 0);
      }
      REQUIRE_EQ(weft_recv(c, NULL), 0);
      weft_chan_unref(c);
    }
    {
      /* 100 values from one sender arrive in FIFO order, twice. */
      weft_chan *c = weft_chan_make(sizeof(int), cap);
      for (int round = 0; round < 2; round++) {
        seq_arg a = {c, 100};
        weft_wg_add(&g_wg, 1);
        go_or_die(send_seq, &a);
        for (int i = 0; i < 100; i++) {
          int v = -1;
          REQUIRE_EQ(weft_recv(c, &v), 1);
          REQUIRE_EQ(v, i);
        }
        weft_wg_wait(&g_wg);
      }
      /* 4 senders x 1000 values, 4 receivers: each value 4 times. */
      for (int i = 0; i < TC_L; i++)
        atomic_store(&g_tc_counts[i], 0);
      seq_arg a = {c, TC_L};
      weft_wg_add(&g_wg, 2 * TC_P);
      for (int p = 0; p < TC_P; p++) {
        go_or_die(send_seq, &a);
        go_or_die(recv_count, c);
      }
      weft_wg_wait(&g_wg);
      WEFT_ASSERT_NO_FAILURES();
      for (int i = 0; i < TC_L; i++)
        REQUIRE_EQ(atomic_load(&g_tc_counts[i]), TC_P);
      weft_chan_unref(c);
    }
    {
      /* len and cap. */
      weft_chan *c = weft_chan_make(sizeof(int), cap);
      REQUIRE_EQ(weft_chan_len(c), 0);
      REQUIRE_EQ(weft_chan_cap(c), cap);
      for (int i = 0; i < (int)cap; i++) {
        REQUIRE_EQ(weft_send(c, &i), 0);
        REQUIRE_EQ(weft_chan_len(c), (size_t)i + 1);
      }
      REQUIRE_EQ(weft_chan_len(c), cap);
      REQUIRE_EQ(weft_chan_cap(c), cap);
      weft_chan_unref(c);
    }
  }
  WEFT_ASSERT_NO_FAILURES();
}
END_TEST

/* ---- unbuffered handoff ----------------------------------------------------- */

#define HANDOFF_N WEFT_SCALE(5000)
static atomic_int g_sent;

static void handoff_sender(void *arg) {
  for (int i = 0; i < HANDOFF_N; i++) {
    int rc = weft_send(arg, &i);
    WEFT_EXPECT(rc == 0, "send %d returned %d", i, rc);
    atomic_store(&g_sent, i + 1);
  }
  weft_wg_done(&g_wg);
}

/* Receive i cannot start before send i has completed... the other way
 * round: send i completes only once its receiver took it, so before receive
 * i at most i sends have completed. */
static void handoff_receiver(void *arg) {
  for (int i = 0; i < HANDOFF_N; i++) {
    int s = atomic_load(&g_sent);
    WEFT_EXPECT(s <= i, "send %d completed before its receive (sent %d)", s - 1,
                s);
    int v = -1;
    int rc = weft_recv(arg, &v);
    WEFT_EXPECT(rc == 1 && v == i, "recv %d: rc %d v %d", i, rc, v);
  }
  weft_wg_done(&g_wg);
}

START_TEST(test_unbuffered_handoff) {
  weft_procs(4);
  weft_chan *c = weft_chan_make(sizeof(int), 0);
  ck_assert_ptr_nonnull(c);
  /* A lone send does not complete, and nothing is buffered. */
  atomic_store(&g_sent, 0);
  weft_wg_add(&g_wg, 1);
  go_or_die(send_flag, c);
  atomic_store(&g_send_flag, 0);
  weft_test_os_sleep_ms(50);
  ck_assert_int_eq(atomic_load(&g_send_flag), 0);
  ck_assert_uint_eq(weft_chan_len(c), 0);
  int v = -1;
  ck_assert_int_eq(weft_recv(c, &v), 1);
  ck_assert_int_eq(v, 0);
  weft_wg_wait(&g_wg);
  ck_assert_int_eq(atomic_load(&g_send_flag), 1);

  /* Goroutine to goroutine, goroutine to thread, thread to goroutine, and
   * thread to thread. */
  for (int mode = 0; mode < 4; mode++) {
    atomic_store(&g_sent, 0);
    weft_wg_add(&g_wg, 2);
    pthread_t th[2];
    int nth = 0;
    if (mode & 1)
      th[nth++] = spawn_thread(handoff_sender, c);
    else
      go_or_die(handoff_sender, c);
    if (mode & 2)
      th[nth++] = spawn_thread(handoff_receiver, c);
    else
      go_or_die(handoff_receiver, c);
    weft_wg_wait(&g_wg);
    for (int i = 0; i < nth; i++)
      pthread_join(th[i], NULL);
    WEFT_ASSERT_NO_FAILURES();
    ck_assert_int_eq(atomic_load(&g_sent), HANDOFF_N);
  }
  weft_chan_unref(c);
}
END_TEST

/* ---- FIFO (fifo.go) ------------------------------------------------------------ */

#define FIFO_N 10

typedef struct chain_arg {
  weft_chan *ch, *in, *out;
  int val;
} chain_arg;

/* fifo.go's Chain: wait for the turn, then the next value on ch must be
 * ours. */
static void chain(void *arg) {
  chain_arg *a = arg;
  int t, v = -1;
  WEFT_EXPECT(weft_recv(a->in, &t) == 1, "chain %d: in closed", a->val);
  int rc = weft_recv(a->ch, &v);
  WEFT_EXPECT(rc == 1 && v == a->val, "chain %d got rc %d v %d", a->val, rc,
              v);
  t = 1;
  weft_send(a->out, &t);
  weft_wg_done(&g_wg);
}

#define FIFO_SENDERS 4
#define FIFO_PER WEFT_SCALE(5000)

static void fifo_sender(void *arg) {
  seq_arg *a = arg; /* a->n is the sender's id */
  for (int i = 0; i < FIFO_PER; i++) {
    int v[2] = {a->n, i};
    int rc = weft_send(a->c, v);
    WEFT_EXPECT(rc == 0, "send returned %d", rc);
  }
  weft_wg_done(&g_wg);
}

START_TEST(test_fifo) {
  weft_procs(4);
  /* AsynchFifo. */
  weft_chan *c = weft_chan_make(sizeof(int), FIFO_N);
  for (int i = 0; i < FIFO_N; i++)
    REQUIRE_EQ(weft_send_dl(c, &i, 0), 0);
  for (int i = 0; i < FIFO_N; i++) {
    int v = -1;
    REQUIRE_EQ(weft_recv(c, &v), 1);
    REQUIRE_EQ(v, i);
  }
  weft_chan_unref(c);

  /* SynchFifo: the goroutines take their turns in chain order, each
   * receiving the next value of an unbuffered channel. */
  weft_chan *ch = weft_chan_make(sizeof(int), 0);
  weft_chan *chans[FIFO_N + 1];
  chain_arg args[FIFO_N];
  for (int i = 0; i <= FIFO_N; i++)
    chans[i] = weft_chan_make(sizeof(int), 0);
  weft_wg_add(&g_wg, FIFO_N);
  for (int i = 0; i < FIFO_N; i++) {
    args[i] = (chain_arg){ch, chans[i], chans[i + 1], i};
    go_or_die(chain, &args[i]);
  }
  REQUIRE_EQ(weft_send(chans[0], &(int){0}), 0);
  for (int i = 0; i < FIFO_N; i++)
    REQUIRE_EQ(weft_send(ch, &i), 0);
  int t;
  REQUIRE_EQ(weft_recv(chans[FIFO_N], &t), 1);
  weft_wg_wait(&g_wg);
  WEFT_ASSERT_NO_FAILURES();
  for (int i = 0; i <= FIFO_N; i++)
    weft_chan_unref(chans[i]);
  weft_chan_unref(ch);

  /* Several senders into one buffered channel: each sender's values come
   * out in the order it sent them. */
  static const size_t caps[] = {0, 1, 16};
  for (size_t ci = 0; ci < 3; ci++) {
    c = weft_chan_make(2 * sizeof(int), caps[ci]);
    seq_arg sa[FIFO_SENDERS];
    weft_wg_add(&g_wg, FIFO_SENDERS);
    for (int s = 0; s < FIFO_SENDERS; s++) {
      sa[s] = (seq_arg){c, s};
      go_or_die(fifo_sender, &sa[s]);
    }
    int next[FIFO_SENDERS] = {0};
    for (int k = 0; k < FIFO_SENDERS * FIFO_PER; k++) {
      int v[2] = {-1, -1};
      REQUIRE_EQ(weft_recv(c, v), 1);
      REQUIRE(v[0] >= 0 && v[0] < FIFO_SENDERS);
      REQUIRE_EQ(v[1], next[v[0]]);
      next[v[0]]++;
    }
    weft_wg_wait(&g_wg);
    REQUIRE_EQ(weft_recv_dl(c, NULL, 0), -ETIMEDOUT);
    weft_chan_unref(c);
  }
  WEFT_ASSERT_NO_FAILURES();
}
END_TEST

/* ---- close wakes every blocked receiver and sender ------------------------ */

#define CW_G 64
#define CW_T 4
#define CW_ELEM 24
static atomic_int g_cw_entered, g_cw_returned;

static void cw_recv(void *arg) {
  unsigned char buf[CW_ELEM];
  memset(buf, 0xAB, sizeof buf);
  atomic_fetch_add(&g_cw_entered, 1);
  int rc = weft_recv(arg, buf);
  WEFT_EXPECT(rc == 0, "a receiver woken by close got %d", rc);
  for (int i = 0; i < CW_ELEM; i++)
    WEFT_EXPECT(buf[i] == 0, "byte %d of a closed receive is 0x%x", i, buf[i]);
  atomic_fetch_add(&g_cw_returned, 1);
  weft_wg_done(&g_wg);
}

static void cw_send(void *arg) {
  unsigned char buf[CW_ELEM];
  memset(buf, 0xCD, sizeof buf);
  atomic_fetch_add(&g_cw_entered, 1);
  int rc = weft_send(arg, buf);
  WEFT_EXPECT(rc == -EPIPE, "a sender woken by close got %d", rc);
  atomic_fetch_add(&g_cw_returned, 1);
  weft_wg_done(&g_wg);
}

static void close_wakes(void (*fn)(void *), size_t cap, bool senders) {
  weft_chan *c = weft_chan_make(CW_ELEM, cap);
  ck_assert_ptr_nonnull(c);
  unsigned char buf[CW_ELEM];
  if (senders) /* fill the buffer so that the senders block */
    for (size_t i = 0; i < cap; i++) {
      memset(buf, (int)i + 1, sizeof buf);
      ck_assert_int_eq(weft_send(c, buf), 0);
    }
  atomic_store(&g_cw_entered, 0);
  atomic_store(&g_cw_returned, 0);
  weft_wg_add(&g_wg, CW_G + CW_T);
  pthread_t th[CW_T];
  for (int i = 0; i < CW_G; i++)
    go_or_die(fn, c);
  for (int i = 0; i < CW_T; i++)
    th[i] = spawn_thread(fn, c);
  ck_assert(WEFT_POLL_UNTIL(atomic_load(&g_cw_entered) == CW_G + CW_T, 10000));
  weft_test_os_sleep_ms(50);
  ck_assert_int_eq(atomic_load(&g_cw_returned), 0);
  ck_assert_int_eq(weft_close(c), 0);
  weft_wg_wait(&g_wg);
  for (int i = 0; i < CW_T; i++)
    pthread_join(th[i], NULL);
  WEFT_ASSERT_NO_FAILURES();
  ck_assert_int_eq(atomic_load(&g_cw_returned), CW_G + CW_T);
  /* The buffered values survive the close; the blocked senders' do not. */
  for (size_t i = 0; senders && i < cap; i++) {
    memset(buf, 0, sizeof buf);
    ck_assert_int_eq(weft_recv(c, buf), 1);
    for (int k = 0; k < CW_ELEM; k++)
      ck_assert_int_eq(buf[k], (int)i + 1);
  }
  memset(buf, 0x55, sizeof buf);
  ck_assert_int_eq(weft_recv(c, buf), 0);
  for (int k = 0; k < CW_ELEM; k++)
    ck_assert_int_eq(buf[k], 0);
  ck_assert_uint_eq(weft_chan_len(c), 0);
  weft_chan_unref(c);
}

START_TEST(test_close_wakes_all) {
  weft_procs(4);
  close_wakes(cw_recv, 0, false);
  close_wakes(cw_recv, 4, false);
  close_wakes(cw_send, 0, true);
  close_wakes(cw_send, 4, true);
}
END_TEST

START_TEST(test_close_errors) {
  weft_chan *c = weft_chan_make(sizeof(int), 2);
  int v = 3;
  ck_assert_int_eq(weft_send(c, &v), 0);
  ck_assert_int_eq(weft_close(c), 0);
  /* Send on a closed channel fails, even with room in the buffer, blocking
   * or not, and leaves the buffer alone. */
  ck_assert_int_eq(weft_send(c, &v), -EPIPE);
  ck_assert_int_eq(weft_send_dl(c, &v, 0), -EPIPE);
  ck_assert_int_eq(weft_send_dl(c, &v, weft_now() + WEFT_SEC), -EPIPE);
  ck_assert_uint_eq(weft_chan_len(c), 1);
  v = 0;
  ck_assert_int_eq(weft_recv(c, &v), 1);
  ck_assert_int_eq(v, 3);
  ck_assert_int_eq(weft_recv_dl(c, &v, weft_now() + WEFT_SEC), 0);
  weft_chan_unref(c);
  /* Unbuffered and zero-size channels alike. */
  c = weft_chan_make(0, 0);
  ck_assert_int_eq(weft_close(c), 0);
  ck_assert_int_eq(weft_send(c, NULL), -EPIPE);
  ck_assert_int_eq(weft_recv(c, NULL), 0);
  weft_chan_unref(c);
  ck_assert_int_eq(weft_close(NULL), -EINVAL);
}
END_TEST

/* ---- the nil channel --------------------------------------------------------- */

#define NIL_WAIT (30 * WEFT_MS)
static atomic_int g_nil_forever_returned;

static void nil_timed(void *arg) {
  (void)arg;
  int v = 42;
  int64_t t0 = weft_now();
  int rc = weft_recv_dl(NULL, &v, t0 + NIL_WAIT);
  int64_t el = weft_now() - t0;
  WEFT_EXPECT(rc == -ETIMEDOUT, "nil recv_dl returned %d", rc);
  WEFT_EXPECT(el >= NIL_WAIT, "nil recv_dl returned after %lld ns",
              (long long)el);
  t0 = weft_now();
  rc = weft_send_dl(NULL, &v, t0 + NIL_WAIT);
  el = weft_now() - t0;
  WEFT_EXPECT(rc == -ETIMEDOUT, "nil send_dl returned %d", rc);
  WEFT_EXPECT(el >= NIL_WAIT, "nil send_dl returned after %lld ns",
              (long long)el);
  rc = weft_recv_dl(NULL, &v, 0);
  WEFT_EXPECT(rc == -ETIMEDOUT, "nil non-blocking recv returned %d", rc);
  rc = weft_send_dl(NULL, &v, weft_now() - 1);
  WEFT_EXPECT(rc == -ETIMEDOUT, "nil non-blocking send returned %d", rc);
  weft_wg_done(&g_wg);
}

static void nil_forever(void *arg) {
  int v = 0;
  if (arg)
    weft_send(NULL, &v);
  else
    weft_recv(NULL, &v);
  atomic_store(&g_nil_forever_returned, 1);
}

START_TEST(test_nil_channel) {
  weft_procs(2);
  /* On the main thread. */
  int v = 42;
  int64_t t0 = weft_now();
  ck_assert_int_eq(weft_recv_dl(NULL, &v, t0 + NIL_WAIT), -ETIMEDOUT);
  ck_assert_int_ge(weft_now() - t0, NIL_WAIT);
  t0 = weft_now();
  ck_assert_int_eq(weft_send_dl(NULL, &v, t0 + NIL_WAIT), -ETIMEDOUT);
  ck_assert_int_ge(weft_now() - t0, NIL_WAIT);
  t0 = weft_now();
  ck_assert_int_eq(weft_recv_dl(NULL, &v, 0), -ETIMEDOUT);
  ck_assert_int_eq(weft_send_dl(NULL, &v, 0), -ETIMEDOUT);
  ck_assert_int_lt(weft_now() - t0, 500 * WEFT_MS);
  ck_assert_uint_eq(weft_chan_len(NULL), 0);
  ck_assert_uint_eq(weft_chan_cap(NULL), 0);
  /* In goroutines, several at once. */
  weft_wg_add(&g_wg, 8);
  for (int i = 0; i < 8; i++)
    go_or_die(nil_timed, NULL);
  weft_wg_wait(&g_wg);
  WEFT_ASSERT_NO_FAILURES();
  /* Without a deadline they block for good (nothing can wake them). */
  go_or_die(nil_forever, NULL);
  go_or_die(nil_forever, (void *)1);
  weft_test_os_sleep_ms(100);
  ck_assert_int_eq(atomic_load(&g_nil_forever_returned), 0);
}
END_TEST

/* ---- deadlines and non-blocking operations (nonblock.go) -------------------- */

static atomic_int g_nb_state;

static void nb_receiver(void *arg) {
  int v = -1;
  atomic_store(&g_nb_state, 1);
  int rc = weft_recv(arg, &v);
  WEFT_EXPECT(rc == 1 && v == 123, "receiver got rc %d v %d", rc, v);
  atomic_store(&g_nb_state, 2);
  weft_wg_done(&g_wg);
}

static void nb_sender(void *arg) {
  int v = 456;
  atomic_store(&g_nb_state, 1);
  int rc = weft_send(arg, &v);
  WEFT_EXPECT(rc == 0, "sender got %d", rc);
  atomic_store(&g_nb_state, 2);
  weft_wg_done(&g_wg);
}

static void nonblock_on(size_t cap) {
  weft_chan *c = weft_chan_make(sizeof(int), cap);
  int v = 9;
  const int64_t past[] = {0, INT64_MIN, weft_now() - WEFT_SEC, weft_now()};
  for (int k = 0; k < 4; k++) {
    int64_t t0 = weft_now();
    ck_assert_int_eq(weft_recv_dl(c, &v, past[k]), -ETIMEDOUT);
    ck_assert_int_lt(weft_now() - t0, 500 * WEFT_MS);
  }
  ck_assert_int_eq(v, 9); /* a failed receive writes nothing */
  for (size_t i = 0; i < cap; i++)
    ck_assert_int_eq(weft_send_dl(c, &(int){(int)i}, 0), 0);
  for (int k = 0; k < 4; k++) {
    int64_t t0 = weft_now();
    ck_assert_int_eq(weft_send_dl(c, &v, past[k]), -ETIMEDOUT);
    ck_assert_int_lt(weft_now() - t0, 500 * WEFT_MS);
  }
  ck_assert_uint_eq(weft_chan_len(c), cap);
  for (size_t i = 0; i < cap; i++) {
    ck_assert_int_eq(weft_recv_dl(c, &v, 0), 1);
    ck_assert_int_eq(v, (int)i);
  }

  /* A blocked receiver makes a non-blocking send succeed (try until it
   * has parked). */
  atomic_store(&g_nb_state, 0);
  weft_wg_add(&g_wg, 1);
  go_or_die(nb_receiver, c);
  int64_t until = weft_now() + 10 * WEFT_SEC;
  int rc;
  while ((rc = weft_send_dl(c, &(int){123}, 0)) == -ETIMEDOUT &&
         weft_now() < until)
    weft_test_os_sleep_ms(1);
  ck_assert_int_eq(rc, 0);
  weft_wg_wait(&g_wg);
  ck_assert_int_eq(atomic_load(&g_nb_state), 2);
  ck_assert_uint_eq(weft_chan_len(c), 0);

  /* A blocked sender makes a non-blocking receive succeed. */
  for (size_t i = 0; i < cap; i++)
    ck_assert_int_eq(weft_send_dl(c, &(int){(int)i}, 0), 0);
  atomic_store(&g_nb_state, 0);
  weft_wg_add(&g_wg, 1);
  go_or_die(nb_sender, c);
  ck_assert(WEFT_POLL_UNTIL(atomic_load(&g_nb_state) == 1, 10000));
  until = weft_now() + 10 * WEFT_SEC;
  for (size_t i = 0; i < cap; i++) {
    ck_assert_int_eq(weft_recv_dl(c, &v, 0), 1);
    ck_assert_int_eq(v, (int)i);
  }
  v = -1;
  while ((rc = weft_recv_dl(c, &v, 0)) == -ETIMEDOUT && weft_now() < until)
    weft_test_os_sleep_ms(1);
  ck_assert_int_eq(rc, 1);
  ck_assert_int_eq(v, 456);
  weft_wg_wait(&g_wg);

  /* A deadline in the future waits for it, and no less. */
  int64_t t0 = weft_now();
  ck_assert_int_eq(weft_recv_dl(c, &v, t0 + 20 * WEFT_MS), -ETIMEDOUT);
  ck_assert_int_ge(weft_now() - t0, 20 * WEFT_MS);
  for (size_t i = 0; i < cap; i++)
    ck_assert_int_eq(weft_send_dl(c, &(int){(int)i}, 0), 0);
  t0 = weft_now();
  ck_assert_int_eq(weft_send_dl(c, &v, t0 + 20 * WEFT_MS), -ETIMEDOUT);
  ck_assert_int_ge(weft_now() - t0, 20 * WEFT_MS);
  ck_assert_uint_eq(weft_chan_len(c), cap);

  /* Closed: a non-blocking receive drains and then reports 0, a send
   * -EPIPE; neither times out. */
  ck_assert_int_eq(weft_close(c), 0);
  for (size_t i = 0; i < cap; i++)
    ck_assert_int_eq(weft_recv_dl(c, &v, 0), 1);
  v = 5;
  ck_assert_int_eq(weft_recv_dl(c, &v, 0), 0);
  ck_assert_int_eq(v, 0);
  ck_assert_int_eq(weft_send_dl(c, &v, 0), -EPIPE);
  weft_chan_unref(c);
  WEFT_ASSERT_NO_FAILURES();
}

static void nonblock_in_goroutine(void *arg) {
  weft_chan *c = arg;
  int v = 1;
  int64_t t0 = weft_now();
  int rc = weft_recv_dl(c, &v, 0);
  WEFT_EXPECT(rc == -ETIMEDOUT, "recv_dl on empty returned %d", rc);
  rc = weft_send_dl(c, &v, 0);
  WEFT_EXPECT(rc == -ETIMEDOUT, "send_dl on unbuffered returned %d", rc);
  WEFT_EXPECT(weft_now() - t0 < 500 * WEFT_MS, "non-blocking calls blocked");
  t0 = weft_now();
  rc = weft_recv_dl(c, &v, t0 + 20 * WEFT_MS);
  WEFT_EXPECT(rc == -ETIMEDOUT && weft_now() - t0 >= 20 * WEFT_MS,
              "timed recv returned %d after %lld ns", rc,
              (long long)(weft_now() - t0));
  weft_wg_done(&g_wg);
}

START_TEST(test_nonblock) {
  weft_procs(2);
  nonblock_on(0);
  nonblock_on(1);
  nonblock_on(8);
  /* Each goroutine on its own channel: a timed receive of one could
   * otherwise take another's non-blocking send. */
  weft_chan *c[4];
  weft_wg_add(&g_wg, 4);
  for (int i = 0; i < 4; i++) {
    c[i] = weft_chan_make(sizeof(int), 0);
    go_or_die(nonblock_in_goroutine, c[i]);
  }
  weft_wg_wait(&g_wg);
  WEFT_ASSERT_NO_FAILURES();
  for (int i = 0; i < 4; i++)
    weft_chan_unref(c[i]);
}
END_TEST

/* Timed-out waiters leave the channel's queues: a later partner must not
 * hand its value to one of them (the value would be lost). */
#define TO_N WEFT_SCALE(2000)
static void timed_out_receivers(void *arg) {
  weft_chan *c = arg;
  for (int i = 0; i < TO_N; i++) {
    int v;
    int rc = weft_recv_dl(c, &v, weft_now() + (i % 3) * WEFT_US);
    WEFT_EXPECT(rc == -ETIMEDOUT, "nobody sent, yet recv_dl returned %d", rc);
  }
  weft_wg_done(&g_wg);
}

START_TEST(test_timed_out_waiters_leave) {
  weft_procs(2);
  weft_chan *c = weft_chan_make(sizeof(int), 0);
  weft_wg_add(&g_wg, 4);
  for (int i = 0; i < 4; i++)
    go_or_die(timed_out_receivers, c);
  weft_wg_wait(&g_wg);
  WEFT_ASSERT_NO_FAILURES();
  /* Nobody waits now: a non-blocking send must fail. */
  ck_assert_int_eq(weft_send_dl(c, &(int){1}, 0), -ETIMEDOUT);
  /* And a real pair still meets. */
  atomic_store(&g_nb_state, 0);
  weft_wg_add(&g_wg, 1);
  go_or_die(nb_receiver, c);
  ck_assert_int_eq(weft_send(c, &(int){123}), 0);
  weft_wg_wait(&g_wg);
  WEFT_ASSERT_NO_FAILURES();
  weft_chan_unref(c);
}
END_TEST

/* ---- zero-size elements (zerosize.go, chan struct{}) ------------------------ */

#define SIG_N WEFT_SCALE(10000)

static void sig_pinger(void *arg) {
  weft_chan **cs = arg; /* ping, pong */
  for (int i = 0; i < SIG_N; i++) {
    WEFT_EXPECT(weft_send(cs[0], NULL) == 0, "ping failed");
    WEFT_EXPECT(weft_recv(cs[1], NULL) == 1, "pong failed");
  }
  weft_close(cs[0]);
  weft_wg_done(&g_wg);
}

static atomic_int g_pongs;

static void sig_ponger(void *arg) {
  weft_chan **cs = arg;
  while (weft_recv(cs[0], NULL) == 1) {
    atomic_fetch_add(&g_pongs, 1);
    WEFT_EXPECT(weft_send(cs[1], NULL) == 0, "pong send failed");
  }
  weft_wg_done(&g_wg);
}

START_TEST(test_zero_size) {
  weft_procs(2);
  /* Buffered signal channel: len counts signals. */
  weft_chan *c = weft_chan_make(0, 10);
  ck_assert_ptr_nonnull(c);
  REQUIRE_EQ(weft_chan_cap(c), 10);
  for (int i = 0; i < 10; i++) {
    REQUIRE_EQ(weft_send_dl(c, NULL, 0), 0);
    REQUIRE_EQ(weft_chan_len(c), (size_t)i + 1);
  }
  REQUIRE_EQ(weft_send_dl(c, NULL, 0), -ETIMEDOUT);
  int dummy = 77; /* a non-NULL pointer is fine too, and is not written */
  REQUIRE_EQ(weft_recv(c, &dummy), 1);
  REQUIRE_EQ(dummy, 77);
  REQUIRE_EQ(weft_close(c), 0);
  for (int i = 0; i < 9; i++)
    REQUIRE_EQ(weft_recv(c, NULL), 1);
  REQUIRE_EQ(weft_recv(c, NULL), 0);
  REQUIRE_EQ(weft_recv(c, &dummy), 0);
  REQUIRE_EQ(dummy, 77);
  weft_chan_unref(c);

  /* A huge capacity costs nothing with zero-size elements. */
  c = weft_chan_make(0, (size_t)1 << 40);
  ck_assert_ptr_nonnull(c);
  REQUIRE_EQ(weft_chan_cap(c), (size_t)1 << 40);
  for (int i = 0; i < 1000; i++)
    REQUIRE_EQ(weft_send_dl(c, NULL, 0), 0);
  REQUIRE_EQ(weft_chan_len(c), 1000);
  weft_chan_unref(c);

  /* Unbuffered ping-pong between goroutines, and with the main thread. */
  weft_chan *cs[2] = {weft_chan_make(0, 0), weft_chan_make(0, 0)};
  weft_wg_add(&g_wg, 2);
  go_or_die(sig_ponger, cs);
  go_or_die(sig_pinger, cs);
  weft_wg_wait(&g_wg);
  WEFT_ASSERT_NO_FAILURES();
  REQUIRE_EQ(atomic_load(&g_pongs), SIG_N);
  weft_chan_unref(cs[0]);
  weft_chan_unref(cs[1]);
  cs[0] = weft_chan_make(0, 0);
  cs[1] = weft_chan_make(0, 0);
  atomic_store(&g_pongs, 0);
  weft_wg_add(&g_wg, 1);
  go_or_die(sig_ponger, cs);
  for (int i = 0; i < SIG_N; i++) {
    REQUIRE_EQ(weft_send(cs[0], NULL), 0);
    REQUIRE_EQ(weft_recv(cs[1], NULL), 1);
  }
  weft_close(cs[0]);
  weft_wg_wait(&g_wg);
  REQUIRE_EQ(atomic_load(&g_pongs), SIG_N);
  weft_chan_unref(cs[0]);
  weft_chan_unref(cs[1]);
}
END_TEST

/* ---- large elements --------------------------------------------------------- */

#define BIG 4096
typedef struct big {
  unsigned char b[BIG];
} big;

static unsigned char pattern(int seq, size_t i) {
  return (unsigned char)((unsigned)seq * 131u + (unsigned)i * 7u +
                         (unsigned)(i >> 8) * 13u);
}

#define BIG_N WEFT_SCALE(2000)

static void big_sender(void *arg) {
  big v;
  for (int s = 0; s < BIG_N; s++) {
    for (size_t i = 0; i < BIG; i++)
      v.b[i] = pattern(s, i);
    int rc = weft_send(arg, &v);
    WEFT_EXPECT(rc == 0, "send returned %d", rc);
  }
  weft_wg_done(&g_wg);
}

static void big_receiver(void *arg) {
  big v;
  for (int s = 0; s < BIG_N; s++) {
    memset(&v, 0, sizeof v);
    int rc = weft_recv(arg, &v);
    WEFT_EXPECT(rc == 1, "recv returned %d", rc);
    for (size_t i = 0; i < BIG; i++)
      if (v.b[i] != pattern(s, i)) {
        WEFT_EXPECT(0, "value %d byte %zu is %d, want %d", s, i, v.b[i],
                    pattern(s, i));
        break;
      }
  }
  weft_wg_done(&g_wg);
}

#define HUGE_ELEM 65536
static unsigned char *g_huge_in, *g_huge_out;

static void huge_sender(void *arg) {
  for (int s = 0; s < 20; s++) {
    for (size_t i = 0; i < HUGE_ELEM; i++)
      g_huge_in[i] = pattern(s, i);
    WEFT_EXPECT(weft_send(arg, g_huge_in) == 0, "huge send failed");
  }
  weft_wg_done(&g_wg);
}

START_TEST(test_large_elements) {
  weft_procs(4);
  static const size_t caps[] = {0, 1, 3};
  for (size_t ci = 0; ci < 3; ci++) {
    weft_chan *c = weft_chan_make(sizeof(big), caps[ci]);
    ck_assert_ptr_nonnull(c);
    weft_wg_add(&g_wg, 2);
    go_or_die(big_receiver, c);
    go_or_die(big_sender, c);
    weft_wg_wait(&g_wg);
    /* and with the main thread on the receiving side */
    weft_wg_add(&g_wg, 2);
    go_or_die(big_sender, c);
    big_receiver(c);
    weft_wg_wait(&g_wg);
    WEFT_ASSERT_NO_FAILURES();
    /* Closed: the whole element is zeroed. */
    weft_close(c);
    big *v = malloc(sizeof *v);
    memset(v, 0xEE, sizeof *v);
    ck_assert_int_eq(weft_recv(c, v), 0);
    for (size_t i = 0; i < BIG; i++)
      ck_assert_int_eq(v->b[i], 0);
    free(v);
    weft_chan_unref(c);
  }
  /* The largest element allowed: 64 KiB, buffered and unbuffered. */
  g_huge_in = malloc(HUGE_ELEM);
  g_huge_out = malloc(HUGE_ELEM);
  for (size_t cap = 0; cap <= 2; cap += 2) {
    weft_chan *c = weft_chan_make(HUGE_ELEM, cap);
    ck_assert_ptr_nonnull(c);
    weft_wg_add(&g_wg, 1);
    go_or_die(huge_sender, c);
    for (int s = 0; s < 20; s++) {
      memset(g_huge_out, 0, HUGE_ELEM);
      ck_assert_int_eq(weft_recv(c, g_huge_out), 1);
      for (size_t i = 0; i < HUGE_ELEM; i++)
        if (g_huge_out[i] != pattern(s, i))
          ck_abort_msg("64 KiB value %d: byte %zu is %d, want %d", s, i,
                       g_huge_out[i], pattern(s, i));
    }
    weft_wg_wait(&g_wg);
    WEFT_ASSERT_NO_FAILURES();
    weft_chan_unref(c);
  }
  free(g_huge_in);
  free(g_huge_out);
}
END_TEST

/* ---- make limits, len and cap ------------------------------------------------- */

START_TEST(test_make_limits) {
  ck_assert_ptr_null(weft_chan_make(65537, 0));
  ck_assert_ptr_null(weft_chan_make(65537, 1));
  ck_assert_ptr_null(weft_chan_make((size_t)1 << 20, 0));
  ck_assert_ptr_null(weft_chan_make(SIZE_MAX, 1));
  /* cap * elem_size overflows */
  ck_assert_ptr_null(weft_chan_make(16, SIZE_MAX / 8));
  ck_assert_ptr_null(weft_chan_make(2, SIZE_MAX));
  ck_assert_ptr_null(weft_chan_make(65536, SIZE_MAX / 65536 + 1));
  weft_chan *c = weft_chan_make(65536, 2);
  ck_assert_ptr_nonnull(c);
  ck_assert_uint_eq(weft_chan_cap(c), 2);
  ck_assert_uint_eq(weft_chan_len(c), 0);
  weft_chan_unref(c);
  c = weft_chan_make(8, 0);
  ck_assert_ptr_nonnull(c);
  ck_assert_uint_eq(weft_chan_cap(c), 0);
  ck_assert_uint_eq(weft_chan_len(c), 0);
  weft_chan_unref(c);
  c = weft_chan_make(1, 5);
  for (int i = 0; i < 5; i++) {
    ck_assert_int_eq(weft_send(c, &(char){(char)i}), 0);
    ck_assert_uint_eq(weft_chan_len(c), (size_t)i + 1);
  }
  for (int i = 0; i < 5; i++) {
    char v = -1;
    ck_assert_int_eq(weft_recv(c, &v), 1);
    ck_assert_int_eq(v, i);
    ck_assert_uint_eq(weft_chan_len(c), (size_t)(4 - i));
  }
  ck_assert_uint_eq(weft_chan_cap(c), 5);
  weft_chan_unref(c);
}
END_TEST

/* ---- reference counting ------------------------------------------------------- */

static void ref_user(void *arg) {
  weft_chan *c = arg; /* owns one reference */
  int v = 0;
  int rc = weft_recv(c, &v);
  WEFT_EXPECT(rc == 1 && v == 99, "recv rc %d v %d", rc, v);
  weft_chan_unref(c);
  weft_wg_done(&g_wg);
}

START_TEST(test_ref_unref) {
  weft_procs(2);
  weft_chan *c = weft_chan_make(sizeof(int), 4);
  ck_assert_ptr_eq(weft_chan_ref(c), c);
  ck_assert_ptr_eq(weft_chan_ref(c), c);
  weft_chan_unref(c);
  weft_chan_unref(c);
  /* Still alive on the first reference. */
  ck_assert_int_eq(weft_send(c, &(int){5}), 0);
  int v = 0;
  ck_assert_int_eq(weft_recv(c, &v), 1);
  ck_assert_int_eq(v, 5);
  /* Hand references to goroutines; the main thread drops its own first. */
  weft_wg_add(&g_wg, 16);
  for (int i = 0; i < 16; i++)
    go_or_die(ref_user, weft_chan_ref(c));
  for (int i = 0; i < 16; i++)
    ck_assert_int_eq(weft_send(c, &(int){99}), 0);
  weft_chan_unref(c);
  weft_wg_wait(&g_wg);
  WEFT_ASSERT_NO_FAILURES();
  /* Closing does not free: a closed channel is usable until the last
   * unref. */
  c = weft_chan_make(sizeof(int), 0);
  weft_chan_ref(c);
  ck_assert_int_eq(weft_close(c), 0);
  weft_chan_unref(c);
  ck_assert_int_eq(weft_recv(c, &v), 0);
  ck_assert_int_eq(weft_send(c, &v), -EPIPE);
  weft_chan_unref(c);
}
END_TEST

/* ---- a channel freed right after its last operation ------------------------
 *
 * The party that frees holds the only reference; its partner borrows the
 * channel for one operation. The free happens as soon as the owner's
 * operation returns, while the partner may still be returning from its own
 * (either may have blocked first). ASan must see no use after free. */

/* Each round starts two goroutines: TSan makes that costly (a fiber each). */
#ifdef WEFT_TEST_TSAN
#define FREE_N 600
#else
#define FREE_N WEFT_SCALE(20000)
#endif

static void free_recv_owner(void *arg) {
  weft_chan *c = arg;
  int v = -1;
  int rc = weft_recv(c, &v);
  WEFT_EXPECT(rc == 1 && v == 7, "recv rc %d v %d", rc, v);
  weft_chan_unref(c); /* the last reference */
  weft_wg_done(&g_wg);
}

static void free_send_borrower(void *arg) {
  int rc = weft_send(arg, &(int){7});
  WEFT_EXPECT(rc == 0, "send returned %d", rc);
  weft_wg_done(&g_wg);
}

static void free_send_owner(void *arg) {
  weft_chan *c = arg;
  int rc = weft_send(c, &(int){7});
  WEFT_EXPECT(rc == 0, "send returned %d", rc);
  weft_chan_unref(c);
  weft_wg_done(&g_wg);
}

static void free_recv_borrower(void *arg) {
  int v = -1;
  int rc = weft_recv(arg, &v);
  WEFT_EXPECT(rc == 1 && v == 7, "recv rc %d v %d", rc, v);
  weft_wg_done(&g_wg);
}

static void free_closed_owner(void *arg) {
  weft_chan *c = arg;
  int v = -1;
  int rc = weft_recv(c, &v);
  WEFT_EXPECT(rc == 0 && v == 0, "recv on closed: rc %d v %d", rc, v);
  weft_chan_unref(c);
  weft_wg_done(&g_wg);
}

static void free_closer_borrower(void *arg) {
  int rc = weft_close(arg);
  WEFT_EXPECT(rc == 0, "close returned %d", rc);
  weft_wg_done(&g_wg);
}

static void free_select_owner(void *arg) {
  weft_chan *c = arg;
  int v = -1;
  weft_case cs[2] = {WEFT_RECV(NULL, NULL), WEFT_RECV(c, &v)};
  int rc = weft_select(cs, 2);
  WEFT_EXPECT(rc == 1 && cs[1].ok == 1 && v == 7, "select rc %d ok %d v %d",
              rc, cs[1].ok, v);
  weft_chan_unref(c);
  weft_wg_done(&g_wg);
}

typedef struct free_plan {
  void (*owner)(void *), (*borrower)(void *);
  size_t cap;
  int mode;
} free_plan;

static void free_round(const free_plan *p) {
  weft_chan *c = weft_chan_make(sizeof(int), p->cap);
  weft_wg_add(&g_wg, 2);
  if (p->mode == 0) { /* owner first, borrower second */
    weft_go(p->owner, c);
    weft_go(p->borrower, c);
  } else if (p->mode == 1) {
    weft_go(p->borrower, c);
    weft_go(p->owner, c);
  } else { /* the borrower is the calling (main) thread */
    weft_go(p->owner, c);
    p->borrower(c);
  }
  weft_wg_wait(&g_wg);
}

static weft_waitgroup g_driver = WEFT_WAITGROUP_INIT;

/* Goroutine-only rounds run from a driver goroutine: much cheaper than
 * waking the main thread every round. */
static void free_driver(void *arg) {
  for (int i = 0; i < FREE_N; i++)
    free_round(arg);
  weft_wg_done(&g_driver);
}

static void free_rounds(void (*owner)(void *), void (*borrower)(void *),
                        size_t cap) {
  for (int mode = 0; mode < 2; mode++) {
    free_plan p = {owner, borrower, cap, mode};
    weft_wg_add(&g_driver, 1);
    go_or_die(free_driver, &p);
    weft_wg_wait(&g_driver);
  }
  free_plan p = {owner, borrower, cap, 2};
  for (int i = 0; i < FREE_N / 10; i++)
    free_round(&p);
  WEFT_ASSERT_NO_FAILURES();
}

START_TEST(test_free_after_last_op) {
  weft_procs(4);
  free_rounds(free_recv_owner, free_send_borrower, 0);
  free_rounds(free_send_owner, free_recv_borrower, 0);
  free_rounds(free_recv_owner, free_send_borrower, 1);
  free_rounds(free_closed_owner, free_closer_borrower, 0);
  free_rounds(free_select_owner, free_send_borrower, 0);
}
END_TEST

/* The closer owns the only reference and frees the channel as soon as its
 * close returns, while receivers it woke (borrowing the channel) may still
 * be returning from their receive. recv_dl's comment says "c may be gone"
 * there: the woken receiver must not touch c again. */
#define CF_RECEIVERS 4
static atomic_int g_cf_parked;

static void cf_receiver(void *arg) {
  int v = -1;
  atomic_fetch_add(&g_cf_parked, 1);
  int rc = weft_recv(arg, &v);
  WEFT_EXPECT(rc == 0 && v == 0, "recv on closed: rc %d v %d", rc, v);
  weft_wg_done(&g_wg);
}

START_TEST(test_free_by_closer) {
  weft_procs(4);
  for (int i = 0; i < WEFT_SCALE(2000); i++) {
    weft_chan *c = weft_chan_make(sizeof(int), 0);
    atomic_store(&g_cf_parked, 0);
    weft_wg_add(&g_wg, CF_RECEIVERS);
    for (int k = 0; k < CF_RECEIVERS; k++)
      go_or_die(cf_receiver, c);
    /* The receivers borrow c: every one must be inside its receive,
     * queued, before the free. */
    int64_t until = weft_now() + 10 * WEFT_SEC;
    while (weft_test_queued(c, false) < CF_RECEIVERS && weft_now() < until)
      sched_yield();
    REQUIRE_EQ(weft_test_queued(c, false), CF_RECEIVERS);
    REQUIRE_EQ(weft_close(c), 0);
    weft_chan_unref(c);
    weft_wg_wait(&g_wg);
  }
  WEFT_ASSERT_NO_FAILURES();
}
END_TEST

/* ---- no value lost or duplicated ------------------------------------------- */

#define MP_S 8
#define MP_R 8
#define MP_PER WEFT_SCALE(20000)
static atomic_uchar *g_seen;
static atomic_int g_mp_total;
static weft_waitgroup g_mp_senders = WEFT_WAITGROUP_INIT;

typedef struct mp_arg {
  weft_chan *c;
  int id;
} mp_arg;

static void mp_sender(void *arg) {
  mp_arg *a = arg;
  for (int i = 0; i < MP_PER; i++) {
    int v = a->id * MP_PER + i;
    int rc = weft_send(a->c, &v);
    WEFT_EXPECT(rc == 0, "send returned %d", rc);
  }
  weft_wg_done(&g_mp_senders);
}

static void mp_receiver(void *arg) {
  mp_arg *a = arg;
  int last[MP_S];
  for (int s = 0; s < MP_S; s++)
    last[s] = -1;
  int v, n = 0;
  while (weft_recv(a->c, &v) == 1) {
    if (v < 0 || v >= MP_S * MP_PER) {
      WEFT_EXPECT(0, "received out-of-range value %d", v);
      continue;
    }
    int s = v / MP_PER;
    /* This receiver sees each sender's values in the order sent. */
    WEFT_EXPECT(v > last[s], "sender %d: %d after %d", s, v, last[s]);
    last[s] = v;
    atomic_fetch_add(&g_seen[v], 1);
    n++;
  }
  atomic_fetch_add(&g_mp_total, n);
  weft_wg_done(&g_wg);
}

/* threads: 0 = only goroutines; 1 = every other party a plain thread. */
static void mpmc(size_t cap, int threads) {
  weft_chan *c = weft_chan_make(sizeof(int), cap);
  g_seen = calloc(MP_S * MP_PER, 1);
  atomic_store(&g_mp_total, 0);
  mp_arg sa[MP_S], ra[MP_R];
  pthread_t th[MP_S + MP_R];
  int nth = 0;
  weft_wg_add(&g_mp_senders, MP_S);
  weft_wg_add(&g_wg, MP_R);
  for (int i = 0; i < MP_R; i++) {
    ra[i] = (mp_arg){c, i};
    if (threads && i % 2)
      th[nth++] = spawn_thread(mp_receiver, &ra[i]);
    else
      go_or_die(mp_receiver, &ra[i]);
  }
  for (int i = 0; i < MP_S; i++) {
    sa[i] = (mp_arg){c, i};
    if (threads && i % 2)
      th[nth++] = spawn_thread(mp_sender, &sa[i]);
    else
      go_or_die(mp_sender, &sa[i]);
  }
  weft_wg_wait(&g_mp_senders);
  ck_assert_int_eq(weft_close(c), 0);
  weft_wg_wait(&g_wg);
  for (int i = 0; i < nth; i++)
    pthread_join(th[i], NULL);
  WEFT_ASSERT_NO_FAILURES();
  ck_assert_int_eq(atomic_load(&g_mp_total), MP_S * MP_PER);
  for (int v = 0; v < MP_S * MP_PER; v++)
    if (atomic_load(&g_seen[v]) != 1)
      ck_abort_msg("cap %zu threads %d: value %d received %d times", cap,
                   threads, v, atomic_load(&g_seen[v]));
  free(g_seen);
  weft_chan_unref(c);
}

START_TEST(test_mpmc_goroutines) {
  weft_procs(4);
  mpmc(0, 0);
  mpmc(1, 0);
  mpmc(64, 0);
}
END_TEST

START_TEST(test_mpmc_mixed_threads) {
  weft_procs(4);
  mpmc(0, 1);
  mpmc(1, 1);
  mpmc(64, 1);
}
END_TEST

/* ---- the concurrent prime sieve (sieve1.go) -------------------------------- */

/* TSan makes each of the ~1M handoffs about 50x slower: fewer primes. */
#ifdef WEFT_TEST_TSAN
#define SIEVE_N 500
#else
#define SIEVE_N 1000
#endif

static void generate(void *arg) {
  weft_chan *ch = arg;
  for (int i = 2;; i++)
    if (weft_send(ch, &i) != 0)
      break; /* the first filter closed ch: stop */
  weft_chan_unref(ch);
}

typedef struct filt {
  weft_chan *in, *out;
  int prime;
} filt;

/* Passes on what prime does not divide. Shutdown starts at the sink, which
 * closes the last channel; each channel is closed once, by its reader: a
 * filter whose send fails closes its input, so the shutdown travels up the
 * chain to the generator. */
static void filter(void *arg) {
  filt f = *(filt *)arg;
  free(arg);
  int v;
  while (weft_recv(f.in, &v) == 1)
    if (v % f.prime != 0 && weft_send(f.out, &v) != 0)
      break;
  weft_close(f.in);
  weft_chan_unref(f.in);
  weft_chan_unref(f.out);
}

START_TEST(test_sieve) {
  weft_procs(4);
  int base = weft_num_goroutines();
  /* The primes by trial division, to compare with. */
  int want[SIEVE_N];
  for (int n = 2, k = 0; k < SIEVE_N; n++) {
    int p = 1;
    for (int d = 2; d * d <= n; d++)
      if (n % d == 0) {
        p = 0;
        break;
      }
    if (p)
      want[k++] = n;
  }
  if (SIEVE_N == 1000)
    REQUIRE_EQ(want[SIEVE_N - 1], 7919);
  weft_chan *ch = weft_chan_make(sizeof(int), 0);
  go_or_die(generate, weft_chan_ref(ch));
  for (int i = 0; i < SIEVE_N; i++) {
    int prime = -1;
    REQUIRE_EQ(weft_recv(ch, &prime), 1);
    REQUIRE_EQ(prime, want[i]);
    weft_chan *ch1 = weft_chan_make(sizeof(int), 0);
    filt *f = malloc(sizeof *f);
    *f = (filt){weft_chan_ref(ch), weft_chan_ref(ch1), prime};
    go_or_die(filter, f);
    weft_chan_unref(ch);
    ch = ch1;
  }
  REQUIRE_EQ(weft_close(ch), 0);
  weft_chan_unref(ch);
  ck_assert_msg(WEFT_POLL_UNTIL(weft_num_goroutines() == base, 30000),
                "%d goroutines left of the sieve", weft_num_goroutines() - base);
}
END_TEST

/* A send needs a value: NULL is -EINVAL unless elements have size 0, and
 * nothing is sent (a receiver still blocks). Receives may discard. */
START_TEST(test_send_null_elem_is_einval) {
  weft_chan *c = weft_chan_make(sizeof(int), 1);
  ck_assert_int_eq(weft_send(c, NULL), -EINVAL);
  ck_assert_int_eq(weft_send_dl(c, NULL, 0), -EINVAL);
  ck_assert_uint_eq(weft_chan_len(c), 0);
  weft_case cs[1] = {WEFT_SEND(c, NULL)};
  ck_assert_int_eq(weft_select_dl(cs, 1, 0), -EINVAL);
  ck_assert_uint_eq(weft_chan_len(c), 0);
  int v = 5;
  ck_assert_int_eq(weft_send(c, &v), 0);
  ck_assert_int_eq(weft_recv(c, NULL), 1); /* discarded */
  ck_assert_int_eq(weft_recv_dl(c, &v, 0), -ETIMEDOUT);
  weft_chan_unref(c);
  weft_chan *sig = weft_chan_make(0, 1);
  ck_assert_int_eq(weft_send(sig, NULL), 0); /* size 0: NULL is fine */
  ck_assert_int_eq(weft_recv(sig, NULL), 1);
  weft_chan_unref(sig);
}
END_TEST

/* ---- a plain thread's wait and signals ------------------------------------ */

/* A plain thread blocked in a receive without a deadline stays blocked
 * through signals that interrupt its futex wait (EINTR), then gets the
 * value: an interrupted wait is not a timeout. */
static atomic_int g_usr1_hits;
static void on_usr1(int sig) {
  (void)sig;
  atomic_fetch_add(&g_usr1_hits, 1);
}

typedef struct sig_recv {
  weft_chan *c;
  atomic_int rc; /* 99 until the receive returns */
  int v;
} sig_recv;

static void *recv_on_thread(void *arg) {
  sig_recv *s = arg;
  int v = 0;
  int rc = weft_recv(s->c, &v);
  s->v = v;
  atomic_store(&s->rc, rc); /* last: the test waits for it */
  return NULL;
}

START_TEST(test_thread_recv_survives_signals) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_usr1;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0; /* no SA_RESTART: the futex wait returns EINTR */
  ck_assert_int_eq(sigaction(SIGUSR1, &sa, NULL), 0);
  static sig_recv s = {.rc = 99};
  s.c = weft_chan_make(sizeof(int), 0);
  pthread_t th;
  ck_assert_int_eq(pthread_create(&th, NULL, recv_on_thread, &s), 0);
  ck_assert(WEFT_POLL_UNTIL(weft_test_queued(s.c, false) == 1, 10000));
  weft_test_os_sleep_ms(20); /* past the wait's spin, asleep in the futex */
  for (int i = 0; i < 10; i++) {
    int before = atomic_load(&g_usr1_hits);
    ck_assert_int_eq(pthread_kill(th, SIGUSR1), 0);
    ck_assert_msg(WEFT_POLL_UNTIL(atomic_load(&g_usr1_hits) > before, 5000),
                  "signal %d not handled", i);
  }
  weft_test_os_sleep_ms(20);
  ck_assert_msg(atomic_load(&s.rc) == 99,
                "the receive returned %d after signals, with nothing sent",
                atomic_load(&s.rc));
  int v = 42;
  ck_assert_int_eq(weft_send(s.c, &v), 0);
  pthread_join(th, NULL);
  ck_assert_int_eq(atomic_load(&s.rc), 1);
  ck_assert_int_eq(s.v, 42);
  weft_chan_unref(s.c);
}
END_TEST

WEFT_TEST_MAIN("chan", test_send_null_elem_is_einval, test_go_testchan, test_unbuffered_handoff, test_fifo,
               test_close_wakes_all, test_close_errors, test_nil_channel,
               test_nonblock, test_timed_out_waiters_leave, test_zero_size,
               test_large_elements, test_make_limits, test_ref_unref,
               test_free_after_last_op, test_free_by_closer, test_mpmc_goroutines,
               test_mpmc_mixed_threads, test_sieve,
               test_thread_recv_survives_signals)
