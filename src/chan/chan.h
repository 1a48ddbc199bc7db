/* chan.h -- channel internals shared by chan.c, select.c and time.c. */
#ifndef WEFT_CHAN_H
#define WEFT_CHAN_H

#include "wait/waiter.h"

struct weft_chan {
  weft__spinlock lock;   /* guards everything below but refs and magic */
#ifdef WEFT_DEBUG_CHECKS
  _Atomic uint32_t magic; /* WEFT__CHAN_LIVE until the last unref; relaxed:
                             a misuse check, not synchronization */
#endif
  _Atomic int32_t refs;  /* acq_rel RMW; the last unref frees */
  _Atomic uint32_t closed; /* 0 or 1; written and read under lock */
  _Atomic size_t qcount;   /* values in buf; written under lock, read
                              relaxed by weft_chan_len without it */
  size_t cap;              /* immutable */
  size_t elem_size;        /* immutable */
  size_t sendx, recvx;     /* ring indices into buf */
  weft__waitq recvq;       /* blocked receivers */
  weft__waitq sendq;       /* blocked senders */
  _Alignas(16) unsigned char buf[]; /* cap * elem_size bytes */
};

/* Debug builds (WEFT_DEBUG_CHECKS) catch a channel used after its last
 * unref: the last unref marks it dead and parks it in a quarantine instead
 * of freeing it at once, and every entry point checks the mark. */
#define WEFT__CHAN_LIVE 0x6368616eu /* "chan" */
#define WEFT__CHAN_DEAD 0x64656164u /* "dead" */
#ifdef WEFT_DEBUG_CHECKS
WEFT_INTERNAL void weft__chan_check_slow(weft_chan *c, const char *call);
static inline void weft__chan_check(weft_chan *c, const char *call) {
  if (c && weft__load_relaxed(&c->magic) != WEFT__CHAN_LIVE)
    weft__chan_check_slow(c, call);
}
#else
static inline void weft__chan_check(weft_chan *c, const char *call) {
  (void)c, (void)call;
}
#endif

/* One attempt of an operation, with c locked (and left locked). Returns 1
 * if it completed, 0 if it would block. On completion *wake is a claimed
 * partner to wake with weft__wake_claimed once every lock is dropped, or
 * NULL. They are the first pass of the plain operations and of select.
 * try_send: *rc gets 0, or -EPIPE on a closed channel.
 * try_recv: *rc gets 1 for a value, 0 for closed and drained. */
WEFT_INTERNAL int weft__chan_try_send(weft_chan *c, const void *elem, int *rc,
                                      weft__waiter **wake);
WEFT_INTERNAL int weft__chan_try_recv(weft_chan *c, void *elem, int *rc,
                                      weft__waiter **wake);
/* weft_send_dl/weft_recv_dl with deadline 0 (send picks which), and
 * weft_close, without their synchronization points (base/hooks.h): for
 * callers that hold a lock or run in a timer callback. */
WEFT_INTERNAL int weft__chan_poll(weft_chan *c, void *elem, bool send);
WEFT_INTERNAL int weft__chan_close(weft_chan *c);

/* The result of a finished blocked operation, from its waiter. */
static inline int weft__chan_waited_rc(const weft__waiter *w, bool send) {
  if (send)
    return w->success ? 0 : -EPIPE;
  return w->success ? 1 : 0;
}

#endif
