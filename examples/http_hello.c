/*
 * http_hello.c -- a small HTTP/1.1 server with keep-alive: a goroutine
 * per connection, reading requests and writing responses in straight
 * lines, as Go's net/http serves each connection.
 *
 * In Go:
 *
 *     http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
 *         fmt.Fprintln(w, "Hello, world")
 *     })
 *     http.ListenAndServe(":8080", nil)
 *
 * This one understands just enough HTTP for curl and load generators:
 * GET and HEAD, keep-alive (HTTP/1.1's default, HTTP/1.0's on request),
 * "Connection: close", pipelined requests, a request body it skips by
 * Content-Length, and 400 for what it cannot parse. Each connection has
 * an idle deadline between requests.
 *
 * Run: ./http_hello                 (a self-test on loopback)
 *      ./http_hello -l ADDR         (serve on ADDR, e.g. 127.0.0.1:8080;
 *                                    then: curl http://127.0.0.1:8080/)
 */
#include <weft.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define IDLE (5 * WEFT_SEC)
#define BUF 8192

static int failures;

static void check(int ok, const char *what) {
  printf("  %-58s %s\n", what, ok ? "ok" : "WRONG");
  if (!ok)
    failures++;
}

/* ---- the server --------------------------------------------------------- */

static atomic_int requests; /* answered with 200 */

typedef struct conn {
  int fd;
  char buf[BUF];
  size_t len; /* bytes in buf, from the start of the next request */
} conn;

/* The header value of name in the header block h (NUL-ended), or NULL. */
static const char *header(const char *h, const char *name, size_t *vlen) {
  size_t n = strlen(name);
  for (const char *line = strstr(h, "\r\n"); line && line[2] != '\r';
       line = strstr(line + 2, "\r\n")) {
    const char *l = line + 2;
    if (strncasecmp(l, name, n) == 0 && l[n] == ':') {
      const char *v = l + n + 1;
      while (*v == ' ')
        v++;
      *vlen = (size_t)(strstr(v, "\r\n") - v);
      return v;
    }
  }
  return NULL;
}

/* Reads until buf holds a whole header block; its length, 0 at a clean
 * end of stream, or a negative errno (-EMSGSIZE when it does not fit). */
static ssize_t read_head(conn *c) {
  for (;;) {
    c->buf[c->len] = '\0';
    char *end = strstr(c->buf, "\r\n\r\n");
    if (end)
      return end + 4 - c->buf;
    if (c->len == BUF - 1)
      return -EMSGSIZE;
    weft_fd_set_deadline(c->fd, WEFT_READ, weft_now() + IDLE);
    ssize_t n = weft_fd_read(c->fd, c->buf + c->len, BUF - 1 - c->len);
    if (n <= 0)
      return n == 0 && c->len == 0 ? 0 : n == 0 ? -EPROTO : n;
    c->len += (size_t)n;
  }
}

static int respond(conn *c, int status, int head, int keep) {
  static const char hello[] = "Hello, world\n";
  char out[256];
  const char *reason = status == 200 ? "OK" : "Bad Request";
  int n = snprintf(out, sizeof out,
                   "HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\n"
                   "Content-Length: %zu\r\n%s\r\n%s",
                   status, reason, status == 200 ? sizeof hello - 1 : 0,
                   keep ? "" : "Connection: close\r\n",
                   status == 200 && !head ? hello : "");
  return weft_fd_write(c->fd, out, (size_t)n) == n ? 0 : -1;
}

/* Serves one request from buf; 1 to go on with the connection. */
static int serve_one(conn *c, size_t head_len) {
  char method[8], path[1024];
  int minor = -1;
  int ok = sscanf(c->buf, "%7s %1023s HTTP/1.%d", method, path, &minor) == 3;
  int get = ok && strcmp(method, "GET") == 0, hd = ok && strcmp(method, "HEAD") == 0;
  size_t vlen = 0;
  const char *conn_h = header(c->buf, "Connection", &vlen);
  int keep = minor == 1 ? !(conn_h && strncasecmp(conn_h, "close", 5) == 0)
                        : (conn_h && strncasecmp(conn_h, "keep-alive", 10) == 0);
  const char *cl = header(c->buf, "Content-Length", &vlen);
  size_t body = cl ? strtoul(cl, NULL, 10) : 0;
  if (!ok || !(get || hd) || body > BUF) {
    respond(c, 400, 0, 0);
    return 0;
  }
  /* Drop this request (and its body) from buf, keeping what follows. */
  while (c->len < head_len + body) {
    ssize_t n = weft_fd_read(c->fd, c->buf + c->len, BUF - 1 - c->len);
    if (n <= 0)
      return 0;
    c->len += (size_t)n;
  }
  memmove(c->buf, c->buf + head_len + body, c->len - head_len - body);
  c->len -= head_len + body;
  atomic_fetch_add(&requests, 1);
  return respond(c, 200, hd, keep) == 0 && keep;
}

static void serve_conn(void *arg) {
  conn *c = calloc(1, sizeof *c);
  c->fd = (int)(intptr_t)arg;
  ssize_t head;
  while ((head = read_head(c)) > 0 && serve_one(c, (size_t)head))
    ;
  weft_fd_close(c->fd);
  free(c);
}

static void accept_loop(void *arg) {
  int ln = (int)(intptr_t)arg, fd;
  for (;;) {
    fd = weft_fd_accept(ln, NULL, NULL);
    if (fd == -EMFILE || fd == -ENFILE) {
      weft_sleep(10 * WEFT_MS);
      continue;
    }
    if (fd < 0)
      return;
    weft_go(serve_conn, (void *)(intptr_t)fd);
  }
}

/* ---- the self-test ------------------------------------------------------ */

static char addr[64];

/* Sends req on a new connection and reads until the peer closes or len
 * bytes came; the bytes read. */
static ssize_t exchange(int fd, const char *req, char *out, size_t cap) {
  if (req && weft_fd_write(fd, req, strlen(req)) != (ssize_t)strlen(req))
    return -1;
  size_t got = 0;
  ssize_t n;
  while (got < cap - 1 &&
         (n = weft_fd_read_dl(fd, out + got, cap - 1 - got,
                              weft_now() + 2 * WEFT_SEC)) > 0)
    got += (size_t)n;
  out[got] = '\0';
  return (ssize_t)got;
}

static int count(const char *s, const char *what) {
  int n = 0;
  for (const char *p = strstr(s, what); p; p = strstr(p + 1, what))
    n++;
  return n;
}

static int self_test(void) {
  int ln = weft_listen("tcp", "127.0.0.1:0");
  struct sockaddr_in sa;
  socklen_t len = sizeof sa;
  getsockname(ln, (struct sockaddr *)&sa, &len);
  snprintf(addr, sizeof addr, "127.0.0.1:%d", ntohs(sa.sin_port));
  weft_go(accept_loop, (void *)(intptr_t)ln);
  printf("HTTP server on http://%s/\n", addr);
  static char out[16384];

  int fd = weft_dial("tcp", addr);
  const char *three = "GET / HTTP/1.1\r\nHost: x\r\n\r\n"
                      "HEAD / HTTP/1.1\r\nHost: x\r\n\r\n"
                      "GET /last HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
  exchange(fd, three, out, sizeof out);
  weft_fd_close(fd);
  check(count(out, "HTTP/1.1 200 OK") == 3, "three pipelined requests, three answers");
  check(count(out, "Hello, world\n") == 2, "GET has the body, HEAD has none");
  check(count(out, "Connection: close") == 1, "the last one closes the connection");

  fd = weft_dial("tcp", addr);
  int ok = 1;
  for (int i = 0; i < 100 && ok; i++) { /* keep-alive: one at a time */
    const char *req = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    weft_fd_write(fd, req, strlen(req));
    size_t got = 0;
    while (ok && (got < 4 || !strstr(out, "world\n"))) {
      ssize_t n = weft_fd_read_dl(fd, out + got, sizeof out - 1 - got,
                                  weft_now() + 2 * WEFT_SEC);
      ok = n > 0;
      got += ok ? (size_t)n : 0;
      out[got] = '\0';
    }
    ok = ok && strncmp(out, "HTTP/1.1 200 OK\r\n", 17) == 0;
  }
  weft_fd_close(fd);
  check(ok, "100 requests in turn on one kept-alive connection");

  fd = weft_dial("tcp", addr);
  exchange(fd, "GET / HTTP/1.0\r\n\r\n", out, sizeof out);
  weft_fd_close(fd);
  check(strstr(out, "200 OK") && strstr(out, "Connection: close"),
        "HTTP/1.0 without keep-alive: answered, then closed");

  fd = weft_dial("tcp", addr);
  exchange(fd, "BREW /pot HTCPCP/1.0\r\n\r\n", out, sizeof out);
  weft_fd_close(fd);
  check(strncmp(out, "HTTP/1.1 400", 12) == 0, "nonsense gets 400 and a close");

  weft_fd_close(ln);
  char what[80];
  snprintf(what, sizeof what, "the server answered %d requests with 200 (104)",
           atomic_load(&requests));
  check(atomic_load(&requests) == 104, what);
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
