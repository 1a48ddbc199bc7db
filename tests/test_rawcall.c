/* test_rawcall.c -- raw blocking calls, made without weft_syscall_enter,
 * noticed by sysmon (sched/rawcall.c): goroutines in raw read(2) and
 * nanosleep(2) leave their Ps to the others; a goroutine whose P was taken
 * continues correctly (errno, id, its next channel operations) and gets a P
 * back at its next park or yield; a goroutine that computes keeps its P;
 * WEFT_RAWCALLS=0 turns it off. The dump and the deadlock detector around
 * raw calls are tested beside the bracketed ones, in test_syscall.c. */
#include "weft_test.h"
#include "blocking_traffic.h"

#include <stdbool.h>

static void procs(int n) {
  weft_config cfg = {.procs = n};
  ck_assert_int_eq(weft_init(&cfg), 0);
}

/* ---- raw calls leave the Ps to the others ------------------------------ */

#define BLOCK_NS (200 * WEFT_MS)
#define WINDOW_NS (300 * WEFT_MS)
#define NPIPES 4

static atomic_int g_block_bad, g_raw_lost;
static int g_pipes[NPIPES][2];

/* Whether the goroutine runs without a P now: its raw call lost it. */
static void note_lost(void) {
  if (weft_proc_id() < 0)
    atomic_fetch_add(&g_raw_lost, 1);
}

static void raw_sleeper(void *arg) {
  (void)arg;
  weft_test_os_sleep_ns(BLOCK_NS); /* nanosleep(2), no bracket */
  note_lost();
  weft_wg_done(&g_wg);
}

static void raw_reader(void *arg) {
  int fd = g_pipes[(intptr_t)arg][0];
  char c;
  ssize_t n = read(fd, &c, 1); /* blocks until the writer's byte */
  note_lost();
  if (n != 1 || c != (char)(intptr_t)arg)
    atomic_fetch_add(&g_block_bad, 1);
  weft_wg_done(&g_wg);
}

static void pipe_writer(void *arg) {
  (void)arg;
  weft_test_os_sleep_ns(BLOCK_NS);
  for (int i = 0; i < NPIPES; i++) {
    char c = (char)i;
    ck_assert_int_eq(write(g_pipes[i][1], &c, 1), 1);
  }
}

START_TEST(test_raw_calls_leave_the_ps) {
  procs(2);
  for (int i = 0; i < NPIPES; i++)
    ck_assert_int_eq(pipe(g_pipes[i]), 0);
  pair pr = {weft_chan_make(sizeof(int), 0), weft_chan_make(sizeof(int), 0)};
  g_window_end = weft_now() + WINDOW_NS;
  /* The blockers first: unnoticed, they would hold both Ps for 4 x 200 ms,
   * and nothing else would run in the 300 ms window. */
  weft_wg_add(&g_wg, 2 * NPIPES + 3);
  for (intptr_t i = 0; i < NPIPES; i++) {
    ck_assert_int_eq(weft_go(raw_sleeper, NULL), 0);
    ck_assert_int_eq(weft_go(raw_reader, (void *)i), 0);
  }
  ck_assert_int_eq(weft_go(ticker, NULL), 0);
  ck_assert_int_eq(weft_go(ponger, &pr), 0);
  ck_assert_int_eq(weft_go(pinger, &pr), 0);
  pthread_t w = spawn_thread(pipe_writer, NULL);
  weft_wg_wait(&g_wg);
  pthread_join(w, NULL);
  WEFT_ASSERT_NO_FAILURES();
  ck_assert_int_eq(atomic_load(&g_block_bad), 0);
  fprintf(stderr, "test_raw_calls_leave_the_ps: %d ticks, %d pings, "
          "%d of %d calls lost their P\n", atomic_load(&g_ticks),
          atomic_load(&g_pings), atomic_load(&g_raw_lost), 2 * NPIPES);
  /* 30 ticks and many thousand pings when nothing stalls: generous. */
  ck_assert_msg(atomic_load(&g_ticks) >= 10, "only %d ticks in 300 ms",
                atomic_load(&g_ticks));
  ck_assert_msg(atomic_load(&g_pings) >= 100, "only %d pings in 300 ms",
                atomic_load(&g_pings));
  ck_assert_msg(atomic_load(&g_raw_lost) > 0, "no raw call lost its P");
  weft_chan_unref(pr.ping);
  weft_chan_unref(pr.pong);
  for (int i = 0; i < NPIPES; i++) {
    close(g_pipes[i][0]);
    close(g_pipes[i][1]);
  }
}
END_TEST

/* ---- continuing after the P was taken ---------------------------------- */

#define ROUNDS 60
#define CALLERS 4

static atomic_int g_stop, g_rejoined_bad;
static weft_chan *g_to_echo, *g_from_echo[CALLERS];
static weft_waitgroup g_callers = WEFT_WAITGROUP_INIT;

/* Out of line: glibc's __errno_location is const, so inline code would keep
 * the first thread's errno address across a migration (weft.h). */
static __attribute__((noinline)) int get_errno(void) { return errno; }
static __attribute__((noinline)) void set_errno(int v) { errno = v; }

static void busy(void *arg) {
  (void)arg;
  while (!atomic_load(&g_stop))
    weft_yield(); /* keeps its P's ring non-empty: takes happen */
  weft_wg_done(&g_wg);
}

/* Echoes each value back to its caller's channel. */
static void echo(void *arg) {
  (void)arg;
  int v;
  while (weft_recv(g_to_echo, &v) == 1 && v >= 0)
    weft_send(g_from_echo[v % CALLERS], &v);
  weft_wg_done(&g_wg);
}

static void raw_caller(void *arg) {
  int me = (int)(intptr_t)arg;
  uint64_t id = weft_goid();
  for (int i = 0; i < WEFT_SCALE(ROUNDS); i++) {
    int mine = 1000 + me + CALLERS * i; /* mine % CALLERS == me */
    set_errno(mine);
    weft_test_os_sleep_ns(2 * WEFT_MS); /* raw nanosleep(2) */
    bool lost = weft_proc_id() < 0;
    if (lost)
      atomic_fetch_add(&g_raw_lost, 1);
    WEFT_EXPECT(get_errno() == mine, "errno %d, want %d", get_errno(), mine);
    WEFT_EXPECT(weft_goid() == id, "goid %llu, want %llu",
                (unsigned long long)weft_goid(), (unsigned long long)id);
    /* Its next operations without a P: a send that wakes the echo (onto
     * the global queue), then a receive that parks until the reply. */
    WEFT_EXPECT(weft_send(g_to_echo, &mine) == 0, "send failed");
    int back = -1;
    WEFT_EXPECT(weft_recv(g_from_echo[me], &back) == 1, "recv failed");
    WEFT_EXPECT(back == mine, "echo %d, want %d", back, mine);
    /* The receive parks unless the echo's reply was already waiting; a
     * yield always queues the goroutine for a P (weft__rejoin). */
    weft_yield();
    WEFT_EXPECT(get_errno() == mine, "errno %d after the yield", get_errno());
    WEFT_EXPECT(weft_goid() == id, "goid changed across the yield");
    if (weft_proc_id() < 0)
      atomic_fetch_add(&g_rejoined_bad, 1);
  }
  weft_wg_done(&g_callers);
}

START_TEST(test_return_after_take_continues) {
  procs(2);
  g_to_echo = weft_chan_make(sizeof(int), 0);
  for (int i = 0; i < CALLERS; i++)
    g_from_echo[i] = weft_chan_make(sizeof(int), 0);
  weft_wg_add(&g_wg, 3);
  ck_assert_int_eq(weft_go(echo, NULL), 0);
  ck_assert_int_eq(weft_go(busy, NULL), 0);
  ck_assert_int_eq(weft_go(busy, NULL), 0);
  weft_wg_add(&g_callers, CALLERS);
  for (intptr_t i = 0; i < CALLERS; i++)
    ck_assert_int_eq(weft_go(raw_caller, (void *)i), 0);
  weft_wg_wait(&g_callers);
  atomic_store(&g_stop, 1);
  int stop = -1;
  ck_assert_int_eq(weft_send(g_to_echo, &stop), 0);
  weft_wg_wait(&g_wg);
  WEFT_ASSERT_NO_FAILURES();
  fprintf(stderr, "test_return_after_take_continues: %d of %d calls lost "
          "their P\n", atomic_load(&g_raw_lost), CALLERS * WEFT_SCALE(ROUNDS));
  ck_assert_msg(atomic_load(&g_raw_lost) > 0, "no raw call lost its P");
  ck_assert_int_eq(atomic_load(&g_rejoined_bad), 0);
  for (int i = 0; i < CALLERS; i++)
    weft_chan_unref(g_from_echo[i]);
  weft_chan_unref(g_to_echo);
}
END_TEST

/* ---- a goroutine that computes keeps its P ----------------------------- */

static atomic_int g_computing, g_computed, g_other_saw;

static void computer(void *arg) {
  (void)arg;
  int me = weft_proc_id();
  int64_t end = weft_test_clock() + 150 * WEFT_MS;
  atomic_store(&g_computing, 1);
  volatile uint64_t x = 0;
  while (weft_test_clock() < end) /* no weft call: its thread is on a CPU */
    x++;
  atomic_store(&g_computed, 1);
  WEFT_EXPECT(weft_proc_id() == me, "the computing goroutine lost its P");
  weft_wg_done(&g_wg);
}

static void other(void *arg) {
  (void)arg;
  atomic_store(&g_other_saw, atomic_load(&g_computed) ? 1 : -1);
  weft_wg_done(&g_wg);
}

START_TEST(test_computing_goroutine_keeps_its_p) {
  procs(1);
  weft_wg_add(&g_wg, 2);
  ck_assert_int_eq(weft_go(computer, NULL), 0);
  while (!atomic_load(&g_computing))
    weft_test_os_sleep_ms(1);
  /* Work waits behind a P that has stopped switching, which is what
   * sysmon looks for; but the thread computes, so the P must stay. */
  ck_assert_int_eq(weft_go(other, NULL), 0);
  weft_wg_wait(&g_wg);
  WEFT_ASSERT_NO_FAILURES();
  ck_assert_msg(atomic_load(&g_other_saw) == 1,
                "the queued goroutine ran before the computing one yielded");
}
END_TEST

/* ---- WEFT_RAWCALLS=0 ---------------------------------------------------- */

static void sleeper_then_flag(void *arg) {
  (void)arg;
  atomic_store(&g_computing, 1);
  weft_test_os_sleep_ns(BLOCK_NS);
  atomic_store(&g_computed, 1);
  weft_wg_done(&g_wg);
}

/* Whether a goroutine queued behind one in a 200 ms raw sleep, on one P,
 * runs before that sleep ends. */
static bool queued_runs_during_raw_sleep(void) {
  procs(1);
  weft_wg_add(&g_wg, 2);
  ck_assert_int_eq(weft_go(sleeper_then_flag, NULL), 0);
  while (!atomic_load(&g_computing))
    weft_test_os_sleep_ms(1);
  ck_assert_int_eq(weft_go(other, NULL), 0);
  weft_wg_wait(&g_wg);
  return atomic_load(&g_other_saw) == -1;
}

START_TEST(test_raw_call_noticed_on_one_p) {
  ck_assert_msg(queued_runs_during_raw_sleep(),
                "the queued goroutine waited for the raw sleep");
}
END_TEST

START_TEST(test_rawcalls_0_turns_it_off) {
  setenv("WEFT_RAWCALLS", "0", 1); /* read at start-up */
  ck_assert_msg(!queued_runs_during_raw_sleep(),
                "a raw call was noticed with WEFT_RAWCALLS=0");
}
END_TEST

WEFT_TEST_MAIN("rawcall", test_raw_calls_leave_the_ps,
               test_return_after_take_continues,
               test_computing_goroutine_keeps_its_p,
               test_raw_call_noticed_on_one_p, test_rawcalls_0_turns_it_off)
