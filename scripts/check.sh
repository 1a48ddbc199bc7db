#!/usr/bin/env bash
# The README's second command, and what CI runs: the whole test suite, in
# six builds:
#   build/          gcc 12, RelWithDebInfo (-O2); also the detsched entries
#                   (concurrency suites under many WEFT_SCHED_SEED seeds)
#   build-asan/     gcc 12, AddressSanitizer
#   build-tsan/     clang 14, ThreadSanitizer (gcc 12's TSan dies beyond
#                   ~8,000 fibers)
#   build-ucontext/ gcc 12, the portable ucontext switch; the unit tests
#                   of the core runtime (goroutines, scheduler, sleep, stacks,
#                   blocking calls, WaitGroup)
#   build-clang/    clang 14, -O2, no sanitizer, WEFT_DEBUG_CHECKS (misuse
#                   checks such as a channel used after its last unref);
#                   unit tests only (clang optimizes thread-local accesses
#                   differently from gcc)
#   build-race/     clang 14, -DWEFT_RACE=ON (Go's -race: the program under
#                   TSan, the runtime not); the race litmus cases and the
#                   examples, which must be race-free
# After build/, two examples run under valgrind (scripts/weft.supp).
# Before the builds, scripts/check-layers.sh checks that no file in src/
# includes a layer above its own (it counts as one test). After them, a
# sample of the mutants in tests/mutants/ must each be caught by its tests
# (scripts/mutants.sh, one test).
# Each build runs every test under CTest. A test that skips itself (exit 77,
# e.g. the gdb test without gdb) counts as skipped, not passed. The last
# lines name every failed and skipped test with its build, and the very
# last sums them up as "total: N passed, N failed, N skipped".
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
scripts/deps.sh || exit 1

jobs=$(nproc)
passed=0
failed=0
skipped=0
status=0
failed_names=()
skipped_names=()

run_variant() { # dir cc sanitizer [extra cmake args] [ctest args]
  local dir=$1 cc=$2 san=$3 extra=${4:-} ctest_args=${5:-}
  echo "=== $dir: CC=$cc WEFT_SANITIZE=${san:-none} $extra"
  # shellcheck disable=SC2086 # extra holds separate words on purpose
  if ! CC=$cc cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      -DWEFT_SANITIZE="$san" $extra >/dev/null ||
     ! cmake --build "$dir" -j"$jobs" >"$dir.build.log" 2>&1; then
    tail -40 "$dir.build.log" 2>/dev/null
    echo "=== $dir: BUILD FAILED"
    failed=$((failed + 1)); status=1
    failed_names+=("$dir: the build")
    return
  fi
  local log="$dir/ctest.log"
  # shellcheck disable=SC2086
  (cd "$dir" && ctest --output-on-failure -j"$jobs" $ctest_args) 2>&1 | tee "$log"
  local summary total nfail
  summary=$(grep -E "tests passed, [0-9]+ tests? failed out of [0-9]+" "$log" | tail -1)
  if [ -z "$summary" ]; then
    echo "=== $dir: no CTest summary"
    failed=$((failed + 1)); status=1
    failed_names+=("$dir: no CTest summary")
    return
  fi
  total=$(sed -E 's/.* out of ([0-9]+).*/\1/' <<<"$summary")
  nfail=$(sed -E 's/.*passed, ([0-9]+) tests? failed.*/\1/' <<<"$summary")
  # CTest's lists: "\t 12 - test_x (Failed)", "\t 23 - gdb_goroutines
  # (Skipped)"; a skipped test is inside "X% tests passed".
  local name
  while read -r name; do
    [ -n "$name" ] && failed_names+=("$dir: $name")
  done < <(sed -n '/^The following tests FAILED:/,/^[^[:space:]]/s/^[[:space:]]*[0-9]* - //p' "$log")
  local nskip=0
  while read -r name; do
    [ -n "$name" ] || continue
    skipped_names+=("$dir: $name")
    nskip=$((nskip + 1))
  done < <(sed -n '/^The following tests did not run:/,/^[^[:space:]]/s/^[[:space:]]*[0-9]* - \(.*(Skipped)\)$/\1/p' "$log")
  passed=$((passed + total - nfail - nskip))
  failed=$((failed + nfail))
  skipped=$((skipped + nskip))
  [ "$nfail" -eq 0 ] || status=1
}

if scripts/check-layers.sh; then
  passed=$((passed + 1))
else
  failed=$((failed + 1)); status=1
  failed_names+=("scripts/check-layers.sh")
fi

run_variant build gcc ""

# Two examples under valgrind, each counted as a test: no error and no
# leak, definite or possible, once scripts/weft.supp has set aside the
# runtime threads' TLS (they live until exit).
run_valgrind() { # example
  local name="valgrind: build/examples/$1" log="build/valgrind-$1.log"
  echo "=== $name"
  if [ -x "build/examples/$1" ] &&
     timeout 600 valgrind -q --leak-check=full --error-exitcode=9 \
       --errors-for-leak-kinds=definite,possible \
       --suppressions=scripts/weft.supp "build/examples/$1" >"$log" 2>&1; then
    passed=$((passed + 1))
  else
    tail -40 "$log" 2>/dev/null
    failed=$((failed + 1)); status=1
    failed_names+=("$name")
  fi
}
run_valgrind channels
run_valgrind worker_pool
# The detsched entries (the concurrency suites under many schedule seeds)
# run in build/ only: the sanitizers would multiply their two minutes.
run_variant build-asan gcc address "" "-LE detsched"
run_variant build-tsan clang thread "" "-LE detsched"
# swapcontext makes a system call per switch: the core files only.
run_variant build-ucontext gcc "" \
  "-DWEFT_SWITCH=ucontext -DWEFT_EXAMPLES=OFF -DWEFT_BENCH=OFF" \
  "-R test_(go|sched|sleep|stack|syscall|rawcall|waitgroup)"
run_variant build-clang clang "" \
  "-DWEFT_EXAMPLES=OFF -DWEFT_BENCH=OFF -DWEFT_DEBUG_CHECKS=ON" "-L unit"

# atexit_sleep_ms=0: TSan would wait a second at every exit for weft's Ps.
TSAN_OPTIONS="atexit_sleep_ms=0 ${TSAN_OPTIONS:-}" \
  run_variant build-race clang "" "-DWEFT_RACE=ON -DWEFT_BENCH=OFF" \
  "-L race|example"

# Mutation testing (scripts/mutants.sh; `make mutants` runs all of them):
# a random sample per run, whose seed the log prints, each mutant of which
# its tests must kill. Counted as one test.
echo "=== mutants"
if scripts/mutants.sh --sample "${WEFT_MUTANTS_SAMPLE:-5}"; then
  passed=$((passed + 1))
else
  failed=$((failed + 1)); status=1
  failed_names+=("scripts/mutants.sh (a mutant survived or broke)")
fi

echo
for name in "${skipped_names[@]}"; do echo "skipped: $name"; done
for name in "${failed_names[@]}"; do echo "FAILED: $name"; done
echo "total: $passed passed, $failed failed, $skipped skipped"
exit $status
