/* syscall: 4 goroutines compute (64 chunks of busy arithmetic each, with a
 * yield between chunks) while 64 others sit in 1 ms blocking calls
 * (nanosleep bracketed by weft_syscall_enter/_exit) until the compute is
 * done. Built a second time as syscallraw (bench/CMakeLists.txt), whose
 * blocked goroutines call nanosleep raw, unbracketed: sysmon notices them
 * by itself (src/sched/rawcall.c). Prints the slowdown: the compute's time with the blocked ones,
 * over its time alone (1.0: the blocked calls cost nothing). The best of 3
 * of each, so that one descheduling does not decide the figure.
 *
 * Twin of bench/go/syscall, whose blocked goroutines call
 * syscall.Nanosleep (through Go's entersyscall). The driver goroutine
 * plays Go's main. */
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "weft.h"

#ifdef WEFT_BENCH_SYSCALL_RAW
#define NAME "syscallraw"
#define RAW 1
#else
#define NAME "syscall"
#define RAW 0
#endif

enum { WORKERS = 4, CHUNKS = 64, BLOCKED = 64, ROUNDS = 3 };
#define CHUNK_ITERS 200000

static weft_waitgroup wg = WEFT_WAITGROUP_INIT;      /* the workers */
static weft_waitgroup blocked_wg = WEFT_WAITGROUP_INIT;
static weft_waitgroup driver_done = WEFT_WAITGROUP_INIT;
static atomic_int stop;
static _Atomic uint64_t sink;
static double slowdown;

static void worker(void *arg) {
  uint64_t x = (uint64_t)(uintptr_t)arg + 1;
  for (int c = 0; c < CHUNKS; c++) {
    for (int i = 0; i < CHUNK_ITERS; i++)
      x = x * 6364136223846793005ull + 1442695040888963407ull;
    weft_yield();
  }
  atomic_fetch_add(&sink, x);
  weft_wg_done(&wg);
}

static void blocked(void *arg) {
  (void)arg;
  struct timespec ts = {0, 1000000};
  while (!atomic_load(&stop)) {
    if (!RAW)
      weft_syscall_enter();
    nanosleep(&ts, NULL);
    if (!RAW)
      weft_syscall_exit();
  }
  weft_wg_done(&blocked_wg);
}

static int64_t compute(void) {
  int64_t t0 = weft_now();
  weft_wg_add(&wg, WORKERS);
  for (int i = 0; i < WORKERS; i++)
    if (weft_go(worker, (void *)(intptr_t)i) != 0)
      exit(1);
  weft_wg_wait(&wg);
  return weft_now() - t0;
}

static void driver(void *arg) {
  (void)arg;
  int64_t alone = INT64_MAX, with = INT64_MAX;
  for (int r = 0; r < ROUNDS; r++) {
    int64_t t = compute();
    alone = t < alone ? t : alone;
  }
  for (int r = 0; r < ROUNDS; r++) {
    atomic_store(&stop, 0);
    weft_wg_add(&blocked_wg, BLOCKED);
    for (int i = 0; i < BLOCKED; i++)
      if (weft_go(blocked, NULL) != 0)
        exit(1);
    weft_sleep(5 * WEFT_MS); /* all of them in their calls */
    int64_t t = compute();
    with = t < with ? t : with;
    atomic_store(&stop, 1);
    weft_wg_wait(&blocked_wg);
  }
  slowdown = (double)with / (double)alone;
  weft_wg_done(&driver_done);
}

int main(void) {
  weft_wg_add(&driver_done, 1);
  if (weft_go(driver, NULL) != 0)
    return 1;
  weft_wg_wait(&driver_done);
  if (atomic_load(&sink) == 0)
    return 1;
  printf(NAME " %.3f x\n", slowdown);
  return 0;
}
