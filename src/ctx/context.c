/* context.c -- Go's context package.
 *
 * A weft_ctx is reference counted. Creating a child gives the caller one
 * reference, and the child holds one on its parent, so ancestors outlive
 * descendants. Releasing the last reference cancels the context first (Go's
 * "call cancel to release resources"): it leaves its parent's child list,
 * stops its timer and frees its done channel.
 *
 * Cancel-capable contexts (with_cancel, with_deadline/timeout) have a lock,
 * a done channel (signal channel, closed on cancel), err and cause, and a
 * list of the cancel-capable children that registered with them. Value and
 * without_cancel contexts only point up: canceler is the nearest
 * cancel-capable ancestor (itself for cancel-capable ones, NULL when the
 * chain has none, as under background or without_cancel).
 *
 * Locking: no code holds two contexts' locks at once.
 * - lock guards err's transition, cause, children, afters, and each child's
 *   in_parent/sibling links (a child's links belong to its canceler's lock).
 * - Cancel sets err and closes done under the lock, detaches the children
 *   (taking a reference on each that is still alive), unlocks, then cancels
 *   them; a child whose count already reached zero is being released and
 *   cancels itself. So a tree of any size cancels without nested locks, and
 *   a deadline timer firing into a child cannot deadlock with its parent.
 * - err is written under lock with release and read with acquire, so a
 *   reader that sees the error also sees the closed done channel.
 * - A deadline is a heap timer; release waits for a running fire
 *   (weft__timer_del) before it frees.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "chan/chan.h"

enum kind { BACKGROUND, CANCEL, VALUE, WITHOUT_CANCEL };

struct weft_ctx_afterfunc {
  weft_ctx_afterfunc *next;     /* ctx->afters; ctx lock */
  void (*fn)(void *);
  void *arg;
  _Atomic int state;            /* PENDING -> STARTED | STOPPED, by CAS */
  _Atomic int refs;             /* the user's handle + the ctx's list */
};
enum { AF_PENDING, AF_STARTED, AF_STOPPED };

struct weft_ctx {
  _Atomic int32_t refs;
  enum kind kind;
  weft_ctx *parent;             /* a reference is held; immutable */
  weft_ctx *canceler;           /* see above; immutable */
  /* Cancel-capable contexts: */
  weft__spinlock lock;
  weft_chan *done;              /* immutable */
  _Atomic int err;              /* 0, -ECANCELED or -ETIMEDOUT */
  int cause;                    /* lock */
  weft_ctx *children;           /* lock */
  weft_ctx *sib_next, *sib_prev; /* canceler-parent's lock */
  bool in_parent;               /* canceler-parent's lock */
  weft_ctx *cancel_next;        /* a cancel's private list; the canceller */
  weft_ctx_afterfunc *afters;   /* lock */
  int64_t deadline;             /* immutable; WEFT_FOREVER if none */
  bool has_timer;               /* immutable */
  weft__timer timer;
  /* Value contexts: */
  const void *key;
  void *val;
};

static weft_ctx background = {.refs = 1, .kind = BACKGROUND,
                              .deadline = WEFT_FOREVER};

weft_ctx *weft_ctx_background(void) { return &background; }

static bool immortal(weft_ctx *c) { return c == &background; }

weft_ctx *weft_ctx_ref(weft_ctx *c) {
  if (c && !immortal(c))
    weft__add_relaxed(&c->refs, 1); /* the caller already holds one */
  return c;
}

/* A reference, unless the count already reached zero (being released). */
static bool try_ref(weft_ctx *c) {
  int32_t n = weft__load_relaxed(&c->refs);
  while (n > 0)
    if (weft__cas_acqrel(&c->refs, &n, n + 1))
      return true;
  return false;
}

static void run_afterfunc(void *arg);
static void afterfunc_unref(weft_ctx_afterfunc *af);

/* Cancels c alone: sets err, closes done, starts its AfterFuncs, leaves
 * its parent's list if remove. Returns its live children, each with a
 * reference taken, linked through cancel_next, for the caller to cancel.
 * from_timer: called by c's own timer, which must not wait for itself. */
static weft_ctx *cancel_one(weft_ctx *c, bool remove, int err, int cause,
                            bool from_timer) {
  weft_ctx *live = NULL;
  weft__spin_lock(&c->lock);
  if (weft__load_relaxed(&c->err)) {
    weft__spin_unlock(&c->lock);
  } else {
    c->cause = cause ? cause : err;
    weft__race_release(&c->err); /* cancel -> Err (Done: the close) */
    weft__store_release(&c->err, err); /* pairs with weft_ctx_err */
    weft__chan_close(c->done); /* lock held: no synchronization point */
    for (weft_ctx *ch = c->children; ch; ch = ch->sib_next) {
      ch->in_parent = false;
      if (try_ref(ch)) {
        ch->cancel_next = live;
        live = ch;
      }
    }
    c->children = NULL;
    weft_ctx_afterfunc *af = c->afters;
    c->afters = NULL;
    weft__spin_unlock(&c->lock);
    while (af) {
      weft_ctx_afterfunc *next = af->next;
      if (weft__go_queued(run_afterfunc, af) != 0)
        weft__fatal("out of memory starting an AfterFunc goroutine");
      af = next;
    }
  }
  if (c->has_timer && !from_timer)
    weft__timer_del(&c->timer);
  weft_ctx *p = c->parent ? c->parent->canceler : NULL;
  if (remove && p) {
    weft__spin_lock(&p->lock);
    if (c->in_parent) {
      if (c->sib_prev)
        c->sib_prev->sib_next = c->sib_next;
      else
        p->children = c->sib_next;
      if (c->sib_next)
        c->sib_next->sib_prev = c->sib_prev;
      c->in_parent = false;
    }
    weft__spin_unlock(&p->lock);
  }
  return live;
}

/* Cancels c (cancel-capable) and its subtree, breadth first with an
 * explicit list: a deep tree must not recurse on a goroutine's stack. */
static void cancel(weft_ctx *c, bool remove, int err, int cause,
                   bool from_timer) {
  weft_ctx *todo = cancel_one(c, remove, err, cause, from_timer);
  while (todo) {
    weft_ctx *x = todo;
    todo = x->cancel_next;
    weft_ctx *kids = cancel_one(x, false, err, cause, false);
    while (kids) {
      weft_ctx *k = kids;
      kids = k->cancel_next;
      k->cancel_next = todo;
      todo = k;
    }
    weft_ctx_unref(x);
  }
}

void weft_ctx_unref(weft_ctx *c) {
  /* A loop, not recursion: releasing a leaf may release a long chain. */
  while (c != NULL && !immortal(c)) {
    int32_t old = weft__add_acqrel(&c->refs, -1);
    if (old > 1)
      return;
    if (old <= 0)
      weft__fatal("weft_ctx_unref: context %p has no references left",
                  (void *)c);
    weft_ctx *parent = c->parent;
    if (c->kind == CANCEL) {
      cancel(c, true, -ECANCELED, 0, false);
      if (c->has_timer)
        weft__timer_del(&c->timer); /* waits out a running fire */
      weft_chan_unref(c->done);
    }
    weft__rt_free(c);
    c = parent;
  }
}

static weft_ctx *ctx_new(weft_ctx *parent, enum kind kind) {
  weft_ctx *c = weft__rt_calloc(1, sizeof *c);
  if (c == NULL)
    return NULL;
  atomic_init(&c->refs, 1);
  c->kind = kind;
  c->parent = weft_ctx_ref(parent);
  c->canceler = kind == WITHOUT_CANCEL ? NULL : parent->canceler;
  c->deadline = kind == WITHOUT_CANCEL ? WEFT_FOREVER : parent->deadline;
  c->timer.idx = -1;
  return c;
}

static bool on_deadline(weft__timer *t) {
  weft_ctx *c = (weft_ctx *)((char *)t - offsetof(weft_ctx, timer));
  cancel(c, true, -ETIMEDOUT, 0, true);
  return false;
}

/* A cancel-capable child of parent, registered with parent's canceler. */
static weft_ctx *cancel_ctx_new(weft_ctx *parent, int64_t deadline) {
  if (parent == NULL)
    return NULL;
  weft_ctx *c = ctx_new(parent, CANCEL);
  if (c == NULL)
    return NULL;
  c->done = weft_chan_make(0, 0);
  if (c->done == NULL) {
    weft_ctx_unref(c->parent);
    weft__rt_free(c);
    return NULL;
  }
  weft_ctx *p = parent->canceler;
  c->canceler = c;
  int perr = 0, pcause = 0;
  if (p) {
    weft__spin_lock(&p->lock);
    perr = weft__load_relaxed(&p->err);
    pcause = p->cause;
    if (perr == 0) {
      c->sib_next = p->children;
      c->sib_prev = NULL;
      if (p->children)
        p->children->sib_prev = c;
      p->children = c;
      c->in_parent = true;
    }
    weft__spin_unlock(&p->lock);
  }
  if (perr) {
    cancel(c, false, perr, pcause, false);
    return c;
  }
  if (deadline < c->deadline) {
    c->deadline = deadline;
    if (weft__past(deadline)) {
      cancel(c, true, -ETIMEDOUT, 0, false);
    } else {
      c->has_timer = true;
      c->timer.when = deadline;
      c->timer.fn = on_deadline;
      weft__timer_add_any(&c->timer);
    }
  }
  return c;
}

weft_ctx *weft_ctx_with_cancel(weft_ctx *parent) {
  return cancel_ctx_new(parent, WEFT_FOREVER);
}

weft_ctx *weft_ctx_with_deadline(weft_ctx *parent, int64_t deadline) {
  return cancel_ctx_new(parent, deadline);
}

weft_ctx *weft_ctx_with_timeout(weft_ctx *parent, int64_t ns) {
  int64_t now = weft_now();
  int64_t d = ns > WEFT_FOREVER - now ? WEFT_FOREVER : now + ns;
  return cancel_ctx_new(parent, d);
}

weft_ctx *weft_ctx_with_value(weft_ctx *parent, const void *key, void *val) {
  if (parent == NULL || key == NULL)
    return NULL;
  weft_ctx *c = ctx_new(parent, VALUE);
  if (c) {
    c->key = key;
    c->val = val;
  }
  return c;
}

weft_ctx *weft_ctx_without_cancel(weft_ctx *parent) {
  if (parent == NULL)
    return NULL;
  return ctx_new(parent, WITHOUT_CANCEL);
}

void weft_ctx_cancel_cause(weft_ctx *c, int cause) {
  weft__sched_point();
  if (c && c->kind == CANCEL)
    cancel(c, true, -ECANCELED, cause, false);
  weft__sched_point();
}

void weft_ctx_cancel(weft_ctx *c) { weft_ctx_cancel_cause(c, 0); }

weft_chan *weft_ctx_done(weft_ctx *c) {
  return c && c->canceler ? c->canceler->done : NULL;
}

int weft_ctx_err(weft_ctx *c) {
  /* acquire: pairs with cancel's release */
  int err = c && c->canceler ? weft__load_acquire(&c->canceler->err) : 0;
  if (err)
    weft__race_acquire(&c->canceler->err);
  return err;
}

int weft_ctx_cause(weft_ctx *c) {
  if (weft_ctx_err(c) == 0)
    return 0;
  weft_ctx *k = c->canceler;
  weft__spin_lock(&k->lock);
  int cause = k->cause;
  weft__spin_unlock(&k->lock);
  return cause;
}

int64_t weft_ctx_deadline(weft_ctx *c) { return c ? c->deadline : WEFT_FOREVER; }

void *weft_ctx_value(weft_ctx *c, const void *key) {
  for (; c; c = c->parent)
    if (c->kind == VALUE && c->key == key)
      return c->val;
  return NULL;
}

/* ---- AfterFunc ---------------------------------------------------------- */

static void afterfunc_unref(weft_ctx_afterfunc *af) {
  if (weft__add_acqrel(&af->refs, -1) == 1)
    weft__rt_free(af);
}

static void run_afterfunc(void *arg) {
  weft_ctx_afterfunc *af = arg;
  int expected = AF_PENDING;
  if (weft__cas_acqrel(&af->state, &expected, AF_STARTED)) {
    weft__race_acquire(af); /* weft_ctx_after_func happened before */
    af->fn(af->arg);
  }
  afterfunc_unref(af);
}

weft_ctx_afterfunc *weft_ctx_after_func(weft_ctx *c, void (*fn)(void *),
                                        void *arg) {
  if (c == NULL || fn == NULL)
    return NULL;
  weft_ctx_afterfunc *af = weft__rt_calloc(1, sizeof *af);
  if (af == NULL)
    return NULL;
  af->fn = fn;
  af->arg = arg;
  atomic_init(&af->refs, 2);
  weft__race_release(af); /* acquired by run_afterfunc */
  weft_ctx *k = c->canceler;
  if (k == NULL) { /* never done: fn never runs */
    atomic_init(&af->refs, 1);
    return af;
  }
  weft__spin_lock(&k->lock);
  bool done = weft__load_relaxed(&k->err) != 0;
  if (!done) {
    af->next = k->afters;
    k->afters = af;
  }
  weft__spin_unlock(&k->lock);
  if (done && weft__go_queued(run_afterfunc, af) != 0)
    weft__fatal("out of memory starting an AfterFunc goroutine");
  return af;
}

int weft_ctx_after_func_stop(weft_ctx_afterfunc *af) {
  if (af == NULL)
    return 0;
  int expected = AF_PENDING;
  int stopped = weft__cas_acqrel(&af->state, &expected, AF_STOPPED);
  /* A stopped entry may still sit in the ctx's list; the cancel that
   * meets it, or the ctx's release, drops the list's reference. */
  afterfunc_unref(af);
  return stopped;
}

/* ---- blocking calls that give up when a context is done ----------------- */

int weft_recv_ctx(weft_ctx *ctx, weft_chan *c, void *elem) {
  weft_case cs[2] = {WEFT_RECV(c, elem), WEFT_RECV(weft_ctx_done(ctx), NULL)};
  int i = weft_select(cs, 2);
  return i == 0 ? cs[0].ok : i == 1 ? weft_ctx_err(ctx) : i;
}

int weft_send_ctx(weft_ctx *ctx, weft_chan *c, const void *elem) {
  weft_case cs[2] = {WEFT_SEND(c, elem), WEFT_RECV(weft_ctx_done(ctx), NULL)};
  int i = weft_select(cs, 2);
  return i == 0 ? 0 : i == 1 ? weft_ctx_err(ctx) : i;
}

int weft_sleep_ctx(weft_ctx *ctx, int64_t ns) {
  int64_t now = weft_now();
  int64_t d = ns > WEFT_FOREVER - now ? WEFT_FOREVER : now + ns;
  weft_case cs[1] = {WEFT_RECV(weft_ctx_done(ctx), NULL)};
  int i = weft_select_dl(cs, 1, d);
  return i == -ETIMEDOUT ? 0 : weft_ctx_err(ctx);
}

int weft_select_ctx(weft_ctx *ctx, weft_case *cases, int n) {
  if (n < 0 || (n > 0 && cases == NULL))
    return -EINVAL;
  enum { STACK = 16 };
  weft_case buf[STACK];
  weft_case *cs =
      n < STACK ? buf : weft__rt_malloc((size_t)(n + 1) * sizeof *cs);
  if (cs == NULL)
    return -ENOMEM;
  memcpy(cs, cases, (size_t)n * sizeof *cs);
  cs[n] = WEFT_RECV(weft_ctx_done(ctx), NULL);
  int i = weft_select(cs, n + 1);
  if (i >= 0 && i < n)
    cases[i].ok = cs[i].ok;
  if (cs != buf)
    weft__rt_free(cs);
  return i == n ? weft_ctx_err(ctx) : i;
}
