/* sysmon.c -- the monitor thread (a small part of Go's sysmon).
 *
 * Scheduling is cooperative and a goroutine woken by the running one waits
 * in that P's runnext, which wakes no other P (so a handoff costs no thread
 * wake-up); so do a lock's waiters that runnext displaced into the ring
 * (sched.c). If the running goroutine then computes for a long time, the
 * woken ones would wait just as long, and the P's timers too. sysmon looks
 * at every P now and then: a P whose switch count has not moved since the
 * last look, and that has a goroutine in runnext or its ring or a timer
 * overdue, gets help: sysmon wakes an idle P, whose spinning steals half
 * the ring or runnext and runs the due timers (steal_once). The interval
 * starts at 1 ms and backs off to 20 ms while nothing needs help, so an
 * idle process wakes 50 times a second.
 *
 * It reads schedtick, runnext, the ring's ends and the timer hint with
 * relaxed loads: a stale answer only delays help by one interval.
 *
 * It also keeps weft__coarse_now, the clock that parks stamp for the
 * goroutine dump's wait durations (runtime.h) and that switches compare
 * with the timer heaps (sched.c), so it runs with one P too, every
 * MIN_INTERVAL while a timer is overdue.
 * It retakes the Ps of goroutines that stay in a system call
 * (sched/syscall.c), or in a raw blocking call while work waits
 * (sched/rawcall.c), looking every SYSCALL_INTERVAL while any may be.
 * While anybody waits on an fd it polls the network when no thread has
 * for POLL_STALE (Go's sysmon), so that readiness is not left waiting
 * behind Ps that compute; what it finds goes to the global queue.
 * And it is where the deadlock detector looks (debug/deadlock.c, through
 * the weft__dl_tick hook), every
 * interval; a candidate deadlock shortens the next interval to confirm it.
 */
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <time.h>

#include "sched/runq.h"
#include "sched/runtime.h"

#define MIN_INTERVAL WEFT_MS
#define MAX_INTERVAL (20 * WEFT_MS)
/* While a goroutine is in a system call: a P is handed off within two
 * looks of this (Go's sysmon starts at 20 us). */
#define SYSCALL_INTERVAL (50 * WEFT_US)
#define POLL_STALE (10 * WEFT_MS) /* Go's sysmon: 10 ms */

/* Line-aligned: every park reads it, only sysmon writes it. */
_Alignas(64) _Atomic int64_t weft__coarse_now;

/* Whether a timer is overdue on some P: the switches then compare its
 * heap with weft__coarse_now (sched.c), which must stay fresh. */
static bool timers_overdue(weft__sched *s, int64_t now) {
  for (int i = 0; i < s->nprocs; i++)
    if (weft__timers_next(&s->allp[i]->timers) <= now - MIN_INTERVAL)
      return true; /* a hint (relaxed), as needs_help's */
  return false;
}

static bool needs_help(weft__p *p, uint32_t *last, int64_t now) {
  uint32_t tick = weft__load_relaxed(&p->schedtick);
  bool stuck = tick == *last;
  *last = tick;
  if (!stuck || weft__load_relaxed(&p->status) == WEFT__P_SYSCALL)
    return false; /* a P in a system call is retaken instead */
  /* now - MIN_INTERVAL, not next + MIN_INTERVAL: next is WEFT_FOREVER
   * when the heap is empty, and the sum would overflow (it did: an idle
   * process had one P woken every interval). */
  return weft__load_relaxed(&p->runnext) != NULL || !weft__runq_empty(p) ||
         weft__timers_next(&p->timers) <= now - MIN_INTERVAL;
}

/* Polls if an fd has waiters and nobody polled for POLL_STALE; returns
 * how soon to look again. The loads are hints (relaxed): a stale one only
 * moves a poll by an interval. */
static int64_t poll_if_stale(weft__sched *s, int64_t now) {
  if (weft__load_relaxed(&s->io_waiters) == 0)
    return WEFT_FOREVER;
  if (weft__load_relaxed(&s->polling) == 0 &&
      now - weft__load_relaxed(&s->lastpoll) >= POLL_STALE)
    weft__poll_now();
  return POLL_STALE;
}

static void *sysmon_main(void *arg) {
  (void)arg;
  weft__sched *s = &weft__sched_g;
  uint32_t *last = weft__rt_calloc((size_t)s->nprocs, sizeof *last);
  if (last == NULL)
    return NULL; /* no monitor: help and deadlock reports are lost */
  int64_t interval = MIN_INTERVAL;
  for (;;) {
    struct timespec ts = {0, (long)interval};
    nanosleep(&ts, NULL);
    int64_t now = weft_now();
    weft__store_relaxed(&weft__coarse_now, now); /* read by weft__park */
    bool help = false;
    for (int i = 0; s->nprocs > 1 && i < s->nprocs; i++)
      help |= needs_help(s->allp[i], &last[i], now);
    if (help)
      weft__wakep();
    bool in_syscall = weft__retake(now); /* sched/syscall.c */
    int64_t raw = weft__raw_retake(now); /* sched/rawcall.c */
    if (in_syscall)
      interval = SYSCALL_INTERVAL;
    else if (help || timers_overdue(s, now))
      interval = MIN_INTERVAL;
    else
      interval = interval * 2 > MAX_INTERVAL ? MAX_INTERVAL : interval * 2;
    if (raw < interval)
      interval = raw;
    int64_t io = poll_if_stale(s, now);
    if (io < interval)
      interval = io;
    int64_t confirm = weft__dl_tick(); /* may not return: a deadlock */
    if (confirm < interval)
      interval = confirm;
  }
  return NULL;
}

void weft__sysmon_start(void) {
  weft__store_relaxed(&weft__coarse_now, weft_now());
  weft__raw_init();
  pthread_t t;
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  if (pthread_create(&t, &attr, sysmon_main, NULL) != 0) {
    /* Not fatal: the runtime works without it, with less help. */
  }
  pthread_attr_destroy(&attr);
}
