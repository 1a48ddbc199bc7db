#!/usr/bin/env bash
# bench/run.sh -- run weft's benchmark workloads against their Go twins.
#
# Builds the C workloads (bench/c/NAME.c -> BUILD/bench/NAME, through CMake)
# and the Go twins (bench/go/NAME -> BUILD/bench/go/NAME), runs each workload
# that has both sides alternately (C, Go, C, Go, ...) RUNS times each with
# WEFT_PROCS = GOMAXPROCS = PROCS, and prints the medians, the ratio weft/Go
# and the target from shared/bench/WORKLOADS.md. Writes the table as TSV to
# BUILD/bench/results.tsv and a chart of the ratios to docs/bench.svg.
# Any program that fails (non-zero exit, timeout, malformed output) fails the
# whole run.
#
# Usage: bench/run.sh [-n RUNS] [-p PROCS] [WORKLOAD ...]
#   -n RUNS   runs per side and workload (default 3, at least 3)
#   -p PROCS  OS threads for both sides (default: nproc)
#   WORKLOAD  restrict to these workloads (the names below, or "switch")
# Environment:
#   WEFT_BENCH_BUILD_DIR  build directory (default: build-bench, a Release
#                         build of its own, so that it never flips the
#                         RelWithDebInfo build/ of scripts/build.sh)
#   WEFT_BENCH_TIMEOUT    seconds one program may run (default 600)
#   WEFT_BENCH_NO_BUILD=1 run what is already built; build nothing
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${WEFT_BENCH_BUILD_DIR:-$ROOT/build-bench}
TIMEOUT=${WEFT_BENCH_TIMEOUT:-600}
NO_BUILD=${WEFT_BENCH_NO_BUILD:-0}
RUNS=3
PROCS=$(nproc)

# The workloads of WORKLOADS.md, in its order, and their targets (the ratio
# weft/Go at 2 threads that weft aims for; lower is better). parked's target
# is the current one (one page + record); the later one is 0.25.
# rwmutex is the "contended RWMutex reads" workload that WORKLOADS.md lists
# for later, defined in bench/go/rwmutex: 8 goroutines, 10,000,000 ops, 1 in
# 100 a write. Its target is mutex's, parity with Go: both are ports of Go's
# own algorithm, so the fast paths are the same atomics and there is no
# handoff through the scheduler for weft to win on.
# syscall and syscallpair are the blocking-call workloads (bench/c/*.c say
# what they do): the compute's slowdown while 64 goroutines sit in 1 ms
# calls, and the cost of an enter/exit pair that does not block; neither
# side should be worse than Go's. syscallraw is syscall with weft's calls
# unbracketed (raw): built from the same sources on both sides.
# echo, echop99 and accept are the network workloads (bench/c/echo.c): one
# server program under three names, against one load generator
# (bench/c/echoload.c) for both sides. echo's target is 1.25x Go's
# throughput (its figure is ns per request, so 0.8); echop99's a p99 no
# worse than Go's; accept's at most 0.8x Go's time. http runs
# examples/http_hello against Go's net/http under the same generator; it
# has no target yet (1.0 stands in: parity).
WORKLOADS=(spawn pingpong prodcons select mutex rwmutex sieve ring parked workerpool timers syscall syscallraw syscallpair echo echop99 accept http)
declare -A TARGET=(
  [spawn]=0.15 [pingpong]=0.30 [prodcons]=0.50 [select]=0.45 [mutex]=1.0
  [rwmutex]=1.0 [sieve]=0.50 [ring]=0.25 [parked]=1.6 [workerpool]=0.50
  [timers]=0.50 [syscall]=1.0 [syscallraw]=1.0 [syscallpair]=1.0
  [echo]=0.80 [echop99]=1.0 [accept]=0.80 [http]=1.0
)
# Workloads built from another workload's sources, on both sides.
declare -A SOURCE=([syscallraw]=syscall [echop99]=echo [accept]=echo)
# The network workloads' load generator, the same program for both sides.
export WEFT_BENCH_LOADGEN=$BUILD/bench/echoload

die() {
  printf 'bench: %s\n' "$*" >&2
  exit 1
}

usage() {
  sed -n '/^# Usage:/,/^#   WEFT_BENCH_NO_BUILD/s/^# \{0,1\}//p' "$0"
}

while getopts 'n:p:h' opt; do
  case $opt in
    n) RUNS=$OPTARG ;;
    p) PROCS=$OPTARG ;;
    h) usage; exit 0 ;;
    *) usage >&2; exit 2 ;;
  esac
done
shift $((OPTIND - 1))

if ! [[ $RUNS =~ ^[0-9]+$ ]] || ((RUNS < 3)); then
  die "-n wants a whole number >= 3, not '$RUNS'"
fi
if ! [[ $PROCS =~ ^[0-9]+$ ]] || ((PROCS < 1)); then
  die "-p wants a whole number >= 1, not '$PROCS'"
fi
[[ $TIMEOUT =~ ^[0-9]+$ ]] || die "WEFT_BENCH_TIMEOUT wants seconds, not '$TIMEOUT'"

# Which workloads to run; "switch" is the bare context-switch benchmark.
declare -A WANT=()
if (($# == 0)); then
  for w in "${WORKLOADS[@]}" switch; do WANT[$w]=1; done
else
  for w in "$@"; do
    [[ -n ${TARGET[$w]:-} || $w == switch ]] ||
      die "unknown workload '$w' (known: ${WORKLOADS[*]} switch)"
    WANT[$w]=1
  done
fi
SELECTED=()
for w in "${WORKLOADS[@]}"; do
  if [[ -n ${WANT[$w]:-} ]]; then SELECTED+=("$w"); fi
done

has_c() { [[ -f $ROOT/bench/c/${SOURCE[$1]:-$1}.c ]]; }

# ---- build -----------------------------------------------------------------

build_c() {
  local targets=() src name
  for src in "$ROOT"/bench/c/*.c; do
    [[ -e $src ]] || continue
    name=$(basename "$src" .c)
    targets+=("bench_$name")
  done
  for name in "${!SOURCE[@]}"; do targets+=("bench_$name"); done
  targets+=(http_hello) # the server that bench/c/http.c measures
  ((${#targets[@]} > 0)) || return 0
  cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DWEFT_BENCH=ON >/dev/null ||
    die "cmake configure failed"
  # A build directory configured for sanitizers or invariant checks would
  # measure those, not weft: refuse it rather than reconfigure someone's tree.
  local cache=$BUILD/CMakeCache.txt
  if grep -Eq '^WEFT_SANITIZE:[A-Z]*=.+' "$cache"; then
    die "$BUILD is a sanitizer build; point WEFT_BENCH_BUILD_DIR at another directory"
  fi
  if grep -Eq '^WEFT_DEBUG_CHECKS:[A-Z]*=(ON|1|TRUE|YES)$' "$cache"; then
    die "$BUILD has WEFT_DEBUG_CHECKS on; point WEFT_BENCH_BUILD_DIR at another directory"
  fi
  # Build chatter goes to stderr: stdout carries only the table.
  cmake --build "$BUILD" -j --target "${targets[@]}" >&2 || die "building the C workloads failed"
}

build_go() {
  local w
  command -v go >/dev/null || die "go is not installed (the Go twins need Go 1.19)"
  mkdir -p "$BUILD/bench/go"
  for w in "${SELECTED[@]}"; do
    (cd "$ROOT/bench/go" && GOPROXY=off GOFLAGS='' go build -o "$BUILD/bench/go/$w" "./${SOURCE[$w]:-$w}") ||
      die "building the Go twin of $w failed"
  done
}

if [[ $NO_BUILD != 1 ]]; then
  build_c
  build_go
fi

# ---- run -------------------------------------------------------------------

# run_one WORKLOAD BINARY: runs it once and prints "VALUE UNIT". Dies on a
# failed run or on output that is not exactly "WORKLOAD VALUE UNIT".
run_one() {
  local w=$1 bin=$2 out rc=0 name value unit extra
  [[ -x $bin ]] || die "$bin is missing; build it first"
  out=$(WEFT_PROCS=$PROCS GOMAXPROCS=$PROCS timeout "$TIMEOUT" "$bin") || rc=$?
  if ((rc != 0)); then
    printf '%s\n' "$out" >&2
    if ((rc == 124)); then
      die "$bin timed out after ${TIMEOUT}s"
    fi
    die "$bin failed with exit status $rc"
  fi
  read -r name value unit extra <<<"$out" || true
  if [[ $out == *$'\n'* || $name != "$w" || -z $unit || -n $extra ||
    ! $value =~ ^-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?$ ]]; then
    die "$bin printed '$out', not '$w <value> <unit>'"
  fi
  printf '%s %s\n' "$value" "$unit"
}

# median VALUE...: the middle value, or the mean of the two middle ones.
median() {
  printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 }
    END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

mkdir -p "$BUILD/bench"
TSV=$BUILD/bench/results.tsv
TSV_TMP=$TSV.tmp
CHART_DAT=$BUILD/bench/chart.dat
printf 'workload\tweft\tgo\tunit\tratio\ttarget\tstatus\n' >"$TSV_TMP"
: >"$CHART_DAT"

log() { printf '%s\n' "$*" >&2; }

log "bench: $RUNS runs per side, $PROCS threads (WEFT_PROCS = GOMAXPROCS = $PROCS)"

# Other work on the machine skews both sides unevenly: measure how much of
# the CPUs went to anything but this script's children (and what the
# hypervisor stole), in clock ticks, and say so next to the table.
# cpu_ticks prints "busy total" from /proc/stat; own_ticks prints the CPU
# time of this shell's finished children (fields 16 and 17 of its stat).
cpu_ticks() {
  awk '$1 == "cpu" { busy = $2 + $3 + $4 + $7 + $8 + $9; print busy, busy + $5 + $6; exit }' /proc/stat 2>/dev/null ||
    echo 0 0
}
own_ticks() {
  local stat
  stat=$(cat "/proc/$$/stat" 2>/dev/null) || { echo 0; return; }
  # After the "(comm) ", fields start at the third: 16 and 17 are $14, $15.
  awk '{ print $14 + $15 }' <<<"${stat##*) }"
}
read -r BUSY0 TOTAL0 < <(cpu_ticks)
OWN0=$(own_ticks)
for w in "${SELECTED[@]}"; do
  c_vals=() go_vals=() unit='' c_unit=''
  for ((i = 1; i <= RUNS; i++)); do
    if has_c "$w"; then
      out=$(run_one "$w" "$BUILD/bench/$w")
      read -r v c_unit <<<"$out"
      c_vals+=("$v")
      log "  $w  weft  run $i/$RUNS: $v $c_unit"
    fi
    out=$(run_one "$w" "$BUILD/bench/go/$w")
    read -r v unit <<<"$out"
    go_vals+=("$v")
    log "  $w  go    run $i/$RUNS: $v $unit"
  done
  go_med=$(median "${go_vals[@]}")
  target=${TARGET[$w]}
  if has_c "$w"; then
    [[ $c_unit == "$unit" ]] || die "$w: weft reports '$c_unit' but Go reports '$unit'"
    c_med=$(median "${c_vals[@]}")
    ratio=$(awk -v c="$c_med" -v g="$go_med" 'BEGIN {
      if (g <= 0) { print "nan"; exit }
      printf "%.3f", c / g }')
    status=$(awk -v r="$ratio" -v t="$target" 'BEGIN {
      print (r != "nan" && r + 0 <= t + 0) ? "meets target" : "misses target" }')
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$w" "$c_med" "$go_med" "$unit" "$ratio" "$target" "$status" >>"$TSV_TMP"
    if [[ $ratio != nan ]] && awk -v r="$ratio" 'BEGIN { exit !(r > 0) }'; then
      color=$([[ $status == "meets target" ]] && echo 0x2e8b57 || echo 0xc0392b)
      printf '%s\t%s\t%s\t%s\n' "$w" "$ratio" "$target" "$color" >>"$CHART_DAT"
    fi
  else
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$w" - "$go_med" "$unit" - "$target" "not yet implemented" >>"$TSV_TMP"
  fi
done

switch_med=''
if [[ -n ${WANT[switch]:-} ]]; then
  if [[ -f $ROOT/bench/c/switch.c ]]; then
    s_vals=()
    for ((i = 1; i <= 3; i++)); do
      out=$(run_one switch "$BUILD/bench/switch")
      read -r v s_unit <<<"$out"
      s_vals+=("$v")
      log "  switch  run $i/3: $v $s_unit"
    done
    switch_med=$(median "${s_vals[@]}")
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' switch "$switch_med" - "$s_unit" - - "bare context switch, no Go twin" >>"$TSV_TMP"
  else
    log "  switch: bench/c/switch.c does not exist; skipped"
  fi
fi
mv "$TSV_TMP" "$TSV"

# ---- report ----------------------------------------------------------------

printf '\nweft vs Go, %s threads, median of %s runs each (%s)\n\n' "$PROCS" "$RUNS" "$(date +%F)"
fmt='%-11s %12s %12s %-12s %12s %8s  %s\n'
# shellcheck disable=SC2059 # the format is ours
printf "$fmt" workload "weft median" "Go median" unit "weft/Go" target status
# shellcheck disable=SC2059
printf "$fmt" ----------- ------------ ------------ ------------ ------------ -------- -------------
tail -n +2 "$TSV" | while IFS=$'\t' read -r w c g u r t s; do
  [[ $w == switch ]] && continue
  if [[ $s == "not yet implemented" ]]; then
    # shellcheck disable=SC2059
    printf "$fmt" "$w" "-" "$g" "$u" "-" "<= $t" "not yet implemented"
  else
    # shellcheck disable=SC2059
    printf "$fmt" "$w" "$c" "$g" "$u" "$r" "<= $t" "$s"
  fi
done
if [[ -n $switch_med ]]; then
  printf '\nbare context switch (bench/c/switch.c, median of 3): %s %s\n' "$switch_med" "$s_unit"
fi
read -r BUSY1 TOTAL1 < <(cpu_ticks)
OWN1=$(own_ticks)
OTHER=$(awk -v b=$((BUSY1 - BUSY0)) -v t=$((TOTAL1 - TOTAL0)) -v o=$((OWN1 - OWN0)) \
  'BEGIN { x = t > 0 ? (b - o) / t * 100 : 0; printf "%.0f", x < 0 ? 0 : x }')
if ((OTHER >= 5)); then
  printf '\nwarning: other processes (or the hypervisor) took %s%% of the %s CPUs during the run: figures are noisy\n' \
    "$OTHER" "$(nproc)"
fi
printf '\ntable: %s\n' "$TSV"

# ---- chart -----------------------------------------------------------------

SVG=$ROOT/docs/bench.svg
if [[ ! -s $CHART_DAT ]]; then
  printf 'chart: no workload has a weft side yet; %s left as it was\n' "$SVG"
elif ! command -v gnuplot >/dev/null; then
  printf 'chart: gnuplot is not installed (apt-get install gnuplot-nox); %s left as it was\n' "$SVG"
else
  mkdir -p "$ROOT/docs"
  nbars=$(wc -l <"$CHART_DAT")
  # 0.01 .. 100 at least, wider if a ratio or target lies outside.
  read -r ylo yhi < <(awk -F '\t' 'BEGIN { lo = 0.01; hi = 100 }
    { for (i = 2; i <= 3; i++) { if ($i / 2 < lo) lo = $i / 2; if ($i * 2 > hi) hi = $i * 2 } }
    END { print lo, hi }' "$CHART_DAT")
  go_version=$(go version 2>/dev/null | awk '{ sub(/^go/, "", $3); print $3 }')
  title="weft / Go ${go_version:-1.19}: median time or memory ratio, lower is better"
  subtitle="$PROCS threads (WEFT_PROCS = GOMAXPROCS), $RUNS runs each, $(date +%F)"
  gnuplot <<EOF || die "gnuplot failed"
set terminal svg size 900,480 dynamic font "sans,13" background rgb "white"
set output "$SVG.tmp"
set termoption noenhanced
set title "$title\n$subtitle"
set datafile separator "\t"
set logscale y 10
set yrange [$ylo:$yhi]
set ytics ("0.001" 0.001, "0.003" 0.003, "0.01" 0.01, "0.03" 0.03, "0.1" 0.1, "0.3" 0.3, "1" 1, "3" 3, "10" 10, "30" 30, "100" 100, "300" 300, "1000" 1000)
set ylabel "weft / Go (log scale)"
set grid ytics lc rgb "#dddddd"
set style fill solid 0.85 border -1
set boxwidth 0.6
set xrange [-0.6:$nbars - 0.4]
set key top right opaque box
set xtics nomirror scale 0
plot "$CHART_DAT" using 0:2:4:xtic(1) with boxes lc rgb variable title "weft / Go (green: meets target)", \
     "$CHART_DAT" using (\$0 - 0.4):3:(0.8):(0) with vectors nohead lw 3 lc rgb "#1f4e79" title "target", \
     "$CHART_DAT" using 0:2:(sprintf("%.3g", \$2)) with labels offset 0,0.8 font "sans,11" notitle, \
     1 with lines dt 2 lw 2 lc rgb "black" title "parity with Go"
EOF
  mv "$SVG.tmp" "$SVG"
  printf 'chart: %s\n' "$SVG"
fi
