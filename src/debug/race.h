/* race.h -- what the race detector (WEFT_RACE builds, Go's -race) is told.
 *
 * In a race build the user's program is compiled with -fsanitize=thread and
 * the runtime is not, as Go's runtime is not race-instrumented: TSan sees
 * none of the scheduler's or the channels' own atomics and memory, so their
 * synchronization is hidden, and goroutines switch fibers without sync
 * (sanitizer.h), so two goroutines that merely ran one after the other on a
 * thread are not ordered by that. What orders them is only the edges below,
 * each a release on an address by one party and an acquire on it by the
 * other: the happens-before edges of Go's memory model, at Go's addresses.
 *
 *   edge                                   release -> acquire on
 *   goroutine start                        TSan's own fiber-creation edge
 *                                          (__tsan_create_fiber in weft_go)
 *   unbuffered send <-> receive, both ways chan.c, the channel (Go's racesync)
 *   buffered: send k -> receive k, and     chan.c, buffer slot k % cap (Go's
 *     receive k -> send k+cap              racenotify; a direct hand-off
 *                                          pretends to pass through the slot)
 *   close -> a receive that sees it        chan.c/select.c, &c->closed
 *   Mutex unlock -> lock, trylock          mutex.c, the mutex
 *   RWMutex (Go's rwmutex.go)              rwmutex.c, reader_sem/writer_sem
 *   WaitGroup Done/Add(<0) -> Wait         waitgroup.c, the WaitGroup (merge)
 *   Once: fn -> every weft_once_do         once.c, the Once
 *   Cond signal/broadcast -> woken Wait    cond.c, the Cond (and the mutex)
 *   weft_sema release -> acquire           semaphore.c, the semaphore
 *   context cancel -> Done, Err            context.c: closes done (above);
 *                                          &err for weft_ctx_err
 *   weft_ctx_after_func -> its fn          context.c, the AfterFunc record
 *   timer start -> its fire -> receive     time.c, the timer; then the
 *                                          channel's edge (run as the P's g0,
 *                                          as Go runs timers in a per-P ctx)
 *
 * A partner that is parked (a blocked sender or receiver, or a select) gets
 * its half of a channel edge from the party that completes the operation,
 * which runs it as the parked goroutine's TSan fiber (Go's raceacquireg:
 * weft__race_for). A parked plain thread has no fiber; it released its own
 * waiter record before parking, the completing party acquires that first,
 * and the thread acquires the record back once woken. That orders the
 * thread before its partner as well (a few races Go reports between main
 * and a goroutine may go unseen there; none is invented).
 *
 * Values sent over channels are copied by the runtime without TSan seeing
 * the copy; the sender's read and the receiver's write of their own memory
 * are reported in their own fibers (weft__race_read/_write). Memory the
 * runtime allocates (channels, timers, stacks) is allocated and freed with
 * TSan ignoring it (weft__rt_*), and a reused goroutine stack gets fresh
 * shadow, so no report ever names runtime memory.
 *
 * P threads' g0 contexts run only the runtime: TSan ignores their memory
 * accesses for good. A P thread's errno is shared by the goroutines that
 * take turns on it (weft saves it per goroutine), so it is declared benign.
 * A send on a closed channel is weft's -EPIPE, not Go's panic, so unlike
 * Go, send and close are no race by themselves (nor an edge).
 *
 * Outside race builds every hook here compiles to nothing (or to the plain
 * libc call).
 */
#ifndef WEFT_RACE_H
#define WEFT_RACE_H

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#if defined(WEFT_RACE) && WEFT_RACE
#include <sanitizer/tsan_interface.h>

/* Exported by both gcc's and clang's TSan runtimes, not in the header. */
void __tsan_read_range(void *addr, unsigned long size);
void __tsan_write_range(void *addr, unsigned long size);
void AnnotateIgnoreReadsBegin(const char *file, int line);
void AnnotateIgnoreReadsEnd(const char *file, int line);
void AnnotateIgnoreWritesBegin(const char *file, int line);
void AnnotateIgnoreWritesEnd(const char *file, int line);
void AnnotateBenignRaceSized(const char *file, int line, const void *mem,
                             unsigned long size, const char *desc);

static inline void weft__race_acquire(const void *a) {
  __tsan_acquire((void *)a);
}
static inline void weft__race_release(const void *a) {
  __tsan_release((void *)a);
}
/* Go's racenotify for one party: what came before on addr, then us. */
static inline void weft__race_notify(const void *a) {
  __tsan_acquire((void *)a);
  __tsan_release((void *)a);
}
static inline void weft__race_read(const void *p, size_t n) {
  if (p && n)
    __tsan_read_range((void *)p, n);
}
static inline void weft__race_write(void *p, size_t n) {
  if (p && n)
    __tsan_write_range(p, n);
}
/* Memory accesses (intercepted libc calls included) go unrecorded in
 * between; per fiber, so begin and end must not straddle a switch. */
static inline void weft__race_ignore_begin(void) {
  AnnotateIgnoreReadsBegin(__FILE__, __LINE__);
  AnnotateIgnoreWritesBegin(__FILE__, __LINE__);
}
static inline void weft__race_ignore_end(void) {
  AnnotateIgnoreWritesEnd(__FILE__, __LINE__);
  AnnotateIgnoreReadsEnd(__FILE__, __LINE__);
}
/* A copy that TSan does not see: libc's memcpy is intercepted and would be
 * charged to whichever fiber happens to copy a partner's value. volatile
 * keeps the compiler from turning the loop back into a memcpy call. */
static inline void weft__race_copy(void *dst, const void *src, size_t n) {
  volatile unsigned char *d = dst;
  const unsigned char *s = src;
  for (size_t i = 0; i < n; i++)
    d[i] = s[i];
}
static inline void weft__race_zero(void *dst, size_t n) {
  volatile unsigned char *d = dst;
  for (size_t i = 0; i < n; i++)
    d[i] = 0;
}

#define weft__rt_memcpy weft__race_copy
#define weft__rt_memset0 weft__race_zero

static inline void *weft__rt_malloc(size_t n) {
  weft__race_ignore_begin();
  void *p = malloc(n);
  weft__race_ignore_end();
  return p;
}
static inline void *weft__rt_calloc(size_t k, size_t n) {
  weft__race_ignore_begin();
  void *p = calloc(k, n);
  weft__race_ignore_end();
  return p;
}
static inline void *weft__rt_realloc(void *o, size_t n) {
  weft__race_ignore_begin();
  void *p = realloc(o, n);
  weft__race_ignore_end();
  return p;
}
static inline void weft__rt_free(void *p) {
  weft__race_ignore_begin();
  free(p);
  weft__race_ignore_end();
}
#else
#define weft__race_acquire(a) ((void)(a))
#define weft__race_release(a) ((void)(a))
#define weft__race_notify(a) ((void)(a))
#define weft__race_read(p, n) ((void)(p), (void)(n))
#define weft__race_write(p, n) ((void)(p), (void)(n))
#define weft__race_ignore_begin() ((void)0)
#define weft__race_ignore_end() ((void)0)
#define weft__rt_memcpy memcpy
#define weft__rt_memset0(p, n) memset((p), 0, (n))
#define weft__rt_malloc malloc
#define weft__rt_calloc calloc
#define weft__rt_realloc realloc
#define weft__rt_free free
#endif

/* The parts that need the runtime's types (race.c). */
struct weft__waiter;
#if defined(WEFT_RACE) && WEFT_RACE
/* Runs notify(addr) as the parked owner of w: as its goroutine's fiber, or
 * through the record a parked plain thread released (see above). */
void weft__race_notify_for(struct weft__waiter *w, const void *addr);
/* Go's racesync on an unbuffered channel, with w the parked partner. */
void weft__race_sync_with(struct weft__waiter *w, const void *addr);
/* A channel party about to park (owner record w), and once woken. */
void weft__race_park(struct weft__waiter *w);
void weft__race_unpark(struct weft__waiter *w);
/* Timer callbacks run as the current P's g0 fiber (Go's per-P timer
 * context); returns what to pass to weft__race_timers_end. */
void *weft__race_timers_begin(void);
void weft__race_timers_end(void *tok);
/* Fresh shadow for a goroutine stack that may have been used before. */
void weft__race_stack_fresh(void *lo, size_t size);
/* On a P's thread: its g0 runs only the runtime, so TSan ignores it; and
 * the thread's errno, which weft saves and restores per goroutine, is no
 * race between the goroutines that take turns on it. */
void weft__race_g0_init(void);
/* Reports then say "Thread T5 'goroutine 12'" (or the goroutine's name). */
void weft__race_fiber_name(void *fiber, unsigned long long id,
                           const char *name);
#else
#define weft__race_notify_for(w, a) ((void)(w), (void)(a))
#define weft__race_sync_with(w, a) ((void)(w), (void)(a))
#define weft__race_park(w) ((void)(w))
#define weft__race_unpark(w) ((void)(w))
#define weft__race_timers_begin() ((void *)0)
#define weft__race_timers_end(t) ((void)(t))
#define weft__race_stack_fresh(lo, n) ((void)(lo), (void)(n))
#define weft__race_g0_init() ((void)0)
#define weft__race_fiber_name(f, id, name) ((void)(f), (void)(id), (void)(name))
#endif

#endif
