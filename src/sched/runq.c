/* runq.c -- per-P run queues and the global queue (Go's runqput, runqget,
 * runqgrab, runqsteal, globrunqput, globrunqget).
 *
 * Invariants (asserted in debug builds)
 * - 0 <= tail - head <= WEFT__RUNQ_SIZE for every ring, as the owner sees
 *   it (thieves only move head forward).
 * - gq_len is the length of the list gq_head..gq_tail; gq_tail is NULL
 *   exactly when gq_head is. Both under sched.lock.
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
 *
 * The global queue is a list under sched.lock, with gq_len written under
 * the lock and read relaxed as a hint (re-checked under the lock).
 * Nothing here calls back into sched.c: the one lock and its idle list are
 * shared, the functions are not.
 */
#include "sched/runq.h"

#define S weft__sched_g

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
    weft__assert(t - h <= WEFT__RUNQ_SIZE);
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
  weft__assert(t - h <= WEFT__RUNQ_SIZE);
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

/* ---- the global queue (sched.lock) -------------------------------------- */

static void glob_check_locked(void) {
  weft__assert((S.gq_head == NULL) == (S.gq_tail == NULL));
  weft__assert((S.gq_head == NULL) == (weft__load_relaxed(&S.gq_len) == 0));
}

void weft__globrunqput_batch(weft__g *head, weft__g *tail, int32_t n) {
  weft__sched_lock();
  glob_check_locked();
  tail->schedlink = NULL;
  if (S.gq_tail)
    S.gq_tail->schedlink = head;
  else
    S.gq_head = head;
  S.gq_tail = tail;
  weft__store_relaxed(&S.gq_len, S.gq_len + n); /* written under lock */
  weft__sched_unlock();
}

void weft__globrunqput(weft__g *g) { weft__globrunqput_batch(g, g, 1); }

/* Unlinks the head of the global queue; lock held, queue nonempty. */
static weft__g *glob_pop_locked(void) {
  weft__g *g = S.gq_head;
  weft__assert(g != NULL);
  S.gq_head = g->schedlink;
  if (S.gq_head == NULL)
    S.gq_tail = NULL;
  g->schedlink = NULL;
  weft__store_relaxed(&S.gq_len, S.gq_len - 1); /* written under lock */
  return g;
}

weft__g *weft__globrunqget_locked(weft__p *p, int32_t max) {
  glob_check_locked();
  int32_t len = weft__load_relaxed(&S.gq_len);
  if (len == 0)
    return NULL;
  int32_t n = len / S.nprocs + 1; /* a fair share (Go's globrunqget) */
  if (n > len)
    n = len;
  if (max > 0 && n > max)
    n = max;
  if (n > WEFT__RUNQ_SIZE / 2)
    n = WEFT__RUNQ_SIZE / 2;
  /* Never more than the ring has room for: a full ring spills to this very
   * queue, whose lock we hold (the ring need not be empty here: timers run
   * while stealing may have readied goroutines onto it). */
  int32_t room = WEFT__RUNQ_SIZE - weft__runq_len(p);
  if (n > room + 1)
    n = room + 1;
  weft__g *g = glob_pop_locked();
  for (int32_t i = 1; i < n; i++)
    weft__runq_put_tail(p, glob_pop_locked());
  return g;
}

weft__g *weft__globrunqget(weft__p *p, int32_t max) {
  if (weft__load_relaxed(&S.gq_len) == 0) /* hint; re-checked under lock */
    return NULL;
  weft__sched_lock();
  weft__g *g = weft__globrunqget_locked(p, max);
  weft__sched_unlock();
  return g;
}

/* ---- the deterministic mode's interface (debug/detsched.c) -------------- */

/* Candidates are numbered runnext first, then the ring from its head, then
 * the global queue from its head. The global queue only grows meanwhile
 * (plain threads append to its tail), so a number below the count stays
 * the same goroutine's, except that any number past the ring takes the
 * global queue's head. Moving the global queue into the ring first keeps a
 * pick among many queued goroutines (a plain thread may queue 100,000)
 * uniform at O(1) each. With one P there are no thieves: only the owner
 * changes runnext and the ring. */
uint32_t weft__runq_candidates(weft__p *p) {
  weft__sched_lock();
  int32_t room = WEFT__RUNQ_SIZE - weft__runq_len(p);
  while (room-- > 0 && S.gq_head != NULL)
    weft__runq_put_tail(p, glob_pop_locked()); /* never full: no spill */
  uint32_t n_glob = (uint32_t)weft__load_relaxed(&S.gq_len);
  weft__sched_unlock();
  uint32_t n_next = weft__load_relaxed(&p->runnext) != NULL;
  return n_next + (uint32_t)weft__runq_len(p) + n_glob;
}

weft__g *weft__runq_take(weft__p *p, uint32_t i) {
  if (weft__load_relaxed(&p->runnext) != NULL) {
    if (i == 0) /* exchange: pairs with runqput's release store */
      return atomic_exchange_explicit(&p->runnext, NULL, memory_order_acq_rel);
    i--;
  }
  uint32_t n_ring = (uint32_t)weft__runq_len(p);
  if (i >= n_ring) {
    weft__sched_lock();
    weft__g *g = S.gq_head ? glob_pop_locked() : NULL;
    weft__sched_unlock();
    return g;
  }
  if (i != 0) { /* swap the i-th with the head; the order of the rest is
                   no pick's business */
    uint32_t h = weft__load_relaxed(&p->runqhead); /* the only consumer */
    _Atomic(weft__g *) *a = &p->runq[h % WEFT__RUNQ_SIZE];
    _Atomic(weft__g *) *b = &p->runq[(h + i) % WEFT__RUNQ_SIZE];
    weft__g *x = weft__load_relaxed(a); /* owner's slots: relaxed */
    weft__store_relaxed(a, weft__load_relaxed(b));
    weft__store_relaxed(b, x);
  }
  return weft__runq_get(p);
}
