/* syscall.c -- blocking calls that do not stall the scheduler (Go's
 * entersyscall, exitsyscall, retake and handoffp).
 *
 * Protocol
 * - weft_syscall_enter: the goroutine g, on M m holding P p, stamps itself
 *   (status SYSCALL, for the dump), notes m->syscall_g = g, bumps
 *   p->syscalltick, clears p->m and stores p->status = SYSCALL (release).
 *   From then on neither g nor m touches p until the exit's CAS succeeds:
 *   p belongs to whoever takes it. p->m stays NULL until the taker stores
 *   itself (the exit, or weft__m_main of the M it was handed to). Were the
 *   caller's M left there, a P taken back by another M's exit would, until
 *   that exit's store, name an M blocked in the kernel as its holder, and
 *   sysmon's raw-call look (rawcall.c) could hand the P out a second time.
 * - sysmon (weft__retake, every interval; a short one while any P is in a
 *   system call) takes a P seen in SYSCALL with the same syscalltick at two
 *   looks in a row, if it has work (runnext, its ring, a timer) or no other
 *   P is idle or spinning, or the call has lasted SYSCALL_LONG: it counts
 *   the handoff in nhanded, then CASes status SYSCALL -> RUNNING (acq_rel:
 *   the acquire pairs with enter's release, so the new holder sees every
 *   write the old one made to p) and gives p to a spare or new M
 *   (weft__startm). A failed CAS (the goroutine came back first) uncounts.
 * - weft_syscall_exit: CAS status SYSCALL -> RUNNING. Success (the fast
 *   path, one CAS): g still holds p, or takes it back; p->cur = g, since
 *   the M it was handed to may have run others on it meanwhile (their own
 *   system calls then lose it in turn, as in Go). Failure: p is someone
 *   else's. The thread drops its P (curp = NULL), and g switches to the
 *   M's g0 with a hook that queues g on the global queue, wakes an idle P
 *   (which takes it: Go's "any idle P", at the cost of one futex wake,
 *   since an idle P keeps its thread) and only then uncounts nhanded; the
 *   M then parks as a spare (weft__m_main, weft__stopm).
 * - nhanded counts goroutines in a call whose P was taken: sysmon's CAS
 *   adds one, a lost exit removes one, and a won exit changes nothing (it
 *   takes back its own P, or a P whose own goroutine is in a call: that
 *   one has lost it in turn).
 * - The deadlock detector reports nothing while nhanded > 0: such a
 *   goroutine runs in the kernel and may wake anyone (debug/deadlock.c).
 *   A goroutine in a call whose P was not handed off holds a P that is not
 *   idle, which is enough.
 *
 * Memory order: enter's release store of status pairs with the CASes'
 * acquire; the CASes are acq_rel, so exactly one party takes p, and it
 * sees what the previous holder wrote. syscalltick and the stamps are
 * relaxed: sysmon only compares them between looks.
 */
#include "sched/runq.h"
#include "sched/runtime.h"

#define S weft__sched_g
/* A call that lasts this long is handed off even when nothing waits. */
#define SYSCALL_LONG (10 * WEFT_MS)

void weft_syscall_enter(void) {
  weft__p *p = weft__curp();
  if (weft__unlikely(p == NULL))
    p = weft__rejoin(); /* a goroutine back from a raw call: a P first */
  if (p == NULL || p->cur == NULL)
    return; /* a plain thread blocks only itself */
  weft__m *m = weft__curm();
  weft__g *g = p->cur;
  if (m->syscall_g)
    weft__fatal("weft_syscall_enter: already in a system call "
                "(goroutine %llu)", (unsigned long long)g->id);
  m->syscall_g = g;
  weft__store_relaxed(&g->wait_reason, "syscall"); /* for the dump */
  weft__store_relaxed(&g->wait_since, weft__load_relaxed(&weft__coarse_now));
  weft__store_relaxed(&g->status, WEFT__G_SYSCALL);
  weft__store_relaxed(&p->syscall_since, weft__load_relaxed(&g->wait_since));
  weft__store_relaxed(&p->syscalltick,
                      weft__load_relaxed(&p->syscalltick) + 1);
  weft__store_relaxed(&p->m, NULL); /* no holder now: see the header */
  weft__store_release(&p->status, WEFT__P_SYSCALL); /* see the header */
}

/* Pending hook of a lost exit, on the M's g0: g's context is saved. */
void weft__requeue_lost(weft__p *p, void *arg) {
  (void)p; /* NULL: this thread holds no P */
  weft__g *g = arg;
  weft__store_relaxed(&g->status, WEFT__G_RUNNABLE);
  weft__globrunqput(g);
  weft__wakep();
  weft__add_seqcst(&S.nhanded, -1); /* after g is findable: see above */
}

void weft_syscall_exit(void) {
  weft__m *m = weft__curm();
  weft__g *g = m ? m->syscall_g : NULL;
  if (g == NULL) {
    if (weft__curg())
      weft__fatal("weft_syscall_exit without weft_syscall_enter "
                  "(goroutine %llu)", (unsigned long long)weft__curg()->id);
    return; /* a plain thread */
  }
  m->syscall_g = NULL;
  weft__p *p = weft__curp();
  /* A raw-call take never picks a P in a system call (rawcall.c), so this
   * thread still has the P it entered with, in whatever state. */
  weft__assert(p != NULL);
  uint32_t expected = WEFT__P_SYSCALL;
  if (weft__cas_acqrel(&p->status, &expected, WEFT__P_RUNNING)) {
    p->cur = g; /* taken back, maybe from a later holder's system call */
    weft__store_release(&p->m, m); /* as weft__m_main's (rawcall.c) */
    weft__store_relaxed(&g->status, WEFT__G_RUNNING);
    return;
  }
  weft__p_set_current(NULL);
  weft__switch_to_g0(g, weft__requeue_lost, g); /* resumes holding some P */
}

/* Whether sysmon should take p from its system call now. */
static bool should_retake(weft__p *p, uint32_t *last, int64_t now) {
  uint32_t tick = weft__load_relaxed(&p->syscalltick);
  if (tick != *last) { /* a new call since the last look: give it one */
    *last = tick;
    return false;
  }
  bool work = weft__load_relaxed(&p->runnext) != NULL ||
              !weft__runq_empty(p) ||
              weft__timers_next(&p->timers) != WEFT_FOREVER;
  if (work)
    return true;
  if (weft__load_relaxed(&S.npidle) + weft__load_relaxed(&S.nmspinning) == 0)
    return true; /* no other P could take new work */
  return now - weft__load_relaxed(&p->syscall_since) > SYSCALL_LONG;
}

bool weft__retake(int64_t now) {
  static uint32_t *last; /* sysmon's own: the syscalltick seen per P */
  if (last == NULL) {
    last = weft__rt_calloc((size_t)S.nprocs, sizeof *last);
    if (last == NULL)
      return false; /* no handoffs rather than a wrong one */
  }
  bool any = false;
  for (int i = 0; i < S.nprocs; i++) {
    weft__p *p = S.allp[i];
    if (weft__load_relaxed(&p->status) != WEFT__P_SYSCALL)
      continue;
    any = true;
    if (!should_retake(p, &last[i], now))
      continue;
    weft__add_seqcst(&S.nhanded, 1); /* before the P can look idle */
    uint32_t expected = WEFT__P_SYSCALL;
    if (weft__cas_acqrel(&p->status, &expected, WEFT__P_RUNNING)) {
      weft__assert(weft__load_relaxed(&p->m) == NULL); /* since the enter */
      weft__startm(p);
    }
    else
      weft__add_seqcst(&S.nhanded, -1); /* it came back first */
  }
  return any;
}
