/* test_netpoll.c -- file descriptors and the network (weft.h, "Go's
 * netpoller"): the weft_fd_* calls on pipes, socketpairs, TCP and UDP on
 * loopback, regular files; their deadlines (per call and per fd) and
 * contexts; weft_fd_close waking every waiter and the fd number's reuse;
 * bad arguments; plain-thread callers, signals and EINTR; SIGPIPE; the
 * write-all loops; accept's EMFILE; the deadlock detector and the dump;
 * and a mixed goroutine/thread echo stress.
 *
 * Conventions here:
 * - Data is a position-dependent pattern (pat), so every byte received is
 *   checked for value and order, and counts show nothing was lost.
 * - A waiter (opjob: one weft_fd_* call in a goroutine or a plain thread)
 *   reports its result and the weft_now() of its return on a channel; the
 *   test's thread waits for it with a deadline, so a lost wake fails the
 *   test instead of hanging it.
 * - "Parked" is read from the goroutine dump ([IO wait] entries, goroutines
 *   and plain threads alike), not guessed from a sleep.
 * - weft's monitor opens /proc files for short moments, so a closed fd
 *   number may be reused at any time: checks on closed fds use numbers
 *   moved high (move_high), out of the way of lowest-free allocation.
 */
#include <arpa/inet.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>

#include "weft_test.h"

#define DEADLOCK_LINE "weft: fatal error: all goroutines are asleep - deadlock!\n"
#define BOUND_NS (2 * WEFT_SEC) /* "promptly", on a loaded 2-vCPU box */
#define RESULT_NS (10 * WEFT_SEC) /* how long a result may take to come */

static void procs(int n) {
  weft_config cfg = {.procs = n};
  ck_assert_int_eq(weft_init(&cfg), 0);
}

/* ---- data ----------------------------------------------------------------- */

/* Byte i of stream seed: a hash of both, so a byte out of place, lost or
 * repeated shows. */
static inline uint8_t pat(uint64_t i, uint64_t seed) {
  uint64_t x = (i + 1) * 0x9E3779B97F4A7C15ull ^ (seed + 1) * 0xD1B54A32D192ED03ull;
  x ^= x >> 31;
  x *= 0xBF58476D1CE4E5B9ull;
  x ^= x >> 29;
  return (uint8_t)x;
}

static void pat_fill(uint8_t *b, size_t n, uint64_t off, uint64_t seed) {
  for (size_t i = 0; i < n; i++)
    b[i] = pat(off + i, seed);
}

/* The index of the first byte of b that is not bytes off.. of the stream,
 * or -1. */
static long long pat_bad(const uint8_t *b, size_t n, uint64_t off,
                         uint64_t seed) {
  for (size_t i = 0; i < n; i++)
    if (b[i] != pat(off + i, seed))
      return (long long)i;
  return -1;
}

/* ---- fds ------------------------------------------------------------------ */

/* A number at least this high is never handed out by lowest-free
 * allocation in these tests. */
static int high_base(void) {
  struct rlimit rl;
  ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
  rlim_t cur = rl.rlim_cur == RLIM_INFINITY ? 65536 : rl.rlim_cur;
  if (cur > 8192)
    cur = 8192;
  return (int)(cur / 2);
}

/* Moves fd to a high number (see the header), close-on-exec. */
static int move_high(int fd) {
  int h = fcntl(fd, F_DUPFD_CLOEXEC, high_base());
  ck_assert_int_ge(h, 0);
  ck_assert_int_eq(close(fd), 0);
  return h;
}

static void make_pipe(int p[2], bool high) {
  ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
  if (high) {
    p[0] = move_high(p[0]);
    p[1] = move_high(p[1]);
  }
}

static void make_socketpair(int type, int s[2], bool high) {
  ck_assert_int_eq(socketpair(AF_UNIX, type | SOCK_CLOEXEC, 0, s), 0);
  if (high) {
    s[0] = move_high(s[0]);
    s[1] = move_high(s[1]);
  }
}

/* Fills the pipe or socket buffer behind fd with raw non-blocking writes;
 * returns the bytes written (all of pattern stream seed). */
static size_t fill_up(int fd, uint64_t seed) {
  int fl = fcntl(fd, F_GETFL);
  ck_assert_int_ge(fl, 0);
  ck_assert_int_eq(fcntl(fd, F_SETFL, fl | O_NONBLOCK), 0);
  uint8_t buf[4096];
  size_t total = 0;
  for (;;) {
    pat_fill(buf, sizeof buf, total, seed);
    ssize_t r = write(fd, buf, sizeof buf);
    if (r < 0) {
      ck_assert_msg(errno == EAGAIN, "fill_up: %s", strerror(errno));
      break;
    }
    total += (size_t)r;
  }
  ck_assert_uint_gt(total, 0);
  return total;
}

/* A TCP listener on 127.0.0.1, port chosen by the kernel (in *addr). */
static int tcp_listener(struct sockaddr_in *addr, int backlog) {
  int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ck_assert_int_ge(l, 0);
  memset(addr, 0, sizeof *addr);
  addr->sin_family = AF_INET;
  addr->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ck_assert_int_eq(bind(l, (struct sockaddr *)addr, sizeof *addr), 0);
  ck_assert_int_eq(listen(l, backlog), 0);
  socklen_t len = sizeof *addr;
  ck_assert_int_eq(getsockname(l, (struct sockaddr *)addr, &len), 0);
  ck_assert_int_ne(addr->sin_port, 0);
  return l;
}

static int udp_socket(struct sockaddr_in *addr) {
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  ck_assert_int_ge(s, 0);
  memset(addr, 0, sizeof *addr);
  addr->sin_family = AF_INET;
  addr->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ck_assert_int_eq(bind(s, (struct sockaddr *)addr, sizeof *addr), 0);
  socklen_t len = sizeof *addr;
  ck_assert_int_eq(getsockname(s, (struct sockaddr *)addr, &len), 0);
  return s;
}

/* n bytes from fd (fewer only at end of file), or an error. */
static ssize_t read_full(int fd, void *buf, size_t n) {
  size_t got = 0;
  while (got < n) {
    ssize_t r = weft_fd_read(fd, (char *)buf + got, n - got);
    if (r < 0)
      return r;
    if (r == 0)
      break;
    got += (size_t)r;
  }
  return (ssize_t)got;
}

static ssize_t recv_full(int fd, void *buf, size_t n) {
  size_t got = 0;
  while (got < n) {
    ssize_t r = weft_fd_recv(fd, (char *)buf + got, n - got, 0);
    if (r < 0)
      return r;
    if (r == 0)
      break;
    got += (size_t)r;
  }
  return (ssize_t)got;
}

/* ---- goroutines joined by a waitgroup ------------------------------------ */

static weft_waitgroup g_wg = WEFT_WAITGROUP_INIT;

typedef struct job {
  void (*fn)(void *);
  void *arg;
} job;

static void job_tramp(void *p) {
  job j = *(job *)p;
  free(p);
  j.fn(j.arg);
  weft_wg_done(&g_wg);
}

/* Starts fn(arg) in a goroutine that g_wg waits for (test thread only). */
static void go_wg(void (*fn)(void *), void *arg) {
  job *j = malloc(sizeof *j);
  ck_assert_ptr_nonnull(j);
  j->fn = fn;
  j->arg = arg;
  weft_wg_add(&g_wg, 1);
  go_or_die(job_tramp, j);
}

/* ---- one call in a goroutine or a thread, its result on a channel -------- */

enum op {
  OP_READ,
  OP_WRITE,
  OP_WAIT_R,
  OP_WAIT_W,
  OP_ACCEPT,
  OP_RECV,
  OP_RECVFROM
};

typedef struct opres {
  ssize_t r;
  int64_t at; /* weft_now() when the call returned */
  uint8_t data[16];
} opres;

typedef struct opjob {
  enum op op;
  int fd;
  int64_t dl;    /* the call's deadline: WEFT_FOREVER for the plain call */
  weft_ctx *ctx; /* non-NULL: the _ctx twin instead */
  weft_chan *out; /* opres, buffered */
} opjob;

static ssize_t run_op(const opjob *j, uint8_t *buf) {
  weft_ctx *c = j->ctx;
  bool dl = j->dl != WEFT_FOREVER;
  switch (j->op) {
  case OP_READ:
    return c ? weft_fd_read_ctx(c, j->fd, buf, 16)
           : dl ? weft_fd_read_dl(j->fd, buf, 16, j->dl)
                : weft_fd_read(j->fd, buf, 16);
  case OP_WRITE:
    pat_fill(buf, 16, 0, 99);
    return c ? weft_fd_write_ctx(c, j->fd, buf, 16)
           : dl ? weft_fd_write_dl(j->fd, buf, 16, j->dl)
                : weft_fd_write(j->fd, buf, 16);
  case OP_WAIT_R:
  case OP_WAIT_W: {
    int ev = j->op == OP_WAIT_R ? WEFT_READ : WEFT_WRITE;
    return c ? weft_fd_wait_ctx(c, j->fd, ev)
           : dl ? weft_fd_wait_dl(j->fd, ev, j->dl)
                : weft_fd_wait(j->fd, ev);
  }
  case OP_ACCEPT: {
    int r = c ? weft_fd_accept_ctx(c, j->fd, NULL, NULL)
            : dl ? weft_fd_accept_dl(j->fd, NULL, NULL, j->dl)
                 : weft_fd_accept(j->fd, NULL, NULL);
    if (r >= 0)
      close(r);
    return r;
  }
  case OP_RECV:
    return c ? weft_fd_recv_ctx(c, j->fd, buf, 16, 0)
           : dl ? weft_fd_recv_dl(j->fd, buf, 16, 0, j->dl)
                : weft_fd_recv(j->fd, buf, 16, 0);
  case OP_RECVFROM: {
    struct sockaddr_storage from;
    socklen_t len = sizeof from;
    struct sockaddr *f = (struct sockaddr *)&from;
    return c ? weft_fd_recvfrom_ctx(c, j->fd, buf, 16, 0, f, &len)
           : dl ? weft_fd_recvfrom_dl(j->fd, buf, 16, 0, f, &len, j->dl)
                : weft_fd_recvfrom(j->fd, buf, 16, 0, f, &len);
  }
  }
  return -ENOSYS;
}

static void op_run_and_report(void *arg) {
  const opjob *j = arg;
  opres res;
  memset(&res, 0, sizeof res);
  res.r = run_op(j, res.data);
  res.at = weft_now();
  weft_chan *out = j->out; /* j may be gone once the result is in */
  WEFT_EXPECT(weft_send(out, &res) == 0, "send of a result");
}

static void start_op_goroutine(opjob *j) { go_or_die(op_run_and_report, j); }

static pthread_t start_op_thread(opjob *j) {
  return spawn_thread(op_run_and_report, j);
}

static opres wait_result(weft_chan *out) {
  opres res;
  int rc = weft_recv_dl(out, &res, weft_now() + RESULT_NS);
  ck_assert_msg(rc == 1, "no result within %d s (rc %d): a waiter was not "
                "woken", (int)(RESULT_NS / WEFT_SEC), rc);
  return res;
}

/* Asserts that no result comes for ns: the waiter is still waiting. */
static void assert_no_result(weft_chan *out, int64_t ns) {
  opres res;
  int rc = weft_recv_dl(out, &res, weft_now() + ns);
  ck_assert_msg(rc == -ETIMEDOUT, "a waiter returned early: rc %d, r %zd",
                rc, rc == 1 ? res.r : 0);
}

#define ASSERT_WAITED(from, to, lo)                                           \
  do {                                                                        \
    int64_t w_ = (to) - (from);                                               \
    ck_assert_msg(w_ >= (lo) && w_ < BOUND_NS,                                \
                  "waited %lld us, want [%lld us, %lld us)",                  \
                  (long long)(w_ / WEFT_US), (long long)((lo) / WEFT_US),     \
                  (long long)(BOUND_NS / WEFT_US));                           \
  } while (0)

/* ---- the dump ------------------------------------------------------------- */

static char *dump_string(void) {
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  if (f == NULL)
    return NULL;
  weft_dump(f);
  fclose(f);
  return buf;
}

static int count_str(const char *hay, const char *needle) {
  int n = 0;
  for (const char *p = hay; (p = strstr(p, needle)) != NULL; p++)
    n++;
  return n;
}

/* Goroutines and plain threads that the dump shows parked on an fd. */
static int io_parked(void) {
  char *d = dump_string();
  if (d == NULL)
    return -1;
  int n = count_str(d, "[IO wait");
  free(d);
  return n;
}

/* From the test's thread: waits until n parties are parked on fds. */
static void wait_parked(int n) {
  ck_assert_msg(WEFT_POLL_UNTIL(io_parked() >= n, 10000),
                "%d parties not parked on an fd within 10 s (%d are)", n,
                io_parked());
}

/* ==== 1. a pipe ============================================================= */

#define PIPE_BYTES (1 << 20) /* 16 pipe buffers: both sides park */

static void pipe_writer(void *arg) {
  int fd = *(int *)arg;
  uint8_t *buf = malloc(PIPE_BYTES);
  WEFT_EXPECT(buf != NULL, "malloc");
  if (buf == NULL)
    return;
  pat_fill(buf, PIPE_BYTES, 0, 1);
  static const size_t sizes[] = {1, 7, 4096, 65537, 100, 32768, 3, 200000};
  size_t off = 0;
  for (unsigned k = 0; off < PIPE_BYTES; k++) {
    size_t n = sizes[k % 8];
    if (n > PIPE_BYTES - off)
      n = PIPE_BYTES - off;
    ssize_t r = weft_fd_write(fd, buf + off, n);
    WEFT_EXPECT(r == (ssize_t)n, "write of %zu at %zu: %zd", n, off, r);
    if (r != (ssize_t)n)
      break;
    off += n;
  }
  free(buf);
  int rc = weft_fd_close(fd);
  WEFT_EXPECT(rc == 0, "close of the write end: %d", rc);
}

static void pipe_reader(void *arg) {
  int fd = *(int *)arg;
  uint8_t buf[5000];
  size_t total = 0;
  for (;;) {
    ssize_t r = weft_fd_read(fd, buf, sizeof buf);
    WEFT_EXPECT(r >= 0, "read at %zu: %zd", total, r);
    if (r <= 0)
      break;
    long long bad = pat_bad(buf, (size_t)r, total, 1);
    WEFT_EXPECT(bad < 0, "byte %lld of the stream is wrong",
                (long long)total + bad);
    if (bad >= 0)
      break;
    total += (size_t)r;
  }
  WEFT_EXPECT(total == PIPE_BYTES, "read %zu bytes, want %d", total,
              PIPE_BYTES);
  ssize_t again = weft_fd_read(fd, buf, 1);
  WEFT_EXPECT(again == 0, "a read after end of file: %zd", again);
  int rc = weft_fd_close(fd);
  WEFT_EXPECT(rc == 0, "close of the read end: %d", rc);
}

START_TEST(test_pipe_round_trip) {
  procs(2);
  int p[2];
  make_pipe(p, true);
  go_wg(pipe_reader, &p[0]);
  go_wg(pipe_writer, &p[1]);
  weft_wg_wait(&g_wg);
  WEFT_ASSERT_NO_FAILURES();
  /* Both ends closed through weft: calls give -EBADF. */
  char c;
  ck_assert_int_eq(weft_fd_read(p[0], &c, 1), -EBADF);
  ck_assert_int_eq(weft_fd_write(p[1], "x", 1), -EBADF);
  ck_assert_int_eq(fcntl(p[0], F_GETFD), -1);
  ck_assert_int_eq(fcntl(p[1], F_GETFD), -1);
}
END_TEST

/* ==== 2. socketpair ping-pong ================================================= */

#define PING_ROUNDS WEFT_SCALE(20000)

static size_t ping_len(int round) { return 1 + (size_t)(round * 37) % 200; }

static void pinger(void *arg) {
  int fd = *(int *)arg;
  uint8_t out[256], in[256];
  for (int r = 0; r < PING_ROUNDS; r++) {
    size_t n = ping_len(r);
    pat_fill(out, n, (uint64_t)r * 256, 2);
    ssize_t w = weft_fd_write(fd, out, n);
    WEFT_EXPECT(w == (ssize_t)n, "round %d: write %zd", r, w);
    ssize_t got = read_full(fd, in, n);
    WEFT_EXPECT(got == (ssize_t)n, "round %d: read %zd of %zu", r, got, n);
    if (w != (ssize_t)n || got != (ssize_t)n)
      return;
    for (size_t i = 0; i < n; i++)
      if ((unsigned)in[i] + out[i] != 255u) { /* the pong: 255 - ping */
        WEFT_EXPECT(0, "round %d: byte %zu of the pong is wrong", r, i);
        return;
      }
  }
  WEFT_EXPECT(shutdown(fd, SHUT_WR) == 0, "shutdown");
  ssize_t eof = weft_fd_read(fd, in, 1);
  WEFT_EXPECT(eof == 0, "after the ponger's close: %zd", eof);
  int rc = weft_fd_close(fd);
  WEFT_EXPECT(rc == 0, "close: %d", rc);
}

static void ponger(void *arg) {
  int fd = *(int *)arg;
  uint8_t buf[256];
  int r = 0;
  for (;; r++) {
    size_t n = ping_len(r);
    ssize_t got = recv_full(fd, buf, n);
    if (got == 0)
      break; /* the pinger's shutdown */
    WEFT_EXPECT(got == (ssize_t)n, "round %d: recv %zd of %zu", r, got, n);
    if (got != (ssize_t)n)
      return;
    long long bad = pat_bad(buf, n, (uint64_t)r * 256, 2);
    WEFT_EXPECT(bad < 0, "round %d: byte %lld of the ping is wrong", r, bad);
    for (size_t i = 0; i < n; i++)
      buf[i] = (uint8_t)(255u - buf[i]);
    ssize_t w = weft_fd_send(fd, buf, n, 0);
    WEFT_EXPECT(w == (ssize_t)n, "round %d: send %zd", r, w);
  }
  WEFT_EXPECT(r == PING_ROUNDS, "%d rounds, want %d", r, PING_ROUNDS);
  int rc = weft_fd_close(fd);
  WEFT_EXPECT(rc == 0, "close: %d", rc);
}

START_TEST(test_socketpair_ping_pong) {
  procs(2);
  int s[2];
  make_socketpair(SOCK_STREAM, s, false);
  go_wg(ponger, &s[1]);
  go_wg(pinger, &s[0]);
  weft_wg_wait(&g_wg);
  WEFT_ASSERT_NO_FAILURES();
}
END_TEST

/* ==== 3. TCP on loopback ====================================================== */

#define TCP_UP (1 << 20)     /* client to server, ended by SHUT_WR */
#define TCP_DOWN (256 << 10) /* the server's answer after the half-close */

typedef struct tcp_conv {
  int lfd;
  struct sockaddr_in addr; /* the listener's */
  int sock_flags;          /* for the client's socket(2) */
  int accepted_port;       /* the peer's port, as accept saw it */
  int client_port;         /* the client's, by getsockname */
  weft_chan *connected;    /* reset case: the client is connected */
} tcp_conv;

static void tcp_server(void *arg) {
  tcp_conv *t = arg;
  struct sockaddr_in peer;
  memset(&peer, 0, sizeof peer);
  socklen_t len = sizeof peer;
  int c = weft_fd_accept(t->lfd, (struct sockaddr *)&peer, &len);
  WEFT_EXPECT(c >= 0, "accept: %d", c);
  if (c < 0)
    return;
  WEFT_EXPECT(len == sizeof peer && peer.sin_family == AF_INET &&
                  peer.sin_addr.s_addr == htonl(INADDR_LOOPBACK),
              "accept's address: len %u family %d", (unsigned)len,
              peer.sin_family);
  t->accepted_port = ntohs(peer.sin_port);
  int fl = fcntl(c, F_GETFL), fdfl = fcntl(c, F_GETFD);
  WEFT_EXPECT(fl >= 0 && (fl & O_NONBLOCK), "accepted fd not non-blocking");
  WEFT_EXPECT(fdfl >= 0 && (fdfl & FD_CLOEXEC), "accepted fd not cloexec");
  uint8_t *buf = malloc(65536);
  size_t total = 0;
  for (;;) {
    ssize_t r = weft_fd_recv(c, buf, 65536, 0);
    if (r <= 0) {
      WEFT_EXPECT(r == 0, "recv at %zu: %zd", total, r);
      break;
    }
    long long bad = pat_bad(buf, (size_t)r, total, 3);
    WEFT_EXPECT(bad < 0, "upstream byte %lld wrong", (long long)total + bad);
    if (bad >= 0)
      break;
    total += (size_t)r;
  }
  free(buf);
  WEFT_EXPECT(total == TCP_UP, "server got %zu bytes, want %d", total, TCP_UP);
  /* Half-closed by the client: this side still writes. */
  uint8_t *out = malloc(TCP_DOWN);
  pat_fill(out, TCP_DOWN, 0, 4);
  ssize_t w = weft_fd_write(c, out, TCP_DOWN);
  WEFT_EXPECT(w == TCP_DOWN, "answer: %zd", w);
  free(out);
  int rc = weft_fd_close(c);
  WEFT_EXPECT(rc == 0, "server close: %d", rc);
}

static void tcp_client(void *arg) {
  tcp_conv *t = arg;
  int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | t->sock_flags, 0);
  WEFT_EXPECT(s >= 0, "socket");
  if (s < 0)
    return;
  int rc = weft_fd_connect(s, (struct sockaddr *)&t->addr, sizeof t->addr);
  WEFT_EXPECT(rc == 0, "connect: %d", rc);
  if (rc != 0) {
    weft_fd_close(s);
    return;
  }
  struct sockaddr_in me;
  socklen_t len = sizeof me;
  WEFT_EXPECT(getsockname(s, (struct sockaddr *)&me, &len) == 0, "getsockname");
  t->client_port = ntohs(me.sin_port);
  uint8_t *out = malloc(TCP_UP);
  pat_fill(out, TCP_UP, 0, 3);
  ssize_t w = weft_fd_send(s, out, TCP_UP, 0);
  WEFT_EXPECT(w == TCP_UP, "send: %zd", w);
  free(out);
  WEFT_EXPECT(shutdown(s, SHUT_WR) == 0, "shutdown");
  uint8_t *in = malloc(65536);
  size_t total = 0;
  for (;;) {
    ssize_t r = weft_fd_read(s, in, 65536);
    if (r <= 0) {
      WEFT_EXPECT(r == 0, "read at %zu: %zd", total, r);
      break;
    }
    long long bad = pat_bad(in, (size_t)r, total, 4);
    WEFT_EXPECT(bad < 0, "downstream byte %lld wrong", (long long)total + bad);
    if (bad >= 0)
      break;
    total += (size_t)r;
  }
  free(in);
  WEFT_EXPECT(total == TCP_DOWN, "client got %zu bytes, want %d", total,
              TCP_DOWN);
  rc = weft_fd_close(s);
  WEFT_EXPECT(rc == 0, "client close: %d", rc);
}

static void reset_server(void *arg) {
  tcp_conv *t = arg;
  int c = weft_fd_accept(t->lfd, NULL, NULL);
  WEFT_EXPECT(c >= 0, "accept: %d", c);
  if (c < 0)
    return;
  /* Only once the client's connect has returned: a reset during it would
   * be connect's error instead of the read's. */
  WEFT_EXPECT(weft_recv(t->connected, NULL) == 1, "connected signal");
  struct linger lg = {.l_onoff = 1, .l_linger = 0};
  WEFT_EXPECT(setsockopt(c, SOL_SOCKET, SO_LINGER, &lg, sizeof lg) == 0,
              "SO_LINGER");
  int rc = weft_fd_close(c); /* sends a RST */
  WEFT_EXPECT(rc == 0, "close: %d", rc);
}

static void reset_client(void *arg) {
  tcp_conv *t = arg;
  int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int rc = weft_fd_connect(s, (struct sockaddr *)&t->addr, sizeof t->addr);
  WEFT_EXPECT(rc == 0, "connect: %d", rc);
  WEFT_EXPECT(weft_send(t->connected, NULL) == 0, "signal");
  char buf[64];
  ssize_t r = weft_fd_read(s, buf, sizeof buf); /* parks until the RST */
  WEFT_EXPECT(r == -ECONNRESET, "read after the peer's reset: %zd", r);
  r = weft_fd_send(s, "x", 1, 0);
  WEFT_EXPECT(r == -EPIPE || r == -ECONNRESET, "send after reset: %zd", r);
  rc = weft_fd_close(s);
  WEFT_EXPECT(rc == 0, "close: %d", rc);
}

static void refused_connect(void *arg) {
  const struct sockaddr_in *a = arg;
  for (int nb = 0; nb < 2; nb++) {
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | (nb ? SOCK_NONBLOCK : 0),
                   0);
    int rc = weft_fd_connect(s, (const struct sockaddr *)a, sizeof *a);
    WEFT_EXPECT(rc == -ECONNREFUSED, "connect to a closed port (nb %d): %d",
                nb, rc);
    rc = weft_fd_close(s);
    WEFT_EXPECT(rc == 0, "close: %d", rc);
  }
}

START_TEST(test_tcp_loopback) {
  procs(2);
  tcp_conv t;
  memset(&t, 0, sizeof t);
  t.lfd = tcp_listener(&t.addr, 16);

  /* A SOCK_NONBLOCK client in a goroutine, then a plain (blocking) socket
   * on a plain thread: weft makes it non-blocking itself. */
  for (int round = 0; round < 2; round++) {
    t.sock_flags = round == 0 ? SOCK_NONBLOCK : 0;
    t.accepted_port = t.client_port = -1;
    go_wg(tcp_server, &t);
    if (round == 0) {
      go_wg(tcp_client, &t);
      weft_wg_wait(&g_wg);
    } else {
      pthread_t th = spawn_thread(tcp_client, &t);
      weft_wg_wait(&g_wg);
      pthread_join(th, NULL);
    }
    WEFT_ASSERT_NO_FAILURES();
    ck_assert_int_gt(t.client_port, 0);
    ck_assert_int_eq(t.accepted_port, t.client_port);
  }

  /* The peer's reset. */
  t.connected = weft_chan_make(0, 0);
  go_wg(reset_server, &t);
  go_wg(reset_client, &t);
  weft_wg_wait(&g_wg);
  WEFT_ASSERT_NO_FAILURES();
  weft_chan_unref(t.connected);
  ck_assert_int_eq(weft_fd_close(t.lfd), 0);

  /* A port bound but not listening (so nobody else can take it) refuses,
   * from a goroutine and from this plain thread. */
  struct sockaddr_in closed;
  memset(&closed, 0, sizeof closed);
  closed.sin_family = AF_INET;
  closed.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int b = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ck_assert_int_eq(bind(b, (struct sockaddr *)&closed, sizeof closed), 0);
  socklen_t len = sizeof closed;
  ck_assert_int_eq(getsockname(b, (struct sockaddr *)&closed, &len), 0);
  go_wg(refused_connect, &closed);
  weft_wg_wait(&g_wg);
  refused_connect(&closed);
  WEFT_ASSERT_NO_FAILURES();
  close(b);
}
END_TEST

/* connect's deadline: a listener whose accept queue is full drops SYNs, so
 * the next connect hangs (its SYN is retried after a second) until its
 * deadline. */
START_TEST(test_tcp_connect_deadline) {
  procs(2);
  struct sockaddr_in a;
  int l = tcp_listener(&a, 0);
  int socks[16], n = 0, timed_out = 0;
  for (; n < 16 && !timed_out; n++) {
    socks[n] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(socks[n], 0);
    int64_t t0 = weft_now();
    int rc = weft_fd_connect_dl(socks[n], (struct sockaddr *)&a, sizeof a,
                                t0 + 100 * WEFT_MS);
    int64_t t1 = weft_now();
    if (rc == -ETIMEDOUT) {
      ASSERT_WAITED(t0, t1, 100 * WEFT_MS);
      timed_out = 1;
    } else {
      ck_assert_msg(rc == 0, "connect %d: %d", n, rc);
    }
  }
  ck_assert_msg(timed_out, "no connect timed out against a full queue");
  ck_assert_int_ge(n, 2); /* the queue took one at least */
  for (int i = 0; i < n; i++)
    ck_assert_int_eq(weft_fd_close(socks[i]), 0);
  ck_assert_int_eq(weft_fd_close(l), 0);
}
END_TEST

/* ==== 4. deadlines ============================================================ */

START_TEST(test_deadlines) {
  procs(2);
  weft_chan *out = weft_chan_make(sizeof(opres), 16);
  int p[2], q[2], s[2];
  make_pipe(p, false);
  make_pipe(q, false);
  make_socketpair(SOCK_STREAM, s, false);
  struct sockaddr_in la;
  int l = tcp_listener(&la, 4);
  fill_up(q[1], 5);

  /* A 20 ms deadline, in a goroutine, for each kind of wait. */
  const struct { enum op op; int fd; } kinds[] = {
      {OP_READ, p[0]}, {OP_WAIT_R, p[0]}, {OP_WRITE, q[1]},
      {OP_WAIT_W, q[1]}, {OP_ACCEPT, l}, {OP_RECV, s[0]}};
  for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
    int64_t t0 = weft_now();
    opjob j = {kinds[k].op, kinds[k].fd, t0 + 20 * WEFT_MS, NULL, out};
    start_op_goroutine(&j);
    opres r = wait_result(out);
    ck_assert_msg(r.r == -ETIMEDOUT, "kind %zu: %zd", k, r.r);
    ASSERT_WAITED(t0, r.at, 20 * WEFT_MS);
  }

  /* A past deadline tries once: nothing there is -ETIMEDOUT at once ... */
  const int64_t pasts[] = {weft_now() - 1, 0, INT64_MIN};
  uint8_t buf[64];
  for (int i = 0; i < 3; i++) {
    int64_t t0 = weft_now();
    ck_assert_int_eq(weft_fd_read_dl(p[0], buf, sizeof buf, pasts[i]),
                     -ETIMEDOUT);
    ck_assert_int_eq(weft_fd_wait_dl(p[0], WEFT_READ, pasts[i]), -ETIMEDOUT);
    ck_assert_int_eq(weft_fd_write_dl(q[1], buf, 1, pasts[i]), -ETIMEDOUT);
    ck_assert_int_eq(weft_fd_accept_dl(l, NULL, NULL, pasts[i]), -ETIMEDOUT);
    ck_assert_int_lt(weft_now() - t0, 500 * WEFT_MS);
  }
  /* ... and what is there is done. */
  pat_fill(buf, 5, 0, 6);
  ck_assert_int_eq(weft_fd_write_dl(p[1], buf, 5, weft_now() - 1), 5);
  ck_assert_int_eq(weft_fd_wait_dl(p[0], WEFT_READ, weft_now() - 1), 0);
  memset(buf, 0, sizeof buf);
  ck_assert_int_eq(weft_fd_read_dl(p[0], buf, sizeof buf, weft_now() - 1), 5);
  ck_assert_int_eq(pat_bad(buf, 5, 0, 6), -1);
  ck_assert_int_eq(weft_fd_wait_dl(p[1], WEFT_WRITE, 0), 0);

  /* weft_fd_set_deadline in the past wakes a waiter with -ETIMEDOUT. */
  opjob j = {OP_READ, s[0], WEFT_FOREVER, NULL, out};
  start_op_goroutine(&j);
  wait_parked(1);
  int64_t t_set = weft_now();
  ck_assert_int_eq(weft_fd_set_deadline(s[0], WEFT_READ, weft_now() - 1), 0);
  opres r = wait_result(out);
  ck_assert_int_eq(r.r, -ETIMEDOUT);
  ck_assert_int_lt(r.at - t_set, BOUND_NS);
  /* It stays: the next read times out at once, with data it reads it, and
   * writes (the other direction) are not affected. */
  ck_assert_int_eq(weft_fd_read(s[0], buf, 1), -ETIMEDOUT);
  ck_assert_int_eq(weft_fd_recv(s[0], buf, 1, 0), -ETIMEDOUT);
  ck_assert_int_eq(weft_fd_write(s[1], "A", 1), 1);
  ck_assert_int_eq(weft_fd_read(s[0], buf, sizeof buf), 1);
  ck_assert_int_eq(buf[0], 'A');
  ck_assert_int_eq(weft_fd_write(s[0], "B", 1), 1);
  ck_assert_int_eq(weft_fd_read(s[1], buf, sizeof buf), 1);
  ck_assert_int_eq(buf[0], 'B');

  /* WEFT_FOREVER clears it: a new waiter waits, and gets the data. */
  ck_assert_int_eq(weft_fd_set_deadline(s[0], WEFT_READ, WEFT_FOREVER), 0);
  start_op_goroutine(&j);
  wait_parked(1);
  assert_no_result(out, 30 * WEFT_MS);
  ck_assert_int_eq(weft_fd_write(s[1], "CDE", 3), 3);
  r = wait_result(out);
  ck_assert_int_eq(r.r, 3);
  ck_assert_int_eq(memcmp(r.data, "CDE", 3), 0);

  /* A deadline moved later while a call waits: it keeps waiting past the
   * first one, then gets the data. */
  start_op_goroutine(&j);
  wait_parked(1);
  ck_assert_int_eq(
      weft_fd_set_deadline(s[0], WEFT_READ, weft_now() + 400 * WEFT_MS), 0);
  ck_assert_int_eq(
      weft_fd_set_deadline(s[0], WEFT_READ, weft_now() + 60 * WEFT_SEC), 0);
  assert_no_result(out, 600 * WEFT_MS);
  ck_assert_int_eq(weft_fd_write(s[1], "F", 1), 1);
  r = wait_result(out);
  ck_assert_int_eq(r.r, 1);
  ck_assert_int_eq(r.data[0], 'F');

  /* A deadline moved earlier (not yet past) wakes the waiter at it. */
  start_op_goroutine(&j);
  wait_parked(1);
  int64_t t0 = weft_now();
  ck_assert_int_eq(
      weft_fd_set_deadline(s[0], WEFT_READ, t0 + 30 * WEFT_MS), 0);
  r = wait_result(out);
  ck_assert_int_eq(r.r, -ETIMEDOUT);
  ASSERT_WAITED(t0, r.at, 30 * WEFT_MS);

  /* The write deadline leaves a reader alone. */
  ck_assert_int_eq(weft_fd_set_deadline(s[0], WEFT_READ, WEFT_FOREVER), 0);
  start_op_goroutine(&j);
  wait_parked(1);
  ck_assert_int_eq(weft_fd_set_deadline(s[0], WEFT_WRITE, weft_now() - 1), 0);
  assert_no_result(out, 50 * WEFT_MS);
  ck_assert_int_eq(weft_fd_write(s[0], "G", 1), 1); /* room: tried once */
  ck_assert_int_eq(weft_fd_write(s[1], "H", 1), 1);
  r = wait_result(out);
  ck_assert_int_eq(r.r, 1);
  ck_assert_int_eq(r.data[0], 'H');
  ck_assert_int_eq(weft_fd_read(s[1], buf, sizeof buf), 1);
  ck_assert_int_eq(buf[0], 'G');

  /* Both directions at once, then cleared: the call's own deadline still
   * counts. */
  ck_assert_int_eq(
      weft_fd_set_deadline(s[0], WEFT_READ | WEFT_WRITE, weft_now() - 1), 0);
  ck_assert_int_eq(weft_fd_read(s[0], buf, 1), -ETIMEDOUT);
  ck_assert_int_eq(
      weft_fd_set_deadline(s[0], WEFT_READ | WEFT_WRITE, WEFT_FOREVER), 0);
  t0 = weft_now();
  ck_assert_int_eq(weft_fd_read_dl(s[0], buf, 1, t0 + 20 * WEFT_MS),
                   -ETIMEDOUT);
  ASSERT_WAITED(t0, weft_now(), 20 * WEFT_MS);

  int fds[] = {p[0], p[1], q[0], q[1], s[0], s[1], l};
  for (size_t i = 0; i < sizeof fds / sizeof fds[0]; i++)
    ck_assert_int_eq(weft_fd_close(fds[i]), 0);
  weft_chan_unref(out);
}
END_TEST

/* ==== 5. contexts ============================================================= */

START_TEST(test_ctx_cancel_and_deadline) {
  procs(2);
  weft_chan *out = weft_chan_make(sizeof(opres), 16);
  int p[2], q[2], s[2];
  make_pipe(p, false);
  make_pipe(q, false);
  make_socketpair(SOCK_STREAM, s, false);
  struct sockaddr_in la;
  int l = tcp_listener(&la, 4);
  fill_up(q[1], 7);

  /* One context cancelled while six calls (five goroutines and a plain
   * thread) wait under it. */
  weft_ctx *ctx = weft_ctx_with_cancel(weft_ctx_background());
  ck_assert_ptr_nonnull(ctx);
  opjob jobs[] = {{OP_READ, p[0], WEFT_FOREVER, ctx, out},
                  {OP_WAIT_R, p[0], WEFT_FOREVER, ctx, out},
                  {OP_WRITE, q[1], WEFT_FOREVER, ctx, out},
                  {OP_ACCEPT, l, WEFT_FOREVER, ctx, out},
                  {OP_RECV, s[0], WEFT_FOREVER, ctx, out},
                  {OP_READ, s[0], WEFT_FOREVER, ctx, out}};
  const int njobs = (int)(sizeof jobs / sizeof jobs[0]);
  for (int i = 0; i < njobs - 1; i++)
    start_op_goroutine(&jobs[i]);
  pthread_t th = start_op_thread(&jobs[njobs - 1]);
  wait_parked(njobs);
  assert_no_result(out, 20 * WEFT_MS);
  weft_ctx_cancel(ctx);
  for (int i = 0; i < njobs; i++) {
    opres r = wait_result(out);
    ck_assert_msg(r.r == -ECANCELED, "result %d: %zd", i, r.r);
  }
  pthread_join(th, NULL);
  ck_assert_int_eq(weft_ctx_err(ctx), -ECANCELED);
  /* A done context with nothing to read: its error at once. */
  uint8_t buf[16];
  ck_assert_int_eq(weft_fd_read_ctx(ctx, p[0], buf, 1), -ECANCELED);
  weft_ctx_unref(ctx);

  /* The cancelled waiters left their queues: the fds work on. */
  ck_assert_int_eq(weft_fd_write(p[1], "ok", 2), 2);
  ck_assert_int_eq(weft_fd_read(p[0], buf, sizeof buf), 2);
  ck_assert_int_eq(memcmp(buf, "ok", 2), 0);

  /* A cause does not change what the calls return: weft_ctx_err. */
  ctx = weft_ctx_with_cancel(weft_ctx_background());
  opjob jc = {OP_READ, p[0], WEFT_FOREVER, ctx, out};
  start_op_goroutine(&jc);
  wait_parked(1);
  weft_ctx_cancel_cause(ctx, -EIO);
  opres r = wait_result(out);
  ck_assert_int_eq(r.r, -ECANCELED);
  ck_assert_int_eq(weft_ctx_cause(ctx), -EIO);
  weft_ctx_unref(ctx);

  /* A parent's cancel reaches a call waiting under its child. */
  weft_ctx *parent = weft_ctx_with_cancel(weft_ctx_background());
  ctx = weft_ctx_with_cancel(parent);
  jc.ctx = ctx;
  start_op_goroutine(&jc);
  wait_parked(1);
  weft_ctx_cancel(parent);
  r = wait_result(out);
  ck_assert_int_eq(r.r, -ECANCELED);
  weft_ctx_unref(ctx);
  weft_ctx_unref(parent);

  /* A context deadline: -ETIMEDOUT (weft_ctx_err's value for it), no
   * earlier than the deadline. */
  int64_t t0 = weft_now();
  ctx = weft_ctx_with_timeout(weft_ctx_background(), 30 * WEFT_MS);
  jc.ctx = ctx;
  start_op_goroutine(&jc);
  r = wait_result(out);
  ck_assert_int_eq(r.r, -ETIMEDOUT);
  ck_assert_int_eq(weft_ctx_err(ctx), -ETIMEDOUT);
  ASSERT_WAITED(t0, r.at, 30 * WEFT_MS);
  weft_ctx_unref(ctx);

  /* And on a plain thread, with the deadline of the fd earlier still. */
  ctx = weft_ctx_with_timeout(weft_ctx_background(), 60 * WEFT_SEC);
  t0 = weft_now();
  ck_assert_int_eq(weft_fd_set_deadline(p[0], WEFT_READ, t0 + 20 * WEFT_MS), 0);
  ck_assert_int_eq(weft_fd_read_ctx(ctx, p[0], buf, 1), -ETIMEDOUT);
  ASSERT_WAITED(t0, weft_now(), 20 * WEFT_MS);
  ck_assert_int_eq(weft_ctx_err(ctx), 0);
  weft_ctx_unref(ctx);

  int fds[] = {p[0], p[1], q[0], q[1], s[0], s[1], l};
  for (size_t i = 0; i < sizeof fds / sizeof fds[0]; i++)
    ck_assert_int_eq(weft_fd_close(fds[i]), 0);
  weft_chan_unref(out);
}
END_TEST

/* ==== 6. close wakes every waiter; the number's reuse ========================= */

/* arg: the read end of a pipe to close, and its write end. */
static void close_and_check(void *arg) {
  const int *fds = arg;
  int rc = weft_fd_close(fds[0]);
  WEFT_EXPECT(rc == 0, "close: %d", rc);
  /* Closed for real once weft_fd_close returns: the writer sees no
   * reader. */
  ssize_t w = weft_fd_write(fds[1], "x", 1);
  WEFT_EXPECT(w == -EPIPE, "write with the reader closed: %zd", w);
}

START_TEST(test_close_wakes_waiters) {
  procs(2);
  weft_chan *out = weft_chan_make(sizeof(opres), 16);
  int p[2], q[2];
  make_pipe(p, true);
  make_pipe(q, true);
  size_t filled = fill_up(q[1], 8);
  opjob rd = {OP_READ, p[0], WEFT_FOREVER, NULL, out};
  opjob rdl = {OP_READ, p[0], weft_now() + 60 * WEFT_SEC, NULL, out};
  opjob wt = {OP_WAIT_R, p[0], WEFT_FOREVER, NULL, out};
  for (int i = 0; i < 4; i++)
    start_op_goroutine(&rd);
  start_op_goroutine(&rdl);
  start_op_goroutine(&wt);
  wait_parked(6);
  assert_no_result(out, 20 * WEFT_MS);

  /* Closed from a goroutine: every reader gets -EBADF, and the fd is
   * closed in the kernel when weft_fd_close returns. */
  int ends[2] = {p[0], p[1]};
  go_wg(close_and_check, ends);
  weft_wg_wait(&g_wg);
  WEFT_ASSERT_NO_FAILURES();
  for (int i = 0; i < 6; i++) {
    opres r = wait_result(out);
    ck_assert_msg(r.r == -EBADF, "waiter %d: %zd", i, r.r);
  }
  char c;
  ck_assert_int_eq(weft_fd_read(p[0], &c, 1), -EBADF);
  ck_assert_int_eq(weft_fd_wait(p[0], WEFT_READ), -EBADF);
  ck_assert_int_eq(weft_fd_set_deadline(p[0], WEFT_READ, 0), -EBADF);
  ck_assert_int_eq(weft_fd_close(p[0]), -EBADF);
  ck_assert_int_eq(weft_fd_close(p[1]), 0);

  /* Writers blocked on a full pipe: closing their end wakes them with
   * -EBADF; the reader then drains what was there, then end of file. */
  opjob wr = {OP_WRITE, q[1], WEFT_FOREVER, NULL, out};
  for (int i = 0; i < 3; i++)
    start_op_goroutine(&wr);
  wait_parked(3);
  ck_assert_int_eq(weft_fd_close(q[1]), 0);
  for (int i = 0; i < 3; i++) {
    opres r = wait_result(out);
    ck_assert_msg(r.r == -EBADF, "writer %d: %zd", i, r.r);
  }
  uint8_t *buf = malloc(filled + 1);
  ck_assert_int_eq(read_full(q[0], buf, filled + 1), (ssize_t)filled);
  ck_assert_int_eq(pat_bad(buf, filled, 0, 8), -1);
  free(buf);
  ck_assert_int_eq(weft_fd_close(q[0]), 0);
  weft_chan_unref(out);
}
END_TEST

START_TEST(test_close_from_plain_thread) {
  procs(2);
  weft_chan *out = weft_chan_make(sizeof(opres), 16);
  int p[2];
  make_pipe(p, true);
  opjob rd = {OP_READ, p[0], WEFT_FOREVER, NULL, out};
  opjob rdl = {OP_READ, p[0], weft_now() + 60 * WEFT_SEC, NULL, out};
  pthread_t th[3];
  for (int i = 0; i < 3; i++)
    start_op_goroutine(&rd);
  th[0] = start_op_thread(&rd);
  th[1] = start_op_thread(&rd);
  th[2] = start_op_thread(&rdl);
  wait_parked(6);
  int ends[2] = {p[0], p[1]};
  pthread_t closer = spawn_thread(close_and_check, ends);
  pthread_join(closer, NULL);
  WEFT_ASSERT_NO_FAILURES();
  for (int i = 0; i < 6; i++) {
    opres r = wait_result(out);
    ck_assert_msg(r.r == -EBADF, "waiter %d: %zd", i, r.r);
  }
  for (int i = 0; i < 3; i++)
    pthread_join(th[i], NULL);
  ck_assert_int_eq(weft_fd_close(p[1]), 0);
  weft_chan_unref(out);
}
END_TEST

/* Closers racing: exactly one weft_fd_close returns 0, the others -EBADF
 * (the number is high, so no other fd takes it meanwhile). Waiters in
 * accept and in connect are woken as well. */
typedef struct closer_arg {
  int fd;
  int rc;
} closer_arg;

static atomic_int g_closers_go;

static void racing_closer(void *arg) {
  closer_arg *c = arg;
  while (!atomic_load(&g_closers_go))
    weft_yield();
  c->rc = weft_fd_close(c->fd);
}

static struct sockaddr_in g_full_addr; /* a listener whose queue is full */

static void connect_waiter(void *arg) {
  opjob *j = arg; /* j->fd connects to g_full_addr */
  opres res;
  memset(&res, 0, sizeof res);
  res.r = weft_fd_connect(j->fd, (struct sockaddr *)&g_full_addr,
                          sizeof g_full_addr);
  res.at = weft_now();
  weft_chan *out = j->out;
  WEFT_EXPECT(weft_send(out, &res) == 0, "send of a result");
}

START_TEST(test_close_races_and_kinds) {
  procs(2);
  weft_chan *out = weft_chan_make(sizeof(opres), 16);
  /* A listener with an accept waiter; a listener whose queue is full and
   * a connect waiting on it. */
  struct sockaddr_in la;
  int l = move_high(tcp_listener(&la, 4));
  int full = tcp_listener(&g_full_addr, 0);
  int filler[16], nfill = 0;
  for (; nfill < 16; nfill++) { /* until a connect would hang */
    filler[nfill] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (weft_fd_connect_dl(filler[nfill], (struct sockaddr *)&g_full_addr,
                           sizeof g_full_addr,
                           weft_now() + 100 * WEFT_MS) == -ETIMEDOUT)
      break;
  }
  ck_assert_int_lt(nfill, 16);
  int cs = move_high(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  opjob aj = {OP_ACCEPT, l, WEFT_FOREVER, NULL, out};
  opjob cj = {OP_READ, cs, WEFT_FOREVER, NULL, out};
  start_op_goroutine(&aj);
  pthread_t ath = start_op_thread(&aj);
  go_or_die(connect_waiter, &cj);
  wait_parked(3);
  assert_no_result(out, 20 * WEFT_MS);

  closer_arg ca[4] = {{l, 1}, {l, 1}, {cs, 1}, {cs, 1}};
  pthread_t cth[2];
  atomic_store(&g_closers_go, 0);
  go_wg(racing_closer, &ca[0]);
  cth[0] = spawn_thread(racing_closer, &ca[1]);
  go_wg(racing_closer, &ca[2]);
  cth[1] = spawn_thread(racing_closer, &ca[3]);
  atomic_store(&g_closers_go, 1);
  pthread_join(cth[0], NULL);
  pthread_join(cth[1], NULL);
  weft_wg_wait(&g_wg);
  for (int k = 0; k < 2; k++) {
    int a = ca[2 * k].rc, b = ca[2 * k + 1].rc;
    ck_assert_msg((a == 0 && b == -EBADF) || (a == -EBADF && b == 0),
                  "two closes of one fd returned %d and %d", a, b);
  }
  for (int i = 0; i < 3; i++) {
    opres r = wait_result(out);
    ck_assert_msg(r.r == -EBADF, "waiter %d: %zd", i, r.r);
  }
  pthread_join(ath, NULL);
  ck_assert_int_eq(fcntl(l, F_GETFD), -1);
  ck_assert_int_eq(fcntl(cs, F_GETFD), -1);
  for (int i = 0; i <= nfill; i++)
    ck_assert_int_eq(weft_fd_close(filler[i]), 0);
  ck_assert_int_eq(weft_fd_close(full), 0);
  weft_chan_unref(out);
}
END_TEST

/* The number of a closed fd is reused by a new pipe; waiters on the new fd
 * see only the new fd's events: the old fd's readiness (data left in it,
 * its waiters' wakes, its close) never reaches them as data or -EBADF. */
#define REUSE_ROUNDS WEFT_SCALE(200)

static void reuse_writer(void *arg) {
  int fd = *(int *)arg;
  uint8_t buf[1024];
  memset(buf, 0xAB, sizeof buf);
  ssize_t r;
  while ((r = weft_fd_write(fd, buf, sizeof buf)) == (ssize_t)sizeof buf)
    ; /* fills the pipe, parks, then fails once the reader is closed */
  WEFT_EXPECT(r == -EPIPE || (r > 0 && weft_fd_write(fd, buf, 1) == -EPIPE),
              "writer's end: %zd", r);
}

START_TEST(test_fd_reuse_no_stale_wakes) {
  procs(2);
  weft_chan *out = weft_chan_make(sizeof(opres), 16);
  int reused = 0;
  for (int round = 0; round < REUSE_ROUNDS; round++) {
    int a[2];
    make_pipe(a, false);
    /* The old fd: a writer filling it (so it has readiness events for the
     * read side), and a waiter for a direction a read end never gets. */
    opjob old = {OP_WAIT_W, a[0], WEFT_FOREVER, NULL, out};
    pthread_t th = 0;
    if (round % 2)
      th = start_op_thread(&old);
    else
      start_op_goroutine(&old);
    go_wg(reuse_writer, &a[1]);
    wait_parked(2);
    int old_rd = a[0], old_wr = a[1];
    ck_assert_int_eq(weft_fd_close(a[0]), 0);
    opres r = wait_result(out);
    ck_assert_int_eq(r.r, -EBADF);
    if (round % 2)
      pthread_join(th, NULL);
    weft_wg_wait(&g_wg);
    WEFT_ASSERT_NO_FAILURES();
    ck_assert_int_eq(weft_fd_close(a[1]), 0);

    /* The new pipe, most likely on the same two numbers. */
    int b[2];
    make_pipe(b, false);
    reused += b[0] == old_rd || b[0] == old_wr || b[1] == old_rd ||
              b[1] == old_wr;
    opjob nj = {OP_READ, b[0], WEFT_FOREVER, NULL, out};
    opjob nw = {OP_WAIT_W, b[1], WEFT_FOREVER, NULL, out};
    start_op_goroutine(&nw); /* a new pipe is writable: at once */
    r = wait_result(out);
    ck_assert_int_eq(r.r, 0);
    start_op_goroutine(&nj);
    wait_parked(1);
    assert_no_result(out, 2 * WEFT_MS);
    uint8_t v = (uint8_t)round;
    ck_assert_int_eq(weft_fd_write(b[1], &v, 1), 1);
    r = wait_result(out);
    ck_assert_int_eq(r.r, 1);
    ck_assert_int_eq(r.data[0], v);
    ck_assert_int_eq(weft_fd_close(b[0]), 0);
    ck_assert_int_eq(weft_fd_close(b[1]), 0);
  }
  ck_assert_msg(reused > 0, "no fd number was reused in %d rounds",
                REUSE_ROUNDS);
  weft_chan_unref(out);
}
END_TEST

/* weft_fd_forget: an fd closed behind weft's back; its waiters are woken
 * with -EBADF, and a new fd on its number works. */
START_TEST(test_forget) {
  procs(2);
  weft_chan *out = weft_chan_make(sizeof(opres), 16);
  int p[2];
  make_pipe(p, true);
  opjob rd = {OP_READ, p[0], WEFT_FOREVER, NULL, out};
  start_op_goroutine(&rd);
  pthread_t th = start_op_thread(&rd);
  wait_parked(2);
  int num = p[0];
  ck_assert_int_eq(close(p[0]), 0); /* not through weft */
  ck_assert_int_eq(weft_fd_forget(num), 0);
  for (int i = 0; i < 2; i++) {
    opres r = wait_result(out);
    ck_assert_int_eq(r.r, -EBADF);
  }
  pthread_join(th, NULL);
  /* A new pipe's read end on the same (high) number. */
  int b[2];
  make_pipe(b, false);
  ck_assert_int_eq(dup3(b[0], num, O_CLOEXEC), num);
  close(b[0]);
  rd.fd = num;
  start_op_goroutine(&rd);
  wait_parked(1);
  ck_assert_int_eq(weft_fd_write(b[1], "new", 3), 3);
  opres r = wait_result(out);
  ck_assert_int_eq(r.r, 3);
  ck_assert_int_eq(memcmp(r.data, "new", 3), 0);
  ck_assert_int_eq(weft_fd_close(num), 0);
  ck_assert_int_eq(weft_fd_close(b[1]), 0);
  ck_assert_int_eq(weft_fd_close(p[1]), 0);
  ck_assert_int_eq(weft_fd_forget(-1), -EBADF);
  ck_assert_int_eq(weft_fd_forget(999999), 0); /* never seen */
  weft_chan_unref(out);
}
END_TEST

/* A deadline set on an fd must not outlive the fd and apply to the next
 * fd on its number, whether weft did I/O on it first (used) or never did,
 * and whether it went through weft_fd_close or close(2) and
 * weft_fd_forget (the number is high: nobody else takes it in between). */
static void check_deadline_dropped(bool via_forget) {
  procs(2);
  weft_chan *out = weft_chan_make(sizeof(opres), 16);
  const char *how = via_forget ? "forgotten" : "closed";
  for (int used = 0; used < 2; used++) {
    int p[2];
    make_pipe(p, true);
    int num = p[0];
    if (used) /* registered with the poller first */
      ck_assert_int_eq(weft_fd_read_dl(num, p, 1, 0), -ETIMEDOUT);
    ck_assert_int_eq(weft_fd_set_deadline(num, WEFT_READ | WEFT_WRITE,
                                          weft_now() - 1), 0);
    if (via_forget) {
      ck_assert_int_eq(close(num), 0); /* not through weft */
      ck_assert_int_eq(weft_fd_forget(num), 0);
    } else {
      ck_assert_int_eq(weft_fd_close(num), 0);
    }
    int b[2];
    make_pipe(b, false);
    ck_assert_int_eq(dup3(b[0], num, O_CLOEXEC), num);
    close(b[0]);
    /* The new fd has no deadline: a read waits for its data. */
    opjob rd = {OP_READ, num, WEFT_FOREVER, NULL, out};
    start_op_goroutine(&rd);
    opres r;
    int rc = weft_recv_dl(out, &r, weft_now() + 100 * WEFT_MS);
    ck_assert_msg(rc == -ETIMEDOUT,
                  "(fd %s before) a read on the new fd returned %zd at once: "
                  "the %s fd's deadline still applies",
                  used ? "used" : "not used", rc == 1 ? r.r : 0, how);
    ck_assert_int_eq(weft_fd_write(b[1], "n", 1), 1);
    r = wait_result(out);
    ck_assert_int_eq(r.r, 1);
    ck_assert_int_eq(weft_fd_close(num), 0);
    ck_assert_int_eq(weft_fd_close(b[1]), 0);
    ck_assert_int_eq(weft_fd_close(p[1]), 0);
  }
  weft_chan_unref(out);
}

START_TEST(test_forget_clears_deadline) { check_deadline_dropped(true); }
END_TEST

START_TEST(test_close_clears_deadline) { check_deadline_dropped(false); }
END_TEST

/* ==== many waiters on one fd ================================================== */

/* Readers of one pipe, goroutines and threads: each wake wakes them all,
 * the losers park again. Every 4-byte record (pipe writes up to PIPE_BUF
 * are atomic) reaches exactly one reader; end of file reaches all. */
#define HERD_RECORDS WEFT_SCALE(20000)
#define HERD_GOROUTINES 8
#define HERD_THREADS 3

static int g_herd_fd;
static atomic_uchar g_herd_seen[HERD_RECORDS];
static atomic_int g_herd_eofs;

static void herd_reader(void) {
  for (;;) {
    uint32_t rec;
    /* A deadline far beyond any wait here: a lost wake fails the test
     * (with -ETIMEDOUT) instead of hanging it. */
    ssize_t r = weft_fd_read_dl(g_herd_fd, &rec, sizeof rec,
                                weft_now() + 5 * WEFT_SEC);
    if (r == 0)
      break;
    WEFT_EXPECT(r == 4, "read %zd (-ETIMEDOUT: a lost wake)", r);
    if (r != 4)
      return;
    WEFT_EXPECT(rec < HERD_RECORDS, "record %u", rec);
    if (rec >= HERD_RECORDS)
      return;
    int before = atomic_fetch_add(&g_herd_seen[rec], 1);
    WEFT_EXPECT(before == 0, "record %u read twice", rec);
  }
  atomic_fetch_add(&g_herd_eofs, 1);
}

static void herd_writer(void *arg) {
  int fd = *(int *)arg;
  for (uint32_t i = 0; i < HERD_RECORDS; i++) {
    ssize_t w = weft_fd_write(fd, &i, sizeof i);
    WEFT_EXPECT(w == 4, "write %u: %zd", i, w);
    if (i % 64 == 0)
      weft_yield(); /* let readers drain and park again */
  }
  WEFT_EXPECT(weft_fd_close(fd) == 0, "close");
}

START_TEST(test_many_readers_one_fd) {
  procs(4);
  int p[2];
  make_pipe(p, false);
  g_herd_fd = p[0];
  weft_test_mixed m = {0};
  weft_test_mixed_start(&m, herd_reader, HERD_GOROUTINES, HERD_THREADS);
  go_wg(herd_writer, &p[1]);
  weft_test_mixed_join(&m);
  weft_wg_wait(&g_wg);
  WEFT_ASSERT_NO_FAILURES();
  for (int i = 0; i < HERD_RECORDS; i++)
    ck_assert_msg(atomic_load(&g_herd_seen[i]) == 1, "record %d read %d times",
                  i, atomic_load(&g_herd_seen[i]));
  ck_assert_int_eq(atomic_load(&g_herd_eofs), HERD_GOROUTINES + HERD_THREADS);
  ck_assert_int_eq(weft_fd_close(p[0]), 0);
}
END_TEST

/* The same race, short and many times over: readers loop on one pipe
 * while a writer sends a few bytes and closes its end. The end of file is
 * the last event the read end will ever get, so a reader that misses it
 * waits until its deadline. A reader between its read's EAGAIN and its
 * park when the event comes must still see it, however many other readers
 * are parked or in the same window (pd.h: "readiness is never lost between
 * a call's EAGAIN and its park"). */
#define EOF_RACE_ROUNDS WEFT_SCALE(3000)
#define EOF_RACE_GOROUTINES 4
#define EOF_RACE_THREADS 2
#define EOF_RACE_BYTES 200

static int g_race_fd;
static atomic_int g_race_bytes, g_race_eofs, g_race_lost;

static void eof_race_reader(void) {
  for (;;) {
    char c;
    ssize_t r = weft_fd_read_dl(g_race_fd, &c, 1, weft_now() + 2 * WEFT_SEC);
    if (r == 1) {
      atomic_fetch_add(&g_race_bytes, 1);
      continue;
    }
    if (r == 0)
      atomic_fetch_add(&g_race_eofs, 1);
    else
      atomic_fetch_add(&g_race_lost, 1); /* -ETIMEDOUT: missed the EOF */
    return;
  }
}

START_TEST(test_many_readers_eof_race) {
  procs(2);
  for (int round = 0; round < EOF_RACE_ROUNDS; round++) {
    int p[2];
    make_pipe(p, false);
    g_race_fd = p[0];
    atomic_store(&g_race_bytes, 0);
    atomic_store(&g_race_eofs, 0);
    atomic_store(&g_race_lost, 0);
    weft_test_mixed m = {0};
    weft_test_mixed_start(&m, eof_race_reader, EOF_RACE_GOROUTINES,
                          EOF_RACE_THREADS);
    for (int i = 0; i < EOF_RACE_BYTES; i++)
      REQUIRE_EQ(weft_fd_write(p[1], "x", 1), 1);
    REQUIRE_EQ(weft_fd_close(p[1]), 0);
    weft_test_mixed_join(&m);
    ck_assert_msg(atomic_load(&g_race_lost) == 0,
                  "round %d: %d of %d readers missed the end of file (read "
                  "-ETIMEDOUT after 2 s; %d saw it) after all %d bytes "
                  "were read: a lost wake-up", round,
                  atomic_load(&g_race_lost),
                  EOF_RACE_GOROUTINES + EOF_RACE_THREADS,
                  atomic_load(&g_race_eofs), atomic_load(&g_race_bytes));
    REQUIRE_EQ(atomic_load(&g_race_bytes), EOF_RACE_BYTES);
    REQUIRE_EQ(atomic_load(&g_race_eofs),
               EOF_RACE_GOROUTINES + EOF_RACE_THREADS);
    REQUIRE_EQ(weft_fd_close(p[0]), 0);
  }
}
END_TEST

/* A plain thread's readiness is delivered while every P computes: no P is
 * free to poll, so the monitor does (every 10 ms). */
#define BUSY_MS 1000

static void busy_goroutine(void *arg) {
  (void)arg;
  weft_test_busy_ms(BUSY_MS);
}

static void write_after_50ms(void *arg) {
  int fd = *(int *)arg;
  weft_test_os_sleep_ms(50);
  if (write(fd, "busy", 4) != 4)
    abort();
}

START_TEST(test_thread_served_while_ps_busy) {
  procs(2);
  weft_chan *out = weft_chan_make(sizeof(opres), 16);
  int p[2];
  make_pipe(p, false);
  opjob rd = {OP_READ, p[0], WEFT_FOREVER, NULL, out};
  pthread_t th = start_op_thread(&rd);
  wait_parked(1);
  int64_t t0 = weft_now();
  go_wg(busy_goroutine, NULL);
  go_wg(busy_goroutine, NULL);
  int64_t t_write = t0 + 50 * WEFT_MS;
  pthread_t w = spawn_thread(write_after_50ms, &p[1]);
  opres r = wait_result(out);
  ck_assert_int_eq(r.r, 4);
  ck_assert_int_eq(memcmp(r.data, "busy", 4), 0);
  ck_assert_msg(r.at < t0 + (BUSY_MS - 200) * WEFT_MS,
                "the thread's read returned %lld ms after the write: not "
                "before the Ps were free",
                (long long)((r.at - t_write) / WEFT_MS));
  pthread_join(th, NULL);
  pthread_join(w, NULL);
  weft_wg_wait(&g_wg);
  ck_assert_int_eq(weft_fd_close(p[0]), 0);
  ck_assert_int_eq(weft_fd_close(p[1]), 0);
  weft_chan_unref(out);
}
END_TEST

/* ==== 7. bad arguments ======================================================== */

static struct iovec g_many_iov[IOV_MAX + 1];

/* weft_dial and weft_listen on a unix socket path and on "localhost:port"
 * (a name: looked up in a goroutine), and their bad input. */
static int g_dl_ln;
static weft_waitgroup g_dl_wg = WEFT_WAITGROUP_INIT;

static void dl_echo_once(void *arg) {
  (void)arg;
  int fd = weft_fd_accept(g_dl_ln, NULL, NULL);
  WEFT_EXPECT(fd >= 0, "accept: %d", fd);
  char c = 0;
  WEFT_EXPECT(weft_fd_read(fd, &c, 1) == 1, "read");
  WEFT_EXPECT(weft_fd_write(fd, &c, 1) == 1, "write");
  weft_fd_close(fd);
  weft_wg_done(&g_dl_wg);
}

static void dl_round_trip(const char *network, const char *addr, char v) {
  weft_wg_add(&g_dl_wg, 1);
  go_or_die(dl_echo_once, NULL);
  int fd = weft_dial(network, addr);
  ck_assert_msg(fd >= 0, "dial %s %s: %d", network, addr, fd);
  ck_assert_int_eq(weft_fd_write(fd, &v, 1), 1);
  char back = 0;
  ck_assert_int_eq(weft_fd_read_dl(fd, &back, 1, weft_now() + RESULT_NS), 1);
  ck_assert_int_eq(back, v);
  ck_assert_int_eq(weft_fd_close(fd), 0);
  weft_wg_wait(&g_dl_wg);
}

START_TEST(test_dial_listen) {
  procs(2);
  char path[64];
  snprintf(path, sizeof path, "/tmp/weft-netpoll-%d.sock", (int)getpid());
  unlink(path);
  g_dl_ln = weft_listen("unix", path);
  ck_assert_int_ge(g_dl_ln, 0);
  dl_round_trip("unix", path, 'u');
  ck_assert_int_eq(weft_fd_close(g_dl_ln), 0);
  ck_assert_int_eq(weft_dial("unix", path), -ECONNREFUSED); /* nobody */
  unlink(path);

  g_dl_ln = weft_listen("tcp4", "127.0.0.1:0");
  ck_assert_int_ge(g_dl_ln, 0);
  struct sockaddr_in sa;
  socklen_t len = sizeof sa;
  ck_assert_int_eq(getsockname(g_dl_ln, (struct sockaddr *)&sa, &len), 0);
  char addr[64];
  snprintf(addr, sizeof addr, "localhost:%d", ntohs(sa.sin_port));
  dl_round_trip("tcp4", addr, 'n');
  ck_assert_int_eq(weft_fd_close(g_dl_ln), 0);

  char longp[200];
  memset(longp, 'a', sizeof longp - 1);
  longp[sizeof longp - 1] = '\0';
  ck_assert_int_eq(weft_dial("unix", longp), -EINVAL);
  ck_assert_int_eq(weft_listen("unix", longp), -EINVAL);
  ck_assert_int_eq(weft_dial("udp", "127.0.0.1:1"), -EINVAL);
  ck_assert_int_eq(weft_dial("tcp", "no-port"), -EINVAL);
  ck_assert_int_eq(weft_dial("tcp", "::1:80"), -EINVAL); /* no brackets */
  ck_assert_int_eq(weft_dial(NULL, "x:1"), -EINVAL);
  ck_assert_int_eq(weft_listen("tcp", NULL), -EINVAL);
  WEFT_ASSERT_NO_FAILURES();
}
END_TEST

START_TEST(test_bad_input) {
  char buf[8];
  struct iovec iov = {buf, sizeof buf};
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  socklen_t alen = sizeof a;
  /* Bad numbers: negative, never opened, at or past 2^20. */
  const int bad[] = {-1, INT_MIN, 999999, 1 << 20, (1 << 20) + 1, INT_MAX};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    int fd = bad[i];
    ck_assert_int_eq(weft_fd_read(fd, buf, 1), -EBADF);
    ck_assert_int_eq(weft_fd_read_dl(fd, buf, 1, 0), -EBADF);
    ck_assert_int_eq(weft_fd_write(fd, buf, 1), -EBADF);
    ck_assert_int_eq(weft_fd_readv(fd, &iov, 1), -EBADF);
    ck_assert_int_eq(weft_fd_writev(fd, &iov, 1), -EBADF);
    ck_assert_int_eq(weft_fd_recv(fd, buf, 1, 0), -EBADF);
    ck_assert_int_eq(weft_fd_send(fd, buf, 1, 0), -EBADF);
    ck_assert_int_eq(weft_fd_recvfrom(fd, buf, 1, 0, NULL, NULL), -EBADF);
    ck_assert_int_eq(weft_fd_sendto(fd, buf, 1, 0, NULL, 0), -EBADF);
    ck_assert_int_eq(weft_fd_accept(fd, (struct sockaddr *)&a, &alen), -EBADF);
    ck_assert_int_eq(weft_fd_connect(fd, (struct sockaddr *)&a, sizeof a),
                     -EBADF);
    ck_assert_int_eq(weft_fd_wait(fd, WEFT_READ), -EBADF);
    ck_assert_int_eq(weft_fd_wait_dl(fd, WEFT_WRITE, WEFT_FOREVER), -EBADF);
    ck_assert_int_eq(weft_fd_set_deadline(fd, WEFT_READ, 0), -EBADF);
    ck_assert_int_eq(weft_fd_close(fd), -EBADF);
  }
  ck_assert_int_eq(weft_fd_forget(-1), -EBADF);

  /* A number closed before weft saw it. */
  int p[2];
  make_pipe(p, true);
  ck_assert_int_eq(close(p[0]), 0);
  ck_assert_int_eq(weft_fd_read(p[0], buf, 1), -EBADF);
  ck_assert_int_eq(weft_fd_set_deadline(p[0], WEFT_READ, 0), -EBADF);
  ck_assert_int_eq(weft_fd_close(p[0]), -EBADF);
  ck_assert_int_eq(weft_fd_close(p[1]), 0);

  /* Bad events, deadlines' events, iov arrays, on a good fd. */
  make_pipe(p, true);
  const int bad_ev[] = {0, 3, 4, -1, 8};
  for (size_t i = 0; i < sizeof bad_ev / sizeof bad_ev[0]; i++) {
    ck_assert_int_eq(weft_fd_wait(p[0], bad_ev[i]), -EINVAL);
    ck_assert_int_eq(weft_fd_wait_dl(p[0], bad_ev[i], 0), -EINVAL);
    ck_assert_int_eq(weft_fd_wait_ctx(weft_ctx_background(), p[0], bad_ev[i]),
                     -EINVAL);
  }
  const int bad_dl_ev[] = {0, 4, -1, 7};
  for (size_t i = 0; i < sizeof bad_dl_ev / sizeof bad_dl_ev[0]; i++)
    ck_assert_int_eq(weft_fd_set_deadline(p[0], bad_dl_ev[i], 0), -EINVAL);
  ck_assert_int_eq(weft_fd_set_deadline(p[0], WEFT_READ | WEFT_WRITE,
                                        WEFT_FOREVER), 0);
  ck_assert_int_eq(weft_fd_writev(p[1], &iov, -1), -EINVAL);
  ck_assert_int_eq(weft_fd_readv(p[0], &iov, -1), -EINVAL);
  ck_assert_int_eq(weft_fd_writev(p[1], NULL, 1), -EINVAL);
  ck_assert_int_eq(weft_fd_readv(p[0], NULL, 1), -EINVAL);
  for (int i = 0; i <= IOV_MAX; i++)
    g_many_iov[i] = (struct iovec){buf, 1};
  ck_assert_int_eq(weft_fd_writev(p[1], g_many_iov, IOV_MAX + 1), -EINVAL);
  ck_assert_int_eq(weft_fd_readv(p[0], g_many_iov, IOV_MAX + 1), -EINVAL);
  struct iovec huge[2] = {{buf, SSIZE_MAX}, {buf, 1}};
  ck_assert_int_eq(weft_fd_writev(p[1], huge, 2), -EINVAL);
  ck_assert_int_eq(weft_fd_writev(p[1], &iov, 0), 0);
  ck_assert_int_eq(weft_fd_write(p[1], buf, 0), 0);
  ck_assert_int_eq(weft_fd_write_dl(p[1], buf, 0, 0), 0);
  /* Nothing was written by any of it. */
  ck_assert_int_eq(weft_fd_read_dl(p[0], buf, 1, 0), -ETIMEDOUT);

  /* Calls of the wrong kind: the kernel's errors. */
  ck_assert_int_eq(weft_fd_read(p[1], buf, 1), -EBADF); /* the write end */
  ck_assert_int_eq(weft_fd_write(p[0], buf, 1), -EBADF);
  ck_assert_int_eq(weft_fd_recv(p[0], buf, 1, 0), -ENOTSOCK);
  ck_assert_int_eq(weft_fd_connect(p[1], (struct sockaddr *)&a, sizeof a),
                   -ENOTSOCK);
  int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ck_assert_int_eq(weft_fd_accept(s, NULL, NULL), -EINVAL); /* not listening */
  ck_assert_int_eq(weft_fd_close(s), 0);

  /* Closing twice; after the close every call is -EBADF. */
  ck_assert_int_eq(weft_fd_close(p[0]), 0);
  ck_assert_int_eq(weft_fd_close(p[0]), -EBADF);
  ck_assert_int_eq(weft_fd_read(p[0], buf, 1), -EBADF);
  ck_assert_int_eq(weft_fd_wait(p[0], WEFT_READ), -EBADF);
  ck_assert_int_eq(weft_fd_set_deadline(p[0], WEFT_READ, 0), -EBADF);
  ck_assert_int_eq(weft_fd_close(p[1]), 0);
  ck_assert_int_eq(weft_fd_close(p[1]), -EBADF);
}
END_TEST

/* ==== 8. a regular file ======================================================= */

#define FILE_BYTES (256 << 10)

typedef struct file_case {
  char path[64];
  int fd;
} file_case;

static void file_worker(void *arg) {
  file_case *f = arg;
  uint8_t *buf = malloc(FILE_BYTES);
  pat_fill(buf, FILE_BYTES, 0, 9);
  ssize_t w = weft_fd_write(f->fd, buf, FILE_BYTES / 2);
  WEFT_EXPECT(w == FILE_BYTES / 2, "write: %zd", w);
  struct iovec wv[3] = {{buf + FILE_BYTES / 2, 1},
                        {buf + FILE_BYTES / 2 + 1, 4095},
                        {buf + FILE_BYTES / 2 + 4096, FILE_BYTES / 2 - 4096}};
  w = weft_fd_writev(f->fd, wv, 3);
  WEFT_EXPECT(w == FILE_BYTES / 2, "writev: %zd", w);
  WEFT_EXPECT(weft_fd_wait(f->fd, WEFT_READ) == 0, "wait read");
  WEFT_EXPECT(weft_fd_wait(f->fd, WEFT_WRITE) == 0, "wait write");
  WEFT_EXPECT(weft_fd_wait_dl(f->fd, WEFT_READ, weft_now() + WEFT_SEC) == 0,
              "wait_dl");
  WEFT_EXPECT(lseek(f->fd, 0, SEEK_SET) == 0, "lseek");
  memset(buf, 0, FILE_BYTES);
  size_t got = 0;
  for (;;) {
    ssize_t r = weft_fd_read(f->fd, buf + got, got < 1000 ? 1000 : 65536);
    WEFT_EXPECT(r >= 0, "read at %zu: %zd", got, r);
    if (r <= 0)
      break;
    got += (size_t)r;
    if (got > FILE_BYTES - 65536)
      break;
  }
  struct iovec rv[2] = {{buf + got, 10}, {buf + got + 10, FILE_BYTES}};
  ssize_t r = weft_fd_readv(f->fd, rv, 2);
  WEFT_EXPECT(r == (ssize_t)(FILE_BYTES - got), "readv: %zd", r);
  if (r > 0)
    got += (size_t)r;
  WEFT_EXPECT(got == FILE_BYTES, "read %zu bytes back", got);
  WEFT_EXPECT(pat_bad(buf, FILE_BYTES, 0, 9) == -1, "content");
  r = weft_fd_read(f->fd, buf, 1);
  WEFT_EXPECT(r == 0, "at the end: %zd", r);
  /* Deadlines and contexts are looked at before the call. */
  WEFT_EXPECT(lseek(f->fd, 0, SEEK_SET) == 0, "lseek");
  r = weft_fd_read_dl(f->fd, buf, 1, weft_now() - 1);
  WEFT_EXPECT(r == -ETIMEDOUT, "past deadline: %zd", r);
  weft_ctx *c = weft_ctx_with_cancel(weft_ctx_background());
  weft_ctx_cancel(c);
  r = weft_fd_read_ctx(c, f->fd, buf, 1);
  WEFT_EXPECT(r == -ECANCELED, "done ctx: %zd", r);
  weft_ctx_unref(c);
  r = weft_fd_read_dl(f->fd, buf, 4, weft_now() + WEFT_SEC);
  WEFT_EXPECT(r == 4 && pat_bad(buf, 4, 0, 9) == -1, "future deadline: %zd",
              r);
  free(buf);
}

START_TEST(test_regular_file) {
  procs(2);
  file_case f;
  snprintf(f.path, sizeof f.path, "/tmp/weft_netpoll_XXXXXX");
  int fd = mkstemp(f.path);
  ck_assert_int_ge(fd, 0);
  f.fd = move_high(fd);
  go_wg(file_worker, &f);
  weft_wg_wait(&g_wg);
  WEFT_ASSERT_NO_FAILURES();
  struct stat st;
  ck_assert_int_eq(fstat(f.fd, &st), 0);
  ck_assert_int_eq(st.st_size, FILE_BYTES);
  ck_assert_int_eq(weft_fd_close(f.fd), 0);
  ck_assert_int_eq(weft_fd_read(f.fd, &st, 1), -EBADF);
  ck_assert_int_eq(unlink(f.path), 0);

  /* /dev/null and a directory are not polled either. */
  int dn = open("/dev/null", O_RDWR | O_CLOEXEC);
  ck_assert_int_ge(dn, 0);
  uint8_t *big = calloc(1, 1 << 20);
  ck_assert_int_eq(weft_fd_write(dn, big, 1 << 20), 1 << 20);
  ck_assert_int_eq(weft_fd_read(dn, big, 100), 0);
  free(big);
  ck_assert_int_eq(weft_fd_close(dn), 0);
  int dir = open("/tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  ck_assert_int_ge(dir, 0);
  char c;
  ck_assert_int_eq(weft_fd_read(dir, &c, 1), -EISDIR);
  ck_assert_int_eq(weft_fd_close(dir), 0);
}
END_TEST

/* ==== 9. plain threads ======================================================== */

#define THREAD_BYTES (1 << 20)

typedef struct stream_arg {
  int fd;
  size_t n;
  uint64_t seed;
} stream_arg;

static void stream_write(void *arg) {
  stream_arg *s = arg;
  uint8_t *buf = malloc(s->n);
  pat_fill(buf, s->n, 0, s->seed);
  ssize_t w = weft_fd_write(s->fd, buf, s->n);
  WEFT_EXPECT(w == (ssize_t)s->n, "write: %zd", w);
  free(buf);
  int rc = weft_fd_close(s->fd);
  WEFT_EXPECT(rc == 0, "close: %d", rc);
}

static void stream_read(void *arg) {
  stream_arg *s = arg;
  uint8_t buf[3000];
  size_t total = 0;
  for (;;) {
    ssize_t r = weft_fd_read(s->fd, buf, sizeof buf);
    WEFT_EXPECT(r >= 0, "read: %zd", r);
    if (r <= 0)
      break;
    long long bad = pat_bad(buf, (size_t)r, total, s->seed);
    WEFT_EXPECT(bad < 0, "byte %lld wrong", (long long)total + bad);
    if (bad >= 0)
      break;
    total += (size_t)r;
  }
  WEFT_EXPECT(total == s->n, "read %zu of %zu", total, s->n);
  int rc = weft_fd_close(s->fd);
  WEFT_EXPECT(rc == 0, "close: %d", rc);
}

static weft_chan *g_go_write;

static void write_when_told(void *arg) {
  int fd = *(int *)arg;
  WEFT_EXPECT(weft_recv(g_go_write, NULL) == 0, "the signal: a close");
  uint8_t buf[16];
  pat_fill(buf, 16, 0, 10);
  ssize_t w = weft_fd_write(fd, buf, 16);
  WEFT_EXPECT(w == 16, "write: %zd", w);
}

START_TEST(test_plain_thread_callers) {
  procs(2);
  weft_chan *out = weft_chan_make(sizeof(opres), 16);
  /* A thread reads what a goroutine writes later (once the thread is
   * seen parked). */
  int p[2];
  make_pipe(p, false);
  g_go_write = weft_chan_make(0, 0);
  go_wg(write_when_told, &p[1]);
  opjob rd = {OP_READ, p[0], WEFT_FOREVER, NULL, out};
  pthread_t th = start_op_thread(&rd);
  wait_parked(1);
  weft_close(g_go_write);
  opres r = wait_result(out);
  ck_assert_int_eq(r.r, 16);
  ck_assert_int_eq(pat_bad(r.data, 16, 0, 10), -1);
  pthread_join(th, NULL);
  weft_wg_wait(&g_wg);
  WEFT_ASSERT_NO_FAILURES();

  /* A thread's deadline, and the test thread's own. */
  int64_t t0 = weft_now();
  rd.dl = t0 + 20 * WEFT_MS;
  th = start_op_thread(&rd);
  r = wait_result(out);
  pthread_join(th, NULL);
  ck_assert_int_eq(r.r, -ETIMEDOUT);
  ASSERT_WAITED(t0, r.at, 20 * WEFT_MS);
  t0 = weft_now();
  ck_assert_int_eq(weft_fd_wait_dl(p[0], WEFT_READ, t0 + 20 * WEFT_MS),
                   -ETIMEDOUT);
  ASSERT_WAITED(t0, weft_now(), 20 * WEFT_MS);

  /* A thread waiting under a context that this thread cancels. */
  weft_ctx *ctx = weft_ctx_with_cancel(weft_ctx_background());
  rd.dl = WEFT_FOREVER;
  rd.ctx = ctx;
  th = start_op_thread(&rd);
  wait_parked(1);
  weft_ctx_cancel(ctx);
  r = wait_result(out);
  pthread_join(th, NULL);
  ck_assert_int_eq(r.r, -ECANCELED);
  weft_ctx_unref(ctx);
  ck_assert_int_eq(weft_fd_close(p[0]), 0);
  ck_assert_int_eq(weft_fd_close(p[1]), 0);

  /* A thread writes 1 MiB that a goroutine reads; then two threads alone,
   * no goroutine involved: the poller still serves them. */
  for (int k = 0; k < 2; k++) {
    make_pipe(p, false);
    stream_arg w = {p[1], THREAD_BYTES, 11 + (uint64_t)k};
    stream_arg rr = {p[0], THREAD_BYTES, 11 + (uint64_t)k};
    pthread_t wt = spawn_thread(stream_write, &w);
    pthread_t rt = 0;
    if (k == 0)
      go_wg(stream_read, &rr);
    else
      rt = spawn_thread(stream_read, &rr);
    pthread_join(wt, NULL);
    if (k == 0)
      weft_wg_wait(&g_wg);
    else
      pthread_join(rt, NULL);
    WEFT_ASSERT_NO_FAILURES();
  }
  weft_chan_unref(out);
}
END_TEST

/* A process that never started a goroutine: its only thread waits. */
static void thread_only_child(void) {
  int p[2];
  if (pipe(p) != 0)
    _exit(2);
  pid_t w = fork(); /* before weft starts */
  if (w == 0) {
    weft_test_os_sleep_ms(100);
    if (write(p[1], "late", 4) != 4)
      _exit(1);
    _exit(0);
  }
  char buf[8];
  ssize_t r = weft_fd_read(p[0], buf, sizeof buf);
  if (r != 4 || memcmp(buf, "late", 4) != 0) {
    fprintf(stderr, "read %zd\n", r);
    _exit(3);
  }
  waitpid(w, NULL, 0);
  fprintf(stderr, "thread read ok\n");
  _exit(0);
}

START_TEST(test_first_use_is_a_thread_read) {
  char buf[4096];
  int st = weft_test_child(thread_only_child, buf, sizeof buf);
  ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %d: %s", st,
                buf);
  ck_assert_str_eq(buf, "thread read ok\n");
}
END_TEST

/* ==== 10. SIGPIPE ============================================================= */

/* Writes to a pipe without a reader and to sockets without a peer: -EPIPE,
 * and the process lives. Callable from any thread (WEFT_EXPECT). */
static void epipe_writes(void *arg) {
  (void)arg;
  int p[2], s[2];
  if (pipe2(p, O_CLOEXEC) != 0 ||
      socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, s) != 0) {
    WEFT_EXPECT(0, "pipe/socketpair");
    return;
  }
  WEFT_EXPECT(weft_fd_close(p[0]) == 0, "close");
  WEFT_EXPECT(weft_fd_close(s[1]) == 0, "close");
  char buf[100] = {0};
  struct iovec iov[2] = {{buf, 50}, {buf + 50, 50}};
  ssize_t r = weft_fd_write(p[1], buf, sizeof buf);
  WEFT_EXPECT(r == -EPIPE, "pipe write: %zd", r);
  r = weft_fd_writev(p[1], iov, 2);
  WEFT_EXPECT(r == -EPIPE, "pipe writev: %zd", r);
  r = weft_fd_write_dl(p[1], buf, 1, weft_now() - 1);
  WEFT_EXPECT(r == -EPIPE, "pipe write_dl: %zd", r);
  r = weft_fd_send(s[0], buf, sizeof buf, 0);
  WEFT_EXPECT(r == -EPIPE, "socket send: %zd", r);
  r = weft_fd_write(s[0], buf, sizeof buf);
  WEFT_EXPECT(r == -EPIPE, "socket write: %zd", r);
  r = weft_fd_writev(s[0], iov, 2);
  WEFT_EXPECT(r == -EPIPE, "socket writev: %zd", r);
  WEFT_EXPECT(weft_fd_close(p[1]) == 0, "close");
  WEFT_EXPECT(weft_fd_close(s[0]) == 0, "close");
}

static void tcp_send_to_closed(void *arg) {
  const struct sockaddr_in *a = arg;
  int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int rc = weft_fd_connect(s, (const struct sockaddr *)a, sizeof *a);
  WEFT_EXPECT(rc == 0, "connect: %d", rc);
  char buf[1024] = {0};
  ssize_t r = 0;
  /* The peer closed without reading: the first sends may still be taken,
   * its RST then fails the next ones. */
  for (int i = 0; i < 400 && r >= 0; i++) {
    r = weft_fd_send(s, buf, sizeof buf, 0);
    if (r >= 0)
      weft_sleep(5 * WEFT_MS);
  }
  WEFT_EXPECT(r == -EPIPE || r == -ECONNRESET, "send to a closed peer: %zd",
              r);
  WEFT_EXPECT(weft_fd_close(s) == 0, "close");
}

static void tcp_accept_close(void *arg) {
  int l = *(int *)arg;
  int c = weft_fd_accept(l, NULL, NULL);
  WEFT_EXPECT(c >= 0, "accept: %d", c);
  WEFT_EXPECT(weft_fd_close(c) == 0, "close");
}

/* weft's calls return -EPIPE; the program's own write(2) still gets the
 * signal: weft installed no process-wide disposition. */
static void raw_write_still_signals(void) {
  epipe_writes(NULL);
  if (atomic_load(&weft_test_failures_) != 0) {
    fprintf(stderr, "weft writes: %s\n", weft_test_first_failure_);
    _exit(3);
  }
  fprintf(stderr, "weft EPIPE ok\n");
  int p[2];
  if (pipe(p) != 0)
    _exit(4);
  close(p[0]);
  ssize_t r = write(p[1], "x", 1);
  fprintf(stderr, "raw write returned %zd\n", r);
  _exit(5);
}

START_TEST(test_sigpipe) {
  /* First, while this process has not started weft (a child forked after
   * that may not call it). */
  char cbuf[4096];
  int st = weft_test_child(raw_write_still_signals, cbuf, sizeof cbuf);
  ck_assert_msg(WIFSIGNALED(st) && WTERMSIG(st) == SIGPIPE,
                "status %d, stderr: %s", st, cbuf);
  ck_assert_str_eq(cbuf, "weft EPIPE ok\n");

  procs(2);
  struct sigaction before, after;
  ck_assert_int_eq(sigaction(SIGPIPE, NULL, &before), 0);
  ck_assert_ptr_eq((void *)before.sa_handler, (void *)SIG_DFL);
  epipe_writes(NULL); /* this plain thread */
  go_wg(epipe_writes, NULL);
  weft_wg_wait(&g_wg);
  pthread_t th = spawn_thread(epipe_writes, NULL);
  pthread_join(th, NULL);
  WEFT_ASSERT_NO_FAILURES();

  struct sockaddr_in a;
  int l = tcp_listener(&a, 4);
  go_wg(tcp_accept_close, &l);
  go_wg(tcp_send_to_closed, &a);
  weft_wg_wait(&g_wg);
  WEFT_ASSERT_NO_FAILURES();
  ck_assert_int_eq(weft_fd_close(l), 0);

  /* Still the default, and nothing left pending for this thread. */
  ck_assert_int_eq(sigaction(SIGPIPE, NULL, &after), 0);
  ck_assert_ptr_eq((void *)after.sa_handler, (void *)SIG_DFL);
  sigset_t pend;
  ck_assert_int_eq(sigpending(&pend), 0);
  ck_assert(!sigismember(&pend, SIGPIPE));
}
END_TEST

/* ==== 11. the write-all loops ================================================= */

#define BULK_WRITE (4 << 20)
#define BULK_WRITEV (3 << 20)
#define BULK_SEND (1 << 20)

static void small_buffers(int s[2]) {
  int small = 4096;
  ck_assert_int_eq(setsockopt(s[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof small), 0);
  ck_assert_int_eq(setsockopt(s[1], SOL_SOCKET, SO_RCVBUF, &small, sizeof small), 0);
}

static void slow_reader(void *arg) {
  stream_arg *s = arg;
  uint8_t buf[1000];
  size_t total = 0;
  for (int k = 0;; k++) {
    ssize_t r = weft_fd_read(s->fd, buf, sizeof buf);
    WEFT_EXPECT(r >= 0, "read: %zd", r);
    if (r <= 0)
      break;
    long long bad = pat_bad(buf, (size_t)r, total, s->seed);
    WEFT_EXPECT(bad < 0, "byte %lld wrong", (long long)total + bad);
    if (bad >= 0)
      break;
    total += (size_t)r;
    if (k % 64 == 63)
      weft_sleep(WEFT_MS); /* slower than the writer */
  }
  WEFT_EXPECT(total == s->n, "read %zu of %zu", total, s->n);
}

typedef struct bulk_arg {
  int fd;
  int kind; /* 0 write, 1 writev, 2 send */
  bool pipe; /* end with weft_fd_close, not shutdown */
  size_t n;
  uint64_t seed;
} bulk_arg;

static void bulk_writer(void *arg) {
  bulk_arg *b = arg;
  uint8_t *buf = malloc(b->n);
  pat_fill(buf, b->n, 0, b->seed);
  ssize_t w = -1;
  if (b->kind == 0) {
    w = weft_fd_write(b->fd, buf, b->n);
  } else if (b->kind == 2) {
    w = weft_fd_send(b->fd, buf, b->n, 0);
  } else {
    /* Pieces of every size, an empty one among them. */
    const size_t lens[7] = {1, 4095, 1 << 20, 3, 0, 512 << 10, 7};
    struct iovec iov[8], saved[8];
    size_t off = 0;
    for (int i = 0; i < 7; i++) {
      iov[i] = (struct iovec){buf + off, lens[i]};
      off += lens[i];
    }
    iov[7] = (struct iovec){buf + off, b->n - off};
    memcpy(saved, iov, sizeof iov);
    w = weft_fd_writev(b->fd, iov, 8);
    WEFT_EXPECT(memcmp(saved, iov, sizeof iov) == 0,
                "writev changed the caller's iov array");
  }
  WEFT_EXPECT(w == (ssize_t)b->n, "kind %d wrote %zd of %zu", b->kind, w,
              b->n);
  if (b->pipe)
    WEFT_EXPECT(weft_fd_close(b->fd) == 0, "close");
  else
    WEFT_EXPECT(shutdown(b->fd, SHUT_WR) == 0, "shutdown");
  free(buf);
}

START_TEST(test_write_all) {
  procs(2);
  const size_t sizes[3] = {BULK_WRITE, BULK_WRITEV, BULK_SEND};
  for (int kind = 0; kind < 3; kind++) {
    int s[2];
    make_socketpair(SOCK_STREAM, s, false);
    small_buffers(s);
    bulk_arg b = {s[0], kind, false, sizes[kind], 20 + (uint64_t)kind};
    stream_arg r = {s[1], sizes[kind], 20 + (uint64_t)kind};
    go_wg(slow_reader, &r);
    go_wg(bulk_writer, &b);
    weft_wg_wait(&g_wg);
    WEFT_ASSERT_NO_FAILURES();
    ck_assert_int_eq(weft_fd_close(s[0]), 0);
    ck_assert_int_eq(weft_fd_close(s[1]), 0);
  }
  /* And over a pipe, with writev, from a plain thread. */
  int p[2];
  make_pipe(p, false);
  stream_arg r = {p[0], BULK_WRITEV, 30};
  bulk_arg b = {p[1], 1, true, BULK_WRITEV, 30};
  go_wg(slow_reader, &r);
  pthread_t th = spawn_thread(bulk_writer, &b);
  pthread_join(th, NULL);
  weft_wg_wait(&g_wg);
  WEFT_ASSERT_NO_FAILURES();
  ck_assert_int_eq(weft_fd_close(p[0]), 0);
}
END_TEST

/* A deadline that stops a write midway: the count of what went, exactly
 * those bytes arrive, and the next call reports the timeout. */
START_TEST(test_write_deadline_partial) {
  procs(2);
  int s[2];
  make_socketpair(SOCK_STREAM, s, false);
  small_buffers(s);
  size_t n = 1 << 20;
  uint8_t *buf = malloc(n);
  pat_fill(buf, n, 0, 40);
  int64_t t0 = weft_now();
  ssize_t w = weft_fd_write_dl(s[0], buf, n, t0 + 50 * WEFT_MS);
  ASSERT_WAITED(t0, weft_now(), 50 * WEFT_MS);
  ck_assert_int_gt(w, 0);
  ck_assert_int_lt(w, (ssize_t)n);
  ck_assert_int_eq(weft_fd_write_dl(s[0], buf + w, n - (size_t)w,
                                    weft_now() - 1), -ETIMEDOUT);
  ck_assert_int_eq(weft_fd_send_dl(s[0], buf + w, n - (size_t)w, 0,
                                   weft_now() + 10 * WEFT_MS), -ETIMEDOUT);
  uint8_t *in = malloc(n);
  size_t got = 0;
  for (;;) {
    ssize_t r = weft_fd_read_dl(s[1], in + got, n - got, weft_now() + 50 * WEFT_MS);
    if (r == -ETIMEDOUT)
      break;
    ck_assert_int_gt(r, 0);
    got += (size_t)r;
  }
  ck_assert_int_eq(got, w);
  ck_assert_int_eq(pat_bad(in, got, 0, 40), -1);
  free(in);
  free(buf);
  ck_assert_int_eq(weft_fd_close(s[0]), 0);
  ck_assert_int_eq(weft_fd_close(s[1]), 0);
}
END_TEST

/* ==== 12. datagrams =========================================================== */

#define UDP_ROUNDS 200

static size_t udp_len(int i) { return (size_t)(i * 97) % 1400; } /* 0 first */

typedef struct udp_pair {
  int a, b;
  struct sockaddr_in aa, ba;
} udp_pair;

static bool same_addr(const struct sockaddr_in *x, const struct sockaddr_in *y) {
  return x->sin_family == y->sin_family && x->sin_port == y->sin_port &&
         x->sin_addr.s_addr == y->sin_addr.s_addr;
}

/* b echoes each datagram back to whoever sent it. */
static void udp_echo(void *arg) {
  udp_pair *u = arg;
  uint8_t buf[2048];
  for (int i = 0; i < UDP_ROUNDS; i++) {
    struct sockaddr_in from;
    memset(&from, 0, sizeof from);
    socklen_t len = sizeof from;
    ssize_t r = weft_fd_recvfrom(u->b, buf, sizeof buf, 0,
                                 (struct sockaddr *)&from, &len);
    WEFT_EXPECT(r == (ssize_t)udp_len(i), "datagram %d: %zd bytes, want %zu",
                i, r, udp_len(i));
    if (r < 0)
      return;
    WEFT_EXPECT(len == sizeof from && same_addr(&from, &u->aa),
                "datagram %d: sender's address", i);
    WEFT_EXPECT(pat_bad(buf, (size_t)r, 0, 50 + (uint64_t)i) == -1,
                "datagram %d: content", i);
    ssize_t w = weft_fd_sendto(u->b, buf, (size_t)r, 0,
                               (struct sockaddr *)&from, len);
    WEFT_EXPECT(w == r, "echo %d: %zd", i, w);
  }
}

static void udp_client(void *arg) {
  udp_pair *u = arg;
  uint8_t out[2048], in[2048];
  for (int i = 0; i < UDP_ROUNDS; i++) {
    size_t n = udp_len(i);
    pat_fill(out, n, 0, 50 + (uint64_t)i);
    ssize_t w = weft_fd_sendto(u->a, out, n, 0, (struct sockaddr *)&u->ba,
                               sizeof u->ba);
    WEFT_EXPECT(w == (ssize_t)n, "sendto %d: %zd", i, w);
    struct sockaddr_in from;
    socklen_t len = sizeof from;
    ssize_t r = weft_fd_recvfrom_dl(u->a, in, sizeof in, 0,
                                    (struct sockaddr *)&from, &len,
                                    weft_now() + RESULT_NS);
    WEFT_EXPECT(r == (ssize_t)n, "echo %d: %zd bytes, want %zu", i, r, n);
    if (r < 0)
      return;
    WEFT_EXPECT(same_addr(&from, &u->ba), "echo %d: sender's address", i);
    WEFT_EXPECT(memcmp(in, out, n) == 0, "echo %d: content", i);
  }
}

typedef struct dgram_arg {
  int fd;
  int count;
} dgram_arg;

/* More datagrams than an AF_UNIX datagram queue holds: sends park. */
static void dgram_sender(void *arg) {
  dgram_arg *d = arg;
  uint8_t buf[512];
  for (int i = 0; i < d->count; i++) {
    size_t n = 1 + (size_t)i % 500;
    pat_fill(buf, n, 0, 60 + (uint64_t)i);
    ssize_t w = weft_fd_send(d->fd, buf, n, 0);
    WEFT_EXPECT(w == (ssize_t)n, "dgram %d: send %zd", i, w);
  }
}

static void dgram_receiver(void *arg) {
  dgram_arg *d = arg;
  uint8_t buf[1024];
  for (int i = 0; i < d->count; i++) {
    if (i % 16 == 0)
      weft_sleep(WEFT_MS); /* let the queue fill */
    ssize_t r = weft_fd_recv(d->fd, buf, sizeof buf, 0);
    size_t n = 1 + (size_t)i % 500;
    WEFT_EXPECT(r == (ssize_t)n, "dgram %d: %zd bytes, want %zu", i, r, n);
    if (r < 0)
      return;
    WEFT_EXPECT(pat_bad(buf, (size_t)r, 0, 60 + (uint64_t)i) == -1,
                "dgram %d: content", i);
  }
}

START_TEST(test_datagrams) {
  procs(2);
  udp_pair u;
  u.a = udp_socket(&u.aa);
  u.b = udp_socket(&u.ba);
  go_wg(udp_echo, &u);
  go_wg(udp_client, &u);
  weft_wg_wait(&g_wg);
  WEFT_ASSERT_NO_FAILURES();

  /* Truncation keeps the boundaries: the rest of a datagram is dropped,
   * MSG_TRUNC tells the real length, the next datagram comes whole. */
  uint8_t out[100], in[100];
  pat_fill(out, 100, 0, 70);
  const size_t lens[2] = {100, 10};
  for (int i = 0; i < 2; i++)
    ck_assert_int_eq(weft_fd_sendto(u.a, out, lens[i], 0,
                                    (struct sockaddr *)&u.ba, sizeof u.ba),
                     (ssize_t)lens[i]);
  ck_assert_int_eq(weft_fd_sendto(u.a, out, 30, 0, (struct sockaddr *)&u.ba,
                                  sizeof u.ba), 30);
  memset(in, 0, sizeof in);
  ck_assert_int_eq(weft_fd_recv(u.b, in, sizeof in, MSG_PEEK), 100);
  ck_assert_int_eq(memcmp(in, out, 100), 0); /* flags reach the call */
  ck_assert_int_eq(weft_fd_recvfrom(u.b, in, 40, 0, NULL, NULL), 40);
  ck_assert_int_eq(memcmp(in, out, 40), 0);
  memset(in, 0, sizeof in);
  ck_assert_int_eq(weft_fd_recvfrom(u.b, in, 4, MSG_TRUNC, NULL, NULL), 10);
  ck_assert_int_eq(memcmp(in, out, 4), 0);
  ck_assert_int_eq(weft_fd_recv(u.b, in, sizeof in, 0), 30);
  ck_assert_int_eq(memcmp(in, out, 30), 0);
  int64_t t0 = weft_now();
  ck_assert_int_eq(weft_fd_recvfrom_dl(u.b, in, sizeof in, 0, NULL, NULL,
                                       t0 + 20 * WEFT_MS), -ETIMEDOUT);
  ASSERT_WAITED(t0, weft_now(), 20 * WEFT_MS);
  ck_assert_int_eq(weft_fd_close(u.a), 0);
  ck_assert_int_eq(weft_fd_close(u.b), 0);

  int s[2];
  make_socketpair(SOCK_DGRAM, s, false);
  dgram_arg ds = {s[0], WEFT_SCALE(1000)}, dr = {s[1], WEFT_SCALE(1000)};
  go_wg(dgram_receiver, &dr);
  go_wg(dgram_sender, &ds);
  weft_wg_wait(&g_wg);
  WEFT_ASSERT_NO_FAILURES();
  ck_assert_int_eq(weft_fd_close(s[0]), 0);
  ck_assert_int_eq(weft_fd_close(s[1]), 0);
}
END_TEST

/* ==== 13. accept and EMFILE =================================================== */

typedef struct emfile_case {
  int lfd;
  int spare;      /* an fd to close to make room */
  struct rlimit old;
  int clients[2]; /* connected, waiting in the accept queue */
} emfile_case;

static void yield_once(void *arg) {
  (void)arg;
  weft_yield();
}

static void emfile_worker(void *arg) {
  emfile_case *e = arg;
  /* Every number below the limit in use: accept fails at once, and the
   * connection stays queued. */
  int64_t t0 = weft_now();
  int rc = weft_fd_accept(e->lfd, NULL, NULL);
  WEFT_EXPECT(rc == -EMFILE, "accept with no fd free: %d", rc);
  rc = weft_fd_accept_dl(e->lfd, NULL, NULL, weft_now() + 60 * WEFT_SEC);
  WEFT_EXPECT(rc == -EMFILE, "accept_dl with no fd free: %d", rc);
  WEFT_EXPECT(weft_now() - t0 < BOUND_NS, "EMFILE was not returned at once");
  /* Room for one. */
  WEFT_EXPECT(close(e->spare) == 0, "close of the spare");
  int c1 = weft_fd_accept(e->lfd, NULL, NULL);
  WEFT_EXPECT(c1 >= 0, "accept after a close: %d", c1);
  rc = weft_fd_accept(e->lfd, NULL, NULL);
  WEFT_EXPECT(rc == -EMFILE, "accept with no fd free again: %d", rc);
  /* The limit raised again: the second one. */
  WEFT_EXPECT(setrlimit(RLIMIT_NOFILE, &e->old) == 0, "setrlimit");
  int c2 = weft_fd_accept(e->lfd, NULL, NULL);
  WEFT_EXPECT(c2 >= 0, "accept after raising the limit: %d", c2);
  /* They are the two connections, in order, with nothing lost. */
  for (int i = 0; i < 2; i++) {
    int c = i == 0 ? c1 : c2;
    if (c < 0)
      continue;
    char buf[8] = {0};
    ssize_t r = weft_fd_read(c, buf, sizeof buf);
    WEFT_EXPECT(r == 2 && buf[0] == 'c' && buf[1] == '0' + i,
                "connection %d says %zd \"%.2s\"", i, r, buf);
    WEFT_EXPECT(weft_fd_close(c) == 0, "close");
  }
}

START_TEST(test_accept_emfile) {
  /* weft's monitor opens /proc files now and then; off here, so that no
   * fd of its comes and goes while the table is full. */
  setenv("WEFT_RAWCALLS", "0", 1);
  weft_config cfg = {.procs = 2, .deadlock_check = -1};
  ck_assert_int_eq(weft_init(&cfg), 0);
  emfile_case e;
  struct sockaddr_in a;
  e.lfd = tcp_listener(&a, 8);
  /* The poller started and the listener registered while fds are free. */
  ck_assert_int_eq(weft_fd_accept_dl(e.lfd, NULL, NULL, weft_now() - 1),
                   -ETIMEDOUT);
  for (int i = 0; i < 2; i++) {
    e.clients[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(e.clients[i], 0);
    ck_assert_int_eq(weft_fd_connect(e.clients[i], (struct sockaddr *)&a,
                                     sizeof a), 0);
    char msg[2] = {'c', (char)('0' + i)};
    ck_assert_int_eq(weft_fd_write(e.clients[i], msg, 2), 2);
  }
  e.spare = dup(0);
  ck_assert_int_ge(e.spare, 0);
  /* Warm up what the worker will use: a goroutine and its thread. */
  go_wg(yield_once, NULL);
  weft_wg_wait(&g_wg);
  int lowest_free = dup(0);
  ck_assert_int_ge(lowest_free, 0);
  close(lowest_free);
  ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &e.old), 0);
  struct rlimit low = e.old;
  low.rlim_cur = (rlim_t)lowest_free; /* every number below it is taken */
  ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &low), 0);
  ck_assert_int_eq(dup(0), -1);
  ck_assert_int_eq(errno, EMFILE);
  go_wg(emfile_worker, &e);
  weft_wg_wait(&g_wg);
  setrlimit(RLIMIT_NOFILE, &e.old);
  WEFT_ASSERT_NO_FAILURES();
  for (int i = 0; i < 2; i++)
    ck_assert_int_eq(weft_fd_close(e.clients[i]), 0);
  ck_assert_int_eq(weft_fd_close(e.lfd), 0);
}
END_TEST

/* ==== 14. waiting on an fd is not a deadlock ================================== */

/* A process, not a thread, writes later: any thread of this process
 * outside weft would keep the detector quiet by itself. */
static pid_t late_writer_process(int p[2]) {
  pid_t pid = fork();
  if (pid == 0) {
    close(p[0]);
    weft_test_os_sleep_ms(300);
    if (write(p[1], "ping", 4) != 4)
      _exit(1);
    _exit(0);
  }
  close(p[1]);
  return pid;
}

static int g_late_fd;

static void late_read(void) {
  char buf[8];
  ssize_t r = weft_fd_read(g_late_fd, buf, sizeof buf);
  if (r != 4 || memcmp(buf, "ping", 4) != 0) {
    fprintf(stderr, "read %zd\n", r);
    _exit(3);
  }
  r = weft_fd_read(g_late_fd, buf, sizeof buf); /* the writer exits */
  if (r != 0) {
    fprintf(stderr, "at the end: %zd\n", r);
    _exit(3);
  }
}

static void late_read_goroutine(void *arg) {
  (void)arg;
  late_read();
  weft_wg_done(&g_wg);
}

/* Then a real deadlock, which must be reported: the detector was on. */
static void then_deadlock(void) {
  fprintf(stderr, "read ok\n");
  weft_chan *c = weft_chan_make(sizeof(int), 0);
  int v;
  weft_recv(c, &v);
  fprintf(stderr, "recv returned\n");
  _exit(4);
}

static void late_os_write(void *arg) {
  int fd = *(int *)arg;
  weft_test_os_sleep_ms(300);
  if (write(fd, "ping", 4) != 4)
    _exit(1);
  close(fd);
}

static void io_wait_goroutine_child(void) {
  weft_test_alarm(30);
  int p[2];
  if (pipe(p) != 0)
    _exit(2);
  pid_t w = late_writer_process(p);
  g_late_fd = p[0];
  weft_wg_add(&g_wg, 1);
  weft_go(late_read_goroutine, NULL);
  weft_wg_wait(&g_wg); /* main counted asleep, the goroutine in IO wait */
  waitpid(w, NULL, 0);
  then_deadlock();
}

static void io_wait_main_child(void) {
  weft_test_alarm(30);
  int p[2];
  if (pipe(p) != 0)
    _exit(2);
  pid_t w = late_writer_process(p);
  g_late_fd = p[0];
  late_read(); /* the only thread, in IO wait */
  waitpid(w, NULL, 0);
  then_deadlock();
}

static void io_wait_thread_writer_child(void) {
  weft_test_alarm(30);
  int p[2];
  if (pipe(p) != 0)
    _exit(2);
  g_late_fd = p[0];
  weft_test_thr_arg *a = malloc(sizeof *a);
  a->fn = late_os_write;
  a->arg = &p[1];
  pthread_t th;
  if (pthread_create(&th, NULL, weft_test_thr_tramp, a) != 0)
    _exit(2);
  weft_wg_add(&g_wg, 1);
  weft_go(late_read_goroutine, NULL);
  weft_wg_wait(&g_wg);
  pthread_join(th, NULL);
  then_deadlock();
}

static void expect_read_then_report(void (*fn)(void)) {
  char buf[8192];
  int st = weft_test_child(fn, buf, sizeof buf);
  ck_assert_msg(strncmp(buf, "read ok\n" DEADLOCK_LINE,
                        strlen("read ok\n" DEADLOCK_LINE)) == 0,
                "want \"read ok\" then the deadlock report: %s", buf);
  ck_assert_msg(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT,
                "status %d, stderr: %s", st, buf);
}

START_TEST(test_io_wait_is_no_deadlock) {
  expect_read_then_report(io_wait_goroutine_child);
  expect_read_then_report(io_wait_main_child);
  expect_read_then_report(io_wait_thread_writer_child);
}
END_TEST

/* ==== 15. the dump ============================================================ */

static bool dump_shows_readers(void) {
  char *d = dump_string();
  if (d == NULL)
    return false;
  bool g = strstr(d, "\"netpoll_reader\" [IO wait") != NULL;
  bool t = false;
  for (const char *p = d; (p = strstr(p, "\nthread ")) != NULL; p++) {
    const char *eol = strchr(p + 1, '\n');
    const char *st = strstr(p, "[IO wait");
    if (st && (eol == NULL || st < eol))
      t = true;
  }
  free(d);
  return g && t;
}

START_TEST(test_dump_shows_io_wait) {
  procs(2);
  weft_chan *out = weft_chan_make(sizeof(opres), 16);
  int p[2], q[2];
  make_pipe(p, false);
  make_pipe(q, false);
  opjob gj = {OP_READ, p[0], WEFT_FOREVER, NULL, out};
  opjob tj = {OP_READ, q[0], WEFT_FOREVER, NULL, out};
  weft_go_options o = {.name = "netpoll_reader"};
  ck_assert_int_eq(weft_go_opts(op_run_and_report, &gj, &o), 0);
  pthread_t th = start_op_thread(&tj);
  bool seen = WEFT_POLL_UNTIL(dump_shows_readers(), 10000);
  char *d = dump_string();
  ck_assert_msg(seen, "the dump does not show both readers in IO wait:\n%s", d);
  /* The entry's first line, exactly: goroutine N "netpoll_reader" [IO
   * wait]: (no length under a second). */
  const char *e = strstr(d, "\"netpoll_reader\" [IO wait");
  ck_assert_ptr_nonnull(e);
  ck_assert_msg(strncmp(e, "\"netpoll_reader\" [IO wait]:\n", 28) == 0 ||
                    strncmp(e, "\"netpoll_reader\" [IO wait, ", 27) == 0,
                "%s", d);
  free(d);
  ck_assert_int_eq(weft_fd_write(p[1], "g", 1), 1);
  ck_assert_int_eq(weft_fd_write(q[1], "t", 1), 1);
  for (int i = 0; i < 2; i++) {
    opres r = wait_result(out);
    ck_assert_int_eq(r.r, 1);
    ck_assert(r.data[0] == 'g' || r.data[0] == 't');
  }
  pthread_join(th, NULL);
  ck_assert_msg(WEFT_POLL_UNTIL(io_parked() == 0, 10000),
                "IO wait still in the dump after the reads");
  int fds[] = {p[0], p[1], q[0], q[1]};
  for (int i = 0; i < 4; i++)
    ck_assert_int_eq(weft_fd_close(fds[i]), 0);
  weft_chan_unref(out);
}
END_TEST

/* ==== 16. stress: echo over 64 socketpairs ==================================== */

#define STRESS_PAIRS 64
#define STRESS_THREADS 16 /* of the clients */
#define STRESS_MSGS WEFT_SCALE(1000)
#define STRESS_MAX 6000 /* bytes a message, over the echo's 4096 reads */

static int g_pairs[STRESS_PAIRS][2];
static atomic_int g_next_client;
static atomic_long g_echoed;

static size_t stress_len(int pair, int m) {
  return 1 + (size_t)((unsigned)(pair * 7919 + m * 104729) % STRESS_MAX);
}

static void echo_server(void *arg) {
  int fd = *(int *)arg;
  uint8_t buf[4096];
  for (;;) {
    ssize_t r = weft_fd_read(fd, buf, sizeof buf);
    WEFT_EXPECT(r >= 0, "echo read: %zd", r);
    if (r <= 0)
      break;
    ssize_t w = weft_fd_write(fd, buf, (size_t)r);
    WEFT_EXPECT(w == r, "echo write: %zd of %zd", w, r);
    if (w != r)
      break;
  }
  int rc = weft_fd_close(fd);
  WEFT_EXPECT(rc == 0, "echo close: %d", rc);
}

static void echo_client(void) {
  int i = atomic_fetch_add(&g_next_client, 1);
  int fd = g_pairs[i][0];
  uint8_t *out = malloc(STRESS_MAX), *in = malloc(STRESS_MAX);
  uint64_t off = 0;
  for (int m = 0; m < STRESS_MSGS; m++) {
    size_t n = stress_len(i, m);
    pat_fill(out, n, off, 1000 + (uint64_t)i);
    ssize_t w = weft_fd_send(fd, out, n, 0);
    WEFT_EXPECT(w == (ssize_t)n, "client %d msg %d: send %zd", i, m, w);
    ssize_t r = read_full(fd, in, n);
    WEFT_EXPECT(r == (ssize_t)n, "client %d msg %d: read %zd of %zu", i, m,
                r, n);
    if (w != (ssize_t)n || r != (ssize_t)n)
      break;
    long long bad = pat_bad(in, n, off, 1000 + (uint64_t)i);
    WEFT_EXPECT(bad < 0, "client %d msg %d: byte %lld wrong", i, m, bad);
    if (bad >= 0)
      break;
    off += n;
    atomic_fetch_add(&g_echoed, (long)n);
  }
  WEFT_EXPECT(shutdown(fd, SHUT_WR) == 0, "shutdown");
  ssize_t eof = weft_fd_read(fd, in, 1);
  WEFT_EXPECT(eof == 0, "client %d: after the echo's close: %zd", i, eof);
  int rc = weft_fd_close(fd);
  WEFT_EXPECT(rc == 0, "client close: %d", rc);
  free(out);
  free(in);
}

START_TEST(test_stress_echo_mixed) {
  procs(4);
  long want = 0;
  for (int i = 0; i < STRESS_PAIRS; i++) {
    make_socketpair(SOCK_STREAM, g_pairs[i], false);
    for (int m = 0; m < STRESS_MSGS; m++)
      want += (long)stress_len(i, m);
  }
  for (int i = 0; i < STRESS_PAIRS; i++)
    go_wg(echo_server, &g_pairs[i][1]);
  weft_test_mixed m = {0};
  weft_test_mixed_start(&m, echo_client, STRESS_PAIRS - STRESS_THREADS,
                        STRESS_THREADS);
  weft_test_mixed_join(&m);
  weft_wg_wait(&g_wg);
  WEFT_ASSERT_NO_FAILURES();
  ck_assert_int_eq(atomic_load(&g_echoed), want);
}
END_TEST

/* ==== 17. signals: EINTR is retried =========================================== */

static atomic_int g_usr1;

static void on_usr1(int sig) {
  (void)sig;
  atomic_fetch_add(&g_usr1, 1);
}

static void install_usr1(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_usr1;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0; /* no SA_RESTART: blocked calls fail with EINTR */
  ck_assert_int_eq(sigaction(SIGUSR1, &sa, NULL), 0);
}

START_TEST(test_eintr_retried) {
  procs(2);
  install_usr1();
  weft_chan *out = weft_chan_make(sizeof(opres), 16);
  int p[2];
  make_pipe(p, false);
  /* Plain threads, without and with a deadline, signalled while they wait
   * (each signal handled before the next is sent, so none merge); then a
   * goroutine while the process is signalled (weft's own threads block
   * such signals: a thread of the program's takes them). */
  for (int k = 0; k < 3; k++) {
    opjob rd = {OP_READ, p[0], k == 1 ? weft_now() + 60 * WEFT_SEC
                                      : WEFT_FOREVER, NULL, out};
    pthread_t th = 0;
    if (k < 2)
      th = start_op_thread(&rd);
    else
      start_op_goroutine(&rd);
    wait_parked(1);
    for (int i = 0; i < 10; i++) {
      if (k < 2) {
        int before = atomic_load(&g_usr1);
        ck_assert_int_eq(pthread_kill(th, SIGUSR1), 0);
        ck_assert_msg(WEFT_POLL_UNTIL(atomic_load(&g_usr1) > before, 5000),
                      "signal %d not handled", i);
      } else {
        int before = atomic_load(&g_usr1);
        ck_assert_int_eq(kill(getpid(), SIGUSR1), 0);
        ck_assert_msg(WEFT_POLL_UNTIL(atomic_load(&g_usr1) > before, 5000),
                      "signal %d not handled", i);
      }
    }
    assert_no_result(out, 20 * WEFT_MS); /* still waiting */
    uint8_t msg[5];
    pat_fill(msg, 5, 0, 80 + (uint64_t)k);
    ck_assert_int_eq(weft_fd_write(p[1], msg, 5), 5);
    opres r = wait_result(out);
    ck_assert_msg(r.r == 5, "round %d: %zd", k, r.r);
    ck_assert_int_eq(memcmp(r.data, msg, 5), 0);
    if (k < 2)
      pthread_join(th, NULL);
  }
  /* A deadline wait interrupted again and again still times out, and no
   * earlier. */
  opjob rd = {OP_READ, p[0], 0, NULL, out};
  int64_t t0 = weft_now();
  rd.dl = t0 + 100 * WEFT_MS;
  pthread_t th = start_op_thread(&rd);
  for (int i = 0; i < 20; i++) {
    pthread_kill(th, SIGUSR1);
    weft_test_os_sleep_ms(2);
  }
  opres r = wait_result(out);
  pthread_join(th, NULL);
  ck_assert_int_eq(r.r, -ETIMEDOUT);
  ASSERT_WAITED(t0, r.at, 100 * WEFT_MS);
  ck_assert_int_eq(weft_fd_close(p[0]), 0);
  ck_assert_int_eq(weft_fd_close(p[1]), 0);
  weft_chan_unref(out);
}
END_TEST

WEFT_TEST_MAIN("netpoll", test_pipe_round_trip, test_socketpair_ping_pong,
               test_tcp_loopback, test_tcp_connect_deadline, test_deadlines,
               test_ctx_cancel_and_deadline, test_close_wakes_waiters,
               test_close_from_plain_thread, test_close_races_and_kinds,
               test_fd_reuse_no_stale_wakes,
               test_forget, test_forget_clears_deadline,
               test_close_clears_deadline,
               test_many_readers_one_fd, test_many_readers_eof_race,
               test_thread_served_while_ps_busy,
               test_dial_listen, test_bad_input, test_regular_file,
               test_plain_thread_callers, test_first_use_is_a_thread_read,
               test_sigpipe, test_write_all, test_write_deadline_partial,
               test_datagrams, test_accept_emfile, test_io_wait_is_no_deadlock,
               test_dump_shows_io_wait, test_stress_echo_mixed,
               test_eintr_retried)
