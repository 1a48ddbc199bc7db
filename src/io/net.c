/* net.c -- dial and listen on "host:port" (Go's net.Dial and net.Listen,
 * for tcp, tcp4, tcp6 and unix).
 *
 * getaddrinfo cannot be interrupted, so a name lookup runs in a goroutine
 * of its own inside the syscall handoff, and the caller waits for it on a
 * channel with its deadline or context: a caller that gives up returns at
 * once and leaves the lookup to finish and free itself. The record is
 * shared by the two and freed by whichever drops the last reference
 * (refs, acq_rel). A numeric address needs no lookup and no goroutine.
 */
#include <errno.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "io/fd.h"

typedef struct lookup {
  _Atomic int refs;
  char host[256], port[32];
  struct addrinfo hints;
  struct addrinfo *res; /* the resolver's until done is closed */
  int rc;               /* likewise: getaddrinfo's result */
  int sys_errno;        /* likewise: errno, for EAI_SYSTEM */
  weft_chan *done;      /* closed by the resolver */
} lookup;

static void lookup_unref(lookup *l) {
  if (weft__add_acqrel(&l->refs, -1) != 1)
    return; /* acq_rel: the last one sees the other's writes */
  if (l->res)
    freeaddrinfo(l->res);
  weft_chan_unref(l->done);
  weft__rt_free(l);
}

static void resolve(void *arg) {
  lookup *l = arg;
  weft_syscall_enter();
  l->rc = getaddrinfo(l->host[0] ? l->host : NULL, l->port, &l->hints,
                      &l->res);
  l->sys_errno = weft__errno(); /* this thread's, before the exit */
  weft_syscall_exit();
  weft_close(l->done); /* publishes rc and res to the waiter */
  lookup_unref(l);
}

/* getaddrinfo's failures as errno values; sys: errno, for EAI_SYSTEM. */
static int eai_errno(int rc, int sys) {
  switch (rc) {
  case EAI_NONAME:
#ifdef EAI_NODATA
  case EAI_NODATA:
#endif
#ifdef EAI_ADDRFAMILY
  case EAI_ADDRFAMILY:
#endif
    return -ENOENT; /* Go's "no such host" */
  case EAI_AGAIN:
    return -EAGAIN;
  case EAI_MEMORY:
    return -ENOMEM;
  case EAI_SYSTEM:
    return sys ? -sys : -EIO;
  default: /* EAI_SERVICE, EAI_FAMILY, EAI_SOCKTYPE, EAI_BADFLAGS */
    return -EINVAL;
  }
}

/* Splits "host:port", "[v6]:port" or ":port" into l. */
static int split(lookup *l, const char *address) {
  const char *colon = strrchr(address, ':');
  if (colon == NULL || colon[1] == '\0' || strlen(colon + 1) >= sizeof l->port)
    return -EINVAL;
  const char *h = address;
  size_t hlen = (size_t)(colon - address);
  if (hlen >= 2 && h[0] == '[' && h[hlen - 1] == ']') {
    h++;
    hlen -= 2;
  } else if (memchr(h, ':', hlen)) {
    return -EINVAL; /* a v6 literal needs its brackets */
  }
  if (hlen >= sizeof l->host)
    return -EINVAL;
  memcpy(l->host, h, hlen);
  l->host[hlen] = '\0';
  strcpy(l->port, colon + 1);
  return 0;
}

static int family_of(const char *network) {
  if (strcmp(network, "tcp") == 0)
    return AF_UNSPEC;
  if (strcmp(network, "tcp4") == 0)
    return AF_INET;
  if (strcmp(network, "tcp6") == 0)
    return AF_INET6;
  return -1;
}

/* Resolves address into *res (freeaddrinfo it): numeric at once, a name in
 * a resolver goroutine, waited for until dl or ctx. */
static int resolve_addr(const char *network, const char *address, bool passive,
                        int64_t dl, weft_ctx *ctx, struct addrinfo **res) {
  int family = family_of(network);
  if (family < 0)
    return -EINVAL;
  lookup *l = weft__rt_calloc(1, sizeof *l);
  if (l == NULL)
    return -ENOMEM;
  int rc = split(l, address);
  if (rc) {
    weft__rt_free(l);
    return rc;
  }
  l->hints.ai_family = family;
  l->hints.ai_socktype = SOCK_STREAM;
  l->hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | (passive ? AI_PASSIVE : 0);
  int g = getaddrinfo(l->host[0] ? l->host : NULL, l->port, &l->hints, res);
  if (g != EAI_NONAME) { /* a numeric address, or a bad one */
    weft__rt_free(l);
    return g ? eai_errno(g, weft__errno()) : 0;
  }
  l->hints.ai_flags = passive ? AI_PASSIVE : AI_ADDRCONFIG;
  atomic_init(&l->refs, 2);
  if ((l->done = weft_chan_make(0, 0)) == NULL) {
    weft__rt_free(l);
    return -ENOMEM;
  }
  if ((rc = weft_go(resolve, l)) != 0) {
    weft_chan_unref(l->done);
    weft__rt_free(l);
    return rc;
  }
  rc = ctx ? weft_recv_ctx(ctx, l->done, NULL)
           : weft_recv_dl(l->done, NULL, dl);
  if (rc == 0) { /* closed: the lookup is done */
    rc = l->rc ? eai_errno(l->rc, l->sys_errno) : 0;
    *res = l->res;
    l->res = NULL;
  }
  lookup_unref(l);
  return rc;
}

/* The address of a unix socket at path: 0, or -EINVAL if it is too long. */
static int unix_addr(const char *path, struct sockaddr_un *sa) {
  *sa = (struct sockaddr_un){.sun_family = AF_UNIX};
  if (strlen(path) >= sizeof sa->sun_path)
    return -EINVAL;
  strcpy(sa->sun_path, path);
  return 0;
}

static int dial_unix(const char *path, int64_t dl, weft_ctx *ctx) {
  struct sockaddr_un sa;
  if (unix_addr(path, &sa))
    return -EINVAL;
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return -weft__errno();
  int rc = ctx ? weft_fd_connect_ctx(ctx, fd, (struct sockaddr *)&sa, sizeof sa)
               : weft_fd_connect_dl(fd, (struct sockaddr *)&sa, sizeof sa, dl);
  if (rc) {
    weft_fd_close(fd);
    return rc;
  }
  return fd;
}

static int dial(const char *network, const char *address, int64_t dl,
                weft_ctx *ctx) {
  if (network == NULL || address == NULL)
    return -EINVAL;
  if (strcmp(network, "unix") == 0)
    return dial_unix(address, dl, ctx);
  struct addrinfo *res = NULL;
  int rc = resolve_addr(network, address, false, dl, ctx, &res);
  if (rc)
    return rc;
  rc = -ENOENT;
  for (struct addrinfo *a = res; a; a = a->ai_next) { /* in order, as Go */
    int fd = socket(a->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      rc = -weft__errno();
      continue;
    }
    rc = ctx ? weft_fd_connect_ctx(ctx, fd, a->ai_addr, a->ai_addrlen)
             : weft_fd_connect_dl(fd, a->ai_addr, a->ai_addrlen, dl);
    if (rc == 0) {
      rc = fd;
      break;
    }
    weft_fd_close(fd);
    if (rc == -ETIMEDOUT || (ctx && rc == weft_ctx_err(ctx)))
      break; /* out of time: the next address would not connect either */
  }
  freeaddrinfo(res);
  return rc;
}

int weft_dial(const char *network, const char *address) {
  return dial(network, address, WEFT_FOREVER, NULL);
}
int weft_dial_dl(const char *network, const char *address, int64_t deadline) {
  return dial(network, address, deadline, NULL);
}
int weft_dial_ctx(weft_ctx *ctx, const char *network, const char *address) {
  return dial(network, address, WEFT_FOREVER, ctx);
}

static int listen_on(int family, const struct sockaddr *sa, socklen_t len) {
  int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return -weft__errno();
  int one = 1;
  if ((family != AF_UNIX &&
       setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0) ||
      bind(fd, sa, len) < 0 || listen(fd, SOMAXCONN) < 0) {
    int rc = -weft__errno();
    close(fd);
    return rc;
  }
  return fd;
}

int weft_listen(const char *network, const char *address) {
  if (network == NULL || address == NULL)
    return -EINVAL;
  if (strcmp(network, "unix") == 0) {
    struct sockaddr_un sa;
    if (unix_addr(address, &sa))
      return -EINVAL;
    return listen_on(AF_UNIX, (struct sockaddr *)&sa, sizeof sa);
  }
  struct addrinfo *res = NULL;
  int rc = resolve_addr(network, address, true, WEFT_FOREVER, NULL, &res);
  if (rc)
    return rc;
  rc = -ENOENT;
  for (struct addrinfo *a = res; a; a = a->ai_next)
    if ((rc = listen_on(a->ai_family, a->ai_addr, a->ai_addrlen)) >= 0)
      break;
  freeaddrinfo(res);
  return rc;
}
