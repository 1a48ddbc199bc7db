/* netpoll.c -- the poller: one epoll instance, edge-triggered, an eventfd
 * that breaks a blocked wait, and the table of poll descriptors (Go's
 * netpoll.go, netpoll_epoll.go and pollcache).
 *
 * - The scheduler calls wait and deliver through weft__poller
 *   (sched/runtime.h): an idle P blocks in wait until its next timer, a P
 *   out of work and sysmon call it with 0. wait keeps the events in the
 *   calling thread's buffer; deliver takes each to its pd and wakes the
 *   waiters there, after counting it in the pd's seq (pd.h).
 * - The break eventfd is registered level-triggered. Only a blocking wait
 *   drains it and clears break_pending: a wait that does not block leaves
 *   it for the blocked one (Go's netpoll(0) does the same), so a break is
 *   never eaten by the wrong thread. break_pending coalesces breaks into
 *   one write; a break that comes while the blocked wait is draining finds
 *   it awake anyway.
 * - The table: fd numbers up to WEFT__PD_MAX_FD in chunks of CHUNK pds,
 *   installed by CAS (release; lookups acquire) and never freed, so a pd
 *   found once stays valid.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "io/pd.h"

#define CHUNK 256
#define NCHUNKS (WEFT__PD_MAX_FD / CHUNK)
#define EVENTS 128
#define BREAK_DATA UINT64_MAX

static _Atomic(weft__pd *) table[NCHUNKS];
static int epfd = -1, breakfd = -1; /* written once, in init */
static int init_err;                /* likewise */
static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static _Atomic uint32_t break_pending; /* see the header */

static __thread struct epoll_event tls_events[EVENTS];
static __thread int tls_nevents;

/* ---- waiting ------------------------------------------------------------ */

static void drain_break(void) {
  uint64_t v;
  while (read(breakfd, &v, sizeof v) < 0 && weft__errno() == EINTR)
    ;
  weft__store_release(&break_pending, 0); /* pairs with brk's CAS */
}

/* epoll_pwait2 takes a timespec (Linux 5.11): a timer due in 100 us is
 * not rounded to a millisecond. */
static int epoll_until(int64_t until) {
  if (until == 0 || until == WEFT_FOREVER)
    return epoll_wait(epfd, tls_events, EVENTS, until == 0 ? 0 : -1);
  int64_t ns = until - weft_now();
  if (ns < 0)
    ns = 0;
  struct timespec ts = {(time_t)(ns / WEFT_SEC), (long)(ns % WEFT_SEC)};
  int n = epoll_pwait2(epfd, tls_events, EVENTS, &ts, NULL);
  if (n < 0 && weft__errno() == ENOSYS) /* before Linux 5.11: whole ms */
    n = epoll_wait(epfd, tls_events, EVENTS,
                   (int)((ns + WEFT_MS - 1) / WEFT_MS));
  return n;
}

static int poll_wait(int64_t until) {
  /* sysmon and the Ps reach the poller through the scheduler's atomics,
   * which the race build's uninstrumented runtime hides from TSan; its
   * fd checks need the edge from poller_init spelled out. */
  weft__race_acquire(&epfd);
  int n = epoll_until(until);
  if (n < 0)
    n = 0; /* EINTR: the caller looks again */
  int kept = 0;
  for (int i = 0; i < n; i++) {
    if (tls_events[i].data.u64 != BREAK_DATA)
      tls_events[kept++] = tls_events[i];
    else if (until != 0)
      drain_break();
  }
  tls_nevents = kept;
  return kept;
}

/* The directions an epoll event makes ready: hang-up and error wake both,
 * so that each caller's retry meets the error. */
static unsigned event_dirs(uint32_t ev) {
  unsigned mask = 0;
  if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
    mask |= 1u << PD_R;
  if (ev & (EPOLLOUT | EPOLLHUP | EPOLLERR))
    mask |= 1u << PD_W;
  return mask;
}

static int deliver_one(uint64_t data, uint32_t ev) {
  int fd = (int)(uint32_t)data;
  weft__pd *pd = weft__pd_find(fd);
  if (pd == NULL)
    return 0;
  unsigned mask = event_dirs(ev);
  weft__waiter *woken = NULL;
  weft__pd_lock(pd);
  if (pd->gen == (uint32_t)(data >> 32) && pd->state == PD_POLLED) {
    for (int dir = PD_R; dir <= PD_W; dir++)
      if (mask & (1u << dir)) /* release: pairs with weft__pd_seq */
        weft__store_release(&pd->seq[dir],
                            weft__load_relaxed(&pd->seq[dir]) + 1);
    weft__pd_claim_all(pd, mask, &woken);
  }
  weft__pd_unlock(pd);
  return weft__wake_claimed_list(woken);
}

static int poll_deliver(void) {
  int n = tls_nevents, woke = 0;
  tls_nevents = 0;
  for (int i = 0; i < n; i++)
    woke += deliver_one(tls_events[i].data.u64, tls_events[i].events);
  return woke;
}

static void poll_break(void) {
  uint32_t idle = 0;
  /* acq_rel: pairs with drain_break's release */
  if (!weft__cas_acqrel(&break_pending, &idle, 1))
    return; /* a break is on its way */
  uint64_t one = 1;
  weft__race_acquire(&epfd); /* as poll_wait */
  while (write(breakfd, &one, sizeof one) < 0 && weft__errno() == EINTR)
    ;
}

static const weft__poller epoll_poller = {poll_wait, poll_deliver,
                                          poll_break};

static void poller_init(void) {
  epfd = epoll_create1(EPOLL_CLOEXEC);
  breakfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  struct epoll_event ev = {.events = EPOLLIN, .data.u64 = BREAK_DATA};
  if (epfd < 0 || breakfd < 0 || epoll_ctl(epfd, EPOLL_CTL_ADD, breakfd, &ev)) {
    init_err = -weft__errno();
    return;
  }
  weft__ensure_started();
  weft__race_release(&epfd); /* for poll_wait and poll_break */
  weft__sched_set_poller(&epoll_poller);
}

/* ---- the table ---------------------------------------------------------- */

static weft__pd *chunk_new(void) {
  weft__pd *c = weft__rt_calloc(CHUNK, sizeof *c);
  if (c)
    for (int i = 0; i < CHUNK; i++)
      c[i].deadline[PD_R] = c[i].deadline[PD_W] = WEFT_FOREVER;
  return c;
}

int weft__pd_get(int fd, weft__pd **out) {
  if (fd < 0 || fd >= WEFT__PD_MAX_FD)
    return -EBADF;
  if (weft__unlikely(weft__forked_child)) /* the epoll set is the parent's */
    weft__fork_misuse("a weft_fd_* call");
  pthread_once(&init_once, poller_init);
  if (init_err)
    return init_err;
  _Atomic(weft__pd *) *slot = &table[fd / CHUNK];
  weft__pd *c = weft__load_acquire(slot); /* pairs with the CAS */
  if (c == NULL) {
    weft__pd *mine = chunk_new();
    if (mine == NULL)
      return -ENOMEM;
    if (atomic_compare_exchange_strong_explicit(slot, &c, mine,
                                                memory_order_acq_rel,
                                                memory_order_acquire))
      c = mine;
    else
      weft__rt_free(mine); /* another thread installed one: c is it */
  }
  *out = &c[fd % CHUNK];
  return 0;
}

weft__pd *weft__pd_find(int fd) {
  if (fd < 0 || fd >= WEFT__PD_MAX_FD)
    return NULL;
  weft__pd *c = weft__load_acquire(&table[fd / CHUNK]); /* pairs with CAS */
  return c ? &c[fd % CHUNK] : NULL;
}

/* ---- registration ------------------------------------------------------- */

static int set_nonblock(int fd) {
  int fl = fcntl(fd, F_GETFL);
  if (fl < 0)
    return -weft__errno();
  if (!(fl & O_NONBLOCK) && fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
    return -weft__errno();
  return 0;
}

int weft__pd_register(weft__pd *pd, int fd) {
  weft__pd_lock(pd);
  uint32_t gen = pd->gen;
  bool fresh = pd->state == PD_NEW;
  weft__pd_unlock(pd);
  if (!fresh)
    return 0;
  struct epoll_event ev = {
      .events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
      .data.u64 = (uint64_t)gen << 32 | (uint32_t)fd};
  uint8_t state = PD_POLLED;
  int rc = 0;
  int err = epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0 ? weft__errno() : 0;
  if (err && err != EEXIST) {
    if (err != EPERM)
      return -err; /* EBADF, or out of memory or watches */
    state = PD_FILE; /* a regular file or directory */
  } else {
    rc = set_nonblock(fd);
  }
  struct stat st;
  bool sock = state == PD_POLLED && fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode);
  if (rc)
    return rc;
  weft__pd_lock(pd);
  if (pd->gen == gen && pd->state == PD_NEW) {
    pd->state = state;
    pd->socket = sock;
  }
  weft__pd_unlock(pd);
  return 0;
}

void weft__pd_unregister(weft__pd *pd, int fd) {
  if (pd->state == PD_POLLED) {
    struct epoll_event ev = {0};
    epoll_ctl(epfd, EPOLL_CTL_DEL, fd, &ev); /* EBADF, ENOENT: gone */
  }
  pd->gen++;
  pd->state = PD_NEW;
  pd->socket = false;
  pd->deadline[PD_R] = pd->deadline[PD_W] = WEFT_FOREVER;
}

/* ---- waking ------------------------------------------------------------- */

void weft__pd_claim_all(weft__pd *pd, unsigned mask, weft__waiter **woken) {
  for (int dir = PD_R; dir <= PD_W; dir++) {
    if (!(mask & (1u << dir)))
      continue;
    weft__waiter *w;
    while ((w = weft__waitq_claim(&pd->q[dir])) != NULL) {
      w->next = *woken; /* off the queue: the link is free */
      *woken = w;
    }
  }
}
