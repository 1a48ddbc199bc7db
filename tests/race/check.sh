#!/usr/bin/env bash
# The race build's own tests (CTest label "race", WEFT_RACE=ON builds only).
#
#   check.sh litmus LITMUS_BIN [CASE...]
#                                 every case of tests/race/litmus.c (or the
#                                 ones named), each in its own process: "race"
#                                 cases must get a ThreadSanitizer data-race
#                                 report, "clean" cases none (and exit 0)
#   check.sh example RACE_BIN     examples/race.c: its racy mode is reported
#                                 with both goroutines' stacks; the mutex,
#                                 atomic and channel fixes are not
#
# Each run gets halt_on_error=0 and exitcode=66, so a report shows both in
# the output and in the exit status, and atexit_sleep_ms=0: TSan otherwise
# waits a second at exit while other threads (weft's Ps) still live.
set -uo pipefail

export TSAN_OPTIONS="halt_on_error=0 exitcode=66 atexit_sleep_ms=0 ${TSAN_OPTIONS:-}"
REPORT="WARNING: ThreadSanitizer: data race"
failed=0

fail() {
  echo "FAIL: $*"
  failed=$((failed + 1))
}

# run NAME EXPECT(race|clean) CMD...: prints the verdict; the output of a
# failing run is shown in full.
run() {
  local name=$1 expect=$2 out rc
  shift 2
  out=$(timeout 120 "$@" 2>&1)
  rc=$?
  if [[ $expect == race ]]; then
    if ! grep -q "$REPORT" <<<"$out"; then
      fail "$name: expected a data race report, got none (exit $rc)"
      echo "$out" | tail -20
      return 1
    fi
  elif grep -q "WARNING: ThreadSanitizer" <<<"$out" || [[ $rc -ne 0 ]]; then
    fail "$name: expected no report and exit 0, got exit $rc"
    echo "$out" | head -60
    return 1
  fi
  echo "ok: $name ($expect)"
  LAST_OUT=$out
  return 0
}

case "${1:-}" in
litmus)
  bin=$2
  shift 2
  list=$("$bin" --list) || { echo "FAIL: $bin --list"; exit 1; }
  for want in "$@"; do # a named case that does not exist is a failure
    grep -q "^$want " <<<"$list" || fail "litmus: no case named $want"
  done
  n=0
  while read -r name expect; do
    if [[ $# -gt 0 ]] && ! printf '%s\n' "$@" | grep -qx "$name"; then
      continue
    fi
    # An expected report needs no symbols (the symbolizer costs a second
    # per report); an unexpected one is printed with them.
    if [[ $expect == race ]]; then
      TSAN_OPTIONS="$TSAN_OPTIONS symbolize=0" run "$name" "$expect" "$bin" "$name"
    else
      run "$name" "$expect" "$bin" "$name"
    fi
    n=$((n + 1))
  done <<<"$list"
  echo "litmus: $n cases run, $failed failed"
  ;;
example)
  bin=$2
  if run "race racy" race "$bin" racy; then
    # The report names both goroutines' functions, one per stack.
    for fn in deposit_a deposit_b; do
      grep -qE "#[0-9]+ $fn " <<<"$LAST_OUT" ||
        fail "race racy: no stack line names $fn"
    done
  fi
  for mode in mutex atomic channel; do
    run "race $mode" clean "$bin" "$mode"
  done
  ;;
*)
  echo "usage: $0 litmus LITMUS_BIN [CASE...] | example RACE_BIN" >&2
  exit 2
  ;;
esac
[[ $failed -eq 0 ]]
