#!/usr/bin/env bash
# Mutation testing: breaks the runtime on purpose, one small patch at a
# time, and checks that the tests meant to notice do notice. No mutation
# tool for C is packaged in Debian, so this is ours.
#
# usage: scripts/mutants.sh [--sample N] [--seed S] [NAME...]
#   every mutant in tests/mutants/ (or those NAMEd, without .patch), or a
#   random sample of N of them (the seed is printed, and --seed replays it)
#
# A mutant is tests/mutants/NAME.patch: a `git diff` of the tree from the
# repository root, after header lines (git apply skips them):
#   # what the patch breaks, in words
#   # tests: SPEC...
# Each SPEC names a CTest test of the build, optionally with the tests of
# its file to run (WEFT_TESTS), as test_mutex:test_starvation_mode; or
# race_litmus:CASE,... for cases of tests/race/litmus.c, run in the race
# build. A mutant is killed when one of its specs fails.
#
# The tree (what git tracks, plus untracked files it does not ignore) is
# copied to a scratch directory, built there once per build kind (gcc
# RelWithDebInfo; clang with -DWEFT_RACE=ON for litmus cases), and each
# mutant is applied, rebuilt (only the targets its specs need), run and
# reverted in turn. Before any mutant, every spec must pass on the tree as
# it is: a test that fails unmutated kills nothing.
#
# Prints one line per mutant (killed, SURVIVED, or BROKEN when the patch
# has no tests line, touches tests/, does not apply or does not build),
# then a summary; exits 1 if any survived or broke.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
root=$PWD
scripts/deps.sh || exit 1

sample=0
seed=$RANDOM
names=()
while [ $# -gt 0 ]; do
  case $1 in
  --sample) sample=$2; shift 2 ;;
  --seed) seed=$2; shift 2 ;;
  -h|--help) sed -n '2,/^set /p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
  -*) echo "mutants: unknown option $1" >&2; exit 2 ;;
  *) names+=("$1"); shift ;;
  esac
done

all=()
for f in tests/mutants/*.patch; do all+=("$(basename "$f" .patch)"); done
if [ ${#names[@]} -eq 0 ]; then
  names=("${all[@]}")
  if [ "$sample" -gt 0 ] && [ "$sample" -lt ${#names[@]} ]; then
    echo "mutants: a sample of $sample of ${#names[@]} (--seed $seed)"
    mapfile -t names < <(printf '%s\n' "${names[@]}" |
                         shuf -n "$sample" --random-source=<(yes "$seed"))
  fi
fi
for n in "${names[@]}"; do
  [ -f "tests/mutants/$n.patch" ] ||
    { echo "mutants: no mutant named $n" >&2; exit 2; }
done

specs_of() { sed -n 's/^# tests: //p' "tests/mutants/$1.patch"; }

# The CMake target that a CTest name runs.
target_of() {
  case $1 in
  race_litmus) echo litmus ;;
  example_*) echo "${1#example_}" ;;
  detsched_*) echo "test_${1#detsched_}" ;;
  *) echo "$1" ;;
  esac
}
kind_of() { [[ $1 == race_litmus* ]] && echo race || echo default; }

scratch=$(mktemp -d /tmp/weft-mutants.XXXXXX)
[ -n "${MUTANTS_KEEP:-}" ] || trap 'rm -rf "$scratch"' EXIT
src=$scratch/src
mkdir -p "$src"
git ls-files -z -co --exclude-standard | tar -C "$root" --null -T - -cf - |
  tar -C "$src" -xf -
jobs=$(nproc)
SPEC_TIMEOUT=${SPEC_TIMEOUT:-60}

declare -A configured
configure() { # kind
  local dir=$scratch/build-$1
  [ -n "${configured[$1]:-}" ] && return 0
  configured[$1]=1
  if [ "$1" = race ]; then
    CC=clang cmake -S "$src" -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      -DWEFT_RACE=ON -DWEFT_BENCH=OFF >"$dir.log" 2>&1
  else
    CC=gcc cmake -S "$src" -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      -DWEFT_BENCH=OFF >"$dir.log" 2>&1
  fi
}

build_specs() { # spec...: builds what they run; 0 if it built
  local spec name kind
  for spec in "$@"; do
    name=${spec%%:*}
    kind=$(kind_of "$name")
    configure "$kind" || return 1
    cmake --build "$scratch/build-$kind" -j"$jobs" \
      --target "$(target_of "$name")" >>"$scratch/build.log" 2>&1 || return 1
  done
}

run_spec() { # spec: 0 if it passes
  local name=${1%%:*} sel=
  [[ $1 == *:* ]] && sel=${1#*:}
  local dir=$scratch/build-$(kind_of "$name")
  if [ "$name" = race_litmus ]; then
    # shellcheck disable=SC2086 # the cases are separate words
    TSAN_OPTIONS="atexit_sleep_ms=0 ${TSAN_OPTIONS:-}" \
      "$src/tests/race/check.sh" litmus "$dir/tests/litmus" ${sel//,/ }
  elif [ -x "$dir/tests/$name" ]; then
    # A test file, run as CTest would; Check fails a test that hangs after
    # SPEC_TIMEOUT seconds (a mutant that hangs is killed too).
    (cd "$dir/tests" && env ${sel:+WEFT_TESTS=$sel} \
       CK_DEFAULT_TIMEOUT="$SPEC_TIMEOUT" "./$name")
  else # an example, a detsched entry: its own CTest timeout applies
    (cd "$dir" && ctest -R "^$name\$" --output-on-failure --no-tests=error)
  fi
}

run_specs() { # log spec...: 0 if all pass
  local log=$1 spec ok=0
  shift
  for spec in "$@"; do
    run_spec "$spec" >>"$log" 2>&1 || { echo "FAILED: $spec" >>"$log"; ok=1; }
  done
  return $ok
}

# The baseline: every spec passes unmutated.
mapfile -t base_specs < <(for n in "${names[@]}"; do
                            specs_of "$n" | tr ' ' '\n'; done | sort -u)
echo "mutants: baseline, ${#base_specs[@]} specs unmutated"
if ! build_specs "${base_specs[@]}"; then
  tail -30 "$scratch/build.log"
  echo "mutants: the unmutated tree does not build"
  exit 1
fi
if ! run_specs "$scratch/baseline.log" "${base_specs[@]}"; then
  grep -B40 "^FAILED: " "$scratch/baseline.log" | tail -60
  echo "mutants: a spec fails unmutated; no verdict is possible"
  exit 1
fi

killed=0
bad=()
for n in "${names[@]}"; do
  patch=$root/tests/mutants/$n.patch
  read -r -a specs <<<"$(specs_of "$n")"
  log=$scratch/$n.log
  t0=$SECONDS
  if [ ${#specs[@]} -eq 0 ]; then
    verdict="BROKEN (no '# tests:' line)"
  elif grep -Eq '^\+\+\+ b/tests/' "$patch"; then
    verdict="BROKEN (mutates a test, not the code under test)"
  elif ! git -C "$src" apply "$patch" 2>"$log"; then
    verdict="BROKEN (does not apply)"
  else
    if ! build_specs "${specs[@]}"; then
      verdict="BROKEN (does not build)"
    elif run_specs "$log" "${specs[@]}"; then
      verdict=SURVIVED
    else
      verdict="killed by $(sed -n 's/^FAILED: //p' "$log" | head -1)"
    fi
    git -C "$src" apply -R "$patch" || { echo "mutants: cannot revert $n"; exit 1; }
  fi
  printf '%-40s %s (%ds)\n' "$n" "$verdict" $((SECONDS - t0))
  if [[ $verdict == killed* ]]; then
    killed=$((killed + 1))
  else
    bad+=("$n: $verdict")
  fi
done
echo
for b in "${bad[@]}"; do echo "mutant $b"; done
echo "mutants: $killed of ${#names[@]} killed, ${#bad[@]} not"
[ ${#bad[@]} -eq 0 ]
