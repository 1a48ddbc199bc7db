/* rwmutex.c -- sync.RWMutex, a port of Go's src/sync/rwmutex.go.
 *
 * readers counts active readers; a writer subtracts MAX_READERS from it,
 * which makes it negative: arriving readers then queue on reader_sem, so a
 * waiting writer holds back new readers and cannot starve. The writer waits
 * on writer_sem for the readers that were already in (reader_wait); the
 * last of them wakes it. Unlock adds MAX_READERS back and releases every
 * reader that queued meanwhile. Writers exclude each other with w.
 * All counters are changed with acq_rel RMWs.
 */
#include "sched/runtime.h"
#include "wait/sema.h"

#define MAX_READERS (1 << 30)

typedef struct rwmutex_impl {
  weft_mutex w;
  weft__sema writer_sem;
  weft__sema reader_sem;
  _Atomic int32_t readers;
  _Atomic int32_t reader_wait;
} rwmutex_impl;

_Static_assert(sizeof(rwmutex_impl) <= sizeof(weft_rwmutex),
               "weft_rwmutex too small");
_Static_assert(_Alignof(rwmutex_impl) <= _Alignof(weft_rwmutex),
               "weft_rwmutex under-aligned");

static inline void rlock(rwmutex_impl *rw) {
  if (weft__add_acqrel(&rw->readers, 1) + 1 < 0) /* a writer is pending */
    weft__sema_acquire(&rw->reader_sem, WEFT__SEMA_LOCK, WEFT_FOREVER,
                       "sync.RWMutex.RLock");
  weft__race_acquire(&rw->reader_sem); /* Go's race edges, as rwmutex.go */
}

/* RLock between synchronization points (base/hooks.h), apart so that the
 * public fast path stays an atomic add and a tail call, without a frame. */
static WEFT_NOINLINE void rlock_det(rwmutex_impl *rw) {
  weft__det_point_slow();
  rlock(rw);
  weft__det_point_slow();
}

void weft_rwmutex_rlock(weft_rwmutex *p) {
  rwmutex_impl *rw = (rwmutex_impl *)p;
  if (weft__det_enabled()) {
    rlock_det(rw);
    return;
  }
  rlock(rw);
}

int weft_rwmutex_tryrlock(weft_rwmutex *p) {
  rwmutex_impl *rw = (rwmutex_impl *)p;
  weft__sched_point();
  int32_t c = weft__load_relaxed(&rw->readers);
  int rc = 0;
  while (c >= 0 && !rc)
    rc = weft__cas_acqrel(&rw->readers, &c, c + 1);
  if (rc)
    weft__race_acquire(&rw->reader_sem);
  weft__sched_point();
  return rc;
}

static inline void runlock(rwmutex_impl *rw) {
  weft__race_release(&rw->writer_sem); /* merges with the other readers */
  int32_t r = weft__add_acqrel(&rw->readers, -1) - 1;
  if (r >= 0)
    return;
  if (r + 1 == 0 || r + 1 == -MAX_READERS)
    weft__fatal("sync: RUnlock of unlocked RWMutex in weft_rwmutex_runlock "
                "(goroutine %llu)", (unsigned long long)weft_goid());
  /* A writer waits: the last reader that was in lets it go. */
  if (weft__add_acqrel(&rw->reader_wait, -1) - 1 == 0)
    weft__sema_release(&rw->writer_sem, false);
}

static WEFT_NOINLINE void runlock_det(rwmutex_impl *rw) { /* see rlock_det */
  weft__det_point_slow();
  runlock(rw);
  weft__det_point_slow();
}

void weft_rwmutex_runlock(weft_rwmutex *p) {
  rwmutex_impl *rw = (rwmutex_impl *)p;
  if (weft__det_enabled()) {
    runlock_det(rw);
    return;
  }
  runlock(rw);
}

void weft_rwmutex_lock(weft_rwmutex *p) {
  rwmutex_impl *rw = (rwmutex_impl *)p;
  weft_mutex_lock(&rw->w); /* its points are this call's */
  int32_t r = weft__add_acqrel(&rw->readers, -MAX_READERS);
  if (r != 0 && weft__add_acqrel(&rw->reader_wait, r) + r != 0)
    weft__sema_acquire(&rw->writer_sem, WEFT__SEMA_LOCK, WEFT_FOREVER,
                       "sync.RWMutex.Lock");
  weft__race_acquire(&rw->reader_sem);
  weft__race_acquire(&rw->writer_sem);
  weft__sched_point();
}

int weft_rwmutex_trylock(weft_rwmutex *p) {
  rwmutex_impl *rw = (rwmutex_impl *)p;
  if (!weft_mutex_trylock(&rw->w))
    return 0;
  int32_t zero = 0;
  if (!weft__cas_acqrel(&rw->readers, &zero, -MAX_READERS)) {
    weft_mutex_unlock(&rw->w);
    return 0;
  }
  weft__race_acquire(&rw->reader_sem);
  weft__race_acquire(&rw->writer_sem);
  return 1;
}

void weft_rwmutex_unlock(weft_rwmutex *p) {
  rwmutex_impl *rw = (rwmutex_impl *)p;
  weft__sched_point();
  weft__race_release(&rw->reader_sem);
  int32_t r = weft__add_acqrel(&rw->readers, MAX_READERS) + MAX_READERS;
  if (r >= MAX_READERS)
    weft__fatal("sync: Unlock of unlocked RWMutex in weft_rwmutex_unlock "
                "(goroutine %llu)", (unsigned long long)weft_goid());
  for (int32_t i = 0; i < r; i++) /* readers that queued behind us */
    weft__sema_release(&rw->reader_sem, false);
  weft_mutex_unlock(&rw->w);
}
