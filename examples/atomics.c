/*
 * atomics.c -- Go's sync/atomic is C11's <stdatomic.h>.
 *
 * weft has no atomics of its own: C11 already has them, and they compile to
 * the same instructions Go's do. The translation:
 *
 *     Go                               C11
 *     var n atomic.Int64               _Atomic int64_t n;
 *     n.Add(1)                         atomic_fetch_add(&n, 1)   (returns the OLD value;
 *                                                                 Go's Add returns the new one)
 *     n.Load() / n.Store(v)            atomic_load(&n) / atomic_store(&n, v)
 *     n.CompareAndSwap(old, new)       atomic_compare_exchange_strong(&n, &old, new)
 *                                      (on failure it also writes the current value into old)
 *     n.Swap(v)                        atomic_exchange(&n, v)
 *
 * Go's atomics are sequentially consistent, and so are the C11 calls
 * without _explicit. The _explicit forms take a weaker order; relaxed is
 * enough for a counter that nobody reads until a WaitGroup (or a join, a
 * channel, a mutex) has ordered the increments before the read.
 *
 * The program counts to the same total three times with goroutines on
 * several OS threads: with atomic_fetch_add, with a CAS loop, and -- on
 * purpose, to show why the first two exist -- with a plain `n++`.
 *
 * Run: ./atomics     (the racy count needs 2 or more Ps to lose anything)
 */
#include <weft.h>

#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { WORKERS = 8, INCREMENTS = 250000 };
#define TOTAL ((int64_t)WORKERS * INCREMENTS)
/* The racy loop is some 20 times faster than the atomic one: it counts
 * further, so that the threads get a chance to overlap at all (a worker
 * that finishes before the next P wakes up races with nobody). */
enum { RACY_INCREMENTS = 20 * INCREMENTS };
#define RACY_TOTAL ((int64_t)WORKERS * RACY_INCREMENTS)

static weft_waitgroup wg = WEFT_WAITGROUP_INIT;

/* Closed by run_workers once every worker exists, so that they all start
 * counting together instead of one after another as they are spawned:
 * the counts below only mean something if threads really overlap. */
static weft_chan *go_ahead;

static void wait_for_start(void) { weft_recv(go_ahead, NULL); }

/* Run body in WORKERS goroutines and wait for all; returns milliseconds. */
static double run_workers(void (*body)(void *)) {
  go_ahead = weft_chan_make(0, 0); /* chan struct{} */
  if (!go_ahead) exit(1);
  weft_wg_add(&wg, WORKERS);
  for (int i = 0; i < WORKERS; i++) {
    int rc = weft_go(body, NULL);
    if (rc != 0) {
      fprintf(stderr, "weft_go: %s\n", strerror(-rc));
      exit(1);
    }
  }
  int64_t t0 = weft_now();
  weft_close(go_ahead); /* wakes every worker at once */
  weft_wg_wait(&wg);
  double ms = (weft_now() - t0) / 1e6;
  weft_chan_unref(go_ahead);
  return ms;
}

/* ---- atomic.Int64.Add -------------------------------------------------- */

static _Atomic int64_t counter;

static void add_atomically(void *arg) {
  (void)arg;
  wait_for_start();
  for (int i = 0; i < INCREMENTS; i++)
    /* One indivisible read-modify-write (lock xadd on x86): two threads
     * can never both read the same old value. Relaxed: see the top. */
    atomic_fetch_add_explicit(&counter, 1, memory_order_relaxed);
  weft_wg_done(&wg);
}

/* ---- atomic.Int64.CompareAndSwap --------------------------------------- */

static _Atomic int64_t cas_counter;
static _Atomic int64_t cas_retries;

/* The general recipe for any update an atomic has no instruction for
 * (a max, a saturating add, a pointer swing): read, compute, and CAS the
 * result in only if nobody changed the value meanwhile; else retry. */
static void add_by_cas(void *arg) {
  (void)arg;
  wait_for_start();
  int64_t retries = 0;
  for (int i = 0; i < INCREMENTS; i++) {
    int64_t old = atomic_load_explicit(&cas_counter, memory_order_relaxed);
    /* weak: may fail spuriously, which the loop absorbs, and is cheaper
     * on some CPUs. A failed CAS has already reloaded old. */
    while (!atomic_compare_exchange_weak_explicit(&cas_counter, &old, old + 1,
                                                  memory_order_relaxed,
                                                  memory_order_relaxed))
      retries++;
  }
  atomic_fetch_add_explicit(&cas_retries, retries, memory_order_relaxed);
  weft_wg_done(&wg);
}

/* ---- the same count, racy ---------------------------------------------- */

/* THIS IS A DATA RACE, shown on purpose: several goroutines on several
 * threads read and write racy_counter with no synchronisation. In C (as in
 * Go) that is undefined behaviour, not merely a wrong count: the compiler
 * may assume no other thread writes it. `volatile` makes every ++ a real
 * load and store -- without it the compiler turns the loop into one add --
 * but it makes nothing atomic: two threads load the same value, both store
 * value + 1, and one increment is lost.
 *
 * Go's race detector would flag this loop; so would ThreadSanitizer. The
 * attribute below tells TSan builds of the examples not to instrument this
 * one function, so that they stay quiet about the race we mean to show. */
#if defined(__GNUC__) || defined(__clang__)
#define NO_TSAN __attribute__((no_sanitize("thread")))
#else
#define NO_TSAN
#endif

static volatile int64_t racy_counter;

NO_TSAN static void add_racily(void *arg) {
  (void)arg;
  wait_for_start();
  for (int i = 0; i < RACY_INCREMENTS; i++)
    racy_counter++; /* load, add, store: three steps, any may interleave */
  weft_wg_done(&wg);
}

int main(void) {
  printf("%d goroutines x %d increments on %d Ps; want %" PRId64 "\n", WORKERS,
         INCREMENTS, weft_procs(0), TOTAL);

  double ms = run_workers(add_atomically);
  /* The WaitGroup ordered every increment before this load. */
  int64_t got = atomic_load(&counter);
  printf("  atomic_fetch_add: %8" PRId64 "  %s  (%.1f ms)\n", got,
         got == TOTAL ? "exact" : "WRONG", ms);

  ms = run_workers(add_by_cas);
  int64_t got_cas = atomic_load(&cas_counter);
  printf("  CAS loop:         %8" PRId64 "  %s  (%.1f ms, %" PRId64
         " retries)\n", got_cas, got_cas == TOTAL ? "exact" : "WRONG", ms,
         atomic_load(&cas_retries));

  ms = run_workers(add_racily);
  int64_t racy = racy_counter;
  printf("  plain ++ (racy):  %8" PRId64 " of %" PRId64 ": %" PRId64
         " updates lost (%.1f ms)\n", racy, RACY_TOTAL, RACY_TOTAL - racy, ms);
  /* How many are lost depends on timing and on how many threads really ran
   * at once (none with 1 P): reported, never checked. Only the atomic
   * counts decide the exit status. */
  printf("  (a lost count of 0 proves nothing: the race is still there)\n");

  if (got != TOTAL || got_cas != TOTAL) {
    printf("an atomic count is wrong\n");
    return 1;
  }
  printf("atomics ok\n");
  return 0;
}
