/* deadlock.h -- what the deadlock detector (deadlock.c) needs from the rest
 * of debug/. Its hooks for the core (the blocked-thread counters, the
 * sysmon tick, the configuration) are in base/hooks.h. */
#ifndef WEFT_DEADLOCK_H
#define WEFT_DEADLOCK_H

#include "base/internal.h"

/* Runtime threads besides the Ps and sysmon: sigquit_leaks.c's SIGQUIT dump
 * thread (0 or 1; set once it exists, and it never exits but by _exit). */
extern WEFT_INTERNAL _Atomic int weft__diag_nthreads;

#endif
