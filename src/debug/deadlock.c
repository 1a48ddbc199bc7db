/* deadlock.c -- "all goroutines are asleep - deadlock!" (Go's checkdead).
 *
 * The rule (documented in weft.h): the process is deadlocked when
 *   (1) every P is idle: on the idle list, with an empty ring, an empty
 *       runnext and an empty global queue, so no goroutine is running or
 *       runnable;
 *   (2) no P holds a timer (sleeps, deadlines, timers, tickers, contexts
 *       with deadlines are all timers, as in Go);
 *   (3) every thread of the process that is not weft's own (the M threads,
 *       sysmon, sigquit_leaks.c's SIGQUIT thread) or a sanitizer's service
 *       thread is a plain thread blocked in a weft wait without deadline.
 * Nothing can then ever wake anyone: goroutines are woken only by running
 * goroutines, running plain threads and timers, and threads only by the
 * same. Signal handlers that call weft are the exception the user opts out
 * of (WEFT_DEADLOCK=0).
 *
 * Why (3) counts every thread. A thread that never called weft may hold a
 * channel and send later; so may one blocked in pthread_join or a read.
 * Only a thread committed to an endless weft wait is known harmless. The
 * kernel's num_threads (/proc/self/stat) is an exact count at one instant;
 * weft__dl.nblock - nwake counts the committed threads (base/hooks.h).
 *
 * Why the observation is sound (look()). The reads are not atomic, so the
 * detector brackets them:
 *   c1: read nblock, nwake and every P's schedtick;
 *   A:  check (1) and (2) under sched.lock (weft__sched_all_idle);
 *   tL: read num_threads (sanitized builds: identify service threads
 *       before, confirm them alive after);
 *   B:  check (1) and (2) again under sched.lock, at an instant tb > tL;
 *   c2: read the counters again; all must equal c1.
 * - nblock and nwake only grow, so equal values at c1 and c2 mean no thread
 *   committed to a wait and none was woken in between: the set K of
 *   committed threads is constant over [c1, c2], and none of them can act
 *   (a committed thread only releases its own lock and sleeps until its
 *   waker bumps nwake, which the waker does before waking it).
 * - At tL, num_threads - runtime threads == |K| and K's threads are alive,
 *   so every plain thread alive at tL is in K: none is running.
 * - A P that leaves the idle list (leave_idle, or popped by wakep) goes
 *   back to find_runnable's loop, whose local_pick bumps schedtick before
 *   the P can idle again. So a P idle at tA and at tb whose schedtick did
 *   not move over [c1, c2] stayed idle throughout [tA, tb]: it ran no
 *   goroutine, no timer and no pending hook then. With every P so, and
 *   every plain thread asleep in K at tL, nobody but sysmon ran in
 *   [tL, tb], so nobody created a thread or queued work or a timer: at the
 *   instant tb, (1), (2) and (3) all hold. (Memory order: each P bumps
 *   schedtick before it pushes itself idle under sched.lock; c2 reads it
 *   after check B took that lock, so c2 sees the latest value, and a stale
 *   relaxed read at c1 can only make the two differ: a missed report.)
 * - While sched.lock is held, no P can leave the idle list (leave_idle and
 *   wakep take it), and an idle P consumes nothing (it runs no timers and
 *   takes no work before leaving), so check B sees one instant.
 * - That state is absorbing: with no goroutine, thread or timer able to act
 *   nothing new becomes runnable; sysmon's wakep only wakes a P that finds
 *   nothing. Hence a report is never false (barring signal handlers).
 * Go's checkdead needs none of this: it owns every thread (Ms). A thread
 * outside weft (main in pthread_join, a thread in nanosleep) makes weft
 * decline to report, where Go would know better: no false positive, at the
 * cost of missing some deadlocks.
 * On top of that, two looks in a row, a few ms apart, must agree with the
 * same counters before the report: a cheap second line of defence.
 *
 * Sanitizer service threads. TSan runs background threads (one per process
 * and one more after a fork) that sleep in the raw nanosleep system call
 * issued from the sanitizer runtime; glibc's sleeps use clock_nanosleep. In
 * sanitized builds a thread seen in nanosleep(2) at a PC inside the
 * sanitizer runtime's object, before and after tL, is not counted (race
 * builds too: the program runs under TSan there). If one
 * is caught awake it counts as plain: no report that time (fail safe).
 * Without a sanitizer nothing is excluded.
 *
 * All state here is sysmon's (one thread), except `enabled`, written by
 * start() before sysmon exists.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "debug/deadlock.h"
#include "sched/runtime.h"
#include "base/sanitizer.h"

/* Race builds leave the runtime uninstrumented, but the program runs under
 * TSan, with its service threads. */
#if defined(WEFT_ASAN) || defined(WEFT_TSAN) || WEFT__RACE
#include <dirent.h>
#include <dlfcn.h>
#include <sanitizer/common_interface_defs.h>
#include <sys/syscall.h>
#define SANITIZED 1
#endif

#define CONFIRM_INTERVAL (5 * WEFT_MS)

WEFT_INTERNAL weft__dl_counters weft__dl;

static bool enabled;

void weft__dl_configure(int cfg) {
  if (cfg != 0) {
    enabled = cfg > 0;
    return;
  }
  const char *env = getenv("WEFT_DEADLOCK");
  enabled = true;
  if (env == NULL || strcmp(env, "1") == 0)
    return;
  if (strcmp(env, "0") == 0)
    enabled = false;
  else
    fprintf(stderr, "weft: ignoring WEFT_DEADLOCK=%s (want 0 or 1)\n", env);
}

/* ---- one look ----------------------------------------------------------- */

typedef struct snap {
  uint64_t nblock, nwake;
  uint32_t *ticks; /* one per P */
} snap;

static void take(snap *s) {
  weft__sched *S = &weft__sched_g;
  s->nblock = weft__load_seqcst(&weft__dl.nblock); /* pairs with the RMWs */
  s->nwake = weft__load_seqcst(&weft__dl.nwake);
  for (int i = 0; i < S->nprocs; i++) /* relaxed: see "Memory order" above */
    s->ticks[i] = weft__load_relaxed(&S->allp[i]->schedtick);
}

static bool same(const snap *a, const snap *b) {
  int n = weft__sched_g.nprocs;
  return a->nblock == b->nblock && a->nwake == b->nwake &&
         memcmp(a->ticks, b->ticks, (size_t)n * sizeof *a->ticks) == 0;
}

/* The kernel's thread count of the process, at one instant; -1 on error. */
static long num_threads(void) {
  char buf[1024];
  int fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return -1;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0)
    return -1;
  buf[n] = '\0';
  char *q = strrchr(buf, ')'); /* the command name may hold anything */
  if (q == NULL)
    return -1;
  /* After the name: state, then fields 4..19, then num_threads (20). */
  for (int field = 2; field < 20; field++) {
    q = strchr(q + 1, ' ');
    if (q == NULL)
      return -1;
  }
  return strtol(q + 1, NULL, 10);
}

#ifdef SANITIZED
#define MAX_SAN 8

/* Whether thread tid sleeps in nanosleep(2) inside the sanitizer runtime. */
static bool is_service_thread(long tid) {
  long nr;
  uintptr_t pc;
  if (!weft__thread_syscall(tid, &nr, &pc) || nr != SYS_nanosleep)
    return false;
  Dl_info at, rt;
  return pc && dladdr((void *)pc, &at) &&
         dladdr((void *)__sanitizer_print_stack_trace, &rt) &&
         at.dli_fbase == rt.dli_fbase;
}

static int find_service_threads(long *tids) {
  DIR *d = opendir("/proc/self/task");
  if (d == NULL)
    return 0;
  int n = 0;
  for (struct dirent *e; n < MAX_SAN && (e = readdir(d)) != NULL;) {
    long tid = strtol(e->d_name, NULL, 10);
    if (tid > 0 && is_service_thread(tid))
      tids[n++] = tid;
  }
  closedir(d);
  return n;
}

/* Plain threads at one instant: num_threads minus sanitizer threads seen
 * asleep both before and after that instant. */
static long plain_threads(long runtime) {
  long tids[MAX_SAN];
  int nsan = find_service_threads(tids);
  long n = num_threads();
  if (n < 0)
    return -1;
  for (int i = 0; i < nsan; i++)
    if (is_service_thread(tids[i]))
      n--;
  return n - runtime;
}
#else
static long plain_threads(long runtime) {
  long n = num_threads();
  return n < 0 ? -1 : n - runtime;
}
#endif

/* One bracketed observation (see the header comment); true: deadlocked. */
static bool look(snap *c1, snap *c2) {
  weft__sched *S = &weft__sched_g;
  if (weft__load_relaxed(&S->npidle) != S->nprocs) /* cheap gate */
    return false;
  take(c1);
  /* Under weft_main every thread may be weft's, main included, and no
   * thread blocked at all is a deadlock. Otherwise main is a plain thread,
   * so at least one must be blocked: a plain thread that the count takes
   * for a sanitizer's (its exit in the sanitizer's own nanosleep) must not
   * make a report. */
  int64_t blocked = (int64_t)(c1->nblock - c1->nwake);
  if (blocked < (S->has_m0 ? 0 : 1) || !weft__sched_all_idle())
    return false;
  /* The Ms, sysmon and the SIGQUIT thread: nm is never below the Ms that
   * exist (sched/thread.c), and a flag read as 0 while that thread exists
   * only overcounts plain threads (a missed report). Ms are created only by
   * sysmon, this thread, once started. */
  long runtime = weft__load_relaxed(&S->nm) + 1 +
                 weft__load_acquire(&weft__diag_nthreads);
  long plain = plain_threads(runtime);
  if (!weft__sched_all_idle())
    return false;
  take(c2);
  return same(c1, c2) && plain == blocked;
}

static _Noreturn void report(void) {
  /* Go's line; the dump starts each goroutine with a blank line, as Go. */
  static const char msg[] =
      "weft: fatal error: all goroutines are asleep - deadlock!\n";
  weft__flush_stdout();
  ssize_t w = write(2, msg, sizeof msg - 1);
  (void)w;
  weft_dump(stderr);
  fflush(stderr);
  abort();
}

int64_t weft__dl_tick(void) {
  static snap prev, c1, c2;
  static bool candidate;
  if (!enabled)
    return WEFT_FOREVER;
  if (prev.ticks == NULL) {
    size_t n = (size_t)weft__sched_g.nprocs;
    prev.ticks = weft__rt_calloc(n, sizeof *prev.ticks);
    c1.ticks = weft__rt_calloc(n, sizeof *c1.ticks);
    c2.ticks = weft__rt_calloc(n, sizeof *c2.ticks);
    if (!prev.ticks || !c1.ticks || !c2.ticks) {
      enabled = false; /* no detection rather than a wrong one */
      return WEFT_FOREVER;
    }
  }
  if (!look(&c1, &c2)) {
    candidate = false;
    return WEFT_FOREVER;
  }
  if (candidate && same(&prev, &c1))
    report();
  uint32_t *t = prev.ticks;
  prev = c1;
  c1.ticks = t;
  candidate = true;
  return CONFIRM_INTERVAL;
}
