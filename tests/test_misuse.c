/* test_misuse.c -- channel misuse that Go turns into a panic aborts with a
 * message naming the call and the goroutine: a second close, and (in
 * WEFT_DEBUG_CHECKS builds) any use of a channel after its last unref.
 * Each case runs in a child process. The other panics have their tests
 * beside their primitives: test_waitgroup (negative counter), test_mutex and
 * test_rwmutex (unlock of unlocked), test_stack (stack overflow). */
#include <stdbool.h>

#include "chan/chan.h"
#include "weft_test.h"

static void close_twice(void) {
  weft_chan *c = weft_chan_make(sizeof(int), 1);
  weft_close(c);
  weft_close(c);
}

static void close_twice_go(void *arg) {
  weft_chan *c = arg;
  /* Says who it is first, so that the parent can match the message. */
  fprintf(stderr, "closer is goroutine %llu\n",
          (unsigned long long)weft_goid());
  weft_close(c);
  weft_close(c);
}

static void close_twice_in_goroutine(void) {
  weft_chan *c = weft_chan_make(0, 0);
  go_or_die(close_twice_go, c);
  weft_sleep(30 * WEFT_SEC); /* the abort comes first */
}

START_TEST(test_double_close_aborts) {
  WEFT_ASSERT_ABORTS_WITH(close_twice,
                          "weft: close of closed channel in weft_close "
                          "(goroutine 0)");
  /* From a goroutine the message carries that goroutine's id (not 0). */
  char buf[8192];
  int st = weft_test_child(close_twice_in_goroutine, buf, sizeof buf);
  ck_assert_msg(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT,
                "child did not abort; status %d, stderr: %s", st, buf);
  unsigned long long id = 0;
  const char *said = strstr(buf, "closer is goroutine ");
  ck_assert_msg(said && sscanf(said, "closer is goroutine %llu", &id) == 1 &&
                    id != 0,
                "no goroutine id before the abort: %s", buf);
  char want[128];
  snprintf(want, sizeof want,
           "weft: close of closed channel in weft_close (goroutine %llu)\n",
           id);
  ck_assert_msg(strstr(buf, want) != NULL, "stderr lacks \"%s\": %s", want,
                buf);
}
END_TEST

/* Output written before an abort reaches a pipe: stdout is flushed first. */
static void print_then_close_twice(void) {
  dup2(2, 1); /* stdout into the captured pipe, fully buffered there */
  setvbuf(stdout, NULL, _IOFBF, 4096);
  printf("output before the abort\n");
  close_twice();
}

START_TEST(test_abort_flushes_stdout) {
  WEFT_ASSERT_ABORTS_WITH(print_then_close_twice, "output before the abort\n"
                          "weft: close of closed channel");
}
END_TEST

static atomic_int g_recv_rc = 99, g_send_rc = 99; /* 99: not returned */
static atomic_int g_recv_v = -1;

static void blocked_receiver(void *arg) {
  int v = 5;
  int rc = weft_recv(arg, &v);
  atomic_store(&g_recv_v, v);
  atomic_store(&g_recv_rc, rc); /* last: the test waits for it */
}

static void blocked_sender(void *arg) {
  int v = 2;
  atomic_store(&g_send_rc, weft_send(arg, &v));
}

START_TEST(test_close_wakes_then_close_is_fine) {
  /* Closing once, with a receiver and a sender blocked, is no misuse: both
   * wake (the receiver with 0 and a zeroed value, the sender with -EPIPE),
   * and the closed channels go on answering. */
  weft_chan *c = weft_chan_make(sizeof(int), 0); /* nobody sends */
  weft_chan *full = weft_chan_make(sizeof(int), 1);
  int v = 1;
  ck_assert_int_eq(weft_send(full, &v), 0); /* a second send blocks */
  go_or_die(blocked_receiver, c);
  go_or_die(blocked_sender, full);
  ck_assert_msg(WEFT_POLL_UNTIL(weft_test_queued(c, false) == 1 &&
                                    weft_test_queued(full, true) == 1,
                                10000),
                "the receiver and the sender did not block");
  ck_assert_int_eq(atomic_load(&g_recv_rc), 99);
  ck_assert_int_eq(atomic_load(&g_send_rc), 99);
  ck_assert_int_eq(weft_close(c), 0);
  ck_assert_int_eq(weft_close(full), 0);
  ck_assert_msg(WEFT_POLL_UNTIL(atomic_load(&g_recv_rc) != 99 &&
                                    atomic_load(&g_send_rc) != 99,
                                10000),
                "the close woke nobody: receiver %d, sender %d",
                atomic_load(&g_recv_rc), atomic_load(&g_send_rc));
  ck_assert_int_eq(atomic_load(&g_recv_rc), 0);
  ck_assert_int_eq(atomic_load(&g_recv_v), 0);
  ck_assert_int_eq(atomic_load(&g_send_rc), -EPIPE);
  ck_assert_int_eq(weft_send(c, &v), -EPIPE);
  ck_assert_int_eq(weft_recv(c, &v), 0);
  ck_assert_int_eq(weft_recv(full, &v), 1); /* the buffered value survives */
  ck_assert_int_eq(v, 1);
  ck_assert_int_eq(weft_recv(full, &v), 0);
  weft_chan_unref(c);
  weft_chan_unref(full);
}
END_TEST

#ifdef WEFT_DEBUG_CHECKS
static weft_chan *dead_chan(void) {
  weft_chan *c = weft_chan_make(sizeof(int), 1);
  weft_chan_unref(c);
  return c;
}

static void send_after_unref(void) {
  int v = 1;
  weft_send(dead_chan(), &v);
}
static void recv_after_unref(void) {
  int v;
  weft_recv_dl(dead_chan(), &v, 0);
}
static void close_after_unref(void) { weft_close(dead_chan()); }
static void ref_after_unref(void) { weft_chan_ref(dead_chan()); }
static void unref_after_unref(void) { weft_chan_unref(dead_chan()); }
static void len_after_unref(void) { (void)weft_chan_len(dead_chan()); }
static void select_after_unref(void) {
  int v;
  weft_case cs[1] = {WEFT_RECV(dead_chan(), &v)};
  weft_select_dl(cs, 1, 0);
}

static void send_after_unref_go(void *arg) {
  (void)arg;
  send_after_unref();
}
static void send_after_unref_in_goroutine(void) {
  go_or_die(send_after_unref_go, NULL);
  weft_sleep(30 * WEFT_SEC);
}

START_TEST(test_use_after_last_unref_aborts) {
  WEFT_ASSERT_ABORTS_WITH(send_after_unref,
                          "used after its last weft_chan_unref in weft_send "
                          "(goroutine 0)");
  WEFT_ASSERT_ABORTS_WITH(recv_after_unref,
                          "used after its last weft_chan_unref in weft_recv");
  WEFT_ASSERT_ABORTS_WITH(close_after_unref,
                          "used after its last weft_chan_unref in weft_close");
  WEFT_ASSERT_ABORTS_WITH(ref_after_unref,
                          "used after its last weft_chan_unref in "
                          "weft_chan_ref");
  WEFT_ASSERT_ABORTS_WITH(unref_after_unref,
                          "used after its last weft_chan_unref in "
                          "weft_chan_unref");
  WEFT_ASSERT_ABORTS_WITH(len_after_unref,
                          "used after its last weft_chan_unref in "
                          "weft_chan_len");
  WEFT_ASSERT_ABORTS_WITH(select_after_unref,
                          "used after its last weft_chan_unref in "
                          "weft_select");
  WEFT_ASSERT_ABORTS_WITH(send_after_unref_in_goroutine,
                          "used after its last weft_chan_unref in weft_send "
                          "(goroutine ");
}
END_TEST

START_TEST(test_quarantine_keeps_live_channels_working) {
  /* Many channels die and the quarantine recycles them; live ones, with
   * the same sizes, keep working throughout. */
  weft_chan *keep = weft_chan_make(sizeof(int), 4);
  for (int i = 0; i < 5000; i++) {
    weft_chan *c = weft_chan_make(sizeof(int), 4);
    int v = i, out = -1;
    ck_assert_int_eq(weft_send(c, &v), 0);
    ck_assert_int_eq(weft_send(keep, &v), 0);
    ck_assert_int_eq(weft_recv(c, &out), 1);
    ck_assert_int_eq(out, i);
    ck_assert_int_eq(weft_recv(keep, &out), 1);
    ck_assert_int_eq(out, i);
    weft_chan_unref(c);
  }
  weft_chan_unref(keep);
}
END_TEST
#endif

WEFT_TEST_MAIN("misuse", test_double_close_aborts, test_abort_flushes_stdout,
               test_close_wakes_then_close_is_fine
#ifdef WEFT_DEBUG_CHECKS
               , test_use_after_last_unref_aborts,
               test_quarantine_keeps_live_channels_working
#endif
)
