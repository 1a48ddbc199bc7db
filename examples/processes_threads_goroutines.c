/*
 * processes_threads_goroutines.c -- what one unit of concurrency costs.
 *
 * Go programs start goroutines by the hundred thousand because a goroutine
 * is not a kernel object: it is a small stack of which only the touched
 * pages cost memory, and starting and switching one is mostly user-space
 * work. This program measures that for weft and, next to it, the same for
 * processes and OS threads:
 *
 *   processes   N (1,000) fork()ed children that exit at once
 *   threads     N (10,000) pthreads, default attributes, all alive at once
 *   goroutines  N (100,000) goroutines, all alive at once
 *
 * For goroutines and threads, every unit checks in on a WaitGroup and then
 * parks on a second one (the "gate") until main has seen all of them check
 * in. So at that moment all N exist, and the growth of the resident set size
 * (RSS) since the start is what N parked units cost. Then main opens the
 * gate and joins them all; the time from the first spawn to the last join is
 * the "total" column.
 *
 * Run: ./processes_threads_goroutines [-g GOROUTINES] [-t THREADS]
 *                                     [-p PROCESSES]      (0 skips a row)
 */
#include <weft.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- measuring --------------------------------------------------------- */

typedef struct result {
  const char *kind;
  long asked, made; /* units requested, units actually created */
  int64_t ns;       /* first spawn to last join */
  long rss;         /* RSS growth in bytes with all alive; -1: not measured */
  int err;          /* errno that stopped creation early; 0 if none */
} result;

/* Resident set size in bytes: the second field of /proc/self/statm, in
 * pages. Read with plain read(), not stdio, so that measuring allocates
 * nothing that would itself show up in the measurement. */
static long rss_now(void) {
  char buf[128];
  int fd = open("/proc/self/statm", O_RDONLY);
  if (fd < 0) return -1;
  ssize_t len = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (len <= 0) return -1;
  buf[len] = '\0';
  long size, resident;
  if (sscanf(buf, "%ld %ld", &size, &resident) != 2) return -1;
  return resident * sysconf(_SC_PAGESIZE);
}

/* ---- the gate ---------------------------------------------------------- */

/* Three WaitGroups. weft's blocking calls work on plain threads too (they
 * block the thread on a futex), so threads and goroutines share this code. */
typedef struct gate {
  weft_waitgroup started;  /* +1 per unit; each unit: done once running */
  weft_waitgroup open;     /* 1 while closed; main: done to release all */
  weft_waitgroup finished; /* goroutines only: weft_go has no join handle */
} gate;
#define GATE_INIT \
  { WEFT_WAITGROUP_INIT, WEFT_WAITGROUP_INIT, WEFT_WAITGROUP_INIT }

static gate goroutine_gate = GATE_INIT;
static gate thread_gate = GATE_INIT;

static void park_at_gate(gate *g) {
  weft_wg_done(&g->started);
  weft_wg_wait(&g->open); /* a goroutine parks here; a thread sleeps */
}

static void goroutine_main(void *arg) {
  gate *g = arg;
  park_at_gate(g);
  weft_wg_done(&g->finished);
}

static void *thread_main(void *arg) {
  park_at_gate(arg);
  return NULL;
}

/* Called once every unit that was made has checked in: all are alive. */
static void all_alive(gate *g, result *r, long rss_before) {
  weft_wg_wait(&g->started);
  r->rss = rss_now() - rss_before;
  weft_wg_done(&g->open);
}

/* ---- goroutines -------------------------------------------------------- */

static result run_goroutines(long n) {
  result r = {"goroutines", n, 0, 0, -1, 0};
  gate *g = &goroutine_gate;
  long rss_before = rss_now();
  int64_t t0 = weft_now();

  weft_wg_add(&g->open, 1);
  for (; r.made < n; r.made++) {
    weft_wg_add(&g->started, 1); /* Add before go, as in Go */
    weft_wg_add(&g->finished, 1);
    int rc = weft_go(goroutine_main, g);
    if (rc != 0) { /* undo this unit's Adds and keep the ones we have */
      weft_wg_add(&g->started, -1);
      weft_wg_add(&g->finished, -1);
      r.err = -rc;
      break;
    }
  }
  all_alive(g, &r, rss_before);
  weft_wg_wait(&g->finished);
  r.ns = weft_now() - t0;
  return r;
}

/* ---- threads ----------------------------------------------------------- */

static result run_threads(long n) {
  result r = {"threads", n, 0, 0, -1, 0};
  gate *g = &thread_gate;
  pthread_t *tids = malloc((size_t)n * sizeof *tids);
  if (!tids) { r.err = ENOMEM; return r; }
  memset(tids, 0, (size_t)n * sizeof *tids); /* touch it now, not counted */
  long rss_before = rss_now();
  int64_t t0 = weft_now();

  weft_wg_add(&g->open, 1);
  for (; r.made < n; r.made++) {
    weft_wg_add(&g->started, 1);
    /* NULL attributes: the default stack size, as most programs use. */
    int rc = pthread_create(&tids[r.made], NULL, thread_main, g);
    if (rc != 0) { /* pthread_create returns the error; errno is untouched */
      weft_wg_add(&g->started, -1);
      r.err = rc;
      break;
    }
  }
  all_alive(g, &r, rss_before);
  for (long i = 0; i < r.made; i++) pthread_join(tids[i], NULL);
  r.ns = weft_now() - t0;
  free(tids);
  return r;
}

/* ---- processes --------------------------------------------------------- */

/* Each child exits at once, so this times fork + exit + wait. RSS is not
 * measured: a child has its own address space (copy-on-write pages of ours). */
static result run_processes(long n) {
  result r = {"processes", n, 0, 0, -1, 0};
  int64_t t0 = weft_now();

  for (; r.made < n; r.made++) {
    /* The child of a multithreaded process has only the forking thread, and
     * may call only async-signal-safe functions: _exit is one. */
    pid_t pid = fork();
    if (pid == 0) _exit(0);
    if (pid < 0) {
      r.err = errno; /* main is a plain thread: errno is safe to read here */
      break;
    }
  }
  for (long i = 0; i < r.made; i++) {
    while (wait(NULL) < 0 && errno == EINTR) {
    }
  }
  r.ns = weft_now() - t0;
  return r;
}

/* ---- reporting --------------------------------------------------------- */

static double per_unit(double total, long made) { return total / (double)made; }

static void print_row(const result *r) {
  printf("%-11s %8ld", r->kind, r->made);
  if (r->made == 0) {
    printf(" %10s %13s %15s\n", "-", "-", "-");
    return;
  }
  printf(" %10.1f %13.2f", r->ns / 1e6, per_unit(r->ns / 1e3, r->made));
  if (r->rss >= 0)
    printf(" %15.2f\n", per_unit(r->rss / 1024.0, r->made));
  else
    printf(" %15s\n", "-");
}

/* How many times cheaper a goroutine is than a thread, in time and memory. */
static void print_ratio(const result *th, const result *go) {
  if (th->made == 0 || go->made == 0 || go->ns <= 0) return;
  double t_th = per_unit((double)th->ns, th->made);
  double t_go = per_unit((double)go->ns, go->made);
  printf("\nper unit, goroutines were %.1fx faster to start and join than "
         "threads", t_th / t_go);
  if (th->rss > 0 && go->rss > 0) {
    double m_th = per_unit((double)th->rss, th->made);
    double m_go = per_unit((double)go->rss, go->made);
    printf(",\nand took %.1fx less memory", m_th / m_go);
  }
  printf(".\n");
}

static void print_notes(const result *rows, int nrows) {
  for (int i = 0; i < nrows; i++)
    if (rows[i].made < rows[i].asked)
      printf("note: only %ld of %ld %s could be created: %s\n", rows[i].made,
             rows[i].asked, rows[i].kind, strerror(rows[i].err));

  pthread_attr_t attr;
  size_t stack = 0;
  pthread_attr_init(&attr);
  pthread_attr_getstacksize(&attr, &stack);
  pthread_attr_destroy(&attr);
  printf("\nthreads are fewer by default: each is a kernel task with its own "
         "kernel stack\nand scheduler entry (not in RSS), and the system caps "
         "their number.\n");
  printf("stack address space: thread %zu KiB (default), goroutine %zu KiB; "
         "only touched\npages are resident.\n",
         stack / 1024, WEFT_STACK_DEFAULT / 1024);
}

/* ---- main -------------------------------------------------------------- */

static long parse_count(const char *s, const char *prog) {
  char *end;
  long v = strtol(s, &end, 10);
  if (*s == '\0' || *end != '\0' || v < 0 || v > 10000000) {
    fprintf(stderr, "%s: bad count '%s' (0..10000000)\n", prog, s);
    exit(2);
  }
  return v;
}

/* Start the runtime (its threads, its Ps) before measuring anything, so its
 * one-time cost does not land on the first row. */
static void warm_up(void) {
  static gate g = GATE_INIT;
  result r = {"warm-up", 1, 1, 0, -1, 0};
  weft_wg_add(&g.open, 1);
  weft_wg_add(&g.started, 1);
  weft_wg_add(&g.finished, 1);
  int rc = weft_go(goroutine_main, &g);
  if (rc != 0) {
    fprintf(stderr, "weft_go: %s\n", strerror(-rc));
    exit(1);
  }
  all_alive(&g, &r, 0);
  weft_wg_wait(&g.finished);
}

int main(int argc, char **argv) {
  long ngo = 100000, nthreads = 10000, nprocesses = 1000;
  int opt;
  while ((opt = getopt(argc, argv, "g:t:p:h")) != -1) {
    switch (opt) {
    case 'g': ngo = parse_count(optarg, argv[0]); break;
    case 't': nthreads = parse_count(optarg, argv[0]); break;
    case 'p': nprocesses = parse_count(optarg, argv[0]); break;
    default:
      fprintf(stderr, "usage: %s [-g GOROUTINES] [-t THREADS] [-p PROCESSES]\n",
              argv[0]);
      return opt == 'h' ? 0 : 2;
    }
  }

  warm_up();
  printf("weft with %d Ps\n\n", weft_procs(0));
  result rows[3];
  /* Processes first: fork copies the parent's page tables, so it is fairest
   * while this process is still small. */
  rows[0] = run_processes(nprocesses);
  rows[1] = run_threads(nthreads);
  rows[2] = run_goroutines(ngo);

  printf("%-11s %8s %10s %13s %15s\n", "kind", "count", "total ms",
         "per unit us", "RSS/unit KiB");
  for (int i = 0; i < 3; i++) print_row(&rows[i]);
  print_ratio(&rows[1], &rows[2]);
  print_notes(rows, 3);
  /* The showcase is goroutines: failing to start them all is a failure. The
   * other rows may hit system limits, which the notes report. */
  return rows[2].made == rows[2].asked ? 0 : 1;
}
