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
 * (RSS) since the start is what N parked units cost in user space; the
 * growth of the kernel's stacks (KernelStack in /proc/meminfo) is what they
 * cost inside the kernel. Then main opens the gate and joins them all; the
 * time from the first spawn to the last join is the "total" column.
 *
 * Run: ./processes_threads_goroutines [-g GOROUTINES] [-t THREADS]
 *                                     [-p PROCESSES]      (0 skips a row)
 */
#include <weft.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- measuring --------------------------------------------------------- */

/* Memory in bytes; NO_DATA where it could not be read or does not apply. */
#define NO_DATA LONG_MIN
typedef struct memory {
  long rss;    /* this process's resident set: its user-space memory */
  long kstack; /* kernel stacks of all tasks in the system (per thread) */
} memory;
#define NO_MEMORY \
  { NO_DATA, NO_DATA }

typedef struct result {
  const char *kind;
  long asked, made; /* units requested, units actually created */
  int64_t ns;       /* first spawn to last join */
  memory grew;      /* growth while all units were alive */
  int err;          /* errno that stopped creation early; 0 if none */
} result;

/* Read a small /proc file with plain open/read, not stdio, so that
 * measuring allocates nothing that would itself show up in the result. */
static int read_proc(const char *path, char *buf, size_t size) {
  int fd = open(path, O_RDONLY);
  if (fd < 0) return -1;
  ssize_t len = read(fd, buf, size - 1);
  close(fd);
  if (len <= 0) return -1;
  buf[len] = '\0';
  return 0;
}

/* RSS is the second field of /proc/self/statm, in pages. Kernel stacks are
 * not in any RSS; /proc/meminfo counts them for the whole system, so other
 * programs starting or ending threads meanwhile add noise. */
static memory memory_now(void) {
  memory m = {NO_DATA, NO_DATA};
  char buf[4096];
  long size, resident, kib;
  const char *line;
  if (read_proc("/proc/self/statm", buf, sizeof buf) == 0 &&
      sscanf(buf, "%ld %ld", &size, &resident) == 2)
    m.rss = resident * sysconf(_SC_PAGESIZE);
  if (read_proc("/proc/meminfo", buf, sizeof buf) == 0 &&
      (line = strstr(buf, "KernelStack:")) != NULL &&
      sscanf(line, "KernelStack: %ld", &kib) == 1)
    m.kstack = kib * 1024;
  return m;
}

static long grown(long before, long after) {
  return before == NO_DATA || after == NO_DATA ? NO_DATA : after - before;
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
static void all_alive(gate *g, result *r, memory before) {
  weft_wg_wait(&g->started);
  memory now = memory_now();
  r->grew.rss = grown(before.rss, now.rss);
  r->grew.kstack = grown(before.kstack, now.kstack);
  weft_wg_done(&g->open);
}

/* ---- goroutines -------------------------------------------------------- */

static result run_goroutines(long n) {
  result r = {"goroutines", n, 0, 0, NO_MEMORY, 0};
  gate *g = &goroutine_gate;
  memory before = memory_now();
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
  all_alive(g, &r, before);
  weft_wg_wait(&g->finished);
  r.ns = weft_now() - t0;
  return r;
}

/* ---- threads ----------------------------------------------------------- */

static result run_threads(long n) {
  result r = {"threads", n, 0, 0, NO_MEMORY, 0};
  gate *g = &thread_gate;
  pthread_t *tids = malloc((size_t)n * sizeof *tids);
  if (!tids) { r.err = ENOMEM; return r; }
  memset(tids, 0, (size_t)n * sizeof *tids); /* touch it now, not counted */
  memory before = memory_now();
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
  all_alive(g, &r, before);
  for (long i = 0; i < r.made; i++) pthread_join(tids[i], NULL);
  r.ns = weft_now() - t0;
  free(tids);
  return r;
}

/* ---- processes --------------------------------------------------------- */

/* Each child exits at once, so this times fork + exit + wait. RSS is not
 * measured: a child has its own address space (copy-on-write pages of ours). */
static result run_processes(long n) {
  result r = {"processes", n, 0, 0, NO_MEMORY, 0};
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

/* A per-unit figure in KiB, or "-". */
static void print_kib(long bytes, long made) {
  if (bytes == NO_DATA) {
    printf(" %12s", "-");
    return;
  }
  double kib = per_unit(bytes / 1024.0, made);
  printf(" %12.2f", kib > -0.005 && kib < 0.005 ? 0.0 : kib); /* no -0.00 */
}

static void print_row(const result *r) {
  printf("%-11s %8ld", r->kind, r->made);
  if (r->made == 0) {
    printf(" %10s %12s %12s %12s\n", "-", "-", "-", "-");
    return;
  }
  printf(" %10.1f %12.2f", r->ns / 1e6, per_unit(r->ns / 1e3, r->made));
  print_kib(r->grew.rss, r->made);
  print_kib(r->grew.kstack, r->made);
  printf("\n");
}

/* User plus kernel memory per unit, in bytes; 0 if unknown. */
static double unit_memory(const result *r) {
  if (r->grew.rss == NO_DATA) return 0;
  long kstack = r->grew.kstack == NO_DATA ? 0 : r->grew.kstack;
  return per_unit((double)(r->grew.rss + kstack), r->made);
}

/* How many times cheaper a goroutine is than a thread, in time and memory. */
static void print_ratio(const result *th, const result *go) {
  if (th->made == 0 || go->made == 0 || go->ns <= 0) return;
  double t_th = per_unit((double)th->ns, th->made);
  double t_go = per_unit((double)go->ns, go->made);
  printf("\nper unit, goroutines were %.1fx faster to start and join than "
         "threads", t_th / t_go);
  double m_th = unit_memory(th), m_go = unit_memory(go);
  if (m_th > 0 && m_go > 0)
    printf(",\nand took %.1fx less memory (RSS + kernel stack)", m_th / m_go);
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
  printf("\nthreads are fewer by default: each is a kernel task with a "
         "kernel stack\n(the kstack column: system-wide, so other programs "
         "add noise) and a\nscheduler entry, and the system caps their "
         "number.\n");
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
  result r = {"warm-up", 1, 1, 0, NO_MEMORY, 0};
  weft_wg_add(&g.open, 1);
  weft_wg_add(&g.started, 1);
  weft_wg_add(&g.finished, 1);
  int rc = weft_go(goroutine_main, &g);
  if (rc != 0) {
    fprintf(stderr, "weft_go: %s\n", strerror(-rc));
    exit(1);
  }
  all_alive(&g, &r, memory_now());
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

  printf("%-11s %8s %10s %12s %12s %12s\n", "", "", "total", "per unit",
         "RSS per", "kstack per");
  printf("%-11s %8s %10s %12s %12s %12s\n", "kind", "count", "ms", "us",
         "unit KiB", "unit KiB");
  for (int i = 0; i < 3; i++) print_row(&rows[i]);
  print_ratio(&rows[1], &rows[2]);
  print_notes(rows, 3);
  /* The showcase is goroutines: failing to start them all is a failure. The
   * other rows may hit system limits, which the notes report. */
  return rows[2].made == rows[2].asked ? 0 : 1;
}
