#!/usr/bin/env bash
# The README's first command: installs what is missing, builds weft (static
# and shared library, examples, benchmarks) in build/, and runs the
# showcase examples.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)"
scripts/run-examples.sh build
