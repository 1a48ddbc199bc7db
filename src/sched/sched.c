/* sched.c -- the scheduler: switching, picking the next goroutine, work
 * stealing, spinning and idling (Go's proc.go, with M folded into P).
 *
 * Picking (local_pick, owner only)
 * - runnext first: a goroutine just woken by the running one runs next, on
 *   this P, so a handoff costs no thread wake-up. After RUNNEXT_STREAK
 *   consecutive runnext picks the head of the ring goes first, so two
 *   goroutines that keep waking each other cannot starve the rest.
 * - Every GLOBAL_EVERY-th pick looks at the global queue first, and every
 *   TIMERS_EVERY-th switch runs due timers, so neither starves behind a
 *   busy ring.
 * - In the deterministic schedule mode a seeded draw among all of them
 *   replaces this order (the pick-policy hook, base/hooks.h).
 *
 * Spinning and idling (the wake-up protocol of Go's findrunnable/wakep)
 * - A P with nothing to run "spins": it steals from other Ps for a few tens
 *   of microseconds before it sleeps on its futex. nmspinning counts them.
 * - A P that makes work stealable (ring or global queue) calls wakep(),
 *   which wakes an idle P only if no P is spinning: a spinner will find the
 *   work. Filling runnext wakes nobody, since runnext is for this P.
 * - Except around a lock's waiters (WEFT__PUT_LOCAL): a Mutex's or
 *   RWMutex's woken waiter goes to runnext as usual, and the goroutine it
 *   displaces into the ring (usually an earlier waiter of the same lock, as
 *   when an RWMutex's unlock releases its readers) wakes nobody either.
 *   They will take the same lock, or were handed it: another CPU buys no
 *   parallelism inside the critical section and bounces the lock's line
 *   between CPUs (an RWMutex read costs 50 ns that way, 14 on one P). If
 *   this P then computes without switching, sysmon sends help (sysmon.c).
 * - No lost wake-up: the submitter publishes its work, then (seq_cst fence)
 *   reads npidle and nmspinning. A P going idle publishes npidle+1 and
 *   nmspinning-1, then (seq_cst fence) re-reads every ring and the global
 *   queue. One of the two sees the other.
 * - An idle P sleeps until woken or until its earliest timer.
 *
 * The poller (Go's findrunnable netpoll steps; io/netpoll.c)
 * - While anybody waits on an fd (S.io_waiters), a P with nothing local
 *   polls once without blocking before it steals.
 * - One idle P at a time (S.polling) sleeps in the poller instead of on its
 *   futex word, until its next timer. A waker that finds it there
 *   (in_poll) breaks the poll instead of waking the futex (kick): wake and
 *   in_poll are a Dekker pair, so either the waker sees in_poll and
 *   breaks, or the poller sees the wake bits and does not block.
 * - Readiness found by a poll readies its goroutines on the polling P
 *   (after it left the idle list); sysmon polls when nobody has for a
 *   while, and readies onto the global queue.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/futex.h"
#include "sched/runq.h"
#include "base/sanitizer.h"
#include "sched/runtime.h"

#define RUNNEXT_STREAK 16
/* Go's 61: prime, so that it does not beat with other periodic work. */
#define GLOBAL_EVERY 61
#define TIMERS_EVERY 64 /* a power of two: a mask of the switch count */
/* Steal rounds before runnext and timers are taken from victims too. */
#define STEAL_ROUNDS_RING_ONLY 3
#define SPIN_PAUSES 64 /* cpu_relax between steal rounds */
/* Bits of weft__p.wake. */
#define WAKE_WAKEP 1u  /* wakep took the P off the idle list */
#define WAKE_TIMERS 2u /* a timer was added to the P from another thread */
#define SPIN_NS (50 * WEFT_US)

WEFT_INTERNAL weft__sched weft__sched_g;
#define S weft__sched_g

static __thread weft__p *tls_p;
static __thread weft__m *tls_m;

/* noinline in this file too: clang inlined it into weft__park and reused the
 * old thread's TLS address after the switch (the asm barrier forces a
 * reload of tls_p, but not a new thread-pointer computation). */
/* The thread's P, after the raw-call handshake (sched/rawcall.c). */
static inline weft__p *curp_checked(void) {
  __asm__ __volatile__("" ::: "memory"); /* not pure: see runtime.h */
  weft__p *p = tls_p;
  if (p) {
    weft__m *m = tls_m;
    weft__raw_touch(m);
    /* The Dekker pair's fence is sysmon's membarrier (rawcall.c). */
    __asm__ __volatile__("" ::: "memory");
    if (weft__unlikely(weft__load_relaxed(&m->taken) != WEFT__RAW_NONE))
      return weft__raw_check(m, p);
  }
  return p;
}

WEFT_NOINLINE weft__p *weft__curp(void) { return curp_checked(); }

WEFT_NOINLINE weft__g *weft__curg(void) {
  weft__p *p = curp_checked();
  if (p == NULL)
    return weft__lost_g();
  weft__g *g = p->cur;
  weft__raw_touch_after(tls_m);
  return g;
}

weft__g *weft__lost_g(void) {
  weft__m *m = tls_m;
  return m ? m->lost_g : NULL;
}

WEFT_NOINLINE weft__m *weft__curm(void) {
  __asm__ __volatile__("" ::: "memory"); /* as weft__curp */
  return tls_m;
}

void weft__p_set_current(weft__p *p) {
  tls_p = p;
  if (tls_m)
    weft__raw_touch(tls_m); /* a new P: what sysmon saw is stale */
}
void weft__m_set_current(weft__m *m) { tls_m = m; }

/* ---- errno and the pending hook ---------------------------------------- */

/* Separate frames: within one function the compiler may keep the address
 * of the old thread's errno (glibc's __errno_location is const). */
static WEFT_NOINLINE void save_errno(weft__g *g) {
  if (g)
    g->saved_errno = errno;
}

static WEFT_NOINLINE void restore_errno(weft__g *g) {
  if (g)
    errno = g->saved_errno;
}

static void run_pending(weft__m *m, weft__p *p) {
  weft__pending_fn fn = m->pending;
  if (fn) {
    m->pending = NULL;
    fn(p, m->pending_arg);
  }
}

static void run_timers_if_due(weft__p *p) {
  if (weft__timers_next(&p->timers) != WEFT_FOREVER)
    weft__timers_run(&p->timers, weft_now());
}

/* A P that always has a goroutine to switch to never enters its scheduler
 * loop, so due timers also run between switches, right after the pending
 * hook: no weft lock is held there (the outgoing goroutine's locks were
 * just released by its hook), so a timer may take a channel's lock. Before
 * the switch it could not: a parking goroutine still holds its locks.
 * They run at every switch once sysmon's clock (weft__coarse_now, 1 ms
 * fresh while a timer is overdue) says the earliest is due, without a
 * clock read of the switch's own, and every TIMERS_EVERY-th switch in any
 * case. Relaxed loads: a stale one only moves a firing to a later switch. */
static void timers_now_and_then(weft__p *p) {
  if (p->cur &&
      ((weft__load_relaxed(&p->schedtick) & (TIMERS_EVERY - 1)) == 0 ||
       weft__timers_next(&p->timers) <=
           weft__load_relaxed(&weft__coarse_now)))
    run_timers_if_due(p);
}

/* ---- switching --------------------------------------------------------- */

static WEFT_NO_TSAN_SWITCH void do_switch(weft__ctx *from, weft__ctx *to,
                                          void *to_fiber, void *to_lo,
                                          size_t to_size, bool dying) {
  void *fake = NULL;
  /* A dying goroutine passes NULL, so ASan frees its fake stack. */
  weft__asan_start_switch(dying ? NULL : &fake, to_lo, to_size);
  weft__tsan_switch(to_fiber);
  weft__ctx_switch(from, to);
  weft__asan_finish_switch(fake);
}

/* The incoming context's first steps, on whichever thread it resumed. */
static weft__p *resumed(weft__g *self) {
  /* tls_p, not weft__curp: this thread runs, so no raw call can have lost
   * its P; a hook never changes the thread's P. */
  weft__p *p = tls_p;
  weft__m *m = p ? weft__load_relaxed(&p->m) : weft__curm();
  run_pending(m, p);
  if (WEFT__CHECKS) /* the outgoing context's locks went with its hook */
    weft__spin_assert_none_held("resumed from a switch");
  weft__assert(p == NULL || m == weft__curm());
  /* A goroutine resumes only on a thread that holds a P, as that P's cur;
   * g0 may find its M without one (a system call's exit lost it). */
  weft__assert(self == NULL || (p != NULL && p->cur == self));
  if (p) {
    timers_now_and_then(p);
    weft__raw_touch_after(m); /* the hook's and timers' use of p */
  }
  return p;
}

/* p: the caller's P, or NULL for a goroutine that lost it (to is NULL
 * then: the M's g0). */
static void switch_common(weft__p *p, weft__g *from, weft__g *to,
                          weft__pending_fn hook, void *arg, bool dying) {
  weft__m *m = p ? weft__load_relaxed(&p->m) : weft__curm();
  m->pending = hook;
  m->pending_arg = arg;
  save_errno(from);
  if (p)
    p->cur = to;
  weft__ctx *fctx = from ? &from->ctx : &m->g0;
  if (to) {
    weft__store_relaxed(&to->status, WEFT__G_RUNNING);
    do_switch(fctx, &to->ctx, to->tsan_fiber, to->stack.lo,
              (size_t)((char *)to - to->stack.lo), dying);
  } else {
    do_switch(fctx, &m->g0, m->g0_tsan_fiber, m->g0_stack_lo,
              m->g0_stack_size, dying);
  }
  /* Resumed, possibly on another thread: re-read everything. */
  resumed(from);
  restore_errno(from);
}

void weft__switch_to_g0(weft__g *g, weft__pending_fn hook, void *arg) {
  weft__assert(weft__curp() == NULL);
  switch_common(NULL, g, NULL, hook, arg, false);
}

void weft__switch_to(weft__p *p, weft__g *from, weft__g *next,
                     weft__pending_fn hook, void *arg) {
  switch_common(p, from, next, hook, arg, false);
}

weft__p *weft__landed(void) {
  weft__asan_finish_switch(NULL);
  return resumed(NULL); /* a new goroutine: p->cur is already it */
}

/* ---- waking Ps --------------------------------------------------------- */

/* The poller, if anybody waits on an fd now (a relaxed hint: a stale 0
 * only skips one poll, and the waiter's own P or sysmon polls later). */
static const weft__poller *poller_if_waiters(void) {
  if (weft__load_relaxed(&S.io_waiters) == 0)
    return NULL;
  return weft__load_acquire(&S.poller); /* pairs with set_poller */
}

void weft__sched_set_poller(const weft__poller *poller) {
  weft__store_release(&S.poller, poller); /* pairs with the loads */
}

int weft__poll_now(void) {
  const weft__poller *pl = poller_if_waiters();
  if (pl == NULL)
    return 0;
  int n = pl->wait(0);
  weft__store_relaxed(&S.lastpoll, weft_now()); /* sysmon's hint */
  return n > 0 ? pl->deliver() : 0;
}

/* Sets bits in an idle P's wake word and wakes its thread wherever it
 * sleeps: on the word, or in the poller (the header's Dekker pair). */
static void kick(weft__p *p, uint32_t bits) {
  /* seq_cst RMW, then a seq_cst load: pairs with idle_sleep's store of
   * in_poll and load of wake; release also pairs with go_idle's acquire */
  atomic_fetch_or_explicit(&p->wake, bits, memory_order_seq_cst);
  if (weft__load_seqcst(&p->in_poll))
    weft__load_acquire(&S.poller)->brk(); /* set before in_poll was */
  else
    weft__futex_wake(&p->wake, 1);
}

static weft__p *idle_pop_locked(void) {
  weft__p *p = S.idle;
  if (p) {
    S.idle = p->idle_link;
    p->idle = false;
    weft__add_seqcst(&S.npidle, -1);
  }
  return p;
}

static void idle_remove_locked(weft__p *p) {
  weft__p **pp = &S.idle;
  while (*pp != p)
    pp = &(*pp)->idle_link;
  *pp = p->idle_link;
  p->idle = false;
  weft__add_seqcst(&S.npidle, -1);
}

void weft__wakep(void) {
  weft__fence_seqcst(); /* pairs with go_idle's fence */
  if (weft__load_relaxed(&S.npidle) == 0 ||
      weft__load_relaxed(&S.nmspinning) != 0)
    return;
  int32_t zero = 0;
  if (!atomic_compare_exchange_strong_explicit(&S.nmspinning, &zero, 1,
                                               memory_order_seq_cst,
                                               memory_order_relaxed))
    return; /* someone else became the spinner */
  weft__sched_lock();
  weft__p *p = idle_pop_locked();
  if (p)
    p->spinning = true; /* handed over with the nmspinning we took */
  weft__sched_unlock();
  if (p == NULL) {
    weft__add_seqcst(&S.nmspinning, -1);
    return;
  }
  kick(p, WAKE_WAKEP);
}

/* A spinning P found work: stop counting it, and if it was the last
 * spinner, start another so that remaining work keeps being looked for. */
static void reset_spinning(weft__p *p) {
  if (!p->spinning)
    return;
  p->spinning = false;
  if (weft__add_seqcst(&S.nmspinning, -1) == 1)
    weft__wakep();
}

/* ---- queues ------------------------------------------------------------ */

void weft__runqput(weft__p *p, weft__g *g, weft__put put) {
  if (put != WEFT__PUT_TAIL) {
    /* An empty slot can only be filled by its owner, so a plain release
     * store does (pairs with the takers' exchange or CAS); a full one may
     * be taken by a thief meanwhile, so swap. */
    if (weft__load_relaxed(&p->runnext) == NULL) {
      weft__store_release(&p->runnext, g);
      return; /* runnext is for this P: nobody to wake */
    }
    g = atomic_exchange_explicit(&p->runnext, g, memory_order_acq_rel);
    if (g == NULL)
      return;
  }
  weft__runq_put_tail(p, g); /* the kicked-out runnext, or g */
  if (put != WEFT__PUT_LOCAL)
    weft__wakep();
}

void weft__ready(weft__g *g, weft__put put) {
  weft__store_relaxed(&g->status, WEFT__G_RUNNABLE);
  weft__p *p = weft__curp();
  if (p) {
    weft__runqput(p, g, put);
  } else {
    weft__globrunqput(g);
    weft__wakep();
  }
}

bool weft__sched_all_idle(void) {
  bool ok = false;
  weft__sched_lock();
  /* nhanded: no goroutine is in a system call without a P (syscall.c);
   * one in a call with its P holds a P that is not idle. */
  if (weft__load_relaxed(&S.npidle) == S.nprocs &&
      weft__load_relaxed(&S.gq_len) == 0 && /* written under the lock */
      weft__load_seqcst(&S.nhanded) == 0 && /* pairs with its RMWs */
      weft__load_seqcst(&S.io_waiters) == 0) { /* likewise */
    ok = true;
    for (int i = 0; ok && i < S.nprocs; i++) {
      weft__p *p = S.allp[i];
      ok = weft__runq_empty(p) &&
           weft__load_acquire(&p->runnext) == NULL && /* pairs with put */
           weft__timers_empty(&p->timers);
    }
  }
  weft__sched_unlock();
  return ok;
}

/* ---- picking ----------------------------------------------------------- */

/* The next G from this P alone, or NULL. Owner only; never blocks. */
static weft__g *local_pick(weft__p *p) {
  uint32_t tick = weft__load_relaxed(&p->schedtick) + 1;
  weft__store_relaxed(&p->schedtick, tick); /* owner only; sysmon reads */
  if (weft__det_enabled()) /* the deterministic mode draws instead */
    return weft__det_pick(p);
  if (tick % GLOBAL_EVERY == 0) {
    weft__g *g = weft__globrunqget(p, 1);
    if (g)
      return g;
  }
  weft__g *g = NULL;
  if (p->runnext_streak < RUNNEXT_STREAK)
    g = atomic_exchange_explicit(&p->runnext, NULL, memory_order_acq_rel);
  if (g) {
    p->runnext_streak++;
    return g;
  }
  p->runnext_streak = 0;
  g = weft__runq_get(p);
  if (g == NULL)
    g = atomic_exchange_explicit(&p->runnext, NULL, memory_order_acq_rel);
  return g;
}

void weft__schedule_away(weft__p *p, weft__g *g, weft__pending_fn hook,
                         void *arg, bool dying) {
  /* The caller's P, held by this very thread, with g on it. */
  weft__assert(p == weft__curp() && p->cur == g);
  weft__g *next = local_pick(p);
  switch_common(p, g, next, hook, arg, dying); /* next NULL: to g0 */
}

static void park_stamp(weft__g *g, const char *reason) {
  /* For the dump (debug/dump.c), which reads all three relaxed: two plain
   * stores and a load of a line that sysmon dirties at most once a
   * millisecond. */
  weft__store_relaxed(&g->wait_reason, reason);
  weft__store_relaxed(&g->wait_since, weft__load_relaxed(&weft__coarse_now));
  weft__store_relaxed(&g->status, WEFT__G_WAITING);
}

void weft__park(weft__pending_fn hook, void *arg, const char *reason) {
  weft__p *p = weft__curp();
  if (weft__unlikely(p == NULL)) { /* a raw call lost the P */
    weft__g *g = weft__lost_g();
    park_stamp(g, reason);
    weft__park_lost(g, hook, arg);
    return;
  }
  weft__g *g = p->cur;
  park_stamp(g, reason);
  weft__schedule_away(p, g, hook, arg, false);
}

/* ---- finding work (g0 only) -------------------------------------------- */

uint64_t weft__fastrand(void) {
  static __thread uint64_t thread_state;
  weft__p *p = weft__curp();
  if (p) { /* the mode's draws must not depend on how long the P spun */
    if (weft__det_enabled())
      return weft__det_rand();
    uint64_t r = weft__xorshift64(&p->rand);
    weft__raw_touch_after(tls_m);
    return r;
  }
  if (thread_state == 0) /* seed from the thread's address and the clock */
    thread_state =
        ((uint64_t)(uintptr_t)&thread_state ^ (uint64_t)weft_now()) | 1;
  return weft__xorshift64(&thread_state);
}

void weft__run_due_timers(weft__p *victim, int64_t now) {
  if (weft__timers_next(&victim->timers) <= now)
    weft__timers_run(&victim->timers, now);
}

static weft__g *steal_once(weft__p *p, bool take_next) {
  int n = S.nprocs;
  int start = (int)(weft__xorshift64(&p->rand) % (uint64_t)n);
  int64_t now = take_next ? weft_now() : 0;
  for (int i = 0; i < n; i++) {
    weft__p *victim = S.allp[(start + i) % n];
    if (victim == p)
      continue;
    /* A busy P runs its timers only between switches; help it. Timer
     * callbacks may run on any P's thread. */
    if (take_next) {
      weft__run_due_timers(victim, now);
      weft__g *g = weft__runq_get(p); /* what those timers readied */
      if (g)
        return g;
    }
    weft__g *g = weft__runq_steal(p, victim, take_next);
    if (g)
      return g;
  }
  return weft__globrunqget(p, 0);
}

static weft__g *spin_for_work(weft__p *p) {
  if (!p->spinning) {
    int32_t busy = S.nprocs - weft__load_relaxed(&S.npidle);
    if (2 * weft__load_relaxed(&S.nmspinning) >= busy)
      return NULL; /* enough spinners already (Go's rule) */
    p->spinning = true;
    weft__add_seqcst(&S.nmspinning, 1);
  }
  int64_t start = weft_now();
  for (int round = 0;; round++) {
    weft__g *g = steal_once(p, round >= STEAL_ROUNDS_RING_ONLY);
    if (g)
      return g;
    if (weft__timers_next(&p->timers) <= weft_now())
      return NULL; /* go run them */
    if (round >= STEAL_ROUNDS_RING_ONLY && weft_now() - start > SPIN_NS)
      return NULL;
    for (int i = 0; i < SPIN_PAUSES; i++)
      weft__cpu_relax();
  }
}

static bool any_work_visible(void) {
  if (weft__load_relaxed(&S.gq_len) != 0)
    return true;
  for (int i = 0; i < S.nprocs; i++)
    if (!weft__runq_empty(S.allp[i]))
      return true;
  return false;
}

/* Waits for the wake that a concurrent wakep() is about to deliver. */
static void await_wake(weft__p *p) {
  uint32_t w;
  /* pairs with wakep's release */
  while (((w = weft__load_acquire(&p->wake)) & WAKE_WAKEP) == 0)
    weft__futex_wait(&p->wake, w, WEFT_FOREVER);
  weft__store_relaxed(&p->wake, 0);
}

/* Leaves the idle list if still on it; if a waker took us off first, takes
 * its wake (and the spinning state it handed over). */
static void leave_idle(weft__p *p) {
  weft__sched_lock();
  bool was_idle = p->idle;
  if (was_idle)
    idle_remove_locked(p);
  weft__sched_unlock();
  if (!was_idle)
    await_wake(p);
}

/* Sleeps until a wake, the deadline (-ETIMEDOUT) or, in the poller,
 * readiness (1: the caller delivers it once off the idle list); 0 for a
 * wake or a break. */
static int idle_sleep(weft__p *p, int64_t deadline) {
  const weft__poller *pl = poller_if_waiters();
  int32_t free_ = 0;
  /* acq_rel: pairs with the release that ended the previous poll */
  if (pl == NULL || !weft__cas_acqrel(&S.polling, &free_, 1))
    return weft__futex_wait(&p->wake, 0, deadline);
  weft__store_seqcst(&p->in_poll, 1); /* pairs with kick */
  int n = 0;
  if (weft__load_seqcst(&p->wake) == 0) /* likewise */
    n = pl->wait(deadline);
  weft__store_relaxed(&p->in_poll, 0); /* a late break is harmless */
  weft__store_relaxed(&S.lastpoll, weft_now());
  weft__store_release(&S.polling, 0); /* pairs with the CAS */
  if (n > 0)
    return 1;
  return deadline != WEFT_FOREVER && deadline <= weft_now() ? -ETIMEDOUT : 0;
}

/* Parks the P's thread until woken or its next timer. Returns a G if one
 * turned up on the way, else NULL to look again. */
static weft__g *go_idle(weft__p *p) {
  weft__sched_lock();
  if (weft__det_enabled() && weft__load_relaxed(&S.gq_len) != 0) {
    weft__sched_unlock(); /* for the draw to pick (find_runnable) */
    return NULL;
  }
  weft__g *g = weft__globrunqget_locked(p, 0);
  if (g) {
    weft__sched_unlock();
    reset_spinning(p);
    return g;
  }
  /* Clear spinning before the P becomes visible on the idle list: from then
   * on a waker may pop it and hand it spinning = true. */
  bool was_spinning = p->spinning;
  p->spinning = false;
  p->idle = true;
  p->idle_link = S.idle;
  S.idle = p;
  weft__add_seqcst(&S.npidle, 1);
  weft__sched_unlock();

  if (was_spinning)
    weft__add_seqcst(&S.nmspinning, -1);
  weft__fence_seqcst(); /* pairs with wakep's fence */
  if (any_work_visible()) {
    leave_idle(p);
    if (!p->spinning) {
      p->spinning = true;
      weft__add_seqcst(&S.nmspinning, 1);
    }
    return NULL;
  }
  for (;;) {
    uint32_t w = weft__load_acquire(&p->wake); /* pairs with wakep, kick */
    if (w & WAKE_WAKEP)
      break;
    if (w & WAKE_TIMERS) /* a timer was added from elsewhere */
      atomic_fetch_and_explicit(&p->wake, ~WAKE_TIMERS, memory_order_relaxed);
    /* Re-read after clearing the kick bit: a later add sets it again. */
    int64_t deadline = weft__timers_next(&p->timers);
    int rc = idle_sleep(p, deadline);
    if (rc != 0) {
      leave_idle(p);
      if (rc > 0) /* readiness: its goroutines go on this P */
        weft__load_acquire(&S.poller)->deliver(); /* set before polling */
      return NULL;
    }
  }
  weft__store_relaxed(&p->wake, 0); /* wakep took us off the list */
  return NULL;
}

void weft__timer_add_on(weft__p *p, weft__timer *t) {
  weft__timer_add(&p->timers, t);
  if (p != weft__curp()) /* it may be asleep until a later deadline */
    kick(p, WAKE_TIMERS);
}

void weft__timer_add_any(weft__timer *t) {
  weft__p *p = weft__curp();
  if (p == NULL) {
    weft__ensure_started();
    p = S.allp[weft__fastrand() % (uint64_t)S.nprocs];
  }
  weft__timer_add_on(p, t);
}

static weft__g *find_runnable(weft__p *p) {
  for (;;) {
    run_timers_if_due(p);
    weft__g *g = local_pick(p);
    /* In the deterministic mode every G comes from a draw: the pick covers
     * the global queue, and with one P there is no one to steal from. A G
     * taken here instead would skip a draw whenever a plain thread queued
     * it just after local_pick looked, and a seed would no longer replay. */
    if (g == NULL && !weft__det_enabled()) {
      g = weft__globrunqget(p, 0);
      if (g == NULL && weft__poll_now() > 0)
        continue; /* what it readied is on this P */
      if (g == NULL)
        g = spin_for_work(p);
    }
    if (g == NULL && weft__timers_next(&p->timers) > weft_now())
      g = go_idle(p);
    if (g) {
      reset_spinning(p);
      return g;
    }
  }
}

void weft__m_main(weft__m *m, weft__p *p) {
  for (;;) {
    while (p == NULL) { /* a spare: wait to be handed a P, or retire */
      p = weft__stopm(m);
      if (p == NULL)
        return;
      p->cur = NULL; /* still the goroutine whose system call lost it */
      weft__p_set_current(p);
    }
    /* release: pairs with sysmon's acquire (rawcall.c), which then sees
     * the record whole, m0's too (made after sysmon started) */
    weft__store_release(&p->m, m);
    weft__g *g = find_runnable(p);
    switch_common(p, NULL, g, NULL, NULL, false);
    p = weft__curp(); /* NULL if the goroutine run last lost the P */
  }
}
