/* test_go.c -- spawning and joining goroutines, goroutine identity and
 * counting, runtime configuration (weft_procs, weft_init), option validation
 * and -ENOMEM without leaks. */
#include <pthread.h>
#include <sched.h>

#include "sched/stack.h"
#include "weft_test.h"

/* ---- spawn from plain threads and from a goroutine ----------------------- */

#define SPAWN_THREADS 4
#define SPAWN_PER_THREAD WEFT_SCALE(5000)

static weft_waitgroup g_wg = WEFT_WAITGROUP_INIT;
static atomic_uint_fast64_t g_sum;
static atomic_int g_count;
static pthread_barrier_t g_barrier;

static void add_value(void *arg) {
  atomic_fetch_add(&g_sum, (uint64_t)(uintptr_t)arg);
  atomic_fetch_add(&g_count, 1);
  weft_wg_done(&g_wg);
}

static void *spawner_thread(void *arg) {
  uintptr_t t = (uintptr_t)arg;
  /* All threads make their first weft call at the same moment: the runtime
   * must start exactly once. */
  pthread_barrier_wait(&g_barrier);
  for (uintptr_t i = 0; i < SPAWN_PER_THREAD; i++) {
    weft_wg_add(&g_wg, 1);
    uintptr_t v = t * 1000000 + i + 1;
    int rc = weft_go(add_value, (void *)v);
    WEFT_EXPECT(rc == 0, "weft_go from thread %lu returned %d",
                (unsigned long)t, rc);
    if (rc != 0)
      weft_wg_done(&g_wg);
  }
  return NULL;
}

static uint64_t expected_thread_sum(void) {
  uint64_t s = 0;
  for (uint64_t t = 0; t < SPAWN_THREADS; t++)
    for (uint64_t i = 0; i < SPAWN_PER_THREAD; i++)
      s += t * 1000000 + i + 1;
  return s;
}

START_TEST(test_spawn_from_plain_threads) {
  ck_assert_int_gt(weft_procs(4), 0);
  pthread_t th[SPAWN_THREADS];
  pthread_barrier_init(&g_barrier, NULL, SPAWN_THREADS);
  for (uintptr_t t = 0; t < SPAWN_THREADS; t++)
    ck_assert_int_eq(pthread_create(&th[t], NULL, spawner_thread, (void *)t),
                     0);
  for (int t = 0; t < SPAWN_THREADS; t++)
    pthread_join(th[t], NULL);
  weft_wg_wait(&g_wg);
  WEFT_ASSERT_NO_FAILURES();
  ck_assert_int_eq(atomic_load(&g_count), SPAWN_THREADS * SPAWN_PER_THREAD);
  ck_assert_uint_eq(atomic_load(&g_sum), expected_thread_sum());
  ck_assert_int_eq(weft_procs(0), 4);
}
END_TEST

#define GO_CHILDREN WEFT_SCALE(20000)
static weft_waitgroup g_root_done = WEFT_WAITGROUP_INIT;
static uint64_t g_root_saw_sum;
static int g_root_saw_count;

static void root_spawner(void *arg) {
  (void)arg;
  for (uintptr_t i = 1; i <= GO_CHILDREN; i++) {
    weft_wg_add(&g_wg, 1);
    int rc = weft_go(add_value, (void *)i);
    WEFT_EXPECT(rc == 0, "weft_go from a goroutine returned %d", rc);
  }
  weft_wg_wait(&g_wg);
  /* Everything the children did is visible once the wait returns. */
  g_root_saw_sum = atomic_load(&g_sum);
  g_root_saw_count = atomic_load(&g_count);
  weft_wg_done(&g_root_done);
}

START_TEST(test_spawn_and_join_from_goroutine) {
  weft_procs(4);
  weft_wg_add(&g_root_done, 1);
  ck_assert_int_eq(weft_go(root_spawner, NULL), 0);
  weft_wg_wait(&g_root_done);
  WEFT_ASSERT_NO_FAILURES();
  ck_assert_int_eq(g_root_saw_count, GO_CHILDREN);
  ck_assert_uint_eq(g_root_saw_sum,
                    (uint64_t)GO_CHILDREN * (GO_CHILDREN + 1) / 2);
}
END_TEST

/* ---- nested spawns: a tree with per-node joins ---------------------------- */

#ifdef WEFT_TEST_SANITIZED
#define TREE_DEPTH 8
#else
#define TREE_DEPTH 10
#endif

static int fanout_at(int depth) { return 2 + depth % 3; } /* 2, 3, 4, 2, ... */

typedef struct tree_node {
  int depth;
  uint64_t leaves; /* filled by the node before it returns */
  weft_waitgroup *parent_wg;
} tree_node;

static atomic_int g_tree_nodes;

static void tree(void *arg) {
  tree_node *n = arg;
  atomic_fetch_add(&g_tree_nodes, 1);
  if (n->depth == TREE_DEPTH) {
    n->leaves = 1;
  } else {
    int k = fanout_at(n->depth);
    tree_node kids[4];
    weft_waitgroup wg = WEFT_WAITGROUP_INIT;
    weft_wg_add(&wg, k);
    for (int i = 0; i < k; i++) {
      kids[i] = (tree_node){n->depth + 1, 0, &wg};
      int rc = weft_go(tree, &kids[i]);
      WEFT_EXPECT(rc == 0, "weft_go in tree returned %d", rc);
    }
    weft_wg_wait(&wg);
    uint64_t s = 0;
    for (int i = 0; i < k; i++)
      s += kids[i].leaves;
    n->leaves = s;
  }
  weft_wg_done(n->parent_wg);
}

START_TEST(test_nested_tree) {
  weft_procs(4);
  uint64_t want_leaves = 1, want_nodes = 0, level = 1;
  for (int d = 0; d <= TREE_DEPTH; d++) {
    want_nodes += level;
    if (d < TREE_DEPTH) {
      level *= (uint64_t)fanout_at(d);
      want_leaves *= (uint64_t)fanout_at(d);
    }
  }
  weft_waitgroup wg = WEFT_WAITGROUP_INIT;
  tree_node root = {0, 0, &wg};
  weft_wg_add(&wg, 1);
  ck_assert_int_eq(weft_go(tree, &root), 0);
  weft_wg_wait(&wg);
  WEFT_ASSERT_NO_FAILURES();
  ck_assert_uint_eq(root.leaves, want_leaves);
  ck_assert_uint_eq((uint64_t)atomic_load(&g_tree_nodes), want_nodes);
}
END_TEST

/* ---- argument validation -------------------------------------------------- */

static atomic_int g_ran;
static void mark_ran(void *arg) {
  (void)arg;
  atomic_fetch_add(&g_ran, 1);
  weft_wg_done(&g_wg);
}

START_TEST(test_go_null_fn) {
  ck_assert_int_eq(weft_go(NULL, NULL), -EINVAL);
  ck_assert_int_eq(weft_go(NULL, (void *)1), -EINVAL);
  weft_go_options o = {0, "x"};
  ck_assert_int_eq(weft_go_opts(NULL, NULL, &o), -EINVAL);
  /* Nothing was started. */
  ck_assert_int_eq(weft_num_goroutines(), 0);
}
END_TEST

START_TEST(test_go_opts_bad_stack) {
  const size_t bad[] = {1, WEFT_STACK_MIN - 1, WEFT_STACK_MIN / 2,
                        WEFT_STACK_MAX + 1, WEFT_STACK_MAX * 2, SIZE_MAX};
  int before = weft_num_goroutines();
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    weft_go_options o = {bad[i], NULL};
    ck_assert_msg(weft_go_opts(mark_ran, NULL, &o) == -EINVAL,
                  "stack_size %zu accepted", bad[i]);
  }
  ck_assert_int_eq(weft_num_goroutines(), before);
  ck_assert_int_eq(atomic_load(&g_ran), 0);

  /* The bounds themselves, a non-power of two and 0 (default) are valid. */
  const size_t good[] = {0, WEFT_STACK_MIN, WEFT_STACK_MIN + 1, 100000,
                         WEFT_STACK_DEFAULT, WEFT_STACK_MAX};
  int n = (int)(sizeof good / sizeof good[0]);
  weft_wg_add(&g_wg, n);
  for (int i = 0; i < n; i++) {
    weft_go_options o = {good[i], NULL};
    ck_assert_msg(weft_go_opts(mark_ran, NULL, &o) == 0,
                  "stack_size %zu rejected", good[i]);
  }
  weft_wg_wait(&g_wg);
  ck_assert_int_eq(atomic_load(&g_ran), n);
}
END_TEST

/* ---- stack size option: a goroutine with a 512 KiB frame ------------------ */

#define BIG_FRAME (512 * 1024)
static uint64_t g_big_sum;

__attribute__((noinline)) static uint64_t use_big_frame(void) {
  unsigned char buf[BIG_FRAME];
  volatile unsigned char *p = buf;
  for (size_t i = 0; i < BIG_FRAME; i++)
    p[i] = (unsigned char)(i * 7);
  uint64_t s = 0;
  for (size_t i = 0; i < BIG_FRAME; i++)
    s += p[i];
  return s;
}

static void big_frame_goroutine(void *arg) {
  (void)arg;
  g_big_sum = use_big_frame();
  weft_wg_done(&g_wg);
}

static uint64_t big_frame_expected(void) {
  uint64_t s = 0;
  for (size_t i = 0; i < BIG_FRAME; i++)
    s += (unsigned char)(i * 7);
  return s;
}

START_TEST(test_go_opts_large_stack) {
  weft_go_options o = {1024 * 1024, "bigstack"};
  weft_wg_add(&g_wg, 1);
  ck_assert_int_eq(weft_go_opts(big_frame_goroutine, NULL, &o), 0);
  weft_wg_wait(&g_wg);
  ck_assert_uint_eq(g_big_sum, big_frame_expected());
}
END_TEST

START_TEST(test_init_default_stack_size) {
  /* weft_init's stack_size applies to plain weft_go. */
  weft_config cfg = {.procs = 0, .stack_size = 1024 * 1024};
  ck_assert_int_eq(weft_init(&cfg), 0);
  weft_wg_add(&g_wg, 1);
  ck_assert_int_eq(weft_go(big_frame_goroutine, NULL), 0);
  weft_wg_wait(&g_wg);
  ck_assert_uint_eq(g_big_sum, big_frame_expected());
}
END_TEST

/* Goroutines that stay alive (parked on the gate) while the test reads
 * their names from the goroutine dump, the public place names show. */
static weft_chan *g_name_gate;

static void park_named(void *arg) {
  weft_recv(g_name_gate, NULL);
  mark_ran(arg);
}

/* How many occurrences of key the dump holds. */
static int count_in(const char *dump, const char *key) {
  int n = 0;
  for (const char *p = dump; (p = strstr(p, key)) != NULL; p += strlen(key))
    n++;
  return n;
}

/* Dump entries whose header carries exactly this name: the key ends with
 * the closing quote, so a longer or a cut name does not match. */
static int named_entries(const char *dump, const char *name) {
  char key[64];
  snprintf(key, sizeof key, " \"%s\" [", name);
  return count_in(dump, key);
}

/* Entry headers without a name: "goroutine N [". */
static int unnamed_entries(const char *dump) {
  int n = 0;
  for (const char *p = dump; (p = strstr(p, "\ngoroutine ")) != NULL; p++) {
    const char *q = p + strlen("\ngoroutine ");
    while (*q >= '0' && *q <= '9')
      q++;
    n += strncmp(q, " [", 2) == 0;
  }
  return n;
}

START_TEST(test_go_opts_name) {
  const char *names[] = {
      "worker", "", "a-name-that-is-much-longer-than-thirty-one-bytes-long",
      NULL};
  char stackname[8] = "tmp";
  int n = (int)(sizeof names / sizeof names[0]);
  g_name_gate = weft_chan_make(0, 0);
  ck_assert_ptr_nonnull(g_name_gate);
  weft_wg_add(&g_wg, n + 1);
  for (int i = 0; i < n; i++) {
    weft_go_options o = {0, names[i]};
    ck_assert_int_eq(weft_go_opts(park_named, NULL, &o), 0);
  }
  /* The name is copied: the caller's buffer may change at once. */
  weft_go_options o = {0, stackname};
  ck_assert_int_eq(weft_go_opts(park_named, NULL, &o), 0);
  memset(stackname, 'Z', sizeof stackname - 1);
  /* A goroutine is in the dump from its creation on; all five are alive
   * until the gate closes, and nothing else runs (the test is a thread). */
  char *d = weft_test_dump_string();
  ck_assert_msg(named_entries(d, "worker") == 1, "%s", d);
  /* A long name keeps its first 31 bytes, no fewer. */
  ck_assert_msg(named_entries(d, "a-name-that-is-much-longer-than") == 1,
                "the long name is not cut at 31 bytes: %s", d);
  ck_assert_msg(named_entries(d, "tmp") == 1, "%s", d);
  ck_assert_msg(strstr(d, "ZZZ") == NULL, "the name was not copied: %s", d);
  /* "" and NULL both mean unnamed: no quotes at all. */
  ck_assert_msg(unnamed_entries(d) == 2 && named_entries(d, "") == 0, "%s",
                d);
  free(d);
  ck_assert_int_eq(weft_close(g_name_gate), 0);
  weft_wg_wait(&g_wg);
  ck_assert_int_eq(atomic_load(&g_ran), n + 1);
  weft_chan_unref(g_name_gate);
}
END_TEST

/* ---- weft_goid ------------------------------------------------------------ */

#define GOID_N 1000
static uint64_t g_ids[GOID_N];

static void record_goid(void *arg) {
  uintptr_t i = (uintptr_t)arg;
  uint64_t id = weft_goid();
  weft_yield();
  uint64_t id2 = weft_goid();
  WEFT_EXPECT(id == id2, "goid changed across yield: %llu -> %llu",
              (unsigned long long)id, (unsigned long long)id2);
  g_ids[i] = id;
  weft_wg_done(&g_wg);
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

static void *goid_thread(void *arg) {
  (void)arg;
  return (void *)(uintptr_t)weft_goid();
}

/* Spawns the second half of the ids from goroutines (ids may be handed out
 * per P there, unlike from plain threads). */
static void goid_spawner(void *arg) {
  uintptr_t first = (uintptr_t)arg;
  for (uintptr_t i = first; i < first + GOID_N / 4; i++) {
    int rc = weft_go(record_goid, (void *)i);
    WEFT_EXPECT(rc == 0, "weft_go returned %d", rc);
  }
  weft_wg_done(&g_wg);
}

START_TEST(test_goid) {
  ck_assert_uint_eq(weft_goid(), 0);
  weft_procs(4);
  weft_wg_add(&g_wg, GOID_N + 2);
  for (uintptr_t i = 0; i < GOID_N / 2; i++)
    ck_assert_int_eq(weft_go(record_goid, (void *)i), 0);
  ck_assert_int_eq(weft_go(goid_spawner, (void *)(uintptr_t)(GOID_N / 2)), 0);
  ck_assert_int_eq(
      weft_go(goid_spawner, (void *)(uintptr_t)(GOID_N / 2 + GOID_N / 4)), 0);
  weft_wg_wait(&g_wg);
  WEFT_ASSERT_NO_FAILURES();
  /* Still 0 on plain threads once the runtime runs. */
  ck_assert_uint_eq(weft_goid(), 0);
  pthread_t th;
  void *r;
  ck_assert_int_eq(pthread_create(&th, NULL, goid_thread, NULL), 0);
  pthread_join(th, &r);
  ck_assert_uint_eq((uintptr_t)r, 0);

  qsort(g_ids, GOID_N, sizeof g_ids[0], cmp_u64);
  ck_assert_uint_ne(g_ids[0], 0);
  for (int i = 1; i < GOID_N; i++)
    ck_assert_msg(g_ids[i] != g_ids[i - 1], "goid %llu given twice",
                  (unsigned long long)g_ids[i]);
}
END_TEST

/* ---- weft_num_goroutines -------------------------------------------------- */

#define NUMG_N WEFT_SCALE(2000)
static weft_waitgroup g_gate = WEFT_WAITGROUP_INIT;
static weft_waitgroup g_started = WEFT_WAITGROUP_INIT;
static atomic_int g_seen_inside;

static void gated(void *arg) {
  (void)arg;
  weft_wg_done(&g_started);
  weft_wg_wait(&g_gate);
  weft_wg_done(&g_wg);
}

static void count_self(void *arg) {
  (void)arg;
  atomic_store(&g_seen_inside, weft_num_goroutines());
  weft_wg_done(&g_wg);
}

START_TEST(test_num_goroutines) {
  weft_procs(4);
  int before = weft_num_goroutines();
  ck_assert_int_eq(before, 0); /* nothing started yet in this process */

  /* A running goroutine counts itself. */
  weft_wg_add(&g_wg, 1);
  ck_assert_int_eq(weft_go(count_self, NULL), 0);
  weft_wg_wait(&g_wg);
  ck_assert_int_ge(atomic_load(&g_seen_inside), before + 1);
  ck_assert_msg(WEFT_POLL_UNTIL(weft_num_goroutines() == before, 10000),
                "count stuck at %d, want %d", weft_num_goroutines(), before);

  weft_wg_add(&g_gate, 1);
  weft_wg_add(&g_started, NUMG_N);
  weft_wg_add(&g_wg, NUMG_N);
  for (int i = 0; i < NUMG_N; i++)
    ck_assert_int_eq(weft_go(gated, NULL), 0);
  weft_wg_wait(&g_started);
  /* All NUMG_N are parked on the gate now. */
  int during = weft_num_goroutines();
  ck_assert_int_ge(during, before + NUMG_N);
  weft_test_os_sleep_ms(20);
  ck_assert_int_ge(weft_num_goroutines(), before + NUMG_N);
  weft_wg_done(&g_gate);
  weft_wg_wait(&g_wg);
  /* A goroutine counts until it has fully returned: poll briefly. */
  ck_assert_msg(WEFT_POLL_UNTIL(weft_num_goroutines() == before, 10000),
                "count stuck at %d, want %d", weft_num_goroutines(), before);
}
END_TEST

/* ---- weft_proc_id --------------------------------------------------------- */

#define PROCID_N 200
static atomic_int g_bad_proc;

static void check_proc_id(void *arg) {
  (void)arg;
  int np = weft_procs(0);
  for (int k = 0; k < 3; k++) {
    int p = weft_proc_id();
    WEFT_EXPECT(p >= 0 && p < np, "weft_proc_id() = %d with %d Ps", p, np);
    if (p < 0 || p >= np)
      atomic_fetch_add(&g_bad_proc, 1);
    weft_yield();
  }
  weft_wg_done(&g_wg);
}

static void *proc_id_thread(void *arg) {
  (void)arg;
  return (void *)(intptr_t)weft_proc_id();
}

START_TEST(test_proc_id) {
  ck_assert_int_eq(weft_proc_id(), -1);
  weft_procs(3);
  weft_wg_add(&g_wg, PROCID_N);
  for (int i = 0; i < PROCID_N; i++)
    ck_assert_int_eq(weft_go(check_proc_id, NULL), 0);
  weft_wg_wait(&g_wg);
  WEFT_ASSERT_NO_FAILURES();
  ck_assert_int_eq(atomic_load(&g_bad_proc), 0);
  ck_assert_int_eq(weft_proc_id(), -1);
  pthread_t th;
  void *r;
  ck_assert_int_eq(pthread_create(&th, NULL, proc_id_thread, NULL), 0);
  pthread_join(th, &r);
  ck_assert_int_eq((int)(intptr_t)r, -1);
}
END_TEST

/* ---- weft_procs and weft_init --------------------------------------------- */

static void noop_done(void *arg) {
  (void)arg;
  weft_wg_done(&g_wg);
}

static void start_runtime(void) {
  weft_wg_add(&g_wg, 1);
  ck_assert_int_eq(weft_go(noop_done, NULL), 0);
  weft_wg_wait(&g_wg);
}

static int cpu_count_affinity(void) {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) != 0)
    return -1;
  return CPU_COUNT(&set);
}

START_TEST(test_procs_before_and_after_start) {
  /* Each test runs in a fresh process: the runtime has not started. */
  const char *env = getenv("WEFT_PROCS");
  int prev = weft_procs(3);
  if (env && atoi(env) > 0) {
    ck_assert_int_eq(prev, atoi(env));
  } else {
    int online = (int)sysconf(_SC_NPROCESSORS_ONLN);
    int aff = cpu_count_affinity();
    ck_assert_msg(prev == online || prev == aff,
                  "default procs %d is neither the online CPUs (%d) nor the "
                  "affinity count (%d)",
                  prev, online, aff);
  }
  ck_assert_int_eq(weft_procs(0), 3);
  ck_assert_int_eq(weft_procs(-1), 3);
  /* Still configurable before the start. */
  ck_assert_int_eq(weft_procs(2), 3);
  ck_assert_int_eq(weft_procs(3), 2);
  ck_assert_int_eq(weft_procs(0), 3);

  start_runtime();
  ck_assert_int_eq(weft_procs(0), 3);
  ck_assert_int_eq(weft_procs(5), -EBUSY);
  ck_assert_int_eq(weft_procs(1), -EBUSY);
  ck_assert_int_eq(weft_procs(3), 3); /* equal to the current: returns it */
  ck_assert_int_eq(weft_procs(0), 3);
}
END_TEST

/* Proc ids seen by hold_p_until_all_seen, one bit each. */
static atomic_int g_procs_seen;

/* Notes its proc id, then computes without a weft call (so it keeps its
 * P: scheduling is cooperative) until every one of the all-bits has been
 * seen: the other holders cannot run on a held P, so each P shows up. */
static void hold_p_until_all_seen(void *arg) {
  int all = (int)(intptr_t)arg;
  int p = weft_proc_id();
  if (p >= 0 && p < 30)
    atomic_fetch_or(&g_procs_seen, 1 << p);
  int64_t give_up = weft_test_clock() + 10 * (int64_t)1000000000;
  while ((atomic_load(&g_procs_seen) & all) != all &&
         weft_test_clock() < give_up)
    ;
  weft_wg_done(&g_wg);
}

START_TEST(test_procs_env) {
  setenv("WEFT_PROCS", "5", 1);
  ck_assert_int_eq(weft_procs(0), 5);
  start_runtime();
  ck_assert_int_eq(weft_procs(0), 5);
  /* The Ps really exist: proc ids cover 0..4 and no more. */
  weft_wg_add(&g_wg, PROCID_N);
  for (int i = 0; i < PROCID_N; i++)
    ck_assert_int_eq(weft_go(check_proc_id, NULL), 0);
  weft_wg_wait(&g_wg);
  WEFT_ASSERT_NO_FAILURES();
  /* Five goroutines that each hold a P run on five different Ps. */
  const int all = (1 << 5) - 1;
  weft_wg_add(&g_wg, 5);
  for (int i = 0; i < 5; i++)
    ck_assert_int_eq(weft_go(hold_p_until_all_seen, (void *)(intptr_t)all),
                     0);
  weft_wg_wait(&g_wg);
  ck_assert_msg(atomic_load(&g_procs_seen) == all,
                "proc ids seen: mask 0x%x, want 0x%x",
                atomic_load(&g_procs_seen), all);
}
END_TEST

START_TEST(test_init) {
  weft_config bad_procs = {.procs = -1, .stack_size = 0};
  ck_assert_int_eq(weft_init(&bad_procs), -EINVAL);
  weft_config bad_small = {.procs = 2, .stack_size = 1};
  ck_assert_int_eq(weft_init(&bad_small), -EINVAL);
  weft_config bad_below = {.procs = 2, .stack_size = WEFT_STACK_MIN - 1};
  ck_assert_int_eq(weft_init(&bad_below), -EINVAL);
  weft_config bad_big = {.procs = 2, .stack_size = WEFT_STACK_MAX + 1};
  ck_assert_int_eq(weft_init(&bad_big), -EINVAL);

  weft_config cfg = {.procs = 2, .stack_size = 0};
  ck_assert_int_eq(weft_init(&cfg), 0);
  ck_assert_int_eq(weft_procs(0), 2);
  /* Before the start, a second weft_init is still a configuration. */
  weft_config cfg3 = {.procs = 3, .stack_size = 128 * 1024};
  ck_assert_int_eq(weft_init(&cfg3), 0);
  ck_assert_int_eq(weft_procs(0), 3);

  start_runtime();
  ck_assert_int_eq(weft_init(&cfg3), -EBUSY);
  ck_assert_int_eq(weft_init(&cfg), -EBUSY);
  ck_assert_int_eq(weft_procs(0), 3);
}
END_TEST

/* ---- -ENOMEM ---------------------------------------------------------------- */

START_TEST(test_enomem_fresh) {
  /* The very first spawn finds no cached stack. */
  ck_assert_int_eq(weft_num_goroutines(), 0);
  weft__stack_fault_inject(1);
  ck_assert_int_eq(weft_go(mark_ran, NULL), -ENOMEM);
  ck_assert_int_eq(weft_num_goroutines(), 0);
  weft_wg_add(&g_wg, 1);
  ck_assert_int_eq(weft_go(mark_ran, NULL), 0);
  weft_wg_wait(&g_wg);
  ck_assert_int_eq(atomic_load(&g_ran), 1);
}
END_TEST

START_TEST(test_enomem_after_start) {
  weft_procs(2);
  start_runtime();
  ck_assert_msg(WEFT_POLL_UNTIL(weft_num_goroutines() == 0, 10000),
                "count stuck at %d", weft_num_goroutines());
  /* A size no goroutine has used yet, so no cache can serve it. */
  weft_go_options o = {4 * 1024 * 1024, "enomem"};
  weft__stack_fault_inject(3);
  for (int i = 0; i < 3; i++) {
    ck_assert_int_eq(weft_go_opts(mark_ran, NULL, &o), -ENOMEM);
    ck_assert_int_eq(weft_num_goroutines(), 0);
  }
  weft_wg_add(&g_wg, 2);
  ck_assert_int_eq(weft_go_opts(mark_ran, NULL, &o), 0);
  ck_assert_int_eq(weft_go(mark_ran, NULL), 0);
  weft_wg_wait(&g_wg);
  ck_assert_int_eq(atomic_load(&g_ran), 2);
}
END_TEST

WEFT_TEST_MAIN("go", test_spawn_from_plain_threads,
               test_spawn_and_join_from_goroutine, test_nested_tree,
               test_go_null_fn, test_go_opts_bad_stack,
               test_go_opts_large_stack, test_init_default_stack_size,
               test_go_opts_name, test_goid, test_num_goroutines, test_proc_id,
               test_procs_before_and_after_start, test_procs_env, test_init,
               test_enomem_fresh, test_enomem_after_start)
