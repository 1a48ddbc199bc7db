/* syscallpair: the cost of a weft_syscall_enter/_exit pair around a call
 * that does not block (getppid), over the bare call: 10,000,000 of each,
 * the best of 3. Prints ns per pair. Twin of bench/go/syscallpair, which
 * compares syscall.Syscall (through entersyscall/exitsyscall) with
 * syscall.RawSyscall. Run in the driver goroutine, as Go's main. */
#include <stdint.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "weft.h"

enum { N = 10000000, ROUNDS = 3 };

static weft_waitgroup driver_done = WEFT_WAITGROUP_INIT;
static double pair_ns;
static long sink;

static int64_t run(int bracket) {
  int64_t t0 = weft_now();
  for (int i = 0; i < N; i++) {
    if (bracket)
      weft_syscall_enter();
    sink += syscall(SYS_getppid);
    if (bracket)
      weft_syscall_exit();
  }
  return weft_now() - t0;
}

static void driver(void *arg) {
  (void)arg;
  int64_t bare = INT64_MAX, with = INT64_MAX;
  for (int r = 0; r < ROUNDS; r++) {
    int64_t b = run(0), w = run(1);
    bare = b < bare ? b : bare;
    with = w < with ? w : with;
  }
  pair_ns = (double)(with - bare) / N;
  weft_wg_done(&driver_done);
}

int main(void) {
  weft_wg_add(&driver_done, 1);
  if (weft_go(driver, NULL) != 0)
    return 1;
  weft_wg_wait(&driver_done);
  if (sink == 0)
    return 1;
  printf("syscallpair %.1f ns/op\n", pair_ns < 0 ? 0.0 : pair_ns);
  return 0;
}
