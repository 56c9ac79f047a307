#!/bin/sh
# Install what is missing, build windrow, and run the demo (DEMO_SECONDS, default 30).
set -eu
cd "$(dirname "$0")/.."
sh scripts/deps.sh
cmake -S . -B build/demo -DCMAKE_BUILD_TYPE=RelWithDebInfo -DWINDROW_TESTS=OFF >/dev/null
cmake --build build/demo -j "$(nproc)" --target windrow
exec python3 scripts/demo.py
