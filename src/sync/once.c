/* once.c -- sync.Once: done is read with acquire on the fast path and set
 * with release after fn returns, under m, so every caller returns after fn
 * has finished and sees what it wrote. */
#include "sched/runtime.h"

typedef struct once_impl {
  _Atomic uint32_t done;
  weft_mutex m;
} once_impl;

_Static_assert(sizeof(once_impl) <= sizeof(weft_once), "weft_once too small");
_Static_assert(_Alignof(once_impl) <= _Alignof(weft_once),
               "weft_once under-aligned");

void weft_once_do(weft_once *op, void (*fn)(void *), void *arg) {
  once_impl *o = (once_impl *)op;
  weft__sched_point(); /* the slow path's other points are the mutex's */
  if (weft__load_acquire(&o->done)) { /* pairs with the release below */
    weft__race_acquire(o); /* fn happened before */
    return;
  }
  weft_mutex_lock(&o->m);
  if (!weft__load_relaxed(&o->done)) {
    fn(arg);
    weft__race_release(o);
    weft__store_release(&o->done, 1);
  }
  weft_mutex_unlock(&o->m);
}
