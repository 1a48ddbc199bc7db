#!/usr/bin/env bash
# Fails when a file under src/ includes a layer above its own, or a file
# outside the layer folders (src/HACKING.md, "Layers").
# Usage: scripts/check-layers.sh [SRC_DIR]   (default: the project's src/)
# The layers, lowest first; a file may include its own layer and any layer
# to its left:
layers=(base arch sched wait chan sync ctx io debug)
set -uo pipefail
cd "${1:-$(dirname "$0")/../src}" || exit 1

rank() { # layer name -> index, or -1
  local i
  for i in "${!layers[@]}"; do
    [ "${layers[$i]}" = "$1" ] && { echo "$i"; return; }
  done
  echo -1
}

bad=0
while IFS= read -r file; do
  own=${file%%/*}
  own_rank=$(rank "$own")
  if [ "$own_rank" -lt 0 ]; then
    echo "check-layers: $file is in no layer folder"
    bad=1
    continue
  fi
  # Only quoted includes name weft's own headers; "weft.h" is the public one.
  while IFS=: read -r line inc; do
    [ "$inc" = "weft.h" ] && continue
    to=${inc%%/*}
    if [ "$to" = "$inc" ]; then
      echo "check-layers: $file:$line includes \"$inc\" without its layer"
      bad=1
      continue
    fi
    to_rank=$(rank "$to")
    if [ "$to_rank" -lt 0 ]; then
      echo "check-layers: $file:$line includes \"$inc\", in no layer"
      bad=1
    elif [ "$to_rank" -gt "$own_rank" ]; then
      echo "check-layers: $file:$line: $own/ includes $to/ (\"$inc\"), a layer above it"
      bad=1
    fi
  done < <(grep -n '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' "$file" |
           sed 's/^\([0-9]*\):[^"]*"\([^"]*\)".*/\1:\2/')
done < <(find . -path ./arch -prune -o \( -name '*.c' -o -name '*.h' \) -print |
         sed 's|^\./||' | sort; find arch -name '*.[ch]' | sort)

if [ "$bad" -ne 0 ]; then
  echo "check-layers: FAILED (an include must point to its own layer or below)"
  exit 1
fi
echo "check-layers: every include in src/ points down (${layers[*]})"
