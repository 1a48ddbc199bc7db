/* select.c -- Go's select (runtime/select.go), on the channel internals.
 *
 * 1. Validate; shuffle the cases (poll order) so that the choice among
 *    ready cases is uniformly random; sort the distinct channels by address
 *    (lock order) so that concurrent selects never deadlock.
 * 2. Lock every channel and try each case in poll order (the same try_*
 *    as the plain operations). The first that completes wins.
 * 3. None ready and a deadline already past: Go's default, -ETIMEDOUT.
 * 4. Otherwise queue one case waiter per case, all sharing one owner
 *    record, and park once with the deadline; the park hook unlocks every
 *    channel after the switch. The first partner to claim the owner wins;
 *    every other case waiter becomes unclaimable at that instant.
 * 5. Woken: relock everything and take our remaining case waiters off
 *    their queues (partners skip unclaimable ones meanwhile).
 * The same channel may appear in several cases: it is locked once.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "chan/chan.h"

#define STACK_CASES 8

typedef struct sel {
  weft_case *cs;
  int n;
  int *poll;          /* case indices in random order */
  weft_chan **locks;  /* distinct non-NULL channels by address */
  int nlocks;
  weft__waiter *ws;   /* one waiter per case */
} sel;

static void lock_all(const sel *s) {
  for (int i = 0; i < s->nlocks; i++)
    weft__spin_lock(&s->locks[i]->lock);
}

/* Also the park hook. *s lives on the parked goroutine's stack, which it
 * cannot leave (park's lock_all waits for locks[0]) before locks[0], the
 * last one here, is released; nothing of *s is read after that. */
static void unlock_all(void *arg) {
  const sel *s = arg;
  for (int i = s->nlocks - 1; i >= 0; i--)
    weft__spin_unlock(&s->locks[i]->lock);
}

static void shuffle(sel *s) {
  for (int i = 0; i < s->n; i++) {
    int j = (int)(weft__fastrand() % (uint64_t)(i + 1));
    s->poll[i] = s->poll[j];
    s->poll[j] = i;
  }
}

/* Insertion sort: selects are small, and it needs no comparator. */
static void sort_locks(sel *s) {
  s->nlocks = 0;
  for (int i = 0; i < s->n; i++) {
    weft_chan *c = s->cs[i].chan;
    weft__chan_check(c, "weft_select");
    if (c == NULL)
      continue;
    int j = s->nlocks;
    while (j > 0 && (uintptr_t)s->locks[j - 1] > (uintptr_t)c)
      j--;
    if (j > 0 && s->locks[j - 1] == c)
      continue; /* already listed */
    memmove(&s->locks[j + 1], &s->locks[j],
            (size_t)(s->nlocks - j) * sizeof *s->locks);
    s->locks[j] = c;
    s->nlocks++;
  }
}

/* Pass 2: every case is tried under all locks. Returns the index that ran,
 * with every lock dropped, or -1 with the locks still held. */
static int try_all(sel *s, int *rc) {
  for (int k = 0; k < s->n; k++) {
    int i = s->poll[k];
    weft_case *cs = &s->cs[i];
    if (cs->chan == NULL)
      continue;
    weft__waiter *wake;
    int done = cs->dir == WEFT_CASE_SEND
                   ? weft__chan_try_send(cs->chan, cs->elem, rc, &wake)
                   : weft__chan_try_recv(cs->chan, cs->elem, rc, &wake);
    if (done) {
      unlock_all(s);
      if (wake)
        weft__wake_claimed(wake);
      return i;
    }
  }
  return -1;
}

static int finish(weft_case *cs, int i, int rc) {
  if (cs[i].dir == WEFT_CASE_SEND)
    return rc < 0 ? rc : i; /* -EPIPE: a send on a closed channel */
  cs[i].ok = rc;
  return i;
}

/* The queue a case waits on. */
static weft__waitq *case_queue(weft_case *cs) {
  return cs->dir == WEFT_CASE_SEND ? &cs->chan->sendq : &cs->chan->recvq;
}

/* Passes 4 and 5. Returns the state of the owner record. */
static uint32_t park(sel *s, weft__waiter *owner, int64_t deadline) {
  weft__waiter_init(owner);
  /* Queue in poll order: when several cases wait on one channel, the one a
   * partner meets first is random too (Go queues in its lock order, which
   * is built from the poll order). */
  for (int k = 0; k < s->n; k++) {
    int i = s->poll[k];
    weft_case *cs = &s->cs[i];
    weft__waiter_init_case(&s->ws[i], owner, i, cs->elem);
    if (cs->chan)
      weft__waitq_push(case_queue(cs), &s->ws[i]);
  }
  weft__race_park(owner);
  uint32_t st = weft__wait(owner, unlock_all, s, deadline, "select");
  if (st != WEFT__TIMEDOUT)
    weft__race_unpark(owner);
  lock_all(s);
  for (int i = 0; i < s->n; i++)
    if (s->cs[i].chan)
      weft__waitq_unqueue(case_queue(&s->cs[i]), &s->ws[i]);
  unlock_all(s);
  return st;
}

static int run(sel *s, int64_t deadline) {
  shuffle(s);
  sort_locks(s);
  if (s->nlocks == 0) /* only nil channels: nothing can ever be ready */
    return weft__block_until(deadline, "select (no cases)");
  int rc = 0;
  lock_all(s);
  int i = try_all(s, &rc);
  if (i >= 0)
    return finish(s->cs, i, rc);
  if (weft__past(deadline)) {
    unlock_all(s);
    return -ETIMEDOUT;
  }
  weft__ensure_started();
  weft__waiter owner;
  if (park(s, &owner, deadline) == WEFT__TIMEDOUT)
    return -ETIMEDOUT;
  weft__waiter *fired = owner.fired;
  bool send = s->cs[fired->index].dir == WEFT_CASE_SEND;
  if (!send && !fired->success) /* woken by close */
    weft__race_acquire(&s->cs[fired->index].chan->closed);
  return finish(s->cs, fired->index, weft__chan_waited_rc(fired, send));
}

/* A select with n > 0 valid cases. */
static int select_n(weft_case *cs, int n, int64_t deadline) {
  int poll_buf[STACK_CASES];
  weft_chan *lock_buf[STACK_CASES];
  weft__waiter ws_buf[STACK_CASES];
  sel s = {cs, n, poll_buf, lock_buf, 0, ws_buf};
  void *heap = NULL;
  if (n > STACK_CASES) {
    size_t each = sizeof(int) + sizeof(weft_chan *) + sizeof(weft__waiter);
    heap = weft__rt_malloc((size_t)n * each);
    if (heap == NULL)
      return -ENOMEM;
    s.ws = heap;
    s.locks = (weft_chan **)(s.ws + n);
    s.poll = (int *)(s.locks + n);
  }
  /* As chan.c, each party reports its own side: every value to send is
   * read on entry (Go evaluates them all then), the chosen receive's is
   * written once it completed. */
  for (int i = 0; i < n; i++)
    if (cs[i].dir == WEFT_CASE_SEND && cs[i].chan)
      weft__race_read(cs[i].elem, cs[i].chan->elem_size);
  int rc = run(&s, deadline);
  weft__rt_free(heap);
  if (rc >= 0 && cs[rc].dir == WEFT_CASE_RECV)
    weft__race_write(cs[rc].elem, cs[rc].chan->elem_size);
  return rc;
}

int weft_select_dl(weft_case *cs, int n, int64_t deadline) {
  if (n < 0 || (n > 0 && cs == NULL))
    return -EINVAL;
  for (int i = 0; i < n; i++) {
    if (cs[i].dir != WEFT_CASE_SEND && cs[i].dir != WEFT_CASE_RECV)
      return -EINVAL;
    weft__chan_check(cs[i].chan, "weft_select");
    if (cs[i].dir == WEFT_CASE_SEND && cs[i].chan && cs[i].elem == NULL &&
        cs[i].chan->elem_size != 0)
      return -EINVAL; /* a send case with no value */
  }
  weft__sched_point();
  int rc;
  if (n == 0)
    rc = weft__block_until(deadline, "select (no cases)");
  else
    rc = select_n(cs, n, deadline);
  weft__sched_point();
  return rc;
}

int weft_select(weft_case *cs, int n) {
  return weft_select_dl(cs, n, WEFT_FOREVER);
}
