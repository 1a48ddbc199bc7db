/* switch: the bare cost of one context switch (src/arch/arch.h), no scheduler.
 *
 * Two contexts on one OS thread (main's own stack and a coroutine on a
 * malloc'd 64 KiB stack) switch back and forth 10,000,000 times in all
 * (5,000,000 round trips) after a short warm-up. Prints nanoseconds per
 * switch. It has no Go twin; bench/run.sh prints its median on its own. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "arch/arch.h"

enum { SWITCHES = 10000000, WARMUP = 10000, STACK = 64 * 1024 };

static weft__ctx main_ctx, co_ctx;
static volatile uint64_t resumed; /* times the coroutine was resumed */

static void coroutine(void *arg) {
  (void)arg;
  for (;;) {
    resumed++;
    weft__ctx_switch(&co_ctx, &main_ctx);
  }
}

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int main(void) {
  void *stack = malloc(STACK);
  if (stack == NULL) {
    fprintf(stderr, "switch: out of memory\n");
    return 1;
  }
  weft__ctx_make(&co_ctx, stack, STACK, coroutine, NULL);
  for (int i = 0; i < WARMUP; i++)
    weft__ctx_switch(&main_ctx, &co_ctx);
  int64_t start = now_ns();
  for (int i = 0; i < SWITCHES / 2; i++)
    weft__ctx_switch(&main_ctx, &co_ctx);
  int64_t elapsed = now_ns() - start;
  if (resumed != (uint64_t)WARMUP + SWITCHES / 2) {
    fprintf(stderr, "switch: coroutine resumed %llu times, want %llu\n",
            (unsigned long long)resumed,
            (unsigned long long)WARMUP + SWITCHES / 2);
    return 1;
  }
  printf("switch %.2f ns\n", (double)elapsed / SWITCHES);
  free(stack); /* the coroutine is suspended for good; its stack is unused */
  return 0;
}
