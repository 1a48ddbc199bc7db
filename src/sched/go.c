/* go.c -- creating, running and ending goroutines.
 *
 * A goroutine's weft__g record sits at the top of its stack, 64-byte
 * aligned; the usable stack is everything below it. Creating one therefore
 * costs one stack allocation (usually a hit in the P's cache) and no malloc.
 *
 * For the goroutine dump (debug/dump.c) the record also keeps who created it
 * (parent id, and the return address of weft_go/weft_go_opts) and is
 * published by its magic, stored last with release; see runtime.h.
 *
 * weft_go from a goroutine is work-first: the child runs at once and the parent
 * waits in runnext (see weft.h). The parent is queued by the pending hook,
 * after its context is saved, so no thief can resume it early. The
 * deterministic schedule mode (debug/detsched.c) picks work-first or
 * parent-first by a coin.
 */
#include <errno.h>
#include <string.h>

#include "base/sanitizer.h"
#include "sched/runq.h"
#include "sched/runtime.h"

static _Noreturn void goexit(weft__g *g);

static void g_entry(void *arg) {
  weft__g *g = arg;
  weft__landed();
  g->fn(g->arg);
  goexit(g);
}

#define GOID_BATCH 16

/* Ids come in batches per P (Go's goidcache): one shared RMW per 16. */
static uint64_t new_goid(weft__p *p) {
  if (p == NULL)
    return weft__add_relaxed(&weft__sched_g.goidgen, 1) + 1;
  if (p->goid_next == p->goid_end) {
    p->goid_next = weft__add_relaxed(&weft__sched_g.goidgen, GOID_BATCH) + 1;
    p->goid_end = p->goid_next + GOID_BATCH;
  }
  return p->goid_next++;
}

/* Live-goroutine counts are per P, written only by the owner, so the hot
 * path has no shared RMW; weft_num_goroutines sums them. */
static void count_goroutine(weft__p *p, int64_t d) {
  if (p)
    weft__store_relaxed(&p->ngo, weft__load_relaxed(&p->ngo) + d);
  else
    weft__add_relaxed(&weft__sched_g.ngo_threads, d);
}

/* Inlined into its two callers: out of line it cost a call and spills on
 * the spawn path (measured with cachegrind: +35 instructions a spawn). */
static inline __attribute__((always_inline)) int
g_new(weft__p *p, void (*fn)(void *), void *arg, const weft_go_options *o,
      void *pc, weft__g **out) {
  size_t size = weft__stack_round(o ? o->stack_size : 0);
  if (size == 0)
    return -EINVAL;
  weft__stack st;
  weft__race_ignore_begin(); /* runtime memory: unseen (base/hooks.h) */
  int rc = weft__stack_alloc(p ? &p->stacks : NULL, size, &st);
  weft__race_ignore_end();
  if (rc)
    return rc;
  weft__race_stack_fresh(st.lo, st.size);
  weft__g *g = weft__g_of_stack(st.lo, st.size);
  /* A cached stack still holds its last goroutine's record, which the dump
   * may be reading (debug/dump.c): hide it first, then set every field (the
   * atomics with atomic stores; a name is touched only if there is one). */
  weft__store_relaxed(&g->magic, 0);
  g->schedlink = NULL;
  g->fn = fn;
  g->arg = arg;
  g->id = new_goid(p);
  g->stack = st;
  g->saved_errno = 0;
  weft__store_relaxed(&g->status, WEFT__G_RUNNABLE);
  weft__store_relaxed(&g->wait_reason, NULL);
  g->parent_id = p && p->cur ? p->cur->id : 0;
  g->create_pc = pc;
  if (o && o->name) {
    size_t n = strnlen(o->name, sizeof g->name - 1);
    weft__rt_memcpy(g->name, o->name, n); /* unseen by TSan (base/hooks.h) */
    g->name[n] = '\0';
  } else {
    g->name[0] = '\0';
  }
  g->tsan_fiber = weft__tsan_create();
  weft__race_fiber_name(g->tsan_fiber, g->id, g->name);
  weft__ctx_make(&g->ctx, st.lo, (size_t)((char *)g - st.lo), g_entry, g);
  count_goroutine(p, 1);
  /* Last: the dump sees the record only once it is whole (pairs with the
   * acquire load in debug/dump.c). A plain store on x86-64. */
  weft__store_release(&g->magic, WEFT__G_MAGIC);
  *out = g;
  return 0;
}

/* Pending hook of a spawn: the parent waits in runnext. */
static void park_parent(weft__p *p, void *parent) {
  weft__store_relaxed(&((weft__g *)parent)->status, WEFT__G_RUNNABLE);
  weft__runqput(p, parent, WEFT__PUT_NEXT);
}

/* Queues a new G without running it: from a plain thread, the scheduler
 * (g0), or code that must not switch. */
static void enqueue(weft__p *p, weft__g *g) {
  if (p) {
    weft__runqput(p, g, WEFT__PUT_TAIL);
  } else {
    weft__globrunqput(g);
    weft__wakep();
  }
}

/* pc: the caller of the public entry point, the dump's "created by". One
 * copy, which weft_go and weft_go_opts reach by a tail call. */
static WEFT_NOINLINE int go_at(void (*fn)(void *), void *arg,
                                const weft_go_options *o, void *pc) {
  if (fn == NULL)
    return -EINVAL;
  if (weft__unlikely(weft__forked_child))
    weft__fork_misuse("weft_go");
  weft__ensure_started();
  weft__sched_point();
  weft__p *p = weft__curp(); /* after the point: it may have migrated */
  if (weft__unlikely(p == NULL))
    p = weft__rejoin(); /* back from a raw call (sched/rawcall.c) */
  weft__g *g;
  int rc = g_new(p, fn, arg, o, pc, &g);
  if (rc)
    return rc;
  if (p && p->cur && !(weft__det_enabled() && weft__det_parent_first())) {
    weft__g *parent = p->cur;
    weft__switch_to(p, parent, g, park_parent, parent);
  } else {
    enqueue(p, g);
    if (p) /* g_new's use of p (sched/rawcall.c) */
      weft__raw_touch_after(weft__load_relaxed(&p->m));
  }
  return 0;
}

int weft_go_opts(void (*fn)(void *), void *arg, const weft_go_options *o) {
  return go_at(fn, arg, o, __builtin_return_address(0));
}

static WEFT_NOINLINE int go_queued_at(void (*fn)(void *), void *arg,
                                       void *pc) {
  weft__ensure_started();
  weft__p *p = weft__curp();
  weft__g *g;
  int rc = g_new(p, fn, arg, NULL, pc, &g);
  if (rc == 0)
    enqueue(p, g);
  return rc;
}

int weft__go_queued(void (*fn)(void *), void *arg) {
  return go_queued_at(fn, arg, __builtin_return_address(0));
}

int weft__go_main(void (*fn)(void *), void *arg) {
  return go_queued_at(fn, arg, NULL);
}

int weft_go(void (*fn)(void *), void *arg) {
  return go_at(fn, arg, NULL, __builtin_return_address(0));
}

/* Pending hook of an exit: the stack can be reused once we are off it. */
static void free_g(weft__p *p, void *arg) {
  weft__g *g = arg;
  weft__stack st = g->stack; /* the record dies with the stack */
  weft__tsan_destroy(g->tsan_fiber);
  weft__race_ignore_begin();
  weft__stack_free(&p->stacks, &st);
  weft__race_ignore_end();
}

static _Noreturn void goexit(weft__g *g) {
  weft__p *p = weft__curp();
  if (weft__unlikely(p == NULL))
    p = weft__rejoin(); /* back from a raw call: die on a P */
  count_goroutine(p, -1);
  weft__store_relaxed(&g->status, WEFT__G_DEAD);
  weft__schedule_away(p, g, free_g, g, true);
  __builtin_unreachable();
}

/* Pending hook of a yield: back to the tail of this P's ring. */
static void requeue(weft__p *p, void *g) {
  weft__store_relaxed(&((weft__g *)g)->status, WEFT__G_RUNNABLE);
  weft__runqput(p, g, WEFT__PUT_TAIL);
}

void weft_yield(void) {
  weft__p *p = weft__curp();
  if (p == NULL) {
    if (weft__lost_g()) /* back from a raw call: queued for a P */
      weft__rejoin();
    else
      sched_yield();
    return;
  }
  weft__schedule_away(p, p->cur, requeue, p->cur, false);
}

/* errno is glibc's here (the library builds with WEFT_NO_ERRNO_MACRO). */
int *weft_errno_location(void) {
  __asm__ __volatile__("" ::: "memory"); /* as weft__curp: never pure */
  return &errno;
}

uint64_t weft_goid(void) {
  weft__g *g = weft__curg();
  return g ? g->id : 0;
}

int weft_proc_id(void) {
  weft__p *p = weft__curp();
  return p ? p->id : -1;
}

int weft_num_goroutines(void) {
  weft__sched *s = &weft__sched_g;
  int64_t n = weft__load_relaxed(&s->ngo_threads);
  for (int i = 0; i < s->nprocs; i++) /* nprocs is 0 before start */
    n += weft__load_relaxed(&s->allp[i]->ngo);
  return n < 0 ? 0 : (int)n;
}
