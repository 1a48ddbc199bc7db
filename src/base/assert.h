/* assert.h -- internal assertions (mimalloc's mi_assert_internal, Go's
 * throw): an invariant written in a design comment, checked where it must
 * hold. Compiled in under WEFT_DEBUG_CHECKS (the clang debug-checks build
 * of scripts/check.sh runs the unit tests with them); elsewhere the
 * condition is type-checked and never evaluated.
 *
 * A failed assertion is weft's bug, not the user's: it aborts with
 * "weft: internal error: FILE:LINE: FUNC: assertion `COND' failed". The
 * user's misuse gets a negative errno or a message naming the call
 * (src/HACKING.md, "Errors").
 */
#ifndef WEFT_ASSERT_H
#define WEFT_ASSERT_H

#include "base/defs.h"

WEFT_INTERNAL _Noreturn void weft__assert_fail(const char *cond,
                                               const char *file, int line,
                                               const char *func);

#define weft__assert(cond)                                                  \
  ((!WEFT__CHECKS || weft__likely(cond))                                    \
       ? (void)0                                                            \
       : weft__assert_fail(#cond, __FILE__, __LINE__, __func__))

#endif
