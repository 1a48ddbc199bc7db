/* blocking_traffic.h -- the traffic that blocking-call tests run beside
 * their blocked goroutines (test_syscall.c, test_rawcall.c): a ticker that
 * sleeps TICK_NS at a time and a ping-pong pair, both until g_window_end,
 * counting ticks and round trips. Each goroutine marks g_wg done. */
#ifndef WEFT_BLOCKING_TRAFFIC_H
#define WEFT_BLOCKING_TRAFFIC_H

#include "weft_test.h"

#define TICK_NS (10 * WEFT_MS)

static weft_waitgroup g_wg = WEFT_WAITGROUP_INIT;
static atomic_int g_ticks, g_pings;
static int64_t g_window_end; /* set before any goroutine starts */

static void ticker(void *arg) {
  (void)arg;
  int64_t end = g_window_end;
  while (weft_now() < end) {
    weft_sleep(TICK_NS);
    atomic_fetch_add(&g_ticks, 1);
  }
  weft_wg_done(&g_wg);
}

typedef struct pair {
  weft_chan *ping, *pong;
} pair;

static void ponger(void *arg) {
  pair *pr = arg;
  int v;
  while (weft_recv(pr->ping, &v) == 1 && v >= 0)
    weft_send(pr->pong, &v);
  weft_wg_done(&g_wg);
}

static void pinger(void *arg) {
  pair *pr = arg;
  int64_t end = g_window_end;
  for (int i = 0; weft_now() < end; i++) {
    weft_send(pr->ping, &i);
    int v = -1;
    weft_recv(pr->pong, &v);
    WEFT_EXPECT(v == i, "pong %d for ping %d", v, i);
    atomic_fetch_add(&g_pings, 1);
  }
  int stop = -1;
  weft_send(pr->ping, &stop);
  weft_wg_done(&g_wg);
}

#endif
