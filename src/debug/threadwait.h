/* threadwait.h -- plain threads blocked in weft, for the goroutine dump.
 *
 * Go's dump shows main as goroutine 1; in weft, main is a plain thread. So
 * that a deadlock report or a dump also shows where each plain thread
 * waits, a thread that blocks in weft__wait registers a record on its own
 * stack: its wait reason, the time, and the frame pointer of the wait,
 * from which the dump walks its stack while it stays blocked.
 *
 * The list and every record on it are guarded by the list's spinlock. A
 * thread leaves the list (under the lock) before its record goes out of
 * scope, so the dump, which walks stacks under the lock, never reads a
 * record or a stack frame that is gone. Stack walks stay inside the
 * thread's stack bounds, found once per thread.
 */
#ifndef WEFT_THREADWAIT_H
#define WEFT_THREADWAIT_H

#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "base/internal.h"

/* The records (weft__thread_wait) and the calls that list them are hooks
 * of the wait path: base/hooks.h. */

/* What the dump shows of one listed thread. */
typedef struct weft__thread_snap {
  pid_t tid;
  const char *reason;
  int64_t since;
  int npcs;
  uintptr_t pcs[32]; /* return addresses, innermost first */
} weft__thread_snap;

/* Copies every listed thread, its stack walked, into a malloc'd array
 * (*out; the caller frees it). Returns how many; 0 with *out NULL when
 * there are none or memory ran out. */
WEFT_INTERNAL size_t weft__thread_wait_collect(weft__thread_snap **out);

#endif
