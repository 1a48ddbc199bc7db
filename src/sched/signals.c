/* signals.c -- turning a guard-page fault into "weft: goroutine N stack
 * overflow".
 *
 * The handler runs on the M thread's alternate signal stack. If the faulting
 * address lies in the guard region below the running goroutine's stack, it
 * reports and aborts. Any other fault is passed to the handler that was
 * installed before weft's (a sanitizer's, or the default action), so weft
 * hides no crash.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "sched/signals.h"

static struct sigaction old_segv, old_bus;

static void chain(int sig, siginfo_t *si, void *uc) {
  const struct sigaction *old = sig == SIGSEGV ? &old_segv : &old_bus;
  if (old->sa_flags & SA_SIGINFO) {
    old->sa_sigaction(sig, si, uc);
  } else if (old->sa_handler == SIG_DFL || old->sa_handler == SIG_IGN) {
    /* Restore the default and return: the faulting instruction runs again
     * and the kernel applies the default action (a core dump). */
    signal(sig, SIG_DFL);
  } else {
    old->sa_handler(sig);
  }
}

static void on_fault(int sig, siginfo_t *si, void *uc) {
  weft__g *g = weft__curg();
  if (g && weft__stack_guard_hit(&g->stack, si->si_addr)) {
    weft__fatal_in_signal = 1;
    weft__fatal("goroutine %llu stack overflow", (unsigned long long)g->id);
  }
  chain(sig, si, uc);
}

void weft__signals_init(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = on_fault;
  sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGSEGV, &sa, &old_segv);
  sigaction(SIGBUS, &sa, &old_bus);
}

void weft__signals_thread_init(weft__m *m) {
  size_t size = 64 * 1024;
  if ((size_t)SIGSTKSZ > size)
    size = (size_t)SIGSTKSZ;
  m->altstack = weft__rt_malloc(size);
  if (m->altstack == NULL)
    weft__fatal("out of memory for a signal stack");
  stack_t ss = {.ss_sp = m->altstack, .ss_size = size, .ss_flags = 0};
  sigaltstack(&ss, NULL);
}

void weft__signals_thread_exit(weft__m *m) {
  stack_t ss = {.ss_sp = NULL, .ss_size = 0, .ss_flags = SS_DISABLE};
  sigaltstack(&ss, NULL);
  weft__rt_free(m->altstack);
  m->altstack = NULL;
}

void weft__signals_block_for_thread(sigset_t *old) {
  sigset_t set;
  sigfillset(&set);
  sigdelset(&set, SIGSEGV);
  sigdelset(&set, SIGBUS);
  sigdelset(&set, SIGILL);
  sigdelset(&set, SIGFPE);
  sigdelset(&set, SIGTRAP);
  sigdelset(&set, SIGABRT);
  pthread_sigmask(SIG_SETMASK, &set, old);
}
