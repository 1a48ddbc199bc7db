/* runq.c -- per-P run queues and the global queue (Go's runqput, runqget,
 * runqgrab, runqsteal, globrunqput, globrunqget).
 *
 * A P's runq is a bounded ring with one producer (the owner) and many
 * consumers (the owner and thieves).
 * - The owner writes a slot, then publishes it with a release store of tail;
 *   consumers load tail with acquire (pair) before reading slots.
 * - Consumers claim slots [head, head+n) with a CAS on head (acq_rel). A
 *   thief reads the slots before its CAS; the CAS fails if the owner or
 *   another thief claimed them first, so a stale read is never used.
 * - The owner only overwrites a slot after head has moved past it, which it
 *   observes with an acquire load of head (pairs with the consumers' CAS).
 * runnext holds at most one G and is taken by exchange.
 */
#include "sched/runq.h"

static uint32_t load_head(weft__p *p) {
  return weft__load_acquire(&p->runqhead); /* pairs with consumers' CAS */
}

/* Moves half of a full runq plus g to the global queue. */
static bool put_slow(weft__p *p, weft__g *g, uint32_t h, uint32_t t) {
  enum { N = WEFT__RUNQ_SIZE / 2 };
  weft__g *batch[N + 1];
  uint32_t n = (t - h) / 2;
  for (uint32_t i = 0; i < n; i++)
    batch[i] = weft__load_relaxed(&p->runq[(h + i) % WEFT__RUNQ_SIZE]);
  if (!weft__cas_acqrel(&p->runqhead, &h, h + n))
    return false;
  batch[n] = g;
  for (uint32_t i = 0; i < n; i++)
    batch[i]->schedlink = batch[i + 1];
  weft__globrunqput_batch(batch[0], g, (int32_t)n + 1);
  return true;
}

void weft__runq_put_tail(weft__p *p, weft__g *g) {
  for (;;) {
    uint32_t h = load_head(p);
    uint32_t t = weft__load_relaxed(&p->runqtail); /* owner's own field */
    if (t - h < WEFT__RUNQ_SIZE) {
      weft__store_relaxed(&p->runq[t % WEFT__RUNQ_SIZE], g);
      weft__store_release(&p->runqtail, t + 1); /* publish; see header */
      return;
    }
    if (put_slow(p, g, h, t))
      return;
  }
}

weft__g *weft__runq_get(weft__p *p) {
  for (;;) {
    uint32_t h = load_head(p);
    uint32_t t = weft__load_relaxed(&p->runqtail);
    if (t == h)
      return NULL;
    weft__g *g = weft__load_relaxed(&p->runq[h % WEFT__RUNQ_SIZE]);
    if (weft__cas_acqrel(&p->runqhead, &h, h + 1))
      return g;
  }
}

int32_t weft__runq_len(weft__p *p) {
  uint32_t h = load_head(p);
  uint32_t t = weft__load_relaxed(&p->runqtail); /* owner's own field */
  return (int32_t)(t - h);
}

bool weft__runq_empty(weft__p *p) {
  uint32_t h = load_head(p);
  uint32_t t = weft__load_acquire(&p->runqtail); /* pairs with put's store */
  return h == t;
}

/* Claims up to half of victim's runq into p's ring at p's tail (not yet
 * published). Returns how many. */
static uint32_t grab(weft__p *p, weft__p *victim, bool take_next) {
  uint32_t base = weft__load_relaxed(&p->runqtail);
  for (;;) {
    uint32_t h = load_head(victim);
    uint32_t t = weft__load_acquire(&victim->runqtail); /* pairs with put */
    uint32_t n = t - h;
    n -= n / 2;
    if (n == 0) {
      if (!take_next || base - load_head(p) >= WEFT__RUNQ_SIZE)
        return 0;
      weft__g *next = weft__load_relaxed(&victim->runnext);
      if (next == NULL)
        return 0;
      if (!atomic_compare_exchange_strong_explicit(
              &victim->runnext, &next, NULL, memory_order_acq_rel,
              memory_order_relaxed))
        continue;
      weft__store_relaxed(&p->runq[base % WEFT__RUNQ_SIZE], next);
      return 1;
    }
    if (n > WEFT__RUNQ_SIZE / 2)
      continue; /* head and tail read at different times; retry */
    /* The thief's ring is usually empty, but timers run while stealing may
     * have readied goroutines onto it: never take more than fits. */
    uint32_t room = WEFT__RUNQ_SIZE - (base - load_head(p));
    if (n > room)
      n = room;
    if (n == 0)
      return 0;
    for (uint32_t i = 0; i < n; i++) {
      weft__g *g = weft__load_relaxed(&victim->runq[(h + i) % WEFT__RUNQ_SIZE]);
      weft__store_relaxed(&p->runq[(base + i) % WEFT__RUNQ_SIZE], g);
    }
    if (weft__cas_acqrel(&victim->runqhead, &h, h + n))
      return n;
  }
}

weft__g *weft__runq_steal(weft__p *p, weft__p *victim, bool take_next) {
  uint32_t t = weft__load_relaxed(&p->runqtail);
  uint32_t n = grab(p, victim, take_next);
  if (n == 0)
    return NULL;
  n--;
  weft__g *g = weft__load_relaxed(&p->runq[(t + n) % WEFT__RUNQ_SIZE]);
  if (n > 0)
    weft__store_release(&p->runqtail, t + n); /* publish the rest */
  return g;
}
