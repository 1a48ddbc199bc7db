/* errno_migration.c -- errno as people write it, across forced migrations.
 *
 * Built twice (tests/CMakeLists.txt: test_errno_O2, test_errno_O3) with the
 * build's compiler (gcc in most builds, clang in build-clang and
 * build-tsan). The loops below are the two of weft.h's "Migration hazards":
 *
 *   errno = mine; <weft call that may move the goroutine>; errno != mine?
 *   read() -> -1; errno == EAGAIN?; <park>; retry
 *
 * With glibc's errno (__errno_location is const) an optimizing compiler
 * keeps errno's address across the weft call, and after a migration reads
 * the old thread's errno. weft.h's errno macro makes each read a fresh
 * call. Every iteration here moves the goroutine to the other P's thread
 * (migrate(): it parks on a timer armed on the other P's heap, which that
 * P fires and readies onto its own queue); the test counts the moves it
 * saw and asserts at least MOVES of them, and not one wrong errno. */
#include "weft_test.h"

#include <fcntl.h>
#include <stdbool.h>

#include "sched/runtime.h"

#define MOVES WEFT_SCALE(1000000)
#define GOROUTINES 8

static weft_waitgroup g_wg = WEFT_WAITGROUP_INIT;
static atomic_long g_moves, g_bad, g_checked;

/* ---- a forced migration -------------------------------------------------- */

typedef struct hop {
  weft__timer t; /* first: the timer's callback finds the hop from it */
  weft__g *g;
} hop;

static bool hop_fire(weft__timer *t) {
  weft__ready(((hop *)t)->g, WEFT__PUT_TAIL); /* on the firing P */
  return false;
}

/* Pending hook of the park: arm the timer on the next P, now due. */
static void hop_arm(weft__p *p, void *arg) {
  hop *h = arg;
  weft__sched *s = &weft__sched_g;
  h->t.when = weft_now();
  h->t.fn = hop_fire;
  weft__timer_add_on(s->allp[(p->id + 1) % s->nprocs], &h->t);
}

/* Moves the calling goroutine to the next P (its thread), in most cases:
 * a spinning P may fire a busy one's timer itself. */
static __attribute__((noinline)) void migrate(void) {
  hop h = {.t = {.idx = -1}, .g = weft__curg()};
  weft__park(hop_arm, &h, "migrate");
  weft__timer_del(&h.t); /* after this the heap no longer touches h */
}

/* ---- the two loops, as a user writes them ------------------------------- */

static void note(long moves, long bad, long checked) {
  atomic_fetch_add(&g_moves, moves);
  atomic_fetch_add(&g_bad, bad);
  atomic_fetch_add(&g_checked, checked);
}

static void set_then_check(void *arg) {
  int mine = 1000 + (int)(intptr_t)arg;
  long tid = weft_test_gettid(), moves = 0, bad = 0, i = 0;
  for (; moves < MOVES / GOROUTINES; i++) {
    errno = mine;
    migrate();
    if (errno != mine)
      bad++;
    long t = weft_test_gettid();
    moves += t != tid;
    tid = t;
  }
  note(moves, bad, i);
  weft_wg_done(&g_wg);
}

static void read_eagain_loop(void *arg) {
  int fd = (int)(intptr_t)arg; /* an empty non-blocking pipe */
  long tid = weft_test_gettid(), moves = 0, bad = 0, i = 0;
  char c;
  for (; moves < MOVES / GOROUTINES; i++) {
    ssize_t n = read(fd, &c, 1);
    if (n != -1 || errno != EAGAIN)
      bad++;
    errno = 0; /* so that a stale errno location reads 0, not EAGAIN */
    migrate();
    long t = weft_test_gettid();
    moves += t != tid;
    tid = t;
  }
  note(moves, bad, i);
  weft_wg_done(&g_wg);
}

START_TEST(test_errno_survives_forced_migrations) {
  weft_config cfg = {.procs = 2};
  ck_assert_int_eq(weft_init(&cfg), 0);
  int fds[2];
  ck_assert_int_eq(pipe2(fds, O_NONBLOCK), 0);
  weft_wg_add(&g_wg, GOROUTINES);
  for (intptr_t i = 0; i < GOROUTINES / 2; i++) {
    ck_assert_int_eq(weft_go(set_then_check, (void *)i), 0);
    ck_assert_int_eq(weft_go(read_eagain_loop, (void *)(intptr_t)fds[0]), 0);
  }
  weft_wg_wait(&g_wg);
  fprintf(stderr, "errno: %ld migrations in %ld checks, %ld wrong\n",
          atomic_load(&g_moves), atomic_load(&g_checked), atomic_load(&g_bad));
  ck_assert_int_ge(atomic_load(&g_moves), (MOVES / GOROUTINES) *
                                              GOROUTINES);
  ck_assert_int_eq(atomic_load(&g_bad), 0);
  close(fds[0]);
  close(fds[1]);
}
END_TEST

WEFT_TEST_MAIN("errno", test_errno_survives_forced_migrations)
