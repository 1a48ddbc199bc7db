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
 * - Readiness is never lost between a call's EAGAIN and its park, however
 *   many callers wait in one direction: every event bumps seq[dir] and
 *   wakes every waiter there (each retries its call; the losers park
 *   again). A caller reads seq[dir] before its attempt and parks only if
 *   it is unchanged when it queues, under the lock; else an event came
 *   since, and it tries again. (A one-shot token would let one caller's
 *   take hide the event from another: Go has one reader per fd at a time,
 *   through its fdMutex, weft does not.)
 * - A closing pd takes no new calls (-EBADF); refs counts the calls inside
 *   it, and the last one out closes the fd, so the fd number is never
 *   reused under a running call (Go's fdMutex).
 * - Every field is guarded by lock (seq is also read without it, acquire,
 *   pairing with the events' release stores); lock order: a context's
 *   done channel, then the pd (WEFT__RANK_POLL), then the timer heaps.
 */
#ifndef WEFT_IO_PD_H
#define WEFT_IO_PD_H

#include <sys/types.h>

#include "chan/chan.h"

enum { PD_NEW, PD_POLLED, PD_FILE, PD_RECYCLING };
enum { PD_R, PD_W }; /* directions, index of seq, deadline, q */

typedef struct weft__pd {
  weft__spinlock lock;
  uint32_t gen;          /* see above */
  uint8_t state;         /* PD_* */
  bool closing;          /* weft_fd_close was called */
  bool socket;           /* POLLED and a socket: writes use send's
                            MSG_NOSIGNAL */
  _Atomic uint32_t seq[2]; /* events so far, by direction */
  int32_t refs;          /* calls inside */
  int64_t deadline[2];   /* weft_fd_set_deadline's */
  weft__waitq q[2];      /* waiting parties, case waiters */
  weft__waiter *closer;  /* a weft_fd_close waiting for the last call */
} weft__pd;

#define WEFT__PD_MAX_FD (1 << 20)

/* errno as it is on the calling thread now. io/ reads errno only so: in a
 * function that may have parked (or inlined into one), glibc's const
 * __errno_location may still give the old thread's (HACKING.md, "errno
 * and thread-locals"); weft_errno_location is opaque to the compiler. */
static inline int weft__errno(void) { return *weft_errno_location(); }

/* A system call's result, or the negative errno of its failure. */
static inline ssize_t weft__io_rc(ssize_t r) {
  return r < 0 ? -weft__errno() : r;
}

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
/* The count of events in direction dir, read before an attempt. */
static inline uint32_t weft__pd_seq(weft__pd *pd, int dir) {
  return weft__load_acquire(&pd->seq[dir]); /* pairs with deliver_one */
}

/* Claims every waiter of the directions in mask (1 << PD_R, 1 << PD_W)
 * into *woken (linked by next), to wake with weft__wake_claimed_list once the
 * lock is dropped; lock held. */
WEFT_INTERNAL void weft__pd_claim_all(weft__pd *pd, unsigned mask,
                                      weft__waiter **woken);

#endif
