#!/usr/bin/env bash
# Run the showcase examples from BUILD_DIR/examples/, in order, each under a
# header line. Every example runs even if an earlier one fails, so one run
# shows all failures; the script exits non-zero if any example failed or is
# missing.
#
# usage: scripts/run-examples.sh BUILD_DIR
#
# To add an example, add its executable name (examples/NAME.c) to EXAMPLES.
# Each example gets EXAMPLE_TIMEOUT seconds (default 300), so that a hang
# fails the run instead of stalling it.
set -euo pipefail

EXAMPLES=(
  goroutines
  processes_threads_goroutines
  scheduler
  channels
  pipeline
  fan_in_fan_out
  buffered_channels
  nil_channels
  signal_channels
  select_timeouts
  monitor_goroutine
  prime_sieve
  mutex_cache
  context_timeout
  worker_pool
  atomics
  race
  blocking_calls
)

if [[ $# -ne 1 ]]; then
  echo "usage: $0 BUILD_DIR" >&2
  exit 2
fi
dir="$1/examples"
limit="${EXAMPLE_TIMEOUT:-300}"

failed=()
for name in "${EXAMPLES[@]}"; do
  printf '\n===== examples/%s =====\n' "$name"
  if [[ ! -x "$dir/$name" ]]; then
    echo "missing: $dir/$name (not built?)" >&2
    failed+=("$name")
  else
    status=0
    timeout "$limit" "$dir/$name" || status=$?
    if [[ $status -eq 124 ]]; then
      echo "FAILED: $name (timed out after ${limit}s)" >&2
      failed+=("$name")
    elif [[ $status -ne 0 ]]; then
      echo "FAILED: $name (exit status $status)" >&2
      failed+=("$name")
    fi
  fi
done

echo
if [[ ${#failed[@]} -gt 0 ]]; then
  echo "run-examples: ${#failed[@]} of ${#EXAMPLES[@]} failed: ${failed[*]}" >&2
  exit 1
fi
echo "run-examples: all ${#EXAMPLES[@]} examples passed"
