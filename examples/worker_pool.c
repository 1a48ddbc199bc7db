/*
 * worker_pool.c -- a bounded worker pool with errgroup: many jobs, at most
 * LIMIT at a time, and the first failure cancels the rest.
 *
 * In Go, with golang.org/x/sync/errgroup:
 *
 *     g, ctx := errgroup.WithContext(context.Background())
 *     g.SetLimit(8)
 *     for i := 0; i < jobs; i++ {
 *         if ctx.Err() != nil { break }   // no point starting more
 *         i := i
 *         g.Go(func() error { return process(ctx, i) })
 *     }
 *     err := g.Wait()                     // the first error, or nil
 *
 * weft_group is that: weft_group_go blocks while LIMIT jobs run (so the
 * loop itself is the back-pressure, no job queue is needed), a nonzero
 * return from a job is its error, the first error cancels the group's
 * context, and weft_group_wait returns that first error. Later errors --
 * such as the -ECANCELED of the jobs it stopped -- are dropped, as in Go.
 *
 * Run: ./worker_pool
 */
#include <weft.h>

#include <inttypes.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { LIMIT = 8 };

static int failures;

static void check(int ok, const char *what) {
  printf("  %-56s %s\n", what, ok ? "ok" : "WRONG");
  if (!ok) failures++;
}

static weft_group *group_or_die(int limit) {
  weft_group *g = weft_group_new(NULL, limit); /* NULL: under background */
  if (!g) {
    fprintf(stderr, "weft_group_new: out of memory\n");
    exit(1);
  }
  return g;
}

/* How many jobs run right now, and the most that ever did at once. */
static _Atomic int running, most_running;

static void job_starts(void) {
  int now = atomic_fetch_add(&running, 1) + 1;
  int most = atomic_load(&most_running);
  /* Go's `for { if now <= most || CompareAndSwap(most, now) { break } }`:
   * a failed exchange reloads most. */
  while (now > most && !atomic_compare_exchange_weak(&most_running, &most, now))
    ;
}

static void job_ends(void) { atomic_fetch_sub(&running, 1); }

/* ---- 1. a successful run, with an exact result ------------------------- */

enum { JOBS = 10000, CHUNK = 1000 };

/* Job i sums i*CHUNK .. (i+1)*CHUNK-1 into its own slot: no sharing, so no
 * lock. Slots are per job, not per worker: the pool reuses no state. */
static uint64_t partial[JOBS];

static int sum_chunk(weft_ctx *ctx, void *arg) {
  (void)ctx; /* a job this short has no reason to check for cancellation */
  uintptr_t i = (uintptr_t)arg;
  job_starts();
  uint64_t s = 0;
  for (uint64_t v = i * CHUNK; v < (i + 1) * CHUNK; v++) s += v;
  partial[i] = s;
  /* A goroutine that never blocks keeps its P until it returns; yielding
   * once lets jobs overlap, so the limit is actually put to the test. */
  weft_yield();
  job_ends();
  return 0;
}

static void successful_run(void) {
  printf("%d jobs, at most %d at a time, none fails:\n", JOBS, LIMIT);
  atomic_store(&most_running, 0);
  weft_group *g = group_or_die(LIMIT);
  for (uintptr_t i = 0; i < JOBS; i++) {
    int rc = weft_group_go(g, sum_chunk, (void *)i); /* waits for a slot */
    if (rc != 0) {
      fprintf(stderr, "weft_group_go: %s\n", strerror(-rc));
      exit(1);
    }
  }
  int err = weft_group_wait(g);
  weft_group_free(g);

  /* wait returned, so every job has: their writes to partial[] are
   * visible here. */
  uint64_t total = 0;
  for (int i = 0; i < JOBS; i++) total += partial[i];
  uint64_t n = (uint64_t)JOBS * CHUNK;
  uint64_t want = n * (n - 1) / 2;
  printf("  sum of 0..%" PRIu64 " = %" PRIu64 "; at most %d jobs ran at once\n",
         n - 1, total, atomic_load(&most_running));
  check(err == 0, "wait returned 0");
  check(total == want, "the sum is exact");
  check(atomic_load(&most_running) <= LIMIT, "the limit held");
}

/* ---- 2. one job fails: the rest are cancelled -------------------------- */

enum { MANY = 1000, BAD_JOB = 100 };

static _Atomic int finished, cancelled;

/* Each job "works" for a millisecond, listening to the context the whole
 * time. Job BAD_JOB fails with -EIO instead. */
static int fragile_job(weft_ctx *ctx, void *arg) {
  uintptr_t i = (uintptr_t)arg;
  job_starts();
  int rc;
  if (i == BAD_JOB) {
    rc = -EIO;
  } else {
    rc = weft_sleep_ctx(ctx, WEFT_MS); /* 0, or -ECANCELED once cancelled */
    atomic_fetch_add(rc == 0 ? &finished : &cancelled, 1);
  }
  job_ends();
  return rc;
}

static void failing_run(void) {
  printf("%d jobs of 1 ms, at most %d at a time; job %d fails:\n", MANY, LIMIT,
         BAD_JOB);
  weft_group *g = group_or_die(LIMIT);
  weft_ctx *ctx = weft_group_ctx(g); /* belongs to g: no unref */
  int started = 0;
  for (uintptr_t i = 0; i < MANY; i++) {
    /* Once a job has failed, starting more is wasted work. */
    if (weft_ctx_err(ctx) != 0) break;
    if (weft_group_go(g, fragile_job, (void *)i) != 0) exit(1);
    started++;
  }
  int err = weft_group_wait(g);
  printf("  started %d jobs: %d finished, %d cancelled, 1 failed\n", started,
         atomic_load(&finished), atomic_load(&cancelled));
  printf("  wait returned %d (%s)\n", err, strerror(-err));
  check(err == -EIO, "wait returned the first error, -EIO");
  /* The cause is the failing job's error; ctx_err only says "cancelled". */
  check(weft_ctx_cause(ctx) == -EIO && weft_ctx_err(ctx) == -ECANCELED,
        "the group's context was cancelled with cause -EIO");
  check(started > BAD_JOB && started < MANY,
        "the jobs after the failure were never started");
  check(atomic_load(&finished) + atomic_load(&cancelled) + 1 == started,
        "every started job finished, was cancelled or failed");
  weft_group_free(g);
}

int main(void) {
  successful_run();
  failing_run();
  if (failures) {
    printf("%d check(s) failed\n", failures);
    return 1;
  }
  printf("worker_pool ok\n");
  return 0;
}
