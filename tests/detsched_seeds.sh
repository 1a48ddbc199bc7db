#!/bin/sh
# detsched_seeds.sh -- runs one test binary under the deterministic schedule
# mode (WEFT_SCHED_SEED, see weft.h) once per seed, and stops at the first
# seed that fails, naming it and the command that replays it.
#
# Usage: detsched_seeds.sh TEST_BINARY SEEDS [SKIP [ONLY]]
#   SEEDS  how many seeds: BASE, BASE+1, ...
#   SKIP   tests to leave out, separated by commas (WEFT_TESTS_SKIP)
#   ONLY   if not empty, the only tests to run (WEFT_TESTS)
# Environment:
#   WEFT_SEEDS       overrides SEEDS (e.g. WEFT_SEEDS=1000 for a long run)
#   WEFT_SEED_BASE   the first seed (default 1; "random" picks one from the
#                    clock, to look where CI does not)
set -u
bin=$1
seeds=${WEFT_SEEDS:-$2}
skip=${3:-}
only=${4:-}
base=${WEFT_SEED_BASE:-1}
if [ "$base" = random ]; then
  base=$(( $(date +%s%N | cut -c7-18) % 1000000000 + 1 ))
fi
name=$(basename "$bin")
i=0
while [ "$i" -lt "$seeds" ]; do
  seed=$((base + i))
  if ! out=$(WEFT_SCHED_SEED=$seed WEFT_TESTS_SKIP=$skip WEFT_TESTS=$only \
             "$bin" 2>&1); then
    printf '%s\n' "$out"
    echo "detsched: $name failed under WEFT_SCHED_SEED=$seed"
    echo "detsched: replay: WEFT_SCHED_SEED=$seed WEFT_TESTS_SKIP='$skip'" \
         "WEFT_TESTS='$only' $bin"
    exit 1
  fi
  i=$((i + 1))
done
echo "detsched: $name passed seeds $base..$((base + seeds - 1))"
