/* threadwait.c -- the list of plain threads blocked in weft (threadwait.h).
 * One spinlock guards the list, at rank threadwait (base/spinlock.h): taken
 * while a channel or other object lock may be held, and the dump takes no
 * other lock under it. */
#include <pthread.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "debug/threadwait.h"
#include "debug/traceback.h"

static weft__spinlock lock;
static weft__thread_wait *head; /* lock */
static size_t count;            /* lock */

/* The calling thread's id and stack bounds, found on its first wait. */
static __thread pid_t my_tid;
static __thread uintptr_t my_lo, my_hi;

static void find_self(void) {
  my_tid = (pid_t)syscall(SYS_gettid);
  pthread_attr_t attr;
  if (pthread_getattr_np(pthread_self(), &attr) == 0) {
    void *lo;
    size_t size;
    if (pthread_attr_getstack(&attr, &lo, &size) == 0) {
      my_lo = (uintptr_t)lo;
      my_hi = (uintptr_t)lo + size;
    }
    pthread_attr_destroy(&attr);
  }
}

void weft__thread_wait_enter(weft__thread_wait *tw, const char *reason,
                             uintptr_t fp) {
  if (my_tid == 0)
    find_self();
  tw->reason = reason;
  tw->since = weft_now();
  tw->tid = my_tid;
  tw->fp = fp;
  tw->lo = my_lo;
  tw->hi = my_hi; /* 0 when unknown: the walk then shows nothing */
  tw->prev = NULL;
  weft__spin_lock_ranked(&lock, WEFT__RANK_THREADWAIT);
  tw->next = head;
  if (head)
    head->prev = tw;
  head = tw;
  count++;
  weft__spin_unlock_ranked(&lock, WEFT__RANK_THREADWAIT);
}

void weft__thread_wait_leave(weft__thread_wait *tw) {
  weft__spin_lock_ranked(&lock, WEFT__RANK_THREADWAIT);
  if (tw->prev)
    tw->prev->next = tw->next;
  else
    head = tw->next;
  if (tw->next)
    tw->next->prev = tw->prev;
  count--;
  weft__spin_unlock_ranked(&lock, WEFT__RANK_THREADWAIT);
}

size_t weft__thread_wait_collect(weft__thread_snap **out) {
  *out = NULL;
  /* Allocate outside the lock (malloc may block); retry if it grew. */
  for (;;) {
    weft__spin_lock_ranked(&lock, WEFT__RANK_THREADWAIT);
    size_t n = count;
    weft__spin_unlock_ranked(&lock, WEFT__RANK_THREADWAIT);
    if (n == 0)
      return 0;
    weft__thread_snap *v = weft__rt_malloc(n * sizeof *v);
    if (v == NULL)
      return 0;
    weft__spin_lock_ranked(&lock, WEFT__RANK_THREADWAIT);
    if (count > n) {
      weft__spin_unlock_ranked(&lock, WEFT__RANK_THREADWAIT);
      weft__rt_free(v);
      continue;
    }
    size_t i = 0;
    /* Walked under the lock: the thread cannot leave, so its frames stay. */
    for (weft__thread_wait *t = head; t; t = t->next, i++) {
      v[i].tid = t->tid;
      v[i].reason = t->reason;
      v[i].since = t->since;
      v[i].npcs = weft__traceback_bounded(t->fp, t->lo, t->hi, v[i].pcs,
                                          (int)(sizeof v[i].pcs /
                                                sizeof v[i].pcs[0]));
    }
    weft__spin_unlock_ranked(&lock, WEFT__RANK_THREADWAIT);
    *out = v;
    return i;
  }
}
