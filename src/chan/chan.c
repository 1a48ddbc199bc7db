/* chan.c -- channels, after Go's runtime/chan.go.
 *
 * Invariants (c->lock held)
 * - At least one of recvq and sendq is empty, except for waiters that
 *   belong to a select that has already fired (they get dropped when met).
 * - A buffered channel with waiting senders is full; with waiting
 *   receivers it is empty. An unbuffered channel uses no buffer at all: a
 *   value goes straight from the sender's memory to the receiver's.
 * - Once closed, never reopened; recvq is then empty, and so is sendq.
 *
 * A blocked party is a weft__waiter on its own stack (wait/waiter.h): the
 * partner claims it under c->lock, copies the value directly between the
 * two parties' memory, unlocks, then wakes it. The woken goroutine goes to
 * the waker's runnext, so a handoff wakes no thread. After its unlock, a
 * waker touches only the claimed waiter, never c: the woken party may drop
 * its last reference and free c at once.
 *
 * Race builds (debug/race.c): each completed operation gives TSan Go's edges
 * (race_handoff, weft__race_notify on the slot, &closed for close), and
 * values are copied unseen by TSan.
 *
 * The first invariant is asserted (debug builds) where an operation finds
 * it must block: its claim has just dropped every unclaimable waiter of
 * the other queue, so that queue is empty then.
 *
 * Memory ordering: c->lock orders everything. qcount is an atomic so that
 * weft_chan_len may read it without the lock; closed is read only under
 * the lock today (there is no lock-free fast path).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "chan/chan.h"

#define MAX_ELEM ((size_t)1 << 16) /* Go's limit on element size */

weft_chan *weft_chan_make(size_t elem_size, size_t cap) {
  if (elem_size > MAX_ELEM)
    return NULL;
  if (elem_size && cap > (SIZE_MAX - sizeof(weft_chan)) / elem_size)
    return NULL;
  weft_chan *c = weft__rt_malloc(sizeof *c + cap * elem_size);
  if (c == NULL)
    return NULL;
  weft__rt_memset0(c, sizeof *c);
  atomic_init(&c->refs, 1);
#ifdef WEFT_DEBUG_CHECKS
  atomic_init(&c->magic, WEFT__CHAN_LIVE);
#endif
  c->cap = cap;
  c->elem_size = elem_size;
  return c;
}

#ifdef WEFT_DEBUG_CHECKS
/* The last QUARANTINE dead channels stay allocated (and marked dead) so
 * that a late use is reported instead of reading freed memory. */
#define QUARANTINE 256
static weft__spinlock quarantine_lock;
static weft_chan *quarantine[QUARANTINE]; /* quarantine_lock */
static size_t quarantine_next;            /* quarantine_lock */

static void chan_free(weft_chan *c) {
  weft__store_relaxed(&c->magic, WEFT__CHAN_DEAD);
  weft__spin_lock(&quarantine_lock);
  weft_chan *old = quarantine[quarantine_next];
  quarantine[quarantine_next] = c;
  quarantine_next = (quarantine_next + 1) % QUARANTINE;
  weft__spin_unlock(&quarantine_lock);
  weft__rt_free(old);
}

void weft__chan_check_slow(weft_chan *c, const char *call) {
  weft__fatal("channel %p used after its last weft_chan_unref in %s "
              "(goroutine %llu)",
              (void *)c, call, (unsigned long long)weft_goid());
}
#else
static void chan_free(weft_chan *c) { weft__rt_free(c); }
#endif

weft_chan *weft_chan_ref(weft_chan *c) {
  weft__chan_check(c, "weft_chan_ref");
  if (c)
    weft__add_relaxed(&c->refs, 1); /* the caller already holds a ref */
  return c;
}

void weft_chan_unref(weft_chan *c) {
  if (c == NULL)
    return;
  weft__chan_check(c, "weft_chan_unref");
  /* acq_rel: every use before another holder's unref happens before the
   * free. */
  int32_t old = weft__add_acqrel(&c->refs, -1);
  if (old == 1)
    chan_free(c);
  else if (old <= 0)
    weft__fatal("channel %p has no references left in weft_chan_unref "
                "(goroutine %llu)",
                (void *)c, (unsigned long long)weft_goid());
}

size_t weft_chan_len(weft_chan *c) {
  weft__chan_check(c, "weft_chan_len");
  return c ? weft__load_relaxed(&c->qcount) : 0;
}

size_t weft_chan_cap(weft_chan *c) {
  weft__chan_check(c, "weft_chan_cap");
  return c ? c->cap : 0;
}

static unsigned char *slot(weft_chan *c, size_t i) {
  return c->buf + i * c->elem_size;
}

/* Unseen by TSan in race builds: each party reports its own side. */
static void copy(void *dst, const void *src, size_t n) {
  if (n && dst && src)
    weft__rt_memcpy(dst, src, n);
}

static void zero(void *dst, size_t n) {
  if (n && dst)
    weft__rt_memset0(dst, n);
}

/* The race detector's address for buffer slot i (debug/race.c): the slot, or
 * one address in the header when there is no buffer memory. */
static void *race_slot(weft_chan *c, size_t i) {
  return c->cap && c->elem_size ? (void *)slot(c, i) : (void *)&c->recvq;
}

/* Go's race edges for a value handed straight to a parked partner w:
 * racesync when unbuffered; otherwise the value pretends to pass through
 * the buffer (fill: the buffer was empty, so both indices advance). */
static void race_handoff(weft_chan *c, weft__waiter *w, bool fill) {
  if (c->cap == 0) {
    weft__race_sync_with(w, race_slot(c, 0));
    return;
  }
  weft__race_notify(race_slot(c, c->recvx));
  weft__race_notify_for(w, race_slot(c, c->recvx));
  if (WEFT__RACE && fill) {
    if (++c->recvx == c->cap)
      c->recvx = 0;
    c->sendx = c->recvx;
  }
}

static void qcount_set(weft_chan *c, size_t n) {
  weft__store_relaxed(&c->qcount, n);
}

int weft__chan_try_send(weft_chan *c, const void *elem, int *rc,
                        weft__waiter **wake) {
  *wake = NULL;
  if (weft__load_relaxed(&c->closed)) {
    *rc = -EPIPE;
    return 1;
  }
  weft__waiter *r = weft__waitq_claim(&c->recvq);
  if (r) { /* a receiver waits: hand the value over directly */
    race_handoff(c, r, true);
    copy(r->elem, elem, c->elem_size);
    r->success = true;
    *wake = r;
    *rc = 0;
    return 1;
  }
  size_t n = weft__load_relaxed(&c->qcount);
  if (n < c->cap) {
    weft__race_notify(race_slot(c, c->sendx));
    copy(slot(c, c->sendx), elem, c->elem_size);
    if (++c->sendx == c->cap)
      c->sendx = 0;
    qcount_set(c, n + 1);
    *rc = 0;
    return 1;
  }
  /* Would block: the claim above dropped every receiver it could not
   * claim, so none is left, and a buffer would be full (see the header). */
  weft__assert(c->recvq.head == NULL && n == c->cap);
  return 0;
}

int weft__chan_try_recv(weft_chan *c, void *elem, int *rc,
                        weft__waiter **wake) {
  *wake = NULL;
  weft__waiter *s = weft__waitq_claim(&c->sendq);
  if (s) {
    race_handoff(c, s, false);
    if (c->cap == 0) { /* unbuffered: straight from the sender */
      copy(elem, s->elem, c->elem_size);
    } else { /* full buffer: take the head, the sender refills the tail */
      copy(elem, slot(c, c->recvx), c->elem_size);
      copy(slot(c, c->recvx), s->elem, c->elem_size);
      if (++c->recvx == c->cap)
        c->recvx = 0;
      c->sendx = c->recvx;
    }
    s->success = true;
    *wake = s;
    *rc = 1;
    return 1;
  }
  size_t n = weft__load_relaxed(&c->qcount);
  if (n > 0) {
    weft__race_notify(race_slot(c, c->recvx));
    copy(elem, slot(c, c->recvx), c->elem_size);
    zero(slot(c, c->recvx), c->elem_size);
    if (++c->recvx == c->cap)
      c->recvx = 0;
    qcount_set(c, n - 1);
    *rc = 1;
    return 1;
  }
  if (weft__load_relaxed(&c->closed)) {
    weft__race_acquire(&c->closed); /* the close happened before */
    zero(elem, c->elem_size);
    *rc = 0;
    return 1;
  }
  weft__assert(c->sendq.head == NULL && n == 0);
  return 0;
}

/* Parks on q (c locked); returns the waiter's state, c unlocked. */
static uint32_t park_on(weft_chan *c, weft__waitq *q, weft__waiter *w,
                        void *elem, int64_t deadline, const char *reason) {
  weft__waiter_init(w);
  w->elem = elem;
  weft__race_park(w);
  uint32_t st =
      weft__wait_queued(q, w, false, &c->lock, deadline, reason, NULL);
  if (st == WEFT__TIMEDOUT)
    return st;
  weft__race_unpark(w);
  if (!w->success && q == &c->recvq)
    weft__race_acquire(&c->closed); /* woken by close */
  return st;
}

/* After a try_* that finished: drop c's lock, then wake the partner. */
static int unlock_and_wake(weft_chan *c, weft__waiter *wake, int rc) {
  weft__spin_unlock(&c->lock);
  if (wake)
    weft__wake_claimed(wake);
  return rc;
}

/* Locks c and tries the operation: true with *rc set and c unlocked (and
 * the partner woken) if it completed, false with c still locked. */
static inline __attribute__((always_inline)) bool
try_locked(weft_chan *c, void *elem, bool send, int *rc) {
  weft__waiter *wake;
  weft__spin_lock(&c->lock);
  if (send ? weft__chan_try_send(c, elem, rc, &wake)
           : weft__chan_try_recv(c, elem, rc, &wake)) {
    unlock_and_wake(c, wake, *rc);
    return true;
  }
  return false;
}

/* One send or receive: try, else give up at a past deadline, else park.
 * Inlined into its two callers, each specialized by its constant send (gcc
 * stops doing so by itself once the callers have synchronization points). */
static inline __attribute__((always_inline)) int
chan_do(weft_chan *c, void *elem, int64_t deadline, bool send) {
  if (c == NULL)
    return weft__block_until(deadline, send ? "chan send (nil chan)"
                                            : "chan receive (nil chan)");
  int rc;
  if (try_locked(c, elem, send, &rc))
    return rc;
  if (weft__past(deadline)) {
    weft__spin_unlock(&c->lock);
    return -ETIMEDOUT;
  }
  weft__ensure_started();
  weft__waiter w;
  if (park_on(c, send ? &c->sendq : &c->recvq, &w, elem, deadline,
              send ? "chan send" : "chan receive") == WEFT__TIMEDOUT)
    return -ETIMEDOUT;
  /* A receive woken by close got a zeroed *elem from close itself. */
  return weft__chan_waited_rc(&w, send);
}

/* The race detector sees the sender read its value and the receiver write
 * its own. (Go also makes send and close a race on the channel itself;
 * weft does not, since a send on a closed channel is its -EPIPE, not a
 * panic.) */
static inline __attribute__((always_inline)) int
chan_op(weft_chan *c, void *elem, int64_t deadline, bool send) {
  weft__chan_check(c, send ? "weft_send" : "weft_recv");
  if (c && send)
    weft__race_read(elem, c->elem_size);
  int rc = chan_do(c, elem, deadline, send);
  if (c && !send && rc >= 0)
    weft__race_write(elem, c->elem_size);
  return rc;
}

/* chan_op with a past deadline, apart so that chan_op stays inlined into
 * the two public calls alone. */
int weft__chan_poll(weft_chan *c, void *elem, bool send) {
  if (c == NULL)
    return -ETIMEDOUT;
  int rc;
  if (try_locked(c, elem, send, &rc))
    return rc;
  weft__spin_unlock(&c->lock);
  return -ETIMEDOUT;
}

int weft_send_dl(weft_chan *c, const void *elem, int64_t deadline) {
  if (c && elem == NULL && c->elem_size != 0)
    return -EINVAL; /* no value to send: not zeros in its place */
  weft__sched_point();
  int rc = chan_op(c, (void *)elem, deadline, true);
  weft__sched_point();
  return rc;
}

int weft_recv_dl(weft_chan *c, void *elem, int64_t deadline) {
  weft__sched_point();
  int rc = chan_op(c, elem, deadline, false);
  weft__sched_point();
  return rc;
}

int weft_send(weft_chan *c, const void *elem) {
  return weft_send_dl(c, elem, WEFT_FOREVER);
}

int weft_recv(weft_chan *c, void *elem) {
  return weft_recv_dl(c, elem, WEFT_FOREVER);
}

int weft_close(weft_chan *c) {
  weft__chan_check(c, "weft_close");
  weft__sched_point();
  int rc = weft__chan_close(c);
  weft__sched_point();
  return rc;
}

int weft__chan_close(weft_chan *c) {
  if (c == NULL)
    return -EINVAL;
  weft__spin_lock(&c->lock);
  if (weft__load_relaxed(&c->closed)) /* Go panics: a program error */
    weft__fatal("close of closed channel in weft_close (goroutine %llu)",
                (unsigned long long)weft_goid());
  weft__race_release(&c->closed); /* acquired by receives that see it */
  weft__store_relaxed(&c->closed, 1); /* under c->lock, as every read */
  /* Claim everyone under the lock, wake them after it. */
  weft__waiter *woken = NULL;
  weft__waitq *queues[2] = {&c->recvq, &c->sendq};
  for (int i = 0; i < 2; i++) {
    weft__waiter *w;
    while ((w = weft__waitq_claim(queues[i])) != NULL) {
      if (i == 0)
        zero(w->elem, c->elem_size);
      w->success = false;
      w->next = woken; /* reuse the link: w is off every queue now */
      woken = w;
    }
  }
  weft__spin_unlock(&c->lock);
  weft__wake_claimed_list(woken);
  return 0;
}
