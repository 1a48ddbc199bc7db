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
 * neither made nor lost" hold by construction, whatever the channels do.
 * So main checks what only the channels can make true: the monitor served
 * every request exactly once, each verdict reached the client that asked,
 * and the transfers the clients were told were done (each client keeps its
 * own books) account for every final balance, read through the channels.
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
static weft_chan *quit;  /* chan struct{}: closed to stop the monitor */
static weft_chan *stats; /* the monitor's count of what it served, at quit */

typedef struct monitor_stats {
  int writes, done; /* transfers served, and of those done */
} monitor_stats;

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

  monitor_stats served = {0, 0};
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
      served.writes++;
      served.done += done;
      weft_send(w.reply, &done);
      break;
    }
    default: /* quit is closed (or the select failed): report, stop */
      weft_send(stats, &served); /* room for one: does not wait */
      weft_chan_unref(reads);
      weft_chan_unref(writes);
      weft_chan_unref(quit);
      weft_chan_unref(stats);
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
 * them after the WaitGroup, which orders the accesses. moved is each
 * client's books: what its transfers that were done took out of (or put
 * into) each account, as far as the replies told it. */
static int accepted[CLIENTS], refused[CLIENTS], negative_seen[CLIENTS];
static int64_t moved[CLIENTS][ACCOUNTS];
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
    if (transfer(from, to, amount, reply_int)) {
      accepted[id]++;
      moved[id][from] -= amount;
      moved[id][to] += amount;
    } else {
      refused[id]++;
    }
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
  stats = make_chan(sizeof(monitor_stats), 1);
  weft_chan_ref(reads); /* the monitor's references */
  weft_chan_ref(writes);
  weft_chan_ref(quit);
  weft_chan_ref(stats);
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

  /* main asks like everybody else: it is a client too (a plain thread may
   * send and receive on channels just as a goroutine does). Each account
   * must hold its opening balance plus what the clients' books say their
   * done transfers moved: a request lost, run twice or garbled on its way,
   * or a verdict that reached the wrong client, would show here. */
  weft_chan *reply = make_chan(sizeof(int64_t), 1);
  int books_agree = 1;
  printf("final balances:");
  for (int a = 0; a < ACCOUNTS; a++) {
    int64_t b = balance_of(a, reply), want = OPENING_BALANCE;
    for (int i = 0; i < CLIENTS; i++) want += moved[i][a];
    printf(" %" PRId64, b);
    books_agree &= b == want;
  }
  printf("\n");
  weft_chan_unref(reply);
  printf("the clients' books account for every balance: %s\n",
         books_agree ? "ok" : "WRONG");
  ok &= books_agree;

  /* Stop the monitor: it answers with what it served. It saw each
   * transfer once, and did exactly those the clients were told it did. */
  weft_close(quit);
  monitor_stats served = {0, 0};
  weft_recv(stats, &served);
  int served_ok = served.writes == CLIENTS * TRANSFERS &&
                  served.done == total_accepted;
  printf("the monitor served %d transfers and did %d: %s\n", served.writes,
         served.done, served_ok ? "ok" : "WRONG");
  ok &= served_ok;

  /* And it returns. (Waiting is not what makes dropping our references
   * safe: its own references do that. A goroutine count read by polling
   * orders no memory accesses.) */
  int64_t give_up = weft_now() + 5 * WEFT_SEC;
  while (weft_num_goroutines() > 0 && weft_now() < give_up)
    weft_sleep(WEFT_MS);
  ok &= weft_num_goroutines() == 0;
  weft_chan_unref(reads);
  weft_chan_unref(writes);
  weft_chan_unref(quit);
  weft_chan_unref(stats);
  return ok ? 0 : 1;
}
