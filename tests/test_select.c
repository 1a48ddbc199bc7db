/* test_select.c -- Go's select, ported from test/chan/select*.go,
 * doubleselect.go and runtime/chan_test.go: a ready case is taken, the
 * choice among ready cases is uniform, non-blocking select (past deadline),
 * timeouts, zero cases and nil-channel cases, the same channel in several
 * cases, select racing with close, sends on closed channels, doubleselect,
 * plain threads, invalid arguments, and more cases than fit on the stack. */
#include <math.h>
#include <pthread.h>

#include "chan/chan.h"
#include "weft_test.h"

/* Check's ck_assert_* report every passing check to the parent through a
 * pipe (a system call each): hot loops use these, silent until they fail. */

/* ---- helpers ---------------------------------------------------------------- */


static weft_waitgroup g_wg = WEFT_WAITGROUP_INIT;

static weft_chan *mk(size_t cap) {
  weft_chan *c = weft_chan_make(sizeof(int), cap);
  ck_assert_ptr_nonnull(c);
  return c;
}

/* ---- a ready case is taken ---------------------------------------------------- */

typedef struct delayed {
  weft_chan *c;
  int value;
  int delay_ms;
  int close; /* close instead of sending */
} delayed;

static void delayed_op(void *arg) {
  delayed *d = arg;
  weft_sleep(d->delay_ms * WEFT_MS);
  if (d->close) {
    WEFT_EXPECT(weft_close(d->c) == 0, "close failed");
  } else {
    int rc = weft_send(d->c, &d->value);
    WEFT_EXPECT(rc == 0, "delayed send returned %d", rc);
  }
  weft_wg_done(&g_wg);
}

START_TEST(test_select_ready) {
  weft_procs(2);
  weft_chan *a = mk(1), *b = mk(1), *c = mk(0);
  int va = -1, vb = -1, vc = -1;
  /* Only b is ready. */
  ck_assert_int_eq(weft_send(b, &(int){22}), 0);
  weft_case cs[3] = {WEFT_RECV(a, &va), WEFT_RECV(b, &vb), WEFT_RECV(c, &vc)};
  cs[1].ok = 99;
  ck_assert_int_eq(weft_select(cs, 3), 1);
  ck_assert_int_eq(cs[1].ok, 1);
  ck_assert_int_eq(vb, 22);
  ck_assert_int_eq(va, -1);
  ck_assert_int_eq(vc, -1);
  ck_assert_uint_eq(weft_chan_len(b), 0);
  /* Only a send case is ready (a has room; c has no receiver). */
  int out = 5;
  weft_case ss[3] = {WEFT_RECV(b, &vb), WEFT_SEND(c, &out), WEFT_SEND(a, &out)};
  ck_assert_int_eq(weft_select(ss, 3), 2);
  ck_assert_uint_eq(weft_chan_len(a), 1);
  ck_assert_int_eq(weft_recv(a, &va), 1);
  ck_assert_int_eq(va, 5);
  /* Nothing ready: blocks until a goroutine sends on c, 20 ms later. */
  delayed d = {c, 33, 20, 0};
  weft_wg_add(&g_wg, 1);
  int64_t t0 = weft_now(); /* before the goroutine starts its sleep */
  go_or_die(delayed_op, &d);
  vc = -1;
  weft_case rs[3] = {WEFT_RECV(a, &va), WEFT_RECV(b, &vb), WEFT_RECV(c, &vc)};
  ck_assert_int_eq(weft_select(rs, 3), 2);
  ck_assert_int_ge(weft_now() - t0, 20 * WEFT_MS);
  ck_assert_int_eq(rs[2].ok, 1);
  ck_assert_int_eq(vc, 33);
  weft_wg_wait(&g_wg);
  /* A closed channel is ready: ok = 0 and the element zeroed. */
  ck_assert_int_eq(weft_close(b), 0);
  vb = 77;
  weft_case zs[2] = {WEFT_RECV(a, &va), WEFT_RECV(b, &vb)};
  zs[1].ok = 1;
  ck_assert_int_eq(weft_select(zs, 2), 1);
  ck_assert_int_eq(zs[1].ok, 0);
  ck_assert_int_eq(vb, 0);
  /* A NULL elem discards the value. */
  ck_assert_int_eq(weft_send(a, &(int){1}), 0);
  weft_case ns[1] = {WEFT_RECV(a, NULL)};
  ck_assert_int_eq(weft_select(ns, 1), 0);
  ck_assert_int_eq(ns[0].ok, 1);
  ck_assert_uint_eq(weft_chan_len(a), 0);
  weft_chan_unref(a);
  weft_chan_unref(b);
  weft_chan_unref(c);
  WEFT_ASSERT_NO_FAILURES();
}
END_TEST

/* ---- select6.go and select7.go: blocked parties of every kind meet ---------- */

static weft_chan *g_s6[3];

static void s6_recv1(void *arg) {
  (void)arg;
  weft_recv(g_s6[0], NULL);
  weft_wg_done(&g_wg);
}

static void s6_selector(void *arg) {
  (void)arg;
  weft_case cs[2] = {WEFT_RECV(g_s6[0], NULL), WEFT_RECV(g_s6[1], NULL)};
  int rc = weft_select(cs, 2);
  WEFT_EXPECT(rc == 1, "select6: the select took case %d", rc);
  int t = 1;
  weft_send(g_s6[2], &t);
  weft_recv(g_s6[0], NULL);
  weft_wg_done(&g_wg);
}

static void s6_c2(void *arg) {
  (void)arg;
  weft_send(g_s6[1], &(int){1});
  weft_wg_done(&g_wg);
}

/* select7.go: each way to receive against each way to send. */
static void recv_plain(weft_chan *c) { weft_recv(c, NULL); }
static void recv_select1(weft_chan *c) {
  weft_case cs[1] = {WEFT_RECV(c, NULL)};
  WEFT_EXPECT(weft_select(cs, 1) == 0, "one-case select");
}
static void recv_select2(weft_chan *c) {
  weft_chan *c2 = mk(0);
  weft_case cs[2] = {WEFT_RECV(c, NULL), WEFT_RECV(c2, NULL)};
  WEFT_EXPECT(weft_select(cs, 2) == 0, "two-case select");
  weft_chan_unref(c2);
}

typedef struct s7 {
  weft_chan *c;
  void (*recv)(weft_chan *);
} s7;

static void s7_receiver(void *arg) {
  s7 *a = arg;
  a->recv(a->c);
  weft_wg_done(&g_wg);
}

START_TEST(test_select_wakeups) {
  weft_procs(2);
  for (int i = 0; i < 3; i++)
    g_s6[i] = mk(0);
  weft_wg_add(&g_wg, 3);
  go_or_die(s6_recv1, NULL);
  go_or_die(s6_selector, NULL);
  go_or_die(s6_c2, NULL);
  int t;
  REQUIRE_EQ(weft_recv(g_s6[2], &t), 1);
  REQUIRE_EQ(weft_send(g_s6[0], &(int){1}), 0);
  REQUIRE_EQ(weft_send(g_s6[0], &(int){1}), 0);
  weft_wg_wait(&g_wg);
  for (int i = 0; i < 3; i++)
    weft_chan_unref(g_s6[i]);

  void (*recvs[3])(weft_chan *) = {recv_plain, recv_select1, recv_select2};
  for (int r = 0; r < 3; r++)
    for (int s = 0; s < 3; s++)
      for (int rep = 0; rep < 50; rep++) {
        s7 a = {mk(0), recvs[r]};
        weft_wg_add(&g_wg, 1);
        go_or_die(s7_receiver, &a);
        if (rep % 2)
          weft_yield();
        int one = 1;
        if (s == 0) {
          REQUIRE_EQ(weft_send(a.c, &one), 0);
        } else if (s == 1) {
          weft_case cs[1] = {WEFT_SEND(a.c, &one)};
          REQUIRE_EQ(weft_select(cs, 1), 0);
        } else {
          weft_chan *c2 = mk(0);
          weft_case cs[2] = {WEFT_SEND(a.c, &one), WEFT_SEND(c2, &one)};
          REQUIRE_EQ(weft_select(cs, 2), 0);
          weft_chan_unref(c2);
        }
        weft_wg_wait(&g_wg);
        weft_chan_unref(a.c);
      }
  WEFT_ASSERT_NO_FAILURES();
}
END_TEST

/* ---- uniform choice among ready cases ---------------------------------------- */

#define UNI_N 40000

static void check_uniform(const int *counts, int k, int total) {
  double expect = (double)total / k, chi2 = 0;
  for (int i = 0; i < k; i++) {
    ck_assert_msg(fabs(counts[i] - expect) <= 0.15 * expect,
                  "case %d chosen %d times of %d (expected %.0f)", i, counts[i],
                  total, expect);
    chi2 += (counts[i] - expect) * (counts[i] - expect) / expect;
  }
  /* k - 1 degrees of freedom; this bound fails with p < 1e-9. */
  double bound = (k - 1) + 14.0 * sqrt(2.0 * (k - 1)) + 30;
  ck_assert_msg(chi2 < bound, "chi-square %.1f over %d cases (bound %.1f)",
                chi2, k, bound);
}

START_TEST(test_select_uniform) {
  /* 4 always-ready receive cases. */
  weft_chan *c[4];
  int v[4], counts[4] = {0};
  weft_case cs[4];
  for (int i = 0; i < 4; i++) {
    c[i] = mk(1);
    REQUIRE_EQ(weft_send(c[i], &i), 0);
    cs[i] = WEFT_RECV(c[i], &v[i]);
  }
  for (int n = 0; n < UNI_N; n++) {
    int i = weft_select(cs, 4);
    REQUIRE(i >= 0 && i < 4);
    REQUIRE_EQ(v[i], i);
    REQUIRE_EQ(cs[i].ok, 1);
    counts[i]++;
    REQUIRE_EQ(weft_send_dl(c[i], &i, 0), 0); /* refill */
  }
  check_uniform(counts, 4, UNI_N);

  /* Two ready sends and two ready receives, non-blocking. */
  int sc[4] = {0};
  weft_chan *room[2] = {mk(1), mk(1)};
  int one = 1;
  weft_case mix[4] = {WEFT_SEND(room[0], &one), WEFT_RECV(c[0], &v[0]),
                      WEFT_SEND(room[1], &one), WEFT_RECV(c[1], &v[1])};
  for (int n = 0; n < UNI_N; n++) {
    int i = weft_select_dl(mix, 4, 0);
    REQUIRE(i >= 0 && i < 4);
    sc[i]++;
    if (i == 0 || i == 2)
      REQUIRE_EQ(weft_recv_dl(room[i / 2], NULL, 0), 1); /* make room */
    else
      REQUIRE_EQ(weft_send_dl(c[i / 2], &(int){i / 2}, 0), 0);
  }
  check_uniform(sc, 4, UNI_N);
  for (int i = 0; i < 4; i++)
    weft_chan_unref(c[i]);
  weft_chan_unref(room[0]);
  weft_chan_unref(room[1]);
}
END_TEST

/* TestSelectFairness: a goroutine selecting over two always-ready channels
 * (and two never-ready ones) takes each about half the time. */
#define FAIR_TRIALS 10000
static void fair_selector(void *arg) {
  weft_chan **ch = arg; /* c1 c2 c3 c4 out done */
  for (;;) {
    unsigned char b = 0;
    weft_case in[4] = {WEFT_RECV(ch[2], &b), WEFT_RECV(ch[3], &b),
                       WEFT_RECV(ch[0], &b), WEFT_RECV(ch[1], &b)};
    WEFT_EXPECT(weft_select(in, 4) >= 2, "a never-ready channel was chosen");
    weft_case o[2] = {WEFT_SEND(ch[4], &b), WEFT_RECV(ch[5], NULL)};
    if (weft_select(o, 2) == 1)
      break;
  }
  weft_wg_done(&g_wg);
}

START_TEST(test_select_fairness) {
  weft_procs(2);
  weft_chan *ch[6];
  ch[0] = weft_chan_make(1, FAIR_TRIALS + 1);
  ch[1] = weft_chan_make(1, FAIR_TRIALS + 1);
  for (int i = 0; i < FAIR_TRIALS + 1; i++) {
    REQUIRE_EQ(weft_send(ch[0], &(unsigned char){1}), 0);
    REQUIRE_EQ(weft_send(ch[1], &(unsigned char){2}), 0);
  }
  for (int i = 2; i < 6; i++)
    ch[i] = weft_chan_make(1, 0);
  weft_wg_add(&g_wg, 1);
  go_or_die(fair_selector, ch);
  int cnt1 = 0, cnt2 = 0;
  for (int i = 0; i < FAIR_TRIALS; i++) {
    unsigned char b = 0;
    REQUIRE_EQ(weft_recv(ch[4], &b), 1);
    REQUIRE(b == 1 || b == 2);
    if (b == 1)
      cnt1++;
    else
      cnt2++;
  }
  double r = (double)cnt1 / FAIR_TRIALS;
  ck_assert_msg(fabs(r - 0.5) <= 4.891676 / (2 * sqrt(FAIR_TRIALS)),
                "unfair select: %d, %d", cnt1, cnt2);
  REQUIRE_EQ(weft_close(ch[5]), 0);
  weft_wg_wait(&g_wg);
  WEFT_ASSERT_NO_FAILURES();
  for (int i = 0; i < 6; i++)
    weft_chan_unref(ch[i]);
}
END_TEST

/* TestPseudoRandomSend: two send cases on one channel, sending 1 and 0.
 * Go's receiver yields before each receive, so that the select has usually
 * blocked by then; here the receiver waits until the select is queued on
 * the channel (read from the internals), so that every round tests the
 * blocked path, where Go's choice is still random: a select enqueues its
 * cases in its random lock order, not in case order. */
#define PRS_N 100
static int g_prs[PRS_N];

static void prs_receiver(void *arg) {
  weft_chan *c = arg;
  for (int i = 0; i < PRS_N; i++) {
    weft_yield();
    if (weft_chan_cap(c) == 0)
      while (weft_test_queued(c, true) < 2)
        weft_yield();
    weft_recv(c, &g_prs[i]);
  }
  weft_wg_done(&g_wg);
}

static atomic_int g_prr_idx[2];

static void prr_selector(void *arg) {
  weft_chan *c = arg;
  for (int i = 0; i < PRS_N; i++) {
    int v;
    weft_case cs[2] = {WEFT_RECV(c, &v), WEFT_RECV(c, &v)};
    int k = weft_select(cs, 2);
    WEFT_EXPECT(k == 0 || k == 1, "select returned %d", k);
    if (k == 0 || k == 1)
      atomic_fetch_add(&g_prr_idx[k], 1);
  }
  weft_wg_done(&g_wg);
}

START_TEST(test_pseudo_random_send) {
  weft_procs(2);
  for (size_t cap = 0; cap <= PRS_N; cap += PRS_N) {
    weft_chan *c = mk(cap);
    weft_wg_add(&g_wg, 1);
    go_or_die(prs_receiver, c);
    for (int i = 0; i < PRS_N; i++) {
      int one = 1, zero = 0;
      weft_case cs[2] = {WEFT_SEND(c, &one), WEFT_SEND(c, &zero)};
      int k = weft_select(cs, 2);
      REQUIRE(k == 0 || k == 1);
    }
    weft_wg_wait(&g_wg);
    int n1 = 0;
    for (int i = 0; i < PRS_N; i++) {
      ck_assert(g_prs[i] == 0 || g_prs[i] == 1);
      n1 += g_prs[i];
    }
    ck_assert_msg(n1 > PRS_N / 10 && n1 < PRS_N - PRS_N / 10,
                  "want pseudorandom, got %d ones of %d (chan cap %zu)", n1,
                  PRS_N, cap);
    weft_chan_unref(c);
  }
  /* The same for two blocked receive cases on one channel. */
  weft_chan *c = mk(0);
  weft_wg_add(&g_wg, 1);
  go_or_die(prr_selector, c);
  for (int i = 0; i < PRS_N; i++) {
    int64_t until = weft_now() + 10 * WEFT_SEC;
    while (weft_test_queued(c, false) < 2 && weft_now() < until)
      sched_yield();
    REQUIRE(weft_test_queued(c, false) == 2);
    REQUIRE_EQ(weft_send(c, &i), 0);
  }
  weft_wg_wait(&g_wg);
  WEFT_ASSERT_NO_FAILURES();
  int k0 = atomic_load(&g_prr_idx[0]), k1 = atomic_load(&g_prr_idx[1]);
  ck_assert_msg(k0 > PRS_N / 10 && k1 > PRS_N / 10,
                "blocked select on one channel twice: cases taken %d and %d "
                "times",
                k0, k1);
  weft_chan_unref(c);
}
END_TEST

/* ---- non-blocking select ---------------------------------------------------- */

START_TEST(test_select_nonblocking) {
  weft_chan *a = mk(0), *b = mk(1);
  int v = 5;
  ck_assert_int_eq(weft_send(b, &v), 0); /* b full */
  const int64_t past[] = {0, INT64_MIN, weft_now() - WEFT_SEC, weft_now()};
  for (int k = 0; k < 4; k++) {
    /* Nothing can run: recv on empty unbuffered, send on full. */
    weft_case cs[3] = {WEFT_RECV(a, &v), WEFT_SEND(b, &v), WEFT_SEND(a, &v)};
    int64_t t0 = weft_now();
    ck_assert_int_eq(weft_select_dl(cs, 3, past[k]), -ETIMEDOUT);
    ck_assert_int_lt(weft_now() - t0, 500 * WEFT_MS);
  }
  ck_assert_uint_eq(weft_chan_len(b), 1);
  /* Something ready: taken, without blocking. */
  int w = -1;
  weft_case cs[2] = {WEFT_RECV(a, &v), WEFT_RECV(b, &w)};
  ck_assert_int_eq(weft_select_dl(cs, 2, 0), 1);
  ck_assert_int_eq(w, 5);
  ck_assert_int_eq(weft_select_dl(cs, 2, 0), -ETIMEDOUT);
  /* No waiter was left behind on a or b by the failed selects. */
  ck_assert_int_eq(weft_send_dl(a, &v, 0), -ETIMEDOUT);
  weft_chan_unref(a);
  weft_chan_unref(b);
}
END_TEST

/* TestNonblockSelectRace and ...Race2: from the moment the goroutine is
 * created, c1 or c2 is always ready, so its non-blocking select must never
 * take the default. */
static void nbsr_selector(void *arg) {
  weft_chan **ch = arg; /* c1, c2, done */
  weft_case cs[2] = {WEFT_RECV(ch[0], NULL), WEFT_RECV(ch[1], NULL)};
  int rc = weft_select_dl(cs, 2, 0);
  int ok = rc == 0 || rc == 1;
  weft_send(ch[2], &ok);
}

#define NBSR_N WEFT_SCALE(3000)

START_TEST(test_nonblock_select_race) {
  weft_procs(4);
  weft_chan *done = mk(1);
  for (int variant = 0; variant < 2; variant++)
    for (int i = 0; i < NBSR_N; i++) {
      weft_chan *ch[3] = {mk(1), mk(variant ? 0 : 1), done};
      REQUIRE_EQ(weft_send(ch[0], &(int){1}), 0);
      go_or_die(nbsr_selector, ch);
      if (variant)
        REQUIRE_EQ(weft_close(ch[1]), 0);
      else
        REQUIRE_EQ(weft_send(ch[1], &(int){1}), 0);
      weft_case cs[1] = {WEFT_RECV(ch[0], NULL)};
      weft_select_dl(cs, 1, 0);
      int ok = 0;
      REQUIRE_EQ(weft_recv(done, &ok), 1);
      ck_assert_msg(ok, "variant %d iteration %d: no channel was ready", variant,
                    i);
      weft_chan_unref(ch[0]);
      weft_chan_unref(ch[1]);
    }
  weft_chan_unref(done);
}
END_TEST

/* TestNonblockRecvRace: a buffered value is there when the goroutine's
 * non-blocking select runs, whatever close does meanwhile. */
static void nbrr_selector(void *arg) {
  weft_case cs[1] = {WEFT_RECV(arg, NULL)};
  int rc = weft_select_dl(cs, 1, 0);
  WEFT_EXPECT(rc == 0, "chan is not ready: %d", rc);
  weft_wg_done(&g_wg);
}

START_TEST(test_nonblock_recv_race) {
  weft_procs(4);
  for (int i = 0; i < NBSR_N; i++) {
    weft_chan *c = mk(1);
    REQUIRE_EQ(weft_send(c, &(int){1}), 0);
    weft_wg_add(&g_wg, 1);
    go_or_die(nbrr_selector, c);
    REQUIRE_EQ(weft_close(c), 0);
    weft_recv(c, NULL); /* the value or the close: either way no block */
    weft_wg_wait(&g_wg);
    weft_chan_unref(c);
  }
  WEFT_ASSERT_NO_FAILURES();
}
END_TEST

/* ---- timeouts ------------------------------------------------------------------ */

#define SEL_WAIT (30 * WEFT_MS)

static void timed_select(void *arg) {
  weft_chan *c = arg;
  int v;
  weft_case cs[2] = {WEFT_RECV(c, &v), WEFT_SEND(c, &v)};
  cs[1].chan = NULL; /* never ready */
  int64_t t0 = weft_now();
  int rc = weft_select_dl(cs, 2, t0 + SEL_WAIT);
  int64_t el = weft_now() - t0;
  WEFT_EXPECT(rc == -ETIMEDOUT, "select returned %d", rc);
  WEFT_EXPECT(el >= SEL_WAIT, "select timed out after %lld ns", (long long)el);
  WEFT_EXPECT(el < 10 * WEFT_SEC, "select timed out after %lld ns",
              (long long)el);
  weft_wg_done(&g_wg);
}

START_TEST(test_select_timeout) {
  weft_procs(2);
  weft_chan *c = mk(0), *d = mk(1);
  ck_assert_int_eq(weft_send(d, &(int){1}), 0); /* d full */
  int v = 0;
  /* Main thread. */
  for (int k = 0; k < 3; k++) {
    weft_case cs[2] = {WEFT_RECV(c, &v), WEFT_SEND(d, &v)};
    int64_t t0 = weft_now();
    ck_assert_int_eq(weft_select_dl(cs, 2, t0 + SEL_WAIT), -ETIMEDOUT);
    int64_t el = weft_now() - t0;
    ck_assert_int_ge(el, SEL_WAIT);
    ck_assert_int_lt(el, 10 * WEFT_SEC);
  }
  /* Timed-out selects leave no waiter behind. */
  ck_assert_int_eq(weft_send_dl(c, &v, 0), -ETIMEDOUT);
  ck_assert_int_eq(weft_recv(d, &v), 1);
  ck_assert_int_eq(weft_recv_dl(d, &v, 0), -ETIMEDOUT);
  /* Many goroutines at once, on one channel. */
  weft_wg_add(&g_wg, 20);
  for (int i = 0; i < 20; i++)
    go_or_die(timed_select, c);
  weft_wg_wait(&g_wg);
  WEFT_ASSERT_NO_FAILURES();
  ck_assert_int_eq(weft_send_dl(c, &v, 0), -ETIMEDOUT);
  /* A value that arrives before the deadline wins. */
  delayed dl = {c, 44, 10, 0};
  weft_wg_add(&g_wg, 1);
  go_or_die(delayed_op, &dl);
  v = 0;
  weft_case cs[1] = {WEFT_RECV(c, &v)};
  ck_assert_int_eq(weft_select_dl(cs, 1, weft_now() + 10 * WEFT_SEC), 0);
  ck_assert_int_eq(v, 44);
  weft_wg_wait(&g_wg);
  weft_chan_unref(c);
  weft_chan_unref(d);
}
END_TEST

static atomic_int g_forever_returned;
static void select_forever(void *arg) {
  (void)arg;
  weft_select(NULL, 0); /* blocks for good */
  atomic_store(&g_forever_returned, 1);
}

START_TEST(test_select_zero_cases) {
  weft_procs(2);
  int64_t t0 = weft_now();
  ck_assert_int_eq(weft_select_dl(NULL, 0, t0 + SEL_WAIT), -ETIMEDOUT);
  ck_assert_int_ge(weft_now() - t0, SEL_WAIT);
  weft_case dummy[1];
  t0 = weft_now();
  ck_assert_int_eq(weft_select_dl(dummy, 0, t0 + SEL_WAIT), -ETIMEDOUT);
  ck_assert_int_ge(weft_now() - t0, SEL_WAIT);
  t0 = weft_now();
  ck_assert_int_eq(weft_select_dl(NULL, 0, 0), -ETIMEDOUT);
  ck_assert_int_lt(weft_now() - t0, 500 * WEFT_MS);
  go_or_die(select_forever, NULL);
  weft_test_os_sleep_ms(100);
  ck_assert_int_eq(atomic_load(&g_forever_returned), 0);
}
END_TEST

static void nil_select_goroutine(void *arg) {
  (void)arg;
  int v = 0;
  weft_case cs[3] = {WEFT_RECV(NULL, &v), WEFT_SEND(NULL, &v),
                     WEFT_RECV(NULL, NULL)};
  int64_t t0 = weft_now();
  int rc = weft_select_dl(cs, 3, t0 + SEL_WAIT);
  WEFT_EXPECT(rc == -ETIMEDOUT && weft_now() - t0 >= SEL_WAIT,
              "nil select returned %d after %lld ns", rc,
              (long long)(weft_now() - t0));
  weft_wg_done(&g_wg);
}

START_TEST(test_select_nil_cases) {
  weft_procs(2);
  int v = 0;
  weft_case cs[3] = {WEFT_RECV(NULL, &v), WEFT_SEND(NULL, &v),
                     WEFT_RECV(NULL, NULL)};
  int64_t t0 = weft_now();
  REQUIRE_EQ(weft_select_dl(cs, 3, t0 + SEL_WAIT), -ETIMEDOUT);
  ck_assert_int_ge(weft_now() - t0, SEL_WAIT);
  REQUIRE_EQ(weft_select_dl(cs, 3, 0), -ETIMEDOUT);
  weft_wg_add(&g_wg, 4);
  for (int i = 0; i < 4; i++)
    go_or_die(nil_select_goroutine, NULL);
  weft_wg_wait(&g_wg);
  WEFT_ASSERT_NO_FAILURES();
  /* Beside a ready channel, nil cases are never chosen. */
  weft_chan *c = mk(1);
  for (int n = 0; n < 2000; n++) {
    REQUIRE_EQ(weft_send(c, &n), 0);
    int w = -1;
    weft_case ms[5] = {WEFT_SEND(NULL, &v), WEFT_RECV(NULL, &v),
                       WEFT_RECV(c, &w), WEFT_RECV(NULL, &v),
                       WEFT_SEND(NULL, &v)};
    REQUIRE_EQ(weft_select(ms, 5), 2);
    REQUIRE_EQ(w, n);
  }
  /* ... and a blocked select with nil cases is woken through the real one. */
  delayed dl = {c, 9, 10, 0};
  weft_wg_add(&g_wg, 1);
  go_or_die(delayed_op, &dl);
  int w = -1;
  weft_case ms[3] = {WEFT_RECV(NULL, &v), WEFT_RECV(c, &w),
                     WEFT_SEND(NULL, &v)};
  REQUIRE_EQ(weft_select(ms, 3), 1);
  REQUIRE_EQ(w, 9);
  weft_wg_wait(&g_wg);
  weft_chan_unref(c);
}
END_TEST

/* ---- the same channel in several cases --------------------------------------- */

/* TestSelfSelect: send and receive cases on one channel, from two
 * goroutines: on an unbuffered channel nobody receives its own value. */
typedef struct self_arg {
  weft_chan *c;
  int p;
  size_t cap;
} self_arg;

#define SELF_N WEFT_SCALE(10000)

static void self_select(void *arg) {
  self_arg *a = arg;
  for (int i = 0; i < SELF_N; i++) {
    int out = a->p, in = -1;
    int rc;
    if (a->p == 0 || i % 2 == 0) {
      weft_case cs[2] = {WEFT_SEND(a->c, &out), WEFT_RECV(a->c, &in)};
      rc = weft_select(cs, 2);
      WEFT_EXPECT(rc == 0 || (rc == 1 && cs[1].ok), "select returned %d", rc);
      if (rc == 1)
        WEFT_EXPECT(a->cap != 0 || in != a->p, "self receive (p %d)", a->p);
    } else {
      weft_case cs[2] = {WEFT_RECV(a->c, &in), WEFT_SEND(a->c, &out)};
      rc = weft_select(cs, 2);
      WEFT_EXPECT(rc == 1 || (rc == 0 && cs[0].ok), "select returned %d", rc);
      if (rc == 0)
        WEFT_EXPECT(a->cap != 0 || in != a->p, "self receive (p %d)", a->p);
    }
  }
  weft_wg_done(&g_wg);
}

/* TestSelectDuplicateChannel: a select with two cases on c is woken through
 * d; c's queue must not be corrupted for B, queued on c behind it. */
static atomic_int g_dup_b_queued;
static void dup_a(void *arg) {
  weft_chan **ch = arg; /* c, d, e */
  int v;
  weft_case cs[3] = {WEFT_RECV(ch[0], &v), WEFT_RECV(ch[0], &v),
                     WEFT_RECV(ch[1], &v)};
  int rc = weft_select(cs, 3);
  WEFT_EXPECT(rc == 2 && v == 7, "A took case %d v %d", rc, v);
  weft_send(ch[2], &(int){9});
  weft_wg_done(&g_wg);
}

static void dup_b(void *arg) {
  weft_chan **ch = arg;
  int v = -1;
  atomic_store(&g_dup_b_queued, 1);
  int rc = weft_recv(ch[0], &v);
  WEFT_EXPECT(rc == 1 && v == 8, "B got rc %d v %d", rc, v);
  weft_wg_done(&g_wg);
}

static atomic_int g_multi_idx[3];
static void multi_recv_cases(void *arg) {
  weft_chan *c = arg;
  int v, n = 0;
  for (;;) {
    weft_case cs[3] = {WEFT_RECV(c, &v), WEFT_RECV(c, &v), WEFT_RECV(c, &v)};
    int rc = weft_select(cs, 3);
    WEFT_EXPECT(rc >= 0 && rc < 3, "select returned %d", rc);
    if (rc < 0 || !cs[rc].ok)
      break;
    WEFT_EXPECT(v == n, "got %d, want %d", v, n);
    n++;
    atomic_fetch_add(&g_multi_idx[rc], 1);
  }
  weft_wg_done(&g_wg);
}

START_TEST(test_select_same_channel) {
  weft_procs(2);
  for (size_t cap = 0; cap <= 10; cap += 10) {
    weft_chan *c = mk(cap);
    self_arg a[2] = {{c, 0, cap}, {c, 1, cap}};
    weft_wg_add(&g_wg, 2);
    go_or_die(self_select, &a[0]);
    go_or_die(self_select, &a[1]);
    weft_wg_wait(&g_wg);
    WEFT_ASSERT_NO_FAILURES();
    weft_chan_unref(c);
  }

  for (int rep = 0; rep < 20; rep++) {
    weft_chan *ch[3] = {mk(0), mk(0), mk(0)};
    atomic_store(&g_dup_b_queued, 0);
    weft_wg_add(&g_wg, 2);
    go_or_die(dup_a, ch);
    weft_test_os_sleep_ms(1);
    go_or_die(dup_b, ch);
    REQUIRE(WEFT_POLL_UNTIL(atomic_load(&g_dup_b_queued), 5000));
    weft_test_os_sleep_ms(1);
    REQUIRE_EQ(weft_send(ch[1], &(int){7}), 0);
    int e = 0;
    REQUIRE_EQ(weft_recv(ch[2], &e), 1);
    REQUIRE_EQ(e, 9);
    REQUIRE_EQ(weft_send(ch[0], &(int){8}), 0);
    weft_wg_wait(&g_wg);
    WEFT_ASSERT_NO_FAILURES();
    for (int i = 0; i < 3; i++)
      weft_chan_unref(ch[i]);
  }

  /* Three receive cases on one channel, against a sender: FIFO values,
   * each received once. */
  for (size_t cap = 0; cap <= 4; cap += 4) {
    weft_chan *c = mk(cap);
    for (int i = 0; i < 3; i++)
      atomic_store(&g_multi_idx[i], 0);
    weft_wg_add(&g_wg, 1);
    go_or_die(multi_recv_cases, c);
    for (int i = 0; i < 3000; i++)
      REQUIRE_EQ(weft_send(c, &i), 0);
    REQUIRE_EQ(weft_close(c), 0);
    weft_wg_wait(&g_wg);
    WEFT_ASSERT_NO_FAILURES();
    int total = 0;
    for (int i = 0; i < 3; i++)
      total += atomic_load(&g_multi_idx[i]);
    REQUIRE_EQ(total, 3000);
    weft_chan_unref(c);
  }
  /* When the channel is ready, each of the three cases is as likely. */
  weft_chan *c = mk(UNI_N);
  for (int i = 0; i < UNI_N; i++)
    REQUIRE_EQ(weft_send(c, &i), 0);
  int counts[3] = {0}, v = -1;
  for (int i = 0; i < UNI_N; i++) {
    weft_case cs[3] = {WEFT_RECV(c, &v), WEFT_RECV(c, &v), WEFT_RECV(c, &v)};
    int k = weft_select(cs, 3);
    REQUIRE(k >= 0 && k < 3);
    REQUIRE_EQ(v, i);
    counts[k]++;
  }
  check_uniform(counts, 3, UNI_N);
  weft_chan_unref(c);
}
END_TEST

/* ---- select racing with close ------------------------------------------------ */

#define CR_ITERS WEFT_SCALE(3000)
#define CR_G 4
static atomic_int g_cr_parked;

static void cr_selector(void *arg) {
  weft_chan **ch = arg; /* c (to be closed), d and e (never ready) */
  int v = 1234, w = -1;
  atomic_fetch_add(&g_cr_parked, 1);
  weft_case cs[3] = {WEFT_RECV(ch[1], &w), WEFT_RECV(ch[0], &v),
                     WEFT_SEND(ch[2], &w)};
  int rc = weft_select(cs, 3);
  WEFT_EXPECT(rc == 1 && cs[1].ok == 0 && v == 0,
              "select on closing channel: rc %d ok %d v %d", rc,
              rc >= 0 && rc < 3 ? cs[rc].ok : -1, v);
  weft_wg_done(&g_wg);
}

static void cr_timed_selector(void *arg) {
  weft_chan **ch = arg;
  int v = 1234;
  weft_case cs[2] = {WEFT_RECV(ch[1], NULL), WEFT_RECV(ch[0], &v)};
  int rc = weft_select_dl(cs, 2, weft_now() + 20 * WEFT_US);
  WEFT_EXPECT(rc == -ETIMEDOUT || (rc == 1 && cs[1].ok == 0 && v == 0),
              "timed select on closing channel: rc %d v %d", rc, v);
  weft_wg_done(&g_wg);
}

START_TEST(test_select_close_race) {
  weft_procs(4);
  for (int i = 0; i < CR_ITERS; i++) {
    weft_chan *ch[3] = {weft_chan_make(sizeof(int), i % 2),
                        weft_chan_make(sizeof(int), 0),
                        weft_chan_make(sizeof(int), 0)};
    atomic_store(&g_cr_parked, 0);
    weft_wg_add(&g_wg, CR_G + 1);
    for (int k = 0; k < CR_G; k++)
      go_or_die(cr_selector, ch);
    go_or_die(cr_timed_selector, ch);
    if (i % 3 == 0) /* sometimes let them park first */
      while (atomic_load(&g_cr_parked) < CR_G)
        sched_yield();
    REQUIRE_EQ(weft_close(ch[0]), 0);
    weft_wg_wait(&g_wg);
    /* All their waiters on d and e are gone. */
    REQUIRE_EQ(weft_send_dl(ch[1], &(int){1}, 0), -ETIMEDOUT);
    REQUIRE_EQ(weft_recv_dl(ch[2], NULL, 0), -ETIMEDOUT);
    for (int k = 0; k < 3; k++)
      weft_chan_unref(ch[k]);
  }
  WEFT_ASSERT_NO_FAILURES();
}
END_TEST

/* ---- send cases on closed channels ---------------------------------------- */

static void blocked_send_select(void *arg) {
  weft_chan **ch = arg;
  int v = 1;
  weft_case cs[2] = {WEFT_SEND(ch[0], &v), WEFT_RECV(ch[1], &v)};
  int rc = weft_select(cs, 2);
  WEFT_EXPECT(rc == -EPIPE, "blocked send case on closed channel: %d", rc);
  weft_wg_done(&g_wg);
}

START_TEST(test_select_send_closed) {
  weft_procs(2);
  weft_chan *c = mk(1);
  ck_assert_int_eq(weft_close(c), 0);
  int v = 1;
  weft_case cs[1] = {WEFT_SEND(c, &v)};
  ck_assert_int_eq(weft_select(cs, 1), -EPIPE);
  ck_assert_int_eq(weft_select_dl(cs, 1, 0), -EPIPE);
  ck_assert_uint_eq(weft_chan_len(c), 0);
  /* Beside a never-ready case, the closed send is still chosen. */
  weft_chan *never = mk(0);
  weft_case cs2[2] = {WEFT_RECV(never, &v), WEFT_SEND(c, &v)};
  ck_assert_int_eq(weft_select(cs2, 2), -EPIPE);
  /* A select blocked in a send case, then the channel is closed. */
  for (size_t cap = 0; cap <= 1; cap++) {
    weft_chan *ch[2] = {mk(cap), mk(0)};
    if (cap)
      ck_assert_int_eq(weft_send(ch[0], &v), 0);
    weft_wg_add(&g_wg, 3);
    for (int i = 0; i < 3; i++)
      go_or_die(blocked_send_select, ch);
    weft_test_os_sleep_ms(20);
    ck_assert_int_eq(weft_close(ch[0]), 0);
    weft_wg_wait(&g_wg);
    WEFT_ASSERT_NO_FAILURES();
    ck_assert_int_eq(weft_send_dl(ch[1], &v, 0), -ETIMEDOUT);
    weft_chan_unref(ch[0]);
    weft_chan_unref(ch[1]);
  }
  weft_chan_unref(c);
  weft_chan_unref(never);
}
END_TEST

/* ---- doubleselect.go ---------------------------------------------------------- */

#define DS_N WEFT_SCALE(30000)
static atomic_uchar *g_ds_seen;
static atomic_int g_ds_count;

static void ds_sender(void *arg) {
  weft_chan **c = arg;
  for (int i = 0; i < DS_N; i++) {
    weft_case cs[4] = {WEFT_SEND(c[0], &i), WEFT_SEND(c[1], &i),
                       WEFT_SEND(c[2], &i), WEFT_SEND(c[3], &i)};
    int rc = weft_select(cs, 4);
    WEFT_EXPECT(rc >= 0 && rc < 4, "sender select returned %d", rc);
  }
  for (int k = 0; k < 4; k++)
    weft_close(c[k]);
  weft_wg_done(&g_wg);
}

typedef struct mux_arg {
  weft_chan *out, *in, *done;
} mux_arg;

static void ds_mux(void *arg) {
  mux_arg *m = arg;
  int v;
  while (weft_recv(m->in, &v) == 1)
    weft_send(m->out, &v);
  weft_send(m->done, &(int){1});
}

static void ds_closer(void *arg) {
  mux_arg *m = arg;
  for (int k = 0; k < 4; k++)
    weft_recv(m->done, NULL);
  weft_close(m->out);
  weft_wg_done(&g_wg);
}

static void ds_record(int v) {
  if (v < 0 || v >= DS_N) {
    WEFT_EXPECT(0, "out-of-range value %d", v);
    return;
  }
  int prev = atomic_fetch_add(&g_ds_seen[v], 1);
  WEFT_EXPECT(prev == 0, "got duplicate value %d", v);
  atomic_fetch_add(&g_ds_count, 1);
}

/* Receivers selecting directly over the four channels, Go's idiom: a
 * closed channel's case is disabled by setting it to nil. */
static void ds_select_receiver(void *arg) {
  weft_chan **c = arg;
  int v;
  weft_case cs[4];
  for (int k = 0; k < 4; k++)
    cs[k] = WEFT_RECV(c[k], &v);
  int open = 4;
  while (open > 0) {
    int rc = weft_select(cs, 4);
    if (rc < 0 || rc >= 4) {
      WEFT_EXPECT(0, "receiver select returned %d", rc);
      break;
    }
    if (cs[rc].ok) {
      ds_record(v);
    } else {
      cs[rc].chan = NULL;
      open--;
    }
  }
  weft_wg_done(&g_wg);
}

static void ds_reset(void) {
  free(g_ds_seen);
  g_ds_seen = calloc(DS_N, 1);
  atomic_store(&g_ds_count, 0);
}

static void ds_check(void) {
  WEFT_ASSERT_NO_FAILURES();
  ck_assert_int_eq(atomic_load(&g_ds_count), DS_N);
  for (int i = 0; i < DS_N; i++)
    ck_assert_msg(atomic_load(&g_ds_seen[i]) == 1, "value %d seen %d times", i,
                  atomic_load(&g_ds_seen[i]));
}

START_TEST(test_doubleselect) {
  weft_procs(2);
  /* The original: four muxes into one channel, received on the main
   * thread. */
  ds_reset();
  weft_chan *c[4];
  for (int k = 0; k < 4; k++)
    c[k] = mk(0);
  weft_chan *cmux = mk(0), *done = mk(0);
  mux_arg m[4];
  weft_wg_add(&g_wg, 2);
  go_or_die(ds_sender, c);
  for (int k = 0; k < 4; k++) {
    m[k] = (mux_arg){cmux, c[k], done};
    go_or_die(ds_mux, &m[k]);
  }
  go_or_die(ds_closer, &m[0]);
  int v;
  while (weft_recv(cmux, &v) == 1)
    ds_record(v);
  weft_wg_wait(&g_wg);
  ds_check();
  for (int k = 0; k < 4; k++)
    weft_chan_unref(c[k]);
  weft_chan_unref(cmux);
  weft_chan_unref(done);

  /* Selecting on both ends, on 4 Ps' worth of goroutines, buffered and
   * not. */
  for (size_t cap = 0; cap <= 2; cap += 2) {
    ds_reset();
    for (int k = 0; k < 4; k++)
      c[k] = mk(cap);
    weft_wg_add(&g_wg, 4);
    for (int r = 0; r < 3; r++)
      go_or_die(ds_select_receiver, c);
    go_or_die(ds_sender, c);
    weft_wg_wait(&g_wg);
    ds_check();
    for (int k = 0; k < 4; k++)
      weft_chan_unref(c[k]);
  }
  free(g_ds_seen);
}
END_TEST

/* ---- plain threads ------------------------------------------------------------ */

#define TH_N WEFT_SCALE(5000)

typedef struct range_arg {
  weft_chan *c;
  int from, to;
} range_arg;

static void range_sender(void *arg) {
  range_arg *a = arg;
  for (int i = a->from; i < a->to; i++) {
    int rc = weft_send(a->c, &i);
    WEFT_EXPECT(rc == 0, "send returned %d", rc);
  }
  weft_wg_done(&g_wg);
}

static weft_waitgroup g_senders = WEFT_WAITGROUP_INIT;

static void select_sender(void *arg) {
  range_arg *a = arg; /* a->c is an array of two channels */
  weft_chan **c = (weft_chan **)a->c;
  for (int i = a->from; i < a->to; i++) {
    weft_case cs[2] = {WEFT_SEND(c[0], &i), WEFT_SEND(c[1], &i)};
    int rc = weft_select(cs, 2);
    WEFT_EXPECT(rc == 0 || rc == 1, "select returned %d", rc);
  }
  weft_wg_done(&g_senders);
}

static atomic_uchar g_th_seen[3 * TH_N];

/* Receives until both channels are closed and drained (a closed one's
 * case is disabled by setting it to nil). */
static void select_receiver(void *arg) {
  weft_chan **c = arg;
  int v;
  weft_case cs[2] = {WEFT_RECV(c[0], &v), WEFT_RECV(c[1], &v)};
  for (int open = 2; open > 0;) {
    int rc = weft_select(cs, 2);
    if (rc < 0 || rc > 1) {
      WEFT_EXPECT(0, "select returned %d", rc);
      break;
    }
    if (!cs[rc].ok) {
      cs[rc].chan = NULL;
      open--;
      continue;
    }
    if (v >= 0 && v < 3 * TH_N)
      atomic_fetch_add(&g_th_seen[v], 1);
  }
  weft_wg_done(&g_wg);
}

START_TEST(test_select_threads) {
  weft_procs(2);
  /* The main thread selects over channels fed by two goroutines and a
   * plain thread. */
  weft_chan *c[2] = {mk(0), mk(3)};
  range_arg ra[3] = {{c[0], 0, TH_N}, {c[1], TH_N, 2 * TH_N},
                     {c[0], 2 * TH_N, 3 * TH_N}};
  weft_wg_add(&g_wg, 3);
  go_or_die(range_sender, &ra[0]);
  go_or_die(range_sender, &ra[1]);
  pthread_t th = spawn_thread(range_sender, &ra[2]);
  int next[3] = {0, TH_N, 2 * TH_N};
  for (int n = 0; n < 3 * TH_N; n++) {
    int v = -1, w = -1;
    weft_case cs[2] = {WEFT_RECV(c[0], &v), WEFT_RECV(c[1], &w)};
    int rc = weft_select(cs, 2);
    REQUIRE(rc == 0 || rc == 1);
    int x = rc ? w : v;
    REQUIRE(x >= 0 && x < 3 * TH_N);
    REQUIRE_EQ(x, next[x / TH_N]); /* per sender FIFO */
    next[x / TH_N]++;
  }
  weft_wg_wait(&g_wg);
  pthread_join(th, NULL);
  WEFT_ASSERT_NO_FAILURES();

  /* A plain thread and a goroutine selecting-send; a goroutine and a
   * plain thread selecting-receive. */
  range_arg sa[2] = {{(weft_chan *)c, 0, TH_N}, {(weft_chan *)c, TH_N, 3 * TH_N}};
  weft_wg_add(&g_senders, 2);
  weft_wg_add(&g_wg, 2);
  go_or_die(select_sender, &sa[0]);
  pthread_t ts = spawn_thread(select_sender, &sa[1]);
  go_or_die(select_receiver, c);
  pthread_t tr = spawn_thread(select_receiver, c);
  /* Once both senders are done, close both channels to stop the
   * receivers. */
  weft_wg_wait(&g_senders);
  pthread_join(ts, NULL);
  REQUIRE_EQ(weft_close(c[0]), 0);
  REQUIRE_EQ(weft_close(c[1]), 0);
  weft_wg_wait(&g_wg);
  pthread_join(tr, NULL);
  WEFT_ASSERT_NO_FAILURES();
  for (int i = 0; i < 3 * TH_N; i++)
    ck_assert_msg(atomic_load(&g_th_seen[i]) == 1, "value %d seen %d times", i,
                  atomic_load(&g_th_seen[i]));
  weft_chan_unref(c[0]);
  weft_chan_unref(c[1]);
}
END_TEST

/* ---- invalid arguments ---------------------------------------------------------- */

START_TEST(test_select_invalid) {
  weft_chan *c = mk(1);
  int v = 3;
  ck_assert_int_eq(weft_send(c, &v), 0);
  weft_case cs[2] = {WEFT_RECV(c, &v), WEFT_RECV(c, &v)};
  ck_assert_int_eq(weft_select(cs, -1), -EINVAL);
  ck_assert_int_eq(weft_select_dl(cs, -5, 0), -EINVAL);
  ck_assert_int_eq(weft_select(NULL, 1), -EINVAL);
  ck_assert_int_eq(weft_select_dl(NULL, 2, 0), -EINVAL);
  const int bad[] = {0, 3, -1, WEFT_CASE_RECV | WEFT_CASE_SEND, 100};
  for (int k = 0; k < 5; k++) {
    cs[1].dir = bad[k];
    /* A bad case anywhere fails the whole select; the ready case is not
     * run. */
    ck_assert_int_eq(weft_select(cs, 2), -EINVAL);
    ck_assert_int_eq(weft_select_dl(cs, 2, 0), -EINVAL);
    ck_assert_uint_eq(weft_chan_len(c), 1);
    weft_case nil_bad[1] = {{NULL, NULL, bad[k], 0}};
    ck_assert_int_eq(weft_select_dl(nil_bad, 1, 0), -EINVAL);
  }
  cs[1].dir = WEFT_CASE_RECV;
  v = 0;
  ck_assert(weft_select(cs, 2) >= 0);
  ck_assert_int_eq(v, 3);
  weft_chan_unref(c);
}
END_TEST

/* ---- more cases than fit on the stack -------------------------------------------- */

#define MANY 20

START_TEST(test_select_many_cases) {
  weft_procs(2);
  weft_chan *c[MANY];
  int v[MANY];
  for (int i = 0; i < MANY; i++)
    c[i] = mk(1);
  /* Exactly one ready: always it. */
  for (int rep = 0; rep < 200; rep++) {
    int k = (rep * 7) % MANY;
    REQUIRE_EQ(weft_send(c[k], &rep), 0);
    weft_case cs[MANY];
    for (int i = 0; i < MANY; i++) {
      v[i] = -1;
      cs[i] = WEFT_RECV(c[i], &v[i]);
    }
    REQUIRE_EQ(weft_select(cs, MANY), k);
    REQUIRE_EQ(v[k], rep);
  }
  /* All ready: uniform over the 20. */
  int counts[MANY] = {0};
  weft_case cs[MANY];
  for (int i = 0; i < MANY; i++) {
    REQUIRE_EQ(weft_send(c[i], &i), 0);
    cs[i] = WEFT_RECV(c[i], &v[i]);
  }
  for (int n = 0; n < UNI_N; n++) {
    int k = weft_select(cs, MANY);
    REQUIRE(k >= 0 && k < MANY);
    REQUIRE_EQ(v[k], k);
    counts[k]++;
    REQUIRE_EQ(weft_send_dl(c[k], &k, 0), 0);
  }
  check_uniform(counts, MANY, UNI_N);
  for (int i = 0; i < MANY; i++)
    REQUIRE_EQ(weft_recv(c[i], NULL), 1);

  /* Blocking, woken through case 13 by a goroutine; mixed send cases on
   * full channels. */
  int out = 0;
  for (int i = 0; i < MANY; i += 2)
    REQUIRE_EQ(weft_send(c[i], &i), 0); /* even: full */
  for (int i = 0; i < MANY; i++)
    cs[i] = i % 2 ? WEFT_RECV(c[i], &v[i]) : WEFT_SEND(c[i], &out);
  delayed d = {c[13], 1313, 20, 0};
  weft_wg_add(&g_wg, 1);
  int64_t t0 = weft_now();
  go_or_die(delayed_op, &d);
  REQUIRE_EQ(weft_select(cs, MANY), 13);
  ck_assert_int_ge(weft_now() - t0, 20 * WEFT_MS);
  REQUIRE_EQ(v[13], 1313);
  weft_wg_wait(&g_wg);
  /* Timed out with 20 cases: no waiter left on any channel. */
  t0 = weft_now();
  REQUIRE_EQ(weft_select_dl(cs, MANY, t0 + 20 * WEFT_MS), -ETIMEDOUT);
  ck_assert_int_ge(weft_now() - t0, 20 * WEFT_MS);
  for (int i = 1; i < MANY; i += 2) {
    REQUIRE_EQ(weft_send_dl(c[i], &i, 0), 0); /* into the buffer */
    REQUIRE_EQ(weft_chan_len(c[i]), 1);
  }
  /* 100 unbuffered channels, one made ready by a goroutine each round. */
  weft_chan *u[100];
  weft_case us[100];
  int uv[100];
  for (int i = 0; i < 100; i++) {
    u[i] = mk(0);
    us[i] = WEFT_RECV(u[i], &uv[i]);
  }
  for (int rep = 0; rep < 50; rep++) {
    int k = (rep * 37 + 11) % 100;
    delayed dd = {u[k], rep, rep % 2, 0};
    weft_wg_add(&g_wg, 1);
    go_or_die(delayed_op, &dd);
    REQUIRE_EQ(weft_select(us, 100), k);
    REQUIRE_EQ(uv[k], rep);
    weft_wg_wait(&g_wg);
  }
  for (int i = 0; i < 100; i++) {
    REQUIRE_EQ(weft_send_dl(u[i], &i, 0), -ETIMEDOUT);
    weft_chan_unref(u[i]);
  }
  for (int i = 0; i < MANY; i++)
    weft_chan_unref(c[i]);
  WEFT_ASSERT_NO_FAILURES();
}
END_TEST

WEFT_TEST_MAIN("select", test_select_ready, test_select_wakeups,
               test_select_uniform, test_select_fairness,
               test_pseudo_random_send, test_select_nonblocking,
               test_nonblock_select_race, test_nonblock_recv_race,
               test_select_timeout, test_select_zero_cases,
               test_select_nil_cases, test_select_same_channel,
               test_select_close_race, test_select_send_closed,
               test_doubleselect, test_select_threads, test_select_invalid,
               test_select_many_cases)
