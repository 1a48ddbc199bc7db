/* runtime.h -- goroutines (G), processors (P) and threads (M), after Go's
 * proc.go.
 *
 * Model
 * - A P is a processor: a local run queue, a runnext slot, a timer heap and a
 *   stack cache. An M is an OS thread that runs goroutines: at any instant
 *   it holds at most one P (its thread-local weft__curp), and a P is held
 *   by at most one M. An idle P keeps its M, asleep on the P's futex word.
 * - A goroutine about to block in the kernel brackets the call with
 *   weft_syscall_enter/_exit (sched/syscall.c): its M keeps the P, marked
 *   WEFT__P_SYSCALL, and sysmon hands a P left so too long to a spare M
 *   (sched/thread.c). Spare Ms, without a P, wait on their own futex word
 *   and retire when idle for long. A goroutine blocked in a raw call, not
 *   bracketed, loses its P the same way once sysmon notices
 *   (sched/rawcall.c); it runs on without one until its next park.
 * - The thread's own stack is its M's g0 context: it runs the scheduler loop
 *   (weft__m_main) when no goroutine is runnable locally.
 * - A G is a goroutine. Its record lives at the top of its own stack, so a
 *   parked goroutine that used little stack costs one page in all.
 *
 * Switching
 * Goroutines switch directly to the next local goroutine when there is one,
 * and to g0 otherwise. Whatever must happen only after the outgoing context
 * is saved (releasing the lock that made a park safe, queueing a yielded or
 * spawning goroutine, freeing a dead one's stack) is left in m->pending and
 * run by the incoming context, on the same thread, before anything else.
 * So a waker can never resume a goroutine whose registers are not yet
 * saved.
 *
 * Ownership of fields is noted beside each; "owner" is the thread that
 * holds the P (or, for an M's fields, the M's own thread).
 */
#ifndef WEFT_RUNTIME_H
#define WEFT_RUNTIME_H

#include <pthread.h>
#include <stdint.h>

#include "arch/arch.h"
#include "base/internal.h"
#include "base/sanitizer.h"
#include "sched/stack.h"
#include "sched/timerheap.h"

#define WEFT__RUNQ_SIZE 256 /* power of two */

typedef enum weft__gstatus {
  WEFT__G_RUNNABLE,
  WEFT__G_RUNNING,
  WEFT__G_WAITING,
  WEFT__G_DEAD,
  WEFT__G_SYSCALL, /* between weft_syscall_enter and _exit */
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
/* A pending hook; p is the P the running thread holds then (NULL when a
 * goroutine left a system call to find its P taken). */
typedef void (*weft__pending_fn)(weft__p *p, void *arg);

/* weft__p.status: who may use the P. */
enum {
  WEFT__P_RUNNING = 0, /* held by an M, running or idle */
  WEFT__P_SYSCALL = 1, /* its M runs a goroutine in a system call: free for
                          the taking by a CAS (sysmon's retake, or that
                          goroutine's weft_syscall_exit) */
};

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
  _Atomic(struct weft__m *) m; /* the M that holds it; set by each new
                                 holder (so the switch path needs no
                                 second thread-local lookup); the holder
                                 writes (release), sysmon reads (acquire)
                                 to find a raw call's thread */
  _Atomic uint32_t status;    /* WEFT__P_*: see sched/syscall.c */
  _Atomic uint32_t syscalltick; /* system calls entered; the owner writes
                                 (relaxed), sysmon reads (relaxed) */
  _Atomic int64_t syscall_since; /* weft__coarse_now at the last enter;
                                 likewise */
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
                                 WAKE_* bits): wakers set bits (seq_cst),
                                 the owner reads (acquire) and clears */
  _Atomic uint32_t in_poll;   /* 1 while the idle P's thread blocks in the
                                 poller instead of on wake: the owner
                                 stores, then reads wake; a waker sets wake,
                                 then reads in_poll (a Dekker pair, seq_cst
                                 on both sides: sched.c's kick) */
  weft__stack_cache stacks;   /* owner */
  weft__timers timers;        /* own lock */
};

/* A thread that runs goroutines (Go's M). Its fields are its own thread's,
 * but for those marked otherwise. */
typedef struct weft__m weft__m;
struct weft__m {
  weft__ctx g0;               /* the thread's scheduler context */
  weft__pending_fn pending;   /* see the header comment */
  void *pending_arg;
  /* Raw blocking calls (sched/rawcall.c has the protocol). */
  _Atomic uint32_t touch;     /* set to 1 (release) by weft__curp and the
                                 switch; sysmon reads and clears it by
                                 exchange (acq_rel) */
  _Atomic uint32_t taken;     /* WEFT__RAW_*: sysmon proposes and commits
                                 by CAS, the thread withdraws or accepts */
  weft__g *lost_g;            /* the goroutine whose P a raw call lost:
                                 sysmon writes before its commit (release),
                                 then the M's own thread */
  _Atomic int tid;            /* the kernel's thread id; set (relaxed) by
                                 the thread before it holds a P */
  weft__g *syscall_g;         /* the goroutine in weft_syscall_enter, or
                                 NULL */
  weft__p *nextp;             /* the P a starter hands over; written under
                                 sched.lock before the wake */
  weft__m *idle_link;         /* sched.midle; sched.lock */
  bool spare;                 /* on sched.midle; sched.lock */
  bool m0;                    /* the main thread (weft_main); immutable */
  _Atomic uint32_t wake;      /* futex word of a spare M: its starter
                                 stores 1 (release) after nextp */
  int id;                     /* immutable */
  pthread_t thread;
  void *g0_stack_lo;          /* for ASan fiber switches */
  size_t g0_stack_size;
  void *g0_tsan_fiber;
  void *altstack;
};

/* The network poller, as the scheduler sees it (io/netpoll.c implements
 * it; sched/ cannot include io/, so io/ registers these at its start).
 * wait blocks in the poller until readiness, a break, or the absolute
 * time until (0: do not block; WEFT_FOREVER: no timeout), keeping what it
 * found in a buffer of the calling thread: it returns how many events it
 * kept. deliver then readies the goroutines and threads those events wake
 * (weft__ready: on the caller's P, or the global queue) and returns how
 * many. brk makes a blocked wait return soon (Go's netpollBreak). */
typedef struct weft__poller {
  int (*wait)(int64_t until);
  int (*deliver)(void);
  void (*brk)(void);
} weft__poller;

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
  weft__m *midle;               /* spare Ms; lock */
  _Atomic int32_t nm;           /* live Ms: incremented before one is
                                   created, decremented before it exits */
  _Atomic int32_t mnext;        /* M ids; relaxed */
  _Atomic int32_t max_threads;  /* the limit on nm; relaxed */
  _Atomic int32_t nhanded;      /* goroutines in a system call whose P was
                                   handed off; seq_cst (deadlock.c) */
  int64_t spare_idle_ns;        /* a spare M retires after this; immutable
                                   after start */
  bool has_m0;                  /* the main thread is P 0's M (weft_main);
                                   immutable after start */
  /* The poller (Go's netpollWaiters, sched.lastpoll). */
  _Atomic(const weft__poller *) poller; /* set once (release) by io/;
                                   read acquire */
  _Atomic int32_t io_waiters;   /* parties parked on an fd: each adds 1
                                   before it can be found and takes it off
                                   after it is woken (seq_cst: the
                                   deadlock check reads it with nhanded) */
  _Atomic int32_t polling;      /* 1 while a thread blocks in the poller:
                                   taken by CAS (acq_rel), cleared
                                   (release) */
  _Atomic int64_t lastpoll;     /* weft_now() at the last poll; relaxed:
                                   sysmon's hint */
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
 * global queue, no P holds a timer, no goroutine is in a system call and
 * nobody waits on an fd: the deadlock detector's conditions (1) and (2)
 * (debug/deadlock.c). Holds sched.lock while it looks, so no P can leave
 * the idle list meanwhile. */
WEFT_INTERNAL bool weft__sched_all_idle(void);

/* Registers the poller (once; io/netpoll.c). */
WEFT_INTERNAL void weft__sched_set_poller(const weft__poller *poller);
/* One poll that does not block, readying what it finds, from a thread
 * that may or may not hold a P (find_runnable, sysmon): how many it
 * readied. Free when nobody waits on an fd. */
WEFT_INTERNAL int weft__poll_now(void);

/* Runtime start-up (proc.c), idempotent and cheap once started. */
WEFT_INTERNAL void weft__ensure_started(void);
/* In the child of a fork(2) of a started runtime (proc.c): true, and what
 * would need the scheduler aborts, naming what it was. */
extern WEFT_INTERNAL bool weft__forked_child;
WEFT_INTERNAL _Noreturn void weft__fork_misuse(const char *what);

/* The caller's P (NULL on a plain thread), G (NULL outside goroutines) and
 * M (NULL on a plain thread). Never inlined and opaque to the optimizer: a
 * goroutine may resume on another thread, so a thread-local address must
 * not be reused across a switch.
 * weft__curp is also where a goroutine back from a raw blocking call learns
 * that sysmon gave its P away (sched/rawcall.c): it then returns NULL, and
 * the goroutine goes on as a plain thread would (weft__curg still names it)
 * until its next park, yield, spawn, system call or exit, where it queues
 * itself for a P (weft__rejoin). */
WEFT_INTERNAL weft__p *weft__curp(void);
WEFT_INTERNAL weft__g *weft__curg(void);
WEFT_INTERNAL weft__m *weft__curm(void);

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
/* Adds t to p's timer heap, waking p if it is another thread's. */
WEFT_INTERNAL void weft__timer_add_on(weft__p *p, weft__timer *t);

/* A fast pseudo-random number: the P's generator, or the thread's. */
WEFT_INTERNAL uint64_t weft__fastrand(void);

/* Starts fn(arg) in a goroutine that is only queued, never run at once:
 * for timer callbacks and other code that must not switch. 0 or -ENOMEM. */
WEFT_INTERNAL int weft__go_queued(void (*fn)(void *), void *arg);
/* The same for goroutine 1 (weft_main): its dump shows no "created by". */
WEFT_INTERNAL int weft__go_main(void (*fn)(void *), void *arg);

/* sysmon (sysmon.c): the monitor thread, started with the Ps. */
WEFT_INTERNAL void weft__sysmon_start(void);
/* Runs the due timers of any P's heap (a spinning P helps a busy one). */
WEFT_INTERNAL void weft__run_due_timers(weft__p *victim, int64_t now);

/* Binds the calling thread to p (NULL: none) and to its M. */
WEFT_INTERNAL void weft__p_set_current(weft__p *p);
WEFT_INTERNAL void weft__m_set_current(weft__m *m);
/* The body of every M's thread, its g0 context, holding p: runs goroutines
 * while it holds a P, waits as a spare while it holds none, and returns
 * when it retires. */
WEFT_INTERNAL void weft__m_main(weft__m *m, weft__p *p);
/* Threads (thread.c). startm gives p to a spare M, or to a new one; it
 * aborts when the thread limit is reached. stopm parks the calling M as a
 * spare: it returns the P handed to it, or NULL when it retires. */
WEFT_INTERNAL void weft__startm(weft__p *p);
WEFT_INTERNAL weft__p *weft__stopm(weft__m *m);
/* weft_main (main.c): starts the runtime with the calling thread as P 0's
 * M-to-be and returns P 0, or NULL if the runtime had already started. */
WEFT_INTERNAL weft__p *weft__start_as_m0(void);
/* Makes the calling thread p's M for good (Go's m0), holding p. */
WEFT_INTERNAL weft__m *weft__m0_bind(weft__p *p);
/* Leaves the running goroutine g, which has lost its P (a system call's
 * exit found it taken), for the M's g0; hook(NULL, arg) runs there. */
WEFT_INTERNAL void weft__switch_to_g0(weft__g *g, weft__pending_fn hook,
                                      void *arg);
/* sysmon: hands every P left in a system call too long to a spare M.
 * Returns whether any P is in a system call now. */
WEFT_INTERNAL bool weft__retake(int64_t now);
/* The thread's side of the raw-call handshake (rawcall.c): touch = 1 tells
 * sysmon, which clears it at each look, that the thread has been in weft
 * since. Release: sysmon's exchange then sees the thread's writes to its P.
 * One store: it is on every switch and every weft__curp. */
static inline void weft__raw_touch(weft__m *m) {
  weft__store_release(&m->touch, 1);
}
/* A touch after the caller's last use of its P, for ThreadSanitizer alone:
 * on the hardware, sysmon's membarrier orders everything the thread did
 * before it blocked, but TSan does not model that fence and needs an edge
 * from the last access. Free in other builds. */
static inline void weft__raw_touch_after(weft__m *m) {
#if defined(WEFT_TSAN)
  weft__raw_touch(m);
#else
  (void)m;
#endif
}
/* Raw blocking calls (rawcall.c). The states of weft__m.taken: */
enum {
  WEFT__RAW_NONE = 0,
  WEFT__RAW_PROPOSED = 1, /* sysmon is about to take the M's P */
  WEFT__RAW_TAKEN = 2,    /* it did: the thread learns at its next curp */
};
/* weft__curp's slow path: m->taken was not NONE. Returns p if the thread
 * keeps it, NULL if it lost it. */
WEFT_INTERNAL weft__p *weft__raw_check(weft__m *m, weft__p *p);
/* sysmon: takes the P of a thread blocked in a raw call while work waits.
 * Returns how soon sysmon should look again (WEFT_FOREVER: no need). */
WEFT_INTERNAL int64_t weft__raw_retake(int64_t now);
/* Sets up raw-call detection (sysmon's start): false if unavailable. */
WEFT_INTERNAL bool weft__raw_init(void);
/* Whether thread tid of this process is blocked in a system call, and
 * which (nr) at what return address (pc): /proc/self/task/TID/syscall. */
WEFT_INTERNAL bool weft__thread_syscall(long tid, long *nr, uintptr_t *pc);
/* The goroutine running on this thread without a P, or NULL. */
WEFT_INTERNAL weft__g *weft__lost_g(void);
/* At a point where the caller holds no weft lock: if the running goroutine
 * lost its P, queues it for one and returns once it runs on a P again.
 * Returns the caller's P (NULL on a plain thread). */
WEFT_INTERNAL weft__p *weft__rejoin(void);
/* Parks g, which has no P, as weft__park would: hook(NULL, arg) runs on
 * the M's g0, which then waits as a spare. */
WEFT_INTERNAL void weft__park_lost(weft__g *g, weft__pending_fn hook,
                                   void *arg);
/* The hook that puts a goroutine whose P was taken on the global queue. */
WEFT_INTERNAL void weft__requeue_lost(weft__p *p, void *g);
/* The first thing a new goroutine runs after its first switch. */
WEFT_INTERNAL weft__p *weft__landed(void);

#endif
