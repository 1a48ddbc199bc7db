/*
 * goroutines.c -- the first weft program: many goroutines and a WaitGroup.
 *
 * The Go version of this program is
 *
 *     var total atomic.Uint64
 *     var wg sync.WaitGroup
 *     for i := 0; i < n; i++ {
 *         wg.Add(1)
 *         go func(i uint64) { defer wg.Done(); total.Add(i * i) }(uint64(i))
 *     }
 *     wg.Wait()
 *
 * and the C below is the same program, line for line, with the parts Go hides
 * written out: a goroutine is a function taking one void *, the shared total
 * is a C11 atomic, and the WaitGroup is a plain struct that needs no setup.
 *
 * Run: ./goroutines [COUNT]     (default 10000)
 */
#include <weft.h>

#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Shared between all goroutines. Goroutines run in parallel on several OS
 * threads, so the total must be atomic, exactly as in Go. */
static _Atomic uint64_t total;

/* WEFT_WAITGROUP_INIT is all zeroes: a static WaitGroup is ready as is, and
 * nothing needs to be destroyed afterwards (like Go's zero-value WaitGroup). */
static weft_waitgroup wg = WEFT_WAITGROUP_INIT;

/* Each goroutine writes its id here, so main can show that every goroutine
 * had one of its own. One slot per goroutine: no sharing, no atomics. */
static uint64_t *ids;

/* The goroutine body. There are no closures in C, so the loop index travels
 * in the void * argument itself: no allocation, and no risk of every
 * goroutine seeing the loop variable's final value. */
static void worker(void *arg) {
  uint64_t i = (uint64_t)(uintptr_t)arg;

  ids[i] = weft_goid();
  /* "A little work". Relaxed ordering is enough for a sum: the WaitGroup
   * below is what makes the result visible to main. */
  atomic_fetch_add_explicit(&total, i * i, memory_order_relaxed);
  /* Go would say `defer wg.Done()`; C has no defer, so it goes last. */
  weft_wg_done(&wg);
}

/* Start n goroutines. Add(1) comes before the spawn, never inside the
 * goroutine: otherwise main could reach Wait while the counter is still 0. */
static void spawn_all(uint64_t n) {
  for (uint64_t i = 0; i < n; i++) {
    weft_wg_add(&wg, 1);
    int rc = weft_go(worker, (void *)(uintptr_t)i);
    if (rc != 0) { /* weft reports errors as negative errno values */
      fprintf(stderr, "weft_go #%" PRIu64 ": %s\n", i, strerror(-rc));
      exit(1);
    }
  }
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return (x > y) - (x < y);
}

/* Every goroutine id is nonzero (0 means "not a goroutine") and unique. */
static int ids_ok(uint64_t n) {
  qsort(ids, n, sizeof ids[0], cmp_u64);
  for (uint64_t i = 0; i < n; i++) {
    if (ids[i] == 0 || (i > 0 && ids[i] == ids[i - 1])) {
      fprintf(stderr, "goroutine id %" PRIu64 " is zero or repeated\n", ids[i]);
      return 0;
    }
  }
  printf("goroutine ids:      %" PRIu64 " unique, from %" PRIu64
         " to %" PRIu64 "\n", n, ids[0], ids[n - 1]);
  return 1;
}

int main(int argc, char **argv) {
  uint64_t n = argc > 1 ? strtoull(argv[1], NULL, 10) : 10000;
  if (n == 0 || n > 1000000) { /* sum of squares stays well inside 64 bits */
    fprintf(stderr, "usage: %s [COUNT 1..1000000]\n", argv[0]);
    return 2;
  }
  ids = calloc(n, sizeof ids[0]);
  if (!ids) return 1;

  /* main is a plain OS thread, not a goroutine: its goid is 0 and it runs on
   * no P. The runtime starts itself on this first call. */
  printf("processors (Ps):    %d\n", weft_procs(0));
  printf("main: goid %" PRIu64 ", P %d\n", weft_goid(), weft_proc_id());

  int64_t start = weft_now();
  spawn_all(n);
  /* Some goroutines have finished already, others have not started yet. */
  printf("goroutines alive right after spawning: %d of %" PRIu64 "\n",
         weft_num_goroutines(), n);
  weft_wg_wait(&wg); /* main blocks on a futex until the counter hits 0 */
  int64_t elapsed = weft_now() - start;

  /* sum of i*i for i in [0, n) = (n-1) n (2n-1) / 6 */
  uint64_t want = (n - 1) * n * (2 * n - 1) / 6;
  uint64_t got = atomic_load(&total);
  printf("%" PRIu64 " goroutines in %.2f ms\n", n, elapsed / 1e6);
  printf("total %" PRIu64 ", expected %" PRIu64 ": %s\n", got, want,
         got == want ? "ok" : "WRONG");
  int ok = got == want && ids_ok(n);
  free(ids);
  return ok ? 0 : 1;
}
