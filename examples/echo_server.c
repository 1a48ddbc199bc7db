/*
 * echo_server.c -- a goroutine per connection, as a Go server is written:
 * straight-line blocking reads and writes, an idle timeout per
 * connection, an accept loop that backs off when out of fds, and a clean
 * shutdown through a context.
 *
 * In Go:
 *
 *     ln, _ := net.Listen("tcp", "127.0.0.1:0")
 *     go func() { <-ctx.Done(); ln.Close() }()       // shutdown
 *     for {
 *         c, err := ln.Accept()
 *         if err != nil { time.Sleep(backoff); continue }  // EMFILE
 *         go func() {
 *             defer c.Close()
 *             for {
 *                 c.SetReadDeadline(time.Now().Add(idle))
 *                 n, err := c.Read(buf)
 *                 if err != nil { return }                  // EOF, timeout
 *                 c.Write(buf[:n])
 *             }
 *         }()
 *     }
 *
 * weft's calls park the goroutine on EAGAIN until the poller says the fd
 * is ready, so each connection costs a goroutine, not a thread. The _ctx
 * twins end when the server's context is cancelled, so shutting down is
 * one weft_ctx_cancel: the accept loop and every connection return.
 *
 * Run: ./echo_server            (a self-test: 200 clients on loopback)
 *      ./echo_server -l ADDR    (serve on ADDR, e.g. 127.0.0.1:7000)
 */
#include <weft.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define IDLE (300 * WEFT_MS) /* a connection silent this long is closed */
#define CLIENTS 200
#define ROUNDS 50

static int failures;

static void check(int ok, const char *what) {
  printf("  %-58s %s\n", what, ok ? "ok" : "WRONG");
  if (!ok)
    failures++;
}

static atomic_int served, idled, listener_closed;
static weft_ctx *server_ctx; /* cancelled to shut the server down */

/* ---- the server --------------------------------------------------------- */

static void serve_conn(void *arg) {
  int fd = (int)(intptr_t)arg;
  char buf[4096];
  for (;;) {
    weft_fd_set_deadline(fd, WEFT_READ, weft_now() + IDLE);
    ssize_t n = weft_fd_read_ctx(server_ctx, fd, buf, sizeof buf);
    if (n == -ETIMEDOUT)
      atomic_fetch_add(&idled, 1);
    if (n <= 0)
      break; /* end of stream, idle, reset */
    if (weft_fd_write(fd, buf, (size_t)n) != n)
      break;
  }
  weft_fd_close(fd);
  atomic_fetch_add(&served, 1);
}

static void accept_loop(void *arg) {
  int ln = (int)(intptr_t)arg;
  int64_t backoff = 0;
  for (;;) {
    int fd = weft_fd_accept_ctx(server_ctx, ln, NULL, NULL);
    if (fd == -EMFILE || fd == -ENFILE) { /* as Go's http.Server */
      backoff = backoff ? backoff * 2 : 5 * WEFT_MS;
      if (backoff > WEFT_SEC)
        backoff = WEFT_SEC;
      weft_sleep(backoff);
      continue;
    }
    if (fd < 0)
      break; /* -ECANCELED: shutting down */
    backoff = 0;
    if (weft_go(serve_conn, (void *)(intptr_t)fd) != 0)
      weft_fd_close(fd);
  }
  weft_fd_close(ln);
  atomic_store(&listener_closed, 1);
}

/* ---- the self-test's clients ------------------------------------------ */

static char addr[64];
static weft_waitgroup wg = WEFT_WAITGROUP_INIT;
static atomic_int clients_ok;

static void client(void *arg) {
  int id = (int)(intptr_t)arg, ok = 1;
  int fd = weft_dial("tcp", addr);
  if (fd < 0) {
    weft_wg_done(&wg);
    return;
  }
  char msg[64], back[64];
  for (int r = 0; r < ROUNDS && ok; r++) {
    int len = snprintf(msg, sizeof msg, "client %d round %d", id, r);
    ok = weft_fd_write(fd, msg, (size_t)len) == len;
    int got = 0;
    while (ok && got < len) { /* TCP is a stream: the echo may split */
      ssize_t n = weft_fd_read(fd, back + got, sizeof back - (size_t)got);
      ok = n > 0;
      got += ok ? (int)n : 0;
    }
    ok = ok && got == len && memcmp(msg, back, (size_t)len) == 0;
  }
  weft_fd_close(fd);
  if (ok)
    atomic_fetch_add(&clients_ok, 1);
  weft_wg_done(&wg);
}

/* Connects and stays silent: the server must close it after IDLE. */
static int idle_client(int64_t *waited) {
  int fd = weft_dial("tcp", addr);
  if (fd < 0)
    return 0;
  int64_t t0 = weft_now();
  char c;
  ssize_t n = weft_fd_read_dl(fd, &c, 1, t0 + 10 * WEFT_SEC);
  *waited = weft_now() - t0;
  weft_fd_close(fd);
  return n == 0; /* the server's close: end of stream */
}

static int self_test(void) {
  int ln = weft_listen("tcp", "127.0.0.1:0");
  if (ln < 0) {
    fprintf(stderr, "listen: %s\n", strerror(-ln));
    return 1;
  }
  struct sockaddr_in sa;
  socklen_t len = sizeof sa;
  getsockname(ln, (struct sockaddr *)&sa, &len);
  snprintf(addr, sizeof addr, "127.0.0.1:%d", ntohs(sa.sin_port));
  printf("echo server on %s, %d clients x %d round trips\n", addr, CLIENTS,
         ROUNDS);
  server_ctx = weft_ctx_with_cancel(weft_ctx_background());
  weft_go(accept_loop, (void *)(intptr_t)ln);

  int64_t t0 = weft_now();
  weft_wg_add(&wg, CLIENTS);
  for (int i = 0; i < CLIENTS; i++)
    weft_go(client, (void *)(intptr_t)i);
  weft_wg_wait(&wg);
  double ms = (double)(weft_now() - t0) / WEFT_MS;
  char what[96];
  snprintf(what, sizeof what, "every echo came back whole (%d of %d clients)",
           atomic_load(&clients_ok), CLIENTS);
  check(atomic_load(&clients_ok) == CLIENTS, what);
  printf("  (%d round trips in %.0f ms)\n", CLIENTS * ROUNDS, ms);

  int64_t waited = 0;
  int closed = idle_client(&waited);
  snprintf(what, sizeof what, "a silent client is closed after %.0f ms",
           (double)waited / WEFT_MS);
  check(closed && waited >= IDLE - 5 * WEFT_MS, what);
  check(atomic_load(&idled) == 1, "exactly one connection timed out idle");

  /* Shutdown with connections open: their clients see the end of stream. */
  int open_fds[3];
  for (int i = 0; i < 3; i++)
    open_fds[i] = weft_dial("tcp", addr);
  weft_fd_write(open_fds[0], "x", 1); /* one connection busy, two silent */
  char c;
  check(weft_fd_read(open_fds[0], &c, 1) == 1 && c == 'x', "a connection is open");
  weft_ctx_cancel(server_ctx);
  int64_t t1 = weft_now();
  int ended = 0;
  for (int i = 0; i < 3; i++) {
    ended += weft_fd_read_dl(open_fds[i], &c, 1, weft_now() + 5 * WEFT_SEC) == 0;
    weft_fd_close(open_fds[i]);
  }
  /* At once: not the idle timeout's doing. */
  check(ended == 3 && weft_now() - t1 < IDLE / 2,
        "shutdown closes every open connection at once");
  for (int i = 0; i < 200 && (atomic_load(&served) < CLIENTS + 4 ||
                              !atomic_load(&listener_closed)); i++)
    weft_sleep(5 * WEFT_MS);
  check(atomic_load(&served) == CLIENTS + 4, "every connection's goroutine ended");
  check(weft_dial("tcp", addr) == -ECONNREFUSED, "the listener is closed");
  weft_ctx_unref(server_ctx);
  printf("%s\n", failures ? "FAILED" : "all ok");
  return failures != 0;
}

static int app(int argc, char **argv) {
  if (argc == 3 && strcmp(argv[1], "-l") == 0) {
    int ln = weft_listen("tcp", argv[2]);
    if (ln < 0) {
      fprintf(stderr, "listen %s: %s\n", argv[2], strerror(-ln));
      return 1;
    }
    server_ctx = weft_ctx_with_cancel(weft_ctx_background());
    accept_loop((void *)(intptr_t)ln);
    return 1;
  }
  if (argc != 1) {
    fprintf(stderr, "usage: %s [-l host:port]\n", argv[0]);
    return 2;
  }
  return self_test();
}

int main(int argc, char **argv) { return weft_main(app, argc, argv); }
