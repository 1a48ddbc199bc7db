/* test_context.c -- Go's context package: cancelling a root of 10,000 mixed
 * descendants, idempotent cancel, timeouts within bounds, a child's deadline
 * capped by its parent's, past deadlines, values through the chain,
 * without_cancel, cancel causes, AfterFunc (own goroutine, once, stop before
 * and after, racing stop against cancel), the _ctx twins of recv, send,
 * select and sleep, deep chains on a goroutine stack, and thousands of
 * contexts created and released (LeakSanitizer checks the ASan build). */
#include <pthread.h>

#include "weft_test.h"

#ifdef WEFT_TEST_SANITIZED
#define SLOW 3
#else
#define SLOW 1
#endif

static weft_waitgroup g_joined = WEFT_WAITGROUP_INIT;

/* Whether c is a closed channel (non-blocking: a past deadline). */
static int is_closed(weft_chan *c) {
  return c != NULL && weft_recv_dl(c, NULL, 0) == 0;
}

static uint64_t g_rng = 0x9E3779B97F4A7C15ull;
static uint64_t rnd(void) {
  g_rng ^= g_rng << 13;
  g_rng ^= g_rng >> 7;
  g_rng ^= g_rng << 17;
  return g_rng;
}

static char key1, key2, key3; /* value keys: compared by address */

/* ---- cancelling a root cancels 10,000 descendants ------------------------- */

#define TREE_N 10000
#define TREE_WAITERS 64

typedef struct node {
  weft_ctx *ctx;
  int kind; /* 0 cancel, 1 value, 2 timeout, 3 deadline */
} node;

static node *g_tree;
static atomic_int g_tree_woken;

static void tree_waiter(void *arg) {
  weft_ctx *c = arg;
  /* A deadline, so that a cancel that never arrives fails, not hangs. */
  int rc = weft_recv_dl(weft_ctx_done(c), NULL,
                        weft_now() + 20 * SLOW * WEFT_SEC);
  WEFT_EXPECT(rc == 0, "recv on done returned %d", rc);
  int err = weft_ctx_err(c);
  WEFT_EXPECT(err == -ECANCELED, "woken by done with err %d", err);
  atomic_fetch_add(&g_tree_woken, 1);
  weft_ctx_unref(c);
  weft_wg_done(&g_joined);
}

static void tree_canceller(void *arg) {
  weft_ctx_cancel(arg); /* from a goroutine: cancel runs on its stack */
  weft_wg_done(&g_joined);
}

START_TEST(test_cancel_tree) {
  weft_procs(4);
  g_tree = calloc(TREE_N, sizeof *g_tree);
  ck_assert_ptr_nonnull(g_tree);
  weft_ctx *root = weft_ctx_with_cancel(weft_ctx_background());
  ck_assert_ptr_nonnull(root);
  g_tree[0] = (node){root, 0};
  int64_t far = weft_now() + 3600 * WEFT_SEC;
  for (int i = 1; i < TREE_N; i++) {
    weft_ctx *parent = g_tree[rnd() % (uint64_t)i].ctx;
    int kind = (int)(rnd() % 4);
    weft_ctx *c = NULL;
    switch (kind) {
    case 0: c = weft_ctx_with_cancel(parent); break;
    case 1: c = weft_ctx_with_value(parent, &key1, (void *)(intptr_t)i); break;
    case 2: c = weft_ctx_with_timeout(parent, 3600 * WEFT_SEC); break;
    case 3: c = weft_ctx_with_deadline(parent, far + i); break;
    }
    ck_assert_ptr_nonnull(c);
    g_tree[i] = (node){c, kind};
  }
  /* Nothing is done yet, and every context has a done channel. */
  for (int i = 0; i < TREE_N; i++) {
    ck_assert_int_eq(weft_ctx_err(g_tree[i].ctx), 0);
    ck_assert_int_eq(weft_ctx_cause(g_tree[i].ctx), 0);
    ck_assert_ptr_nonnull(weft_ctx_done(g_tree[i].ctx));
    ck_assert(!is_closed(weft_ctx_done(g_tree[i].ctx)));
  }
  /* Goroutines blocked on the done channels of random descendants. */
  weft_wg_add(&g_joined, TREE_WAITERS);
  for (int i = 0; i < TREE_WAITERS; i++) {
    weft_ctx *c = g_tree[TREE_N - 1 - (int)(rnd() % 1000)].ctx;
    ck_assert_int_eq(weft_go(tree_waiter, weft_ctx_ref(c)), 0);
  }
  weft_test_os_sleep_ms(20);
  ck_assert_int_eq(atomic_load(&g_tree_woken), 0);
  weft_wg_add(&g_joined, 1);
  ck_assert_int_eq(weft_go(tree_canceller, root), 0);
  weft_wg_wait(&g_joined);
  WEFT_ASSERT_NO_FAILURES();
  ck_assert_int_eq(atomic_load(&g_tree_woken), TREE_WAITERS);
  for (int i = 0; i < TREE_N; i++) {
    weft_ctx *c = g_tree[i].ctx;
    ck_assert_msg(weft_ctx_err(c) == -ECANCELED, "node %d (kind %d): err %d",
                  i, g_tree[i].kind, weft_ctx_err(c));
    ck_assert_int_eq(weft_ctx_cause(c), -ECANCELED);
    ck_assert_msg(is_closed(weft_ctx_done(c)), "node %d: done not closed", i);
  }
  /* Values still resolve after cancel. */
  ck_assert_ptr_eq(weft_ctx_value(root, &key1), NULL);
  /* Release in a random order: children keep their parents alive. */
  for (int i = TREE_N - 1; i > 0; i--) {
    int j = (int)(rnd() % (uint64_t)(i + 1));
    node t = g_tree[i];
    g_tree[i] = g_tree[j];
    g_tree[j] = t;
  }
  for (int i = 0; i < TREE_N; i++)
    weft_ctx_unref(g_tree[i].ctx);
  free(g_tree);
}
END_TEST

/* ---- cancel is idempotent and the first cancel wins ------------------------ */

static weft_ctx *g_race_ctx;
static atomic_int g_race_go;

static void race_cancel_g(void *arg) {
  while (!atomic_load(&g_race_go))
    weft_yield();
  weft_ctx_cancel_cause(g_race_ctx, (int)(intptr_t)arg);
  weft_wg_done(&g_joined);
}

static void *race_cancel_t(void *arg) {
  while (!atomic_load(&g_race_go))
    sched_yield();
  weft_ctx_cancel_cause(g_race_ctx, (int)(intptr_t)arg);
  return NULL;
}

START_TEST(test_cancel_idempotent) {
  weft_procs(4);
  weft_ctx *bg = weft_ctx_background();
  weft_ctx *c = weft_ctx_with_cancel(bg);
  weft_ctx_cancel(c);
  weft_ctx_cancel(c);
  weft_ctx_cancel_cause(c, -EIO);
  ck_assert_int_eq(weft_ctx_err(c), -ECANCELED);
  ck_assert_int_eq(weft_ctx_cause(c), -ECANCELED); /* the first cancel's */
  ck_assert(is_closed(weft_ctx_done(c)));
  weft_ctx_unref(c);

  c = weft_ctx_with_cancel(bg);
  weft_ctx_cancel_cause(c, -EIO);
  weft_ctx_cancel(c);
  weft_ctx_cancel_cause(c, -EPIPE);
  ck_assert_int_eq(weft_ctx_err(c), -ECANCELED);
  ck_assert_int_eq(weft_ctx_cause(c), -EIO);
  weft_ctx_unref(c);

  /* A child cancelled first keeps its own cause when the parent follows. */
  weft_ctx *p = weft_ctx_with_cancel(bg);
  weft_ctx *ch = weft_ctx_with_cancel(p);
  weft_ctx *sib = weft_ctx_with_cancel(p);
  weft_ctx_cancel_cause(ch, -EAGAIN);
  ck_assert_int_eq(weft_ctx_err(p), 0); /* a child's cancel stays below */
  ck_assert_int_eq(weft_ctx_err(sib), 0);
  weft_ctx_cancel_cause(p, -EPIPE);
  ck_assert_int_eq(weft_ctx_cause(ch), -EAGAIN);
  ck_assert_int_eq(weft_ctx_cause(sib), -EPIPE);
  ck_assert_int_eq(weft_ctx_err(sib), -ECANCELED);
  weft_ctx_unref(ch);
  weft_ctx_unref(sib);
  weft_ctx_unref(p);

  /* A timed-out context stays timed out. */
  c = weft_ctx_with_timeout(bg, 1 * WEFT_MS);
  ck_assert_int_eq(weft_recv(weft_ctx_done(c), NULL), 0);
  weft_ctx_cancel(c);
  weft_ctx_cancel_cause(c, -EIO);
  ck_assert_int_eq(weft_ctx_err(c), -ETIMEDOUT);
  ck_assert_int_eq(weft_ctx_cause(c), -ETIMEDOUT);
  weft_ctx_unref(c);

  /* Cancel on contexts that cannot be cancelled themselves does nothing. */
  weft_ctx_cancel(bg);
  weft_ctx_cancel(NULL);
  p = weft_ctx_with_cancel(bg);
  weft_ctx *v = weft_ctx_with_value(p, &key1, NULL);
  weft_ctx *wc = weft_ctx_without_cancel(p);
  weft_ctx_cancel(v);
  weft_ctx_cancel_cause(wc, -EIO);
  ck_assert_int_eq(weft_ctx_err(p), 0);
  ck_assert_int_eq(weft_ctx_err(v), 0);
  ck_assert_int_eq(weft_ctx_err(bg), 0);
  weft_ctx_unref(v);
  weft_ctx_unref(wc);
  weft_ctx_unref(p);

  /* Many concurrent cancels (goroutines and threads) of one context with
   * descendants: done is closed once, and err/cause are one of theirs. */
  for (int round = 0; round < WEFT_SCALE(200); round++) {
    g_race_ctx = weft_ctx_with_cancel(bg);
    weft_ctx *kids[8];
    for (int i = 0; i < 8; i++)
      kids[i] = weft_ctx_with_cancel(i % 2 == 0 ? g_race_ctx : kids[i - 1]);
    atomic_store(&g_race_go, 0);
    weft_wg_add(&g_joined, 6);
    for (int i = 0; i < 6; i++)
      ck_assert_int_eq(weft_go(race_cancel_g, (void *)(intptr_t)(100 + i)), 0);
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
      ck_assert_int_eq(pthread_create(&th[i], NULL, race_cancel_t,
                                      (void *)(intptr_t)(200 + i)), 0);
    atomic_store(&g_race_go, 1);
    weft_ctx_cancel_cause(g_race_ctx, 300);
    for (int i = 0; i < 2; i++)
      pthread_join(th[i], NULL);
    weft_wg_wait(&g_joined);
    int cause = weft_ctx_cause(g_race_ctx);
    ck_assert_msg((cause >= 100 && cause < 106) || cause == 200 ||
                      cause == 201 || cause == 300,
                  "cause %d", cause);
    for (int i = 0; i < 8; i++) {
      ck_assert_int_eq(weft_ctx_err(kids[i]), -ECANCELED);
      ck_assert_int_eq(weft_ctx_cause(kids[i]), cause);
      weft_ctx_unref(kids[i]);
    }
    weft_ctx_unref(g_race_ctx);
  }
}
END_TEST

/* ---- timeouts fire within bounds ------------------------------------------------ */

#define TO_N WEFT_SCALE(500)
static atomic_int g_to_fired;

static void timeout_waiter(void *arg) {
  weft_ctx *c = arg;
  int64_t dl = weft_ctx_deadline(c);
  int rc = weft_recv(weft_ctx_done(c), NULL);
  int64_t now = weft_now();
  WEFT_EXPECT(rc == 0, "recv on done returned %d", rc);
  WEFT_EXPECT(now >= dl, "done %lld us before the deadline",
              (long long)(dl - now) / 1000);
  WEFT_EXPECT(now - dl < SLOW * WEFT_SEC, "done %lld ms after the deadline",
              (long long)(now - dl) / WEFT_MS);
  WEFT_EXPECT(weft_ctx_err(c) == -ETIMEDOUT, "err %d", weft_ctx_err(c));
  WEFT_EXPECT(weft_ctx_cause(c) == -ETIMEDOUT, "cause %d", weft_ctx_cause(c));
  atomic_fetch_add(&g_to_fired, 1);
  weft_ctx_unref(c);
  weft_wg_done(&g_joined);
}

START_TEST(test_timeouts) {
  weft_procs(4);
  weft_ctx *bg = weft_ctx_background();
  /* One on the main thread, checked in detail. */
  int64_t t0 = weft_now();
  weft_ctx *c = weft_ctx_with_timeout(bg, 50 * WEFT_MS);
  ck_assert_int_eq(weft_ctx_deadline(c) - t0 >= 50 * WEFT_MS, 1);
  ck_assert_int_lt(weft_ctx_deadline(c) - t0, 60 * WEFT_MS * SLOW);
  ck_assert_int_eq(weft_ctx_err(c), 0);
  ck_assert_int_eq(weft_recv(weft_ctx_done(c), NULL), 0);
  int64_t dt = weft_now() - t0;
  ck_assert_int_ge(dt, 50 * WEFT_MS);
  ck_assert_int_lt(dt, 50 * WEFT_MS + SLOW * WEFT_SEC);
  ck_assert_int_eq(weft_ctx_err(c), -ETIMEDOUT);
  weft_ctx_unref(c);
  /* Hundreds at once, 1..100 ms, each waited on by a goroutine; some are
   * value or cancel children of the timing context. */
  weft_wg_add(&g_joined, TO_N);
  for (int i = 0; i < TO_N; i++) {
    weft_ctx *t = weft_ctx_with_timeout(bg, (1 + i % 100) * WEFT_MS);
    ck_assert_ptr_nonnull(t);
    weft_ctx *w = t;
    if (i % 3 == 1) {
      w = weft_ctx_with_value(t, &key1, NULL);
      weft_ctx_unref(t); /* the child keeps it alive */
    } else if (i % 3 == 2) {
      w = weft_ctx_with_cancel(t);
      ck_assert_int_eq(weft_ctx_deadline(w), weft_ctx_deadline(t));
      weft_ctx_unref(t);
    }
    ck_assert_int_eq(weft_go(timeout_waiter, w), 0);
  }
  weft_wg_wait(&g_joined);
  WEFT_ASSERT_NO_FAILURES();
  ck_assert_int_eq(atomic_load(&g_to_fired), TO_N);
  /* A huge timeout does not overflow: no deadline at all. */
  c = weft_ctx_with_timeout(bg, INT64_MAX);
  ck_assert_int_eq(weft_ctx_deadline(c), WEFT_FOREVER);
  ck_assert_int_eq(weft_ctx_err(c), 0);
  weft_ctx_unref(c);
}
END_TEST

/* ---- a child's deadline is capped by its parent's ---------------------------- */

START_TEST(test_deadline_capped_by_parent) {
  weft_ctx *bg = weft_ctx_background();
  ck_assert_int_eq(weft_ctx_deadline(bg), WEFT_FOREVER);
  /* 1 s: the children below are made well before it even under ASan on a
   * loaded machine (100 ms was not always enough). */
  weft_ctx *p = weft_ctx_with_timeout(bg, WEFT_SEC);
  int64_t pd = weft_ctx_deadline(p);
  weft_ctx *late = weft_ctx_with_timeout(p, 3600 * WEFT_SEC);
  weft_ctx *late_dl = weft_ctx_with_deadline(p, pd + WEFT_SEC);
  weft_ctx *val = weft_ctx_with_value(p, &key1, NULL);
  weft_ctx *plain = weft_ctx_with_cancel(val);
  weft_ctx *early = weft_ctx_with_timeout(p, 20 * WEFT_MS);
  ck_assert_int_eq(weft_ctx_deadline(late), pd);
  ck_assert_int_eq(weft_ctx_deadline(late_dl), pd);
  ck_assert_int_eq(weft_ctx_deadline(val), pd);
  ck_assert_int_eq(weft_ctx_deadline(plain), pd);
  ck_assert_int_lt(weft_ctx_deadline(early), pd);
  /* The earlier child fires alone. */
  ck_assert_int_eq(weft_recv(weft_ctx_done(early), NULL), 0);
  ck_assert_int_eq(weft_ctx_err(early), -ETIMEDOUT);
  ck_assert_int_eq(weft_ctx_err(p), 0);
  ck_assert_int_eq(weft_ctx_err(late), 0);
  /* The later ones end with the parent, at the parent's deadline. */
  ck_assert_int_eq(weft_recv(weft_ctx_done(late), NULL), 0);
  ck_assert_int_ge(weft_now(), pd);
  ck_assert_int_lt(weft_now(), pd + SLOW * WEFT_SEC);
  ck_assert_int_eq(weft_ctx_err(late), -ETIMEDOUT);
  /* The parent's cancel reaches its children one by one: wait for each. */
  ck_assert_int_eq(weft_recv(weft_ctx_done(late_dl), NULL), 0);
  ck_assert_int_eq(weft_recv(weft_ctx_done(plain), NULL), 0);
  ck_assert_int_lt(weft_now(), pd + SLOW * WEFT_SEC);
  ck_assert_int_eq(weft_ctx_err(late_dl), -ETIMEDOUT);
  ck_assert_int_eq(weft_ctx_err(plain), -ETIMEDOUT);
  ck_assert_int_eq(weft_ctx_cause(plain), -ETIMEDOUT);
  ck_assert_int_eq(weft_ctx_err(p), -ETIMEDOUT);
  weft_ctx *ctxs[] = {late, late_dl, val, plain, early, p};
  for (size_t i = 0; i < sizeof ctxs / sizeof ctxs[0]; i++)
    weft_ctx_unref(ctxs[i]);
}
END_TEST

/* ---- a deadline in the past, and children of done parents ------------------ */

START_TEST(test_past_deadline_and_done_parent) {
  weft_ctx *bg = weft_ctx_background();
  int64_t t0 = weft_now();
  weft_ctx *a = weft_ctx_with_deadline(bg, t0 - WEFT_SEC);
  weft_ctx *b = weft_ctx_with_timeout(bg, 0);
  weft_ctx *c = weft_ctx_with_timeout(bg, -5 * WEFT_SEC);
  weft_ctx *d = weft_ctx_with_deadline(bg, 0);
  weft_ctx *past[] = {a, b, c, d};
  for (int i = 0; i < 4; i++) {
    ck_assert_ptr_nonnull(past[i]);
    ck_assert_int_eq(weft_ctx_err(past[i]), -ETIMEDOUT);
    ck_assert_int_eq(weft_ctx_cause(past[i]), -ETIMEDOUT);
    ck_assert(is_closed(weft_ctx_done(past[i])));
  }
  ck_assert_int_eq(weft_ctx_deadline(a), t0 - WEFT_SEC);
  ck_assert_int_lt(weft_now() - t0, 100 * WEFT_MS * SLOW); /* no waiting */
  /* Children of a done parent are born done, with its err and cause. */
  weft_ctx *ac = weft_ctx_with_cancel(a);
  ck_assert_int_eq(weft_ctx_err(ac), -ETIMEDOUT);
  ck_assert(is_closed(weft_ctx_done(ac)));
  weft_ctx *p = weft_ctx_with_cancel(bg);
  weft_ctx_cancel_cause(p, -EPIPE);
  weft_ctx *pc = weft_ctx_with_timeout(p, 3600 * WEFT_SEC);
  weft_ctx *pv = weft_ctx_with_value(p, &key1, NULL);
  weft_ctx *pvc = weft_ctx_with_cancel(pv);
  ck_assert_int_eq(weft_ctx_err(pc), -ECANCELED);
  ck_assert_int_eq(weft_ctx_cause(pc), -EPIPE);
  ck_assert_int_eq(weft_ctx_err(pv), -ECANCELED);
  ck_assert_int_eq(weft_ctx_cause(pv), -EPIPE);
  ck_assert_int_eq(weft_ctx_err(pvc), -ECANCELED);
  ck_assert_int_eq(weft_ctx_cause(pvc), -EPIPE);
  ck_assert(is_closed(weft_ctx_done(pvc)));
  weft_ctx *all[] = {a, b, c, d, ac, pc, pvc, pv, p};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
    weft_ctx_unref(all[i]);
}
END_TEST

/* ---- values, and without_cancel ------------------------------------------------ */

static atomic_int g_never_ran;
static void never_fn(void *arg) {
  (void)arg;
  atomic_fetch_add(&g_never_ran, 1);
}

START_TEST(test_values_and_without_cancel) {
  weft_ctx *bg = weft_ctx_background();
  ck_assert_ptr_eq(weft_ctx_value(bg, &key1), NULL);
  ck_assert_ptr_eq(weft_ctx_done(bg), NULL);
  ck_assert_int_eq(weft_ctx_err(bg), 0);
  ck_assert_ptr_eq(weft_ctx_ref(bg), bg);
  weft_ctx_unref(bg); /* no-op on the root */
  /* NULL parents and keys are refused. */
  ck_assert_ptr_eq(weft_ctx_with_cancel(NULL), NULL);
  ck_assert_ptr_eq(weft_ctx_with_timeout(NULL, WEFT_SEC), NULL);
  ck_assert_ptr_eq(weft_ctx_with_deadline(NULL, 0), NULL);
  ck_assert_ptr_eq(weft_ctx_with_value(NULL, &key1, NULL), NULL);
  ck_assert_ptr_eq(weft_ctx_with_value(bg, NULL, "x"), NULL);
  ck_assert_ptr_eq(weft_ctx_without_cancel(NULL), NULL);

  static char a[] = "a", b[] = "b", c[] = "c";
  weft_ctx *v1 = weft_ctx_with_value(bg, &key1, a);
  weft_ctx *root = weft_ctx_with_cancel(v1);
  weft_ctx *v2 = weft_ctx_with_value(root, &key2, b);
  weft_ctx *v3 = weft_ctx_with_value(v2, &key1, c); /* shadows key1 */
  weft_ctx *leaf = weft_ctx_with_timeout(v3, 3600 * WEFT_SEC);
  ck_assert_ptr_eq(weft_ctx_value(leaf, &key1), c); /* nearest wins */
  ck_assert_ptr_eq(weft_ctx_value(leaf, &key2), b);
  ck_assert_ptr_eq(weft_ctx_value(leaf, &key3), NULL);
  ck_assert_ptr_eq(weft_ctx_value(v2, &key1), a);
  ck_assert_ptr_eq(weft_ctx_value(root, &key1), a);
  ck_assert_ptr_eq(weft_ctx_value(root, &key2), NULL);
  ck_assert_ptr_eq(weft_ctx_value(v1, &key1), a);
  /* A value context shares its canceler's done channel. */
  ck_assert_ptr_eq(weft_ctx_done(v2), weft_ctx_done(root));
  ck_assert_ptr_eq(weft_ctx_done(v1), NULL); /* under background: never */
  /* A NULL value is a value. */
  weft_ctx *vn = weft_ctx_with_value(leaf, &key2, NULL);
  ck_assert_ptr_eq(weft_ctx_value(vn, &key2), NULL);
  ck_assert_ptr_eq(weft_ctx_value(vn, &key1), c);

  /* without_cancel: same values, never done, no deadline. */
  weft_ctx *wc = weft_ctx_without_cancel(leaf);
  ck_assert_ptr_eq(weft_ctx_value(wc, &key1), c);
  ck_assert_ptr_eq(weft_ctx_value(wc, &key2), b);
  ck_assert_ptr_eq(weft_ctx_done(wc), NULL);
  ck_assert_int_eq(weft_ctx_deadline(wc), WEFT_FOREVER);
  weft_ctx *wc_child = weft_ctx_with_cancel(wc);
  weft_ctx *wc_val = weft_ctx_with_value(wc, &key3, a);
  weft_ctx_afterfunc *af = weft_ctx_after_func(wc, never_fn, NULL);
  ck_assert_ptr_nonnull(af);
  weft_ctx_cancel(root);
  ck_assert_int_eq(weft_ctx_err(leaf), -ECANCELED);
  ck_assert_int_eq(weft_ctx_err(wc), 0);
  ck_assert_int_eq(weft_ctx_cause(wc), 0);
  ck_assert_int_eq(weft_ctx_err(wc_child), 0); /* cut off from root */
  ck_assert_int_eq(weft_ctx_err(wc_val), 0);
  ck_assert_ptr_eq(weft_ctx_value(wc_val, &key3), a);
  ck_assert_ptr_eq(weft_ctx_value(wc_val, &key1), c);
  ck_assert(!is_closed(weft_ctx_done(wc_child)));
  /* Its own children can still be cancelled. */
  weft_ctx_cancel(wc_child);
  ck_assert_int_eq(weft_ctx_err(wc_child), -ECANCELED);
  ck_assert_int_eq(weft_ctx_err(wc), 0);
  weft_sleep(20 * WEFT_MS);
  ck_assert_int_eq(atomic_load(&g_never_ran), 0);
  ck_assert_int_eq(weft_ctx_after_func_stop(af), 1);
  weft_ctx *all[] = {wc_val, wc_child, wc, vn, leaf, v3, v2, root, v1};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
    weft_ctx_unref(all[i]);
  ck_assert_int_eq(atomic_load(&g_never_ran), 0);
}
END_TEST

/* ---- AfterFunc ------------------------------------------------------------------- */

typedef struct af_rec {
  atomic_int runs;
  atomic_ullong goid;
  atomic_int finished;
  int64_t sleep_ns;
} af_rec;

static void af_fn(void *arg) {
  af_rec *r = arg;
  atomic_store(&r->goid, weft_goid());
  atomic_fetch_add(&r->runs, 1);
  if (r->sleep_ns)
    weft_sleep(r->sleep_ns); /* it runs in its own goroutine: may block */
  atomic_store(&r->finished, 1);
}

static atomic_ullong g_canceller_goid;
static void af_cancel_from_goroutine(void *arg) {
  atomic_store(&g_canceller_goid, weft_goid());
  int64_t t0 = weft_now();
  weft_ctx_cancel(arg);
  WEFT_EXPECT(weft_now() - t0 < 100 * WEFT_MS * SLOW,
              "cancel waited %lld ms for the AfterFunc",
              (long long)(weft_now() - t0) / WEFT_MS);
  weft_wg_done(&g_joined);
}

START_TEST(test_after_func) {
  weft_procs(2);
  weft_ctx *bg = weft_ctx_background();
  /* Runs once, after cancel, in its own goroutine; cancel does not wait. */
  af_rec r1 = {.sleep_ns = 500 * WEFT_MS};
  weft_ctx *c = weft_ctx_with_cancel(bg);
  weft_ctx_afterfunc *af = weft_ctx_after_func(c, af_fn, &r1);
  ck_assert_ptr_nonnull(af);
  weft_sleep(20 * WEFT_MS);
  ck_assert_int_eq(atomic_load(&r1.runs), 0);
  weft_wg_add(&g_joined, 1);
  ck_assert_int_eq(weft_go(af_cancel_from_goroutine, c), 0);
  ck_assert(WEFT_POLL_UNTIL(atomic_load(&r1.runs) == 1, 10000));
  weft_wg_wait(&g_joined);
  WEFT_ASSERT_NO_FAILURES(); /* cancel did not wait for the AfterFunc */
  ck_assert_int_ne(atomic_load(&r1.goid), 0);
  ck_assert_int_ne(atomic_load(&r1.goid), atomic_load(&g_canceller_goid));
  ck_assert_int_eq(atomic_load(&r1.finished), 0); /* still sleeping */
  weft_ctx_cancel(c);
  ck_assert(WEFT_POLL_UNTIL(atomic_load(&r1.finished), 10000));
  ck_assert_int_eq(atomic_load(&r1.runs), 1);
  ck_assert_int_eq(weft_ctx_after_func_stop(af), 0); /* it ran */
  weft_ctx_unref(c);

  /* Stopped before cancel: stop says 1, fn never runs. */
  af_rec r2 = {0};
  c = weft_ctx_with_cancel(bg);
  af = weft_ctx_after_func(c, af_fn, &r2);
  ck_assert_int_eq(weft_ctx_after_func_stop(af), 1);
  weft_ctx_cancel(c);
  weft_sleep(30 * WEFT_MS);
  ck_assert_int_eq(atomic_load(&r2.runs), 0);
  weft_ctx_unref(c);

  /* Registered on an already-done context: runs at once. */
  af_rec r3 = {0};
  c = weft_ctx_with_timeout(bg, 0);
  af = weft_ctx_after_func(c, af_fn, &r3);
  ck_assert(WEFT_POLL_UNTIL(atomic_load(&r3.finished), 10000));
  ck_assert_int_eq(weft_ctx_after_func_stop(af), 0);
  weft_ctx_unref(c);

  /* On a value child: runs when its canceler times out. */
  af_rec r4 = {0};
  c = weft_ctx_with_timeout(bg, 30 * WEFT_MS);
  weft_ctx *v = weft_ctx_with_value(c, &key1, NULL);
  af = weft_ctx_after_func(v, af_fn, &r4);
  weft_sleep(5 * WEFT_MS);
  ck_assert_int_eq(atomic_load(&r4.runs), 0);
  ck_assert(WEFT_POLL_UNTIL(atomic_load(&r4.finished), 10000));
  ck_assert_int_eq(weft_ctx_err(v), -ETIMEDOUT);
  weft_ctx_unref(v);
  weft_ctx_unref(c);
  ck_assert_int_eq(weft_ctx_after_func_stop(af), 0);

  /* Releasing the last reference cancels, which runs a pending fn; the
   * handle outlives the context. */
  af_rec r5 = {0};
  c = weft_ctx_with_cancel(bg);
  af = weft_ctx_after_func(c, af_fn, &r5);
  weft_ctx_unref(c);
  ck_assert(WEFT_POLL_UNTIL(atomic_load(&r5.finished), 10000));
  ck_assert_int_eq(weft_ctx_after_func_stop(af), 0);
  ck_assert_int_eq(atomic_load(&r5.runs), 1);

  /* Bad arguments. */
  ck_assert_ptr_eq(weft_ctx_after_func(NULL, af_fn, &r5), NULL);
  ck_assert_int_eq(weft_ctx_after_func_stop(NULL), 0);
}
END_TEST

/* Many on one context, half stopped first: the others run exactly once. */
#define AF_MANY 1000
static af_rec g_many[AF_MANY];

START_TEST(test_after_func_many) {
  weft_procs(4);
  weft_ctx *c = weft_ctx_with_cancel(weft_ctx_background());
  weft_ctx_afterfunc *afs[AF_MANY];
  for (int i = 0; i < AF_MANY; i++)
    ck_assert_ptr_nonnull(afs[i] = weft_ctx_after_func(c, af_fn, &g_many[i]));
  for (int i = 0; i < AF_MANY; i += 2)
    ck_assert_int_eq(weft_ctx_after_func_stop(afs[i]), 1);
  weft_ctx_cancel(c);
  for (int i = 1; i < AF_MANY; i += 2)
    ck_assert_msg(WEFT_POLL_UNTIL(atomic_load(&g_many[i].finished), 10000),
                  "AfterFunc %d did not run", i);
  weft_ctx_cancel(c);
  weft_sleep(20 * WEFT_MS);
  for (int i = 0; i < AF_MANY; i++)
    ck_assert_int_eq(atomic_load(&g_many[i].runs), i % 2);
  for (int i = 1; i < AF_MANY; i += 2)
    ck_assert_int_eq(weft_ctx_after_func_stop(afs[i]), 0);
  weft_ctx_unref(c);
}
END_TEST

/* stop racing cancel: for each handle, exactly one of "stop returned 1" and
 * "fn ran" holds. Both outcomes must happen, or the race is not tested:
 * the canceller raises a flag just before it cancels, and stop follows
 * that flag after a delay that adapts, longer after a stop that won and
 * shorter after one that lost (at -1 it does not wait for the flag), so
 * that the two calls keep landing within nanoseconds of each other. */
#define AF_RACES WEFT_SCALE(3000)
#define AF_MAX_DELAY (1 << 22)
static weft_ctx *g_afr_ctx;
static atomic_int g_afr_go, g_afr_cancelling;

static void afr_cancel(void *arg) {
  (void)arg;
  while (!atomic_load(&g_afr_go))
    weft_yield();
  atomic_store(&g_afr_cancelling, 1);
  weft_ctx_cancel(g_afr_ctx);
  weft_wg_done(&g_joined);
}

static int afr_stop_after(weft_ctx_afterfunc *af, int delay) {
  if (delay >= 0)
    while (!atomic_load(&g_afr_cancelling))
      __asm__ __volatile__("" ::: "memory");
  for (int k = 0; k < delay; k++)
    __asm__ __volatile__("" ::: "memory");
  return weft_ctx_after_func_stop(af);
}

START_TEST(test_after_func_stop_races_cancel) {
  weft_procs(4);
  af_rec *recs = calloc(AF_RACES, sizeof *recs);
  int *stopped = calloc(AF_RACES, sizeof *stopped);
  ck_assert_ptr_nonnull(recs);
  ck_assert_ptr_nonnull(stopped);
  int delay = 0;
  for (int i = 0; i < AF_RACES; i++) {
    g_afr_ctx = weft_ctx_with_cancel(weft_ctx_background());
    weft_ctx_afterfunc *af = weft_ctx_after_func(g_afr_ctx, af_fn, &recs[i]);
    atomic_store(&g_afr_go, 0);
    atomic_store(&g_afr_cancelling, 0);
    weft_wg_add(&g_joined, 1);
    ck_assert_int_eq(weft_go(afr_cancel, NULL), 0);
    atomic_store(&g_afr_go, 1);
    stopped[i] = afr_stop_after(af, delay);
    if (stopped[i])
      delay = delay < AF_MAX_DELAY ? delay + 1 + delay / 4 : delay;
    else
      delay = delay > -1 ? delay - 1 - delay / 4 : delay;
    weft_wg_wait(&g_joined);
    weft_ctx_unref(g_afr_ctx);
  }
  int nstopped = 0;
  for (int i = 0; i < AF_RACES; i++) {
    if (!stopped[i])
      ck_assert_msg(WEFT_POLL_UNTIL(atomic_load(&recs[i].finished), 10000),
                    "race %d: stop returned 0 but fn never ran", i);
    nstopped += stopped[i];
  }
  weft_sleep(20 * WEFT_MS);
  for (int i = 0; i < AF_RACES; i++)
    ck_assert_msg(atomic_load(&recs[i].runs) + stopped[i] == 1,
                  "race %d: stop returned %d and fn ran %d times", i,
                  stopped[i], atomic_load(&recs[i].runs));
  ck_assert_msg(nstopped > 0 && nstopped < AF_RACES,
                "stop won %d of %d races: one outcome never happened",
                nstopped, AF_RACES);
  free(recs);
  free(stopped);
}
END_TEST

/* ---- the _ctx twins: recv, send, select, sleep ------------------------------- */

typedef struct delayed {
  weft_ctx *ctx;
  int64_t after;
  int cause;
} delayed;

static void cancel_later(void *arg) {
  delayed *d = arg;
  weft_sleep(d->after);
  weft_ctx_cancel_cause(d->ctx, d->cause);
  weft_wg_done(&g_joined);
}

static void send_later(void *arg) {
  weft_chan *ch = arg;
  weft_sleep(20 * WEFT_MS);
  int v = 77;
  weft_send(ch, &v);
  weft_wg_done(&g_joined);
}

static void recv_later(void *arg) {
  weft_chan *ch = arg;
  weft_sleep(20 * WEFT_MS);
  int v = 0;
  int rc = weft_recv(ch, &v);
  WEFT_EXPECT(rc == 1 && v == 55, "receiver got rc %d, v %d", rc, v);
  weft_wg_done(&g_joined);
}

/* The blocking ones, run on the main thread and in a goroutine. */
static void ctx_ops_blocking(void) {
  weft_ctx *bg = weft_ctx_background();
  weft_chan *ch = weft_chan_make(sizeof(int), 0);
  int v = 0;
  /* recv_ctx: cancelled while blocked. */
  weft_ctx *c = weft_ctx_with_cancel(bg);
  delayed d = {c, 20 * WEFT_MS, 0};
  weft_wg_add(&g_joined, 1);
  weft_go(cancel_later, &d);
  int64_t t0 = weft_now();
  int rc = weft_recv_ctx(c, ch, &v);
  WEFT_EXPECT(rc == -ECANCELED, "recv_ctx returned %d", rc);
  WEFT_EXPECT(weft_now() - t0 >= 15 * WEFT_MS, "recv_ctx returned early");
  weft_wg_wait(&g_joined);
  /* On a done context it returns at once. */
  rc = weft_recv_ctx(c, ch, &v);
  WEFT_EXPECT(rc == -ECANCELED, "recv_ctx on a done ctx returned %d", rc);
  weft_ctx_unref(c);
  /* recv_ctx: timed out. */
  c = weft_ctx_with_timeout(bg, 30 * WEFT_MS);
  rc = weft_recv_ctx(c, ch, &v);
  WEFT_EXPECT(rc == -ETIMEDOUT, "recv_ctx returned %d", rc);
  WEFT_EXPECT(weft_now() >= weft_ctx_deadline(c), "recv_ctx timed out early");
  weft_ctx_unref(c);
  /* recv_ctx: a value arrives first. */
  c = weft_ctx_with_timeout(bg, 10 * SLOW * WEFT_SEC);
  weft_wg_add(&g_joined, 1);
  weft_go(send_later, ch);
  v = 0;
  rc = weft_recv_ctx(c, ch, &v);
  WEFT_EXPECT(rc == 1 && v == 77, "recv_ctx returned %d, v %d", rc, v);
  weft_wg_wait(&g_joined);
  /* send_ctx: a receiver arrives first. */
  weft_wg_add(&g_joined, 1);
  weft_go(recv_later, ch);
  v = 55;
  rc = weft_send_ctx(c, ch, &v);
  WEFT_EXPECT(rc == 0, "send_ctx returned %d", rc);
  weft_wg_wait(&g_joined);
  weft_ctx_unref(c);
  /* send_ctx: nobody receives, timed out; then cancelled with a cause. */
  c = weft_ctx_with_timeout(bg, 30 * WEFT_MS);
  rc = weft_send_ctx(c, ch, &v);
  WEFT_EXPECT(rc == -ETIMEDOUT, "send_ctx returned %d", rc);
  weft_ctx_unref(c);
  c = weft_ctx_with_cancel(bg);
  d = (delayed){c, 20 * WEFT_MS, -EPIPE};
  weft_wg_add(&g_joined, 1);
  weft_go(cancel_later, &d);
  rc = weft_send_ctx(c, ch, &v);
  WEFT_EXPECT(rc == -ECANCELED, "send_ctx returned %d", rc); /* err, not cause */
  weft_wg_wait(&g_joined);
  weft_ctx_unref(c);
  /* sleep_ctx: background sleeps it out; a cancel or timeout cuts it. */
  t0 = weft_now();
  rc = weft_sleep_ctx(bg, 30 * WEFT_MS);
  WEFT_EXPECT(rc == 0, "sleep_ctx returned %d", rc);
  WEFT_EXPECT(weft_now() - t0 >= 30 * WEFT_MS, "sleep_ctx woke early");
  c = weft_ctx_with_timeout(bg, 10 * SLOW * WEFT_SEC);
  t0 = weft_now();
  rc = weft_sleep_ctx(c, 20 * WEFT_MS); /* shorter than the ctx */
  WEFT_EXPECT(rc == 0, "sleep_ctx returned %d", rc);
  WEFT_EXPECT(weft_now() - t0 >= 20 * WEFT_MS, "sleep_ctx woke early");
  weft_ctx_unref(c);
  c = weft_ctx_with_cancel(bg);
  d = (delayed){c, 20 * WEFT_MS, 0};
  weft_wg_add(&g_joined, 1);
  weft_go(cancel_later, &d);
  t0 = weft_now();
  rc = weft_sleep_ctx(c, 60 * WEFT_SEC);
  WEFT_EXPECT(rc == -ECANCELED, "sleep_ctx returned %d", rc);
  WEFT_EXPECT(weft_now() - t0 < 20 * WEFT_MS + SLOW * WEFT_SEC,
              "sleep_ctx not cut short");
  weft_wg_wait(&g_joined);
  weft_ctx_unref(c);
  c = weft_ctx_with_timeout(bg, 30 * WEFT_MS);
  rc = weft_sleep_ctx(c, 60 * WEFT_SEC);
  WEFT_EXPECT(rc == -ETIMEDOUT, "sleep_ctx returned %d", rc);
  WEFT_EXPECT(weft_now() >= weft_ctx_deadline(c), "sleep_ctx timed out early");
  WEFT_EXPECT(weft_now() - weft_ctx_deadline(c) < SLOW * WEFT_SEC,
              "sleep_ctx timed out late");
  weft_ctx_unref(c);
  /* select_ctx with no cases waits for the context alone. */
  c = weft_ctx_with_timeout(bg, 20 * WEFT_MS);
  rc = weft_select_ctx(c, NULL, 0);
  WEFT_EXPECT(rc == -ETIMEDOUT, "select_ctx with no cases returned %d", rc);
  weft_ctx_unref(c);
  weft_chan_unref(ch);
}

static void ctx_ops_g(void *arg) {
  (void)arg;
  ctx_ops_blocking();
  weft_wg_done(arg);
}

START_TEST(test_ctx_ops_blocking) {
  weft_procs(2);
  ctx_ops_blocking(); /* main thread */
  weft_waitgroup wg = WEFT_WAITGROUP_INIT;
  weft_wg_add(&wg, 1);
  ck_assert_int_eq(weft_go(ctx_ops_g, &wg), 0);
  weft_wg_wait(&wg);
  WEFT_ASSERT_NO_FAILURES();
}
END_TEST

START_TEST(test_ctx_ops_ready) {
  weft_ctx *bg = weft_ctx_background();
  weft_ctx *c = weft_ctx_with_cancel(bg);
  weft_chan *buf = weft_chan_make(sizeof(int), 4);
  int v = 5;
  /* Behave as the plain calls when the context is live. */
  ck_assert_int_eq(weft_send_ctx(c, buf, &v), 0);
  ck_assert_int_eq(weft_send_ctx(bg, buf, &v), 0);
  v = 0;
  ck_assert_int_eq(weft_recv_ctx(c, buf, &v), 1);
  ck_assert_int_eq(v, 5);
  ck_assert_int_eq(weft_recv_ctx(bg, buf, NULL), 1);
  ck_assert_int_eq(weft_chan_len(buf), 0);
  weft_close(buf);
  v = 9;
  ck_assert_int_eq(weft_recv_ctx(c, buf, &v), 0); /* closed: 0, zeroed */
  ck_assert_int_eq(v, 0);
  ck_assert_int_eq(weft_send_ctx(c, buf, &v), -EPIPE); /* send on closed */
  weft_chan_unref(buf);

  /* select_ctx: the ready case runs, its ok is reported. */
  weft_chan *a = weft_chan_make(sizeof(int), 1);
  weft_chan *b = weft_chan_make(sizeof(int), 1);
  int ra = 0, rb = 0, sv = 3;
  weft_case cs[3] = {WEFT_RECV(a, &ra), WEFT_RECV(b, &rb), WEFT_SEND(a, &sv)};
  v = 11;
  weft_send(b, &v);
  cs[2].chan = NULL; /* no send case this time */
  ck_assert_int_eq(weft_select_ctx(c, cs, 3), 1);
  ck_assert_int_eq(cs[1].ok, 1);
  ck_assert_int_eq(rb, 11);
  cs[2].chan = a; /* now only the send is ready */
  ck_assert_int_eq(weft_select_ctx(c, cs, 3), 2);
  ck_assert_int_eq(weft_chan_len(a), 1);
  cs[2].chan = NULL;
  ck_assert_int_eq(weft_select_ctx(c, cs, 3), 0);
  ck_assert_int_eq(ra, 3);
  ck_assert_int_eq(cs[0].ok, 1);
  weft_close(b);
  ck_assert_int_eq(weft_select_ctx(c, cs, 3), 1);
  ck_assert_int_eq(cs[1].ok, 0); /* closed */
  /* Twenty cases (past any small on-stack array): case 17 is ready. */
  weft_case many[20];
  weft_chan *chans[20];
  int vals[20];
  for (int i = 0; i < 20; i++) {
    chans[i] = weft_chan_make(sizeof(int), 1);
    many[i] = WEFT_RECV(chans[i], &vals[i]);
    vals[i] = -1;
  }
  v = 1717;
  weft_send(chans[17], &v);
  ck_assert_int_eq(weft_select_ctx(c, many, 20), 17);
  ck_assert_int_eq(vals[17], 1717);
  ck_assert_int_eq(many[17].ok, 1);
  /* Then nothing ready and the context cancelled: its err. */
  weft_ctx_cancel(c);
  ck_assert_int_eq(weft_select_ctx(c, many, 20), -ECANCELED);
  ck_assert_int_eq(weft_select_ctx(c, cs + 2, 1), -ECANCELED);
  ck_assert_int_eq(weft_sleep_ctx(c, WEFT_SEC), -ECANCELED);
  ck_assert_int_eq(weft_select_ctx(c, NULL, 1), -EINVAL);
  ck_assert_int_eq(weft_select_ctx(c, cs, -1), -EINVAL);
  for (int i = 0; i < 20; i++)
    weft_chan_unref(chans[i]);
  weft_chan_unref(a);
  weft_chan_unref(b);
  weft_ctx_unref(c);
}
END_TEST

/* ---- a deep chain on a goroutine's stack ------------------------------------ */

/* Go's contexts nest without limit; here a goroutine with the default stack
 * builds a chain of 1000 cancelable contexts, cancels it from the top and
 * releases it. The depth is data, not the caller's recursion: the library
 * must not need stack in proportion to it. */
#define DEEP 1000
static atomic_int g_deep_done;

static void deep_chain(void *arg) {
  (void)arg;
  weft_ctx **v = malloc(DEEP * sizeof *v);
  weft_ctx *c = weft_ctx_background();
  for (int i = 0; i < DEEP; i++)
    c = v[i] = (i % 4 == 3) ? weft_ctx_with_timeout(c, 3600 * WEFT_SEC)
                            : weft_ctx_with_cancel(c);
  weft_ctx_cancel(v[0]);
  WEFT_EXPECT(weft_ctx_err(v[DEEP - 1]) == -ECANCELED, "leaf err %d",
              weft_ctx_err(v[DEEP - 1]));
  /* The leaf's reference goes last: releasing it frees the whole chain. */
  for (int i = 0; i < DEEP; i++)
    weft_ctx_unref(v[i]);
  free(v);
  atomic_store(&g_deep_done, 1);
  weft_wg_done(&g_joined);
}

START_TEST(test_deep_chain_in_goroutine) {
  weft_wg_add(&g_joined, 1);
  ck_assert_int_eq(weft_go(deep_chain, NULL), 0);
  weft_wg_wait(&g_joined);
  WEFT_ASSERT_NO_FAILURES();
  ck_assert_int_eq(atomic_load(&g_deep_done), 1);
}
END_TEST

/* ---- thousands created and released (leak check under ASan) --------------- */

#define LEAK_ROUNDS WEFT_SCALE(3000)
static atomic_int g_leak_af_runs;
static void leak_af(void *arg) {
  (void)arg;
  atomic_fetch_add(&g_leak_af_runs, 1);
}

static void churn(int r) {
  weft_ctx *bg = weft_ctx_background();
  weft_ctx *root = weft_ctx_with_cancel(bg);
  weft_ctx *v = weft_ctx_with_value(root, &key1, NULL);
  weft_ctx *fast = weft_ctx_with_timeout(v, (r % 3) * 100 * WEFT_US);
  weft_ctx *slow = weft_ctx_with_timeout(v, 3600 * WEFT_SEC);
  weft_ctx *kid = weft_ctx_with_cancel(slow);
  weft_ctx *wc = weft_ctx_without_cancel(kid);
  weft_ctx *wck = weft_ctx_with_cancel(wc);
  weft_ctx_afterfunc *af1 = weft_ctx_after_func(kid, leak_af, NULL);
  weft_ctx_afterfunc *af2 = weft_ctx_after_func(fast, leak_af, NULL);
  weft_ctx_afterfunc *af3 = weft_ctx_after_func(wc, leak_af, NULL);
  if (r % 2)
    weft_ctx_after_func_stop(af1); /* stopped early: still freed */
  weft_recv(weft_ctx_done(fast), NULL); /* a timeout that fires */
  switch (r % 4) {
  case 0: weft_ctx_cancel(root); break;
  case 1: weft_ctx_cancel_cause(kid, -EIO); break;
  case 2: break; /* released without cancel: release cancels */
  case 3: weft_ctx_cancel(wck); break;
  }
  /* Release in an order that leaves parents referenced by children. */
  weft_ctx_unref(root);
  weft_ctx_unref(v);
  weft_ctx_unref(slow);
  weft_ctx_unref(fast);
  weft_ctx_unref(wc);
  weft_ctx_unref(kid);
  weft_ctx_unref(wck);
  if (r % 2 == 0)
    weft_ctx_after_func_stop(af1);
  weft_ctx_after_func_stop(af2);
  weft_ctx_after_func_stop(af3);
}

static void churn_g(void *arg) {
  int base = (int)(intptr_t)arg;
  for (int r = 0; r < LEAK_ROUNDS / 4; r++)
    churn(base + r);
  weft_wg_done(&g_joined);
}

START_TEST(test_create_release_no_leak) {
  weft_procs(4);
  weft_wg_add(&g_joined, 3);
  for (int i = 0; i < 3; i++)
    ck_assert_int_eq(weft_go(churn_g, (void *)(intptr_t)(i * 7)), 0);
  for (int r = 0; r < LEAK_ROUNDS / 4; r++)
    churn(r);
  weft_wg_wait(&g_joined);
  /* Every AfterFunc goroutine has finished before the process exits, so
   * whatever LeakSanitizer finds is really unreachable. */
  ck_assert(WEFT_POLL_UNTIL(weft_num_goroutines() == 0, 10000));
  ck_assert_int_gt(atomic_load(&g_leak_af_runs), 0);
  /* A plain timed-out context, a never-done one and a cancelled tree,
   * released from a plain thread: nothing left either. */
  for (int i = 0; i < WEFT_SCALE(2000); i++) {
    weft_ctx *t = weft_ctx_with_timeout(weft_ctx_background(), 0);
    weft_ctx *u = weft_ctx_with_timeout(t, WEFT_SEC);
    weft_ctx_unref(t);
    weft_ctx_unref(u);
  }
}
END_TEST

/* ---- releasing a context while its deadline fires ----------------------- */

/* A goroutine waits on a context's done channel and releases the context as
 * soon as it wakes: the deadline's cancel that closed the channel may still
 * be running (on any P's thread: idle Ps run busy Ps' due timers), and the
 * last unref must wait it out before freeing. Several goroutines per P keep
 * several due timers in each heap. Under ASan a cancel still running on a
 * freed context is a heap-use-after-free; under TSan, a race with the next
 * calloc. */
#define RD_GOROUTINES 12
#define RD_BATCH 4
#define RD_ROUNDS WEFT_SCALE(3000)
static atomic_long g_rd_fired;
static void rd_after(void *arg) { (void)arg; }

static void release_near_deadline(void *arg) {
  int id = (int)(intptr_t)arg;
  weft_ctx *batch[RD_BATCH], *kids[RD_BATCH];
  weft_ctx_afterfunc *afs[RD_BATCH];
  for (int i = 0; i < RD_ROUNDS; i++) {
    int64_t when = weft_now() + (1 + (i + id) % 8) * 50 * WEFT_US;
    for (int b = 0; b < RD_BATCH; b++) {
      batch[b] = weft_ctx_with_deadline(weft_ctx_background(), when + b);
      kids[b] = b % 2 ? weft_ctx_with_cancel(batch[b]) : NULL;
      /* The cancel starts this after closing done: more work after the
       * waiter may already be awake. */
      afs[b] = weft_ctx_after_func(batch[b], rd_after, NULL);
    }
    for (int b = 0; b < RD_BATCH; b++) {
      weft_recv(weft_ctx_done(batch[b]), NULL); /* closed by the timer */
      weft_ctx_unref(kids[b]);
      weft_ctx_unref(batch[b]); /* at once: the cancel may be running */
      weft_ctx_after_func_stop(afs[b]);
      atomic_fetch_add_explicit(&g_rd_fired, 1, memory_order_relaxed);
    }
  }
  weft_wg_done(&g_joined);
}

START_TEST(test_release_races_deadline) {
  weft_procs(4);
  weft_wg_add(&g_joined, RD_GOROUTINES);
  for (int i = 0; i < RD_GOROUTINES; i++)
    ck_assert_int_eq(weft_go(release_near_deadline, (void *)(intptr_t)i), 0);
  weft_wg_wait(&g_joined);
  ck_assert_int_eq(atomic_load(&g_rd_fired),
                   (long)RD_GOROUTINES * RD_ROUNDS * RD_BATCH);
}
END_TEST

WEFT_TEST_MAIN("context", test_cancel_tree, test_cancel_idempotent,
               test_timeouts, test_deadline_capped_by_parent,
               test_past_deadline_and_done_parent,
               test_values_and_without_cancel, test_after_func,
               test_after_func_many, test_after_func_stop_races_cancel,
               test_ctx_ops_blocking, test_ctx_ops_ready,
               test_deep_chain_in_goroutine, test_release_races_deadline,
               test_create_release_no_leak)
