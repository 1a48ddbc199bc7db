/*
 * blocking_calls.c -- calling blocking C code from goroutines without
 * stalling the others: weft_syscall_enter / weft_syscall_exit.
 *
 * In Go every system call already goes through the runtime:
 *
 *     f.Sync()                    // entersyscall ... exitsyscall
 *     cmd.Wait()                  // the same around wait4
 *
 * and while one goroutine waits in the kernel, its P runs the others. A C
 * program calls the kernel and blocking libraries (a database client,
 * fsync, waitpid, getaddrinfo) directly. weft notices a raw call by
 * itself when work waits behind it (within a millisecond or so), but a
 * bracket is handed off sooner, costs less, and also covers calls that
 * block in futex (pthread locks), which weft cannot tell from its own:
 *
 *     weft_syscall_enter();
 *     int rc = fsync(fd);
 *     int err = errno;            // errno is per thread: read it first
 *     weft_syscall_exit();
 *
 * Here, on 2 Ps, 6 goroutines each run a child process and wait for it
 * with waitpid (200 ms each), 6 more write and fsync a file, and a ticker
 * goroutine counts 10 ms ticks. Without the brackets the waiting
 * goroutines would hold both Ps for over half a second and the ticker
 * would miss its ticks; with them, it ticks on time.
 *
 * Run: ./blocking_calls
 */
#include <weft.h>

#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static int failures;

static void check(int ok, const char *what) {
  printf("  %-58s %s\n", what, ok ? "ok" : "WRONG");
  if (!ok) failures++;
}

static weft_waitgroup wg = WEFT_WAITGROUP_INIT;
static atomic_int children_ok, syncs_ok, ticks;
static int64_t window_end;

/* The blocking library call, wrapped once: the rest of the program calls
 * run_and_wait like any other function. */
static int run_and_wait(char *const argv[]) {
  pid_t pid;
  int rc = posix_spawn(&pid, argv[0], NULL, NULL, argv, environ);
  if (rc != 0)
    return -rc;
  int status = 0;
  weft_syscall_enter();
  pid_t got = waitpid(pid, &status, 0);
  int err = errno;
  weft_syscall_exit();
  if (got != pid)
    return -err;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -ECHILD;
}

static int write_and_sync(const char *path, int n) {
  int fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0600);
  if (fd < 0)
    return -errno;
  char line[64];
  int len = snprintf(line, sizeof line, "record %d\n", n);
  int rc = write(fd, line, (size_t)len) == len ? 0 : -EIO;
  weft_syscall_enter();
  if (rc == 0 && fsync(fd) != 0)
    rc = -errno;
  weft_syscall_exit();
  close(fd);
  unlink(path);
  return rc;
}

static void child_runner(void *arg) {
  (void)arg;
  char *argv[] = {"/bin/sleep", "0.2", NULL};
  if (run_and_wait(argv) == 0)
    atomic_fetch_add(&children_ok, 1);
  weft_wg_done(&wg);
}

static void syncer(void *arg) {
  char path[64];
  snprintf(path, sizeof path, "/tmp/weft-blocking-%d-%d", (int)getpid(),
           (int)(intptr_t)arg);
  if (write_and_sync(path, (int)(intptr_t)arg) == 0)
    atomic_fetch_add(&syncs_ok, 1);
  weft_wg_done(&wg);
}

static void ticker(void *arg) {
  (void)arg;
  while (weft_now() < window_end) {
    weft_sleep(10 * WEFT_MS);
    atomic_fetch_add(&ticks, 1);
  }
  weft_wg_done(&wg);
}

int main(void) {
  weft_config cfg = {.procs = 2};
  weft_init(&cfg);
  printf("6 goroutines wait for child processes, 6 fsync files, one ticks:\n");
  window_end = weft_now() + 300 * WEFT_MS;
  weft_wg_add(&wg, 13);
  for (int i = 0; i < 6; i++) {
    weft_go(child_runner, NULL);
    weft_go(syncer, (void *)(intptr_t)i);
  }
  weft_go(ticker, NULL);
  int64_t t0 = weft_now();
  weft_wg_wait(&wg);
  int64_t ms = (weft_now() - t0) / WEFT_MS;
  printf("  %d children waited for, %d files synced, %d ticks, %lld ms\n",
         atomic_load(&children_ok), atomic_load(&syncs_ok),
         atomic_load(&ticks), (long long)ms);
  check(atomic_load(&children_ok) == 6, "every child process was waited for");
  check(atomic_load(&syncs_ok) == 6, "every file was written and synced");
  /* 30 when nothing stalls; without the brackets the Ps are held for
   * 6 x 200 ms / 2. Generous for a loaded machine. */
  check(atomic_load(&ticks) >= 10, "the ticker kept ticking meanwhile");
  return failures ? 1 : 0;
}
