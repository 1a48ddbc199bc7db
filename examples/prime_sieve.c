/*
 * prime_sieve.c -- the concurrent prime sieve: a chain of goroutines, one
 * per prime found so far, each filtering out the multiples of its prime.
 *
 * The Go program (from the Go tour and the language spec's early days):
 *
 *     func generate(ch chan<- int) {
 *         for i := 2; ; i++ { ch <- i }
 *     }
 *     func filter(in <-chan int, out chan<- int, prime int) {
 *         for { i := <-in; if i%prime != 0 { out <- i } }
 *     }
 *     func main() {
 *         ch := make(chan int)
 *         go generate(ch)
 *         for i := 0; i < n; i++ {
 *             prime := <-ch
 *             fmt.Println(prime)
 *             ch1 := make(chan int)
 *             go filter(ch, ch1, prime)
 *             ch = ch1
 *         }
 *     }
 *
 * Whatever reaches the end of the chain passed every filter, so it is not
 * a multiple of any smaller prime: it is the next prime, and it gets a
 * filter of its own. For n primes that is n goroutines, all alive at once.
 *
 * The Go version simply exits with the chain still running. Here every
 * stage also watches a `done` channel, so that main can take the whole
 * chain down cleanly and check that every goroutine has ended (the same
 * cancellation as in pipeline.c).
 *
 * Run: ./prime_sieve [-n N]     (default 100; N up to 20000)
 */
#include <weft.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

/* One stage of the chain. Each channel pointer is the stage's own
 * reference; the stage frees this struct when it ends. */
typedef struct stage {
  weft_chan *in;   /* NULL for the generator */
  weft_chan *out;  /* ours to close */
  weft_chan *done; /* closed by main to stop everything */
  long prime;      /* the filter's prime */
} stage;

/* Go's  select { case out <- v: return true; case <-done: return false } */
static bool send_or_done(weft_chan *out, long v, weft_chan *done) {
  weft_case cases[] = {WEFT_SEND(out, &v), WEFT_RECV(done, NULL)};
  return weft_select(cases, 2) == 0;
}

/* Closing our output lets the next stage's receive loop end even if it
 * was waiting for a value rather than sending one when done closed. */
static void stage_exit(stage *s) {
  weft_close(s->out);
  weft_chan_unref(s->out);
  weft_chan_unref(s->in);
  weft_chan_unref(s->done);
  free(s);
}

static void generate(void *arg) {
  stage *s = arg;
  for (long i = 2;; i++)
    if (!send_or_done(s->out, i, s->done)) break;
  stage_exit(s);
}

static void filter(void *arg) {
  stage *s = arg;
  long i;
  while (weft_recv(s->in, &i) == 1)
    if (i % s->prime != 0 && !send_or_done(s->out, i, s->done)) break;
  stage_exit(s);
}

/* Starts a stage that reads from in (taking over the caller's reference)
 * and returns its output, with one reference for the caller. */
static weft_chan *start(void (*body)(void *), weft_chan *in, long prime,
                        weft_chan *done) {
  stage *s = malloc(sizeof *s);
  if (!s) exit(1);
  weft_chan *out = make_chan(sizeof(long), 0);
  *s = (stage){in, weft_chan_ref(out), weft_chan_ref(done), prime};
  spawn(body, s);
  return out;
}

/* The first n primes by the sieve of Eratosthenes, the plain serial way,
 * to check the goroutines' answer. 250000 covers n = 20000 (the 20000th
 * prime is 224737). */
#define CHECK_LIMIT 250000
static long *serial_primes(int n) {
  char *composite = calloc(CHECK_LIMIT, 1);
  long *p = malloc((size_t)n * sizeof *p);
  if (!composite || !p) exit(1);
  int k = 0;
  for (long i = 2; i < CHECK_LIMIT && k < n; i++) {
    if (composite[i]) continue;
    p[k++] = i;
    for (long j = i * i; j < CHECK_LIMIT; j += i) composite[j] = 1;
  }
  free(composite);
  return p;
}

/* main, as goroutine 1 (WEFT_MAIN below): Go's main goroutine. */
static int sieve_main(int argc, char **argv) {
  int n = 100, opt;
  while ((opt = getopt(argc, argv, "n:h")) != -1) {
    if (opt == 'n' && (n = atoi(optarg)) >= 1 && n <= 20000) continue;
    fprintf(stderr, "usage: %s [-n N]   (N: 1..20000, default 100)\n",
            argv[0]);
    return opt == 'h' ? 0 : 2;
  }

  int baseline = weft_num_goroutines();
  int64_t t0 = weft_now();
  weft_chan *done = make_chan(0, 0);
  long *primes = malloc((size_t)n * sizeof *primes);
  if (!primes) return 1;

  weft_chan *ch = start(generate, NULL, 0, done);
  for (int i = 0; i < n; i++) {
    weft_recv(ch, &primes[i]);
    printf("%7ld%s", primes[i], i % 10 == 9 || i == n - 1 ? "\n" : "");
    /* ch1 := make(chan int); go filter(ch, ch1, prime); ch = ch1
     * The filter takes over our reference to ch. */
    ch = start(filter, ch, primes[i], done);
  }
  int alive = weft_num_goroutines() - baseline;
  int64_t t1 = weft_now();

  /* Take the chain down: every stage is blocked in a select on done, or
   * will be woken by its input closing. */
  weft_close(done);
  int64_t give_up = weft_now() + 10 * WEFT_SEC;
  while (weft_num_goroutines() > baseline && weft_now() < give_up)
    weft_sleep(WEFT_MS);
  int ended = weft_num_goroutines() == baseline;
  weft_chan_unref(ch);
  weft_chan_unref(done);

  /* Every prime against the serial sieve, and the two famous values. */
  long *want = serial_primes(n);
  int ok = 1;
  for (int i = 0; i < n; i++) ok &= primes[i] == want[i];
  if (n == 100) ok &= primes[99] == 541;
  if (n == 5000) ok &= primes[4999] == 48611;
  printf("prime #%d is %ld, expected %ld: %s\n", n, primes[n - 1],
         want[n - 1], ok ? "ok" : "WRONG");
  printf("%d goroutines in the chain (generator + %d filters), %.1f ms\n",
         alive, n, (t1 - t0) / 1e6);
  printf("after close(done), every stage ended: %s\n",
         ended ? "ok" : "WRONG");
  free(want);
  free(primes);
  return ok && ended ? 0 : 1;
}

WEFT_MAIN(sieve_main)
