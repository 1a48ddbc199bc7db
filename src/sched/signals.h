/* signals.h -- stack-overflow reporting. */
#ifndef WEFT_SIGNALS_H
#define WEFT_SIGNALS_H

#include <signal.h>

#include "sched/runtime.h"

/* Installs the SIGSEGV/SIGBUS handler (once, at start-up). */
WEFT_INTERNAL void weft__signals_init(void);
/* Gives the calling M thread an alternate signal stack: an overflowing
 * goroutine has no stack left to run a handler on. _exit takes it back
 * from a retiring thread. */
WEFT_INTERNAL void weft__signals_thread_init(weft__m *m);
WEFT_INTERNAL void weft__signals_thread_exit(weft__m *m);
/* Blocks, in the caller, every signal but the faults (which must reach the
 * stack-overflow handler) and SIGABRT, saving the old mask in *old: a
 * runtime thread created now inherits it, and never takes a signal meant
 * for the process. The caller restores *old after pthread_create. */
WEFT_INTERNAL void weft__signals_block_for_thread(sigset_t *old);

#endif
