/* race.c -- what the race detector (WEFT_RACE builds, Go's -race) is told:
 * the race hooks of base/hooks.h.
 *
 * In a race build the user's program is compiled with -fsanitize=thread and the
 * runtime is not, as Go's runtime is not race-instrumented: TSan sees none of
 * the scheduler's or the channels' own atomics and memory, so their
 * synchronization is hidden, and goroutines switch fibers without sync
 * (base/sanitizer.h), so two goroutines that merely ran one after the other on
 * a thread are not ordered by that. What orders them is only the edges below,
 * each a release on an address by one party and an acquire on it by the other:
 * the happens-before edges of Go's memory model, at Go's addresses.
 *
 *   edge                                 release -> acquire on
 *   goroutine start                      TSan's own fiber-creation edge
 *                                        (__tsan_create_fiber in weft_go)
 *   unbuffered send <-> receive, both    chan/chan.c: the channel (Go's
 *     ways                               racesync)
 *   buffered: send k -> receive k, and   chan/chan.c: buffer slot k % cap
 *     receive k -> send k+cap            (Go's racenotify; a direct hand-off
 *                                        pretends to pass through the slot)
 *   close -> a receive that sees it      chan/chan.c, chan/select.c:
 *                                        &c->closed
 *   Mutex unlock -> lock, trylock        sync/mutex.c: the mutex
 *   RWMutex (Go's rwmutex.go)            sync/rwmutex.c: reader_sem and
 *                                        writer_sem
 *   WaitGroup Done/Add(<0) -> Wait       sync/waitgroup.c: the WaitGroup (merge)
 *   Once: fn -> every weft_once_do       sync/once.c: the Once
 *   Cond signal/broadcast -> woken Wait  sync/cond.c: the Cond (and mutex)
 *   weft_sema release -> acquire         sync/semaphore.c: the semaphore
 *   context cancel -> Done, Err          ctx/context.c: closes done (above);
 *                                        &err for weft_ctx_err
 *   weft_ctx_after_func -> its fn        ctx/context.c: the AfterFunc record
 *   timer start -> its fire -> receive   chan/time.c: the timer; then the
 *                                        channel's edge (run as the P's g0,
 *                                        as Go runs timers in a per-P ctx)
 *   the poller's start -> its use        io/netpoll.c: &epfd, so that
 *                                        TSan's fd checks see epoll_create1
 *                                        before sysmon's and the Ps' waits
 * Data through an fd (a write, then the read that gets it) is TSan's own
 * edge: its read(2)/write(2)/send(2)/recv(2) interceptors, as Go's
 * internal/poll does with ioSync.
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
 * Outside race builds the core's calls are dead code (base/hooks.h tests
 * the constant WEFT__RACE), and the hooks here abort, as Go's race0.go
 * throws: reaching one would be weft's bug.
 */
#include "base/internal.h"

#if WEFT__RACE
#include <errno.h>
#include <sanitizer/tsan_interface.h>
#include <stdio.h>
#include <sys/mman.h>

#include "sched/runtime.h"
#include "wait/waiter.h"

/* Exported by both gcc's and clang's TSan runtimes, not in the header. */
void __tsan_read_range(void *addr, unsigned long size);
void __tsan_write_range(void *addr, unsigned long size);
void AnnotateIgnoreReadsBegin(const char *file, int line);
void AnnotateIgnoreReadsEnd(const char *file, int line);
void AnnotateIgnoreWritesBegin(const char *file, int line);
void AnnotateIgnoreWritesEnd(const char *file, int line);
void AnnotateBenignRaceSized(const char *file, int line, const void *mem,
                             unsigned long size, const char *desc);

void weft__race_acquire_impl(const void *a) { __tsan_acquire((void *)a); }

void weft__race_release_impl(const void *a) { __tsan_release((void *)a); }

void weft__race_notify_impl(const void *a) {
  __tsan_acquire((void *)a);
  __tsan_release((void *)a);
}

void weft__race_read_impl(const void *p, size_t n) {
  if (p && n)
    __tsan_read_range((void *)p, n);
}

void weft__race_write_impl(void *p, size_t n) {
  if (p && n)
    __tsan_write_range(p, n);
}

void weft__race_ignore_begin_impl(void) {
  AnnotateIgnoreReadsBegin(__FILE__, __LINE__);
  AnnotateIgnoreWritesBegin(__FILE__, __LINE__);
}

void weft__race_ignore_end_impl(void) {
  AnnotateIgnoreWritesEnd(__FILE__, __LINE__);
  AnnotateIgnoreReadsEnd(__FILE__, __LINE__);
}

/* Acting as another fiber: w's goroutine is parked and claimed (it cannot
 * run until we wake it), so its TSan fiber is current nowhere else. The
 * switches are no_sync: they order nothing by themselves. */
static void *as_fiber(void *f) {
  void *me = __tsan_get_current_fiber();
  __tsan_switch_to_fiber(f, __tsan_switch_to_fiber_no_sync);
  return me;
}

void weft__race_notify_for_impl(struct weft__waiter *w, const void *addr) {
  weft__waiter *o = w->owner;
  if (o->g) {
    void *me = as_fiber(o->g->tsan_fiber);
    weft__race_notify(addr);
    as_fiber(me);
    return;
  }
  /* A plain thread: its clock at park time is in its record. */
  weft__race_acquire(o);
  weft__race_notify(addr);
  weft__race_release(o);
}

void weft__race_sync_with_impl(struct weft__waiter *w, const void *addr) {
  weft__race_release(addr);
  weft__race_notify_for(w, addr);
  weft__race_acquire(addr);
}

void weft__race_park_impl(struct weft__waiter *w) {
  if (w->g == NULL)
    weft__race_release(w); /* acquired by weft__race_notify_for */
}

void weft__race_unpark_impl(struct weft__waiter *w) {
  if (w->g == NULL)
    weft__race_acquire(w); /* released by weft__race_notify_for */
}

void *weft__race_timers_begin_impl(void) {
  weft__p *p = weft__curp();
  if (p == NULL || p->cur == NULL)
    return NULL; /* already g0 (or a plain thread, which has no timers) */
  return as_fiber(weft__curm()->g0_tsan_fiber);
}

void weft__race_timers_end_impl(void *tok) {
  if (tok)
    as_fiber(tok);
}

void weft__race_stack_fresh_impl(void *lo, size_t size) {
  /* Replacing the pages resets their shadow (TSan's mmap interceptor,
   * under ignore): nothing of the last goroutine on this stack remains. On
   * failure the old pages stay, and so may a report about them. */
  weft__race_ignore_begin();
  (void)mmap(lo, size, PROT_READ | PROT_WRITE,
             MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1, 0);
  weft__race_ignore_end();
}

void weft__race_g0_init_impl(void) {
  weft__race_ignore_begin();
  AnnotateBenignRaceSized(__FILE__, __LINE__, &errno, sizeof errno,
                          "errno: weft keeps it per goroutine");
}

void weft__race_fiber_name_impl(void *fiber, unsigned long long id,
                                const char *name) {
  char buf[64];
  if (name == NULL || name[0] == '\0') {
    snprintf(buf, sizeof buf, "goroutine %llu", id);
    name = buf;
  }
  __tsan_set_fiber_name(fiber, name); /* TSan keeps a copy */
}
#else
/* Not a race build: no hook can be reached (see the header comment). */
static _Noreturn void unreachable(const char *hook) {
  weft__fatal("internal error: race hook %s called outside a race build",
              hook);
}
#define UNREACHABLE() unreachable(__func__)

void weft__race_acquire_impl(const void *a) { (void)a, UNREACHABLE(); }
void weft__race_release_impl(const void *a) { (void)a, UNREACHABLE(); }
void weft__race_notify_impl(const void *a) { (void)a, UNREACHABLE(); }
void weft__race_read_impl(const void *p, size_t n) {
  (void)p, (void)n, UNREACHABLE();
}
void weft__race_write_impl(void *p, size_t n) {
  (void)p, (void)n, UNREACHABLE();
}
void weft__race_ignore_begin_impl(void) { UNREACHABLE(); }
void weft__race_ignore_end_impl(void) { UNREACHABLE(); }
void weft__race_notify_for_impl(struct weft__waiter *w, const void *a) {
  (void)w, (void)a, UNREACHABLE();
}
void weft__race_sync_with_impl(struct weft__waiter *w, const void *a) {
  (void)w, (void)a, UNREACHABLE();
}
void weft__race_park_impl(struct weft__waiter *w) { (void)w, UNREACHABLE(); }
void weft__race_unpark_impl(struct weft__waiter *w) { (void)w, UNREACHABLE(); }
void *weft__race_timers_begin_impl(void) { UNREACHABLE(); }
void weft__race_timers_end_impl(void *t) { (void)t, UNREACHABLE(); }
void weft__race_stack_fresh_impl(void *lo, size_t n) {
  (void)lo, (void)n, UNREACHABLE();
}
void weft__race_g0_init_impl(void) { UNREACHABLE(); }
void weft__race_fiber_name_impl(void *f, unsigned long long id,
                                const char *name) {
  (void)f, (void)id, (void)name, UNREACHABLE();
}
#endif
