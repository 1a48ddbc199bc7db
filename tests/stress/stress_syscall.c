/* stress_syscall.c -- blocking calls under load, on 4 Ps: goroutines that
 * bracket short and long blocking calls (many of them handed off and
 * resumed on another thread) exchange values over shared channels with
 * other goroutines and with plain threads, for many iterations. Every
 * value sent is received exactly once, each goroutine's errno survives
 * its calls, and the thread count comes back down once spares retire.
 * The second test makes half of the callers' calls raw (no bracket), so
 * that sysmon takes their Ps (sched/rawcall.c) amid the same traffic. */
#include "weft_test.h"

#include <stdbool.h>

#define ITERS WEFT_SCALE(2000)
#define CALLERS 16
#define PEERS 4   /* goroutines receiving and sending back */
#define THREADS 4 /* plain threads doing the same */

static weft_chan *g_req, *g_resp;
static atomic_long g_sum_sent, g_sum_back;
static atomic_int g_bad_errno, g_moved, g_lost;
static bool g_raw; /* odd callers make raw calls; set before they start */

static __attribute__((noinline)) void set_errno(int v) { errno = v; }
static __attribute__((noinline)) int get_errno(void) { return errno; }

static void caller(void) {
  uint64_t id = weft_goid();
  for (int i = 0; i < ITERS; i++) {
    int mine = (int)(id * 1000 + (uint64_t)i % 1000);
    set_errno(mine);
    long tid = weft_test_gettid();
    bool raw = g_raw && id % 2 == 1;
    if (!raw)
      weft_syscall_enter();
    weft_test_os_sleep_ns(i % 8 == 0 ? 3000000 : 20000); /* some long enough to hand off */
    if (!raw)
      weft_syscall_exit();
    else if (weft_proc_id() < 0) /* the raw call lost its P */
      atomic_fetch_add(&g_lost, 1);
    if (get_errno() != mine)
      atomic_fetch_add(&g_bad_errno, 1);
    if (weft_test_gettid() != tid)
      atomic_fetch_add(&g_moved, 1);
    long v = (long)id * 100000 + i;
    WEFT_EXPECT(weft_send(g_req, &v) == 0, "send");
    atomic_fetch_add(&g_sum_sent, v);
    long back;
    WEFT_EXPECT(weft_recv(g_resp, &back) == 1, "recv");
    atomic_fetch_add(&g_sum_back, back);
  }
}

/* Peers echo every request back; a negative one stops a peer. */
static void peer(void) {
  long v;
  while (weft_recv(g_req, &v) == 1 && v >= 0)
    WEFT_EXPECT(weft_send(g_resp, &v) == 0, "echo");
}

static void calls_mixed_with_channels(void) {
  setenv("WEFT_THREAD_IDLE_MS", "100", 1);
  weft_config cfg = {.procs = 4};
  ck_assert_int_eq(weft_init(&cfg), 0);
  g_req = weft_chan_make(sizeof(long), 8);
  g_resp = weft_chan_make(sizeof(long), 8);
  weft_test_mixed peers = {0}, callers = {0};
  weft_test_mixed_start(&peers, peer, PEERS, THREADS);
  weft_test_mixed_start(&callers, caller, CALLERS, 0);
  weft_test_mixed_join(&callers);
  for (int i = 0; i < PEERS + THREADS; i++) {
    long stop = -1;
    ck_assert_int_eq(weft_send(g_req, &stop), 0);
  }
  weft_test_mixed_join(&peers);
  WEFT_ASSERT_NO_FAILURES();
  ck_assert_int_eq(atomic_load(&g_bad_errno), 0);
  ck_assert_int_eq(atomic_load(&g_sum_sent), atomic_load(&g_sum_back));
  ck_assert_msg(atomic_load(&g_moved) > 0, "no call was handed off");
  /* The spares made for the handoffs retire: 4 Ps' threads, sysmon, the
   * main thread, the sanitizer's own (at most two), and no more. */
  long n = 0;
  for (int i = 0; i < 300 && (n = weft_test_os_threads()) > 4 + 1 + 1 + 2;
       i++)
    weft_test_os_sleep_ms(10);
  ck_assert_msg(n <= 4 + 1 + 1 + 2, "%ld threads left", n);
  weft_chan_unref(g_req);
  weft_chan_unref(g_resp);
}

START_TEST(test_calls_mixed_with_channels) { calls_mixed_with_channels(); }
END_TEST

START_TEST(test_raw_calls_mixed_with_channels) {
  g_raw = true;
  calls_mixed_with_channels();
  ck_assert_msg(atomic_load(&g_lost) > 0, "no raw call lost its P");
}
END_TEST

WEFT_TEST_MAIN("stress_syscall", test_calls_mixed_with_channels,
               test_raw_calls_mixed_with_channels)
