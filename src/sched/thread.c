/* thread.c -- the threads that run goroutines (Go's M): creating them,
 * handing them a P, parking them as spares, and retiring them.
 *
 * Invariants
 * - A P is held by at most one M; a P in WEFT__P_SYSCALL is held by none
 *   that may use it (sched/syscall.c), and whoever takes it by CAS holds it.
 * - A spare M holds no P and is on sched.midle (spare == true), or is
 *   being handed one: its starter took it off the list, set nextp, and
 *   then stores wake = 1 (release; the spare's acquire load pairs).
 * - nm counts live Ms. It grows before a thread is created and shrinks
 *   before a retiring one exits, so at any instant it is at least the
 *   number of M threads in existence minus those about to exit: the
 *   deadlock detector counts runtime threads by it and may only miss a
 *   report, never invent one (debug/deadlock.c). Threads are created only
 *   at start-up and by sysmon, the detector's own thread.
 * - weft_main's thread, the process's main thread, is P 0's M from the
 *   start (Go's m0, weft__m0_bind) and never retires.
 * - A spare left idle for sched.spare_idle_ns retires: it leaves the list
 *   under the lock, unless a starter took it first (then it waits for its
 *   P), so no P is ever handed to a thread that has gone.
 * - An M's record outlives its thread: a retired M's goes on dead_ms and
 *   is reused by the next newm, because sysmon reads the records of the Ps'
 *   holders (sched/rawcall.c) and may still hold a stale pointer. Only
 *   sysmon and start-up create Ms, so a reused record is rewritten by the
 *   one thread that reads it.
 *
 * Go never frees idle Ms (golang/go#14592); weft does, so that a burst of
 * blocking calls does not leave its threads behind.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/futex.h"
#include "base/sanitizer.h"
#include "sched/runtime.h"
#include "sched/signals.h"

#define S weft__sched_g

static weft__m *dead_ms; /* retired Ms' records, for reuse; sched.lock */

static void m_bind_thread(weft__m *m) {
  m->thread = pthread_self();
  weft__store_relaxed(&m->tid, (int)gettid()); /* before it holds a P */
  weft__m_set_current(m);
  weft__signals_thread_init(m);
  m->g0_tsan_fiber = weft__tsan_current();
  weft__race_g0_init();
  pthread_attr_t attr;
  if (pthread_getattr_np(pthread_self(), &attr) == 0) {
    pthread_attr_getstack(&attr, &m->g0_stack_lo, &m->g0_stack_size);
    pthread_attr_destroy(&attr);
  }
}

static void *m_thread(void *arg) {
  weft__m *m = arg;
  m_bind_thread(m);
  weft__p *p = m->nextp; /* written before pthread_create */
  m->nextp = NULL;
  weft__p_set_current(p);
  weft__m_main(m, p);
  /* Retired: nm no longer counts this thread (weft__stopm). */
  weft__p_set_current(NULL);
  weft__m_set_current(NULL);
  weft__signals_thread_exit(m);
  weft__sched_lock(); /* the last touch of m: see the header */
  m->idle_link = dead_ms;
  dead_ms = m;
  weft__sched_unlock();
  return NULL;
}

/* A new M for p. Its thread takes no signal meant for the process (they
 * are blocked while it is created, and it inherits the mask), but faults,
 * which must reach the stack-overflow handler. */
static void newm(weft__p *p) {
  int32_t n = weft__add_relaxed(&S.nm, 1) + 1; /* see the header */
  int32_t max = weft__load_relaxed(&S.max_threads);
  if (n > max)
    weft__fatal("thread limit reached: %d threads run goroutines or wait "
                "in blocking calls (weft_set_max_threads, "
                "WEFT_MAX_THREADS)", max);
  weft__sched_lock();
  weft__m *m = dead_ms;
  if (m)
    dead_ms = m->idle_link;
  weft__sched_unlock();
  if (m)
    memset(m, 0, sizeof *m); /* sysmon's own thread, or start-up */
  else
    m = weft__rt_calloc_lines(sizeof *m);
  if (m == NULL)
    weft__fatal("out of memory for a thread");
  m->id = weft__add_relaxed(&S.mnext, 1);
  m->nextp = p;
  sigset_t old;
  weft__signals_block_for_thread(&old);
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_t t; /* the thread stores its own id in m */
  int rc = pthread_create(&t, &attr, m_thread, m);
  pthread_attr_destroy(&attr);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (rc != 0)
    weft__fatal("cannot create a thread to run goroutines (%d threads "
                "now; errno %d)", n - 1, rc);
}

void weft__startm(weft__p *p) {
  weft__sched_lock();
  weft__m *m = S.midle;
  if (m) {
    S.midle = m->idle_link;
    m->spare = false;
    m->nextp = p;
  }
  weft__sched_unlock();
  if (m == NULL) {
    newm(p);
    return;
  }
  weft__store_release(&m->wake, 1); /* pairs with stopm's acquire */
  weft__futex_wake(&m->wake, 1);
}

/* Takes m off the spare list if it is still there; false if a starter
 * took it (it is handing m a P). Lock held. */
static bool leave_spares_locked(weft__m *m) {
  if (!m->spare)
    return false;
  weft__m **pp = &S.midle;
  while (*pp != m)
    pp = &(*pp)->idle_link;
  *pp = m->idle_link;
  m->spare = false;
  return true;
}

weft__m *weft__m0_bind(weft__p *p) {
  weft__add_relaxed(&S.nm, 1); /* a runtime thread from now on */
  weft__m *m = weft__rt_calloc_lines(sizeof *m);
  if (m == NULL)
    weft__fatal("out of memory for a thread");
  m->id = weft__add_relaxed(&S.mnext, 1);
  m->m0 = true;
  m_bind_thread(m);
  weft__p_set_current(p);
  return m;
}

weft__p *weft__stopm(weft__m *m) {
  weft__store_relaxed(&m->wake, 0);
  weft__sched_lock();
  m->spare = true;
  m->idle_link = S.midle;
  S.midle = m;
  weft__sched_unlock();
  /* m0 is the process's main thread: it never exits. */
  int64_t retire_at = m->m0 ? WEFT_FOREVER : weft_now() + S.spare_idle_ns;
  /* pairs with startm's release store */
  while (weft__load_acquire(&m->wake) == 0) {
    if (weft__futex_wait(&m->wake, 0, retire_at) != -ETIMEDOUT)
      continue;
    weft__sched_lock();
    bool retire = leave_spares_locked(m);
    if (retire)
      weft__add_relaxed(&S.nm, -1); /* before the exit: see the header */
    weft__sched_unlock();
    if (retire)
      return NULL;
    retire_at = WEFT_FOREVER; /* a starter is handing us a P */
  }
  weft__p *p = m->nextp; /* written before the release store of wake */
  m->nextp = NULL;
  return p;
}

int weft_set_max_threads(int n) {
  if (n < 1)
    return -EINVAL;
  weft__ensure_started(); /* the default and $WEFT_MAX_THREADS first */
  return weft__xchg_acqrel(&S.max_threads, n);
}
