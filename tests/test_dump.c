/* test_dump.c -- the goroutine dump (weft_dump), the leak report at exit
 * (WEFT_LEAKS) and the SIGQUIT dump (WEFT_DUMP_ON_SIGQUIT).
 *
 * The goroutines park in named functions of this file, which are global
 * and exported (ENABLE_EXPORTS in CMakeLists.txt) so that the dump can
 * name them with or without libunwind, and noinline with work after the
 * blocking call so that they keep a frame of their own. */
#include <stdbool.h>

#include "weft_test.h"

#define PARKER __attribute__((noinline))

static volatile int sink;

/* The entry of the goroutine named name (a copy; the caller frees it), or
 * NULL. An entry runs from "goroutine " to the next blank line. */
__attribute__((noinline)) static char *entry_named(const char *dump,
                                                const char *name) {
  char key[64];
  snprintf(key, sizeof key, " \"%s\" [", name);
  const char *k = strstr(dump, key);
  if (k == NULL)
    return NULL;
  const char *start = k;
  while (start > dump && start[-1] != '\n')
    start--;
  const char *end = strstr(k, "\n\n");
  size_t n = end ? (size_t)(end - start) : strlen(start);
  return strndup(start, n);
}

static int count_entries(const char *dump) {
  int n = 0;
  for (const char *p = dump; (p = strstr(p, "\ngoroutine ")) != NULL; p++)
    n++;
  return n;
}

/* Whether a dump now shows one goroutine, parked in a channel receive (and
 * so none that is still on its way out). */
static bool only_recv_parked(void) {
  char *d = weft_test_dump_string();
  bool yes = count_entries(d) == 1 && strstr(d, "[chan receive]") != NULL;
  free(d);
  return yes;
}

/* ---- one goroutine parked in each kind of wait ------------------------- */

static weft_chan *g_unbuf, *g_unbuf2, *g_sel1, *g_sel2;
static weft_mutex g_mu = WEFT_MUTEX_INIT;
static weft_rwmutex g_rw = WEFT_RWMUTEX_INIT;
static weft_mutex g_cond_mu = WEFT_MUTEX_INIT;
static weft_cond g_cond = WEFT_COND_INIT;
static weft_waitgroup g_block_wg = WEFT_WAITGROUP_INIT;
static weft_sema g_sema = WEFT_SEMA_INIT(0);

PARKER void dump_park_recv(void *arg) {
  (void)arg;
  int v;
  weft_recv(g_unbuf, &v);
  sink++;
}
PARKER void dump_park_send(void *arg) {
  (void)arg;
  int v = 1;
  weft_send(g_unbuf2, &v);
  sink++;
}
PARKER void dump_park_select(void *arg) {
  (void)arg;
  weft_case cs[2] = {WEFT_RECV(g_sel1, NULL), WEFT_RECV(g_sel2, NULL)};
  weft_select(cs, 2);
  sink++;
}
PARKER void dump_park_nilrecv(void *arg) {
  (void)arg;
  weft_recv(NULL, NULL);
  sink++;
}
PARKER void dump_park_nocases(void *arg) {
  (void)arg;
  weft_select(NULL, 0);
  sink++;
}
PARKER void dump_park_mutex(void *arg) {
  (void)arg;
  weft_mutex_lock(&g_mu);
  weft_mutex_unlock(&g_mu);
  sink++;
}
PARKER void dump_park_rlock(void *arg) {
  (void)arg;
  weft_rwmutex_rlock(&g_rw);
  weft_rwmutex_runlock(&g_rw);
  sink++;
}
PARKER void dump_park_cond(void *arg) {
  (void)arg;
  weft_mutex_lock(&g_cond_mu);
  weft_cond_wait(&g_cond, &g_cond_mu);
  weft_mutex_unlock(&g_cond_mu);
  sink++;
}
PARKER void dump_park_wg(void *arg) {
  (void)arg;
  weft_wg_wait(&g_block_wg);
  sink++;
}
PARKER void dump_park_sema(void *arg) {
  (void)arg;
  weft_sema_acquire(&g_sema);
  sink++;
}
PARKER void dump_park_sleep(void *arg) {
  (void)arg;
  weft_sleep(3600 * WEFT_SEC);
  sink++;
}

typedef struct parker {
  const char *name, *state, *fn;
  void (*run)(void *);
} parker;

static const parker parkers[] = {
    {"recv", "[chan receive]", "dump_park_recv", dump_park_recv},
    {"send", "[chan send]", "dump_park_send", dump_park_send},
    {"select", "[select]", "dump_park_select", dump_park_select},
    {"nilrecv", "[chan receive (nil chan)]", "dump_park_nilrecv",
     dump_park_nilrecv},
    {"nocases", "[select (no cases)]", "dump_park_nocases", dump_park_nocases},
    {"mutex", "[sync.Mutex.Lock]", "dump_park_mutex", dump_park_mutex},
    {"rlock", "[sync.RWMutex.RLock]", "dump_park_rlock", dump_park_rlock},
    {"cond", "[sync.Cond.Wait]", "dump_park_cond", dump_park_cond},
    {"wg", "[sync.WaitGroup.Wait]", "dump_park_wg", dump_park_wg},
    {"sema", "[semaphore]", "dump_park_sema", dump_park_sema},
    {"sleep", "[sleep", "dump_park_sleep", dump_park_sleep},
};
#define NPARKERS (int)(sizeof parkers / sizeof parkers[0])

static atomic_uint_fast64_t g_spawner_id;

/* Spawns every parker from a goroutine: "created by" names this. */
PARKER void dump_spawn_all(void *arg) {
  (void)arg;
  atomic_store(&g_spawner_id, weft_goid());
  for (int i = 0; i < NPARKERS; i++) {
    weft_go_options o = {0, parkers[i].name};
    WEFT_EXPECT(weft_go_opts(parkers[i].run, NULL, &o) == 0, "spawn %d", i);
  }
  sink++;
}

static void setup_parkers(void) {
  g_unbuf = weft_chan_make(sizeof(int), 0);
  g_unbuf2 = weft_chan_make(sizeof(int), 0);
  g_sel1 = weft_chan_make(0, 0);
  g_sel2 = weft_chan_make(0, 0);
  weft_mutex_lock(&g_mu);    /* held: dump_park_mutex waits */
  weft_rwmutex_lock(&g_rw);  /* held: dump_park_rlock waits */
  weft_wg_add(&g_block_wg, 1);
  go_or_die(dump_spawn_all, NULL);
}

static bool all_parked(void) {
  char *d = weft_test_dump_string();
  bool ok = count_entries(d) == NPARKERS; /* the spawner is gone */
  for (int i = 0; ok && i < NPARKERS; i++) {
    char *e = entry_named(d, parkers[i].name);
    ok = e && strstr(e, parkers[i].state) != NULL;
    free(e);
  }
  free(d);
  return ok;
}

START_TEST(test_dump_states_and_frames) {
  setup_parkers();
  ck_assert_msg(WEFT_POLL_UNTIL(all_parked(), 20000),
                "not every goroutine parked in time");
  int64_t t0 = weft_test_clock();
  WEFT_ASSERT_NO_FAILURES();
  char *d = weft_test_dump_string();
  /* Everything is parked: the dump is exact, one entry per goroutine. */
  ck_assert_int_eq(count_entries(d), NPARKERS);
  ck_assert_int_eq(weft_num_goroutines(), NPARKERS);
  char created[64];
  snprintf(created, sizeof created, " in goroutine %llu\n",
           (unsigned long long)atomic_load(&g_spawner_id));
  for (int i = 0; i < NPARKERS; i++) {
    char *e = entry_named(d, parkers[i].name);
    ck_assert_msg(e != NULL, "no entry for %s in:\n%s", parkers[i].name, d);
    ck_assert_msg(strncmp(e, "goroutine ", 10) == 0, "%s", e);
    ck_assert_msg(strstr(e, parkers[i].state), "state %s missing:\n%s",
                  parkers[i].state, e);
    /* The backtrace, from the saved context, reaches the function that
     * parked; and the entry says who started it. */
    ck_assert_msg(strstr(e, parkers[i].fn), "frame %s missing:\n%s",
                  parkers[i].fn, e);
    ck_assert_msg(strstr(e, "\ncreated by dump_spawn_all+0x"), "%s", e);
    ck_assert_msg(strstr(e, created), "want \"%s\":\n%s", created, e);
    free(e);
  }
  free(d);
  /* The wait's length shows once it reaches a second. */
  while (weft_test_clock() - t0 < 1300 * 1000000LL)
    weft_test_os_sleep_ms(20);
  d = weft_test_dump_string();
  char *e = entry_named(d, "sleep");
  ck_assert_ptr_nonnull(e);
  ck_assert_msg(strstr(e, "[sleep, ") && strstr(e, " seconds]:"), "%s", e);
  free(e);
  free(d);
}
END_TEST

/* ---- a plain thread blocked in weft ------------------------------------- */

static weft_chan *g_main_chan;
static char *g_thread_dump;

/* Dumps until the main thread shows up, blocked in its receive, then lets
 * it go. */
static void dump_until_main_listed(void *arg) {
  (void)arg;
  char want[64];
  snprintf(want, sizeof want, "\nthread %ld (main) [chan receive]:",
           (long)getpid());
  for (int i = 0; i < 1000; i++) {
    char *d = weft_test_dump_string();
    if (strstr(d, want)) {
      g_thread_dump = d;
      break;
    }
    free(d);
    weft_sleep(10 * WEFT_MS);
  }
  int v = 1;
  weft_send(g_main_chan, &v);
}

PARKER int dump_main_waits(void) {
  int v = 0;
  int rc = weft_recv(g_main_chan, &v);
  sink++;
  return rc == 1 ? v : -1;
}

START_TEST(test_dump_shows_blocked_thread) {
  g_main_chan = weft_chan_make(sizeof(int), 0);
  go_or_die(dump_until_main_listed, NULL);
  ck_assert_int_eq(dump_main_waits(), 1);
  ck_assert_msg(g_thread_dump != NULL, "main never listed as blocked");
  /* Its stack is walked from the wait: the caller's frame is there. */
  const char *t = strstr(g_thread_dump, "\nthread ");
  ck_assert_msg(strstr(t, "dump_main_waits+0x"), "%s", g_thread_dump);
  free(g_thread_dump);
  /* Once it runs again it is off the list. */
  char *d = weft_test_dump_string();
  ck_assert_msg(strstr(d, "\nthread ") == NULL, "%s", d);
  free(d);
  weft_chan_unref(g_main_chan);
}
END_TEST

/* ---- a dump from a goroutine, and one running elsewhere ----------------- */

static _Atomic(char *) g_self_dump;
static atomic_int g_spin_stop, g_spinning;
static weft_waitgroup g_wg = WEFT_WAITGROUP_INIT;

PARKER void dump_spinner(void *arg) {
  (void)arg;
  atomic_store(&g_spinning, 1);
  while (!atomic_load(&g_spin_stop))
    ; /* keeps its P: the dump must show it running, without a stack */
  weft_wg_done(&g_wg);
}

PARKER void dump_from_goroutine(void *arg) {
  (void)arg;
  g_self_dump = weft_test_dump_string();
  sink++;
  weft_wg_done(&g_wg);
}

START_TEST(test_dump_from_goroutine) {
  weft_procs(2); /* returns the previous value ($WEFT_PROCS or the CPUs) */
  ck_assert_int_eq(weft_procs(0), 2);
  weft_wg_add(&g_wg, 2);
  weft_go_options o = {0, "spinner"};
  ck_assert_int_eq(weft_go_opts(dump_spinner, NULL, &o), 0);
  ck_assert(WEFT_POLL_UNTIL(atomic_load(&g_spinning), 10000));
  o.name = "dumper";
  ck_assert_int_eq(weft_go_opts(dump_from_goroutine, NULL, &o), 0);
  ck_assert(WEFT_POLL_UNTIL(g_self_dump != NULL || weft_num_goroutines() < 2,
                            10000));
  atomic_store(&g_spin_stop, 1);
  weft_wg_wait(&g_wg);
  char *d = g_self_dump;
  ck_assert_ptr_nonnull(d);
  /* The caller's own goroutine comes first, running, with its stack. */
  ck_assert_msg(strncmp(d, "\ngoroutine ", 11) == 0, "%s", d);
  char *first = entry_named(d, "dumper");
  ck_assert_ptr_nonnull(first);
  ck_assert_msg(strstr(d, first) == d + 1, "dumper is not first:\n%s", d);
  /* (dump_string may be inlined into it) */
  ck_assert_msg(strstr(first, "[running]:\n") &&
                    strstr(first, "\ndump_from_goroutine+0x"),
                "%s", first);
  char *spin = entry_named(d, "spinner");
  ck_assert_ptr_nonnull(spin);
  ck_assert_msg(strstr(spin, "[running]:\n\tgoroutine running on other "
                             "thread; stack unavailable"), "%s", spin);
  free(first);
  free(spin);
  free(d);
}
END_TEST

/* ---- the leak report at exit -------------------------------------------- */

PARKER void leaky_worker(void *arg) {
  (void)arg;
  weft_recv(g_unbuf, NULL); /* nobody ever sends */
  sink++;
}

static weft_waitgroup g_done_wg = WEFT_WAITGROUP_INIT;

PARKER void finished_worker(void *arg) {
  (void)arg;
  weft_wg_done(&g_done_wg);
}

static void leak_child(bool enable) {
  if (enable)
    setenv("WEFT_LEAKS", "1", 1);
  g_unbuf = weft_chan_make(sizeof(int), 0);
  weft_go_options o = {0, "leaky"};
  weft_go_opts(leaky_worker, NULL, &o);
  weft_wg_add(&g_done_wg, 1);
  weft_go(finished_worker, NULL);
  weft_wg_wait(&g_done_wg);
  while (!only_recv_parked())
    weft_test_os_sleep_ms(1);
  exit(0); /* runs the atexit report */
}

static void leak_child_on(void) { leak_child(true); }
static void leak_child_off(void) { leak_child(false); }

START_TEST(test_leak_report) {
  static char buf[65536];
  int st = weft_test_child(leak_child_on, buf, sizeof buf);
  ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %d: %s", st,
                buf);
  ck_assert_msg(strstr(buf, "weft: 1 goroutine still alive at exit (leaks?):"
                            "\n\ngoroutine "), "%s", buf);
  char *e = entry_named(buf, "leaky");
  ck_assert_msg(e != NULL, "%s", buf);
  ck_assert_msg(strstr(e, "[chan receive]") && strstr(e, "leaky_worker+0x") &&
                    strstr(e, "\ncreated by leak_child+0x"), "%s", e);
  free(e);
  ck_assert_msg(strstr(buf, "finished_worker") == NULL, "%s", buf);

  st = weft_test_child(leak_child_off, buf, sizeof buf);
  ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %d", st);
  ck_assert_msg(strstr(buf, "still alive") == NULL, "%s", buf);
}
END_TEST

/* ---- SIGQUIT ------------------------------------------------------------ */

static void sigquit_child(void) {
  setenv("WEFT_DUMP_ON_SIGQUIT", "1", 1);
  g_unbuf = weft_chan_make(sizeof(int), 0);
  weft_go_options o = {0, "quitter"};
  weft_go_opts(leaky_worker, NULL, &o);
  while (!only_recv_parked())
    weft_test_os_sleep_ms(1);
  kill(getpid(), SIGQUIT);
  for (;;)
    pause(); /* the dump thread exits the process */
}

START_TEST(test_sigquit_dump) {
  static char buf[65536];
  int st = weft_test_child(sigquit_child, buf, sizeof buf);
  ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 2, "status %d: %s", st,
                buf);
  ck_assert_msg(strncmp(buf, "SIGQUIT: quit\n\ngoroutine ", 25) == 0, "%s",
                buf);
  char *e = entry_named(buf, "quitter");
  ck_assert_msg(e && strstr(e, "[chan receive]") &&
                    strstr(e, "leaky_worker+0x"), "%s", buf);
  free(e);
}
END_TEST

WEFT_TEST_MAIN("dump", test_dump_states_and_frames,
               test_dump_shows_blocked_thread, test_dump_from_goroutine,
               test_leak_report, test_sigquit_dump)
