#!/usr/bin/env bash
# Installs the Debian packages that building, testing and benchmarking weft
# need, if any is missing. Safe to run again: it does nothing when all are
# present. Needs root (or sudo) only when something is missing.
set -euo pipefail

packages=(
  build-essential   # gcc 12, make
  cmake             # the build
  pkg-config        # finds Check
  check             # the unit-test harness (forked tests, timeouts)
  clang             # clang 14: the ThreadSanitizer build (gcc 12's TSan
  libclang-rt-14-dev #   dies beyond ~8,000 fibers); its runtime libraries
  valgrind          # valgrind.h: stacks are registered with Valgrind
  golang-go         # Go 1.19: the Go twins of the benchmarks
  gnuplot-nox       # draws the benchmark chart
  libunwind-dev     # names static functions in goroutine dumps (optional)
  gdb               # the test of scripts/weft-gdb.py
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
    missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "deps: installing ${missing[*]}"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
