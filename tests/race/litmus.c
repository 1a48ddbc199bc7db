/* litmus.c -- Go's race-detector litmus cases (src/runtime/race/testdata:
 * chan_test.go, select_test.go, mutex_test.go, rwmutex_test.go,
 * waitgroup_test.go, sync_test.go), ported to weft, plus weft's own
 * (goroutine start, Once, semaphore, context, timers, a blocked main
 * thread).
 *
 * usage: litmus --list      one line per case: NAME race|clean
 *        litmus NAME        runs that case, then exits 0
 *
 * Each case runs in its own process (tests/race/check.sh), so one report
 * cannot leak into the next case's verdict: a "race" case must make TSan
 * report a data race, a "clean" case must make it report nothing. As in
 * Go's tests, the body runs in a goroutine, unless the name ends in
 * _thread: then on the main thread, which parks as a plain thread.
 *
 * Globals are the shared variables (each process runs one case). The
 * ones the cases race on have external linkage, so that the optimizer
 * cannot drop stores nobody in this file reads.
 */
#include <weft.h>

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int v, x, y; /* see the header */
static weft_chan *c, *c1, *c2, *c3, *compl_, *done, *aux;

static void go(void (*fn)(void *), void *arg) {
  if (weft_go(fn, arg) != 0) {
    fprintf(stderr, "litmus: weft_go failed\n");
    exit(2);
  }
}

static weft_chan *mk(size_t cap) {
  weft_chan *ch = weft_chan_make(sizeof(int), cap);
  if (ch == NULL) {
    fprintf(stderr, "litmus: weft_chan_make failed\n");
    exit(2);
  }
  return ch;
}

static void lsend(weft_chan *ch, int val) { weft_send(ch, &val); }
static int lrecv(weft_chan *ch) {
  int val = 0;
  weft_recv(ch, &val);
  return val;
}
static void sleep_ms(int ms) { weft_sleep((int64_t)ms * WEFT_MS); }

/* ---- chan_test.go ------------------------------------------------------- */

static void set1_send(void *a) { (void)a; v = 1; lsend(c, 0); }
static void send_set2(void *a) { (void)a; lsend(c, 0); v = 2; }
static void set1_close(void *a) { (void)a; v = 1; weft_close(c); }

static void chan_sync(void) { /* TestNoRaceChanSync */
  c = mk(0);
  go(set1_send, NULL);
  lrecv(c);
  v = 2;
}
static void chan_sync_rev(void) { /* TestNoRaceChanSyncRev */
  c = mk(0);
  go(send_set2, NULL);
  v = 1;
  lrecv(c);
}
static void chan_async(void) { /* TestNoRaceChanAsync */
  c = mk(10);
  go(set1_send, NULL);
  lrecv(c);
  v = 2;
}
static void send_set1(void *a) { (void)a; lsend(c, 0); v = 1; }
static void chan_async_rev(void) { /* TestRaceChanAsyncRev */
  c = mk(10);
  go(send_set1, NULL);
  v = 2;
  lrecv(c);
}
static void chan_async_close_recv(void) { /* TestNoRaceChanAsyncCloseRecv2 */
  c = mk(10);
  go(set1_close, NULL);
  lrecv(c);
  v = 2;
}
static void chan_async_close_range(void) { /* ...CloseRecv3 */
  c = mk(10);
  go(set1_close, NULL);
  int val;
  while (weft_recv(c, &val) == 1) {
  }
  v = 2;
}
static void chan_sync_close_recv(void) { /* TestNoRaceChanSyncCloseRecv2 */
  c = mk(0);
  go(set1_close, NULL);
  lrecv(c);
  v = 2;
}
static void chan_sync_close_send(void) { /* TestRaceChanSyncCloseSend */
  c = mk(0);
  go(set1_close, NULL);
  lsend(c, 0); /* -EPIPE: a send on a closed channel orders nothing */
  v = 2;
}
static void chan_async_close_send(void) { /* TestRaceChanAsyncCloseSend */
  c = mk(10);
  go(set1_close, NULL);
  int zero = 0;
  while (weft_send(c, &zero) == 0) {
  }
  v = 2;
}
static void close_then_compl(void *a) { (void)a; weft_close(c); lsend(compl_, 1); }
/* TestRaceChanCloseSend: Go reports a send racing with close even with no
 * shared variable, as the send would panic. In weft it returns -EPIPE, a
 * documented outcome, so the two are no race by themselves. */
static void chan_close_send(void) {
  compl_ = mk(1);
  c = mk(10);
  go(close_then_compl, NULL);
  lsend(c, 0); /* races with the close itself */
  lrecv(compl_);
}
static void send_x_c1(void *a) { (void)a; lsend(c1, x); lsend(done, 1); }
static void chan_read_write_async(void) { /* TestRaceChanReadWriteAsync */
  done = mk(0);
  c1 = mk(10);
  c2 = mk(10);
  lsend(c2, 10);
  go(send_x_c1, NULL);
  x = lrecv(c2); /* writes x, which the goroutine reads */
  lrecv(done);
}
static void recv_c1(void *a) { (void)a; lrecv(c1); }
static void send_c2(void *a) { (void)a; lsend(c2, 10); }
static void chan_read_write_sync(void) { /* TestRaceChanReadWriteSync */
  done = mk(0);
  c1 = mk(0);
  c2 = mk(0);
  go(recv_c1, NULL);
  go(send_c2, NULL);
  go(send_x_c1, NULL);
  x = lrecv(c2);
  lrecv(done);
}
static void no_race_chan_read_write_async(void) {
  done = mk(0);
  c1 = mk(10);
  go(send_x_c1, NULL);
  x = lrecv(c1); /* the value read is the one sent: ordered */
  lrecv(done);
}
static void chan_mutex_user(void *a) {
  (void)a;
  lsend(c, 0); /* take the one-slot "mutex" */
  x = 42;
  lrecv(c);
  lsend(done, 0);
}
static void chan_mutex(void) { /* TestNoRaceChanMutex */
  done = mk(0);
  c = mk(1);
  go(chan_mutex_user, NULL);
  lsend(c, 0);
  x = 43;
  lrecv(c);
  lrecv(done);
}
static void chan_sem(void) { /* TestRaceChanSem: two slots exclude nothing */
  done = mk(0);
  c = mk(2);
  go(chan_mutex_user, NULL);
  lsend(c, 0);
  x = 43;
  lrecv(c);
  lrecv(done);
}
enum { NWG = 10 };
int data[NWG];
static void wg_worker(void *a) {
  data[(intptr_t)a] = 42;
  lrecv(c);
}
static void chan_waitgroup(void) { /* TestNoRaceChanWaitGroup */
  c = mk(NWG / 2);
  for (intptr_t i = 0; i < NWG; i++) {
    lsend(c, 1);
    go(wg_worker, (void *)i);
  }
  for (int i = 0; i < NWG / 2; i++)
    lsend(c, 1);
  for (int i = 0; i < NWG; i++)
    x += data[i];
}
static weft_chan *pc;
static void blocked_sender(void *a) {
  (void)a;
  int *i = malloc(sizeof *i);
  *i = 42;
  weft_send(pc, &i); /* blocks: the buffer is full */
}
static void blocked_send_sync(void) { /* TestNoRaceBlockedSendSync */
  pc = weft_chan_make(sizeof(int *), 1);
  int *p = NULL;
  weft_send(pc, &p);
  go(blocked_sender, NULL);
  sleep_ms(10);
  weft_recv(pc, &p);
  weft_recv(pc, &p);
  if (*p != 42)
    abort();
  free(p);
}
static void blocked_select_send_sync(void) { /* ...SelectSendSync */
  pc = weft_chan_make(sizeof(int *), 1);
  weft_chan *never = mk(0);
  int *p = NULL, dummy;
  weft_send(pc, &p);
  go(blocked_sender, NULL);
  sleep_ms(10);
  weft_recv(pc, &p);
  weft_case cs[2] = {WEFT_RECV(pc, &p), WEFT_RECV(never, &dummy)};
  if (weft_select(cs, 2) != 0 || *p != 42)
    abort();
  free(p);
}
typedef struct rw_pair {
  weft_chan *wr, *rd;
  int loc;
} rw_pair;
static void reader(void *a) {
  rw_pair *p = a;
  int dummy;
  weft_case cs[1] = {WEFT_RECV(p->wr, &dummy)};
  if (weft_select_dl(cs, 1, 0) == 0)
    dummy = p->loc;
  weft_close(p->rd);
}
static void writer(void *a) {
  rw_pair *p = a;
  p->loc = 1;
  weft_close(p->wr);
}
static void close_happens_before_read(void) { /* TestNoRaceCloseHappens... */
  static rw_pair pairs[100]; /* one per round, as Go's closures capture */
  for (int i = 0; i < 100; i++) {
    rw_pair *p = &pairs[i];
    p->wr = weft_chan_make(0, 0);
    p->rd = weft_chan_make(0, 0);
    go(reader, p);
    go(writer, p);
    weft_recv(p->rd, NULL);
  }
}
static void x_recv(void *a) { (void)a; x += 1; weft_recv(c, NULL); }
static void y_recv(void *a) { (void)a; y += 1; weft_recv(c, NULL); }
static void elem_size0(void) { /* TestNoRaceElemetSize0 */
  c = weft_chan_make(0, 2);
  weft_send(c, NULL);
  weft_send(c, NULL);
  go(x_recv, NULL);
  go(y_recv, NULL);
  sleep_ms(10);
  weft_send(c, NULL);
  weft_send(c, NULL);
  x += 1;
  y += 1;
}

/* ---- select_test.go / chan_test.go select cases ------------------------- */

static void select_send_x(void *a) {
  (void)a;
  int one = 1;
  weft_case cs[2] = {WEFT_SEND(c1, &x), WEFT_SEND(c3, &one)};
  weft_select(cs, 2);
  lsend(done, 1);
}
static void select_read_write_async(void) { /* TestRaceSelectReadWriteAsync */
  done = mk(0);
  c1 = mk(10);
  c2 = mk(10);
  c3 = mk(0);
  lsend(c2, 1);
  go(select_send_x, NULL);
  int one = 1;
  weft_case cs[2] = {WEFT_RECV(c2, &x), WEFT_SEND(c3, &one)};
  weft_select(cs, 2);
  lrecv(done);
}
static void select_read_write_sync(void) { /* TestRaceSelectReadWriteSync */
  done = mk(0);
  c1 = mk(0);
  c2 = mk(0);
  c3 = mk(0);
  go(recv_c1, NULL);
  go(send_c2, NULL);
  go(select_send_x, NULL);
  int one = 1;
  weft_case cs[2] = {WEFT_RECV(c2, &x), WEFT_SEND(c3, &one)};
  weft_select(cs, 2);
  lrecv(done);
}
static void select_send_x_c2(void *a) {
  (void)a;
  int one = 1;
  weft_case cs[2] = {WEFT_SEND(c1, &x), WEFT_SEND(c2, &one)};
  weft_select(cs, 2);
  lsend(done, 1);
}
static void no_race_select_read_write(void) { /* TestNoRaceSelectReadWriteAsync */
  done = mk(0);
  c1 = mk(0);
  c2 = mk(0);
  go(select_send_x_c2, NULL);
  int one = 1;
  weft_case cs[2] = {WEFT_RECV(c1, &x), WEFT_SEND(c2, &one)};
  weft_select(cs, 2);
  lrecv(done);
}
static void select_lock(void) {
  int one = 1, dummy;
  weft_case cs[2] = {WEFT_SEND(c, &one), WEFT_RECV(aux, &dummy)};
  weft_select(cs, 2);
}
static void select_unlock(void) {
  int dummy, dummy2;
  weft_case cs[2] = {WEFT_RECV(c, &dummy), WEFT_RECV(aux, &dummy2)};
  weft_select(cs, 2);
}
static void select_mutex_user(void *a) {
  (void)a;
  select_lock();
  x = 42;
  select_unlock();
  lsend(done, 0);
}
static void select_mutex(void) { /* TestNoRaceSelectMutex */
  done = mk(0);
  c = mk(1);
  aux = mk(0);
  go(select_mutex_user, NULL);
  select_lock();
  x = 43;
  select_unlock();
  lrecv(done);
}

/* ---- mutex_test.go, rwmutex_test.go -------------------------------------- */

static weft_mutex mu = WEFT_MUTEX_INIT, mu2 = WEFT_MUTEX_INIT;
static void locked_set1(void *a) {
  (void)a;
  weft_mutex_lock(&mu);
  x = 1;
  weft_mutex_unlock(&mu);
  lsend(c, 1);
}
static void locked_set2(void *a) {
  weft_mutex *m = a;
  weft_mutex_lock(m);
  x = 2;
  weft_mutex_unlock(m);
  lsend(c, 1);
}
static void mutex(void) { /* TestNoRaceMutex */
  c = mk(2);
  go(locked_set1, NULL);
  go(locked_set2, &mu);
  lrecv(c);
  lrecv(c);
}
static void set_then_lock(void *a) {
  x = (int)(intptr_t)a; /* before the lock: unordered */
  weft_mutex_lock(&mu);
  weft_mutex_unlock(&mu);
  lsend(c, 1);
}
static void race_mutex(void) { /* TestRaceMutex */
  c = mk(2);
  go(set_then_lock, (void *)1);
  go(set_then_lock, (void *)2);
  lrecv(c);
  lrecv(c);
}
static void race_mutex2(void) { /* TestRaceMutex2: different mutexes */
  c = mk(2);
  go(locked_set1, NULL);
  go(locked_set2, &mu2);
  lrecv(c);
  lrecv(c);
}
static void unlock_for_other(void *a) {
  (void)a;
  x = 1;
  weft_mutex_unlock(&mu);
  lsend(c, 1);
}
static void mutex_semaphore(void) { /* TestNoRaceMutexSemaphore */
  c = mk(2);
  weft_mutex_lock(&mu);
  go(unlock_for_other, NULL);
  go(locked_set2, &mu);
  lrecv(c);
  lrecv(c);
}
static void trylock_user(void *a) {
  (void)a;
  while (!weft_mutex_trylock(&mu))
    weft_yield();
  x = 1;
  weft_mutex_unlock(&mu);
  lsend(c, 1);
}
static void mutex_trylock(void) { /* weft: trylock success acquires */
  c = mk(2);
  go(trylock_user, NULL);
  go(trylock_user, NULL);
  lrecv(c);
  lrecv(c);
}
static weft_rwmutex rw = WEFT_RWMUTEX_INIT;
static void rw_writer(void *a) {
  (void)a;
  weft_rwmutex_lock(&rw);
  x = 1;
  weft_rwmutex_unlock(&rw);
  lsend(c, 1);
}
static void rw_reader_reads(void *a) {
  (void)a;
  weft_rwmutex_rlock(&rw);
  y = x;
  weft_rwmutex_runlock(&rw);
  lsend(c, 1);
}
static void rwmutex(void) { /* TestNoRaceRWMutex */
  c = mk(2);
  go(rw_writer, NULL);
  go(rw_reader_reads, NULL);
  lrecv(c);
  lrecv(c);
}
static void rw_reader_writes(void *a) {
  weft_rwmutex_rlock(&rw);
  x = (int)(intptr_t)a; /* a write under a read lock */
  weft_rwmutex_runlock(&rw);
  lsend(c, 1);
}
static void rwmutex_multiple_readers(void) { /* TestRaceRWMutexMultiple... */
  c = mk(2);
  go(rw_reader_writes, (void *)1);
  go(rw_reader_writes, (void *)2);
  lrecv(c);
  lrecv(c);
}
static void rw_mutex_mixed(void *a) {
  (void)a;
  weft_mutex_lock(&mu);
  x = 1;
  weft_mutex_unlock(&mu);
  lsend(c, 1);
}
static void mutex_rwmutex(void) { /* TestRaceMutexRWMutex */
  c = mk(2);
  go(rw_mutex_mixed, NULL);
  go(rw_writer, NULL);
  lrecv(c);
  lrecv(c);
}
static void rw_reader_then_writer(void *a) {
  (void)a;
  weft_rwmutex_rlock(&rw);
  y = x;
  weft_rwmutex_runlock(&rw);
  lsend(c, 1);
}
static void rwmutex_runlock_lock(void) { /* RUnlock -> Lock */
  c = mk(2);
  go(rw_reader_then_writer, NULL);
  lrecv(c);
  weft_rwmutex_lock(&rw);
  x = 2;
  weft_rwmutex_unlock(&rw);
}

/* ---- waitgroup_test.go -------------------------------------------------- */

static weft_waitgroup wg = WEFT_WAITGROUP_INIT;
static void wg_set(void *a) {
  x = (int)(intptr_t)a;
  weft_wg_done(&wg);
}
static void waitgroup(void) { /* TestNoRaceWaitGroup2 */
  weft_wg_add(&wg, 1);
  go(wg_set, (void *)1);
  weft_wg_wait(&wg);
  x = 2;
}
static void race_waitgroup(void) { /* TestRaceWaitGroup: two setters */
  for (intptr_t i = 0; i < 2; i++) {
    weft_wg_add(&wg, 1);
    go(wg_set, (void *)i);
  }
  weft_wg_wait(&wg);
}
static void wg_as_mutex_user(void *a) {
  weft_wg_wait(&wg);
  /* The other must pass its Wait before this Add, or its Wait sees this
   * Add(-1), an edge that hides the race: 20 ms was outlasted by a late
   * start on a loaded machine (once, in a full scripts/check.sh run). */
  sleep_ms(100);
  weft_wg_add(&wg, 1);
  x = (int)(intptr_t)a;
  weft_wg_add(&wg, -1);
  lsend(c, 1);
}
static void race_waitgroup_as_mutex(void) { /* TestRaceWaitGroupAsMutex */
  c = mk(2);
  go(wg_as_mutex_user, (void *)1);
  go(wg_as_mutex_user, (void *)2);
  lrecv(c);
  lrecv(c);
}
int seen[2];
static void wg_wait_then_read(void *a) {
  weft_wg_wait(&wg);
  seen[(intptr_t)a] = x;
  lsend(c, 1);
}
static void waitgroup_multiple_wait(void) { /* ...MultipleWait */
  c = mk(2);
  weft_wg_add(&wg, 1);
  go(wg_wait_then_read, (void *)0);
  go(wg_wait_then_read, (void *)1);
  x = 1;
  weft_wg_done(&wg);
  lrecv(c);
  lrecv(c);
}
static void wg_chain(void *a) {
  (void)a;
  x = 1;
  weft_wg_done(&wg);
}
static void waitgroup_reuse(void) { /* TestNoRaceWaitGroupReuse */
  for (int i = 0; i < 3; i++) {
    weft_wg_add(&wg, 1);
    go(wg_chain, NULL);
    weft_wg_wait(&wg);
    x = 2;
  }
}

/* ---- sync_test.go: Cond; weft's Once, sema, context, timers ------------- */

static weft_cond cond = WEFT_COND_INIT;
static int ready;
static void cond_signaller(void *a) {
  (void)a;
  x = 1;
  weft_mutex_lock(&mu);
  ready = 1;
  weft_cond_signal(&cond);
  weft_mutex_unlock(&mu);
}
static void cond_(void) { /* TestNoRaceCond */
  go(cond_signaller, NULL);
  weft_mutex_lock(&mu);
  while (!ready)
    weft_cond_wait(&cond, &mu);
  weft_mutex_unlock(&mu);
  x = 2;
}
static void cond_racer(void *a) {
  (void)a;
  x = 1; /* after the signal: the waiter's write is not ordered with it */
  lsend(c, 1);
}
static void cond_signal_then_race(void *a) {
  (void)a;
  weft_mutex_lock(&mu);
  ready = 1;
  weft_cond_signal(&cond);
  weft_mutex_unlock(&mu);
  cond_racer(NULL);
}
static void race_cond(void) { /* TestRaceCond */
  c = mk(1);
  go(cond_signal_then_race, NULL);
  weft_mutex_lock(&mu);
  while (!ready)
    weft_cond_wait(&cond, &mu);
  weft_mutex_unlock(&mu);
  x = 2;
  lrecv(c);
}
static void child_reads(void *a) {
  (void)a;
  y = x; /* the parent's write happened before weft_go */
  lsend(c, 1);
}
static void go_start(void) { /* goroutine start */
  c = mk(1);
  x = 1;
  go(child_reads, NULL);
  lrecv(c);
}
static void child_writes(void *a) {
  (void)a;
  x = 2;
  lsend(c, 1);
}
static void race_go_start(void) { /* the parent writes after weft_go */
  c = mk(1);
  go(child_writes, NULL);
  x = 1;
  lrecv(c);
}
static weft_once once = WEFT_ONCE_INIT;
static void init_x(void *a) { (void)a; x = 42; }
static void once_user(void *a) {
  weft_once_do(&once, init_x, NULL);
  seen[(intptr_t)a] = x; /* fn happened before every once_do's return */
  lsend(c, 1);
}
static void once_(void) {
  c = mk(2);
  go(once_user, (void *)0);
  go(once_user, (void *)1);
  lrecv(c);
  lrecv(c);
}
static weft_sema sema = WEFT_SEMA_INIT(0);
static void sema_poster(void *a) {
  (void)a;
  x = 1;
  weft_sema_release(&sema);
}
static void sema_(void) { /* release -> acquire */
  go(sema_poster, NULL);
  weft_sema_acquire(&sema);
  x = 2;
}
static weft_ctx *ctx;
static void ctx_canceller(void *a) {
  (void)a;
  x = 1;
  weft_ctx_cancel(ctx);
}
static void context_cancel(void) { /* cancel -> Done, Err */
  ctx = weft_ctx_with_cancel(weft_ctx_background());
  go(ctx_canceller, NULL);
  weft_recv(weft_ctx_done(ctx), NULL);
  x = 2;
  if (weft_ctx_err(ctx) == 0)
    abort();
  weft_ctx_unref(ctx);
}
/* The timer and AfterFunc cases start their reader before the write, and
 * tell it what to wait on through a relaxed atomic, which orders nothing
 * for TSan: the edge under test is then the only one from x = 1 to the
 * read. */
static _Atomic(void *) relaxed_ptr;
static void publish(void *ptr) {
  atomic_store_explicit(&relaxed_ptr, ptr, memory_order_relaxed);
}
static void *await_published(void) {
  void *ptr;
  while ((ptr = atomic_load_explicit(&relaxed_ptr, memory_order_relaxed)) ==
         NULL)
    weft_yield();
  return ptr;
}
static void timer_reader(void *a) {
  (void)a;
  int64_t when;
  weft_recv(await_published(), &when);
  y = x; /* the timer's start happened before its fire */
  lsend(c, 1);
}
static void timer_after(void) { /* weft_after's start -> fire -> receive */
  c = mk(1);
  go(timer_reader, NULL);
  x = 1;
  weft_chan *t = weft_after(WEFT_MS);
  publish(t);
  lrecv(c);
  weft_chan_unref(t);
}
static void timer_reset(void) { /* weft_timer_reset -> fire -> receive */
  c = mk(1);
  weft_timer *t = weft_timer_new(3600 * WEFT_SEC);
  go(timer_reader, NULL);
  x = 1;
  weft_timer_reset(t, WEFT_MS);
  publish(weft_timer_chan(t));
  lrecv(c);
  weft_timer_free(t);
}
static void after_fn(void *a) {
  (void)a;
  y = x; /* weft_ctx_after_func happened before */
  lsend(c, 1);
}
static void af_canceller(void *a) {
  (void)a;
  weft_ctx_cancel(await_published()); /* starts after_fn */
}
static void context_after_func(void) { /* registration -> fn */
  c = mk(1);
  ctx = weft_ctx_with_cancel(weft_ctx_background());
  go(af_canceller, NULL); /* so that this goroutine does not start fn */
  x = 1;
  weft_ctx_afterfunc *af = weft_ctx_after_func(ctx, after_fn, NULL);
  publish(ctx);
  lrecv(c);
  weft_ctx_after_func_stop(af);
  weft_ctx_unref(ctx);
}
/* errno's address, looked up anew at every call: the compiler may keep
 * __errno_location()'s result (a const function) across weft_yield, and
 * the goroutine may come back on another thread (README: "Goroutines
 * migrate between threads"). The asm keeps clang from treating this
 * function as const in turn. */
static __attribute__((noinline)) int *errno_here(void) {
  int *p = &errno;
  __asm__ volatile("" : "+r"(p));
  return p;
}
static void errno_user(void *a) {
  for (int i = 0; i < 100; i++) {
    *errno_here() = (int)(intptr_t)a;
    weft_yield();
    if (*errno_here() != (int)(intptr_t)a)
      abort(); /* weft keeps errno per goroutine */
  }
  lsend(c, 1);
}
static void errno_per_goroutine(void) { /* one thread's errno, in turns */
  c = mk(2);
  go(errno_user, (void *)1);
  go(errno_user, (void *)2);
  lrecv(c);
  lrecv(c);
}

/* ---- the table ----------------------------------------------------------- */

typedef struct litmus {
  const char *name;
  void (*fn)(void);
  int race;
} litmus;

#define CASE(fn, race) {#fn, fn, race}
#define THREAD(fn) {#fn "_thread", fn, 0}
static const litmus cases[] = {
    CASE(chan_sync, 0),
    CASE(chan_sync_rev, 0),
    CASE(chan_async, 0),
    CASE(chan_async_rev, 1),
    CASE(chan_async_close_recv, 0),
    CASE(chan_async_close_range, 0),
    CASE(chan_sync_close_recv, 0),
    CASE(chan_sync_close_send, 1),
    CASE(chan_async_close_send, 1),
    CASE(chan_close_send, 0), /* Go: race (see above) */
    CASE(chan_read_write_async, 1),
    CASE(chan_read_write_sync, 1),
    CASE(no_race_chan_read_write_async, 0),
    CASE(chan_mutex, 0),
    CASE(chan_sem, 1),
    CASE(chan_waitgroup, 0),
    CASE(blocked_send_sync, 0),
    CASE(blocked_select_send_sync, 0),
    CASE(close_happens_before_read, 0),
    CASE(elem_size0, 0),
    CASE(select_read_write_async, 1),
    CASE(select_read_write_sync, 1),
    CASE(no_race_select_read_write, 0),
    CASE(select_mutex, 0),
    CASE(mutex, 0),
    CASE(race_mutex, 1),
    CASE(race_mutex2, 1),
    CASE(mutex_semaphore, 0),
    CASE(mutex_trylock, 0),
    CASE(rwmutex, 0),
    CASE(rwmutex_multiple_readers, 1),
    CASE(mutex_rwmutex, 1),
    CASE(rwmutex_runlock_lock, 0),
    CASE(waitgroup, 0),
    CASE(race_waitgroup, 1),
    CASE(race_waitgroup_as_mutex, 1),
    CASE(waitgroup_multiple_wait, 0),
    CASE(waitgroup_reuse, 0),
    CASE(cond_, 0),
    CASE(race_cond, 1),
    CASE(go_start, 0),
    CASE(race_go_start, 1),
    CASE(once_, 0),
    CASE(sema_, 0),
    CASE(context_cancel, 0),
    CASE(timer_after, 0),
    CASE(timer_reset, 0),
    CASE(context_after_func, 0),
    CASE(errno_per_goroutine, 0),
    /* The main thread parks as a plain thread (no fiber of its own). */
    THREAD(chan_sync),
    THREAD(chan_sync_rev),
    THREAD(chan_async),
    THREAD(chan_async_close_recv),
    THREAD(blocked_send_sync),
    THREAD(mutex_semaphore),
    THREAD(waitgroup),
    THREAD(select_mutex),
};
#define NCASES (sizeof cases / sizeof cases[0])

static weft_chan *body_done;
static void body(void *l) {
  ((const litmus *)l)->fn();
  lsend(body_done, 1);
}

int main(int argc, char **argv) {
  if (argc == 2 && strcmp(argv[1], "--list") == 0) {
    for (size_t i = 0; i < NCASES; i++)
      printf("%s %s\n", cases[i].name, cases[i].race ? "race" : "clean");
    return 0;
  }
  for (size_t i = 0; argc == 2 && i < NCASES; i++) {
    if (strcmp(argv[1], cases[i].name) != 0)
      continue;
    size_t n = strlen(cases[i].name);
    if (n > 7 && strcmp(cases[i].name + n - 7, "_thread") == 0) {
      cases[i].fn();
    } else {
      body_done = mk(0);
      go(body, (void *)&cases[i]);
      lrecv(body_done);
    }
    return 0;
  }
  fprintf(stderr, "usage: litmus --list | litmus NAME\n");
  return 2;
}
