/* echoload: the one load generator for the echo and accept workloads, run
 * against weft's server (bench/c/echo.c) and Go's (bench/go/echo) alike,
 * so that only the server differs. Not a workload of its own.
 *
 *   echoload echo ADDR CONNS SIZE SECONDS
 *     CONNS connections, each a goroutine sending SIZE bytes and reading
 *     them back, again and again; counts the round trips completed in
 *     SECONDS after a warm-up of a tenth of that, and their latency.
 *     Prints "REQ_PER_SEC P99_US", every byte of every echo checked.
 *   echoload accept ADDR TOTAL CONC SIZE
 *     TOTAL connections, CONC at a time: connect, one SIZE-byte round
 *     trip, close. Prints "MS 0", the time for all of them.
 *   echoload http ADDR CONNS SECONDS
 *     as echo, but each round trip is a keep-alive "GET /" answered by
 *     "Hello, world\n" (bench/c/http.c), headers and body checked.
 * Exits 1 on any error or wrong byte. */
#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "weft.h"

#define BUCKETS 64 /* latency histogram: 4 buckets per power of two of ns */

static const char *addr;
static size_t size;
static atomic_int failed;
static atomic_int phase; /* 0 warm-up, 1 measuring, 2 done */
static _Atomic uint64_t reqs;
static _Atomic uint64_t hist[BUCKETS * 4];
static weft_waitgroup wg = WEFT_WAITGROUP_INIT;

static int bucket(int64_t ns) {
  if (ns < 1)
    ns = 1;
  int lg = 63 - __builtin_clzll((uint64_t)ns);
  int sub = lg >= 2 ? (int)((ns >> (lg - 2)) & 3) : 0;
  int b = lg * 4 + sub;
  return b < BUCKETS * 4 ? b : BUCKETS * 4 - 1;
}

static int64_t bucket_ns(int b) { /* the upper edge of bucket b */
  int lg = b / 4, sub = b % 4;
  return lg >= 2 ? ((int64_t)(4 + sub + 1) << (lg - 2)) : (int64_t)1 << lg;
}

static void fail(const char *what, long rc) {
  if (atomic_fetch_add(&failed, 1) == 0)
    fprintf(stderr, "echoload: %s: %ld\n", what, rc);
}

/* One round trip on fd: 0, or -1 after reporting. */
static int round_trip(int fd, char *out, char *in, uint32_t seq) {
  memcpy(out, &seq, sizeof seq);
  ssize_t n = weft_fd_write(fd, out, size);
  if (n != (ssize_t)size) {
    fail("write", (long)n);
    return -1;
  }
  size_t got = 0;
  while (got < size) {
    n = weft_fd_read(fd, in + got, size - got);
    if (n <= 0) {
      fail("read", (long)n);
      return -1;
    }
    got += (size_t)n;
  }
  if (memcmp(in, out, size) != 0) {
    fail("echo differs", (long)seq);
    return -1;
  }
  return 0;
}

static const char http_req[] = "GET / HTTP/1.1\r\nHost: bench\r\n\r\n";
static int http_mode;

/* One keep-alive request on fd: 0, or -1 after reporting. in holds at
 * least 1024 bytes. */
static int http_trip(int fd, char *in) {
  ssize_t n = weft_fd_write(fd, http_req, sizeof http_req - 1);
  if (n != (ssize_t)sizeof http_req - 1) {
    fail("write", (long)n);
    return -1;
  }
  size_t got = 0;
  for (;;) {
    n = weft_fd_read(fd, in + got, 1023 - got);
    if (n <= 0) {
      fail("read", (long)n);
      return -1;
    }
    got += (size_t)n;
    in[got] = '\0';
    char *body = strstr(in, "\r\n\r\n");
    if (body && strcmp(body + 4, "Hello, world\n") == 0)
      break; /* one response at a time: nothing follows it */
    if (got == 1023 || (body && strlen(body + 4) >= 13)) {
      fail("bad response", (long)got);
      return -1;
    }
  }
  if (strncmp(in, "HTTP/1.1 200", 12) != 0) {
    fail("not 200", 0);
    return -1;
  }
  return 0;
}

static void echo_conn(void *arg) {
  (void)arg;
  char *out = malloc(size), *in = malloc(size < 1024 ? 1024 : size);
  int fd = weft_dial("tcp", addr);
  if (fd < 0 || !out || !in) {
    fail("dial", fd);
    goto done;
  }
  for (size_t i = 0; i < size; i++)
    out[i] = (char)('a' + i % 26);
  uint64_t mine = 0, local[BUCKETS * 4] = {0};
  for (uint32_t seq = 0; atomic_load_explicit(&phase, memory_order_relaxed) < 2; seq++) {
    int64_t t0 = weft_now();
    if (http_mode ? http_trip(fd, in) : round_trip(fd, out, in, seq))
      break;
    if (atomic_load_explicit(&phase, memory_order_relaxed) == 1) {
      mine++;
      local[bucket(weft_now() - t0)]++;
    }
  }
  atomic_fetch_add(&reqs, mine);
  for (int b = 0; b < BUCKETS * 4; b++)
    if (local[b])
      atomic_fetch_add(&hist[b], local[b]);
  weft_fd_close(fd);
done:
  free(out);
  free(in);
  weft_wg_done(&wg);
}

static int run_echo(int conns, double seconds) {
  weft_wg_add(&wg, conns);
  for (int i = 0; i < conns; i++)
    weft_go(echo_conn, NULL);
  weft_sleep((int64_t)(seconds * 0.1 * WEFT_SEC));
  int64_t t0 = weft_now();
  atomic_store(&phase, 1);
  weft_sleep((int64_t)(seconds * WEFT_SEC));
  atomic_store(&phase, 2);
  double elapsed = (double)(weft_now() - t0) / WEFT_SEC;
  weft_wg_wait(&wg);
  uint64_t total = atomic_load(&reqs), seen = 0;
  int64_t p99 = 0;
  for (int b = 0; b < BUCKETS * 4; b++) {
    seen += atomic_load(&hist[b]);
    if (seen * 100 >= total * 99) {
      p99 = bucket_ns(b);
      break;
    }
  }
  if (atomic_load(&failed) || total == 0)
    return 1;
  printf("%.0f %.1f\n", (double)total / elapsed, (double)p99 / WEFT_US);
  return 0;
}

static atomic_int next_conn;
static int total_conns;

static void accept_worker(void *arg) {
  (void)arg;
  char *out = malloc(size), *in = malloc(size);
  memset(out, 'x', size);
  while (atomic_fetch_add(&next_conn, 1) < total_conns && !atomic_load(&failed)) {
    int fd = weft_dial("tcp", addr);
    if (fd < 0) {
      fail("dial", fd);
      break;
    }
    round_trip(fd, out, in, 0);
    weft_fd_close(fd);
  }
  free(out);
  free(in);
  weft_wg_done(&wg);
}

static int run_accept(int total, int conc) {
  total_conns = total;
  int64_t t0 = weft_now();
  weft_wg_add(&wg, conc);
  for (int i = 0; i < conc; i++)
    weft_go(accept_worker, NULL);
  weft_wg_wait(&wg);
  if (atomic_load(&failed))
    return 1;
  printf("%.1f 0\n", (double)(weft_now() - t0) / WEFT_MS);
  return 0;
}

static int app(int argc, char **argv) {
  if (argc == 6 && strcmp(argv[1], "echo") == 0) {
    addr = argv[2];
    size = (size_t)atoi(argv[4]);
    return run_echo(atoi(argv[3]), atof(argv[5]));
  }
  if (argc == 6 && strcmp(argv[1], "accept") == 0) {
    addr = argv[2];
    size = (size_t)atoi(argv[5]);
    return run_accept(atoi(argv[3]), atoi(argv[4]));
  }
  if (argc == 5 && strcmp(argv[1], "http") == 0) {
    addr = argv[2];
    size = 16;
    http_mode = 1;
    return run_echo(atoi(argv[3]), atof(argv[4]));
  }
  fprintf(stderr, "usage: echoload echo ADDR CONNS SIZE SECONDS\n"
                  "       echoload http ADDR CONNS SECONDS\n"
                  "       echoload accept ADDR TOTAL CONC SIZE\n");
  return 2;
}

int main(int argc, char **argv) { return weft_main(app, argc, argv); }
