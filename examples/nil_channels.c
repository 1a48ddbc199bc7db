/*
 * nil_channels.c -- merging two channels with select, and switching a case
 * off once its channel is closed by setting it to NULL (Go's nil channel).
 *
 * The Go program this follows is
 *
 *     for a != nil || b != nil {
 *         select {
 *         case v, ok := <-a:
 *             if !ok { a = nil; continue }  // a is done: stop selecting it
 *             sum += v
 *         case v, ok := <-b:
 *             if !ok { b = nil; continue }
 *             sum += v
 *         }
 *     }
 *
 * Why the trick is needed: a closed channel is always ready to receive
 * from (it yields zero values forever). Leave a closed channel in the
 * select and, while the other channel is still busy, the select picks the
 * closed one again and again: the loop spins, receiving zeros. A nil
 * channel is never ready, so a case on it is simply never chosen. In weft
 * the nil channel is a NULL weft_chan *, and a weft_case whose chan is
 * NULL is skipped in the same way.
 *
 * Run: ./nil_channels
 */
#include <weft.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { NA = 5, NB = 8 };

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

/* a sends 1..5 at once; b sends 10, 20, .. 80 slowly, so a is closed (and
 * would be spinning, without the trick) while b still has values to come. */
static void produce_a(void *arg) {
  weft_chan *a = arg;
  for (int v = 1; v <= NA; v++) weft_send(a, &v);
  weft_close(a);
  weft_chan_unref(a);
}

static void produce_b(void *arg) {
  weft_chan *b = arg;
  for (int v = 10; v <= 10 * NB; v += 10) {
    weft_sleep(WEFT_MS);
    weft_send(b, &v);
  }
  weft_close(b);
  weft_chan_unref(b);
}

int main(void) {
  /* These two pointers own main's references: they are what we unref at
   * the end. The select works on copies, which it may set to NULL. */
  weft_chan *a_owned = make_chan(sizeof(int), 0);
  weft_chan *b_owned = make_chan(sizeof(int), 0);
  spawn(produce_a, weft_chan_ref(a_owned));
  spawn(produce_b, weft_chan_ref(b_owned));

  int va, vb, sum = 0, from_a = 0, from_b = 0, closes_seen = 0;
  weft_case cases[] = {WEFT_RECV(a_owned, &va), WEFT_RECV(b_owned, &vb)};

  /* The loop runs while either case can still fire. */
  while (cases[0].chan || cases[1].chan) {
    int i = weft_select(cases, 2);
    if (i < 0) {
      fprintf(stderr, "weft_select: %s\n", strerror(-i));
      return 1;
    }
    if (!cases[i].ok) {
      /* Closed and drained: switch this case off for good. */
      printf("%s closed: its case is now NULL\n", i == 0 ? "a" : "b");
      cases[i].chan = NULL;
      closes_seen++;
      continue;
    }
    int v = i == 0 ? va : vb;
    printf("got %2d from %s\n", v, i == 0 ? "a" : "b");
    sum += v;
    from_a += i == 0;
    from_b += i == 1;
  }

  /* 1+..+5 from a, 10+..+80 from b. Each close was seen exactly once: a
   * case that kept firing on its closed channel would push this above 2. */
  int want = NA * (NA + 1) / 2 + 10 * NB * (NB + 1) / 2;
  int ok = from_a == NA && from_b == NB && sum == want && closes_seen == 2;
  printf("%d values from a, %d from b, sum %d (expected %d), %d closes "
         "seen: %s\n", from_a, from_b, sum, want, closes_seen,
         ok ? "ok" : "WRONG");

  weft_chan_unref(a_owned);
  weft_chan_unref(b_owned);

  /* Both producers may still be between their close and their unref. */
  int64_t give_up = weft_now() + 5 * WEFT_SEC;
  while (weft_num_goroutines() > 0 && weft_now() < give_up)
    weft_sleep(WEFT_MS);
  return ok && weft_num_goroutines() == 0 ? 0 : 1;
}
