/*
 * weft.h -- Go's concurrency model for C11.
 *
 * Goroutines run M:N on OS threads under a work-stealing scheduler. This is
 * the one public header; every public name starts with weft_ (WEFT_ for
 * macros).
 *
 * Conventions
 * - Functions return 0 (or a count) on success and a negative errno value on
 *   failure (-EINVAL, -ENOMEM, -EBUSY, ...); strerror(-rc) explains it.
 *   Nothing reports through errno: errno is thread-local and goroutines
 *   migrate between threads.
 * - Times are int64_t nanoseconds on the monotonic clock (weft_now()).
 * - Programming errors that Go turns into panics (a negative WaitGroup
 *   counter, a stack overflow) abort the process with a message that starts
 *   with "weft: " and names the call. Before the message, stdout is
 *   flushed (unless another thread holds it, or the abort comes from the
 *   stack-overflow handler), so that a piped program's output is kept.
 * - Any OS thread may call any blocking weft function. Inside a goroutine it
 *   parks the goroutine; on a plain thread (main included) it blocks the
 *   thread on a futex. The runtime starts itself on first use.
 *
 * Migration hazards (read this once)
 * - A goroutine may resume on another OS thread after any call that can
 *   block or yield. weft saves and restores errno per goroutine, by value.
 *   glibc declares __errno_location() const, so within one function the
 *   compiler may reuse the address of the old thread's errno across a weft
 *   call. This header therefore redefines errno, as libgo and bthread do,
 *   as (*weft_errno_location()): a call the compiler must repeat after
 *   every other call, so errno is right in code written as usual, the
 *   read/EAGAIN/park/retry loop included. Define WEFT_NO_ERRNO_MACRO before
 *   including weft.h to keep glibc's errno (and then read errno into a
 *   local before any weft call that may block or yield).
 * - The macro cannot help your own _Thread_local variables: their address
 *   may be cached across a blocking call just the same. Read them through
 *   an accessor defined in another file (or marked noinline, with an empty
 *   asm memory barrier in it), or keep per-goroutine state in the
 *   goroutine's argument instead.
 * - The signal mask and other per-thread attributes (scheduling policy, CPU
 *   affinity, pthread_setspecific values) belong to the OS thread, not to the
 *   goroutine. Do not change them from a goroutine.
 * - Scheduling is cooperative: a goroutine runs until it blocks, yields or
 *   returns. A goroutine that spins forever without calling weft keeps its
 *   processor (P) to itself; other Ps keep running other goroutines.
 *
 * Finding races (Go's -race)
 * - Build weft with -DWEFT_RACE=ON (clang) and your program with
 *   $(pkg-config --cflags --libs weft-race): ThreadSanitizer then reports
 *   every data race with both goroutines' stacks. Exactly the
 *   happens-before edges of Go's memory model count: channel operations
 *   and close, the sync calls below, context cancellation, timers and
 *   weft_go. Goroutines that only ran one after another on a thread are
 *   not ordered by that. See README "Finding races" and src/debug/race.c.
 */
#ifndef WEFT_H
#define WEFT_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define WEFT_API __attribute__((visibility("default")))
#else
#define WEFT_API
#endif

#define WEFT_VERSION_MAJOR 0
#define WEFT_VERSION_MINOR 1

/* ---- errno -------------------------------------------------------------- */

/* The calling thread's errno, like __errno_location(), but not declared
 * const: see "Migration hazards" above. */
WEFT_API int *weft_errno_location(void);
#ifndef WEFT_NO_ERRNO_MACRO
#undef errno
#define errno (*weft_errno_location())
#endif

/* ---- time -------------------------------------------------------------- */

#define WEFT_NS ((int64_t)1)
#define WEFT_US ((int64_t)1000)
#define WEFT_MS ((int64_t)1000000)
#define WEFT_SEC ((int64_t)1000000000)
/* A deadline that never expires. */
#define WEFT_FOREVER INT64_MAX

/* Nanoseconds on CLOCK_MONOTONIC. Deadlines are absolute weft_now() times. */
WEFT_API int64_t weft_now(void);

/* ---- runtime ----------------------------------------------------------- */

/* Default goroutine stack: 64 KiB of address space; only the touched pages
 * cost memory (a parked goroutine typically touches one page). Sanitizer
 * builds use 256 KiB because instrumented frames are larger. */
#define WEFT_STACK_DEFAULT ((size_t)64 * 1024)
#define WEFT_STACK_MIN ((size_t)16 * 1024)
#define WEFT_STACK_MAX ((size_t)1024 * 1024 * 1024)

typedef struct weft_config {
  int procs;         /* number of Ps; 0 = $WEFT_PROCS or the CPU count */
  size_t stack_size; /* default stack for weft_go; 0 = WEFT_STACK_DEFAULT */
  uint64_t sched_seed; /* nonzero: the deterministic schedule mode with this
                          seed (below); 0 = $WEFT_SCHED_SEED, else off */
  int deadlock_check; /* deadlock detection (see weft_dump): > 0 on, < 0
                         off, 0 = $WEFT_DEADLOCK (0 off, 1 on), else on */
} weft_config;

/* Optional: configure the runtime before first use. Returns 0, -EINVAL for a
 * bad value, or -EBUSY once the runtime has started. */
WEFT_API int weft_init(const weft_config *cfg);

/* Deterministic schedule mode, for testing (the spirit of Go's race mode,
 * which randomizes its scheduler). Turned on by weft_config.sched_seed or
 * the environment: WEFT_SCHED_SEED=N (a nonzero decimal seed) or
 * WEFT_SCHED_SEED=random (a seed from the clock, printed to stderr at
 * start-up). 0, unset or invalid (with a warning): the normal scheduler.
 * - The runtime runs one P, whatever procs or WEFT_PROCS say (weft_procs
 *   reports 1): one OS thread runs every goroutine.
 * - Every choice of the next goroutine is drawn from one generator seeded
 *   with the seed: uniformly among all runnable goroutines; weft_go runs the
 *   child first or the parent first by a coin; and at every synchronization
 *   point (the entry and exit of channel operations, select, mutex,
 *   rwmutex, WaitGroup, once, cond, semaphore, context cancel, timer
 *   stop/reset and weft_go) the running goroutine yields with probability
 *   1/2. Interleavings that the normal scheduler almost never produces turn
 *   up within a few hundred seeds.
 * - A runtime abort (weft: ...) then also prints "weft: schedule seed N
 *   (replay: WEFT_SCHED_SEED=N)".
 * - Replay: the same seed, program and inputs give the same interleaving of
 *   goroutines that interact only with each other. Outside the generator
 *   are timers, deadlines and sleeps (they fire by the clock), plain
 *   threads, main included (they run on their own, and the order in which
 *   they start or wake goroutines is theirs), and the program's own clock
 *   reads and I/O. So a replayable test starts one root goroutine from main
 *   and lets it start and wait for the rest.
 * - A goroutine that busy-waits for another without a weft call never lets
 *   it run: with one P that hangs (as it would with GOMAXPROCS=1).
 * weft_sched_seed returns the seed in use, or 0 in the normal mode (before
 * start-up: what start-up will use). */
WEFT_API uint64_t weft_sched_seed(void);

/* runtime.GOMAXPROCS. n <= 0 queries. n > 0 before the runtime starts sets
 * the number of Ps and returns the previous value; after it starts, n equal
 * to the current value returns it and any other n returns -EBUSY (Ps are
 * fixed for the life of the process). The default is the CPU count, or the
 * environment variable WEFT_PROCS; the deterministic schedule mode (above)
 * always runs 1. */
WEFT_API int weft_procs(int n);

/* ---- goroutines -------------------------------------------------------- */

typedef struct weft_go_options {
  size_t stack_size; /* 0 = default; else WEFT_STACK_MIN..WEFT_STACK_MAX,
                        rounded up to a power of two */
  const char *name;  /* copied (up to 31 bytes); NULL = unnamed */
} weft_go_options;

/* Start fn(arg) in a new goroutine. Returns 0, -EINVAL if fn is NULL or an
 * option is out of range, or -ENOMEM (nothing is leaked then).
 *
 * Called from a goroutine, the new goroutine runs at once on the caller's P
 * and the caller continues as soon as the child blocks, yields or returns,
 * unless another P steals the caller first (work-first, as in Cilk: spawning
 * stays cheap and fork-join trees spread over the Ps). Called from a plain
 * thread, the goroutine is queued and an idle P is woken. Go promises no
 * order between a spawner and its child; neither does weft. */
WEFT_API int weft_go(void (*fn)(void *arg), void *arg);
WEFT_API int weft_go_opts(void (*fn)(void *arg), void *arg,
                          const weft_go_options *opts);

/* runtime.Gosched: let other goroutines run. On a plain thread: sched_yield. */
WEFT_API void weft_yield(void);

/* time.Sleep. ns <= 0 returns at once. Returns 0. */
WEFT_API int weft_sleep(int64_t ns);

/* The current goroutine's id (1, 2, ...), or 0 on a plain thread. */
WEFT_API uint64_t weft_goid(void);

/* The index (0 .. weft_procs(0)-1) of the P running the caller, or -1 on a
 * plain thread, and in a goroutine back from a raw blocking call whose P
 * was handed off, until its next park or yield (see weft_syscall_enter).
 * It may change after any blocking call. */
WEFT_API int weft_proc_id(void);

/* Goroutines started and not yet returned. */
WEFT_API int weft_num_goroutines(void);

/* ---- main as goroutine 1 ------------------------------------------------
 *
 * "When a Go program starts, its single goroutine calls main()." weft_main
 * does that for C: it runs fn(argc, argv) as goroutine 1, with the calling
 * thread (call it from main) serving as one of the Ps' threads, so main's
 * sends, receives and spawns are goroutine switches, never a futex round
 * trip, and the dump and the deadlock report show main as goroutine 1:
 *
 *   static int real_main(int argc, char **argv) { ... return 0; }
 *   WEFT_MAIN(real_main)   // int main(int argc, char **argv) { ... }
 *
 * When fn returns, the process exits with its return value, as a Go
 * program does when main returns: exit(3) runs the atexit handlers and
 * flushes stdio; goroutines still running are not waited for (wait for
 * them in fn with a waitgroup or a group). Call weft_init before, if at
 * all. weft_main returns only on error: -EINVAL for a NULL fn, -EBUSY if
 * the runtime has already started (any goroutine, timer or blocking weft
 * call before it). The main thread stays one of weft's threads for good.
 * Under LeakSanitizer, memory that only the stacks of main's caller or of
 * parked goroutines point to is reported as leaked when main returns:
 * LSan scans the stack it runs on, goroutine 1's. */
WEFT_API int weft_main(int (*fn)(int argc, char **argv), int argc,
                       char **argv);
#define WEFT_MAIN(fn)                                                         \
  int main(int argc, char **argv) { return weft_main((fn), argc, argv); }

/* ---- fork ----------------------------------------------------------------
 *
 * fork(2) copies only the calling thread. In the child of a process whose
 * runtime had started (any goroutine, timer or blocking weft call before
 * the fork), the other goroutines and weft's threads do not exist, so weft
 * never pretends they do: weft_go and every blocking weft call abort with
 * "weft: <call> in a child process after fork(): ...", and the calling
 * thread, even if it was a goroutine, is a plain thread there. exec (and
 * posix_spawn, system) work as usual, and so do calls that never block
 * on a channel nobody else holds. A child forked before weft's first use
 * starts a runtime of its own. Go has no fork at all. */

/* ---- blocking calls (Go's entersyscall/exitsyscall) -------------------- */

/* Bracket a call that may block in the kernel or in a blocking library (a
 * read of a file or pipe, fsync, waitpid, getaddrinfo, a database client):
 *
 *   weft_syscall_enter();
 *   ssize_t n = read(fd, buf, len);
 *   int err = errno;            // read errno before the exit: see below
 *   weft_syscall_exit();
 *
 * While a goroutine is inside, its P keeps running other goroutines: if
 * the call lasts past a sysmon look or two (tens of microseconds) and the
 * P has other work, or no other P is idle, or it lasts over 10 ms, the P
 * is handed to another thread. On exit the goroutine takes its P back if
 * it is still free (one atomic compare-and-swap when the call was short);
 * otherwise it is queued and an idle P runs it, possibly on another thread
 * (so read errno, which is per thread, before weft_syscall_exit when a
 * loop around the call may cache its address). Between the two calls make
 * no weft call and touch nothing that belongs to goroutines: the goroutine
 * runs without a P. A second enter before the exit, or an exit without an
 * enter, aborts with a message naming the call. On a plain thread both are
 * no-ops (a plain thread blocks only itself). The dump shows such a
 * goroutine as [syscall, N seconds]; the deadlock report never counts it
 * as asleep.
 *
 * Raw calls, without the bracket, are noticed too (beyond Go): when a P
 * has stopped switching while work waits for it, and its thread is asleep
 * in a system call (the kernel says which, in /proc/self/task/TID/syscall),
 * sysmon hands the P to another thread as for a bracketed call, within a
 * millisecond or so (sooner while such calls keep coming). The goroutine
 * then runs on without a P, as a plain thread would: its wakes go to the
 * global queue, weft_goid is still its own, weft_proc_id is -1; at its next
 * park, yield, weft_go, system call or return it waits for a P again. A
 * goroutine that computes is never taken (scheduling stays cooperative),
 * nor one blocked in futex(2): a pthread mutex or condition variable, or
 * malloc's locks, which weft uses itself. Bracket those, and any call you
 * know blocks: a bracketed call is handed off sooner and costs less.
 * WEFT_RAWCALLS=0 turns the noticing off; it needs membarrier(2) (Linux
 * 4.14) and is off without it.
 *
 * Threads are made as handoffs need them, and a thread left without work
 * for 5 s (WEFT_THREAD_IDLE_MS) exits. weft_procs still counts Ps: the
 * process may have more threads than Ps. */
WEFT_API void weft_syscall_enter(void);
WEFT_API void weft_syscall_exit(void);

/* debug.SetMaxThreads: the most threads weft may run goroutines and blocking
 * calls on (Ps' threads and handed-off ones together; not sysmon or plain
 * threads). Default 10,000, or WEFT_MAX_THREADS. Making one more aborts
 * with "weft: thread limit reached: N threads ...", as Go crashes. Returns
 * the previous limit, or -EINVAL for n < 1. */
WEFT_API int weft_set_max_threads(int n);

/* ---- sync.WaitGroup ---------------------------------------------------- */

/* Embed it anywhere; WEFT_WAITGROUP_INIT (all zero) is a ready WaitGroup and
 * no destroy call is needed. */
typedef struct weft_waitgroup {
  uint64_t opaque_[4];
} weft_waitgroup;
#define WEFT_WAITGROUP_INIT {{0, 0, 0, 0}}

/* Add delta to the counter. A negative result aborts ("weft: sync: negative
 * WaitGroup counter"). Reaching zero releases every waiter. */
WEFT_API void weft_wg_add(weft_waitgroup *wg, int64_t delta);
/* weft_wg_add(wg, -1). */
WEFT_API void weft_wg_done(weft_waitgroup *wg);
/* Block until the counter is zero. */
WEFT_API void weft_wg_wait(weft_waitgroup *wg);


/* ---- channels ---------------------------------------------------------- */

/* A channel of elements of elem_size bytes, copied in and out by value.
 * Channels are reference counted (Go has a garbage collector, C does not):
 * weft_chan_make returns one reference, weft_chan_ref adds one, and
 * weft_chan_unref drops one, freeing the channel at zero. Closing is
 * separate from freeing. Every party that may still use a channel should
 * hold a reference; using one after its last unref is undefined. Builds
 * with WEFT_DEBUG_CHECKS (on by default in CMake Debug builds) catch it:
 * any call then aborts with "channel ... used after its last
 * weft_chan_unref in <call> (goroutine N)".
 *
 * A NULL weft_chan * is Go's nil channel: send and receive block forever
 * (or until their deadline), and a select case on it is never ready. */
typedef struct weft_chan weft_chan;

/* cap 0: unbuffered (each send waits for its receiver). elem_size 0: a
 * signal channel (chan struct{}); elem pointers may then be NULL. Returns
 * NULL if out of memory, if elem_size > 65536, or if cap * elem_size
 * overflows. */
WEFT_API weft_chan *weft_chan_make(size_t elem_size, size_t cap);
/* Adds a reference; returns c. */
WEFT_API weft_chan *weft_chan_ref(weft_chan *c);
/* Drops a reference; the last one frees c. Aborts if c had none left. */
WEFT_API void weft_chan_unref(weft_chan *c);

/* Sends *elem. Returns 0 once the value is in the buffer or, unbuffered,
 * taken by a receiver; -EPIPE if c is closed, also for a sender blocked
 * when the close came. Go panics there; weft returns an error instead, so
 * that a producer can notice a shutdown and stop. -EINVAL if elem is NULL
 * and c's elements are not of size 0. */
WEFT_API int weft_send(weft_chan *c, const void *elem);
/* Receives into *elem (may be NULL to discard). Returns 1 for a value, or 0
 * once c is closed and drained, with *elem zeroed. */
WEFT_API int weft_recv(weft_chan *c, void *elem);
/* As above, giving up at the absolute deadline with -ETIMEDOUT. A deadline
 * already past makes the call non-blocking (Go's select with default). */
WEFT_API int weft_send_dl(weft_chan *c, const void *elem, int64_t deadline);
WEFT_API int weft_recv_dl(weft_chan *c, void *elem, int64_t deadline);
/* Closes c: every blocked receiver gets 0, every blocked sender -EPIPE, and
 * values already buffered are still delivered. Returns 0, or -EINVAL for
 * NULL. Closing a closed channel is a program error, as in Go: it aborts
 * with "weft: close of closed channel in weft_close (goroutine N)". */
WEFT_API int weft_close(weft_chan *c);
/* Values buffered now, and the capacity. 0 for NULL. */
WEFT_API size_t weft_chan_len(weft_chan *c);
WEFT_API size_t weft_chan_cap(weft_chan *c);

/* ---- select ------------------------------------------------------------ */

enum { WEFT_CASE_RECV = 1, WEFT_CASE_SEND = 2 };

/* One case of a select. ok is an output: for the receive case that ran,
 * 1 = got a value, 0 = the channel is closed (elem zeroed). */
typedef struct weft_case {
  weft_chan *chan;
  void *elem;
  int dir;
  int ok;
} weft_case;

#define WEFT_RECV(c, p) ((weft_case){(c), (p), WEFT_CASE_RECV, 0})
#define WEFT_SEND(c, p) ((weft_case){(c), (void *)(p), WEFT_CASE_SEND, 0})

/* Go's select: waits until one case can run, runs it, and returns its index.
 * Among ready cases the choice is uniformly random. Cases on NULL channels
 * are never ready; n == 0 blocks forever. Returns -EPIPE if the chosen case
 * is a send on a closed channel (Go panics there), -EINVAL for a bad case
 * array (a direction that is neither, or a send case with a NULL elem on a
 * channel whose elements are not of size 0). */
WEFT_API int weft_select(weft_case *cases, int n);
/* As weft_select, or -ETIMEDOUT at the deadline; a past deadline makes it
 * non-blocking (Go's default case). */
WEFT_API int weft_select_dl(weft_case *cases, int n, int64_t deadline);

/* ---- timers (Go's time package) ---------------------------------------- */

/* time.After: a channel of int64_t (the weft_now() of the firing) that
 * receives one value after ns. The caller owns one reference: unref it.
 * Returns NULL if out of memory. */
WEFT_API weft_chan *weft_after(int64_t ns);

typedef struct weft_timer weft_timer;

/* time.NewTimer: fires once, ns from now, into its channel (capacity 1,
 * int64_t values). Returns NULL if out of memory. */
WEFT_API weft_timer *weft_timer_new(int64_t ns);
/* time.NewTicker: fires every period (> 0) into its channel, dropping ticks
 * a slow receiver misses. NULL if out of memory or period <= 0. */
WEFT_API weft_timer *weft_ticker_new(int64_t period);
/* The timer's channel; valid until weft_timer_free (ref it to keep it). */
WEFT_API weft_chan *weft_timer_chan(weft_timer *t);
/* Stops t. Returns 1 if that prevented a firing, 0 if t had already fired
 * or been stopped. As in Go 1.23, no value from before the stop is received
 * afterwards: a fired value not yet received is discarded (and counts as
 * prevented). */
WEFT_API int weft_timer_stop(weft_timer *t);
/* Re-arms t to fire ns from now (a ticker: with period ns). Returns 1 if t
 * was active. As with stop, a value pending from before is discarded.
 * -EINVAL for a ticker period <= 0. */
WEFT_API int weft_timer_reset(weft_timer *t, int64_t ns);
/* Stops t and drops its reference to the channel. */
WEFT_API void weft_timer_free(weft_timer *t);

/* ---- sync: Mutex, RWMutex, Once, Cond, semaphore ------------------------ */

/* All are plain structs to embed anywhere, ready when zeroed (their
 * WEFT_*_INIT), with no destroy call. They park goroutines, never the OS
 * thread, and work from plain threads too (blocking the thread). Like a
 * pthread mutex, none may be freed while a call on it may still be running
 * in another goroutine. */

/* sync.Mutex, after Go's design: one CAS when free, a short spin when that
 * pays, then a FIFO wait; a waiter that waits over 1 ms switches the mutex to
 * starvation mode, where unlock hands it straight to the longest waiter.
 * Unlocking an unlocked mutex aborts ("weft: sync: unlock of unlocked
 * mutex"). A mutex is not tied to a goroutine: any one may unlock it. */
typedef struct weft_mutex {
  uint64_t opaque_[5];
} weft_mutex;
#define WEFT_MUTEX_INIT {{0, 0, 0, 0, 0}}
WEFT_API void weft_mutex_lock(weft_mutex *m);
WEFT_API void weft_mutex_unlock(weft_mutex *m);
/* 1 if it took the lock, 0 if the lock is held (or being handed over). */
WEFT_API int weft_mutex_trylock(weft_mutex *m);

/* sync.RWMutex: many readers or one writer. A writer that waits holds back
 * new readers, so writers do not starve. Unlocking one that is not locked
 * the right way aborts. */
typedef struct weft_rwmutex {
  uint64_t opaque_[16];
} weft_rwmutex;
#define WEFT_RWMUTEX_INIT {{0}}
WEFT_API void weft_rwmutex_rlock(weft_rwmutex *rw);
WEFT_API void weft_rwmutex_runlock(weft_rwmutex *rw);
WEFT_API void weft_rwmutex_lock(weft_rwmutex *rw);
WEFT_API void weft_rwmutex_unlock(weft_rwmutex *rw);
/* 1 if taken, 0 if not. */
WEFT_API int weft_rwmutex_tryrlock(weft_rwmutex *rw);
WEFT_API int weft_rwmutex_trylock(weft_rwmutex *rw);

/* sync.Once: fn(arg) runs exactly once across all callers; concurrent
 * callers wait until it has returned. */
typedef struct weft_once {
  uint64_t opaque_[6];
} weft_once;
#define WEFT_ONCE_INIT {{0}}
WEFT_API void weft_once_do(weft_once *o, void (*fn)(void *arg), void *arg);

/* sync.Cond, tied to a weft_mutex at each wait (Go's c.L). wait unlocks m,
 * waits for a signal or broadcast, and locks m again before returning; as in
 * Go, re-check the condition in a loop. */
typedef struct weft_cond {
  uint64_t opaque_[4];
} weft_cond;
#define WEFT_COND_INIT {{0}}
WEFT_API void weft_cond_wait(weft_cond *c, weft_mutex *m);
WEFT_API void weft_cond_signal(weft_cond *c);
WEFT_API void weft_cond_broadcast(weft_cond *c);

/* A counting semaphore (golang.org/x/sync/semaphore with weight 1), with a
 * deadline on acquire. WEFT_SEMA_INIT(n) starts it with n units. */
typedef struct weft_sema {
  uint32_t count_;
  uint32_t pad_;
  uint64_t opaque_[3];
} weft_sema;
#define WEFT_SEMA_INIT(n) {(uint32_t)(n), 0, {0, 0, 0}}
/* Takes a unit, waiting while none is free. Returns 0. */
WEFT_API int weft_sema_acquire(weft_sema *s);
/* As acquire, or -ETIMEDOUT at the deadline (a past one: try once). */
WEFT_API int weft_sema_acquire_dl(weft_sema *s, int64_t deadline);
/* 1 if a unit was free and taken, else 0. */
WEFT_API int weft_sema_tryacquire(weft_sema *s);
/* Returns a unit, waking the longest waiter. */
WEFT_API void weft_sema_release(weft_sema *s);

/* ---- context ----------------------------------------------------------- */

/* Go's context: cancellation, deadlines and values across a tree of
 * goroutines. Contexts are reference counted: every weft_ctx_with_* returns
 * one reference, which the caller releases with weft_ctx_unref; a child
 * keeps its parent alive. Releasing the last reference also cancels the
 * context (Go's "call cancel to release resources"), so nothing leaks.
 * Cancelling a context cancels every descendant; cancel is idempotent.
 * The weft_ctx_with_* calls return NULL when out of memory or given a NULL
 * parent. */
typedef struct weft_ctx weft_ctx;

/* The root: never cancelled, no deadline, no values; needs no unref. */
WEFT_API weft_ctx *weft_ctx_background(void);
WEFT_API weft_ctx *weft_ctx_with_cancel(weft_ctx *parent);
/* Done at the absolute deadline (err -ETIMEDOUT), or earlier if the parent's
 * deadline is earlier, or when cancelled. */
WEFT_API weft_ctx *weft_ctx_with_deadline(weft_ctx *parent, int64_t deadline);
WEFT_API weft_ctx *weft_ctx_with_timeout(weft_ctx *parent, int64_t ns);
/* Carries key -> val (compared by address; key must not be NULL). */
WEFT_API weft_ctx *weft_ctx_with_value(weft_ctx *parent, const void *key,
                                       void *val);
/* Keeps the parent's values but is never cancelled and has no deadline. */
WEFT_API weft_ctx *weft_ctx_without_cancel(weft_ctx *parent);
WEFT_API weft_ctx *weft_ctx_ref(weft_ctx *c);
WEFT_API void weft_ctx_unref(weft_ctx *c);

/* Go's CancelFunc (err -ECANCELED). No effect on a context that cannot be
 * cancelled itself (background, value and without_cancel contexts: cancel
 * the context they were derived from). */
WEFT_API void weft_ctx_cancel(weft_ctx *c);
/* The same with a cause (any nonzero int, e.g. a negative errno); see
 * weft_ctx_cause. */
WEFT_API void weft_ctx_cancel_cause(weft_ctx *c, int cause);
/* A signal channel closed when c is done; usable in select. NULL (the nil
 * channel: never ready) for a context that can never be done. */
WEFT_API weft_chan *weft_ctx_done(weft_ctx *c);
/* 0 while not done, then -ECANCELED or -ETIMEDOUT. */
WEFT_API int weft_ctx_err(weft_ctx *c);
/* context.Cause: the cause given to cancel_cause, else weft_ctx_err. */
WEFT_API int weft_ctx_cause(weft_ctx *c);
/* The deadline, or WEFT_FOREVER. */
WEFT_API int64_t weft_ctx_deadline(weft_ctx *c);
/* The value of the nearest context carrying key, or NULL. */
WEFT_API void *weft_ctx_value(weft_ctx *c, const void *key);

/* context.AfterFunc: runs fn(arg) in its own goroutine once c is done (at
 * once if it already is). Returns a handle, or NULL when out of memory.
 * Call weft_ctx_after_func_stop exactly once per handle: it returns 1 if it
 * stopped fn from starting, 0 if fn had started; either way it releases the
 * handle. */
typedef struct weft_ctx_afterfunc weft_ctx_afterfunc;
WEFT_API weft_ctx_afterfunc *weft_ctx_after_func(weft_ctx *c,
                                                 void (*fn)(void *arg),
                                                 void *arg);
WEFT_API int weft_ctx_after_func_stop(weft_ctx_afterfunc *af);

/* Blocking calls that also end when ctx is done, returning weft_ctx_err
 * (-ECANCELED or -ETIMEDOUT) then; otherwise as their plain twins. This is
 * the one shape for "with a context": a select with the ctx's done channel
 * as an extra case, which the ctx's deadline timer closes. */
WEFT_API int weft_send_ctx(weft_ctx *ctx, weft_chan *c, const void *elem);
WEFT_API int weft_recv_ctx(weft_ctx *ctx, weft_chan *c, void *elem);
/* Returns the index of the case that ran, or weft_ctx_err. */
WEFT_API int weft_select_ctx(weft_ctx *ctx, weft_case *cases, int n);
/* Sleeps ns; returns 0, or weft_ctx_err if ctx is done first. */
WEFT_API int weft_sleep_ctx(weft_ctx *ctx, int64_t ns);

/* ---- groups: errgroup and the worker pool ------------------------------ */

/* Go's errgroup.WithContext with SetLimit. Tasks run in goroutines with the
 * group's context, a child of parent (NULL: background). */
typedef struct weft_group weft_group;
/* limit > 0: at most limit tasks run at once; <= 0: no limit. NULL when out
 * of memory. */
WEFT_API weft_group *weft_group_new(weft_ctx *parent, int limit);
/* The group's context: cancelled by the first failing task and by wait. */
WEFT_API weft_ctx *weft_group_ctx(weft_group *g);
/* Starts fn(ctx, arg), first waiting while limit tasks run. A nonzero
 * return from fn is an error: the first one cancels the group's context
 * (with that value as the cause) and is what wait returns. Returns 0,
 * -EINVAL or -ENOMEM. */
WEFT_API int weft_group_go(weft_group *g, int (*fn)(weft_ctx *ctx, void *arg),
                           void *arg);
/* Waits for every task; returns the first error, or 0. */
WEFT_API int weft_group_wait(weft_group *g);
/* Frees g (after wait). */
WEFT_API void weft_group_free(weft_group *g);

/* ---- file descriptors and the network (Go's netpoller) ----------------
 *
 * Straight-line blocking I/O for a goroutine per connection, as in Go: the
 * calls below make the fd non-blocking, try the operation, and on EAGAIN
 * park the caller until epoll says the fd is ready (or the deadline
 * passes, or the context is done), then try again. A plain thread may call
 * them too: it sleeps instead of parking. One poller serves the process;
 * an idle P waits in it (Go's findrunnable), so readiness costs no extra
 * thread.
 *
 * Results: a count (0 at end of file), or a negative errno: -EBADF for a
 * bad fd and for an fd that weft_fd_close closed (also while waiting on
 * it: Go's "use of closed network connection"), -ETIMEDOUT at the
 * deadline, weft_ctx_err for a done context, and the call's own errors
 * (-ECONNRESET, -EPIPE, ...). A call tries once before it looks at its
 * deadline or context, so a past deadline makes it a non-blocking try.
 * EINTR is retried. SIGPIPE never kills the program: a socket's writes add
 * MSG_NOSIGNAL, and a write to a pipe holds SIGPIPE back in the calling
 * thread and takes it, so both return -EPIPE. Each call has a deadline
 * twin (_dl, an absolute weft_now() time) and a context twin (_ctx; a
 * NULL ctx never ends).
 *
 * Regular files and directories cannot be polled: the same calls do the
 * plain blocking call inside weft_syscall_enter/_exit, as Go's os.File
 * does; the deadline and context are looked at once, before the call
 * (a past one gives -ETIMEDOUT without it).
 *
 * The fd belongs to weft from the first call to weft_fd_close: close it
 * with weft_fd_close, which wakes every waiter with -EBADF and closes the
 * fd once no call is using it, so that its number is never reused under a
 * running call. An fd closed by other means must be given to
 * weft_fd_forget before its number is reused (libdill's fdclean), or a
 * later fd with that number may wait forever. The first call sets
 * O_NONBLOCK on the fd's open file description, which its dups and other
 * processes share. Fds up to 2^20. The dump shows a waiting goroutine as
 * [IO wait]; the deadlock report never counts it as asleep (the network
 * may wake it). */
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

#define WEFT_READ 1  /* weft_fd_wait, weft_fd_set_deadline: reading */
#define WEFT_WRITE 2 /* writing */

/* Waits until fd is readable (WEFT_READ) or writable (WEFT_WRITE): 0, or an
 * error as above; -EINVAL for other events. */
WEFT_API int weft_fd_wait(int fd, int events);
WEFT_API int weft_fd_wait_dl(int fd, int events, int64_t deadline);
WEFT_API int weft_fd_wait_ctx(weft_ctx *ctx, int fd, int events);

/* read(2): at most n bytes, as soon as any are there. */
WEFT_API ssize_t weft_fd_read(int fd, void *buf, size_t n);
WEFT_API ssize_t weft_fd_read_dl(int fd, void *buf, size_t n, int64_t deadline);
WEFT_API ssize_t weft_fd_read_ctx(weft_ctx *ctx, int fd, void *buf, size_t n);
/* Writes all n bytes, across partial writes. Returns n; or, when an error
 * or the deadline stops it after some bytes, that shorter count (the next
 * call reports the error); or the error when nothing was written. A pipe
 * whose reader is gone gives -EPIPE, without SIGPIPE. */
WEFT_API ssize_t weft_fd_write(int fd, const void *buf, size_t n);
WEFT_API ssize_t weft_fd_write_dl(int fd, const void *buf, size_t n,
                                  int64_t deadline);
WEFT_API ssize_t weft_fd_write_ctx(weft_ctx *ctx, int fd, const void *buf,
                                   size_t n);
/* readv(2), as read; writev(2), writing every iov in full, as write. The
 * iov array is not changed. At most IOV_MAX entries (-EINVAL). */
WEFT_API ssize_t weft_fd_readv(int fd, const struct iovec *iov, int iovcnt);
WEFT_API ssize_t weft_fd_readv_dl(int fd, const struct iovec *iov, int iovcnt,
                                  int64_t deadline);
WEFT_API ssize_t weft_fd_readv_ctx(weft_ctx *ctx, int fd,
                                   const struct iovec *iov, int iovcnt);
WEFT_API ssize_t weft_fd_writev(int fd, const struct iovec *iov, int iovcnt);
WEFT_API ssize_t weft_fd_writev_dl(int fd, const struct iovec *iov,
                                   int iovcnt, int64_t deadline);
WEFT_API ssize_t weft_fd_writev_ctx(weft_ctx *ctx, int fd,
                                    const struct iovec *iov, int iovcnt);
/* recv(2) and send(2) on a socket; send writes all n bytes, as write, and
 * always adds MSG_NOSIGNAL. */
WEFT_API ssize_t weft_fd_recv(int fd, void *buf, size_t n, int flags);
WEFT_API ssize_t weft_fd_recv_dl(int fd, void *buf, size_t n, int flags,
                                 int64_t deadline);
WEFT_API ssize_t weft_fd_recv_ctx(weft_ctx *ctx, int fd, void *buf, size_t n,
                                  int flags);
WEFT_API ssize_t weft_fd_send(int fd, const void *buf, size_t n, int flags);
WEFT_API ssize_t weft_fd_send_dl(int fd, const void *buf, size_t n, int flags,
                                 int64_t deadline);
WEFT_API ssize_t weft_fd_send_ctx(weft_ctx *ctx, int fd, const void *buf,
                                  size_t n, int flags);
/* recvfrom(2) and sendto(2): one datagram each (sendto does not loop). */
WEFT_API ssize_t weft_fd_recvfrom(int fd, void *buf, size_t n, int flags,
                                  struct sockaddr *from, socklen_t *fromlen);
WEFT_API ssize_t weft_fd_recvfrom_dl(int fd, void *buf, size_t n, int flags,
                                     struct sockaddr *from,
                                     socklen_t *fromlen, int64_t deadline);
WEFT_API ssize_t weft_fd_recvfrom_ctx(weft_ctx *ctx, int fd, void *buf,
                                      size_t n, int flags,
                                      struct sockaddr *from,
                                      socklen_t *fromlen);
WEFT_API ssize_t weft_fd_sendto(int fd, const void *buf, size_t n, int flags,
                                const struct sockaddr *to, socklen_t tolen);
WEFT_API ssize_t weft_fd_sendto_dl(int fd, const void *buf, size_t n,
                                   int flags, const struct sockaddr *to,
                                   socklen_t tolen, int64_t deadline);
WEFT_API ssize_t weft_fd_sendto_ctx(weft_ctx *ctx, int fd, const void *buf,
                                    size_t n, int flags,
                                    const struct sockaddr *to,
                                    socklen_t tolen);
/* accept4(2): the new connection's fd, non-blocking and close-on-exec.
 * -EMFILE and -ENFILE are returned as they are: back off and retry, as
 * Go's http.Server does (examples/echo_server.c). */
WEFT_API int weft_fd_accept(int fd, struct sockaddr *addr, socklen_t *len);
WEFT_API int weft_fd_accept_dl(int fd, struct sockaddr *addr, socklen_t *len,
                               int64_t deadline);
WEFT_API int weft_fd_accept_ctx(weft_ctx *ctx, int fd, struct sockaddr *addr,
                                socklen_t *len);
/* connect(2), waiting for the connection: 0, or its error (-ECONNREFUSED,
 * ...; -EAGAIN at once for a unix socket whose listener's backlog is full,
 * as in Go). On a timeout the socket is left half-connected: close it. */
WEFT_API int weft_fd_connect(int fd, const struct sockaddr *addr,
                             socklen_t len);
WEFT_API int weft_fd_connect_dl(int fd, const struct sockaddr *addr,
                                socklen_t len, int64_t deadline);
WEFT_API int weft_fd_connect_ctx(weft_ctx *ctx, int fd,
                                 const struct sockaddr *addr, socklen_t len);

/* Go's SetReadDeadline/SetWriteDeadline: a deadline for every call on fd
 * in the directions given (WEFT_READ, WEFT_WRITE or both), on top of each
 * call's own; WEFT_FOREVER clears it. Calls already waiting see the change
 * at once (a past deadline wakes them with -ETIMEDOUT). 0 or -EBADF,
 * -EINVAL. */
WEFT_API int weft_fd_set_deadline(int fd, int events, int64_t deadline);
/* Closes fd (see above): wakes its waiters, waits for the calls in flight
 * to leave, closes it, and returns close's result: 0, or -EBADF if it is
 * not open or already closed through weft. A call blocked on a regular
 * file is not waited for: this returns 0 and that call closes fd when it
 * returns. In the child of a fork(2), this is close(2), leaving the
 * parent's poller alone (the other weft_fd_* calls abort there). */
WEFT_API int weft_fd_close(int fd);
/* Forgets what weft knows of fd, after it was closed by other means;
 * waiters are woken with -EBADF. 0 or -EBADF for a negative fd. */
WEFT_API int weft_fd_forget(int fd);

/* Go's net.Dial: a connected, non-blocking stream socket to address, or a
 * negative errno. network "tcp" (v4 or v6), "tcp4", "tcp6": address is
 * "host:port", "[v6::addr]:port"; "unix": a socket path. Each resolved
 * address is tried in order. A name (not a numeric address) is looked up
 * with getaddrinfo in a goroutine inside the syscall handoff; the
 * deadline or context also bounds the lookup (the caller returns at once;
 * the lookup finishes on its own). Errors: -EINVAL for a malformed
 * network or address, -ENOENT for a name that does not exist (Go's "no
 * such host"), -EAGAIN for a temporary lookup failure, and connect's
 * (-ECONNREFUSED, -ETIMEDOUT, weft_ctx_err). Close the fd with
 * weft_fd_close. */
WEFT_API int weft_dial(const char *network, const char *address);
WEFT_API int weft_dial_dl(const char *network, const char *address,
                          int64_t deadline);
WEFT_API int weft_dial_ctx(weft_ctx *ctx, const char *network,
                           const char *address);
/* Go's net.Listen: a listening, non-blocking socket (SO_REUSEADDR,
 * backlog SOMAXCONN) bound to address, as for weft_dial; an empty host
 * (":8080") listens on every address, port 0 on a free port
 * (getsockname tells which). "unix": a path, which must not exist. */
WEFT_API int weft_listen(const char *network, const char *address);

/* ---- diagnostics ------------------------------------------------------- */

/* Go's goroutine dump (what SIGQUIT prints in Go): writes every goroutine
 * to out, one entry each with its id, name, state, how long it has waited,
 * where it was started and a backtrace, in Go's format:
 *
 *   goroutine 7 "worker" [chan receive, 3 minutes]:
 *   weft_recv+0x2c
 *   	/usr/lib/libweft.so.0 +0x6a2c
 *   worker+0x1d
 *   	/home/me/prog +0x1a3d
 *   created by main+0x41 in goroutine 1
 *   	/home/me/prog +0x1b02
 *
 * Each entry starts with a blank line; the caller's goroutine comes first,
 * then the others by id, then every plain thread blocked in a weft call,
 * with its frames from that call outwards (Go's main is goroutine 1; in
 * weft, main is a thread):
 *
 *   thread 4242 (main) [sync.WaitGroup.Wait]:
 *   weft_wg_wait+0xc1
 *   	/home/me/prog +0x74b1
 *   main+0x6b
 *   	/home/me/prog +0x2638
 *
 * States: running, runnable, or what a goroutine waits for (chan receive,
 * chan send, select, sync.Mutex.Lock, sleep, ..., with the wait's length
 * once it reaches a second). A goroutine running on another thread is shown
 * without a stack. Frames are found by frame pointers (build your code with
 * -fno-omit-frame-pointer to see its frames); the second line of a frame is
 * the module and the offset that addr2line takes. When every goroutine is
 * blocked the dump is exact; otherwise it is a snapshot taken while the
 * others run, as in Go. Safe to call from any goroutine or thread, but not
 * from a signal handler.
 *
 * Two opt-in uses, read from the environment when the runtime starts
 * (set to anything but "" or "0"):
 * - WEFT_DUMP_ON_SIGQUIT: SIGQUIT (Ctrl-\) prints "SIGQUIT: quit" and the
 *   dump to stderr, then exits with status 2, as Go does. weft then owns
 *   SIGQUIT's disposition.
 * - WEFT_LEAKS: at exit, the goroutines still alive (but the one calling
 *   exit) are dumped to stderr under "weft: N goroutines still alive at
 *   exit (leaks?):". The exit status is unchanged. */
WEFT_API void weft_dump(FILE *out);

/* Deadlock detection. When nothing can ever wake anybody, weft prints
 *   weft: fatal error: all goroutines are asleep - deadlock!
 * to stderr, then weft_dump(stderr) (each goroutine after a blank line),
 * and aborts, as Go does. "Nothing can wake anybody" means, all at once:
 * - no goroutine is running or runnable (one in a system call is running);
 * - no timer is pending: no goroutine sleeps or waits with a deadline, and
 *   no weft_timer, ticker, weft_after or context deadline is armed;
 * - every OS thread of the process other than weft's own is a plain thread
 *   blocked in a weft call without deadline (weft_recv, weft_send,
 *   weft_select, weft_wg_wait, weft_mutex_lock, ...).
 * A thread anywhere else could still wake someone: one running code,
 * blocked in read(2), pthread_join or nanosleep, or in a weft call with a
 * deadline. Any such thread, even one that never called weft, prevents the
 * report, so weft reports strictly fewer deadlocks than Go (whose runtime
 * owns every thread): main in pthread_join on a thread blocked forever in
 * weft is not reported. Threads created by libraries behind the program's
 * back (a SIGEV_THREAD timer, say) count as able to wake someone, so they
 * switch detection off in effect. (Sanitizer builds recognise the
 * sanitizer runtime's own threads and do not count them.) Detection runs in
 * weft's monitor thread, which looks every 1-20 ms, so a deadlock is
 * usually reported within a tenth of a second. Go exits with status 2
 * there; weft aborts, as for its other fatal errors.
 * The one thing weft cannot see is a wake-up from a signal handler (a
 * handler that sends on a channel or closes one): programs that do that
 * should turn detection off with WEFT_DEADLOCK=0 in the environment or
 * weft_config.deadlock_check = -1. */

#ifdef __cplusplus
}
#endif
#endif /* WEFT_H */
