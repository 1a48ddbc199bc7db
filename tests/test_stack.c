/* test_stack.c -- stack overflow detection. A goroutine that recurses without
 * bound must hit the guard below its stack and abort the process with
 * "weft: goroutine N stack overflow" (N its id), never run into a neighbour's
 * memory. Each case runs in a child process: with the default guard
 * (MADV_GUARD_INSTALL where the kernel has it), with the mprotect fallback
 * forced by WEFT_STACK_GUARD=mprotect, and with small and large stacks.
 *
 * Sanitizers: the runtime installs its SIGSEGV handler on an alternate signal
 * stack after the sanitizer's, so its message is expected under ASan and
 * TSan as well; the tests are not compiled out there. */
#include <stdio.h>

#include "weft_test.h"

static volatile int g_limit = 1 << 30; /* never reached; defeats -Winfinite */
static volatile int g_sink;

/* Non-tail recursion with a real frame the optimizer must keep. */
__attribute__((noinline)) static int recurse(int depth) {
  volatile char frame[600];
  frame[0] = (char)depth;
  frame[sizeof frame - 1] = (char)(depth >> 3);
  if (depth >= g_limit)
    return frame[0];
  return recurse(depth + 1) + frame[0] + frame[sizeof frame - 1];
}

static void overflow(void *arg) {
  (void)arg;
  /* Tell the parent our id so that it can check the whole message. */
  fprintf(stderr, "goid=%llu\n", (unsigned long long)weft_goid());
  fflush(stderr);
  g_sink = recurse(0);
  fprintf(stderr, "recursion returned\n");
}

/* One frame of 200 KiB on a 64 KiB stack, past the whole guard region:
 * -fstack-clash-protection (the build's flag, and weft.pc's) touches it
 * page by page from the top, so the first touch below the stack faults in
 * the guard. */
static volatile char *volatile g_frame; /* the frame escapes: it is real */

__attribute__((noinline)) static int big_frame(void) {
  volatile char frame[200 * 1024];
  g_frame = frame;
  frame[0] = 1;
  frame[sizeof frame - 1] = 2;
  return frame[0] + frame[sizeof frame - 1];
}

static void big(void *arg) {
  (void)arg;
  fprintf(stderr, "goid=%llu\n", (unsigned long long)weft_goid());
  fflush(stderr);
  g_sink = big_frame();
  fprintf(stderr, "recursion returned\n"); /* the frame fit: wrong */
}

static void (*g_body)(void *) = overflow;

static void overflow_with(size_t stack_size) {
  weft_go_options o = {stack_size, "overflow"};
  int rc = weft_go_opts(g_body, NULL, &o);
  if (rc != 0) {
    fprintf(stderr, "weft_go_opts returned %d\n", rc);
    _exit(3);
  }
  weft_sleep(60 * WEFT_SEC); /* the overflow aborts long before */
  fprintf(stderr, "no abort\n");
}

static void child_default(void) { overflow_with(0); }
static void child_min(void) { overflow_with(WEFT_STACK_MIN); }
static void child_large(void) { overflow_with(4 * 1024 * 1024); }

static void child_mprotect(void) {
  /* Before any weft call: the guard mechanism is chosen at start-up. */
  setenv("WEFT_STACK_GUARD", "mprotect", 1);
  overflow_with(0);
}

static void child_big_frame(void) {
  g_body = big;
  overflow_with(WEFT_STACK_DEFAULT);
}

static void child_big_frame_mprotect(void) {
  setenv("WEFT_STACK_GUARD", "mprotect", 1);
  child_big_frame();
}

static weft_waitgroup g_gate = WEFT_WAITGROUP_INIT;
static void parked(void *arg) {
  (void)arg;
  weft_wg_wait(&g_gate);
}

/* Neighbouring stacks of the same size class are in use (their goroutines
 * parked) when the overflowing goroutine runs off the end of its own. */
static int count_vmas(void) {
  FILE *f = fopen("/proc/self/maps", "r");
  if (f == NULL)
    return -1;
  int n = 0, c;
  while ((c = fgetc(f)) != EOF)
    n += c == '\n';
  fclose(f);
  return n;
}

static void overflow_among_neighbours(void) {
  weft_procs(2);
  weft_wg_add(&g_gate, 1);
  if (weft_go(parked, NULL) != 0) /* start the runtime */
    _exit(4);
  weft_sleep(10 * WEFT_MS);
  int before = count_vmas();
  for (int i = 0; i < 100; i++)
    if (weft_go(parked, NULL) != 0)
      _exit(4);
  weft_sleep(10 * WEFT_MS);
  /* The parent checks this: mprotect guards split a VMA per stack. */
  fprintf(stderr, "vmas+=%d\n", count_vmas() - before);
  overflow_with(0);
}

static void child_neighbours(void) { overflow_among_neighbours(); }
static void child_neighbours_mprotect(void) {
  setenv("WEFT_STACK_GUARD", "mprotect", 1);
  overflow_among_neighbours();
}

static void expect_overflow(void (*child)(void), char *buf, size_t len) {
  int st = weft_test_child(child, buf, len);
  ck_assert_msg(WIFSIGNALED(st), "child did not die of a signal; status %d, "
                "stderr: %s", st, buf);
  ck_assert_msg(WTERMSIG(st) == SIGABRT, "child died of signal %d, not "
                "SIGABRT; stderr: %s", WTERMSIG(st), buf);
  const char *g = strstr(buf, "goid=");
  ck_assert_msg(g != NULL, "no goid line; stderr: %s", buf);
  unsigned long long id = strtoull(g + 5, NULL, 10);
  ck_assert_msg(id != 0, "goroutine id 0; stderr: %s", buf);
  char want[96];
  snprintf(want, sizeof want, "weft: goroutine %llu stack overflow", id);
  ck_assert_msg(strstr(buf, want) != NULL, "stderr lacks \"%s\": %s", want,
                buf);
  ck_assert_msg(strstr(buf, "recursion returned") == NULL, "%s", buf);
}

START_TEST(test_overflow_default_guard) {
  char buf[8192];
  expect_overflow(child_default, buf, sizeof buf);
}
END_TEST

START_TEST(test_overflow_mprotect_guard) {
  char buf[8192];
  expect_overflow(child_mprotect, buf, sizeof buf);
}
END_TEST

START_TEST(test_overflow_min_stack) {
  char buf[8192];
  expect_overflow(child_min, buf, sizeof buf);
}
END_TEST

START_TEST(test_overflow_large_stack) {
  char buf[8192];
  expect_overflow(child_large, buf, sizeof buf);
}
END_TEST

START_TEST(test_big_frame_hits_the_guard) {
  char buf[8192];
  expect_overflow(child_big_frame, buf, sizeof buf);
  expect_overflow(child_big_frame_mprotect, buf, sizeof buf);
}
END_TEST

static int vma_growth(const char *buf) {
  const char *v = strstr(buf, "vmas+=");
  return v ? atoi(v + 6) : -1;
}

START_TEST(test_overflow_among_neighbours) {
  char buf[8192];
  expect_overflow(child_neighbours, buf, sizeof buf);
  expect_overflow(child_neighbours_mprotect, buf, sizeof buf);
  /* WEFT_STACK_GUARD=mprotect really selected mprotect: 100 more stacks
   * made about 200 more mappings ([guard][stack] per slot). */
  int grew = vma_growth(buf);
  ck_assert_msg(grew >= 100, "100 stacks with mprotect guards added %d "
                "mappings; was WEFT_STACK_GUARD=mprotect ignored? %s",
                grew, buf);
}
END_TEST

WEFT_TEST_MAIN("stack", test_overflow_default_guard,
               test_overflow_mprotect_guard, test_overflow_min_stack,
               test_overflow_large_stack, test_overflow_among_neighbours,
               test_big_frame_hits_the_guard)
