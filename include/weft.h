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
 *   with "weft: " and names the call.
 * - Any OS thread may call any blocking weft function. Inside a goroutine it
 *   parks the goroutine; on a plain thread (main included) it blocks the
 *   thread on a futex. The runtime starts itself on first use.
 *
 * Migration hazards (read this once)
 * - A goroutine may resume on another OS thread after any call that can
 *   block or yield. weft saves and restores errno per goroutine, by value.
 *   glibc declares __errno_location() const, so within one function the
 *   compiler may reuse the address of the old thread's errno across a weft
 *   call: read errno into a local before blocking, not after.
 * - The same holds for every _Thread_local variable of your own: its address
 *   may be cached across a blocking call. Re-read it in a separate noinline
 *   function, or keep per-goroutine state in the goroutine's argument.
 * - The signal mask and other per-thread attributes (scheduling policy, CPU
 *   affinity, pthread_setspecific values) belong to the OS thread, not to the
 *   goroutine. Do not change them from a goroutine.
 * - Scheduling is cooperative: a goroutine runs until it blocks, yields or
 *   returns. A goroutine that spins forever without calling weft keeps its
 *   processor (P) to itself; other Ps keep running other goroutines.
 */
#ifndef WEFT_H
#define WEFT_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>

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
} weft_config;

/* Optional: configure the runtime before first use. Returns 0, -EINVAL for a
 * bad value, or -EBUSY once the runtime has started. */
WEFT_API int weft_init(const weft_config *cfg);

/* runtime.GOMAXPROCS. n <= 0 queries. n > 0 before the runtime starts sets
 * the number of Ps and returns the previous value; after it starts, n equal
 * to the current value returns it and any other n returns -EBUSY (Ps are
 * fixed for the life of the process). The default is the CPU count, or the
 * environment variable WEFT_PROCS. */
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
 * plain thread. It may change after any blocking call. */
WEFT_API int weft_proc_id(void);

/* Goroutines started and not yet returned. */
WEFT_API int weft_num_goroutines(void);

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

#ifdef __cplusplus
}
#endif
#endif /* WEFT_H */
