/* sigquit_leaks.c -- the opt-in diagnostics: a goroutine dump on SIGQUIT,
 * and the report of goroutines still alive at exit (leaks).
 *
 * Both are off by default: a library must not take a signal or print at
 * exit unless asked. The environment variables WEFT_DUMP_ON_SIGQUIT=1 and
 * WEFT_LEAKS=1 turn them on when the runtime starts (a program can setenv
 * them before its first weft call). Not weft_config fields: adding fields
 * there would break positional initializers of it.
 *
 * SIGQUIT: as in Go, the process prints "SIGQUIT: quit" and every goroutine
 * to stderr, then exits with status 2. The handler only does what is
 * async-signal-safe: it sets quit_word (relaxed store, then the futex wake
 * that orders it) and wakes the "weft-sigquit" thread, which was sleeping
 * on that word with every signal blocked; that thread does the dump (stdio,
 * malloc) and calls _exit(2), so that no atexit handler (the leak report
 * included) runs on a half-dumped process. It replaces any earlier SIGQUIT
 * disposition.
 *
 * Leaks: an atexit handler dumps every goroutine but the caller's, under
 * "weft: N goroutines still alive at exit (leaks?)". The dump is of a live
 * program (goroutines on other Ps keep running during exit), so it has the
 * precision of weft_dump's live case (dump.c). The exit status is kept.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "debug/deadlock.h"
#include "base/futex.h"
#include "sched/runtime.h"
#include "debug/traceback.h"

static _Atomic uint32_t quit_word; /* 0 until SIGQUIT */
/* 1 once the dump thread exists: a runtime thread, which the deadlock
 * detector must not count as a plain thread able to wake anyone. Release
 * after pthread_create; the detector's acquire load pairs with it. */
WEFT_INTERNAL _Atomic int weft__diag_nthreads;

static void on_sigquit(int sig) {
  (void)sig;
  int saved = errno;
  /* The futex call is the barrier; the waiter re-reads the word. */
  weft__store_relaxed(&quit_word, 1);
  weft__futex_wake(&quit_word, 1);
  errno = saved;
}

static void *quit_main(void *arg) {
  (void)arg;
  while (weft__load_relaxed(&quit_word) == 0)
    weft__futex_wait(&quit_word, 0, WEFT_FOREVER);
  fputs("SIGQUIT: quit\n", stderr);
  weft_dump(stderr);
  _exit(2);
}

static void sigquit_start(void) {
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old); /* the thread inherits it */
  pthread_t t;
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  int rc = pthread_create(&t, &attr, quit_main, NULL);
  pthread_attr_destroy(&attr);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (rc != 0) {
    fputs("weft: cannot start the SIGQUIT dump thread; SIGQUIT left alone\n",
          stderr);
    return;
  }
  weft__store_release(&weft__diag_nthreads, 1);
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_sigquit;
  sa.sa_flags = SA_RESTART;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGQUIT, &sa, NULL);
}

static void leak_report(void) {
  weft__dump_others(stderr, "still alive at exit (leaks?):");
}

static bool env_on(const char *name) {
  const char *v = getenv(name);
  return v && *v && strcmp(v, "0") != 0;
}

void weft__diag_start(void) {
  if (env_on("WEFT_DUMP_ON_SIGQUIT"))
    sigquit_start();
  if (env_on("WEFT_LEAKS"))
    atexit(leak_report);
}
