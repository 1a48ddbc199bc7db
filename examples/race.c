/*
 * race.c -- finding a data race with weft's race build (Go's -race).
 *
 * Two goroutines bump one shared counter. Run plainly, the program looks
 * fine: it exits 0 and usually prints the right total (with one P always;
 * the goroutines may not even overlap). It is still wrong, and the race
 * build says so:
 *
 *     cmake -S . -B build-race -DWEFT_RACE=ON && cmake --build build-race
 *     build-race/examples/race            # or, against an installed weft:
 *     clang race.c $(pkg-config --cflags --libs weft-race) && ./a.out
 *
 *     WARNING: ThreadSanitizer: data race (pid=...)
 *       Write of size 4 at 0x... by thread T4:
 *         #0 deposit_b examples/race.c:...
 *       Previous write of size 4 at 0x... by thread T3:
 *         #0 deposit_a examples/race.c:...
 *
 * (TSan calls every goroutine a "thread".) The report comes whether or not
 * the two goroutines ran at the same time: nothing orders one's writes
 * before the other's, which is what the memory model asks. The same
 * program fixed three ways gives no report:
 *
 *     race mutex     the counter under a weft_mutex
 *     race atomic    the counter is _Atomic (Go's sync/atomic)
 *     race channel   each goroutine sends its part; main alone adds
 *
 * Run: ./race [racy|mutex|atomic|channel]     (racy is the default)
 */
#include <weft.h>

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

enum { N = 1000 };

static int counter;                 /* racy and mutex */
static weft_mutex mu = WEFT_MUTEX_INIT;
static _Atomic int acounter;        /* atomic */
static weft_chan *parts;            /* channel */
static weft_waitgroup wg = WEFT_WAITGROUP_INIT;

/* ---- racy: two plain read-modify-writes of counter --------------------- */

static void deposit_a(void *arg) {
  (void)arg;
  for (int i = 0; i < N; i++)
    counter++;
  weft_wg_done(&wg);
}

static void deposit_b(void *arg) {
  (void)arg;
  for (int i = 0; i < N; i++)
    counter++;
  weft_wg_done(&wg);
}

/* ---- fixed: a mutex around each update --------------------------------- */

static void deposit_locked(void *arg) {
  (void)arg;
  for (int i = 0; i < N; i++) {
    weft_mutex_lock(&mu);
    counter++;
    weft_mutex_unlock(&mu);
  }
  weft_wg_done(&wg);
}

/* ---- fixed: an atomic counter ------------------------------------------ */

static void deposit_atomic(void *arg) {
  (void)arg;
  for (int i = 0; i < N; i++)
    atomic_fetch_add(&acounter, 1);
  weft_wg_done(&wg);
}

/* ---- fixed: share by communicating ------------------------------------- */

static void deposit_send(void *arg) {
  (void)arg;
  int mine = 0; /* this goroutine's own: nobody else touches it */
  for (int i = 0; i < N; i++)
    mine++;
  weft_send(parts, &mine);
  weft_wg_done(&wg);
}

static int run(void (*a)(void *), void (*b)(void *)) {
  weft_wg_add(&wg, 2);
  if (weft_go(a, NULL) != 0 || weft_go(b, NULL) != 0) {
    fprintf(stderr, "race: weft_go failed\n");
    return -1;
  }
  if (parts) { /* the channel version: add up what the workers send */
    int total = 0, part;
    for (int i = 0; i < 2; i++) {
      weft_recv(parts, &part);
      total += part;
    }
    counter = total;
  }
  weft_wg_wait(&wg); /* every worker's writes happen before this returns */
  return atomic_load(&acounter) + counter;
}

int main(int argc, char **argv) {
  const char *mode = argc > 1 ? argv[1] : "racy";
  int total;
  if (strcmp(mode, "racy") == 0) {
    total = run(deposit_a, deposit_b);
    /* Exits 0 on purpose: only the race build can tell. */
    printf("racy: counter = %d (want %d; a lost update needs two Ps)\n",
           total, 2 * N);
    return total < 0;
  }
  if (strcmp(mode, "mutex") == 0) {
    total = run(deposit_locked, deposit_locked);
  } else if (strcmp(mode, "atomic") == 0) {
    total = run(deposit_atomic, deposit_atomic);
  } else if (strcmp(mode, "channel") == 0) {
    parts = weft_chan_make(sizeof(int), 0);
    total = run(deposit_send, deposit_send);
    weft_chan_unref(parts);
  } else {
    fprintf(stderr, "usage: race [racy|mutex|atomic|channel]\n");
    return 2;
  }
  printf("%s: counter = %d (want %d)\n", mode, total, 2 * N);
  return total == 2 * N ? 0 : 1;
}
