/* weft_test.h -- shared helpers for the Check-based test suite.
 *
 * Each test file defines its tests with Check's START_TEST/END_TEST and ends
 * with WEFT_TEST_MAIN("suite", test_a, test_b, ...). Every test then runs in
 * its own forked process (Check's fork mode) under CK_DEFAULT_TIMEOUT, so the
 * weft runtime starts fresh in each test.
 */
#ifndef WEFT_TEST_H
#define WEFT_TEST_H

#include <check.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "weft.h"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define WEFT_TEST_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define WEFT_TEST_SANITIZED 1
#endif
#endif
#if defined(__SANITIZE_THREAD__)
#define WEFT_TEST_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define WEFT_TEST_TSAN 1
#endif
#endif

/* Scale a stress count down under the sanitizers, which are 5-20x slower,
 * while keeping it large enough to mean something. */
#ifdef WEFT_TEST_SANITIZED
#define WEFT_SCALE(n) ((n) / 10 > 0 ? (n) / 10 : 1)
#else
#define WEFT_SCALE(n) (n)
#endif

/* A goroutine dump captured in memory; the caller frees it. */
static inline char *weft_test_dump_string(void) {
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  ck_assert_ptr_nonnull(f);
  weft_dump(f);
  fclose(f);
  return buf;
}

#ifdef WEFT_CHAN_H /* for tests that include chan/chan.h first */
/* How many parties wait on c's send or receive queue. */
static inline int weft_test_queued(weft_chan *c, bool send) {
  weft__spin_lock(&c->lock);
  int n = 0;
  for (weft__waiter *w = send ? c->sendq.head : c->recvq.head; w; w = w->next)
    n++;
  weft__spin_unlock(&c->lock);
  return n;
}
#endif

/* Kills this process with SIGALRM after s seconds, so that a hang fails a
 * test instead of hanging it. Check's own SIGALRM handler, inherited
 * through fork, would kill the whole process group: the default first. */
static inline void weft_test_alarm(unsigned s) {
  signal(SIGALRM, SIG_DFL);
  alarm(s);
}

/* Runs fn() in a child process with stderr captured into buf (NUL-ended).
 * Returns the child's wait status. A child still running after
 * WEFT_TEST_CHILD_S seconds dies of SIGALRM, so that a hang in it fails
 * the test with that status instead of hanging it. */
#define WEFT_TEST_CHILD_S 120
static inline int weft_test_child(void (*fn)(void), char *buf, size_t len) {
  int fds[2];
  if (pipe(fds) != 0)
    ck_abort_msg("pipe failed");
  fflush(NULL);
  pid_t pid = fork();
  if (pid < 0)
    ck_abort_msg("fork failed");
  if (pid == 0) {
    close(fds[0]);
    dup2(fds[1], 2);
    weft_test_alarm(WEFT_TEST_CHILD_S);
    fn();
    _exit(0);
  }
  close(fds[1]);
  size_t used = 0;
  for (;;) {
    ssize_t n = read(fds[0], buf + used, len - 1 - used);
    if (n <= 0)
      break;
    used += (size_t)n;
    if (used == len - 1)
      break;
  }
  buf[used] = '\0';
  close(fds[0]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0)
    ;
  return status;
}

/* Asserts that the child died of SIGABRT and that its stderr holds needle. */
#define WEFT_ASSERT_ABORTS_WITH(fn, needle)                                   \
  do {                                                                        \
    char weft_buf_[8192];                                                     \
    int weft_st_ = weft_test_child((fn), weft_buf_, sizeof weft_buf_);        \
    ck_assert_msg(WIFSIGNALED(weft_st_), "child did not die of a signal; "    \
                  "status %d, stderr: %s", weft_st_, weft_buf_);              \
    ck_assert_int_eq(WTERMSIG(weft_st_), SIGABRT);                            \
    ck_assert_msg(strstr(weft_buf_, (needle)) != NULL,                        \
                  "stderr lacks \"%s\": %s", (needle), weft_buf_);            \
  } while (0)

/* ---- helpers for goroutines and helper threads -------------------------
 *
 * Check's assertions are not thread safe (they write to a shared pipe and
 * exit), so goroutines and helper threads never call ck_assert_*: they record
 * failures with WEFT_EXPECT, and the test's own thread reports them with
 * WEFT_ASSERT_NO_FAILURES() once the workers are joined. */
__attribute__((unused)) static atomic_int weft_test_failures_;
__attribute__((unused)) static atomic_int weft_test_msg_ready_;
__attribute__((unused)) static char weft_test_first_failure_[1024];

__attribute__((format(printf, 4, 5))) static inline void
weft_test_fail_(const char *file, int line, const char *expr, const char *fmt,
                ...) {
  if (atomic_fetch_add(&weft_test_failures_, 1) != 0)
    return;
  int n = snprintf(weft_test_first_failure_, sizeof weft_test_first_failure_,
                   "%s:%d: '%s': ", file, line, expr);
  if (n > 0 && (size_t)n < sizeof weft_test_first_failure_) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(weft_test_first_failure_ + n,
              sizeof weft_test_first_failure_ - (size_t)n, fmt, ap);
    va_end(ap);
  }
  atomic_store_explicit(&weft_test_msg_ready_, 1, memory_order_release);
}

/* WEFT_EXPECT(cond, fmt, ...): record a failure (from any thread). */
#define WEFT_EXPECT(cond, ...)                                                \
  do {                                                                        \
    if (!(cond))                                                              \
      weft_test_fail_(__FILE__, __LINE__, #cond, __VA_ARGS__);                \
  } while (0)

#define WEFT_ASSERT_NO_FAILURES()                                             \
  do {                                                                        \
    int weft_nf_ = atomic_load(&weft_test_failures_);                         \
    ck_assert_msg(weft_nf_ == 0, "%d failure(s) in workers; first: %s",       \
                  weft_nf_,                                                   \
                  atomic_load_explicit(&weft_test_msg_ready_,                 \
                                       memory_order_acquire)                  \
                      ? weft_test_first_failure_                              \
                      : "(message not yet written)");                         \
  } while (0)

/* CLOCK_MONOTONIC in nanoseconds, independent of weft_now(). */
static inline int64_t weft_test_clock(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Sleeps the calling OS thread with nanosleep (not weft_sleep): a blocking
 * system call, as a goroutine's raw or bracketed call is. */
static inline void weft_test_os_sleep_ns(int64_t ns) {
  struct timespec ts = {(time_t)(ns / 1000000000), (long)(ns % 1000000000)};
  while (nanosleep(&ts, &ts) != 0)
    ;
}

static inline void weft_test_os_sleep_ms(int ms) {
  weft_test_os_sleep_ns((int64_t)ms * 1000000);
}

/* The process's threads, from the kernel (/proc/self/status); -1 if
 * unknown. */
static inline long weft_test_os_threads(void) {
  FILE *f = fopen("/proc/self/status", "r");
  if (f == NULL)
    return -1;
  char line[256];
  long n = -1;
  while (fgets(line, sizeof line, f))
    if (sscanf(line, "Threads: %ld", &n) == 1)
      break;
  fclose(f);
  return n;
}

/* Computes for ms milliseconds without a weft call: a goroutine keeps its
 * P all along (no switch), a thread its CPU. */
static inline void weft_test_busy_ms(int ms) {
  int64_t until = weft_test_clock() + (int64_t)ms * 1000000;
  while (weft_test_clock() < until)
    ;
}

/* Polls cond (an expression) every millisecond from the calling plain thread
 * for up to timeout_ms; evaluates to whether cond became true. */
#define WEFT_POLL_UNTIL(cond, timeout_ms)                                     \
  ({                                                                          \
    int64_t weft_dl_ = weft_test_clock() + (int64_t)(timeout_ms) * 1000000;   \
    int weft_ok_ = 0;                                                         \
    for (;;) {                                                                \
      if (cond) {                                                             \
        weft_ok_ = 1;                                                         \
        break;                                                                \
      }                                                                       \
      if (weft_test_clock() > weft_dl_)                                       \
        break;                                                                \
      weft_test_os_sleep_ms(1);                                               \
    }                                                                         \
    weft_ok_;                                                                 \
  })

/* The kernel thread id of the calling OS thread. */
static inline long weft_test_gettid(void) { return (long)syscall(SYS_gettid); }

/* Assertions for hot loops: a passing ck_assert_* costs a system call (a
 * pipe write to Check's parent), these cost nothing until they fail. */
#define REQUIRE(c)                                                            \
  do {                                                                        \
    if (!(c))                                                                 \
      ck_abort_msg("assertion '%s' failed", #c);                              \
  } while (0)
#define REQUIRE_EQ(a, b)                                                      \
  do {                                                                        \
    long long a_ = (long long)(a), b_ = (long long)(b);                       \
    if (a_ != b_)                                                             \
      ck_abort_msg("'%s == %s' failed: %lld != %lld", #a, #b, a_, b_);        \
  } while (0)

static inline void go_or_die(void (*fn)(void *), void *arg) {
  ck_assert_int_eq(weft_go(fn, arg), 0);
}

typedef struct weft_test_thr_arg {
  void (*fn)(void *);
  void *arg;
} weft_test_thr_arg;

static inline void *weft_test_thr_tramp(void *p) {
  weft_test_thr_arg a = *(weft_test_thr_arg *)p;
  free(p);
  a.fn(a.arg);
  return NULL;
}

/* Runs fn(arg) on a new plain thread; join it with pthread_join. */
static inline pthread_t spawn_thread(void (*fn)(void *), void *arg) {
  weft_test_thr_arg *a = malloc(sizeof *a);
  ck_assert_ptr_nonnull(a);
  a->fn = fn;
  a->arg = arg;
  pthread_t th;
  ck_assert_int_eq(pthread_create(&th, NULL, weft_test_thr_tramp, a), 0);
  return th;
}

/* ---- one function on goroutines and plain threads at once --------------
 *
 *   weft_test_mixed m = {0};
 *   weft_test_mixed_start(&m, worker, 8, 4);  (8 goroutines, 4 threads)
 *   ... open a gate, watch progress ...
 *   weft_test_mixed_join(&m);                 (all of them have returned)
 *
 * start may be called several times on one m, with other functions. m must
 * stay in scope until join returns. */
#define WEFT_TEST_MIXED_MAX 8         /* start calls per m */
#define WEFT_TEST_MIXED_THREADS 64    /* threads per m */

typedef struct weft_test_mixed weft_test_mixed;
typedef struct weft_test_mixed_fn {
  void (*fn)(void);
  weft_test_mixed *m;
} weft_test_mixed_fn;

struct weft_test_mixed {
  weft_waitgroup running; /* goroutines not yet returned */
  int nfns, nthreads;
  weft_test_mixed_fn fns[WEFT_TEST_MIXED_MAX];
  pthread_t th[WEFT_TEST_MIXED_THREADS];
};

static inline void weft_test_mixed_g_(void *arg) {
  weft_test_mixed_fn *f = arg;
  f->fn();
  weft_wg_done(&f->m->running); /* touches nothing after: m may be gone */
}

static inline void weft_test_mixed_t_(void *arg) {
  ((weft_test_mixed_fn *)arg)->fn();
}

static inline void weft_test_mixed_start(weft_test_mixed *m, void (*fn)(void),
                                         int goroutines, int threads) {
  ck_assert_int_lt(m->nfns, WEFT_TEST_MIXED_MAX);
  ck_assert_int_le(m->nthreads + threads, WEFT_TEST_MIXED_THREADS);
  weft_test_mixed_fn *f = &m->fns[m->nfns++];
  f->fn = fn;
  f->m = m;
  weft_wg_add(&m->running, goroutines);
  for (int i = 0; i < goroutines; i++)
    go_or_die(weft_test_mixed_g_, f);
  for (int i = 0; i < threads; i++)
    m->th[m->nthreads++] = spawn_thread(weft_test_mixed_t_, f);
}

static inline void weft_test_mixed_join(weft_test_mixed *m) {
  for (int i = 0; i < m->nthreads; i++)
    pthread_join(m->th[i], NULL);
  weft_wg_wait(&m->running);
}

/* Whether name is a word of the space- or comma-separated list. */
static inline int weft_test_listed(const char *list, const char *name) {
  size_t len = strlen(name);
  for (const char *p = list; (p = strstr(p, name)) != NULL; p += len) {
    int starts = p == list || p[-1] == ' ' || p[-1] == ',';
    int ends = p[len] == '\0' || p[len] == ' ' || p[len] == ',';
    if (starts && ends)
      return 1;
  }
  return 0;
}

/* Whether every word of list names one of the n tests; prints the first
 * that names none (a renamed test must not empty a selection quietly). */
static inline int weft_test_names_known(const char *var, const char *list,
                                        const TTest *const *tests, int n) {
  for (const char *p = list; *p;) {
    size_t len = strcspn(p, " ,");
    int found = len == 0;
    for (int i = 0; !found && i < n; i++)
      found = strlen(tests[i]->name) == len &&
              strncmp(tests[i]->name, p, len) == 0;
    if (!found) {
      fprintf(stderr, "%s names no test of this suite: %.*s\n", var,
              (int)len, p);
      return 0;
    }
    p += len + (p[len] != '\0');
  }
  return 1;
}

/* Runs the tests, each in its own process. Two environment variables pick
 * tests by name (lists separated by spaces or commas): WEFT_TESTS runs only
 * those, WEFT_TESTS_SKIP leaves those out; a name in either that matches no
 * test fails the run. Under the deterministic schedule mode
 * (WEFT_SCHED_SEED, see weft.h) a failure also prints the seed. */
static inline int weft_test_run(const char *name, const TTest *const *tests,
                                int n) {
  Suite *s = suite_create(name);
  TCase *tc = tcase_create("core");
  const char *t = getenv("CK_DEFAULT_TIMEOUT");
  tcase_set_timeout(tc, t ? atof(t) : 120.0);
  const char *only = getenv("WEFT_TESTS");
  const char *skip = getenv("WEFT_TESTS_SKIP");
  if ((only && !weft_test_names_known("WEFT_TESTS", only, tests, n)) ||
      (skip && !weft_test_names_known("WEFT_TESTS_SKIP", skip, tests, n)))
    return EXIT_FAILURE;
  for (int i = 0; i < n; i++) {
    if (only && *only && !weft_test_listed(only, tests[i]->name))
      continue;
    if (skip && weft_test_listed(skip, tests[i]->name))
      continue;
    _tcase_add_test(tc, tests[i], 0, 0, 0, 1);
  }
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_set_fork_status(sr, CK_FORK);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  const char *seed = getenv("WEFT_SCHED_SEED");
  if (failed && seed && *seed) /* "random": each test printed its own */
    fprintf(stderr, "weft: %s failed under WEFT_SCHED_SEED=%s\n", name, seed);
  return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

#define WEFT_TEST_MAIN(name, ...)                                             \
  int main(void) {                                                            \
    const TTest *const weft_tests_[] = {__VA_ARGS__};                         \
    return weft_test_run(name, weft_tests_,                                   \
                         (int)(sizeof weft_tests_ / sizeof weft_tests_[0]));  \
  }

#endif
