/* proc.c -- starting the runtime: configuration, the Ps and their threads.
 *
 * The runtime starts on first use (weft__ensure_started), once, under
 * pthread_once. Configuration set by weft_init/weft_procs before that is
 * read under cfg_lock; after start it is immutable. started is stored with
 * release after everything is set up and read with acquire on the fast
 * path.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sched/runtime.h"
#include "base/sanitizer.h"
#include "sched/signals.h"

/* Go's debug.SetMaxThreads default. */
#define WEFT__MAX_THREADS 10000
/* How long a spare thread waits for work before it retires. */
#define WEFT__THREAD_IDLE_MS 5000

static pthread_once_t start_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t cfg_lock = PTHREAD_MUTEX_INITIALIZER;
static weft_config cfg;          /* cfg_lock */
static atomic_bool started;      /* release in start, acquire in readers */
static bool m0_wanted;           /* cfg_lock: weft_main asked to be P 0's M */
static bool env_seed_read;       /* cfg_lock: $WEFT_SCHED_SEED is read once, */
static uint64_t env_seed;        /* so that "random" picks one seed */

/* The deterministic schedule seed (0: normal mode); cfg_lock held. */
static uint64_t sched_seed_locked(void) {
  if (cfg.sched_seed)
    return cfg.sched_seed;
  if (!env_seed_read) {
    env_seed = weft__det_env_seed();
    env_seed_read = true;
  }
  return env_seed;
}

static int cpu_count(void) {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0)
    return CPU_COUNT(&set);
  return 1;
}

/* A positive integer from the environment, or def (with a warning when the
 * variable is set but invalid, empty included). */
static long env_long(const char *name, long def, long max) {
  const char *env = getenv(name);
  if (env == NULL)
    return def;
  char *end;
  long n = strtol(env, &end, 10);
  if (*end == '\0' && n > 0 && n <= max)
    return n;
  fprintf(stderr, "weft: ignoring %s=%s (want 1..%ld)\n", name, env, max);
  return def;
}

/* The number of Ps the runtime uses (or will use); cfg_lock held. */
static int procs_locked(void) {
  if (sched_seed_locked())
    return 1; /* the deterministic schedule runs on one P */
  if (cfg.procs > 0)
    return cfg.procs;
  return (int)env_long("WEFT_PROCS", cpu_count(), WEFT__MAX_PROCS);
}

static size_t default_stack_locked(void) {
  if (cfg.stack_size)
    return cfg.stack_size;
#ifdef WEFT__SANITIZED_STACK
  return WEFT__SANITIZED_STACK;
#else
  return WEFT_STACK_DEFAULT;
#endif
}

static weft__p *p_new(int id) {
  weft__p *p = weft__rt_calloc_lines(sizeof(weft__p));
  if (p == NULL)
    weft__fatal("out of memory starting the runtime");
  p->id = id;
  p->rand = WEFT__GOLDEN64 * (uint64_t)(id + 1); /* never 0 */
  weft__timers_init(&p->timers);
  return p;
}

static void atfork_child(void);

static void start(void) {
  pthread_atfork(NULL, NULL, atfork_child);
  pthread_mutex_lock(&cfg_lock);
  weft__sched *s = &weft__sched_g;
  s->nprocs = procs_locked();
  s->stack_default = default_stack_locked();
  uint64_t seed = sched_seed_locked();
  weft__dl_configure(cfg.deadlock_check); /* before sysmon reads it */
  s->has_m0 = m0_wanted;
  pthread_mutex_unlock(&cfg_lock);
  if (seed)
    weft__det_start(seed); /* before the P's thread exists (hooks.h) */

  weft__stack_init(s->stack_default);
  weft__signals_init();
  s->allp = weft__rt_calloc((size_t)s->nprocs, sizeof *s->allp);
  if (s->allp == NULL)
    weft__fatal("out of memory starting the runtime");
  for (int i = 0; i < s->nprocs; i++)
    s->allp[i] = p_new(i);
  weft__store_relaxed(&s->max_threads,
                      (int32_t)env_long("WEFT_MAX_THREADS", WEFT__MAX_THREADS,
                                        INT32_MAX));
  s->spare_idle_ns =
      env_long("WEFT_THREAD_IDLE_MS", WEFT__THREAD_IDLE_MS, INT32_MAX) *
      WEFT_MS;
  /* A new thread for each P; weft_main's thread will be P 0's. */
  for (int i = s->has_m0 ? 1 : 0; i < s->nprocs; i++)
    weft__startm(s->allp[i]);
  /* sysmon takes no signal meant for the process either. */
  sigset_t old;
  weft__signals_block_for_thread(&old);
  weft__sysmon_start(); /* inherits the mask */
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  weft__diag_start();
  weft__store_release(&started, true);
}

void weft__ensure_started(void) {
  if (weft__likely(weft__load_acquire(&started)))
    return;
  if (weft__unlikely(weft__forked_child))
    weft__fork_misuse("a call that needs the scheduler");
  pthread_once(&start_once, start);
}

weft__p *weft__start_as_m0(void) {
  pthread_mutex_lock(&cfg_lock);
  bool fresh = !weft__load_acquire(&started) && !m0_wanted;
  if (fresh)
    m0_wanted = true;
  pthread_mutex_unlock(&cfg_lock);
  if (!fresh)
    return NULL;
  weft__ensure_started(); /* or waits for a start already under way */
  return weft__sched_g.has_m0 ? weft__sched_g.allp[0] : NULL;
}

/* fork(2) copies only the calling thread: in the child, the Ms, sysmon and
 * every other goroutine are gone, and their locks may be held forever. So
 * the child of a process whose runtime had started gets no runtime:
 * blocking calls and weft_go abort naming the rule (weft__fork_misuse),
 * never hang; the calling thread, even a goroutine's, is a plain thread
 * there. A child forked before the runtime started starts its own. */
WEFT_INTERNAL bool weft__forked_child;

static void atfork_child(void) {
  if (!weft__load_relaxed(&started))
    return;
  weft__forked_child = true;
  weft__store_relaxed(&started, false); /* every use takes the slow path */
  weft__p_set_current(NULL);
  weft__m_set_current(NULL);
}

void weft__fork_misuse(const char *what) {
  weft__fatal("%s in a child process after fork(): the parent's goroutines "
              "and threads do not exist here (exec, or fork before weft's "
              "first use; see weft.h)", what);
}

int weft_init(const weft_config *c) {
  if (c == NULL || c->procs < 0 || c->procs > WEFT__MAX_PROCS)
    return -EINVAL;
  if (c->stack_size &&
      (c->stack_size < WEFT_STACK_MIN || c->stack_size > WEFT_STACK_MAX))
    return -EINVAL;
  pthread_mutex_lock(&cfg_lock);
  int rc = -EBUSY;
  if (!weft__load_acquire(&started)) {
    cfg.procs = c->procs;
    cfg.sched_seed = c->sched_seed;
    cfg.deadlock_check = c->deadlock_check;
    cfg.stack_size = 0;
    if (c->stack_size) {
      size_t s = WEFT_STACK_MIN;
      while (s < c->stack_size)
        s <<= 1;
      cfg.stack_size = s;
    }
    rc = 0;
  }
  pthread_mutex_unlock(&cfg_lock);
  return rc;
}

int weft_procs(int n) {
  if (n > WEFT__MAX_PROCS)
    return -EINVAL;
  pthread_mutex_lock(&cfg_lock);
  int cur = weft__load_acquire(&started) ? weft__sched_g.nprocs : procs_locked();
  int rc = cur;
  if (n > 0 && n != cur) {
    if (weft__load_acquire(&started))
      rc = -EBUSY;
    else
      cfg.procs = n;
  }
  pthread_mutex_unlock(&cfg_lock);
  return rc;
}

uint64_t weft_sched_seed(void) {
  if (weft__load_acquire(&started))
    return weft__det_seed();
  pthread_mutex_lock(&cfg_lock);
  uint64_t seed = sched_seed_locked();
  pthread_mutex_unlock(&cfg_lock);
  return seed;
}
