/* main.c -- weft_main: the program's main function as goroutine 1, on the
 * process's main thread as P 0's M (Go's m0 and runtime.main).
 *
 * weft_main starts the runtime with P 0 left without a thread
 * (weft__start_as_m0), binds the calling thread to P 0 for good
 * (weft__m0_bind: it never retires), queues goroutine 1 on P 0, and runs
 * the scheduler loop there. Goroutine 1 is the first goroutine the process
 * makes, so its id is 1. When main returns, the process exits with its
 * status from whatever thread goroutine 1 ended on, as Go's does (exit(3):
 * atexit handlers and stdio flushing run, other goroutines are not waited
 * for). weft_main therefore returns only when it cannot start: the runtime
 * had already started (-EBUSY) or fn is NULL (-EINVAL).
 */
#include <errno.h>
#include <stdlib.h>

#include "sched/runtime.h"

typedef struct main_args {
  int (*fn)(int, char **);
  int argc;
  char **argv;
} main_args;

static void run_main(void *arg) {
  main_args *a = arg; /* weft_main's frame, on the main thread's g0 stack:
                         alive for good, since that frame never returns */
  exit(a->fn(a->argc, a->argv));
}

int weft_main(int (*fn)(int argc, char **argv), int argc, char **argv) {
  if (fn == NULL)
    return -EINVAL;
  if (weft__unlikely(weft__forked_child))
    return -EBUSY; /* the parent's runtime had started */
  weft__p *p = weft__start_as_m0();
  if (p == NULL)
    return -EBUSY;
  weft__m *m = weft__m0_bind(p);
  main_args a = {fn, argc, argv};
  if (weft__go_main(run_main, &a) != 0)
    weft__fatal("weft_main: out of memory for goroutine 1");
  weft__m_main(m, p); /* never returns: m0 never retires */
  weft__fatal("weft_main: the main thread left the scheduler");
}
