/* test_base.c -- the base layer: the signal-safe formatter behind every
 * fatal message, and (WEFT_DEBUG_CHECKS builds) the internal assertions
 * and the lock-order checks, each shown to abort with its message. */
#include "base/internal.h"
#include "weft_test.h"

static const char *fmt(char *buf, size_t size, const char *f, ...) {
  va_list ap;
  va_start(ap, f);
  weft__vformat(buf, size, f, ap);
  va_end(ap);
  return buf;
}

START_TEST(test_format_conversions) {
  char b[128];
  ck_assert_str_eq(fmt(b, sizeof b, "P %d of %u", -7, 42u), "P -7 of 42");
  ck_assert_str_eq(fmt(b, sizeof b, "g %llu", 18446744073709551615ull),
                   "g 18446744073709551615");
  ck_assert_str_eq(fmt(b, sizeof b, "%ld|%lu|%zu|%x", -9000000000l, 7ul,
                       (size_t)123, 0xbeefu),
                   "-9000000000|7|123|beef");
  ck_assert_str_eq(fmt(b, sizeof b, "%lld", -9223372036854775807ll - 1),
                   "-9223372036854775808");
  ck_assert_str_eq(fmt(b, sizeof b, "%p", (void *)0x1234), "0x1234");
  ck_assert_str_eq(fmt(b, sizeof b, "in %s: %s", "weft_close", (char *)NULL),
                   "in weft_close: (null)");
  ck_assert_str_eq(fmt(b, sizeof b, "100%% %q"), "100% %q");
}
END_TEST

START_TEST(test_format_truncates_with_nul) {
  char b[8];
  memset(b, 'x', sizeof b);
  ck_assert_str_eq(fmt(b, sizeof b, "abcdefghijk"), "abcdefg");
  ck_assert_uint_eq(strlen(b), 7);
  char big[32];
  ck_assert_str_eq(fmt(big, 6, "%d", 1234567), "12345");
}
END_TEST

#ifdef WEFT_DEBUG_CHECKS
static void failing_assert(void) {
  int three = 3;
  weft__assert(three == 4);
}

static void timers_then_object(void) {
  weft__spinlock heap = WEFT__SPINLOCK_INIT, obj = WEFT__SPINLOCK_INIT;
  weft__spin_lock_ranked(&heap, WEFT__RANK_TIMERS);
  weft__spin_lock(&obj); /* the order is object, then timers */
}

static void two_sched_locks(void) {
  weft__spinlock a = WEFT__SPINLOCK_INIT, b = WEFT__SPINLOCK_INIT;
  weft__spin_lock_ranked(&a, WEFT__RANK_SCHED);
  weft__spin_lock_ranked(&b, WEFT__RANK_SCHED);
}

static void unlock_not_held(void) {
  weft__spinlock a = WEFT__SPINLOCK_INIT;
  weft__spin_unlock_ranked(&a, WEFT__RANK_STACKS);
}

static void held_across_switch(void *arg) {
  weft__spinlock *l = arg;
  weft__spin_lock(l);
  weft_yield(); /* resumes with the lock still held: weft's own rule */
}

static void lock_in_goroutine(void) {
  static weft__spinlock l = WEFT__SPINLOCK_INIT;
  go_or_die(held_across_switch, &l);
  weft_sleep(30 * WEFT_SEC); /* the abort comes first */
}

START_TEST(test_assert_aborts_naming_the_condition) {
  WEFT_ASSERT_ABORTS_WITH(failing_assert, "weft: internal error: ");
  WEFT_ASSERT_ABORTS_WITH(failing_assert,
                          ": failing_assert: assertion `three == 4' failed");
}
END_TEST

START_TEST(test_lock_order_violations_abort) {
  WEFT_ASSERT_ABORTS_WITH(timers_then_object,
                          "lock order: object lock taken while holding "
                          "timers lock");
  WEFT_ASSERT_ABORTS_WITH(two_sched_locks, "lock order: second sched lock");
  WEFT_ASSERT_ABORTS_WITH(unlock_not_held,
                          "unlock of stacks lock this thread does not hold");
  WEFT_ASSERT_ABORTS_WITH(lock_in_goroutine,
                          "resumed from a switch with object lock held");
}
END_TEST

START_TEST(test_nested_object_locks_in_order_pass) {
  /* select holds several object locks, then a timer heap's: allowed. */
  weft__spinlock a = WEFT__SPINLOCK_INIT, b = WEFT__SPINLOCK_INIT;
  weft__spinlock t = WEFT__SPINLOCK_INIT;
  weft__spin_lock(&a);
  weft__spin_lock(&b);
  weft__spin_lock_ranked(&t, WEFT__RANK_TIMERS);
  weft__spin_unlock_ranked(&t, WEFT__RANK_TIMERS);
  weft__spin_unlock(&b);
  weft__spin_unlock(&a);
  weft__spin_assert_none_held("test");
}
END_TEST
#endif

WEFT_TEST_MAIN("base", test_format_conversions, test_format_truncates_with_nul
#ifdef WEFT_DEBUG_CHECKS
               , test_assert_aborts_naming_the_condition,
               test_lock_order_violations_abort,
               test_nested_object_locks_in_order_pass
#endif
)
