#!/bin/sh
# scripts/check-layers.sh passes on src/ as it is, and fails, naming the
# file, the line and both layers, on a copy with one upward include added
# (the core reaching debug/), and on a file outside the layer folders.
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
check="$root/scripts/check-layers.sh"
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT

"$check" "$root/src" >/dev/null || { echo "FAIL: src/ as it is"; exit 1; }

cp -r "$root/src" "$tmp/up"
printf '#include "debug/deadlock.h"\n' >>"$tmp/up/sched/sched.c"
if out=$("$check" "$tmp/up" 2>&1); then
  echo "FAIL: an upward include passed"; exit 1
fi
echo "$out" | grep -q 'sched/sched.c:[0-9]*: sched/ includes debug/ ("debug/deadlock.h"), a layer above it' ||
  { echo "FAIL: message: $out"; exit 1; }

cp -r "$root/src" "$tmp/stray"
printf 'int x;\n' >"$tmp/stray/stray.c"
if out=$("$check" "$tmp/stray" 2>&1); then
  echo "FAIL: a file outside the layers passed"; exit 1
fi
echo "$out" | grep -q 'stray.c is in no layer folder' ||
  { echo "FAIL: message: $out"; exit 1; }
echo "check-layers self-test: ok"
