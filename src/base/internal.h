/* internal.h -- the base layer in one include: what every file of the
 * runtime uses (defs, atomics, spinlocks and the lock order, fatal errors,
 * assertions, the allocation convention and the hooks into debug/).
 * futex.h and sanitizer.h are included only where needed. */
#ifndef WEFT_INTERNAL_H
#define WEFT_INTERNAL_H

#include "base/assert.h"
#include "base/atomic.h"
#include "base/defs.h"
#include "base/fatal.h"
#include "base/hooks.h"
#include "base/mem.h"
#include "base/rand.h"
#include "base/spinlock.h"

#endif
