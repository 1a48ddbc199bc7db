/* signals.h -- stack-overflow reporting. */
#ifndef WEFT_SIGNALS_H
#define WEFT_SIGNALS_H

#include "sched/runtime.h"

/* Installs the SIGSEGV/SIGBUS handler (once, at start-up). */
WEFT_INTERNAL void weft__signals_init(void);
/* Gives the calling P thread an alternate signal stack: an overflowing
 * goroutine has no stack left to run a handler on. */
WEFT_INTERNAL void weft__signals_thread_init(weft__p *p);

#endif
