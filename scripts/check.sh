#!/usr/bin/env bash
# The README's second command, and what CI runs: the whole test suite, in
# three builds:
#   build/       gcc 12, RelWithDebInfo (-O2)
#   build-asan/  gcc 12, AddressSanitizer
#   build-tsan/  clang 14, ThreadSanitizer (gcc 12's TSan dies beyond ~8,000
#                fibers)
# Each build runs every test under CTest; the last line sums them up as
# "total: N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh || exit 1

jobs=$(nproc)
passed=0
failed=0
status=0

run_variant() { # name cc sanitizer
  local dir=$1 cc=$2 san=$3
  echo "=== $dir: CC=$cc WEFT_SANITIZE=${san:-none}"
  if ! CC=$cc cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      -DWEFT_SANITIZE="$san" >/dev/null ||
     ! cmake --build "$dir" -j"$jobs" >"$dir.build.log" 2>&1; then
    cat "$dir.build.log" 2>/dev/null | tail -40
    echo "=== $dir: BUILD FAILED"
    failed=$((failed + 1)); status=1
    return
  fi
  local log="$dir/ctest.log"
  (cd "$dir" && ctest --output-on-failure -j"$jobs") 2>&1 | tee "$log"
  local summary total nfail
  summary=$(grep -E "tests passed, [0-9]+ tests? failed out of [0-9]+" "$log" | tail -1)
  if [ -z "$summary" ]; then
    echo "=== $dir: no CTest summary"
    failed=$((failed + 1)); status=1
    return
  fi
  total=$(sed -E 's/.* out of ([0-9]+).*/\1/' <<<"$summary")
  nfail=$(sed -E 's/.*passed, ([0-9]+) tests? failed.*/\1/' <<<"$summary")
  passed=$((passed + total - nfail))
  failed=$((failed + nfail))
  [ "$nfail" -eq 0 ] || status=1
}

run_variant build gcc ""
run_variant build-asan gcc address
run_variant build-tsan clang thread

echo "total: $passed passed, $failed failed"
exit $status
