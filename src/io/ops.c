/* ops.c -- the public fd operations: each one attempt (an *_once
 * function, the system call itself) run by weft__fd_do (fd.c), which parks
 * on EAGAIN; the writes loop over partial writes. Each call has its
 * deadline and context twins, one line each.
 *
 * SIGPIPE: a socket's writes go through send(2) with MSG_NOSIGNAL; any
 * other fd's (a pipe's) block SIGPIPE in the calling thread around the
 * write and take the signal the write raised, so that it returns -EPIPE
 * and the process lives, without a process-wide handler that would change
 * what the program's own write(2) calls do.
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "io/fd.h"

#define FOREVER WEFT_FOREVER

typedef struct io_args {
  void *buf;
  size_t n;
  int flags;
  const struct iovec *iov;
  int iovcnt;
  struct sockaddr *addr;
  socklen_t *addrlen;
  socklen_t tolen;
} io_args;

/* ---- one attempt each ---------------------------------------------------- */

/* A write to what is not a socket, with SIGPIPE held back (see above). */
static ssize_t write_held(int fd, const io_args *a) {
  sigset_t pipe_set, old;
  sigemptyset(&pipe_set);
  sigaddset(&pipe_set, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
  ssize_t r = weft__io_rc(a->iov ? writev(fd, a->iov, a->iovcnt)
                                 : write(fd, a->buf, a->n));
  if (r == -EPIPE && !sigismember(&old, SIGPIPE)) {
    struct timespec zero = {0, 0};
    sigtimedwait(&pipe_set, NULL, &zero); /* the one this write raised */
  }
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  return r;
}

static ssize_t read_once(int fd, bool sock, void *arg) {
  (void)sock;
  io_args *a = arg;
  return weft__io_rc(read(fd, a->buf, a->n));
}

static ssize_t write_once(int fd, bool sock, void *arg) {
  io_args *a = arg;
  if (!sock)
    return write_held(fd, a);
  return weft__io_rc(send(fd, a->buf, a->n, MSG_NOSIGNAL));
}

static ssize_t readv_once(int fd, bool sock, void *arg) {
  (void)sock;
  io_args *a = arg;
  return weft__io_rc(readv(fd, a->iov, a->iovcnt));
}

static ssize_t writev_once(int fd, bool sock, void *arg) {
  io_args *a = arg;
  if (!sock)
    return write_held(fd, a);
  struct msghdr m = {.msg_iov = (struct iovec *)a->iov,
                     .msg_iovlen = (size_t)a->iovcnt};
  return weft__io_rc(sendmsg(fd, &m, MSG_NOSIGNAL));
}

static ssize_t recv_once(int fd, bool sock, void *arg) {
  (void)sock;
  io_args *a = arg;
  return weft__io_rc(
      recvfrom(fd, a->buf, a->n, a->flags, a->addr, a->addrlen));
}

static ssize_t send_once(int fd, bool sock, void *arg) {
  (void)sock;
  io_args *a = arg;
  return weft__io_rc(sendto(fd, a->buf, a->n, a->flags | MSG_NOSIGNAL,
                            a->addr, a->tolen));
}

static ssize_t accept_once(int fd, bool sock, void *arg) {
  (void)sock;
  io_args *a = arg;
  return weft__io_rc(
      accept4(fd, a->addr, a->addrlen, SOCK_NONBLOCK | SOCK_CLOEXEC));
}

/* ---- the loops ---------------------------------------------------------- */

/* Runs fn until all of a->n bytes went, or an error: see weft.h. */
static ssize_t write_all(int fd, weft__io_fn fn, io_args *a, int64_t dl,
                         weft_ctx *ctx) {
  size_t done = 0, n = a->n;
  char *base = a->buf;
  do {
    a->buf = base + done;
    a->n = n - done;
    ssize_t r = weft__fd_do(fd, PD_W, dl, ctx, fn, a);
    if (r < 0)
      return done ? (ssize_t)done : r;
    done += (size_t)r;
  } while (done < n);
  return (ssize_t)done;
}

static int check_iov(const struct iovec *iov, int cnt, size_t *total) {
  if (cnt < 0 || cnt > IOV_MAX || (cnt > 0 && iov == NULL))
    return -EINVAL;
  size_t sum = 0;
  for (int i = 0; i < cnt; i++) {
    if (iov[i].iov_len > SSIZE_MAX - sum)
      return -EINVAL;
    sum += iov[i].iov_len;
  }
  *total = sum;
  return 0;
}

/* Drops the first n bytes from the iov array v[0..*cnt). */
static struct iovec *iov_advance(struct iovec *v, int *cnt, size_t n) {
  while (*cnt > 0 && n >= v->iov_len) {
    n -= v->iov_len;
    v++;
    (*cnt)--;
  }
  if (*cnt > 0) {
    v->iov_base = (char *)v->iov_base + n;
    v->iov_len -= n;
  }
  return v;
}

static ssize_t writev_all(int fd, const struct iovec *iov, int cnt,
                          int64_t dl, weft_ctx *ctx) {
  size_t total;
  int rc = check_iov(iov, cnt, &total);
  if (rc)
    return rc;
  io_args a = {.iov = iov, .iovcnt = cnt};
  ssize_t r = weft__fd_do(fd, PD_W, dl, ctx, writev_once, &a);
  if (r < 0 || (size_t)r == total)
    return r;
  /* A partial write: go on from a copy, the caller's array untouched. */
  struct iovec *copy = weft__rt_malloc((size_t)cnt * sizeof *copy);
  if (copy == NULL)
    return r;
  memcpy(copy, iov, (size_t)cnt * sizeof *copy);
  size_t done = (size_t)r;
  struct iovec *v = iov_advance(copy, &cnt, done);
  while (done < total) {
    a.iov = v;
    a.iovcnt = cnt;
    r = weft__fd_do(fd, PD_W, dl, ctx, writev_once, &a);
    if (r < 0)
      break;
    done += (size_t)r;
    v = iov_advance(v, &cnt, (size_t)r);
  }
  weft__rt_free(copy);
  return (ssize_t)done;
}

/* ---- the public calls ------------------------------------------------- */

static ssize_t do_read(int fd, void *buf, size_t n, int64_t dl, weft_ctx *c) {
  io_args a = {.buf = buf, .n = n};
  return weft__fd_do(fd, PD_R, dl, c, read_once, &a);
}
ssize_t weft_fd_read(int fd, void *buf, size_t n) {
  return do_read(fd, buf, n, FOREVER, NULL);
}
ssize_t weft_fd_read_dl(int fd, void *buf, size_t n, int64_t deadline) {
  return do_read(fd, buf, n, deadline, NULL);
}
ssize_t weft_fd_read_ctx(weft_ctx *ctx, int fd, void *buf, size_t n) {
  return do_read(fd, buf, n, FOREVER, ctx);
}

static ssize_t do_write(int fd, const void *buf, size_t n, int64_t dl,
                        weft_ctx *c) {
  io_args a = {.buf = (void *)buf, .n = n};
  return write_all(fd, write_once, &a, dl, c);
}
ssize_t weft_fd_write(int fd, const void *buf, size_t n) {
  return do_write(fd, buf, n, FOREVER, NULL);
}
ssize_t weft_fd_write_dl(int fd, const void *buf, size_t n, int64_t dl) {
  return do_write(fd, buf, n, dl, NULL);
}
ssize_t weft_fd_write_ctx(weft_ctx *ctx, int fd, const void *buf, size_t n) {
  return do_write(fd, buf, n, FOREVER, ctx);
}

static ssize_t do_readv(int fd, const struct iovec *iov, int cnt, int64_t dl,
                        weft_ctx *c) {
  size_t total;
  int rc = check_iov(iov, cnt, &total);
  if (rc)
    return rc;
  io_args a = {.iov = iov, .iovcnt = cnt};
  return weft__fd_do(fd, PD_R, dl, c, readv_once, &a);
}
ssize_t weft_fd_readv(int fd, const struct iovec *iov, int cnt) {
  return do_readv(fd, iov, cnt, FOREVER, NULL);
}
ssize_t weft_fd_readv_dl(int fd, const struct iovec *iov, int cnt,
                         int64_t dl) {
  return do_readv(fd, iov, cnt, dl, NULL);
}
ssize_t weft_fd_readv_ctx(weft_ctx *ctx, int fd, const struct iovec *iov,
                          int cnt) {
  return do_readv(fd, iov, cnt, FOREVER, ctx);
}
ssize_t weft_fd_writev(int fd, const struct iovec *iov, int cnt) {
  return writev_all(fd, iov, cnt, FOREVER, NULL);
}
ssize_t weft_fd_writev_dl(int fd, const struct iovec *iov, int cnt,
                          int64_t dl) {
  return writev_all(fd, iov, cnt, dl, NULL);
}
ssize_t weft_fd_writev_ctx(weft_ctx *ctx, int fd, const struct iovec *iov,
                           int cnt) {
  return writev_all(fd, iov, cnt, FOREVER, ctx);
}

static ssize_t do_recvfrom(int fd, void *buf, size_t n, int flags,
                           struct sockaddr *from, socklen_t *fromlen,
                           int64_t dl, weft_ctx *c) {
  io_args a = {.buf = buf, .n = n, .flags = flags, .addr = from,
               .addrlen = fromlen};
  return weft__fd_do(fd, PD_R, dl, c, recv_once, &a);
}
ssize_t weft_fd_recv(int fd, void *buf, size_t n, int flags) {
  return do_recvfrom(fd, buf, n, flags, NULL, NULL, FOREVER, NULL);
}
ssize_t weft_fd_recv_dl(int fd, void *buf, size_t n, int flags, int64_t dl) {
  return do_recvfrom(fd, buf, n, flags, NULL, NULL, dl, NULL);
}
ssize_t weft_fd_recv_ctx(weft_ctx *ctx, int fd, void *buf, size_t n,
                         int flags) {
  return do_recvfrom(fd, buf, n, flags, NULL, NULL, FOREVER, ctx);
}
ssize_t weft_fd_recvfrom(int fd, void *buf, size_t n, int flags,
                         struct sockaddr *from, socklen_t *fromlen) {
  return do_recvfrom(fd, buf, n, flags, from, fromlen, FOREVER, NULL);
}
ssize_t weft_fd_recvfrom_dl(int fd, void *buf, size_t n, int flags,
                            struct sockaddr *from, socklen_t *fromlen,
                            int64_t dl) {
  return do_recvfrom(fd, buf, n, flags, from, fromlen, dl, NULL);
}
ssize_t weft_fd_recvfrom_ctx(weft_ctx *ctx, int fd, void *buf, size_t n,
                             int flags, struct sockaddr *from,
                             socklen_t *fromlen) {
  return do_recvfrom(fd, buf, n, flags, from, fromlen, FOREVER, ctx);
}

static ssize_t do_send(int fd, const void *buf, size_t n, int flags,
                       int64_t dl, weft_ctx *c) {
  io_args a = {.buf = (void *)buf, .n = n, .flags = flags};
  return write_all(fd, send_once, &a, dl, c);
}
ssize_t weft_fd_send(int fd, const void *buf, size_t n, int flags) {
  return do_send(fd, buf, n, flags, FOREVER, NULL);
}
ssize_t weft_fd_send_dl(int fd, const void *buf, size_t n, int flags,
                        int64_t dl) {
  return do_send(fd, buf, n, flags, dl, NULL);
}
ssize_t weft_fd_send_ctx(weft_ctx *ctx, int fd, const void *buf, size_t n,
                         int flags) {
  return do_send(fd, buf, n, flags, FOREVER, ctx);
}

static ssize_t do_sendto(int fd, const void *buf, size_t n, int flags,
                         const struct sockaddr *to, socklen_t tolen,
                         int64_t dl, weft_ctx *c) {
  io_args a = {.buf = (void *)buf, .n = n, .flags = flags,
               .addr = (struct sockaddr *)to, .tolen = tolen};
  return weft__fd_do(fd, PD_W, dl, c, send_once, &a);
}
ssize_t weft_fd_sendto(int fd, const void *buf, size_t n, int flags,
                       const struct sockaddr *to, socklen_t tolen) {
  return do_sendto(fd, buf, n, flags, to, tolen, FOREVER, NULL);
}
ssize_t weft_fd_sendto_dl(int fd, const void *buf, size_t n, int flags,
                          const struct sockaddr *to, socklen_t tolen,
                          int64_t dl) {
  return do_sendto(fd, buf, n, flags, to, tolen, dl, NULL);
}
ssize_t weft_fd_sendto_ctx(weft_ctx *ctx, int fd, const void *buf, size_t n,
                           int flags, const struct sockaddr *to,
                           socklen_t tolen) {
  return do_sendto(fd, buf, n, flags, to, tolen, FOREVER, ctx);
}

static int do_accept(int fd, struct sockaddr *addr, socklen_t *len,
                     int64_t dl, weft_ctx *c) {
  io_args a = {.addr = addr, .addrlen = len};
  return (int)weft__fd_do(fd, PD_R, dl, c, accept_once, &a);
}
int weft_fd_accept(int fd, struct sockaddr *addr, socklen_t *len) {
  return do_accept(fd, addr, len, FOREVER, NULL);
}
int weft_fd_accept_dl(int fd, struct sockaddr *addr, socklen_t *len,
                      int64_t dl) {
  return do_accept(fd, addr, len, dl, NULL);
}
int weft_fd_accept_ctx(weft_ctx *ctx, int fd, struct sockaddr *addr,
                       socklen_t *len) {
  return do_accept(fd, addr, len, FOREVER, ctx);
}

/* Go's connect (internal/poll, net/fd_unix.go): a non-blocking connect
 * goes on in the kernel; writability then says it ended, SO_ERROR how, and
 * getpeername whether it really did (a stale token wakes it early). */
static int connect_wait(weft__pd *pd, int fd, uint32_t seen, int64_t dl,
                        weft_ctx *ctx) {
  for (;;) {
    int rc = weft__fd_park(pd, PD_W, seen, dl, ctx);
    if (rc)
      return rc;
    seen = weft__pd_seq(pd, PD_W); /* before this look at the socket */
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
      return -weft__errno();
    if (err == EINPROGRESS || err == EALREADY || err == EINTR)
      continue;
    if (err)
      return -err;
    struct sockaddr_storage peer;
    socklen_t plen = sizeof peer;
    if (getpeername(fd, (struct sockaddr *)&peer, &plen) == 0)
      return 0;
    if ((err = weft__errno()) != ENOTCONN)
      return -err;
  }
}

static int do_connect(int fd, const struct sockaddr *addr, socklen_t len,
                      int64_t dl, weft_ctx *ctx) {
  weft__pd *pd;
  bool file, sock;
  int rc = weft__fd_enter(fd, &pd, &file, &sock);
  if (rc)
    return rc;
  uint32_t seen = weft__pd_seq(pd, PD_W);
  if (!sock) {
    rc = -ENOTSOCK;
  } else if (connect(fd, addr, len) < 0) {
    rc = weft__errno();
    if (rc == EINPROGRESS || rc == EALREADY || rc == EINTR)
      rc = connect_wait(pd, fd, seen, dl, ctx);
    else
      rc = rc == EISCONN ? 0 : -rc;
  }
  weft__fd_leave(pd, fd);
  return rc;
}
int weft_fd_connect(int fd, const struct sockaddr *addr, socklen_t len) {
  return do_connect(fd, addr, len, FOREVER, NULL);
}
int weft_fd_connect_dl(int fd, const struct sockaddr *addr, socklen_t len,
                       int64_t dl) {
  return do_connect(fd, addr, len, dl, NULL);
}
int weft_fd_connect_ctx(weft_ctx *ctx, int fd, const struct sockaddr *addr,
                        socklen_t len) {
  return do_connect(fd, addr, len, FOREVER, ctx);
}
