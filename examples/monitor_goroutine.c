/*
 * monitor_goroutine.c -- shared state owned by one goroutine, reached only
 * through channels ("share memory by communicating").
 *
 * A bank of accounts. Only the monitor goroutine ever touches the balances:
 * they are local variables of its function, so no other code can even name
 * them. Clients send requests on a channel, each request carrying a
 * channel for the reply. The Go shape (as in Go by Example's "stateful
 * goroutines"):
 *
 *     type readOp  struct { account int; resp chan int64 }
 *     type writeOp struct { from, to int; amount int64; resp chan bool }
 *
 *     go func() {                       // the monitor
 *         var balance [8]int64
 *         for {
 *             select {
 *             case r := <-reads:  r.resp <- balance[r.account]
 *             case w := <-writes: ...; w.resp <- ok
 *             case <-quit:        return
 *             }
 *         }
 *     }()
 *
 * There is no mutex anywhere: requests are served one at a time, so each
 * transfer (check the balance, debit one account, credit another) happens
 * as a unit, and the invariants "no balance below zero" and "money is
 * neither made nor lost" hold by construction. That is what main checks
 * at the end, through the same channels.
 *
 * Run: ./monitor_goroutine
 */
#include <weft.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { ACCOUNTS = 8, CLIENTS = 8, TRANSFERS = 250 };
#define OPENING_BALANCE ((int64_t)1000)

typedef struct read_op {
  int account;
  weft_chan *reply; /* receives one int64_t: the balance */
} read_op;

typedef struct write_op {
  int from, to;
  int64_t amount;
  weft_chan *reply; /* receives one int: 1 = done, 0 = insufficient funds */
} write_op;

/* The request channels, made by main before any goroutine starts. The
 * clients use main's references (main waits for them on a WaitGroup before
 * dropping its own); the monitor, which main does not wait for that way,
 * holds references of its own. */
static weft_chan *reads, *writes;
static weft_chan *quit; /* chan struct{}: closed to stop the monitor */

static weft_chan *make_chan(size_t elem_size, size_t cap) {
  weft_chan *c = weft_chan_make(elem_size, cap);
  if (!c) {
    fprintf(stderr, "weft_chan_make: out of memory\n");
    exit(1);
  }
  return c;
}

/* ---- the monitor -------------------------------------------------------- */

static void monitor(void *arg) {
  (void)arg;
  int64_t balance[ACCOUNTS]; /* the shared state: owned, never shared */
  for (int i = 0; i < ACCOUNTS; i++) balance[i] = OPENING_BALANCE;

  read_op r;
  write_op w;
  weft_case cases[] = {WEFT_RECV(reads, &r), WEFT_RECV(writes, &w),
                       WEFT_RECV(quit, NULL)};
  for (;;) {
    switch (weft_select(cases, 3)) {
    case 0: { /* a read */
      int64_t b = balance[r.account];
      weft_send(r.reply, &b);
      break;
    }
    case 1: { /* a write: the whole transfer, with nobody in between */
      int done = balance[w.from] >= w.amount;
      if (done) {
        balance[w.from] -= w.amount;
        balance[w.to] += w.amount;
      }
      weft_send(w.reply, &done);
      break;
    }
    default: /* quit is closed (or the select failed): stop serving */
      weft_chan_unref(reads);
      weft_chan_unref(writes);
      weft_chan_unref(quit);
      return;
    }
  }
}

/* ---- the client side: the only way in ---------------------------------- */

/* A reply channel has room for one value, so the monitor never waits for a
 * slow client, and each client reuses its own for every request (Go code
 * often makes a new one per request; here that would be a malloc each). */
static int64_t balance_of(int account, weft_chan *reply) {
  read_op r = {account, reply};
  int64_t b;
  weft_send(reads, &r);
  weft_recv(reply, &b);
  return b;
}

static int transfer(int from, int to, int64_t amount, weft_chan *reply) {
  write_op w = {from, to, amount, reply};
  int done;
  weft_send(writes, &w);
  weft_recv(reply, &done);
  return done;
}

/* Results per client, each written by its own client only; main reads
 * them after the WaitGroup, which orders the accesses. */
static int accepted[CLIENTS], refused[CLIENTS], negative_seen[CLIENTS];
static weft_waitgroup clients_done = WEFT_WAITGROUP_INIT;

static void client(void *arg) {
  int id = (int)(intptr_t)arg;
  weft_chan *reply_i64 = make_chan(sizeof(int64_t), 1);
  weft_chan *reply_int = make_chan(sizeof(int), 1);
  /* A tiny deterministic random generator per client: rand() is not
   * thread-safe, and goroutines run on several threads. */
  uint32_t seed = 12345u + 7919u * (uint32_t)id;
  for (int i = 0; i < TRANSFERS; i++) {
    seed = seed * 1664525u + 1013904223u;
    int from = (int)(seed >> 8) % ACCOUNTS;
    int to = (from + 1 + (int)(seed >> 16) % (ACCOUNTS - 1)) % ACCOUNTS;
    int64_t amount = 1 + (int64_t)(seed >> 20) % 400;
    if (transfer(from, to, amount, reply_int))
      accepted[id]++;
    else
      refused[id]++;
    if (i % 10 == 0 && balance_of(from, reply_i64) < 0) negative_seen[id]++;
  }
  weft_chan_unref(reply_i64);
  weft_chan_unref(reply_int);
  weft_wg_done(&clients_done);
}

int main(void) {
  reads = make_chan(sizeof(read_op), 0);
  writes = make_chan(sizeof(write_op), 0);
  quit = make_chan(0, 0);
  weft_chan_ref(reads); /* the monitor's references */
  weft_chan_ref(writes);
  weft_chan_ref(quit);
  if (weft_go(monitor, NULL) != 0) return 1;

  for (int i = 0; i < CLIENTS; i++) {
    weft_wg_add(&clients_done, 1);
    int rc = weft_go(client, (void *)(intptr_t)i);
    if (rc != 0) {
      fprintf(stderr, "weft_go: %s\n", strerror(-rc));
      return 1;
    }
  }
  weft_wg_wait(&clients_done);

  int ok = 1, total_accepted = 0, total_refused = 0;
  for (int i = 0; i < CLIENTS; i++) {
    total_accepted += accepted[i];
    total_refused += refused[i];
    ok &= negative_seen[i] == 0;
  }
  printf("%d clients made %d transfers: %d done, %d refused for lack of "
         "funds\n", CLIENTS, CLIENTS * TRANSFERS, total_accepted,
         total_refused);
  ok &= total_accepted + total_refused == CLIENTS * TRANSFERS;

  /* main asks like everybody else: it is a client too (a plain thread may
   * send and receive on channels just as a goroutine does). */
  weft_chan *reply = make_chan(sizeof(int64_t), 1);
  int64_t sum = 0;
  printf("final balances:");
  for (int a = 0; a < ACCOUNTS; a++) {
    int64_t b = balance_of(a, reply);
    printf(" %" PRId64, b);
    ok &= b >= 0;
    sum += b;
  }
  printf("\n");
  weft_chan_unref(reply);

  int64_t want = ACCOUNTS * OPENING_BALANCE;
  printf("total %" PRId64 ", expected %" PRId64 " (no money made or lost), "
         "no balance below 0: %s\n", sum, want,
         ok && sum == want ? "ok" : "WRONG");
  ok &= sum == want;

  /* Stop the monitor, and check that it returns. (Waiting is not what
   * makes dropping our references safe: its own references do that. A
   * goroutine count read by polling orders no memory accesses.) */
  weft_close(quit);
  int64_t give_up = weft_now() + 5 * WEFT_SEC;
  while (weft_num_goroutines() > 0 && weft_now() < give_up)
    weft_sleep(WEFT_MS);
  ok &= weft_num_goroutines() == 0;
  weft_chan_unref(reads);
  weft_chan_unref(writes);
  weft_chan_unref(quit);
  return ok ? 0 : 1;
}
