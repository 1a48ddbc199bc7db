/* rawcall.c -- raw blocking calls, noticed without a wrapper (beyond Go).
 *
 * A goroutine that calls read(2), recv or a blocking library directly,
 * without weft_syscall_enter, keeps its P while its thread sleeps in the
 * kernel. sysmon notices such a P and hands it to a spare M, as it does for
 * a bracketed call (syscall.c); the goroutine learns at its next weft call.
 *
 * Detection (sysmon, each look: weft__raw_retake; RAW_* below set its pace)
 * A P is taken when, at two looks in a row, all of these hold:
 * - its status is RUNNING (a bracketed call is retake's) and its holder
 *   (p->m) is the same M; its schedtick has not moved and that M's touch
 *   is still clear (each look clears it): the thread has neither switched
 *   nor entered weft's P-using code (weft__curp) in between. A look clears
 *   the touch before it reads the P's state, so a touch it clears is one
 *   whose effects that state already shows: cleared after the reads, the
 *   touch of a thread entering a bracketed call between them would be lost,
 *   and the next look would take a P that is in that call;
 * - work waits: in runnext, its ring, an overdue timer or the global queue;
 * - the M's thread is blocked in a system call (/proc/self/task/TID/syscall
 *   names it) that weft never blocks in while it uses a P: not futex (weft's
 *   own waits, malloc's, pthread's and the sanitizers' locks), nor the
 *   memory-map calls (stack allocation), nor epoll_wait (an idle P's
 *   poller; the user's own is not noticed either). A thread that computes, is
 *   preempted, or waits on a page fault is never taken: scheduling stays
 *   cooperative.
 * Between the two looks the thread cannot have entered weft (it would have
 * touched), and weft's own blocking while it uses a P is in the excluded
 * calls, so a taken thread is in the user's code, not using its P. A
 * thread that blocks in futex in the user's code (a pthread lock, a
 * condition variable) is not noticed: bracket such calls.
 *
 * The handshake (Dekker's, with the fence on sysmon's side only)
 *   thread, in weft__curp: touch = 1 (release); compiler barrier; load taken
 *   sysmon:                CAS taken NONE->PROPOSED; membarrier(); load touch
 * membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) runs a full barrier on every
 * CPU that runs one of our threads, so either the thread's touch is visible
 * to sysmon's load (sysmon withdraws: CAS PROPOSED->NONE), or the thread's
 * load of taken follows that barrier and sees PROPOSED (then the thread
 * withdraws by the same CAS and keeps its P). The hot path pays no fence:
 * a store, a load and a compare.
 * If the touch is still clear, sysmon checks again that the P is RUNNING and
 * held by m (after the barrier, the thread's last stores before it blocked
 * are visible: a bracketed call's enter has cleared p->m), then stamps the
 * goroutine [syscall] for the dump, notes it in m->lost_g, counts nhanded
 * (as retake does), and commits with CAS PROPOSED->TAKEN (acq_rel). It
 * clears p->m, so that no look
 * mistakes the old M for the P's holder before the new one stores itself,
 * and hands the P to a spare M (weft__startm). A failed commit means the
 * thread withdrew: sysmon uncounts.
 *
 * The thread's side (weft__raw_check, the slow path of weft__curp)
 * PROPOSED: withdraw and keep the P. TAKEN: reset taken, drop the P
 * (tls_p = NULL) and return NULL. From then on the goroutine deals with
 * weft as a plain thread does: what it wakes goes to the global queue, its
 * timers to some P; weft__curg still names it (m->lost_g). It returns to a
 * P at its next park (weft__park_lost: the hook runs on the M's g0, which
 * becomes a spare) or at its next yield, spawn, system call or exit, points
 * where it holds no weft lock (weft__rejoin: it queues itself on the global
 * queue and its M becomes a spare, Go's exitsyscall slow path). nhanded
 * falls by one once the goroutine is findable there.
 *
 * Memory order
 * - touch: the thread's release store pairs with sysmon's exchange (acq_rel)
 *   that reads it, so sysmon, and through startm's lock the P's next
 *   holder, see every access the thread made to its P before its last
 *   touch. On the hardware that already covers everything the thread did
 *   before it blocked: membarrier runs a full barrier after all of it. TSan
 *   does not model that, so in TSan builds the users of a P that follow a
 *   weft__curp touch again after their last access (weft__raw_touch_after:
 *   the switch path's resumed(), weft__curg, weft_go's queueing,
 *   weft__fastrand).
 * - taken: sysmon's commit (release) pairs with the thread's CAS (acquire),
 *   which then sees lost_g; the PROPOSED CASes decide the race.
 * - p->m: weft__m_main's release store pairs with sysmon's acquire load, so
 *   sysmon sees the record it points to whole (m0's is made after sysmon
 *   starts). p->m is NULL while the P has no holder: from a system call's
 *   enter (syscall.c) or this take until the next holder stores itself, so
 *   a look never names an M that has let go of the P. tid: relaxed, set
 *   before the M first holds a P.
 * Without membarrier (an old kernel, some emulators) or with WEFT_RAWCALLS=0,
 * raw calls are not noticed. The deterministic schedule mode keeps them, as
 * it keeps the bracketed handoffs: a call's length is the kernel's, so a
 * seed replays the picks, not the handoffs' timing.
 */
#include <fcntl.h>
#include <linux/membarrier.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "sched/runq.h"
#include "sched/runtime.h"

#define S weft__sched_g

/* sysmon's pace (sysmon.c): a take needs two looks at a P stuck with work
 * waiting. While work waits anywhere it looks every RAW_WORK_INTERVAL, so
 * a call longer than that is caught; once one is, or while a P is stuck,
 * every RAW_INTERVAL for RAW_HOT, so that shorter calls are caught too
 * (Go's sysmon likewise runs at 20 us while it retakes, and backs off). */
#define RAW_WORK_INTERVAL WEFT_MS
#define RAW_INTERVAL (50 * WEFT_US)
#define RAW_HOT (20 * WEFT_MS)
/* A thread found computing is not read again for this long. */
#define RAW_QUIET WEFT_MS

static bool enabled; /* written by weft__raw_init, before sysmon starts */

static long membarrier(int cmd) { return syscall(SYS_membarrier, cmd, 0, 0); }

bool weft__raw_init(void) {
  const char *env = getenv("WEFT_RAWCALLS");
  if (env && strcmp(env, "0") == 0)
    return enabled = false;
  if (env && strcmp(env, "1") != 0)
    fprintf(stderr, "weft: ignoring WEFT_RAWCALLS=%s (want 0 or 1)\n", env);
  enabled = membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED) == 0;
  return enabled;
}

/* ---- the thread's side --------------------------------------------------- */

weft__p *weft__raw_check(weft__m *m, weft__p *p) {
  uint32_t t = WEFT__RAW_PROPOSED;
  if (weft__cas_acqrel(&m->taken, &t, WEFT__RAW_NONE))
    return p; /* withdrawn: sysmon's commit fails */
  if (t == WEFT__RAW_NONE)
    return p; /* sysmon withdrew meanwhile */
  /* TAKEN; the failed CAS's acquire pairs with the commit. */
  weft__store_relaxed(&m->taken, WEFT__RAW_NONE);
  weft__store_relaxed(&m->lost_g->status, WEFT__G_RUNNING);
  weft__p_set_current(NULL);
  return NULL;
}

weft__p *weft__rejoin(void) {
  weft__g *g = weft__lost_g();
  if (g) {
    weft__curm()->lost_g = NULL; /* g0 runs next on this M */
    weft__switch_to_g0(g, weft__requeue_lost, g); /* resumes on some P */
  }
  return weft__curp();
}

typedef struct lost_park {
  weft__pending_fn hook;
  void *arg;
} lost_park;

/* Pending hook of a park without a P, on the M's g0. */
static void parked_lost(weft__p *p, void *arg) {
  lost_park a = *(lost_park *)arg; /* g may resume once the hook unlocks */
  if (a.hook)
    a.hook(p, a.arg); /* p is NULL: the hook arms on any P */
  weft__add_seqcst(&S.nhanded, -1); /* after g is findable by its waker */
}

void weft__park_lost(weft__g *g, weft__pending_fn hook, void *arg) {
  lost_park a = {hook, arg};
  weft__curm()->lost_g = NULL;
  weft__switch_to_g0(g, parked_lost, &a);
}

/* ---- sysmon's side ------------------------------------------------------- */

/* Whether nr is a call that weft itself may block in while it uses a P. */
static bool weft_blocks_in(long nr) {
  switch (nr) {
  case SYS_futex:
#ifdef SYS_futex_waitv
  case SYS_futex_waitv:
#endif
  case SYS_mmap:
  case SYS_munmap:
  case SYS_mprotect:
  case SYS_mremap:
  case SYS_madvise:
  case SYS_brk:
  case SYS_epoll_wait: /* an idle P in the poller (io/netpoll.c) */
  case SYS_epoll_pwait:
#ifdef SYS_epoll_pwait2
  case SYS_epoll_pwait2:
#endif
    return true;
  default:
    return false;
  }
}

/* The file reads "running" for a thread on a CPU or runnable, "-1 sp pc"
 * for one blocked outside a call (a page fault), else "nr a1..a6 sp pc". */
bool weft__thread_syscall(long tid, long *nr, uintptr_t *pc) {
  char path[64], buf[256];
  snprintf(path, sizeof path, "/proc/self/task/%ld/syscall", tid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return false;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0 || buf[0] < '0' || buf[0] > '9')
    return false;
  buf[n] = '\0';
  *nr = strtol(buf, NULL, 10);
  const char *last = strrchr(buf, ' ');
  *pc = last ? (uintptr_t)strtoul(last + 1, NULL, 16) : 0;
  return true;
}

/* Whether thread tid is blocked in a system call of the user's. */
static bool in_user_call(int tid) {
  long nr;
  uintptr_t pc;
  return weft__thread_syscall(tid, &nr, &pc) && !weft_blocks_in(nr);
}

static bool has_work(weft__p *p, int64_t now) {
  return weft__load_relaxed(&p->runnext) != NULL || !weft__runq_empty(p) ||
         weft__timers_next(&p->timers) <= now ||
         weft__load_relaxed(&S.gq_len) != 0;
}

/* sysmon's last look at one P. */
typedef struct look {
  weft__m *m; /* NULL: no look to compare with */
  uint32_t schedtick;
  int64_t quiet_until; /* its thread was seen outside a user call: no
                          second read of its state before then */
} look;

/* Takes p from m, whose touch stayed clear since the last look; false if
 * the thread turned out to be in weft. */
static bool take(weft__p *p, weft__m *m, int64_t now) {
  uint32_t t = WEFT__RAW_NONE;
  if (!weft__cas_acqrel(&m->taken, &t, WEFT__RAW_PROPOSED))
    return false; /* an earlier take the thread has not seen yet */
  bool moved = membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) != 0 ||
               weft__load_acquire(&m->touch) != 0 || /* see the header */
               weft__load_acquire(&p->m) != m || /* as the look's loads */
               weft__load_acquire(&p->status) != WEFT__P_RUNNING;
  if (!moved) {
    weft__g *g = p->cur; /* stable: its thread has not touched since */
    if (g == NULL) /* the M's g0 (weft never blocks there so, but still) */
      goto withdraw;
    m->lost_g = g;
    weft__store_relaxed(&g->wait_reason, "syscall"); /* for the dump */
    weft__store_relaxed(&g->wait_since, now);
    weft__store_relaxed(&g->status, WEFT__G_SYSCALL);
    weft__add_seqcst(&S.nhanded, 1); /* before the P can look idle */
    t = WEFT__RAW_PROPOSED;
    if (weft__cas_acqrel(&m->taken, &t, WEFT__RAW_TAKEN)) {
      weft__store_relaxed(&p->m, NULL); /* see the header */
      weft__startm(p);
      return true;
    }
    weft__add_seqcst(&S.nhanded, -1); /* the thread withdrew */
    return false;
  }
withdraw:
  t = WEFT__RAW_PROPOSED;
  weft__cas_acqrel(&m->taken, &t, WEFT__RAW_NONE); /* or the thread did */
  return false;
}

int64_t weft__raw_retake(int64_t now) {
  static look *looks;     /* sysmon's own, as is the rest */
  static int64_t hot_until; /* a take happened lately: look often */
  if (!enabled)
    return WEFT_FOREVER;
  if (looks == NULL && (looks = weft__rt_calloc((size_t)S.nprocs,
                                                sizeof *looks)) == NULL)
    return WEFT_FOREVER; /* no handoffs rather than a wrong one */
  bool work = false, stuck = false;
  for (int i = 0; i < S.nprocs; i++) {
    weft__p *p = S.allp[i];
    look *l = &looks[i];
    /* acquire: pairs with m_main's and the exit's release stores (the
     * record whole) */
    weft__m *m = weft__load_acquire(&p->m);
    /* Its touch before the state: see the header. acq_rel: pairs with
     * weft__raw_touch's release. The status load's acquire pairs with the
     * release stores and CASes of status (syscall.c), so that the second
     * load of p->m sees an enter's clearing if the status shows a later
     * write. */
    bool touched = m && weft__xchg_acqrel(&m->touch, 0) != 0;
    if (m == NULL || weft__load_acquire(&p->status) != WEFT__P_RUNNING ||
        weft__load_relaxed(&p->m) != m) {
      l->m = NULL;
      continue;
    }
    uint32_t tick = weft__load_relaxed(&p->schedtick);
    bool same = l->m == m && l->schedtick == tick && !touched;
    *l = (look){m, tick, same ? l->quiet_until : 0};
    if (!has_work(p, now))
      continue;
    work = true;
    if (!same || now < l->quiet_until)
      continue;
    stuck = true;
    if (!in_user_call(weft__load_relaxed(&m->tid)))
      l->quiet_until = now + RAW_QUIET; /* computing, most likely */
    else if (take(p, m, now)) {
      l->m = NULL;
      hot_until = now + RAW_HOT;
    }
  }
  if (stuck || now < hot_until)
    return RAW_INTERVAL;
  return work ? RAW_WORK_INTERVAL : WEFT_FOREVER;
}
