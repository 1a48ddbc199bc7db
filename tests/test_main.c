/* test_main.c -- weft_main: the program's main as goroutine 1, on the main
 * thread. Each case runs weft_main in a child process (weft_main exits the
 * process when main returns) and checks what the child's parent would see:
 * its exit status, its stderr, how it died. */
#include "weft_test.h"

#include <stdbool.h>

#define DEADLOCK_LINE "weft: fatal error: all goroutines are asleep - deadlock!"

#if defined(__SANITIZE_ADDRESS__)
/* The children exit(3) from goroutine 1, whose stack LeakSanitizer scans
 * instead of the main thread's own: Check's records, referenced only from
 * the test runner's frames there, would show as leaks (weft.h says so of
 * weft_main). */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void) { return "leak:emalloc\n"; }
#endif

static char *g_argv[] = {"prog", "one", "two words", NULL};

static void init_procs(int n) {
  weft_config cfg = {.procs = n};
  if (weft_init(&cfg) != 0)
    _exit(90);
}

/* Runs child (which calls weft_main) in a child process; returns its wait
 * status, with its stderr in buf. */
static int run_main(void (*child)(void), char *buf, size_t len) {
  return weft_test_child(child, buf, len);
}

#define ASSERT_EXITED_WITH(st, code, buf)                                     \
  ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == (code),                   \
                "status %d (want exit %d), stderr: %.1500s", (st), (code), (buf))

/* ---- status and argv ---------------------------------------------------- */

static int returns_7(int argc, char **argv) {
  (void)argc;
  (void)argv;
  return 7;
}

static void child_status(void) { weft_main(returns_7, 3, g_argv); }

START_TEST(test_status_is_mains_return_value) {
  char buf[4096];
  int st = run_main(child_status, buf, sizeof buf);
  ASSERT_EXITED_WITH(st, 7, buf);
}
END_TEST

static int checks_argv(int argc, char **argv) {
  if (argc != 3 || argv != g_argv || strcmp(argv[2], "two words") != 0)
    return 1;
  return 0;
}

static void child_argv(void) { weft_main(checks_argv, 3, g_argv); }

START_TEST(test_argv_is_passed) {
  char buf[4096];
  int st = run_main(child_argv, buf, sizeof buf);
  ASSERT_EXITED_WITH(st, 0, buf);
}
END_TEST

/* ---- goroutine 1, on the main thread ------------------------------------ */

static int is_goroutine_1(int argc, char **argv) {
  (void)argc;
  (void)argv;
  if (weft_goid() != 1)
    return 10;
  if (weft_proc_id() != 0)
    return 11; /* one P: the main thread's */
  if (weft_test_gettid() != getpid())
    return 12; /* the main thread itself runs it */
  weft_dump(stderr);
  return 0;
}

static void child_goroutine_1(void) {
  init_procs(1);
  weft_main(is_goroutine_1, 1, g_argv);
}

START_TEST(test_main_is_goroutine_1_on_the_main_thread) {
  char buf[8192];
  int st = run_main(child_goroutine_1, buf, sizeof buf);
  ASSERT_EXITED_WITH(st, 0, buf);
  ck_assert_msg(strstr(buf, "goroutine 1 [running]:") != NULL, "%.1500s", buf);
  ck_assert_msg(strstr(buf, "created by") == NULL, "%.1500s", buf);
}
END_TEST

/* The main thread is a P's thread: no thread is made for P 0, and main's
 * spawns and handoffs run there. */
static atomic_int g_on_main;
static weft_waitgroup g_wg = WEFT_WAITGROUP_INIT;

static void note_thread(void *arg) {
  (void)arg;
  if (weft_test_gettid() == getpid())
    atomic_fetch_add(&g_on_main, 1);
  weft_wg_done(&g_wg);
}

static int spawns_on_main_thread(int argc, char **argv) {
  (void)argc;
  (void)argv;
  weft_wg_add(&g_wg, 100);
  for (int i = 0; i < 100; i++)
    if (weft_go(note_thread, NULL) != 0)
      return 20;
  weft_wg_wait(&g_wg);
  /* One P, held by the main thread: had P 0 a thread of its own, they
   * would all have run there. */
  return atomic_load(&g_on_main) == 100 ? 0 : 21;
}

static void child_spawns(void) {
  init_procs(1);
  weft_main(spawns_on_main_thread, 1, g_argv);
}

START_TEST(test_spawns_run_on_the_main_thread) {
  char buf[4096];
  int st = run_main(child_spawns, buf, sizeof buf);
  ASSERT_EXITED_WITH(st, 0, buf);
}
END_TEST

/* ---- main returning, blocking, misuse ----------------------------------- */

static void forever(void *arg) {
  (void)arg;
  for (;;)
    weft_sleep(WEFT_MS);
}

static int returns_with_goroutines_running(int argc, char **argv) {
  (void)argc;
  (void)argv;
  for (int i = 0; i < 8; i++)
    if (weft_go(forever, NULL) != 0)
      return 30;
  weft_sleep(10 * WEFT_MS);
  printf("flushed at exit\n"); /* stdout is the pipe's: see below */
  return 3;
}

static void child_returns_early(void) {
  dup2(2, 1); /* stdout into the captured pipe: exit(3) must flush it */
  setvbuf(stdout, NULL, _IOFBF, 4096);
  alarm(30); /* a hang fails instead of blocking the suite */
  weft_main(returns_with_goroutines_running, 1, g_argv);
}

START_TEST(test_main_returning_exits_while_goroutines_run) {
  char buf[4096];
  int st = run_main(child_returns_early, buf, sizeof buf);
  ASSERT_EXITED_WITH(st, 3, buf);
  ck_assert_msg(strstr(buf, "flushed at exit") != NULL, "%.1500s", buf);
}
END_TEST

static int blocks_forever(int argc, char **argv) {
  (void)argc;
  (void)argv;
  weft_chan *c = weft_chan_make(sizeof(int), 0);
  int v;
  weft_recv(c, &v); /* nobody sends: every goroutine is asleep */
  return 0;
}

static void child_deadlock(void) {
  alarm(30);
  weft_main(blocks_forever, 1, g_argv);
}

START_TEST(test_deadlock_with_main_blocked_is_reported) {
  char buf[8192];
  int st = run_main(child_deadlock, buf, sizeof buf);
  ck_assert_msg(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT,
                "status %d, stderr: %.1500s", st, buf);
  ck_assert_msg(strstr(buf, DEADLOCK_LINE) != NULL, "%.1500s", buf);
  ck_assert_msg(strstr(buf, "goroutine 1 [chan receive]:") != NULL,
                "%.1500s", buf);
}
END_TEST

static void nothing(void *arg) { (void)arg; }

static void child_after_start(void) {
  weft_go(nothing, NULL); /* the runtime starts here */
  int rc = weft_main(returns_7, 1, g_argv);
  _exit(rc == -EBUSY ? 40 : 41);
}

START_TEST(test_weft_main_after_start_is_ebusy) {
  char buf[4096];
  int st = run_main(child_after_start, buf, sizeof buf);
  ASSERT_EXITED_WITH(st, 40, buf);
}
END_TEST

START_TEST(test_weft_main_null_is_einval) {
  /* Before any start, in this process: nothing starts. */
  ck_assert_int_eq(weft_main(NULL, 0, NULL), -EINVAL);
}
END_TEST

WEFT_TEST_MAIN("main", test_status_is_mains_return_value, test_argv_is_passed,
               test_main_is_goroutine_1_on_the_main_thread,
               test_spawns_run_on_the_main_thread,
               test_main_returning_exits_while_goroutines_run,
               test_deadlock_with_main_blocked_is_reported,
               test_weft_main_after_start_is_ebusy,
               test_weft_main_null_is_einval)
