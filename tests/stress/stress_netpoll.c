/* stress_netpoll.c -- 10,000 connections open at once on loopback, the
 * server (this process: a goroutine per connection) and the clients (a
 * forked process, a goroutine per connection) apart, so that each side
 * stays under the fd limit. Every client sends a message made of its own
 * id, reads the echo, waits until all are connected, then does a second
 * round trip and closes: every byte is checked on the client side, the
 * server counts the connections open at its peak and the bytes echoed. */
#include "weft_test.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <sys/resource.h>

#ifdef WEFT_TEST_SANITIZED
#define CONNS 2000
#else
#define CONNS 10000
#endif
#define MSG 64

static int g_conns;
static atomic_int g_open, g_peak, g_done;
static atomic_long g_bytes;

static void serve(void *arg) {
  int fd = (int)(intptr_t)arg;
  int now = atomic_fetch_add(&g_open, 1) + 1;
  int peak = atomic_load(&g_peak);
  while (now > peak && !atomic_compare_exchange_weak(&g_peak, &peak, now))
    ;
  char buf[256];
  ssize_t n;
  while ((n = weft_fd_read(fd, buf, sizeof buf)) > 0) {
    WEFT_EXPECT(weft_fd_write(fd, buf, (size_t)n) == n, "echo write");
    atomic_fetch_add(&g_bytes, n);
  }
  WEFT_EXPECT(n == 0, "the client closes cleanly: got %zd", n);
  atomic_fetch_sub(&g_open, 1);
  weft_fd_close(fd);
  atomic_fetch_add(&g_done, 1);
}

static void acceptor(void *arg) {
  int ln = (int)(intptr_t)arg;
  for (int i = 0; i < g_conns; i++) {
    int fd = weft_fd_accept(ln, NULL, NULL);
    WEFT_EXPECT(fd >= 0, "accept %d: %d", i, fd);
    if (fd < 0)
      return;
    WEFT_EXPECT(weft_go(serve, (void *)(intptr_t)fd) == 0, "go");
  }
}

/* ---- the client process ------------------------------------------------ */

static char g_addr[64];
static weft_waitgroup g_up = WEFT_WAITGROUP_INIT, g_all = WEFT_WAITGROUP_INIT;
static weft_chan *g_go_on;
static atomic_int g_bad;

/* 0, or what failed: a write's or read's result (a negative errno, or 0
 * for an early end of stream), or 1 for wrong bytes. */
static int round_trip(int fd, int id, int round) {
  char out[MSG], in[MSG];
  for (int i = 0; i < MSG; i++)
    out[i] = (char)(id * 31 + round * 7 + i);
  ssize_t n = weft_fd_write(fd, out, MSG);
  if (n != MSG)
    return n < 0 ? (int)n : -EIO;
  for (size_t got = 0; got < MSG; got += (size_t)n)
    if ((n = weft_fd_read(fd, in + got, MSG - got)) <= 0)
      return (int)n;
  return memcmp(in, out, MSG) == 0 ? 0 : 1;
}

/* Reports the first failure of the clients' process (its stderr is the
 * test's). */
static void client_failed(int id, const char *what, long rc) {
  if (atomic_fetch_add(&g_bad, 1) == 0)
    fprintf(stderr, "client %d: %s: %ld\n", id, what, rc);
}

static void client(void *arg) {
  int id = (int)(intptr_t)arg;
  int fd = weft_dial("tcp", g_addr), rc = -1;
  if (fd < 0)
    client_failed(id, "dial", fd);
  else if ((rc = round_trip(fd, id, 0)) != 0)
    client_failed(id, "first round trip", rc);
  weft_wg_done(&g_up);
  weft_recv(g_go_on, NULL); /* closed once every client is connected */
  if (rc == 0 && (rc = round_trip(fd, id, 1)) != 0)
    client_failed(id, "second round trip", rc);
  if (fd >= 0)
    weft_fd_close(fd);
  weft_wg_done(&g_all);
}

static int clients_main(void) {
  g_go_on = weft_chan_make(0, 0);
  weft_wg_add(&g_up, g_conns);
  weft_wg_add(&g_all, g_conns);
  for (int i = 0; i < g_conns; i++)
    if (weft_go(client, (void *)(intptr_t)i) != 0)
      return 3;
  weft_wg_wait(&g_up);
  weft_close(g_go_on);
  weft_wg_wait(&g_all);
  return atomic_load(&g_bad) ? 1 : 0;
}

/* Raises the soft fd limit to the hard one; returns how many connections
 * fit on each side. */
static int conns_that_fit(void) {
  struct rlimit rl;
  ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
  rl.rlim_cur = rl.rlim_max;
  setrlimit(RLIMIT_NOFILE, &rl);
  int fit = (int)(rl.rlim_cur > 100000 ? 100000 : rl.rlim_cur) - 64;
  return fit < CONNS ? fit : CONNS;
}

START_TEST(test_ten_thousand_connections) {
  g_conns = conns_that_fit();
  ck_assert_msg(g_conns >= CONNS / 2, "fd limit too low: %d", g_conns);
  if (g_conns < CONNS)
    fprintf(stderr, "fd limit: %d connections, not %d\n", g_conns, CONNS);
  /* Plain calls before the fork: the clients' process must start its own
   * runtime fresh, so this one starts weft only after it. */
  int ln = socket(AF_INET, SOCK_STREAM, 0);
  ck_assert_int_ge(ln, 0);
  struct sockaddr_in sa = {.sin_family = AF_INET,
                           .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t len = sizeof sa;
  ck_assert_int_eq(bind(ln, (struct sockaddr *)&sa, len), 0);
  ck_assert_int_eq(listen(ln, 4096), 0);
  ck_assert_int_eq(getsockname(ln, (struct sockaddr *)&sa, &len), 0);
  snprintf(g_addr, sizeof g_addr, "127.0.0.1:%d", ntohs(sa.sin_port));
  fflush(NULL);
  pid_t pid = fork();
  ck_assert_int_ge(pid, 0);
  if (pid == 0) {
    close(ln);
    /* From this plain thread, and _exit: no exit-time leak check of the
     * goroutines still being torn down, nor of Check's copied state. */
    _exit(clients_main());
  }
  weft_go(acceptor, (void *)(intptr_t)ln);
  int status = 0;
  weft_syscall_enter();
  waitpid(pid, &status, 0);
  weft_syscall_exit();
  ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                "the clients failed: status %d", status);
  for (int i = 0; i < 1000 && atomic_load(&g_done) < g_conns; i++)
    weft_sleep(10 * WEFT_MS);
  ck_assert_int_eq(atomic_load(&g_done), g_conns);
  ck_assert_int_eq(atomic_load(&g_peak), g_conns); /* all open at once */
  ck_assert_int_eq(atomic_load(&g_bytes), (long)g_conns * 2 * MSG);
  weft_fd_close(ln);
  WEFT_ASSERT_NO_FAILURES();
}
END_TEST

WEFT_TEST_MAIN("stress_netpoll", test_ten_thousand_connections)
