/* detsched.c -- the deterministic schedule mode: one P, and every
 * scheduling choice drawn from one seeded generator, so that a seed names
 * one interleaving of the goroutines and replays it (the spirit of Go's
 * race mode, which randomizes its scheduler).
 *
 * What the mode changes (turned on by WEFT_SCHED_SEED or
 * weft_config.sched_seed; see weft.h)
 * - One P, whatever procs says: one OS thread runs every goroutine, so the
 *   only interleavings are the switches the scheduler chooses.
 * - local_pick (sched/sched.c) takes a uniformly random runnable goroutine
 *   among runnext, the P's ring and the global queue (weft__det_pick,
 *   through sched/runq.h's candidates and take) instead of
 *   runnext first, then the ring in FIFO order. It is the only way a G is
 *   picked: find_runnable and go_idle leave the global queue to it, or a
 *   goroutine that a plain thread queued just after a pick looked would
 *   run without a draw, and the run would depend on that timing.
 * - weft_go from a goroutine runs the child at once (work-first, the normal
 *   behaviour) or keeps running the parent, by a coin.
 * - At every synchronization point (weft__sched_point: the entry and exit
 *   of the public channel, select and sync calls and of the blocking
 *   context and timer calls, and the entry of weft_go) the running
 *   goroutine yields with probability 1/2.
 * - The mutex's starvation switch is a coin instead of a 1 ms clock test,
 *   and select's case order comes from the mode's generator too.
 *
 * What replays: given the same seed, program and inputs, goroutines that
 * interact only with each other run in the same order. Three things come
 * from outside the generator: timers and deadlines fire by the clock (as
 * do sleeps), plain threads (main included) run on their own and reach the
 * goroutines through the global queue when they start or wake one, and the
 * program's own sources of nondeterminism (its clock reads, its I/O). So a
 * replayable test starts one root goroutine from main, and the root starts
 * and waits for everything else.
 *
 * Ownership: det_state is drawn only by the one P's thread (in its
 * goroutines and in its scheduler loop), so it needs no synchronization.
 * det_seed and weft__det_on are written by start-up before the P's thread
 * is created (pthread_create orders those writes before it) and never
 * again.
 *
 * Taking a goroutine from the middle of the ring is the owner's business
 * only because there are no thieves: steal_once skips its own P, and
 * sysmon, which runs with one P too (the dump's clock, the deadlock
 * detector), only reads rings and helps stuck Ps only when there are two.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sched/runq.h"
#include "sched/runtime.h"


WEFT_INTERNAL _Atomic bool weft__det_on;
static uint64_t det_seed;
static uint64_t det_state; /* the P's thread only; see the header */

/* splitmix64's finalizer: every bit of z affects every bit of the result. */
static uint64_t mix(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

/* splitmix64: a counter through the finalizer. */
static uint64_t draw(void) {
  det_state += WEFT__GOLDEN64;
  return mix(det_state);
}

/* A draw in [0, n), n > 0. The modulo bias is below 2^-40 for any n the
 * scheduler uses, and irrelevant to what the mode promises. */
static uint64_t below(uint64_t n) { return draw() % n; }

void weft__det_start(uint64_t seed) {
  det_seed = seed;
  det_state = mix(seed);
  weft__store_relaxed(&weft__det_on, true); /* see base/hooks.h */
}

uint64_t weft__det_seed(void) {
  return weft__det_enabled() ? det_seed : 0;
}

uint64_t weft__det_rand(void) { return draw(); }

bool weft__det_coin(uint32_t one_in) {
  /* A plain thread (a mutex's waiter, say) is outside the replay, and must
   * not draw from the P's generator: it uses its own. */
  if (weft__curp() == NULL)
    return weft__fastrand() % one_in == 0;
  return below(one_in) == 0;
}

bool weft__det_parent_first(void) { return below(2) == 0; }

uint64_t weft__det_env_seed(void) {
  const char *env = getenv("WEFT_SCHED_SEED");
  if (env == NULL || *env == '\0')
    return 0;
  if (strcmp(env, "random") == 0) {
    uint64_t seed = mix((uint64_t)weft_now() ^ ((uint64_t)getpid() << 32));
    seed = seed ? seed : 1;
    fprintf(stderr, "weft: schedule seed %llu (replay: WEFT_SCHED_SEED=%llu)\n",
            (unsigned long long)seed, (unsigned long long)seed);
    return seed;
  }
  char *end;
  errno = 0;
  unsigned long long v = strtoull(env, &end, 10);
  if (*end != '\0' || errno != 0 || env[0] == '-') {
    fprintf(stderr, "weft: ignoring WEFT_SCHED_SEED=%s (want a number or "
            "\"random\")\n", env);
    return 0;
  }
  return v;
}

/* ---- synchronization points --------------------------------------------- */

void weft__det_point_slow(void) {
  weft__p *p = weft__curp();
  /* Plain threads run on their own; the scheduler loop has nothing to
   * yield; a timer callback runs in the middle of a switch and must never
   * switch (sched/timerheap.h). busy is written only by this P's thread: with
   * one P no other thread runs its timers. */
  if (p == NULL || p->cur == NULL || p->timers.busy)
    return;
  if (below(2) == 0)
    weft_yield();
}

/* ---- picking ------------------------------------------------------------ */

/* Through sched/'s narrow interface (runq.h): how many goroutines are
 * runnable for p, and take the i-th. */
weft__g *weft__det_pick(weft__p *p) {
  uint32_t n = weft__runq_candidates(p);
  return n ? weft__runq_take(p, (uint32_t)below(n)) : NULL;
}

/* ---- reporting ---------------------------------------------------------- */

/* Appends the decimal digits of v at s; returns the end. */
static char *put_u64(char *s, uint64_t v) {
  char tmp[20];
  int n = 0;
  do {
    tmp[n++] = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  while (n)
    *s++ = tmp[--n];
  return s;
}

static char *put_str(char *s, const char *str) {
  size_t n = strlen(str);
  memcpy(s, str, n);
  return s + n;
}

void weft__det_report(int fd) {
  if (!weft__det_enabled())
    return;
  char buf[128];
  char *s = put_str(buf, "weft: schedule seed ");
  s = put_u64(s, det_seed);
  s = put_str(s, " (replay: WEFT_SCHED_SEED=");
  s = put_u64(s, det_seed);
  s = put_str(s, ")\n");
  ssize_t w = write(fd, buf, (size_t)(s - buf));
  (void)w;
}
