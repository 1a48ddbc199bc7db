/* test_deadlock.c -- "all goroutines are asleep - deadlock!" (weft.h, deadlock
 * detection): reported when nothing can wake anybody, and never while a
 * timer, a running goroutine or any thread outside weft still could.
 *
 * Every case runs in a child process (weft_test_child) that starts the
 * runtime itself. A child that should be reported but is not would hang:
 * alarm() kills it with SIGALRM, which the assertions reject. */
#include <stdbool.h>

#include "weft_test.h"

#define DEADLOCK_LINE "weft: fatal error: all goroutines are asleep - deadlock!\n"
#define REPORT_BOUND_NS (5 * WEFT_SEC) /* generous: a loaded 2-vCPU box */


static void start_procs(int procs) {
  weft_config cfg = {.procs = procs};
  if (weft_init(&cfg) != 0)
    abort();
  weft_test_alarm(30); /* a missed report fails the test, not hangs it */
}

/* Runs fn in a child; asserts it was reported as deadlocked, promptly, with
 * Go's line first on stderr. */
static void expect_report(void (*fn)(void)) {
  char buf[8192];
  int64_t t0 = weft_test_clock();
  int st = weft_test_child(fn, buf, sizeof buf);
  int64_t took = weft_test_clock() - t0;
  ck_assert_msg(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT,
                "child not aborted; status %d, stderr: %s", st, buf);
  ck_assert_msg(strncmp(buf, DEADLOCK_LINE, strlen(DEADLOCK_LINE)) == 0,
                "stderr does not start with Go's line: %s", buf);
  ck_assert_msg(took < REPORT_BOUND_NS, "report took %lld ms",
                (long long)(took / WEFT_MS));
}

/* Runs fn in a child; asserts it ran to completion with no report. */
static void expect_no_report(void (*fn)(void)) {
  char buf[8192];
  int st = weft_test_child(fn, buf, sizeof buf);
  ck_assert_msg(strstr(buf, "deadlock") == NULL, "false report: %s", buf);
  ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0,
                "child failed; status %d, stderr: %s", st, buf);
}

/* Runs fn in a child that blocks forever; asserts that alarm(1) killed it
 * rather than a report (detection off). */
static void expect_hang(void (*fn)(void)) {
  char buf[8192];
  int st = weft_test_child(fn, buf, sizeof buf);
  ck_assert_msg(strstr(buf, "deadlock") == NULL, "report while off: %s", buf);
  ck_assert_msg(WIFSIGNALED(st) && WTERMSIG(st) == SIGALRM,
                "child not killed by its alarm; status %d, stderr: %s", st,
                buf);
}

/* ---- reported ----------------------------------------------------------- */

static void main_recv(void) {
  weft_chan *c = weft_chan_make(sizeof(int), 0);
  int v;
  weft_recv(c, &v); /* nobody else holds c */
}

static void main_recv_1p(void) {
  start_procs(1);
  main_recv();
}

static void main_recv_4p(void) {
  start_procs(4);
  main_recv();
}

START_TEST(test_main_recv_no_goroutines) {
  expect_report(main_recv_1p);
  expect_report(main_recv_4p);
}
END_TEST

static weft_chan *ca, *cb;
static weft_waitgroup wg;

static void wait_a(void *arg) {
  (void)arg;
  int v;
  weft_recv(cb, &v); /* B's channel */
  weft_send(ca, &v);
  weft_wg_done(&wg);
}

static void wait_b(void *arg) {
  (void)arg;
  int v;
  weft_recv(ca, &v); /* A's channel */
  weft_send(cb, &v);
  weft_wg_done(&wg);
}

static void cycle(void) {
  ca = weft_chan_make(sizeof(int), 0);
  cb = weft_chan_make(sizeof(int), 0);
  weft_wg_add(&wg, 2);
  weft_go(wait_a, NULL);
  weft_go(wait_b, NULL);
  weft_wg_wait(&wg);
}

static void cycle_1p(void) {
  start_procs(1);
  cycle();
}

static void cycle_3p(void) {
  start_procs(3);
  cycle();
}

/* Go's layout: the line, a blank line, then the dump of each goroutine. */
static void expect_cycle_dump(void (*fn)(void)) {
  char buf[8192];
  int st = weft_test_child(fn, buf, sizeof buf);
  ck_assert_msg(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT,
                "child not aborted; status %d, stderr: %s", st, buf);
  ck_assert_msg(strncmp(buf, DEADLOCK_LINE "\ngoroutine ",
                        strlen(DEADLOCK_LINE) + 11) == 0,
                "no blank line and dump after Go's line: %s", buf);
  ck_assert_msg(strstr(buf, "goroutine 1 [chan receive") &&
                    strstr(buf, "goroutine 2 [chan receive"),
                "both goroutines not dumped: %s", buf);
  /* And main, a plain thread here (Go's goroutine 1), where it waits. */
  ck_assert_msg(strstr(buf, " (main) [sync.WaitGroup.Wait]:\n"),
                "main thread not dumped: %s", buf);
}

START_TEST(test_goroutine_cycle) {
  expect_report(cycle_1p);
  expect_report(cycle_3p);
  expect_cycle_dump(cycle_1p);
}
END_TEST

static void empty_select(void) {
  start_procs(2);
  weft_case none;
  weft_select(&none, 0);
}

START_TEST(test_empty_select) { expect_report(empty_select); }
END_TEST

/* The SIGQUIT dump thread is weft's own: it does not hide a deadlock. */
static void with_sigquit_thread(void) {
  setenv("WEFT_DUMP_ON_SIGQUIT", "1", 1);
  start_procs(2);
  main_recv();
}

START_TEST(test_sigquit_thread_not_counted) {
  expect_report(with_sigquit_thread);
}
END_TEST

static weft_mutex mu = WEFT_MUTEX_INIT;

static void lock_twice(void) {
  start_procs(2);
  weft_mutex_lock(&mu);
  weft_mutex_lock(&mu);
}

static void lock_twice_g(void *arg) {
  (void)arg;
  weft_mutex_lock(&mu);
  weft_mutex_lock(&mu);
  weft_wg_done(&wg);
}

static void lock_twice_in_goroutine(void) {
  start_procs(2);
  weft_wg_add(&wg, 1);
  weft_go(lock_twice_g, NULL);
  weft_wg_wait(&wg);
}

START_TEST(test_mutex_locked_twice) {
  expect_report(lock_twice);
  expect_report(lock_twice_in_goroutine);
}
END_TEST

/* Goroutines that ran and finished leave nothing behind: a later endless
 * wait is still found. */
static void after_traffic(void) {
  start_procs(2);
  ca = weft_chan_make(sizeof(int), 0);
  for (int i = 0; i < 200; i++) {
    cb = weft_chan_make(sizeof(int), 1);
    weft_wg_add(&wg, 1);
    weft_go(wait_b, NULL);
    weft_send(ca, &i);
    weft_wg_wait(&wg);
    weft_chan_unref(cb);
  }
  main_recv();
}

START_TEST(test_after_traffic) { expect_report(after_traffic); }
END_TEST

/* ---- not reported ------------------------------------------------------- */

static weft_chan *msgs;

static void sleep_then_send(void *arg) {
  (void)arg;
  weft_sleep(300 * WEFT_MS); /* a timer: someone can still wake main */
  int v = 1;
  weft_send(msgs, &v);
}

static void sleeper(void) {
  start_procs(1);
  msgs = weft_chan_make(sizeof(int), 0);
  weft_go(sleep_then_send, NULL);
  int v = 0;
  weft_recv(msgs, &v);
  if (v != 1)
    abort();
}

START_TEST(test_timer_pending) { expect_no_report(sleeper); }
END_TEST

static _Atomic(weft_chan *) slot; /* where a plain thread finds msgs */

static void *plain_sender(void *arg) {
  (void)arg;
  weft_test_os_sleep_ms(300); /* outside weft: it can still send */
  int v = 7;
  weft_send(atomic_load(&slot), &v);
  return NULL;
}

static void thread_sends_later(int procs, bool thread_first) {
  pthread_t t;
  if (thread_first && pthread_create(&t, NULL, plain_sender, NULL) != 0)
    abort();
  start_procs(procs);
  weft_chan *c = weft_chan_make(sizeof(int), 0); /* starts the runtime */
  atomic_store(&slot, c);
  if (!thread_first && pthread_create(&t, NULL, plain_sender, NULL) != 0)
    abort();
  int v = 0;
  weft_recv(c, &v);
  if (v != 7)
    abort();
  pthread_join(t, NULL);
}

static void thread_sends_later_1p(void) { thread_sends_later(1, false); }
static void thread_sends_later_2p(void) { thread_sends_later(2, false); }
/* The thread is older than the runtime: weft never saw it before. */
static void thread_first_1p(void) { thread_sends_later(1, true); }

START_TEST(test_plain_thread_sends_later) {
  expect_no_report(thread_sends_later_1p);
  expect_no_report(thread_sends_later_2p);
  expect_no_report(thread_first_1p);
}
END_TEST

static void park_forever(void *arg) {
  weft_chan *c = arg;
  int v;
  weft_recv(c, &v);
  weft_wg_done(&wg);
}

/* Main computes outside weft while every goroutine is parked. */
static void main_busy(void) {
  start_procs(2);
  weft_chan *c = weft_chan_make(sizeof(int), 0);
  weft_wg_add(&wg, 3);
  for (int i = 0; i < 3; i++)
    weft_go(park_forever, c);
  weft_test_busy_ms(300);
  weft_test_os_sleep_ms(200); /* and sleeps outside weft */
  weft_close(c);
  weft_wg_wait(&wg);
}

START_TEST(test_main_outside_weft) { expect_no_report(main_busy); }
END_TEST

static int pipefd[2];

static void read_pipe(void *arg) {
  (void)arg;
  char ch;
  if (read(pipefd[0], &ch, 1) != 1) /* blocks this goroutine's P */
    abort();
  weft_wg_done(&wg);
}

/* A goroutine in a long system call is running: its P is not idle. The
 * writer is another process, so no thread of ours can wake it. */
static void goroutine_in_syscall(int procs) {
  if (pipe(pipefd) != 0)
    abort();
  pid_t pid = fork();
  if (pid == 0) {
    weft_test_os_sleep_ms(400);
    if (write(pipefd[1], "x", 1) != 1)
      _exit(1);
    _exit(0);
  }
  start_procs(procs);
  weft_wg_add(&wg, 1);
  weft_go(read_pipe, NULL);
  weft_wg_wait(&wg);
  waitpid(pid, NULL, 0);
}

static void syscall_1p(void) { goroutine_in_syscall(1); }
static void syscall_2p(void) { goroutine_in_syscall(2); }

START_TEST(test_goroutine_in_syscall) {
  expect_no_report(syscall_1p);
  expect_no_report(syscall_2p);
}
END_TEST

/* A plain thread waiting with a deadline will wake up: not reported. */
static void *recv_with_deadline(void *arg) {
  (void)arg;
  int v;
  weft_recv_dl(msgs, &v, weft_now() + 400 * WEFT_MS);
  v = 3;
  weft_send(msgs, &v);
  return NULL;
}

static void thread_deadline(void) {
  start_procs(1);
  msgs = weft_chan_make(sizeof(int), 0); /* before the thread: no race */
  pthread_t t;
  if (pthread_create(&t, NULL, recv_with_deadline, NULL) != 0)
    abort();
  weft_test_os_sleep_ms(50);
  int v = 0;
  weft_recv(msgs, &v); /* both wait; the thread's deadline ends it */
  if (v != 3)
    abort();
  pthread_join(t, NULL);
}

START_TEST(test_thread_deadline_pending) { expect_no_report(thread_deadline); }
END_TEST

/* ---- switched off ------------------------------------------------------- */

static void off_by_env(void) {
  setenv("WEFT_DEADLOCK", "0", 1);
  weft_chan *c = weft_chan_make(sizeof(int), 0);
  weft_test_alarm(1);
  int v;
  weft_recv(c, &v);
}

static void off_by_config(void) {
  weft_config cfg = {.procs = 1, .deadlock_check = -1};
  if (weft_init(&cfg) != 0)
    abort();
  setenv("WEFT_DEADLOCK", "1", 1); /* the config wins */
  weft_chan *c = weft_chan_make(sizeof(int), 0);
  weft_test_alarm(1);
  int v;
  weft_recv(c, &v);
}

static void on_by_config(void) {
  setenv("WEFT_DEADLOCK", "0", 1);
  weft_config cfg = {.procs = 1, .deadlock_check = 1}; /* wins over env */
  if (weft_init(&cfg) != 0)
    abort();
  weft_test_alarm(30);
  main_recv();
}

START_TEST(test_switched_off) {
  expect_hang(off_by_env);
  expect_hang(off_by_config);
  expect_report(on_by_config);
}
END_TEST

WEFT_TEST_MAIN("deadlock", test_main_recv_no_goroutines, test_goroutine_cycle,
               test_empty_select, test_sigquit_thread_not_counted,
               test_mutex_locked_twice, test_after_traffic,
               test_timer_pending, test_plain_thread_sends_later,
               test_main_outside_weft,
               test_goroutine_in_syscall, test_thread_deadline_pending,
               test_switched_off)
