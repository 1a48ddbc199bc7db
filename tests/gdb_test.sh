#!/bin/sh
# gdb_test.sh TARGET SCRIPT -- scripts/weft-gdb.py against a live program:
# "info goroutines" lists both parked goroutines with their state and name,
# "goroutine 1 bt" shows the function goroutine 1 parked in, and the
# thread's own registers are back afterwards. Exit 77 (skip) without gdb.
target=$1 script=$2
command -v gdb >/dev/null 2>&1 || { echo "gdb not found: skipped"; exit 77; }
out=$(gdb -batch -nx -x "$script" -ex 'break gdb_breakpoint' -ex run \
  -ex 'info goroutines' -ex 'goroutine 1 bt' -ex 'goroutine 2 bt' \
  -ex 'echo AFTER\n' -ex bt "$target" 2>&1)
echo "$out"
fail() { echo "FAIL: $1"; exit 1; }
if echo "$out" | grep -q "ptrace: Operation not permitted"; then
  echo "ptrace not permitted here: skipped"; exit 77
fi
echo "$out" | grep -Eq '^ +1 chan receive +"receiver" +gdb_park_recv' ||
  fail "info goroutines lacks goroutine 1"
echo "$out" | grep -Eq '^ +2 sleep +"sleeper" +gdb_park_sleep' ||
  fail "info goroutines lacks goroutine 2"
echo "$out" | sed -n '/AFTER/q;p' | grep -Eq '#[0-9]+ .*gdb_park_recv' ||
  fail "goroutine 1 bt does not reach gdb_park_recv"
echo "$out" | sed -n '/AFTER/q;p' | grep -Eq '#[0-9]+ .*gdb_park_sleep' ||
  fail "goroutine 2 bt does not reach gdb_park_sleep"
echo "$out" | sed -n '/AFTER/,$p' | grep -Eq '#0 .*gdb_breakpoint' ||
  fail "the thread's registers were not restored"
echo "PASS"
