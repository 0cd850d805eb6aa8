#!/usr/bin/env bash
# The second README command (and CI's): installs what is missing, builds, runs every test suite.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/install-deps.sh" --test
"$root/scripts/build.sh"
build="${FRAGSCOPE_BUILD_DIR:-$root/build}"
(cd "$build" && ctest -j"$(nproc)" --output-on-failure --timeout 600)

# The recording core, the parsers and the reporter again, under AddressSanitizer and
# UndefinedBehaviorSanitizer (the preloaded shim itself is never sanitized).
asan="${build}-asan"
cmake -S "$root" -B "$asan" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFRAGSCOPE_SANITIZE=address,undefined \
  -DFRAGSCOPE_BUILD_BENCH=OFF -DFRAGSCOPE_BUILD_EXAMPLES=OFF >/dev/null
cmake --build "$asan" -j"$(nproc)" --target fragscope_unit_tests fragscope_pool_tests fragscope
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
"$asan/tests/fragscope_unit_tests" --gtest_brief=1
"$asan/tests/pools/fragscope_pool_tests" --gtest_brief=1

# The pools and the recording core again under ThreadSanitizer: the pools' thread caches and
# cross-thread frees; the live table's locks, and the event applier that drops them while it is
# the table's only user.
tsan="${build}-tsan"
cmake -S "$root" -B "$tsan" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFRAGSCOPE_SANITIZE=thread \
  -DFRAGSCOPE_BUILD_SHIM=ON -DFRAGSCOPE_BUILD_REPORTER=ON -DFRAGSCOPE_BUILD_BENCH=OFF \
  -DFRAGSCOPE_BUILD_EXAMPLES=OFF >/dev/null
cmake --build "$tsan" -j"$(nproc)" --target fragscope_pool_tests fragscope_unit_tests
TSAN_OPTIONS=halt_on_error=1 "$tsan/tests/pools/fragscope_pool_tests" --gtest_brief=1
TSAN_OPTIONS=halt_on_error=1 "$tsan/tests/fragscope_unit_tests" --gtest_brief=1

# The /proc parsers, the snapshot reader and the reports under libFuzzer (ASan + UBSan, clang,
# build-fuzz/): 15 s per target, as many at a time as there are cores.
FRAGSCOPE_FUZZ_BUILD_DIR="${build}-fuzz" "$root/scripts/fuzz.sh" "${FRAGSCOPE_FUZZ_SECONDS:-15}"
