/* http: examples/http_hello, the keep-alive HTTP/1.1 server, under the
 * shared load generator (bench/c/echoload.c, "http" mode): 1,000
 * connections, each sending "GET /" again and again for 2 s. Prints ns
 * per request (the inverse of the throughput; lower is better). This
 * program only starts the server (WEFT_BENCH_HTTP_SERVER, or
 * ../examples/http_hello from here) on a free port and the generator
 * against it. Twin of bench/go/http: Go's net/http with a hello handler. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "loadgen.h"
#include "weft.h"

/* A port nobody listens on now (the server binds it next). */
static int free_port(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in sa = {.sin_family = AF_INET,
                           .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t len = sizeof sa;
  if (fd < 0 || bind(fd, (struct sockaddr *)&sa, len) != 0 ||
      getsockname(fd, (struct sockaddr *)&sa, &len) != 0)
    return -1;
  close(fd);
  return ntohs(sa.sin_port);
}

static int app(int argc, char **argv) {
  (void)argc;
  char server[4096], addr[64];
  bench_path(argv[0], "WEFT_BENCH_HTTP_SERVER", "../examples/http_hello",
             server, sizeof server);
  int port = free_port();
  if (port < 0)
    return 1;
  snprintf(addr, sizeof addr, "127.0.0.1:%d", port);
  char *sargv[] = {NULL, "-l", addr, NULL};
  pid_t pid = bench_spawn(server, sargv, NULL);
  if (pid < 0)
    return 1;
  int fd = -1; /* up once it accepts */
  for (int i = 0; i < 200 && (fd = weft_dial("tcp", addr)) < 0; i++)
    weft_sleep(10 * WEFT_MS);
  int rc = 1;
  if (fd >= 0) {
    weft_fd_close(fd);
    char *args[] = {"http", addr, "1000", "2", NULL};
    char out[256];
    double a = 0, b = 0;
    if (run_loadgen(argv[0], args, out, sizeof out) == 0 &&
        sscanf(out, "%lf %lf", &a, &b) == 2 && a > 0) {
      printf("http %.1f ns/req\n", 1e9 / a);
      rc = 0;
    }
  }
  kill(pid, SIGTERM);
  bench_wait(pid);
  return rc;
}

int main(int argc, char **argv) { return weft_main(app, argc, argv); }
