/* traceback.h -- backtraces of goroutine stacks and their symbols, for the
 * goroutine dump (dump.c). */
#ifndef WEFT_TRACEBACK_H
#define WEFT_TRACEBACK_H

#include <stdint.h>
#include <stdio.h>

#include "sched/runtime.h"

#define WEFT__TRACEBACK_MAX 64 /* frames shown per goroutine */

/* The return addresses of a goroutine that is switched out (runnable or
 * waiting), innermost first, read from its saved context. Returns how many
 * (at most max). Never faults, even if g resumes meanwhile: every read
 * stays inside g's stack (see traceback.c). */
WEFT_INTERNAL int weft__traceback_parked(const weft__g *g, uintptr_t *pcs,
                                         int max);
/* The same from a frame of the calling goroutine's own stack: fp is a frame
 * pointer of it, g its record. The first address is fp's return address. */
WEFT_INTERNAL int weft__traceback_self(const weft__g *g, uintptr_t fp,
                                       uintptr_t *pcs, int max);

/* The same inside explicit bounds [lo, hi) of some stack, from a frame
 * pointer fp of it (a plain thread's, blocked in weft: threadwait.c). */
WEFT_INTERNAL int weft__traceback_bounded(uintptr_t fp, uintptr_t lo,
                                          uintptr_t hi, uintptr_t *pcs,
                                          int max);

/* Describes pc (a return address: pc - 1 is looked up) as Go's traceback
 * does, in two lines: "<prefix>function+0xoff<suffix>\n" and
 * "\tmodule +0xoff\n". */
WEFT_INTERNAL void weft__print_pc(FILE *out, uintptr_t pc, const char *prefix,
                                  const char *suffix);
/* Whether pc lies in one of the runtime's own switching functions, which a
 * dump leaves out (they are the same in every parked goroutine). */
WEFT_INTERNAL int weft__pc_is_switch(uintptr_t pc);
/* The symbol of pc (a return address), or NULL if unknown. The string lives
 * in a cache until the next call (single caller: dump.c's lock). */
WEFT_INTERNAL const char *weft__pc_name(uintptr_t pc, uintptr_t *off);

/* dump.c: prints every goroutine but the caller's under the title
 * "weft: N goroutines <what>", if there is any; returns N. */
WEFT_INTERNAL size_t weft__dump_others(FILE *out, const char *what);

#endif
