#!/bin/sh
# Build the libFuzzer harnesses (clang, WINDROW_FUZZ=ON) and run each one,
# one after the other, bounded by time or by executions:
#     sh scripts/fuzz.sh [-t SECONDS | -n RUNS] [harness...]
# Default: every harness for 15 s (what CI runs). New inputs go to a
# temporary directory, never into the seed corpus in tests/data/corpus; a
# crash leaves its input in build/fuzz/crashes/ and fails the script.
# Long runs (e.g. -n 10000000) belong on a quiet machine: they run niced.
# WINDROW_FUZZ_FLAGS adds libFuzzer options (e.g. -max_len=1024).
set -eu
cd "$(dirname "$0")/.."
LIMIT="-max_total_time=15"
while [ $# -gt 0 ]; do
    case "$1" in
    -t) LIMIT="-max_total_time=$2"; shift 2 ;;
    -n) LIMIT="-runs=$2"; shift 2 ;;
    *) break ;;
    esac
done
BUILD=build/fuzz
CC=clang cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DWINDROW_FUZZ=ON \
    -DWINDROW_TESTS=ON >/dev/null
names="$*"
if [ -z "$names" ]; then
    for src in tests/fuzz/fuzz_*.c; do
        n=$(basename "$src" .c)
        names="$names ${n#fuzz_}"
    done
fi
targets=""
for n in $names; do targets="$targets fuzz_$n"; done
cmake --build "$BUILD" -j "$(nproc)" --target $targets
mkdir -p "$BUILD/crashes"
for n in $names; do
    work=$(mktemp -d /tmp/windrow-fuzz-$n.XXXXXX)
    echo "fuzz_$n: $LIMIT, $(date -u +%Y-%m-%dT%H:%M:%SZ), commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
    start=$(date +%s)
    status=0
    nice -n 19 "$BUILD/tests/fuzz/fuzz_$n" $LIMIT ${WINDROW_FUZZ_FLAGS:-} -print_final_stats=1 \
        -artifact_prefix="$BUILD/crashes/$n-" "$work" "tests/data/corpus/$n" \
        >"$work.log" 2>&1 || status=$?
    end=$(date +%s)
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work.log" | tail -n 1)
    echo "fuzz_$n: ${runs:-?} executions in $((end - start)) s, exit $status"
    if [ "$status" -ne 0 ]; then
        tail -n 40 "$work.log" >&2
        rm -rf "$work"
        exit 1
    fi
    rm -rf "$work" "$work.log"
done
