/*
 * timeout_io.c -- timing out goroutines that wait on the network: a slow
 * peer, a read with a deadline, and a whole request under a context.
 *
 * In Go:
 *
 *     c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
 *     n, err := c.Read(buf)          // os.ErrDeadlineExceeded if slow
 *
 *     ctx, cancel := context.WithTimeout(ctx, 150*time.Millisecond)
 *     defer cancel()
 *     resp, err := fetch(ctx, addr)  // every step gives up at the deadline
 *
 * A deadline bounds one call; a peer that trickles one byte just inside
 * it keeps every call alive and the request going forever. A context
 * bounds the whole request, however many calls it makes. In weft the _dl
 * twin takes the deadline and the _ctx twin the context, and both give
 * -ETIMEDOUT when time is up.
 *
 * The slow peer here answers "hello, world\n" after DELAY, one byte every
 * TRICKLE.
 *
 * Run: ./timeout_io
 */
#include <weft.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#define DELAY (100 * WEFT_MS)
#define TRICKLE (20 * WEFT_MS)
static const char reply[] = "hello, world\n";

static int failures;

static void check(int ok, const char *what) {
  printf("  %-58s %s\n", what, ok ? "ok" : "WRONG");
  if (!ok)
    failures++;
}

/* ---- the slow peer ------------------------------------------------------ */

static void slow_conn(void *arg) {
  int fd = (int)(intptr_t)arg;
  char c;
  if (weft_fd_read(fd, &c, 1) == 1) { /* any request */
    weft_sleep(DELAY);
    for (size_t i = 0; i < sizeof reply - 1; i++) {
      if (weft_fd_write(fd, &reply[i], 1) != 1)
        break; /* the client gave up */
      weft_sleep(TRICKLE);
    }
  }
  weft_fd_close(fd);
}

static void slow_server(void *arg) {
  int ln = (int)(intptr_t)arg, fd;
  while ((fd = weft_fd_accept(ln, NULL, NULL)) >= 0)
    weft_go(slow_conn, (void *)(intptr_t)fd);
}

/* ---- clients ------------------------------------------------------------ */

static char addr[64];

static double ms_since(int64_t t0) {
  return (double)(weft_now() - t0) / WEFT_MS;
}

/* The whole request under ctx: dial, send, read until the reply's end. */
static int fetch(weft_ctx *ctx, char *out, size_t cap) {
  int fd = weft_dial_ctx(ctx, "tcp", addr);
  if (fd < 0)
    return fd;
  int rc = (int)weft_fd_write_ctx(ctx, fd, "?", 1);
  size_t got = 0;
  while (rc >= 0 && got < cap - 1 && (got == 0 || out[got - 1] != '\n')) {
    ssize_t n = weft_fd_read_ctx(ctx, fd, out + got, cap - 1 - got);
    rc = n > 0 ? 0 : n == 0 ? -ECONNRESET : (int)n;
    got += n > 0 ? (size_t)n : 0;
  }
  out[got] = '\0';
  weft_fd_close(fd);
  return rc < 0 ? rc : (int)got;
}

static void cancel_later(void *ctx) {
  weft_sleep(DELAY / 2);
  weft_ctx_cancel(ctx);
  weft_ctx_unref(ctx);
}

static int app(int argc, char **argv) {
  (void)argc, (void)argv;
  int ln = weft_listen("tcp", "127.0.0.1:0");
  struct sockaddr_in sa;
  socklen_t len = sizeof sa;
  getsockname(ln, (struct sockaddr *)&sa, &len);
  snprintf(addr, sizeof addr, "127.0.0.1:%d", ntohs(sa.sin_port));
  weft_go(slow_server, (void *)(intptr_t)ln);
  char what[96], buf[64];

  printf("one read with a deadline:\n");
  int fd = weft_dial("tcp", addr);
  weft_fd_write(fd, "?", 1);
  int64_t t0 = weft_now();
  ssize_t n = weft_fd_read_dl(fd, buf, sizeof buf, t0 + DELAY / 2);
  snprintf(what, sizeof what, "a read shorter than the delay: -ETIMEDOUT after %.0f ms",
           ms_since(t0));
  check(n == -ETIMEDOUT && weft_now() - t0 >= DELAY / 2, what);
  n = weft_fd_read_dl(fd, buf, sizeof buf, weft_now() + 2 * DELAY);
  check(n == 1 && buf[0] == 'h', "the same fd, a longer deadline: the first byte");
  weft_fd_close(fd);

  printf("a deadline per read does not bound a request:\n");
  fd = weft_dial("tcp", addr);
  weft_fd_write(fd, "?", 1);
  t0 = weft_now();
  size_t got = 0;
  while (got < sizeof reply - 1 &&
         (n = weft_fd_read_dl(fd, buf + got, 1, weft_now() + DELAY + TRICKLE)) == 1)
    got++;
  snprintf(what, sizeof what, "each read in time, the reply whole after %.0f ms",
           ms_since(t0));
  check(got == sizeof reply - 1 && memcmp(buf, reply, got) == 0 &&
            weft_now() - t0 >= DELAY + 10 * TRICKLE,
        what);
  weft_fd_close(fd);

  printf("a context bounds the whole request:\n");
  t0 = weft_now(); /* before the timeout starts counting */
  weft_ctx *ctx = weft_ctx_with_timeout(weft_ctx_background(), DELAY + 3 * TRICKLE);
  int rc = fetch(ctx, buf, sizeof buf);
  snprintf(what, sizeof what, "the trickling reply: -ETIMEDOUT after %.0f ms",
           ms_since(t0));
  check(rc == -ETIMEDOUT && weft_now() - t0 >= DELAY + 3 * TRICKLE &&
            weft_now() - t0 < DELAY + 10 * TRICKLE,
        what);
  weft_ctx_unref(ctx);
  ctx = weft_ctx_with_timeout(weft_ctx_background(), 20 * DELAY);
  rc = fetch(ctx, buf, sizeof buf);
  check(rc == (int)sizeof reply - 1 && strcmp(buf, reply) == 0,
        "with time enough: the reply, whole");
  weft_ctx_unref(ctx);

  printf("a context cancelled by another goroutine:\n");
  ctx = weft_ctx_with_cancel(weft_ctx_background());
  weft_go(cancel_later, weft_ctx_ref(ctx));
  t0 = weft_now();
  rc = fetch(ctx, buf, sizeof buf);
  snprintf(what, sizeof what, "-ECANCELED after %.0f ms", ms_since(t0));
  check(rc == -ECANCELED && weft_now() - t0 < DELAY, what);
  weft_ctx_unref(ctx);

  weft_fd_close(ln);
  printf("%s\n", failures ? "FAILED" : "all ok");
  return failures != 0;
}

int main(int argc, char **argv) { return weft_main(app, argc, argv); }
