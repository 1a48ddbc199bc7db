/*
 * signal_channels.c -- a channel that carries no data, used only to
 * signal; and close as a broadcast that releases every waiter at once.
 *
 * The Go program this follows is
 *
 *     start := make(chan struct{})
 *     for i := 0; i < n; i++ {
 *         go func() { <-start; ... }()   // all block here
 *     }
 *     start <- struct{}{}  // a send is taken by ONE receiver
 *     close(start)         // a close releases ALL the others
 *
 * A chan struct{} has elements of size 0: it moves no bytes, only the
 * event. In weft that is weft_chan_make(0, 0), and the element pointers
 * passed to send and receive may be NULL.
 *
 * Why close broadcasts: a receive from a closed channel never blocks, so
 * every goroutine waiting on it, and every one that arrives later, goes
 * through. A send, on the other hand, is one value for one receiver.
 * That is why a "done" or "start" signal is sent by closing, and why it
 * can be given only once (a second close is a program error: weft aborts
 * with "close of closed channel", as Go panics).
 *
 * Run: ./signal_channels [N]     (default 100)
 */
#include <weft.h>

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* chan struct{}. main holds the only reference: it waits for every runner
 * (the WaitGroup) before dropping it, so the runners need none of their
 * own. */
static weft_chan *start;
static weft_waitgroup wg = WEFT_WAITGROUP_INIT;
static _Atomic int waiting;   /* goroutines about to block on start */
static _Atomic int by_send;   /* released by the one send */
static _Atomic int by_close;  /* released by the close */

static void runner(void *arg) {
  (void)arg;
  atomic_fetch_add(&waiting, 1);
  /* Blocks until someone sends on start or closes it. The result says
   * which: 1 = a value arrived, 0 = the channel is closed. */
  if (weft_recv(start, NULL) == 1)
    atomic_fetch_add(&by_send, 1);
  else
    atomic_fetch_add(&by_close, 1);
  weft_wg_done(&wg);
}

static int released(void) {
  return atomic_load(&by_send) + atomic_load(&by_close);
}

/* Sleep-polls until cond() holds, for at most 5 s. */
static int wait_until(int (*cond)(int), int arg) {
  int64_t give_up = weft_now() + 5 * WEFT_SEC;
  while (!cond(arg) && weft_now() < give_up) weft_sleep(WEFT_MS);
  return cond(arg);
}
static int all_waiting(int n) { return atomic_load(&waiting) == n; }
static int released_is(int n) { return released() == n; }

int main(int argc, char **argv) {
  int n = argc > 1 ? atoi(argv[1]) : 100;
  if (n < 2 || n > 100000) {
    fprintf(stderr, "usage: %s [N 2..100000]\n", argv[0]);
    return 2;
  }
  start = weft_chan_make(0, 0); /* element size 0, unbuffered */
  if (!start) return 1;

  for (int i = 0; i < n; i++) {
    weft_wg_add(&wg, 1);
    int rc = weft_go(runner, NULL);
    if (rc != 0) {
      fprintf(stderr, "weft_go: %s\n", strerror(-rc));
      return 1;
    }
  }
  /* Nobody can get past an open, empty channel: whatever the timing,
   * nothing is released yet. */
  int ok = wait_until(all_waiting, n) && released() == 0;
  printf("%d goroutines waiting on start, %d released: %s\n", n, released(),
         ok ? "ok" : "WRONG");

  /* A send is a signal to one. It returns once some receiver took it; the
   * rest stay blocked. */
  weft_send(start, NULL);
  int one = wait_until(released_is, 1);
  weft_sleep(5 * WEFT_MS); /* give any wrongly released goroutine time */
  one = one && released() == 1;
  printf("after one send:  %d released: %s\n", released(),
         one ? "ok" : "WRONG");

  /* A close is a broadcast: every blocked receiver wakes with 0. */
  weft_close(start);
  weft_wg_wait(&wg);
  int all = atomic_load(&by_send) == 1 && atomic_load(&by_close) == n - 1;
  printf("after close:     %d released (%d by the send, %d by the close): "
         "%s\n", released(), atomic_load(&by_send), atomic_load(&by_close),
         all ? "ok" : "WRONG");

  /* The signal stays given: a latecomer passes at once. */
  int late = weft_recv(start, NULL) == 0 && weft_recv(start, NULL) == 0;
  printf("late receives pass at once: %s\n",
         late ? "ok" : "WRONG");

  weft_chan_unref(start);
  return ok && one && all && late ? 0 : 1;
}
