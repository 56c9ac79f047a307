#!/bin/sh
# The stable CPU figure for the per-event path: instructions per event for
# decode + fold (tests/bench/bench_decode_fold.c), counted by callgrind inside
# the measured loop only, for the object form {"ts":<ms>,"v":<x>} and per
# record of SenML packs of 50. Instruction counts do not depend on the
# machine's load, unlike wall time, so this is the figure to compare commits by.
#     sh scripts/callgrind-decode.sh [build dir, default build/rel]
# Needs valgrind; the build must have tests/bench (WINDROW_TESTS=ON). The last
# two columns count allocations inside the measured loop: through plat_malloc
# (the bench's counting hooks) and any call into the C library's allocator
# (callgrind's call graph); the per-event path must show 0 and "none".
set -eu
cd "$(dirname "$0")/.."
BUILD=${1:-build/rel}
BIN=$BUILD/tests/bench/bench_decode_fold
[ -x "$BIN" ] || cmake --build "$BUILD" --target bench_decode_fold
OUT=$(mktemp -d /tmp/windrow-callgrind.XXXXXX)
trap 'rm -rf "$OUT"' EXIT

measure() { # form messages
    valgrind --tool=callgrind --toggle-collect=measured_loop \
        --callgrind-out-file="$OUT/$1.out" "$BIN" "$1" "$2" >"$OUT/$1.txt" 2>"$OUT/$1.err" || {
        cat "$OUT/$1.err" "$OUT/$1.txt" >&2
        exit 1
    }
    ir=$(sed -n 's/^==[0-9]*== Collected : \([0-9]*\)$/\1/p' "$OUT/$1.err")
    events=$(sed -n 's/.* events=\([0-9]*\) .*/\1/p' "$OUT/$1.txt")
    allocs=$(sed -n 's/.* allocations=\([0-9]*\).*/\1/p' "$OUT/$1.txt")
    # Calls into the C library's allocator inside the measured loop, from callgrind's call graph.
    mallocs=$(callgrind_annotate --inclusive=yes "$OUT/$1.out" 2>/dev/null |
        grep -c -E ':(malloc|calloc|realloc) ' || true)
    awk -v f="$1" -v ir="$ir" -v ev="$events" -v a="$allocs" -v m="$mallocs" 'BEGIN {
        printf "%s,%d,%d,%.0f,%d,%s\n", f, ev, ir, ir / ev, a, (m == 0 ? "none" : "some") }'
}

echo "form,events,instructions,instructions_per_event,plat_allocations_in_loop,libc_allocator_in_loop"
measure object 20000
measure senml 2000
