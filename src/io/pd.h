/* pd.h -- poll descriptors: what weft knows of each fd (Go's pollDesc and
 * fdMutex, in one record; io/netpoll.c and io/fd.c).
 *
 * Invariants
 * - One pd per fd number, found by number in a table that only grows
 *   (netpoll.c), so a lookup never races a free. Its gen counts the fds
 *   that number has named: epoll carries (fd, gen) with each event, and an
 *   event for an older gen is dropped, so a reused number never wakes the
 *   wrong waiter.
 * - state NEW: unknown to epoll. POLLED: registered once, edge-triggered,
 *   for both directions, and O_NONBLOCK. FILE: epoll refused it (a regular
 *   file): calls block in the kernel inside the syscall handoff. RECYCLING:
 *   weft_fd_close is closing the fd; callers wait for it to end.
 * - Readiness is never lost between a call's EAGAIN and its park: an event
 *   that finds no waiter leaves a token (ready[dir]), and a caller takes
 *   the token under the lock before it queues. An event with waiters wakes
 *   all of them (every one retries its call; the losers park again).
 * - A closing pd takes no new calls (-EBADF); refs counts the calls inside
 *   it, and the last one out closes the fd, so the fd number is never
 *   reused under a running call (Go's fdMutex).
 * - Every field is guarded by lock; lock order: a context's
 *   done channel, then the pd (WEFT__RANK_POLL), then the timer heaps.
 */
#ifndef WEFT_IO_PD_H
#define WEFT_IO_PD_H

#include "chan/chan.h"

enum { PD_NEW, PD_POLLED, PD_FILE, PD_RECYCLING };
enum { PD_R, PD_W }; /* directions, index of ready, deadline, q */

typedef struct weft__pd {
  weft__spinlock lock;
  uint32_t gen;          /* see above */
  uint8_t state;         /* PD_* */
  bool closing;          /* weft_fd_close was called */
  bool socket;           /* POLLED and a socket: writes use send's
                            MSG_NOSIGNAL */
  bool ready[2];         /* an event came with no waiter */
  int32_t refs;          /* calls inside */
  int64_t deadline[2];   /* weft_fd_set_deadline's */
  weft__waitq q[2];      /* waiting parties, case waiters */
  weft__waiter *closer;  /* a weft_fd_close waiting for the last call */
} weft__pd;

#define WEFT__PD_MAX_FD (1 << 20)

static inline void weft__pd_lock(weft__pd *pd) {
  weft__spin_lock_ranked(&pd->lock, WEFT__RANK_POLL);
}
static inline void weft__pd_unlock(weft__pd *pd) {
  weft__spin_unlock_ranked(&pd->lock, WEFT__RANK_POLL);
}

/* The pd of fd, made on first use; starts the poller and the runtime: 0,
 * or -EBADF (fd < 0 or >= WEFT__PD_MAX_FD), -ENOMEM, or the error that
 * made the poller fail. */
WEFT_INTERNAL int weft__pd_get(int fd, weft__pd **out);
/* The pd of fd if weft has seen it, else NULL. */
WEFT_INTERNAL weft__pd *weft__pd_find(int fd);
/* Registers fd with epoll (state NEW to POLLED, or FILE), the lock not
 * held: 0, or -EBADF. */
WEFT_INTERNAL int weft__pd_register(weft__pd *pd, int fd);
/* Takes fd out of epoll and starts a new gen; lock held. */
WEFT_INTERNAL void weft__pd_unregister(weft__pd *pd, int fd);
/* Claims every waiter of the directions in mask (1 << PD_R, 1 << PD_W)
 * into *woken (linked by next), to wake with weft__pd_wake_all once the
 * lock is dropped; lock held. */
WEFT_INTERNAL void weft__pd_claim_all(weft__pd *pd, unsigned mask,
                                      weft__waiter **woken);
/* Wakes them; returns how many. */
WEFT_INTERNAL int weft__pd_wake_all(weft__waiter *woken);

#endif
