/* test_syscall.c -- weft_syscall_enter/_exit (Go's entersyscall and
 * exitsyscall): goroutines blocked in the kernel leave their Ps to the
 * others; a goroutine whose P was handed off continues correctly on
 * another thread; threads are made on demand, limited, and retired after a
 * burst; misuse aborts naming the call; the dump shows [syscall]; the
 * deadlock detector never counts a goroutine in a call as asleep, and
 * still reports a real deadlock after it. The last three hold for raw
 * calls too (test_rawcall.c has the rest of those). */
#include "weft_test.h"
#include "blocking_traffic.h"

#include <stdbool.h>

#define WEFT_TEST_NOINLINE __attribute__((noinline))
#define DEADLOCK_LINE "weft: fatal error: all goroutines are asleep - deadlock!"

static void procs(int n) {
  weft_config cfg = {.procs = n};
  ck_assert_int_eq(weft_init(&cfg), 0);
}

/* ---- blocked calls leave the Ps to the others ------------------------- */

#define BLOCK_NS (200 * WEFT_MS)
#define WINDOW_NS (300 * WEFT_MS)

static atomic_int g_block_bad;
static int g_pipe[2];

static void blocker_sleep(void *arg) {
  (void)arg;
  weft_syscall_enter();
  weft_test_os_sleep_ns(BLOCK_NS);
  weft_syscall_exit();
  weft_wg_done(&g_wg);
}

static void blocker_read(void *arg) {
  (void)arg;
  char c;
  weft_syscall_enter();
  ssize_t n = read(g_pipe[0], &c, 1);
  weft_syscall_exit();
  if (n != 1)
    atomic_fetch_add(&g_block_bad, 1);
  weft_wg_done(&g_wg);
}

static void pipe_writer(void *arg) {
  (void)arg;
  weft_test_os_sleep_ns(BLOCK_NS);
  char bytes[4] = {1, 2, 3, 4};
  ck_assert_int_eq(write(g_pipe[1], bytes, 4), 4);
}

START_TEST(test_blocked_calls_leave_the_ps) {
  procs(2);
  ck_assert_int_eq(pipe(g_pipe), 0);
  pair pr = {weft_chan_make(sizeof(int), 0), weft_chan_make(sizeof(int), 0)};
  g_window_end = weft_now() + WINDOW_NS;
  /* The blockers first: without handoffs they would hold both Ps for
   * 4 x 200 ms, and nothing else would run in the 300 ms window. */
  weft_wg_add(&g_wg, 8 + 3);
  for (int i = 0; i < 4; i++) {
    ck_assert_int_eq(weft_go(blocker_sleep, NULL), 0);
    ck_assert_int_eq(weft_go(blocker_read, NULL), 0);
  }
  ck_assert_int_eq(weft_go(ticker, NULL), 0);
  ck_assert_int_eq(weft_go(ponger, &pr), 0);
  ck_assert_int_eq(weft_go(pinger, &pr), 0);
  pthread_t w = spawn_thread(pipe_writer, NULL);
  weft_wg_wait(&g_wg);
  pthread_join(w, NULL);
  WEFT_ASSERT_NO_FAILURES();
  ck_assert_int_eq(atomic_load(&g_block_bad), 0);
  fprintf(stderr, "test_blocked_calls_leave_the_ps: %d ticks, %d pings\n",
          atomic_load(&g_ticks), atomic_load(&g_pings));
  /* 30 ticks and many thousand pings when nothing stalls: generous. */
  ck_assert_msg(atomic_load(&g_ticks) >= 10, "only %d ticks in 300 ms",
                atomic_load(&g_ticks));
  ck_assert_msg(atomic_load(&g_pings) >= 100, "only %d pings in 300 ms",
                atomic_load(&g_pings));
  weft_chan_unref(pr.ping);
  weft_chan_unref(pr.pong);
  close(g_pipe[0]);
  close(g_pipe[1]);
}
END_TEST

/* ---- continuing after a handoff --------------------------------------- */

#define ROUNDS 40
#define CALLERS 4

static atomic_int g_moved, g_stop;
static weft_chan *g_results;

static void busy(void *arg) {
  (void)arg;
  while (!atomic_load(&g_stop))
    weft_yield(); /* keeps its P's ring non-empty: handoffs happen */
  weft_wg_done(&g_wg);
}

/* errno through calls of their own: in one function the compiler may keep
 * errno's address across the exit, which may change threads (weft.h). */
static WEFT_TEST_NOINLINE void set_errno(int v) { errno = v; }
static WEFT_TEST_NOINLINE int get_errno(void) { return errno; }

static void caller(void *arg) {
  int me = (int)(intptr_t)arg;
  uint64_t id = weft_goid();
  for (int i = 0; i < WEFT_SCALE(ROUNDS); i++) {
    int mine = 1000 + me * ROUNDS + i;
    set_errno(mine);
    long tid = weft_test_gettid();
    weft_syscall_enter();
    weft_test_os_sleep_ns(2 * WEFT_MS);
    weft_syscall_exit();
    int after = get_errno();
    WEFT_EXPECT(after == mine, "errno %d, want %d", after, mine);
    WEFT_EXPECT(weft_goid() == id, "goid %llu, want %llu",
                (unsigned long long)weft_goid(), (unsigned long long)id);
    if (weft_test_gettid() != tid)
      atomic_fetch_add(&g_moved, 1);
    int v = mine;
    WEFT_EXPECT(weft_send(g_results, &v) == 0, "send failed");
  }
  weft_wg_done(&g_wg);
}

START_TEST(test_exit_after_handoff_continues) {
  procs(2);
  int n = WEFT_SCALE(ROUNDS) * CALLERS;
  g_results = weft_chan_make(sizeof(int), (size_t)n);
  weft_wg_add(&g_wg, CALLERS);
  for (int i = 0; i < CALLERS; i++)
    ck_assert_int_eq(weft_go(caller, (void *)(intptr_t)i), 0);
  weft_wg_add(&g_wg, 2);
  ck_assert_int_eq(weft_go(busy, NULL), 0);
  ck_assert_int_eq(weft_go(busy, NULL), 0);
  /* Collect every value while the callers run; the busy ones stop last. */
  long sum = 0;
  for (int i = 0; i < n; i++) {
    int v;
    ck_assert_int_eq(weft_recv(g_results, &v), 1);
    sum += v;
  }
  atomic_store(&g_stop, 1);
  weft_wg_wait(&g_wg);
  WEFT_ASSERT_NO_FAILURES();
  long want = 0;
  for (int me = 0; me < CALLERS; me++)
    for (int i = 0; i < WEFT_SCALE(ROUNDS); i++)
      want += 1000 + me * ROUNDS + i;
  ck_assert_int_eq(sum, want);
  /* The slow path ran: some exits found their P taken and resumed on
   * another thread. */
  ck_assert_msg(atomic_load(&g_moved) > 0, "no exit moved threads");
  weft_chan_unref(g_results);
}
END_TEST

/* ---- threads on demand, retired after a burst, limited ----------------- */

#define BURST 24

static void burst_call(void *arg) {
  (void)arg;
  weft_syscall_enter();
  weft_test_os_sleep_ns(100 * WEFT_MS);
  weft_syscall_exit();
  weft_wg_done(&g_wg);
}

START_TEST(test_threads_retire_after_burst) {
  setenv("WEFT_THREAD_IDLE_MS", "200", 1); /* read at start-up */
  procs(2);
  g_window_end = weft_now() + 5 * TICK_NS;
  weft_wg_add(&g_wg, 1);
  ck_assert_int_eq(weft_go(ticker, NULL), 0); /* starts the runtime */
  weft_wg_wait(&g_wg);
  long base = weft_test_os_threads();
  weft_wg_add(&g_wg, BURST);
  for (int i = 0; i < BURST; i++)
    ck_assert_int_eq(weft_go(burst_call, NULL), 0);
  long peak = base;
  for (int i = 0; i < 40; i++) { /* while the calls last */
    long n = weft_test_os_threads();
    peak = n > peak ? n : peak;
    weft_test_os_sleep_ms(2);
  }
  weft_wg_wait(&g_wg);
  ck_assert_msg(peak >= base + 4, "threads %ld -> peak %ld", base, peak);
  /* Spares idle for 200 ms retire; the Ps' threads stay. */
  long now = peak;
  for (int i = 0; i < 500 && (now = weft_test_os_threads()) > base + 1; i++)
    weft_test_os_sleep_ms(10);
  ck_assert_msg(now <= base + 1, "threads %ld, peak %ld, still %ld", base,
                peak, now);
  /* And new handoffs still work after the retirement. */
  weft_wg_add(&g_wg, 4);
  for (int i = 0; i < 4; i++)
    ck_assert_int_eq(weft_go(burst_call, NULL), 0);
  weft_wg_wait(&g_wg);
}
END_TEST

static void burst_past_limit(void) {
  procs(2);
  ck_assert_int_eq(weft_set_max_threads(0), -EINVAL);
  int old = weft_set_max_threads(3);
  if (old != 10000)
    _exit(3); /* the default */
  weft_wg_add(&g_wg, BURST);
  for (int i = 0; i < BURST; i++)
    weft_go(burst_call, NULL);
  weft_wg_wait(&g_wg);
}

START_TEST(test_thread_limit_aborts) {
  WEFT_ASSERT_ABORTS_WITH(burst_past_limit,
                          "weft: thread limit reached: 3 threads run "
                          "goroutines or wait in blocking calls");
}
END_TEST

/* ---- misuse, plain threads -------------------------------------------- */

static void enter_twice_g(void *arg) {
  (void)arg;
  weft_syscall_enter();
  weft_syscall_enter();
}

static void enter_twice(void) {
  weft_go(enter_twice_g, NULL);
  weft_sleep(30 * WEFT_SEC);
}

static void exit_alone_g(void *arg) {
  (void)arg;
  weft_syscall_exit();
}

static void exit_alone(void) {
  weft_go(exit_alone_g, NULL);
  weft_sleep(30 * WEFT_SEC);
}

START_TEST(test_misuse_aborts_naming_the_call) {
  WEFT_ASSERT_ABORTS_WITH(enter_twice, "weft: weft_syscall_enter: already "
                                       "in a system call (goroutine ");
  WEFT_ASSERT_ABORTS_WITH(exit_alone, "weft: weft_syscall_exit without "
                                      "weft_syscall_enter (goroutine ");
}
END_TEST

START_TEST(test_plain_thread_calls_are_noops) {
  weft_syscall_enter();
  weft_syscall_enter(); /* no goroutine, no bracket to misuse */
  errno = 77;
  weft_syscall_exit();
  ck_assert_int_eq(errno, 77);
  weft_syscall_exit();
}
END_TEST

/* ---- the dump and the deadlock detector ------------------------------- */

/* The dump, deadlock tests run twice: with bracketed calls, and with raw
 * ones (g_raw), which sysmon notices by itself (sched/rawcall.c). A
 * goroutine with work beside the call makes sure the raw one is taken. */
static bool g_raw;

static void blocking_sleep(int64_t ns) {
  if (!g_raw)
    weft_syscall_enter();
  weft_test_os_sleep_ns(ns);
  if (!g_raw)
    weft_syscall_exit();
}

static void spin_a_while(void *arg) {
  (void)arg;
  for (int i = 0; i < 100; i++) {
    weft_yield();
    weft_sleep(WEFT_MS);
  }
}

static void long_call(void *arg) {
  (void)arg;
  blocking_sleep(1500 * WEFT_MS);
  weft_wg_done(&g_wg);
}

static void dump_shows_syscall(void) {
  procs(1);
  weft_wg_add(&g_wg, 1);
  ck_assert_int_eq(weft_go(long_call, NULL), 0);
  ck_assert_int_eq(weft_go(spin_a_while, NULL), 0);
  weft_test_os_sleep_ms(1200);
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  weft_dump(f);
  fclose(f);
  weft_wg_wait(&g_wg);
  ck_assert_msg(strstr(buf, "[syscall, 1 seconds]:\n") != NULL, "%s", buf);
  free(buf);
}

START_TEST(test_dump_shows_syscall) { dump_shows_syscall(); }
END_TEST

START_TEST(test_dump_shows_raw_call_as_syscall) {
  g_raw = true;
  dump_shows_syscall();
}
END_TEST

static weft_chan *g_done;

static void call_then_send(void *arg) {
  (void)arg;
  ck_assert_int_eq(weft_go(spin_a_while, NULL), 0);
  blocking_sleep(600 * WEFT_MS); /* past several deadlock looks */
  int v = 42;
  weft_send(g_done, &v);
}

static void no_deadlock_report_during_a_call(void) {
  procs(2);
  /* main waits with no deadline and every P goes idle once the call is
   * handed off: only the goroutine in the kernel can end the wait. */
  g_done = weft_chan_make(sizeof(int), 0);
  ck_assert_int_eq(weft_go(call_then_send, NULL), 0);
  int v = 0;
  ck_assert_int_eq(weft_recv(g_done, &v), 1);
  ck_assert_int_eq(v, 42);
  weft_chan_unref(g_done);
}

START_TEST(test_no_deadlock_report_during_a_call) {
  no_deadlock_report_during_a_call();
}
END_TEST

START_TEST(test_no_deadlock_report_during_a_raw_call) {
  g_raw = true;
  no_deadlock_report_during_a_call();
}
END_TEST

static void call_then_block(void *arg) {
  (void)arg;
  ck_assert_int_eq(weft_go(spin_a_while, NULL), 0);
  blocking_sleep(300 * WEFT_MS);
  int v;
  weft_recv(NULL, &v); /* forever: a nil channel */
}

static void deadlock_after_call(void) {
  procs(2);
  signal(SIGALRM, SIG_DFL);
  alarm(30); /* a missed report fails instead of hanging */
  g_done = weft_chan_make(sizeof(int), 0);
  weft_go(call_then_block, NULL);
  int v;
  weft_recv(g_done, &v);
}

static void deadlock_after_raw_call(void) {
  g_raw = true;
  deadlock_after_call();
}

START_TEST(test_deadlock_after_a_call_is_reported) {
  WEFT_ASSERT_ABORTS_WITH(deadlock_after_call, DEADLOCK_LINE);
}
END_TEST

START_TEST(test_deadlock_after_a_raw_call_is_reported) {
  WEFT_ASSERT_ABORTS_WITH(deadlock_after_raw_call, DEADLOCK_LINE);
}
END_TEST

WEFT_TEST_MAIN("syscall", test_blocked_calls_leave_the_ps,
               test_exit_after_handoff_continues,
               test_threads_retire_after_burst, test_thread_limit_aborts,
               test_misuse_aborts_naming_the_call,
               test_plain_thread_calls_are_noops, test_dump_shows_syscall,
               test_dump_shows_raw_call_as_syscall,
               test_no_deadlock_report_during_a_call,
               test_no_deadlock_report_during_a_raw_call,
               test_deadlock_after_a_call_is_reported,
               test_deadlock_after_a_raw_call_is_reported)
