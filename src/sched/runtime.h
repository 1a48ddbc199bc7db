/* runtime.h -- goroutines (G) and processors (P), after Go's proc.go.
 *
 * Model
 * - A P is a processor: a local run queue, a runnext slot, a timer heap and a
 *   stack cache. Each P is driven by exactly one OS thread for the life of
 *   the process, so Go's M is folded into the P here: an M never hands its P
 *   to another M. (A goroutine that makes a blocking system call therefore
 *   blocks its P; Go would hand the P off. Not yet done.)
 * - The thread's own stack is the P's g0 context: it runs the scheduler loop
 *   (weft__p_main) when no goroutine is runnable locally.
 * - A G is a goroutine. Its record lives at the top of its own stack, so a
 *   parked goroutine that used little stack costs one page in all.
 *
 * Switching
 * Goroutines switch directly to the next local goroutine when there is one,
 * and to g0 otherwise. Whatever must happen only after the outgoing context
 * is saved (releasing the lock that made a park safe, queueing a yielded or
 * spawning goroutine, freeing a dead one's stack) is left in p->pending and
 * run by the incoming context before anything else. So a waker can never
 * resume a goroutine whose registers are not yet saved.
 *
 * Ownership of fields is noted beside each; "owner" is the P's thread.
 */
#ifndef WEFT_RUNTIME_H
#define WEFT_RUNTIME_H

#include <pthread.h>
#include <stdint.h>

#include "arch/arch.h"
#include "base/internal.h"
#include "sched/stack.h"
#include "sched/timerheap.h"

#define WEFT__RUNQ_SIZE 256 /* power of two */

typedef enum weft__gstatus {
  WEFT__G_RUNNABLE,
  WEFT__G_RUNNING,
  WEFT__G_WAITING,
  WEFT__G_DEAD,
} weft__gstatus;

typedef struct weft__g {
  /* First cache line (x86-64): what every spawn and switch touches. */
  weft__ctx ctx;              /* saved registers; whoever switches */
  struct weft__g *schedlink;  /* global queue link; sched.lock */
  void (*fn)(void *);         /* immutable after creation */
  void *arg;
  uint64_t id;                /* immutable */
  weft__stack stack;          /* immutable; the record lies inside it */
  int saved_errno;            /* errno while switched out; the G itself */
  _Atomic int status;         /* weft__gstatus; relaxed, diagnostics only */
  /* Second line. The dump (debug/dump.c) may read a record at any time,
   * even one being reused, so go.c sets every field one by one (no memset
   * over atomics). */
  _Atomic(const char *) wait_reason; /* the G stores it (relaxed) before it
                                 parks; the dump reads it (relaxed) */
  _Atomic int64_t wait_since; /* weft__coarse_now at the park; likewise */
  void *tsan_fiber;           /* TSan fiber; immutable */
  uint64_t parent_id;         /* creating goroutine's id; 0: a thread */
  void *create_pc;            /* where weft_go was called; immutable */
  _Atomic uint32_t magic;     /* WEFT__G_MAGIC, stored (release) last in
                                 creation; the dump's acquire load pairs,
                                 then reads the immutable fields */
  char name[32];              /* immutable; NUL-terminated */
} weft__g;

#define WEFT__G_MAGIC 0x77656674u /* "weft" */

/* Where the record of the goroutine on stack [lo, lo + size) lives: at the
 * top, aligned to a cache line. go.c places it there; debug/dump.c finds
 * it there. */
static inline weft__g *weft__g_of_stack(char *lo, size_t size) {
  uintptr_t top = (uintptr_t)lo + size;
  return (weft__g *)((top - sizeof(weft__g)) &
                     ~(uintptr_t)(WEFT__CACHE_LINE - 1));
}

/* A clock for wait durations, refreshed by sysmon every 1-20 ms, so that a
 * park stamps its start with one relaxed load instead of a clock read. Relaxed
 * everywhere: a stale value only shortens a reported wait. */
extern WEFT_INTERNAL _Atomic int64_t weft__coarse_now;

typedef struct weft__p weft__p;
typedef void (*weft__pending_fn)(weft__p *p, void *arg);

struct weft__p {
  /* Run queue (Go's runq): the owner pushes at tail (release store) and
   * pops at head (CAS); thieves take from head (CAS). Slots are atomics read
   * relaxed: a thief's slot reads are validated by its head CAS (acq_rel),
   * which pairs with the owner's tail release. */
  _Atomic uint32_t runqhead;
  _Atomic uint32_t runqtail;
  _Atomic(weft__g *) runq[WEFT__RUNQ_SIZE];
  _Atomic(weft__g *) runnext; /* owner sets; owner or thief takes by xchg */

  int id;                     /* immutable */
  weft__g *cur;               /* running G, NULL in g0; owner */
  weft__ctx g0;               /* scheduler context; owner */
  weft__pending_fn pending;   /* see header comment; owner */
  void *pending_arg;
  _Atomic uint32_t schedtick; /* switches so far; the owner writes
                                 (relaxed), sysmon reads (relaxed) */
  uint32_t runnext_streak;    /* consecutive runnext picks; owner */
  uint64_t rand;              /* xorshift state; owner */
  uint64_t goid_next, goid_end; /* a batch of ids from sched.goidgen; owner */
  _Atomic int64_t ngo;        /* goroutines started minus ended here; the
                                 owner writes (relaxed), anyone sums */
  bool spinning;              /* owner; the waker while the P is idle */
  bool idle;                  /* on sched.idle; sched.lock */
  weft__p *idle_link;         /* sched.lock */
  _Atomic uint32_t wake;      /* futex word of the idle P (sched.c's
                                 WAKE_* bits): wakers set bits (release),
                                 the owner reads (acquire) and clears */
  weft__stack_cache stacks;   /* owner */
  weft__timers timers;        /* own lock */
  pthread_t thread;           /* written by the P's thread first thing */
  void *g0_stack_lo;          /* for ASan fiber switches; immutable */
  size_t g0_stack_size;
  void *g0_tsan_fiber;
  void *altstack;
};

/* The scheduler's global state (Go's schedt). */
typedef struct weft__sched {
  weft__spinlock lock;          /* global queue and idle list */
  weft__g *gq_head, *gq_tail;   /* global run queue; lock */
  _Atomic int32_t gq_len;       /* written under lock; read relaxed as hint */
  weft__p *idle;                /* idle Ps; lock */
  _Atomic int32_t npidle;       /* written under lock; seq_cst, see wakep */
  _Atomic int32_t nmspinning;   /* seq_cst, see wakep */
  int nprocs;                   /* immutable after start */
  weft__p **allp;               /* immutable after start */
  size_t stack_default;         /* immutable after start */
  _Atomic uint64_t goidgen;     /* relaxed: only uniqueness matters */
  _Atomic int64_t ngo_threads;  /* goroutines started by plain threads;
                                   relaxed: a statistic (see weft__p.ngo) */
} weft__sched;

extern WEFT_INTERNAL weft__sched weft__sched_g;

/* sched.lock, at its rank in the lock order (base/spinlock.h). */
static inline void weft__sched_lock(void) {
  weft__spin_lock_ranked(&weft__sched_g.lock, WEFT__RANK_SCHED);
}
static inline void weft__sched_unlock(void) {
  weft__spin_unlock_ranked(&weft__sched_g.lock, WEFT__RANK_SCHED);
}

/* Whether, at one instant, every P is idle with an empty ring, runnext and
 * global queue, and no P holds a timer: the deadlock detector's conditions
 * (1) and (2) (debug/deadlock.c). Holds sched.lock while it looks, so no P
 * can leave the idle list meanwhile. */
WEFT_INTERNAL bool weft__sched_all_idle(void);

/* Runtime start-up (proc.c), idempotent and cheap once started. */
WEFT_INTERNAL void weft__ensure_started(void);

/* The caller's P (NULL on a plain thread) and G (NULL outside goroutines).
 * Never inlined and opaque to the optimizer: a goroutine may resume on
 * another thread, so a thread-local address must not be reused across a
 * switch. */
WEFT_INTERNAL weft__p *weft__curp(void);
WEFT_INTERNAL weft__g *weft__curg(void);

/* Parks the running goroutine. hook(p, arg) runs on the same thread once
 * the goroutine's context is saved; use it to release the lock that guards
 * the wait. Returns when weft__ready(g) has been called and g rescheduled. */
WEFT_INTERNAL void weft__park(weft__pending_fn hook, void *arg,
                              const char *reason);
/* Where weft__ready and weft__runqput put a goroutine on the caller's P
 * (sched.c's header has the wake-up policy). */
typedef enum weft__put {
  WEFT__PUT_TAIL,  /* the ring's tail (timers: several fired together keep
                      their order; yields) */
  WEFT__PUT_NEXT,  /* runnext: a handoff from the running goroutine, which
                      runs it next */
  WEFT__PUT_LOCAL, /* runnext, and a goroutine it displaces to the ring
                      stays for this P: a lock's waiter */
} weft__put;

/* Makes a parked goroutine runnable: on the caller's P, as put says; or
 * onto the global queue from a plain thread. */
WEFT_INTERNAL void weft__ready(weft__g *g, weft__put put);

/* Scheduling entry points used by go.c. */
WEFT_INTERNAL void weft__runqput(weft__p *p, weft__g *g, weft__put put);
WEFT_INTERNAL void weft__wakep(void);
/* Leaves the running G, whose state the caller has set, for the next
 * runnable one; after the switch the incoming context runs hook(p, arg).
 * dying: the outgoing G will never run again. Returns when it is resumed. */
WEFT_INTERNAL void weft__schedule_away(weft__p *p, weft__g *g,
                                       weft__pending_fn hook, void *arg,
                                       bool dying);
/* Switches from the running G to next (fresh or parked); as above. */
WEFT_INTERNAL void weft__switch_to(weft__p *p, weft__g *from, weft__g *next,
                                   weft__pending_fn hook, void *arg);
/* Adds t to the caller's P's timer heap, or from a plain thread to some P's,
 * waking that P if it sleeps. */
WEFT_INTERNAL void weft__timer_add_any(weft__timer *t);

/* A fast pseudo-random number: the P's generator, or the thread's. */
WEFT_INTERNAL uint64_t weft__fastrand(void);

/* Starts fn(arg) in a goroutine that is only queued, never run at once:
 * for timer callbacks and other code that must not switch. 0 or -ENOMEM. */
WEFT_INTERNAL int weft__go_queued(void (*fn)(void *), void *arg);

/* sysmon (sysmon.c): the monitor thread, started with the Ps. */
WEFT_INTERNAL void weft__sysmon_start(void);
/* Runs the due timers of any P's heap (a spinning P helps a busy one). */
WEFT_INTERNAL void weft__run_due_timers(weft__p *victim, int64_t now);

/* Start-up (proc.c): bind the calling thread to p, then run its scheduler
 * loop forever. */
WEFT_INTERNAL void weft__p_set_current(weft__p *p);
WEFT_INTERNAL _Noreturn void weft__p_main(weft__p *p);
/* The first thing a new goroutine runs after its first switch. */
WEFT_INTERNAL weft__p *weft__landed(void);

#endif
