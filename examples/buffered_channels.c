/*
 * buffered_channels.c -- a buffered channel as a queue, and as a counting
 * semaphore that limits how many goroutines do something at once.
 *
 * The Go programs this follows are
 *
 *     queue := make(chan string, 3)
 *     queue <- "one"; queue <- "two"; queue <- "three"  // nobody receiving
 *     close(queue)
 *     for s := range queue { fmt.Println(s) }           // still all there
 *
 *     sem := make(chan struct{}, limit)
 *     for i := 0; i < tasks; i++ {
 *         go func() {
 *             sem <- struct{}{}          // acquire: blocks while full
 *             defer func() { <-sem }()   // release
 *             work()
 *         }()
 *     }
 *
 * A send on a buffered channel waits only while the buffer is full, and a
 * receive only while it is empty. A queue uses the values; a semaphore
 * uses only the count: its elements have size 0 (chan struct{}), so the
 * buffer is just a number, and the capacity is the number of permits.
 *
 * Run: ./buffered_channels
 */
#include <weft.h>

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures;

static void check(int ok, const char *what) {
  printf("  %-56s %s\n", what, ok ? "ok" : "WRONG");
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

/* ---- a queue ------------------------------------------------------------ */

typedef struct word {
  char text[16];
} word;

static void queue(void) {
  printf("a queue of capacity 3:\n");
  weft_chan *q = make_chan(sizeof(word), 3);
  const char *in[] = {"one", "two", "three"};

  /* No goroutine is receiving, yet none of these sends blocks: each value
   * waits in the buffer. (On an unbuffered channel the first send would
   * block main forever.) */
  for (int i = 0; i < 3; i++) {
    word w = {{0}};
    strcpy(w.text, in[i]);
    weft_send(q, &w);
  }
  printf("  len %zu, cap %zu\n", weft_chan_len(q), weft_chan_cap(q));
  check(weft_chan_len(q) == 3 && weft_chan_cap(q) == 3, "3 values queued");

  /* A fourth send would block until someone receives. A deadline already
   * in the past makes it non-blocking instead: Go's
   *     select { case q <- w: default: // full }                          */
  word extra = {"four"};
  check(weft_send_dl(q, &extra, 0) == -ETIMEDOUT,
        "a fourth send would block: -ETIMEDOUT");

  /* Closing does not discard what is buffered: receivers get every value
   * first, then 0 ("closed and drained"). */
  weft_close(q);
  word w;
  int n = 0, in_order = 1;
  printf("  after close:");
  while (weft_recv(q, &w) == 1) {
    printf(" %s", w.text);
    in_order &= n < 3 && strcmp(w.text, in[n]) == 0;
    n++;
  }
  printf("\n");
  check(n == 3 && in_order, "all 3 received in order, first in first out");
  weft_chan_unref(q);
}

/* ---- a counting semaphore ---------------------------------------------- */

enum { TASKS = 20, LIMIT = 3 };

static weft_chan *sem; /* chan struct{} with LIMIT permits */
static weft_waitgroup wg = WEFT_WAITGROUP_INIT;
static _Atomic int active;   /* tasks inside the limited section now */
static _Atomic int max_seen; /* the most there ever were at once */
static _Atomic int finished;

static void note_max(int now) {
  int seen = atomic_load(&max_seen);
  /* Raise max_seen to now unless another task raised it further. */
  while (now > seen && !atomic_compare_exchange_weak(&max_seen, &seen, now)) {
  }
}

static void task(void *arg) {
  (void)arg;
  weft_send(sem, NULL); /* acquire: waits while LIMIT tasks hold permits */

  note_max(atomic_fetch_add(&active, 1) + 1);
  /* The limited work: something that must not run more than LIMIT times
   * at once (connections to a server, open files, big buffers). A sleep
   * keeps each task inside long enough for the others to pile up. */
  weft_sleep(2 * WEFT_MS);
  atomic_fetch_sub(&active, 1);
  atomic_fetch_add(&finished, 1);

  weft_recv(sem, NULL); /* release: frees a permit, wakes one waiter */
  weft_wg_done(&wg);
}

static void semaphore(void) {
  printf("a semaphore: %d tasks, at most %d at once:\n", TASKS, LIMIT);
  /* Element size 0, capacity LIMIT: each buffered "value" is a permit
   * taken. weft_send and weft_recv accept NULL for the element then. */
  sem = make_chan(0, LIMIT);
  int64_t t0 = weft_now();
  for (int i = 0; i < TASKS; i++) {
    weft_wg_add(&wg, 1);
    int rc = weft_go(task, NULL);
    if (rc != 0) {
      fprintf(stderr, "weft_go: %s\n", strerror(-rc));
      exit(1);
    }
  }
  weft_wg_wait(&wg);
  int64_t ms = (weft_now() - t0) / WEFT_MS;

  printf("  most tasks at once: %d; took %lld ms (%d rounds of 2 ms)\n",
         atomic_load(&max_seen), (long long)ms, (TASKS + LIMIT - 1) / LIMIT);
  check(atomic_load(&finished) == TASKS, "every task ran");
  check(atomic_load(&max_seen) >= 1 && atomic_load(&max_seen) <= LIMIT,
        "never more than 3 at once");
  check(weft_chan_len(sem) == 0, "every permit was given back");
  weft_chan_unref(sem);
}

int main(void) {
  queue();
  semaphore();
  if (failures) {
    printf("%d check(s) failed\n", failures);
    return 1;
  }
  printf("buffered channels ok\n");
  return 0;
}
