/* dump.c -- the goroutine dump (weft_dump), Go's SIGQUIT traceback.
 *
 * Finding the goroutines. There is no list of goroutines to keep up to date
 * on every spawn and exit: every goroutine's record sits at the top of its
 * own stack (runtime.h), and every stack lies in an arena that stack.c
 * publishes on weft__stack_arenas. The dump visits every slot of every
 * arena and takes a record as a live goroutine when
 *   - its magic (acquire; stored with release last in go.c's g_new) is
 *     WEFT__G_MAGIC, which a never-used slot (zeros) and a record being
 *     rebuilt (g_new clears magic first) do not have, and
 *   - its status (relaxed) is not DEAD, which goexit stores before the
 *     stack goes back to a cache (a cached stack keeps its old record).
 * Spawning pays one extra store for this.
 *
 * Exactness. When every goroutine is parked (a deadlock, or the program is
 * stopped in a debugger), the dump is exact: records and saved contexts do
 * not change. Otherwise it is a snapshot taken without stopping the world,
 * as Go's SIGQUIT dump of running goroutines: a goroutine may change state
 * while it is read, and one created or ended meanwhile may be missed or
 * shown. What keeps that safe: stacks are never unmapped, records are read
 * field by field with relaxed atomics where they change (status,
 * wait_reason, wait_since), and stacks are walked within bounds
 * (traceback.c). A goroutine running on another P is shown as running,
 * without a stack: it cannot be walked while it runs.
 *
 * Output follows Go's: per goroutine, a blank line, then
 *   goroutine 7 "name" [chan receive, 3 minutes]:
 *   function+0xoff
 *   	module +0xoff
 *   ...
 *   created by function+0xoff in goroutine 1
 *   	module +0xoff
 * The caller's own goroutine comes first, the others by id. Then come the
 * plain threads blocked in weft (threadwait.h), as
 *   thread 4242 (main) [sync.WaitGroup.Wait]:
 * with their frames from the wait outwards: Go shows main as goroutine 1,
 * and weft's main is a thread. Dumps are serialized by dump_lock, which
 * also guards traceback.c's symbol cache.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sched/runtime.h"
#include "debug/threadwait.h"
#include "debug/traceback.h"

static pthread_mutex_t dump_lock = PTHREAD_MUTEX_INITIALIZER;

typedef struct gsnap {
  const weft__g *g;
  uint64_t id, parent_id;
  int status;
  const char *reason;
  int64_t since;
  uintptr_t create_pc;
  void (*fn)(void *);
  char name[32];
} gsnap;

/* Copies a live record into *s; false if the slot holds no goroutine. */
static bool snapshot(const weft__g *g, gsnap *s) {
  /* pairs with g_new's release store */
  if (weft__load_acquire((_Atomic uint32_t *)&g->magic) != WEFT__G_MAGIC)
    return false;
  s->status = weft__load_relaxed((_Atomic int *)&g->status);
  if (s->status == WEFT__G_DEAD)
    return false;
  s->g = g;
  s->id = g->id;
  s->parent_id = g->parent_id;
  s->create_pc = (uintptr_t)g->create_pc;
  s->fn = g->fn;
  s->reason = weft__load_relaxed((_Atomic(const char *) *)&g->wait_reason);
  s->since = weft__load_relaxed((_Atomic int64_t *)&g->wait_since);
  memcpy(s->name, g->name, sizeof s->name);
  s->name[sizeof s->name - 1] = '\0';
  return true;
}

typedef struct collect {
  gsnap *v;
  size_t n, cap;
  bool oom;
} collect;

static void collect_slot(char *lo, size_t size, void *arg) {
  collect *c = arg;
  gsnap s;
  if (!snapshot(weft__g_of_stack(lo, size), &s))
    return;
  if (c->n == c->cap) {
    size_t cap = c->cap ? 2 * c->cap : 64;
    gsnap *v = weft__rt_realloc(c->v, cap * sizeof *v);
    if (v == NULL) {
      c->oom = true;
      return;
    }
    c->v = v;
    c->cap = cap;
  }
  c->v[c->n++] = s;
}

static int by_id(const void *a, const void *b) {
  uint64_t x = ((const gsnap *)a)->id, y = ((const gsnap *)b)->id;
  return x < y ? -1 : x > y;
}

static void print_wait(FILE *out, const char *reason, int64_t since) {
  fputs(reason ? reason : "waiting", out);
  int64_t waited = weft_now() - since;
  if (since == 0 || waited < WEFT_SEC)
    return;
  if (waited >= 60 * WEFT_SEC)
    fprintf(out, ", %" PRId64 " minutes", waited / (60 * WEFT_SEC));
  else
    fprintf(out, ", %" PRId64 " seconds", waited / WEFT_SEC);
}

static void print_state(FILE *out, const gsnap *s, bool self) {
  if (s->status == WEFT__G_SYSCALL && !self)
    print_wait(out, "syscall", s->since); /* Go's [syscall, N minutes] */
  else if (self || s->status == WEFT__G_RUNNING)
    fputs("running", out);
  else if (s->status == WEFT__G_RUNNABLE)
    fputs("runnable", out);
  else
    print_wait(out, s->reason, s->since);
}

static void print_frames(FILE *out, const uintptr_t *pcs, int n) {
  int i = 0;
  while (i < n - 1 && weft__pc_is_switch(pcs[i]))
    i++; /* the switch itself: the same in every parked goroutine */
  for (; i < n; i++) {
    const char *name = weft__pc_name(pcs[i], NULL);
    if (name && strcmp(name, "g_entry") == 0)
      break; /* the runtime's entry: "created by" tells the rest */
    weft__print_pc(out, pcs[i], "", "");
  }
}

/* self_fp: a frame pointer of the caller's stack if s is the caller. */
static void print_one(FILE *out, const gsnap *s, uintptr_t self_fp) {
  fprintf(out, "\ngoroutine %" PRIu64, s->id);
  if (s->name[0])
    fprintf(out, " \"%s\"", s->name);
  fputs(" [", out);
  print_state(out, s, self_fp != 0);
  fputs("]:\n", out);
  uintptr_t pcs[WEFT__TRACEBACK_MAX];
  int n = 0;
  if (self_fp)
    n = weft__traceback_self(s->g, self_fp, pcs, WEFT__TRACEBACK_MAX);
  else if (s->status == WEFT__G_RUNNING || s->status == WEFT__G_SYSCALL)
    fputs("\tgoroutine running on other thread; stack unavailable\n", out);
  else
    n = weft__traceback_parked(s->g, pcs, WEFT__TRACEBACK_MAX);
  if (n == 1 && s->status == WEFT__G_RUNNABLE) {
    const char *name = weft__pc_name(pcs[0], NULL);
    if (name && strcmp(name, "weft__ctx_trampoline") == 0)
      n = 0; /* never ran: show its function instead */
  }
  if (n > 0)
    print_frames(out, pcs, n);
  else if (!self_fp && s->status == WEFT__G_RUNNABLE)
    weft__print_pc(out, (uintptr_t)s->fn + 1, "", " (not started)");
  char in[48] = "";
  if (s->parent_id)
    snprintf(in, sizeof in, " in goroutine %" PRIu64, s->parent_id);
  if (s->create_pc)
    weft__print_pc(out, s->create_pc, "created by ", in);
}

/* Plain threads blocked in weft (threadwait.h), after the goroutines:
 * Go shows main as goroutine 1, as weft does under weft_main; a plain
 * main() is a thread. */
static void dump_threads(FILE *out) {
  weft__thread_snap *v;
  size_t n = weft__thread_wait_collect(&v);
  for (size_t i = 0; i < n; i++) {
    fprintf(out, "\nthread %ld%s [", (long)v[i].tid,
            v[i].tid == getpid() ? " (main)" : "");
    print_wait(out, v[i].reason, v[i].since);
    fputs("]:\n", out);
    for (int k = 0; k < v[i].npcs; k++)
      weft__print_pc(out, v[i].pcs[k], "", "");
  }
  weft__rt_free(v);
}

/* Prints every goroutine but skip (0: none); returns how many. */
static size_t dump_locked(FILE *out, uint64_t skip, uintptr_t self_fp) {
  const weft__g *me = weft__curg();
  collect c = {0};
  weft__stack_each(collect_slot, &c);
  if (c.oom)
    fputs("weft: dump: out of memory; some goroutines are missing\n", out);
  qsort(c.v, c.n, sizeof *c.v, by_id);
  size_t shown = 0;
  for (int pass = 0; pass < 2; pass++) /* the caller first */
    for (size_t i = 0; i < c.n; i++) {
      bool self = c.v[i].g == me;
      if (self != (pass == 0) || (skip && c.v[i].id == skip))
        continue;
      print_one(out, &c.v[i], self ? self_fp : 0);
      shown++;
    }
  weft__rt_free(c.v);
  return shown;
}

void weft_dump(FILE *out) {
  if (out == NULL)
    return;
  /* Our caller's frame: the dump's own frames are not shown. */
  uintptr_t fp = (uintptr_t)__builtin_frame_address(0);
  pthread_mutex_lock(&dump_lock);
  dump_locked(out, 0, fp);
  dump_threads(out);
  fflush(out);
  pthread_mutex_unlock(&dump_lock);
}

size_t weft__dump_others(FILE *out, const char *what) {
  pthread_mutex_lock(&dump_lock);
  weft__g *me = weft__curg();
  collect c = {0};
  weft__stack_each(collect_slot, &c);
  size_t n = 0;
  for (size_t i = 0; i < c.n; i++)
    n += c.v[i].g != me;
  weft__rt_free(c.v);
  if (n > 0) {
    fprintf(out, "weft: %zu goroutine%s %s\n", n, n == 1 ? "" : "s", what);
    dump_locked(out, me ? me->id : 0, 0);
    fflush(out);
  }
  pthread_mutex_unlock(&dump_lock);
  return n;
}
