/* group.c -- errgroup with SetLimit: the worker pool.
 *
 * slots is a semaphore of limit units (none when unlimited): go takes one
 * before it starts a task and the task gives it back when it returns, so go
 * blocks while limit tasks run. wg counts running tasks. err keeps the first
 * nonzero result (CAS from 0, acq_rel); the task that sets it cancels the
 * group's context with that result as the cause. A task's record is freed
 * when it ends, so a million tasks through a limit of 8 use constant memory.
 */
#include <errno.h>
#include <stdlib.h>

#include "wait/sema.h"

struct weft_group {
  weft_ctx *ctx;
  int limit;
  weft__sema slots;
  weft_waitgroup wg;
  _Atomic int err;
};

typedef struct task {
  weft_group *g;
  int (*fn)(weft_ctx *, void *);
  void *arg;
} task;

weft_group *weft_group_new(weft_ctx *parent, int limit) {
  weft_group *g = weft__rt_calloc(1, sizeof *g);
  if (g == NULL)
    return NULL;
  g->ctx = weft_ctx_with_cancel(parent ? parent : weft_ctx_background());
  if (g->ctx == NULL) {
    weft__rt_free(g);
    return NULL;
  }
  g->limit = limit;
  atomic_init(&g->slots.count, limit > 0 ? (uint32_t)limit : 0);
  return g;
}

weft_ctx *weft_group_ctx(weft_group *g) { return g->ctx; }

static void task_main(void *arg) {
  task *t = arg;
  weft_group *g = t->g;
  int rc = t->fn(g->ctx, t->arg);
  weft__rt_free(t);
  int none = 0;
  if (rc != 0 && weft__cas_acqrel(&g->err, &none, rc))
    weft_ctx_cancel_cause(g->ctx, rc);
  if (g->limit > 0)
    weft__sema_release(&g->slots, false);
  weft_wg_done(&g->wg);
}

int weft_group_go(weft_group *g, int (*fn)(weft_ctx *, void *), void *arg) {
  if (g == NULL || fn == NULL)
    return -EINVAL;
  if (g->limit > 0)
    weft__sema_acquire(&g->slots, 0, WEFT_FOREVER, "group.Go");
  task *t = weft__rt_malloc(sizeof *t);
  int rc = -ENOMEM;
  if (t) {
    *t = (task){g, fn, arg};
    weft_wg_add(&g->wg, 1);
    rc = weft_go(task_main, t);
    if (rc == 0)
      return 0;
    weft_wg_done(&g->wg);
    weft__rt_free(t);
  }
  if (g->limit > 0)
    weft__sema_release(&g->slots, false);
  return rc;
}

int weft_group_wait(weft_group *g) {
  weft_wg_wait(&g->wg);
  weft_ctx_cancel(g->ctx); /* as errgroup.Wait does */
  return weft__load_acquire(&g->err);
}

void weft_group_free(weft_group *g) {
  if (g == NULL)
    return;
  weft_ctx_unref(g->ctx);
  weft__rt_free(g);
}
