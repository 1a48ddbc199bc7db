/*
 * channels.c -- send, receive, channel directions, and ranging over a
 * channel until it is closed.
 *
 * The Go programs this follows are
 *
 *     messages := make(chan string)
 *     go func() { messages <- "ping" }()
 *     msg := <-messages
 *
 *     func ping(pings chan<- string, msg string) { pings <- msg }
 *     func pong(pings <-chan string, pongs chan<- string) { pongs <- <-pings }
 *
 *     go func() { for i := 1; i <= 10; i++ { ch <- i }; close(ch) }()
 *     for v := range ch { sum += v }
 *
 * Two things differ in C. A weft channel carries values of one fixed size,
 * copied in and out by value, so a "chan string" becomes a channel of a
 * small struct holding a char array. And C has no garbage collector, so a
 * channel is reference counted: whoever may still touch a channel holds a
 * reference (weft_chan_ref) and drops it when done (weft_chan_unref).
 *
 * Run: ./channels
 */
#include <weft.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A "string" that fits in a channel element: copied whole on every send. */
typedef struct message {
  char text[32];
} message;

static int failures;

static void check(int ok, const char *what) {
  printf("  %-58s %s\n", what, ok ? "ok" : "WRONG");
  if (!ok) failures++;
}

static weft_chan *make_chan(size_t elem_size, size_t cap) {
  weft_chan *c = weft_chan_make(elem_size, cap);
  if (!c) {
    fprintf(stderr, "weft_chan_make: out of memory\n");
    exit(1);
  }
  return c;
}

static void spawn(void (*fn)(void *), void *arg) {
  int rc = weft_go(fn, arg);
  if (rc != 0) {
    fprintf(stderr, "weft_go: %s\n", strerror(-rc));
    exit(1);
  }
}

/* ---- 1. send and receive ----------------------------------------------- */

/* A plain, non-atomic variable. The goroutine writes it before its send and
 * main reads it after its receive: the channel orders the two (the send
 * happens before the receive completes), exactly as Go's memory model says,
 * so this is not a data race. */
static uint64_t sender_goid;

/* The channel pointer itself is the argument: weft_chan_ref(c) returns c,
 * so "give the goroutine its own reference" is one expression. */
static void say_ping(void *arg) {
  weft_chan *messages = arg;
  message m = {"ping"};
  sender_goid = weft_goid();
  /* Unbuffered: this waits until main has taken the value. */
  weft_send(messages, &m);
  weft_chan_unref(messages); /* done with it: drop our reference */
}

static void send_and_receive(void) {
  printf("send and receive:\n");
  weft_chan *messages = make_chan(sizeof(message), 0);
  spawn(say_ping, weft_chan_ref(messages));

  /* main is a plain thread: the receive blocks it on a futex until the
   * goroutine sends. Inside a goroutine it would park only the goroutine. */
  message m;
  int got = weft_recv(messages, &m);
  printf("  main received \"%s\" from goroutine %" PRIu64 "\n", m.text,
         sender_goid);
  check(got == 1 && strcmp(m.text, "ping") == 0, "received \"ping\"");
  check(sender_goid != 0, "the write before the send is visible after it");
  weft_chan_unref(messages);
}

/* ---- 2. directions ------------------------------------------------------ */

/* Go writes chan<- T (send only) and <-chan T (receive only) and the
 * compiler enforces them. C has no such types, so wrap the pointer in two
 * distinct structs: passing a receive-only end where a send-only end is
 * expected is then a compile error, and only these two helpers look
 * inside. A wrapper costs nothing: it is a pointer passed by value. */
typedef struct { weft_chan *c; } chan_send_only; /* chan<- message */
typedef struct { weft_chan *c; } chan_recv_only; /* <-chan message */

static int send_msg(chan_send_only ch, const message *m) {
  return weft_send(ch.c, m);
}
static int recv_msg(chan_recv_only ch, message *m) {
  return weft_recv(ch.c, m);
}

/* ping only sends. Its argument is the channel it may send on. */
static void ping(void *arg) {
  chan_send_only pings = {arg};
  message m = {"passed message"};
  send_msg(pings, &m);
  weft_chan_unref(pings.c);
}

/* pong receives on one channel and sends on another: two ends, so its
 * argument is a struct (heap-allocated: pong may outlive the caller's
 * stack frame, and frees it itself). */
typedef struct pong_args {
  chan_recv_only pings;
  chan_send_only pongs;
} pong_args;

static void pong(void *arg) {
  pong_args a = *(pong_args *)arg;
  free(arg);
  message m;
  recv_msg(a.pings, &m);
  send_msg(a.pongs, &m);
  weft_chan_unref(a.pings.c);
  weft_chan_unref(a.pongs.c);
}

static void directions(void) {
  printf("directions:\n");
  weft_chan *pings = make_chan(sizeof(message), 0);
  weft_chan *pongs = make_chan(sizeof(message), 0);

  pong_args *a = malloc(sizeof *a);
  if (!a) exit(1);
  a->pings = (chan_recv_only){weft_chan_ref(pings)};
  a->pongs = (chan_send_only){weft_chan_ref(pongs)};
  spawn(pong, a);
  spawn(ping, weft_chan_ref(pings));

  message m;
  recv_msg((chan_recv_only){pongs}, &m);
  printf("  ping -> pong -> main: \"%s\"\n", m.text);
  check(strcmp(m.text, "passed message") == 0, "the message went round");
  weft_chan_unref(pings);
  weft_chan_unref(pongs);
}

/* ---- 3. range over a channel until closed ------------------------------ */

enum { COUNT = 10 };

/* The sender closes, never the receiver: closing says "no more values",
 * and only the sender knows that. */
static void produce(void *arg) {
  weft_chan *ch = arg;
  for (int i = 1; i <= COUNT; i++) weft_send(ch, &i);
  weft_close(ch);
  weft_chan_unref(ch);
}

static void range_until_closed(void) {
  printf("range until closed:\n");
  /* A small buffer: the producer may run up to 3 values ahead. Ranging
   * works the same on an unbuffered channel. */
  weft_chan *ch = make_chan(sizeof(int), 3);
  spawn(produce, weft_chan_ref(ch));

  /* Go's `for v := range ch`: weft_recv returns 1 for each value and 0
   * once the channel is closed AND drained (values buffered before the
   * close are still delivered). */
  int v, n = 0, sum = 0;
  while (weft_recv(ch, &v) == 1) {
    n++;
    sum += v;
  }
  printf("  received %d values, sum %d\n", n, sum);
  check(n == COUNT && sum == COUNT * (COUNT + 1) / 2, "got 1..10 in full");

  /* A closed channel stays closed: receives return 0 at once with the
   * element zeroed (Go's v, ok := <-ch gives 0, false), and a send returns
   * -EPIPE where Go would panic. */
  v = 42;
  check(weft_recv(ch, &v) == 0 && v == 0, "receive after close: 0, zeroed");
  check(weft_send(ch, &v) == -EPIPE, "send after close: -EPIPE");
  weft_chan_unref(ch);
}

/* Returning from main ends the process, goroutines and all, as in Go. The
 * goroutines above may still be between their last send and their unref;
 * wait for them (weft_num_goroutines counts those not yet returned), so
 * every reference is dropped and a leak checker finds nothing. */
static void wait_for_goroutines(void) {
  printf("cleanup:\n");
  int64_t give_up = weft_now() + 5 * WEFT_SEC;
  while (weft_num_goroutines() > 0 && weft_now() < give_up)
    weft_sleep(WEFT_MS);
  check(weft_num_goroutines() == 0, "every goroutine returned");
}

int main(void) {
  send_and_receive();
  directions();
  range_until_closed();
  wait_for_goroutines();
  if (failures) {
    printf("%d check(s) failed\n", failures);
    return 1;
  }
  printf("all channel checks passed\n");
  return 0;
}
