/* echo, echop99, accept: weft's goroutine-per-connection echo server on
 * loopback, driven by the shared load generator (bench/c/echoload.c), which
 * it starts as a child process against itself. One program under three
 * names (bench/CMakeLists.txt); the name says what it runs and prints:
 *   echo     1,000 connections, 512-byte round trips for 2 s: ns per
 *            request (the inverse of the throughput; lower is better)
 *   echop99  the same run: the 99th percentile latency, in us
 *   accept   10,000 connections, 50 at a time, one round trip each: ms
 * Twin of bench/go/echo, the same server on Go's net. The server's
 * accept loop plays Go's main. */
#include <arpa/inet.h>
#include <errno.h>
#include <libgen.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "loadgen.h"
#include "weft.h"

static void serve_conn(void *arg) {
  int fd = (int)(intptr_t)arg;
  char buf[4096];
  ssize_t n;
  while ((n = weft_fd_read(fd, buf, sizeof buf)) > 0)
    if (weft_fd_write(fd, buf, (size_t)n) != n)
      break;
  weft_fd_close(fd);
}

static void accept_loop(void *arg) {
  int ln = (int)(intptr_t)arg;
  for (;;) {
    int fd = weft_fd_accept(ln, NULL, NULL);
    if (fd == -EMFILE || fd == -ENFILE) {
      weft_sleep(5 * WEFT_MS);
      continue;
    }
    if (fd < 0)
      return;
    weft_go(serve_conn, (void *)(intptr_t)fd);
  }
}

static int app(int argc, char **argv) {
  (void)argc;
  char self[4096];
  snprintf(self, sizeof self, "%s", argv[0]);
  const char *name = basename(self);
  int ln = weft_listen("tcp", "127.0.0.1:0");
  if (ln < 0)
    return 1;
  struct sockaddr_storage sa;
  socklen_t len = sizeof sa;
  getsockname(ln, (struct sockaddr *)&sa, &len);
  char addr[64];
  snprintf(addr, sizeof addr, "127.0.0.1:%d",
           ntohs(((struct sockaddr_in *)&sa)->sin_port));
  weft_go(accept_loop, (void *)(intptr_t)ln);
  int accept = strcmp(name, "accept") == 0;
  char *echo_args[] = {"echo", addr, "1000", "512", "2", NULL};
  char *accept_args[] = {"accept", addr, "10000", "50", "512", NULL};
  char out[256];
  if (run_loadgen(argv[0], accept ? accept_args : echo_args, out, sizeof out))
    return 1;
  double a = 0, b = 0;
  if (sscanf(out, "%lf %lf", &a, &b) != 2 || a <= 0)
    return 1;
  if (accept)
    printf("accept %.1f ms\n", a);
  else if (strcmp(name, "echop99") == 0)
    printf("echop99 %.1f us\n", b);
  else
    printf("echo %.1f ns/req\n", 1e9 / a);
  return 0;
}

int main(int argc, char **argv) { return weft_main(app, argc, argv); }
