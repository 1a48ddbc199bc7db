/* fatal.c -- the runtime's panics: one line on stderr, then abort().
 *
 * Everything here is async-signal-safe: weft__fatal also runs in the
 * SIGSEGV handler on the alternate signal stack (sched/signals.c), where
 * stdio and vsnprintf (which may allocate, and takes locale locks) must not
 * be used. So the message is formatted on the stack by weft__vformat and
 * written with one write(2). Outside the handler it first flushes stdout,
 * if no other thread holds its lock, so that a piped program's earlier
 * output is not lost.
 */
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/internal.h"

typedef struct out {
  char *p, *end; /* end: the last byte, kept for the NUL */
} out;

static void put_char(out *o, char c) {
  if (o->p < o->end)
    *o->p++ = c;
}

static void put_str(out *o, const char *s) {
  for (s = s ? s : "(null)"; *s; s++)
    put_char(o, *s);
}

static void put_unsigned(out *o, unsigned long long v, unsigned base) {
  char tmp[24];
  int n = 0;
  do {
    tmp[n++] = "0123456789abcdef"[v % base];
    v /= base;
  } while (v);
  while (n)
    put_char(o, tmp[--n]);
}

static void put_signed(out *o, long long v) {
  if (v < 0) {
    put_char(o, '-');
    put_unsigned(o, 0ull - (unsigned long long)v, 10);
  } else {
    put_unsigned(o, (unsigned long long)v, 10);
  }
}

/* One conversion at *f (just past the '%'); returns the character after
 * it. Length: 0 int, 1 long, 2 long long, 3 size_t. */
static const char *convert(out *o, const char *f, va_list *ap) {
  int len = 0;
  if (*f == 'z') {
    len = 3;
    f++;
  }
  for (; *f == 'l' && len < 2; f++)
    len++;
  switch (*f) {
  case 's':
    put_str(o, va_arg(*ap, const char *));
    break;
  case 'd':
    put_signed(o, len == 0   ? va_arg(*ap, int)
                  : len == 1 ? va_arg(*ap, long)
                  : len == 2 ? va_arg(*ap, long long)
                             : (long long)va_arg(*ap, size_t));
    break;
  case 'u':
  case 'x':
    put_unsigned(o, len == 0   ? va_arg(*ap, unsigned)
                    : len == 1 ? va_arg(*ap, unsigned long)
                    : len == 2 ? va_arg(*ap, unsigned long long)
                               : va_arg(*ap, size_t),
                 *f == 'x' ? 16 : 10);
    break;
  case 'p':
    put_str(o, "0x");
    put_unsigned(o, (uintptr_t)va_arg(*ap, void *), 16);
    break;
  case '%':
    put_char(o, '%');
    break;
  default: /* unknown: shown as written, so the message says so */
    put_char(o, '%');
    if (*f == '\0')
      return f;
    put_char(o, *f);
  }
  return f + 1;
}

size_t weft__vformat(char *buf, size_t size, const char *fmt, va_list ap) {
  if (size == 0)
    return 0;
  out o = {buf, buf + size - 1};
  va_list copy;
  va_copy(copy, ap);
  while (*fmt) {
    if (*fmt != '%')
      put_char(&o, *fmt++);
    else
      fmt = convert(&o, fmt + 1, &copy);
  }
  va_end(copy);
  *o.p = '\0';
  return (size_t)(o.p - buf);
}

WEFT_INTERNAL volatile sig_atomic_t weft__fatal_in_signal;

void weft__flush_stdout(void) {
  /* Only if no other thread is inside stdout's lock: never wait for it. */
  if (!weft__fatal_in_signal && ftrylockfile(stdout) == 0) {
    fflush_unlocked(stdout);
    funlockfile(stdout);
  }
}

void weft__fatal(const char *fmt, ...) {
  /* A piped program's earlier output would be lost with the abort. */
  weft__flush_stdout();
  char buf[512];
  /* Race builds: a dying process reports no races in its own message (it
   * may be formatted on the shared alternate signal stack). */
  weft__race_ignore_begin();
  memcpy(buf, "weft: ", 6);
  va_list ap;
  va_start(ap, fmt);
  size_t len = 6 + weft__vformat(buf + 6, sizeof buf - 7, fmt, ap);
  va_end(ap);
  buf[len++] = '\n';
  ssize_t w = write(2, buf, len);
  (void)w;
  weft__det_report(2); /* a failing schedule can be replayed */
  abort();
}

void weft__assert_fail(const char *cond, const char *file, int line,
                       const char *func) {
  weft__fatal("internal error: %s:%d: %s: assertion `%s' failed", file, line,
              func, cond);
}
