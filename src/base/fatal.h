/* fatal.h -- the runtime's panics: one line on stderr, then abort(). */
#ifndef WEFT_FATAL_H
#define WEFT_FATAL_H

#include <signal.h>
#include <stdarg.h>

#include "base/defs.h"

/* Prints "weft: <message>" to stderr and aborts: for the misuses that Go
 * turns into panics, and internal errors. Async-signal-safe: it formats
 * with weft__vformat (below), writes once with write(2), and runs in the
 * stack-overflow handler. */
WEFT_INTERNAL _Noreturn void weft__fatal(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));
/* Set by a fault handler before it calls weft__fatal: stdio is off limits
 * there. */
extern WEFT_INTERNAL volatile sig_atomic_t weft__fatal_in_signal;
/* Flushes stdout unless in a fault handler or another thread holds it: the
 * step every abort takes first. */
WEFT_INTERNAL void weft__flush_stdout(void);

/* A vsnprintf for the few conversions the runtime's messages use, safe in
 * a signal handler: %s %d %u %x %p %%, with l, ll and z (no widths or
 * flags). Writes at most size - 1 bytes and a NUL; returns the length
 * written. An unknown conversion is copied as it is. */
WEFT_INTERNAL size_t weft__vformat(char *buf, size_t size, const char *fmt,
                                   va_list ap);

#endif
