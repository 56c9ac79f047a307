#!/bin/sh
# Install what is missing, build, and run every test: once in a normal build,
# once under AddressSanitizer + UndefinedBehaviorSanitizer; then every fuzz
# harness for 15 s.
set -eu
cd "$(dirname "$0")/.."
sh scripts/deps.sh
JOBS=$(nproc)

cmake -S . -B build/release -DCMAKE_BUILD_TYPE=RelWithDebInfo -DWINDROW_TESTS=ON
cmake --build build/release -j "$JOBS"
ctest --test-dir build/release --output-on-failure -j "$JOBS"

cmake -S . -B build/asan -DCMAKE_BUILD_TYPE=Debug -DWINDROW_SANITIZE=address,undefined -DWINDROW_TESTS=ON
cmake --build build/asan -j "$JOBS"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
    ctest --test-dir build/asan --output-on-failure -j "$JOBS"

# Every fuzz harness (clang + libFuzzer, ASan + UBSan) for a short bounded time.
sh scripts/fuzz.sh -t 15

# Board profiles: cross-built for aarch64 and armhf, unit tests and the core
# integration tests under qemu-user; the x86_64 package installed and checked.
for profile in rpi-aarch64 armhf-generic x86_64-gateway; do
    bash scripts/build-target.sh "$profile"
done
sh scripts/check-package.sh
