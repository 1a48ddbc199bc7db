/* test_fork.c -- fork(2) never leaves a child hanging: in the child of a
 * started runtime, weft_go and blocking calls abort naming the rule, from a
 * plain thread and from a goroutine; exec works; the parent goes on; a
 * child forked before the runtime started runs one of its own. */
#include <sys/socket.h>
#include <sys/wait.h>

#include "weft_test.h"

#define RULE "in a child process after fork(): the parent's goroutines"

static void nothing(void *arg) { (void)arg; }

static weft_waitgroup g_wg = WEFT_WAITGROUP_INIT;

static void parked_forever(void *arg) {
  weft_recv(arg, NULL); /* until the parent closes it */
  weft_wg_done(&g_wg);
}

/* Starts the runtime with goroutines parked; returns their channel. */
static weft_chan *busy_runtime(void) {
  weft_chan *c = weft_chan_make(0, 0);
  weft_wg_add(&g_wg, 4);
  for (int i = 0; i < 4; i++)
    go_or_die(parked_forever, c);
  return c;
}

static void release(weft_chan *c) {
  weft_close(c);
  weft_wg_wait(&g_wg);
  weft_chan_unref(c);
}

/* Forks (weft_test_child); the child runs fn and exits 0 if it returns.
 * Returns the child's wait status, its stderr in buf. */
static int fork_child(void (*fn)(void), char *buf, size_t len) {
  return weft_test_child(fn, buf, len);
}

static void child_go(void) { weft_go(nothing, NULL); }

static void child_wait(void) {
  weft_waitgroup wg = WEFT_WAITGROUP_INIT;
  weft_wg_add(&wg, 1);
  weft_wg_wait(&wg); /* nobody could ever call Done here */
}

static void child_recv(void) {
  weft_chan *c = weft_chan_make(sizeof(int), 0);
  int v;
  weft_recv(c, &v);
}

static void child_exec(void) {
  execl("/bin/sh", "sh", "-c", "exit 7", (char *)NULL);
  _exit(99);
}

static void child_nonblocking(void) {
  weft_chan *c = weft_chan_make(sizeof(int), 1);
  int v = 3, out = 0;
  if (weft_send(c, &v) != 0 || weft_recv(c, &out) != 1 || out != 3)
    _exit(5);
  weft_chan_unref(c);
}

static void expect_abort(void (*fn)(void), const char *what) {
  char buf[4096];
  int st = fork_child(fn, buf, sizeof buf);
  ck_assert_msg(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT,
                "child did not abort: status %d, stderr: %s", st, buf);
  ck_assert_msg(strstr(buf, what) && strstr(buf, RULE), "stderr: %s", buf);
}

START_TEST(test_fork_from_plain_thread) {
  weft_chan *c = busy_runtime();
  expect_abort(child_go, "weft: weft_go " RULE);
  expect_abort(child_wait, "weft: ");
  expect_abort(child_recv, "weft: ");
  char buf[256];
  int st = fork_child(child_exec, buf, sizeof buf);
  ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 7);
  st = fork_child(child_nonblocking, buf, sizeof buf);
  ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %d", st);
  /* The parent goes on: its goroutines are all there. */
  release(c);
  /* Done comes just before each one returns. */
  ck_assert(WEFT_POLL_UNTIL(weft_num_goroutines() == 0, 10000));
}
END_TEST

static int g_status[3];
static char g_err[2][4096];
static weft_waitgroup g_forker = WEFT_WAITGROUP_INIT;

static void forker(void *arg) {
  (void)arg;
  g_status[0] = weft_test_child(child_wait, g_err[0], sizeof g_err[0]);
  g_status[1] = weft_test_child(child_go, g_err[1], sizeof g_err[1]);
  char buf[256];
  g_status[2] = weft_test_child(child_exec, buf, sizeof buf);
  weft_wg_done(&g_forker);
}

START_TEST(test_fork_from_goroutine) {
  weft_chan *c = busy_runtime();
  weft_wg_add(&g_forker, 1);
  go_or_die(forker, NULL);
  weft_wg_wait(&g_forker); /* the four parked ones still wait */
  for (int i = 0; i < 2; i++)
    ck_assert_msg(WIFSIGNALED(g_status[i]) && strstr(g_err[i], RULE),
                  "child %d: status %d, stderr: %s", i, g_status[i],
                  g_err[i]);
  ck_assert(strstr(g_err[1], "weft: weft_go " RULE));
  ck_assert(WIFEXITED(g_status[2]) && WEXITSTATUS(g_status[2]) == 7);
  release(c);
}
END_TEST

static void child_fresh_runtime(void) {
  weft_waitgroup wg = WEFT_WAITGROUP_INIT;
  weft_wg_add(&wg, 1);
  if (weft_go((void (*)(void *))weft_wg_done, &wg) != 0)
    _exit(3);
  weft_wg_wait(&wg);
}

START_TEST(test_fork_before_start_gets_a_runtime) {
  /* No weft call yet in this (forked test) process. */
  char buf[1024];
  int st = fork_child(child_fresh_runtime, buf, sizeof buf);
  ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %d: %s", st,
                buf);
}
END_TEST

/* The poller's fds in a child: weft_fd_close is close(2) and leaves the
 * parent's epoll set alone (a child closing what it inherited before exec
 * must not unregister the parent's fds); any other weft_fd_* aborts. */
static int g_sv[2];
static char g_got;
static ssize_t g_read;
static weft_waitgroup g_reader = WEFT_WAITGROUP_INIT;

static void fd_reader(void *arg) {
  (void)arg;
  g_read = weft_fd_read_dl(g_sv[0], &g_got, 1, weft_now() + 10 * WEFT_SEC);
  weft_wg_done(&g_reader);
}

static void child_fd_close(void) {
  if (weft_fd_close(g_sv[0]) != 0 || weft_fd_close(g_sv[1]) != 0)
    _exit(4);
}

static void child_fd_read(void) {
  char c;
  weft_fd_read(g_sv[0], &c, 1);
}

START_TEST(test_fork_leaves_the_poller_alone) {
  ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, g_sv), 0);
  weft_wg_add(&g_reader, 1);
  go_or_die(fd_reader, NULL);
  /* Until the reader is parked on its fd: registered with epoll. */
  char dump[8192];
  for (int i = 0; i < 1000; i++) {
    FILE *f = fmemopen(dump, sizeof dump, "w");
    weft_dump(f);
    fclose(f);
    if (strstr(dump, "[IO wait"))
      break;
    weft_sleep(WEFT_MS);
  }
  ck_assert_msg(strstr(dump, "[IO wait"), "no reader in IO wait: %s", dump);
  char buf[1024];
  int st = fork_child(child_fd_close, buf, sizeof buf);
  ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %d: %s", st,
                buf);
  expect_abort(child_fd_read, "weft: a weft_fd_* call " RULE);
  /* The parent's reader still hears its fd. */
  ck_assert_int_eq(write(g_sv[1], "k", 1), 1);
  weft_wg_wait(&g_reader);
  ck_assert_int_eq(g_read, 1);
  ck_assert_int_eq(g_got, 'k');
  ck_assert_int_eq(weft_fd_close(g_sv[0]), 0);
  ck_assert_int_eq(weft_fd_close(g_sv[1]), 0);
}
END_TEST

WEFT_TEST_MAIN("fork", test_fork_from_plain_thread, test_fork_from_goroutine,
               test_fork_before_start_gets_a_runtime,
               test_fork_leaves_the_poller_alone)
