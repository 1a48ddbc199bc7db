/* sanitizer.h -- what ThreadSanitizer, AddressSanitizer and Valgrind must be
 * told about stack switches. Each hook compiles to nothing without its tool.
 *
 * - ASan: __sanitizer_start_switch_fiber before a switch (NULL fake-stack
 *   save for a goroutine that will never resume) and
 *   __sanitizer_finish_switch_fiber first thing after landing.
 * - TSan: every goroutine is a TSan fiber; __tsan_switch_to_fiber right
 *   before the switch. The function that calls it and then switches must
 *   not be instrumented itself (WEFT_NO_TSAN_SWITCH): TSan's function entry
 *   and exit hooks would push on one fiber's shadow stack and pop from
 *   another's.
 * - Race builds (WEFT_RACE, debug/race.c): the runtime itself is not
 *   instrumented but the program is, so goroutines are still TSan fibers; they
 *   switch with __tsan_switch_to_fiber_no_sync, so that running one after the
 *   other on a thread orders nothing (Go's race detector does the same).
 */
#ifndef WEFT_SANITIZER_H
#define WEFT_SANITIZER_H

#include <stddef.h>

#include "base/defs.h"

#if defined(__SANITIZE_ADDRESS__)
#define WEFT_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define WEFT_ASAN 1
#endif
#endif
#if defined(__SANITIZE_THREAD__)
#define WEFT_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define WEFT_TSAN 1
#endif
#endif

#ifdef WEFT_ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
static inline void weft__asan_unpoison(void *p, size_t n) {
  __asan_unpoison_memory_region(p, n);
}
#define weft__asan_start_switch(save, bottom, size)                           \
  __sanitizer_start_switch_fiber((save), (bottom), (size))
#define weft__asan_finish_switch(save)                                        \
  __sanitizer_finish_switch_fiber((save), NULL, NULL)
#else
static inline void weft__asan_unpoison(void *p, size_t n) { (void)p, (void)n; }
#define weft__asan_start_switch(save, bottom, size)                           \
  ((void)(save), (void)(bottom), (void)(size))
#define weft__asan_finish_switch(save) ((void)(save))
#endif

#if WEFT__RACE && defined(WEFT_TSAN)
#error "WEFT_RACE builds leave the runtime uninstrumented: no -fsanitize=thread"
#endif

#if defined(WEFT_TSAN) || WEFT__RACE
#include <sanitizer/tsan_interface.h>
#if WEFT__RACE
#define WEFT__TSAN_SWITCH_FLAGS __tsan_switch_to_fiber_no_sync
#else
#define WEFT__TSAN_SWITCH_FLAGS 0
#endif
#define weft__tsan_current() __tsan_get_current_fiber()
#define weft__tsan_create() __tsan_create_fiber(0)
#define weft__tsan_destroy(f) __tsan_destroy_fiber(f)
#define weft__tsan_switch(f) __tsan_switch_to_fiber((f), WEFT__TSAN_SWITCH_FLAGS)
#if defined(__clang__)
#define WEFT_NO_TSAN_SWITCH __attribute__((disable_sanitizer_instrumentation))
#else
#define WEFT_NO_TSAN_SWITCH __attribute__((no_sanitize_thread))
#endif
#else
#define weft__tsan_current() ((void *)0)
#define weft__tsan_create() ((void *)0)
#define weft__tsan_destroy(f) ((void)(f))
#define weft__tsan_switch(f) ((void)(f))
#define WEFT_NO_TSAN_SWITCH
#endif

#if defined(WEFT_ASAN) || defined(WEFT_TSAN) || WEFT__RACE
/* Instrumented frames are several times larger (in race builds, the
 * program's). */
#define WEFT__SANITIZED_STACK ((size_t)256 * 1024)
#endif

#endif
