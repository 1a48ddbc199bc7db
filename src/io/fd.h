/* fd.h -- the calls on a pd that every fd operation is made of (fd.c). */
#ifndef WEFT_IO_FD_H
#define WEFT_IO_FD_H

#include <sys/types.h>

#include "io/pd.h"

/* One attempt of an operation on fd: its result, or a negative errno
 * (weft__io_rc). socket: fd is a polled socket (send with MSG_NOSIGNAL
 * instead of write). */
typedef ssize_t (*weft__io_fn)(int fd, bool socket, void *arg);

/* A call's hold on fd's pd (Go's fdMutex rwlock): registers fd on first
 * use. 0, or -EBADF for a bad or closed fd, or another error of
 * registration. *file: fd cannot be polled; *socket as above. */
WEFT_INTERNAL int weft__fd_enter(int fd, weft__pd **pd, bool *file,
                                 bool *socket);
/* Ends the hold; the last one out of a closing pd closes fd. */
WEFT_INTERNAL void weft__fd_leave(weft__pd *pd, int fd);
/* After an attempt in direction dir failed with EAGAIN: waits for
 * readiness. seen: weft__pd_seq(pd, dir) from before the attempt. 0 to try
 * again, or -EBADF (closed meanwhile), -ETIMEDOUT (dl or the fd's
 * deadline), weft_ctx_err(ctx). */
WEFT_INTERNAL int weft__fd_park(weft__pd *pd, int dir, uint32_t seen,
                                int64_t dl, weft_ctx *ctx);
/* The whole operation: enter, attempt, park on EAGAIN, retry on EINTR and
 * after each wake, leave. A file's attempt runs inside the syscall
 * handoff, after a check of the deadlines and ctx. */
WEFT_INTERNAL ssize_t weft__fd_do(int fd, int dir, int64_t dl, weft_ctx *ctx,
                                  weft__io_fn fn, void *arg);

#endif
