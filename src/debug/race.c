/* race.c -- the race hooks that need the runtime's types (see race.h).
 * Compiled to nothing outside WEFT_RACE builds. */
#include "debug/race.h"

#if defined(WEFT_RACE) && WEFT_RACE
#include <errno.h>
#include <stdio.h>
#include <sys/mman.h>

#include "sched/runtime.h"
#include "wait/waiter.h"

/* Acting as another fiber: w's goroutine is parked and claimed (it cannot
 * run until we wake it), so its TSan fiber is current nowhere else. The
 * switches are no_sync: they order nothing by themselves. */
static void *as_fiber(void *f) {
  void *me = __tsan_get_current_fiber();
  __tsan_switch_to_fiber(f, __tsan_switch_to_fiber_no_sync);
  return me;
}

void weft__race_notify_for(struct weft__waiter *w, const void *addr) {
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

void weft__race_sync_with(struct weft__waiter *w, const void *addr) {
  weft__race_release(addr);
  weft__race_notify_for(w, addr);
  weft__race_acquire(addr);
}

void weft__race_park(struct weft__waiter *w) {
  if (w->g == NULL)
    weft__race_release(w); /* acquired by weft__race_notify_for */
}

void weft__race_unpark(struct weft__waiter *w) {
  if (w->g == NULL)
    weft__race_acquire(w); /* released by weft__race_notify_for */
}

void *weft__race_timers_begin(void) {
  weft__p *p = weft__curp();
  if (p == NULL || p->cur == NULL)
    return NULL; /* already g0 (or a plain thread, which has no timers) */
  return as_fiber(p->g0_tsan_fiber);
}

void weft__race_timers_end(void *tok) {
  if (tok)
    as_fiber(tok);
}

void weft__race_stack_fresh(void *lo, size_t size) {
  /* Replacing the pages resets their shadow (TSan's mmap interceptor,
   * under ignore): nothing of the last goroutine on this stack remains. On
   * failure the old pages stay, and so may a report about them. */
  weft__race_ignore_begin();
  (void)mmap(lo, size, PROT_READ | PROT_WRITE,
             MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1, 0);
  weft__race_ignore_end();
}

void weft__race_g0_init(void) {
  weft__race_ignore_begin();
  AnnotateBenignRaceSized(__FILE__, __LINE__, &errno, sizeof errno,
                          "errno: weft keeps it per goroutine");
}

void weft__race_fiber_name(void *fiber, unsigned long long id,
                           const char *name) {
  char buf[64];
  if (name == NULL || name[0] == '\0') {
    snprintf(buf, sizeof buf, "goroutine %llu", id);
    name = buf;
  }
  __tsan_set_fiber_name(fiber, name); /* TSan keeps a copy */
}
#else
typedef int weft__race_unused; /* ISO C wants something in every file */
#endif
