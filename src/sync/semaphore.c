/* semaphore.c -- weft_sema, the public counting semaphore, on weft__sema. */
#include <stddef.h>

#include "wait/sema.h"

_Static_assert(sizeof(weft__sema) <= sizeof(weft_sema), "weft_sema too small");
_Static_assert(_Alignof(weft__sema) <= _Alignof(weft_sema),
               "weft_sema under-aligned");
_Static_assert(offsetof(weft__sema, count) == 0,
               "WEFT_SEMA_INIT sets the count as the first word");

int weft_sema_acquire_dl(weft_sema *s, int64_t deadline) {
  weft__sched_point();
  int rc = weft__sema_acquire((weft__sema *)s, 0, deadline, "semaphore");
  if (rc == 0)
    weft__race_acquire(s); /* release -> acquire */
  weft__sched_point();
  return rc;
}

int weft_sema_acquire(weft_sema *s) {
  return weft_sema_acquire_dl(s, WEFT_FOREVER);
}

int weft_sema_tryacquire(weft_sema *s) {
  weft__sched_point();
  int rc = weft__sema_try((weft__sema *)s) ? 1 : 0;
  if (rc)
    weft__race_acquire(s);
  weft__sched_point();
  return rc;
}

void weft_sema_release(weft_sema *s) {
  weft__sched_point();
  weft__race_release(s);
  weft__sema_release((weft__sema *)s, false);
  weft__sched_point();
}
