/* runq.h -- run queues (see runq.c). */
#ifndef WEFT_RUNQ_H
#define WEFT_RUNQ_H

#include "sched/runtime.h"

/* Owner only: append g; a full ring spills half of itself to the global
 * queue. */
WEFT_INTERNAL void weft__runq_put_tail(weft__p *p, weft__g *g);
/* Owner only: take from the head of the ring (not runnext). */
WEFT_INTERNAL weft__g *weft__runq_get(weft__p *p);
/* Owner only: Gs in the ring now (thieves may only make it shorter). */
WEFT_INTERNAL int32_t weft__runq_len(weft__p *p);
/* Any thread: whether the ring (not runnext) looks empty. */
WEFT_INTERNAL bool weft__runq_empty(weft__p *p);
/* p's owner: steal half of victim's ring (or its runnext, if take_next and
 * the ring is empty); returns one G to run, the rest land in p's ring. */
WEFT_INTERNAL weft__g *weft__runq_steal(weft__p *p, weft__p *victim,
                                        bool take_next);
/* Global queue: append g, or the linked batch head..tail of n Gs. */
WEFT_INTERNAL void weft__globrunqput(weft__g *g);
WEFT_INTERNAL void weft__globrunqput_batch(weft__g *head, weft__g *tail,
                                           int32_t n);
/* Global queue: a fair share for p: one G to run, and (up to max in all,
 * 0: no limit) more into p's ring; NULL when empty. _locked: sched.lock
 * held. */
WEFT_INTERNAL weft__g *weft__globrunqget(weft__p *p, int32_t max);
WEFT_INTERNAL weft__g *weft__globrunqget_locked(weft__p *p, int32_t max);

/* The deterministic mode's pick (p's owner, one P): how many goroutines
 * are runnable for p, and the i-th of them (i < that count), taken. */
WEFT_INTERNAL uint32_t weft__runq_candidates(weft__p *p);
WEFT_INTERNAL weft__g *weft__runq_take(weft__p *p, uint32_t i);

#endif
