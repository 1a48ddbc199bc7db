/*
 * scheduler.c -- fork-join on the work-stealing scheduler.
 *
 * Sum the integers 0..N-1 by divide and conquer: a range larger than the
 * grain is split in two, a new goroutine takes the left half and the current
 * one does the right half itself, then waits for the left half on a
 * WaitGroup. In Go:
 *
 *     func sum(lo, hi uint64) uint64 {
 *         if hi-lo <= grain { return leaf(lo, hi) }
 *         mid := lo + (hi-lo)/2
 *         var left uint64
 *         var wg sync.WaitGroup
 *         wg.Add(1)
 *         go func() { defer wg.Done(); left = sum(lo, mid) }()
 *         right := sum(mid, hi)
 *         wg.Wait()
 *         return left + right
 *     }
 *
 * How it spreads: weft_go from a goroutine runs the child at once on the same
 * P, and the parent waits in that P's run queue, where an idle P can steal
 * it. The thief continues the parent, which spawns again, and so on: the
 * tree fans out over all Ps with no central queue. Each leaf counts itself
 * against the P that ran it; the histogram at the end shows the spread.
 *
 * Run: ./scheduler [-p PROCS] [-n N] [-g GRAIN]
 */
#include <weft.h>

#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Ranges this small are summed serially. A goroutine is cheap, but not free:
 * the grain makes each leaf's work dwarf the cost of spawning it, while
 * leaving many more leaves than Ps so that stealing can even out the load. */
static uint64_t grain = 1 << 14;

/* Leaves run per P, indexed by weft_proc_id(). Leaves on different Ps
 * increment concurrently, hence atomics. */
static _Atomic long *leaves_per_p;
static int nprocs;

/* One node of the tree. Children write their result into the parent's
 * stack frame, which is safe because the parent waits for them. */
typedef struct range {
  uint64_t lo, hi;      /* the half-open range [lo, hi) */
  uint64_t sum;         /* the result */
  weft_waitgroup *done; /* whom to tell when finished; NULL for none */
} range;

/* The serial work at the bottom. The volatile load keeps the compiler from
 * replacing the loop with the closed form, which would leave nothing to do
 * in parallel (and nothing to check). */
static uint64_t leaf(uint64_t lo, uint64_t hi) {
  uint64_t s = 0;
  for (uint64_t i = lo; i < hi; i++) {
    volatile uint64_t v = i;
    s += v;
  }
  return s;
}

static void sum_range(void *arg);

/* Fork: the left half in a new goroutine, the right half right here.
 * Join: wait for the left half. One WaitGroup per split. */
static void split(range *r) {
  uint64_t mid = r->lo + (r->hi - r->lo) / 2;
  weft_waitgroup wg = WEFT_WAITGROUP_INIT;
  range left = {r->lo, mid, 0, &wg};
  range right = {mid, r->hi, 0, NULL};

  weft_wg_add(&wg, 1);
  if (weft_go(sum_range, &left) != 0)
    sum_range(&left); /* out of memory: do it ourselves, still correct */
  sum_range(&right);
  weft_wg_wait(&wg);
  r->sum = left.sum + right.sum;
}

/* A goroutine body (and a plain function: split() calls it directly). */
static void sum_range(void *arg) {
  range *r = arg;
  if (r->hi - r->lo <= grain) {
    r->sum = leaf(r->lo, r->hi);
    /* The P id may change at any blocking call; the leaf made none, so
     * this is the P that did the work. */
    int p = weft_proc_id();
    if (p < 0 || p >= nprocs) {
      fprintf(stderr, "weft_proc_id() = %d, want 0..%d\n", p, nprocs - 1);
      abort();
    }
    atomic_fetch_add_explicit(&leaves_per_p[p], 1, memory_order_relaxed);
  } else {
    split(r);
  }
  if (r->done) weft_wg_done(r->done);
}

/* ---- main -------------------------------------------------------------- */

static void nothing(void *arg) { weft_wg_done(arg); }

/* The runtime starts on first use: do that now, so that starting its
 * threads is not part of the timing. */
static void start_runtime(void) {
  static weft_waitgroup wg = WEFT_WAITGROUP_INIT;
  weft_wg_add(&wg, 1);
  if (weft_go(nothing, &wg) != 0) exit(1);
  weft_wg_wait(&wg);
}

/* Run the whole tree from main (a plain thread) and wait for its root. */
static uint64_t parallel_sum(uint64_t n) {
  weft_waitgroup wg = WEFT_WAITGROUP_INIT;
  range root = {0, n, 0, &wg};
  weft_wg_add(&wg, 1);
  int rc = weft_go(sum_range, &root);
  if (rc != 0) {
    fprintf(stderr, "weft_go: %s\n", strerror(-rc));
    exit(1);
  }
  weft_wg_wait(&wg);
  return root.sum;
}

static void print_histogram(void) {
  long max = 1, total = 0;
  for (int p = 0; p < nprocs; p++) {
    long c = atomic_load(&leaves_per_p[p]);
    total += c;
    if (c > max) max = c;
  }
  int busy = 0;
  printf("leaves per P (%ld leaves of up to %" PRIu64 " numbers):\n", total,
         grain);
  for (int p = 0; p < nprocs; p++) {
    long c = atomic_load(&leaves_per_p[p]);
    int bar = (int)(c * 50 / max);
    busy += c > 0;
    printf("  P%-3d %7ld %5.1f%% %.*s\n", p, c, 100.0 * c / total, bar,
           "##################################################");
  }
  printf("%d of %d Ps ran leaves\n", busy, nprocs);
}

/* A number in 1..max (decimal, or 0x... hex). */
static uint64_t parse_u64(const char *s, const char *what, uint64_t max) {
  char *end;
  unsigned long long v = strtoull(s, &end, 0);
  if (*s == '\0' || *s == '-' || *end != '\0' || v == 0 || v > max) {
    fprintf(stderr, "bad %s '%s'\n", what, s);
    exit(2);
  }
  return v;
}

int main(int argc, char **argv) {
  uint64_t n = (uint64_t)1 << 26;
  int opt;
  while ((opt = getopt(argc, argv, "p:n:g:h")) != -1) {
    switch (opt) {
    case 'p': {
      /* GOMAXPROCS, except that it can only be set before the runtime
       * starts: nothing above this has called into weft yet. */
      int rc = weft_procs((int)parse_u64(optarg, "PROCS", 4096));
      if (rc < 0) {
        fprintf(stderr, "weft_procs(%s): %s\n", optarg, strerror(-rc));
        return 2;
      }
      break;
    }
    /* n(n-1)/2 stays inside 64 bits up to n = 2^32 */
    case 'n': n = parse_u64(optarg, "N", (uint64_t)1 << 32); break;
    case 'g': grain = parse_u64(optarg, "GRAIN", UINT64_MAX); break;
    default:
      fprintf(stderr, "usage: %s [-p PROCS] [-n N] [-g GRAIN]\n", argv[0]);
      return opt == 'h' ? 0 : 2;
    }
  }

  nprocs = weft_procs(0);
  leaves_per_p = malloc((size_t)nprocs * sizeof *leaves_per_p);
  if (!leaves_per_p) return 1;
  for (int p = 0; p < nprocs; p++) atomic_init(&leaves_per_p[p], 0);

  start_runtime();
  int64_t t0 = weft_now();
  uint64_t serial = leaf(0, n);
  int64_t t1 = weft_now();
  uint64_t sum = parallel_sum(n);
  int64_t t2 = weft_now();

  /* n(n-1)/2 without overflow: halve whichever factor is even first. */
  uint64_t want = n % 2 == 0 ? n / 2 * (n - 1) : (n - 1) / 2 * n;
  printf("sum of 0..%" PRIu64 " on %d Ps: %" PRIu64 ", expected %" PRIu64
         ": %s\n", n - 1, nprocs, sum, want, sum == want ? "ok" : "WRONG");
  printf("serial %.1f ms, fork-join %.1f ms: speedup %.2fx\n", (t1 - t0) / 1e6,
         (t2 - t1) / 1e6, (double)(t1 - t0) / (double)(t2 - t1));
  print_histogram();
  free(leaves_per_p);
  return sum == want && serial == want ? 0 : 1;
}
