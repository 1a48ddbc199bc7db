/* fd.c -- waiting on an fd, its deadlines, and closing it through weft
 * (Go's netpollblock/netpollunblock, fd_mutex.go and pd.setDeadline; the
 * pd's invariants are in pd.h).
 *
 * A park queues one case waiter on the pd's queue for its direction and,
 * with a context, one on the context's done channel, both for one owner
 * record (as select does), with the earlier of the call's deadline and
 * the fd's. The pd's lock is taken under the channel's. Whoever wakes the
 * owner first wins: an event, weft_fd_close, a deadline change (each
 * under the pd's lock), or the context's cancel (under the channel's).
 * The woken party then takes its other case off its queue and works out
 * the result from the pd's state: a closed pd or a new gen is -EBADF, a
 * passed deadline -ETIMEDOUT; otherwise it tries the call again.
 *
 * S.io_waiters counts the parties in a park, so that the scheduler polls
 * while it is not zero and the deadlock check never counts them asleep.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <unistd.h>

#include "io/fd.h"
#include "sched/runq.h"

#define S weft__sched_g

/* ---- holds -------------------------------------------------------------- */

/* Locks pd once no close(2) of the number's previous fd is running: fd
 * may be a new one that already has the number. */
static void lock_settled(weft__pd *pd) {
  for (;;) {
    weft__pd_lock(pd);
    if (pd->state != PD_RECYCLING)
      return;
    weft__pd_unlock(pd);
    sched_yield(); /* one close(2) */
  }
}

int weft__fd_enter(int fd, weft__pd **pdp, bool *file, bool *socket) {
  weft__pd *pd;
  int rc = weft__pd_get(fd, &pd);
  if (rc)
    return rc;
  lock_settled(pd);
  if (pd->closing) {
    weft__pd_unlock(pd);
    return -EBADF;
  }
  pd->refs++;
  bool fresh = pd->state == PD_NEW;
  *file = pd->state == PD_FILE;
  *socket = pd->socket;
  weft__pd_unlock(pd);
  *pdp = pd;
  if (!fresh) /* the usual case: one critical section */
    return 0;
  if ((rc = weft__pd_register(pd, fd)) != 0) {
    weft__fd_leave(pd, fd);
    return rc;
  }
  weft__pd_lock(pd); /* what registration found */
  *file = pd->state == PD_FILE;
  *socket = pd->socket;
  weft__pd_unlock(pd);
  return 0;
}

/* close(2): 0 or a negative errno; EINTR is 0, since Linux closes the fd
 * even then. */
static int close_fd(int fd) {
  int rc = (int)weft__io_rc(close(fd));
  return rc == -EINTR ? 0 : rc;
}

/* The real close, once no call holds the pd; the caller set RECYCLING.
 * Wakes a weft_fd_close waiting for it with the result. */
static int finish_close(weft__pd *pd, int fd) {
  int rc = close_fd(fd);
  weft__pd_lock(pd);
  pd->state = PD_NEW;
  pd->closing = false;
  weft__waiter *closer = pd->closer;
  pd->closer = NULL;
  weft__pd_unlock(pd);
  if (closer && weft__claim(closer)) {
    *(int *)closer->elem = rc;
    weft__wake_claimed(closer);
  }
  return rc;
}

/* Takes a closing pd with no holds out of epoll; lock held. */
static void begin_close(weft__pd *pd, int fd) {
  weft__pd_unregister(pd, fd); /* a new gen: stale events are dropped */
  pd->state = PD_RECYCLING;
}

void weft__fd_leave(weft__pd *pd, int fd) {
  weft__pd_lock(pd);
  weft__assert(pd->refs > 0);
  bool last = --pd->refs == 0 && pd->closing;
  if (last)
    begin_close(pd, fd);
  weft__pd_unlock(pd);
  if (last)
    finish_close(pd, fd); /* its error went nowhere in Go either */
}

/* ---- parking ------------------------------------------------------------ */

static int64_t earlier(int64_t a, int64_t b) { return a < b ? a : b; }

typedef struct park_locks {
  weft__pd *pd;
  weft_chan *done;
} park_locks;

static void unlock_park(void *arg) {
  park_locks *l = arg; /* copies first: the parker may return after */
  weft_chan *done = l->done;
  weft__pd_unlock(l->pd);
  if (done)
    weft__spin_unlock(&done->lock);
}

/* Under the locks: the result of a park that need not wait, or 1. */
static int park_now(weft__pd *pd, int dir, uint32_t seen, int64_t dl,
                    weft_chan *done, weft_ctx *ctx) {
  if (pd->closing || pd->state != PD_POLLED)
    return -EBADF; /* closed, or forgotten and maybe reused */
  if (weft__load_relaxed(&pd->seq[dir]) != seen) /* written under lock */
    return 0; /* an event since the attempt: try again */
  if (done && weft__load_relaxed(&done->closed)) /* under its lock */
    return weft_ctx_err(ctx);
  if (weft__past(earlier(dl, pd->deadline[dir])))
    return -ETIMEDOUT;
  return 1;
}

/* The result once woken (st) or timed out, and the cases off their
 * queues. */
static int park_end(weft__pd *pd, int dir, int64_t dl, weft_chan *done,
                    weft_ctx *ctx, weft__waiter cases[2], uint32_t gen,
                    uint32_t st) {
  if (done) {
    weft__spin_lock(&done->lock);
    weft__waitq_unqueue(&done->recvq, &cases[1]);
    weft__spin_unlock(&done->lock);
  }
  weft__pd_lock(pd);
  weft__waitq_unqueue(&pd->q[dir], &cases[0]);
  bool gone = pd->gen != gen || pd->closing;
  bool late = weft__past(earlier(dl, pd->deadline[dir]));
  weft__pd_unlock(pd);
  weft__add_seqcst(&S.io_waiters, -1); /* pairs with all_idle's load */
  if (gone)
    return -EBADF;
  if (st == WEFT__WOKEN) /* readiness, or a deadline changed: try again */
    return cases[0].owner->fired == &cases[1] ? weft_ctx_err(ctx) : 0;
  return late ? -ETIMEDOUT : 0; /* not late: a deadline moved later */
}

int weft__fd_park(weft__pd *pd, int dir, uint32_t seen, int64_t dl,
                  weft_ctx *ctx) {
  weft_chan *done = weft_ctx_done(ctx);
  weft__waiter owner, cases[2];
  weft__waiter_init(&owner);
  owner.io_wait = true;
  weft__waiter_init_case(&cases[0], &owner, 0, NULL);
  weft__waiter_init_case(&cases[1], &owner, 1, NULL);
  /* Before the waiter can be found, so the scheduler keeps polling. */
  weft__add_seqcst(&S.io_waiters, 1); /* pairs with all_idle's load */
  if (owner.g == NULL && weft__load_relaxed(&S.polling) == 0)
    weft__wakep(); /* a thread has no P to poll for it: wake an idle one */
  if (done)
    weft__spin_lock(&done->lock);
  weft__pd_lock(pd);
  int rc = park_now(pd, dir, seen, dl, done, ctx);
  if (rc != 1) {
    weft__pd_unlock(pd);
    if (done)
      weft__spin_unlock(&done->lock);
    weft__add_seqcst(&S.io_waiters, -1);
    return rc;
  }
  uint32_t gen = pd->gen;
  weft__waitq_push(&pd->q[dir], &cases[0]);
  if (done)
    weft__waitq_push(&done->recvq, &cases[1]);
  park_locks locks = {pd, done};
  uint32_t st = weft__wait(&owner, unlock_park, &locks,
                           earlier(dl, pd->deadline[dir]), "IO wait");
  return park_end(pd, dir, dl, done, ctx, cases, gen, st);
}

/* ---- operations --------------------------------------------------------- */

/* A call on a file never parks, so it is a scheduling point instead: a
 * goroutine that reads file after file yields to the others waiting for
 * its P (scheduling is cooperative; Go preempts). */
static void yield_if_others(void) {
  weft__p *p = weft__curp();
  if (p && (weft__load_relaxed(&p->runnext) != NULL || /* a hint */
            !weft__runq_empty(p) ||
            weft__load_relaxed(&weft__sched_g.gq_len) != 0))
    weft_yield();
}

/* A file's call: it cannot wait for readiness, so the deadlines and ctx are
 * looked at once, before it. */
static ssize_t file_call(weft__pd *pd, int fd, int dir, int64_t dl,
                         weft_ctx *ctx, weft__io_fn fn, void *arg) {
  weft__pd_lock(pd);
  int64_t until = earlier(dl, pd->deadline[dir]);
  weft__pd_unlock(pd);
  int err = weft_ctx_err(ctx);
  if (err)
    return err;
  if (weft__past(until))
    return -ETIMEDOUT;
  ssize_t r;
  weft_syscall_enter();
  while ((r = fn(fd, false, arg)) == -EINTR)
    ;
  weft_syscall_exit();
  yield_if_others();
  return r;
}

ssize_t weft__fd_do(int fd, int dir, int64_t dl, weft_ctx *ctx,
                    weft__io_fn fn, void *arg) {
  weft__pd *pd;
  bool file, sock;
  int rc = weft__fd_enter(fd, &pd, &file, &sock);
  if (rc)
    return rc;
  ssize_t r;
  if (file) {
    r = file_call(pd, fd, dir, dl, ctx, fn, arg);
  } else {
    for (;;) {
      uint32_t seen = weft__pd_seq(pd, dir);
      r = fn(fd, sock, arg);
      if (r >= 0)
        break;
      if (r == -EINTR)
        continue;
      if (r != -EAGAIN && r != -EWOULDBLOCK)
        break;
      if ((r = weft__fd_park(pd, dir, seen, dl, ctx)) != 0)
        break;
    }
  }
  weft__fd_leave(pd, fd);
  return r;
}

/* ---- the public calls on the pd itself ---------------------------------- */

static int dir_of(int events) {
  return events == WEFT_READ ? PD_R : events == WEFT_WRITE ? PD_W : -1;
}

/* Whether fd is ready for dir now, by poll(2) (edge-triggered epoll only
 * tells of changes). */
static ssize_t ready_now(int fd, bool socket, void *arg) {
  (void)socket;
  struct pollfd p = {fd, *(int *)arg == PD_R ? POLLIN : POLLOUT, 0};
  int n = (int)weft__io_rc(poll(&p, 1, 0));
  if (n == 1 && (p.revents & POLLNVAL))
    return -EBADF;
  return n == 1 ? 0 : n == 0 ? -EAGAIN : n;
}

static int fd_wait(int fd, int events, int64_t dl, weft_ctx *ctx) {
  int dir = dir_of(events);
  if (dir < 0)
    return -EINVAL;
  return (int)weft__fd_do(fd, dir, dl, ctx, ready_now, &dir);
}

int weft_fd_wait(int fd, int events) {
  return fd_wait(fd, events, WEFT_FOREVER, NULL);
}
int weft_fd_wait_dl(int fd, int events, int64_t deadline) {
  return fd_wait(fd, events, deadline, NULL);
}
int weft_fd_wait_ctx(weft_ctx *ctx, int fd, int events) {
  return fd_wait(fd, events, WEFT_FOREVER, ctx);
}

int weft_fd_set_deadline(int fd, int events, int64_t deadline) {
  if (events < 1 || events > (WEFT_READ | WEFT_WRITE))
    return -EINVAL;
  weft__pd *pd;
  int rc = weft__pd_get(fd, &pd);
  if (rc)
    return rc;
  if (fcntl(fd, F_GETFD) < 0)
    return -EBADF;
  unsigned mask = 0;
  weft__waiter *woken = NULL;
  lock_settled(pd);
  if (pd->closing) {
    weft__pd_unlock(pd);
    return -EBADF;
  }
  for (int dir = PD_R; dir <= PD_W; dir++)
    if (events & (dir == PD_R ? WEFT_READ : WEFT_WRITE)) {
      pd->deadline[dir] = deadline;
      mask |= 1u << dir;
    }
  /* Every waiter works out its deadline again (fd_park's park_end). */
  weft__pd_claim_all(pd, mask, &woken);
  weft__pd_unlock(pd);
  weft__wake_claimed_list(woken);
  return 0;
}

static void unlock_pd(void *pd) { weft__pd_unlock(pd); }

int weft_fd_close(int fd) {
  /* In a forked child the pds and the epoll set are the parent's: a child
   * closing what it inherited before exec must not touch them. */
  weft__pd *pd = weft__forked_child ? NULL : weft__pd_find(fd);
  if (pd == NULL)
    return close_fd(fd); /* never seen */
  weft__waiter *woken = NULL;
  lock_settled(pd);
  if (pd->closing) {
    weft__pd_unlock(pd);
    return -EBADF;
  }
  pd->closing = true;
  weft__pd_claim_all(pd, 1u << PD_R | 1u << PD_W, &woken);
  if (pd->refs == 0) {
    begin_close(pd, fd);
    weft__pd_unlock(pd);
    weft__wake_claimed_list(woken);
    return finish_close(pd, fd);
  }
  if (pd->state == PD_FILE) { /* a call blocked on a disk: do not wait */
    weft__pd_unlock(pd);
    weft__wake_claimed_list(woken);
    return 0;
  }
  /* Go's fd.Close: the woken calls return at once; the last one closes fd
   * and hands the result here, so fd is closed when this returns. */
  uint32_t gen = pd->gen;
  weft__pd_unlock(pd);
  weft__wake_claimed_list(woken);
  weft__pd_lock(pd);
  if (pd->gen != gen && pd->state != PD_RECYCLING) {
    weft__pd_unlock(pd); /* the last call out closed it meanwhile */
    return 0;
  }
  int rc = 0;
  weft__waiter w;
  weft__waiter_init(&w);
  w.io_wait = true; /* never counted: the calls it waits for may be I/O */
  w.elem = &rc;
  pd->closer = &w;
  weft__wait(&w, unlock_pd, pd, WEFT_FOREVER, "IO wait");
  return rc;
}

int weft_fd_forget(int fd) {
  if (fd < 0)
    return -EBADF;
  weft__pd *pd = weft__forked_child ? NULL : weft__pd_find(fd); /* as close */
  if (pd == NULL)
    return 0;
  weft__waiter *woken = NULL;
  lock_settled(pd);
  weft__pd_claim_all(pd, 1u << PD_R | 1u << PD_W, &woken);
  weft__pd_unregister(pd, fd); /* waiters see the new gen: -EBADF; and
                                  its deadlines go, even for a NEW fd */
  weft__pd_unlock(pd);
  weft__wake_claimed_list(woken);
  return 0;
}
