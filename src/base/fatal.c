/* fatal.c -- the runtime's panics: one line on stderr, then abort(). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "debug/detsched.h"
#include "base/internal.h"
#include "debug/race.h"

void weft__fatal(const char *fmt, ...) {
  /* Format on the stack and write(2) once: this also runs in the SIGSEGV
   * handler on the alternate signal stack, where stdio must not be used. */
  char buf[512];
  /* Race builds: a dying process reports no races in its own message (it
   * may be formatted on the shared alternate signal stack). */
  weft__race_ignore_begin();
  memcpy(buf, "weft: ", 6);
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf + 6, sizeof buf - 7, fmt, ap);
  va_end(ap);
  size_t len = 6 + (n < 0 ? 0 : (size_t)n);
  if (len > sizeof buf - 2)
    len = sizeof buf - 2;
  buf[len++] = '\n';
  ssize_t w = write(2, buf, len);
  (void)w;
  weft__det_report(2); /* a failing schedule can be replayed */
  abort();
}
