/* loadgen.h -- running a child program from a benchmark: the shared load
 * generator (echoload), whose one line of output the caller parses, and a
 * server program to measure. Included by bench/c/echo.c and http.c. */
#ifndef WEFT_BENCH_LOADGEN_H
#define WEFT_BENCH_LOADGEN_H

#include <libgen.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "weft.h"

extern char **environ;

/* $env, or NAME beside the running program (self is its argv[0]). */
static void bench_path(const char *self, const char *env, const char *rel,
                       char *out, size_t cap) {
  const char *e = getenv(env);
  if (e) {
    snprintf(out, cap, "%s", e);
    return;
  }
  char copy[4096];
  snprintf(copy, sizeof copy, "%s", self);
  snprintf(out, cap, "%s/%s", dirname(copy), rel);
}

/* Starts path with argv (argv[0] is set to path), stdout into *out_fd if
 * not NULL. The pid, or -1 after a message. */
static pid_t bench_spawn(const char *path, char *argv[], int *out_fd) {
  int p[2] = {-1, -1};
  if (out_fd && pipe(p) != 0)
    return -1;
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  if (out_fd) {
    posix_spawn_file_actions_adddup2(&fa, p[1], 1);
    posix_spawn_file_actions_addclose(&fa, p[0]);
  }
  argv[0] = (char *)path;
  pid_t pid;
  int rc = posix_spawn(&pid, path, &fa, NULL, argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  if (out_fd) {
    close(p[1]);
    *out_fd = p[0];
  }
  if (rc != 0) {
    fprintf(stderr, "bench: cannot run %s: %s\n", path, strerror(rc));
    if (out_fd)
      close(p[0]);
    return -1;
  }
  return pid;
}

/* Waits for pid (inside the syscall handoff): 0 if it exited with 0. */
static int bench_wait(pid_t pid) {
  int status = 0;
  weft_syscall_enter();
  pid_t r = waitpid(pid, &status, 0);
  weft_syscall_exit();
  return r == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

/* Runs the load generator with args (NULL-ended, at most 6); its output
 * into out. 0, or -1 if it failed. */
static int run_loadgen(const char *self, char *const args[], char *out,
                       size_t cap) {
  char path[4096];
  bench_path(self, "WEFT_BENCH_LOADGEN", "echoload", path, sizeof path);
  char *argv[8] = {NULL};
  for (int i = 0; args[i] && i < 6; i++)
    argv[i + 1] = args[i];
  int fd;
  pid_t pid = bench_spawn(path, argv, &fd);
  if (pid < 0)
    return -1;
  size_t got = 0;
  ssize_t n;
  while (got + 1 < cap && (n = weft_fd_read(fd, out + got, cap - 1 - got)) > 0)
    got += (size_t)n;
  out[got] = '\0';
  weft_fd_close(fd);
  return bench_wait(pid);
}

#endif
