/* stack.c -- goroutine stacks.
 *
 * Design
 * - Stacks are carved from arenas: one mmap (MAP_NORESERVE) holds several
 *   slots of [guard | stack] for one size class (a power of two). Only
 *   touched pages cost memory; a parked goroutine that used little stack
 *   costs one page, which also holds its weft__g record (see runtime.h).
 * - Guard pages. Linux >= 6.13 has madvise(MADV_GUARD_INSTALL), which marks
 *   pages as faulting in the page tables without creating a new mapping, so
 *   adjacent arenas merge into a handful of VMAs and 1,000,000 stacks fit in
 *   the default vm.max_map_count (65530). Older kernels get mprotect(
 *   PROT_NONE), which splits a VMA per stack: about 32,000 live stacks at
 *   the default limit, after which allocation fails with -ENOMEM rather
 *   than running a stack without a guard. A fault in a guard region is
 *   reported by the SIGSEGV handler (signals.c).
 * - Stacks are never unmapped: unmapping one slot of an arena would split
 *   the VMA and could itself fail at the map-count limit. Freed stacks go to
 *   the freeing P's cache (no lock), then to a global pool per size class
 *   (class->lock), and keep their touched pages for the next goroutine.
 *   Returning pages one stack at a time (MADV_DONTNEED) was measured: each
 *   call flushes the TLB of every thread of the process, about 50-100 us
 *   in a VM, which made exiting a million goroutines take minutes. So a
 *   peak's stacks stay resident, as a cache; a background scavenger that
 *   returns whole idle arenas is future work.
 *
 * - Every arena is also pushed on weft__stack_arenas, a list that is never
 *   shortened, so the goroutine dump (debug/dump.c) and the gdb script can find
 *   every goroutine record without a per-spawn registry: each slot's top
 *   holds a record (weft__g_of_stack), live while its magic is set and its
 *   status is not DEAD (runtime.h). Slots never carved read as zeros.
 *
 * Locking: class->lock protects every field of a size class. A cache is
 * touched only by its P's thread. weft__stack_arenas: pushed with a release
 * CAS after the node is filled, read with acquire loads (weft__stack_each);
 * nodes are immutable and never freed.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "sched/stack.h"
#include "base/sanitizer.h"

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define WEFT_HAVE_VALGRIND 1
#endif
#endif

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102 /* Linux 6.13 uapi value */
#endif

#define MIN_SHIFT 14 /* 16 KiB */
#define MAX_SHIFT 30 /* 1 GiB */
#define NCLASS (MAX_SHIFT - MIN_SHIFT + 1)
#define ARENA_BYTES ((size_t)4 << 20)

typedef struct size_class {
  weft__spinlock lock;
  char **free;      /* pooled stacks (their lo), LIFO */
  size_t nfree, cap;
  char *fresh, *end; /* unused slots of the newest arena */
} size_class;

static size_class classes[NCLASS];
WEFT_INTERNAL _Atomic(weft__arena *) weft__stack_arenas;
static size_t default_size = WEFT_STACK_DEFAULT;
static bool guard_by_madvise;
static atomic_int fault_countdown; /* test hook; relaxed, no pairing needed */

void weft__stack_fault_inject(int n) { weft__store_relaxed(&fault_countdown, n); }

static bool fault_injected(void) {
  int n = weft__load_relaxed(&fault_countdown);
  while (n > 0) {
    if (atomic_compare_exchange_weak_explicit(&fault_countdown, &n, n - 1,
                                              memory_order_relaxed,
                                              memory_order_relaxed))
      return true;
  }
  return false;
}

void weft__stack_init(size_t def) {
  default_size = def;
  const char *env = getenv("WEFT_STACK_GUARD");
  if (env && strcmp(env, "mprotect") == 0)
    return;
  /* Probe once: EINVAL means the kernel predates guard regions. */
  size_t pg = (size_t)sysconf(_SC_PAGESIZE);
  void *p = mmap(NULL, pg, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED)
    return;
  guard_by_madvise = madvise(p, pg, MADV_GUARD_INSTALL) == 0;
  munmap(p, pg);
}

size_t weft__stack_round(size_t req) {
  if (req == 0)
    return default_size;
  if (req < WEFT_STACK_MIN || req > WEFT_STACK_MAX)
    return 0;
  size_t s = WEFT_STACK_MIN;
  while (s < req)
    s <<= 1;
  return s;
}

static int class_of(size_t size) { return __builtin_ctzl(size) - MIN_SHIFT; }

static int install_guard(char *guard) {
  if (guard_by_madvise)
    return madvise(guard, WEFT__GUARD_SIZE, MADV_GUARD_INSTALL) == 0 ? 0
                                                                     : -ENOMEM;
  return mprotect(guard, WEFT__GUARD_SIZE, PROT_NONE) == 0 ? 0 : -ENOMEM;
}

static void arena_publish(weft__arena *a) {
  weft__arena *head = weft__load_relaxed(&weft__stack_arenas);
  do
    a->next = head;
  while (!atomic_compare_exchange_weak_explicit(&weft__stack_arenas, &head, a,
                                                memory_order_release,
                                                memory_order_relaxed));
}

void weft__stack_each(void (*fn)(char *lo, size_t size, void *arg),
                      void *arg) {
  /* pairs with arena_publish's release CAS */
  for (weft__arena *a = weft__load_acquire(&weft__stack_arenas); a;
       a = a->next)
    for (size_t i = 0; i < a->n; i++)
      fn(a->base + i * a->slot + WEFT__GUARD_SIZE, a->size, arg);
}

/* Carves a never-used slot; class lock held. */
static int carve(size_class *c, size_t size, char **lo) {
  size_t slot = WEFT__GUARD_SIZE + size;
  if (c->fresh == NULL || c->fresh == c->end) {
    size_t n = ARENA_BYTES / slot ? ARENA_BYTES / slot : 1;
    weft__arena *node = weft__rt_malloc(sizeof *node);
    if (node == NULL)
      return -ENOMEM; /* an arena the dump cannot see is not made */
    void *a = mmap(NULL, n * slot, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (a == MAP_FAILED) {
      weft__rt_free(node);
      return -ENOMEM;
    }
    *node = (weft__arena){NULL, a, slot, size, n};
    arena_publish(node);
    c->fresh = a;
    c->end = c->fresh + n * slot;
  }
  if (install_guard(c->fresh) != 0)
    return -ENOMEM; /* the slot stays fresh; a later call retries it */
  *lo = c->fresh + WEFT__GUARD_SIZE;
  c->fresh += slot;
#ifdef WEFT_HAVE_VALGRIND
  VALGRIND_STACK_REGISTER(*lo, *lo + size);
#endif
  return 0;
}

int weft__stack_alloc(weft__stack_cache *cache, size_t size,
                      weft__stack *out) {
  if (weft__unlikely(fault_injected()))
    return -ENOMEM;
  out->size = size;
  if (cache && size == default_size && cache->n > 0) {
    out->lo = cache->lo[--cache->n];
    return 0;
  }
  size_class *c = &classes[class_of(size)];
  int rc = 0;
  weft__spin_lock_ranked(&c->lock, WEFT__RANK_STACKS);
  if (c->nfree > 0)
    out->lo = c->free[--c->nfree];
  else
    rc = carve(c, size, &out->lo);
  weft__spin_unlock_ranked(&c->lock, WEFT__RANK_STACKS);
  return rc;
}

/* Pushes lo on the class pool; returns false if the pool cannot grow. */
static bool pool_push(size_class *c, char *lo) {
  if (c->nfree == c->cap) {
    size_t cap = c->cap ? 2 * c->cap : 256;
    char **f = weft__rt_realloc(c->free, cap * sizeof *f);
    if (f == NULL)
      return false;
    c->free = f;
    c->cap = cap;
  }
  c->free[c->nfree++] = lo;
  return true;
}

void weft__stack_free(weft__stack_cache *cache, const weft__stack *s) {
  weft__asan_unpoison(s->lo, s->size);
  if (cache && s->size == default_size && cache->n < WEFT__STACK_CACHE) {
    cache->lo[cache->n++] = s->lo;
    return;
  }
  size_class *c = &classes[class_of(s->size)];
  weft__spin_lock_ranked(&c->lock, WEFT__RANK_STACKS);
  bool kept = pool_push(c, s->lo);
  weft__spin_unlock_ranked(&c->lock, WEFT__RANK_STACKS);
  if (!kept) /* the pool could not grow: keep only the address space */
    madvise(s->lo, s->size, MADV_DONTNEED);
}
