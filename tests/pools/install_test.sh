#!/usr/bin/env bash
# fragscope::pools as a user gets it: `cmake --install` into a fresh prefix, then a separate
# project (examples/installed) built with find_package(fragscope), and the same program built
# with only the pkg-config file. Usage: install_test.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build="$1" src="$2"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

cmake --install "$build" --prefix "$work/prefix" >/dev/null
test -f "$work/prefix/include/fragscope/pools/pools.hpp"
test -f "$work/prefix/lib/cmake/fragscope/fragscopeConfig.cmake"

cmake -S "$src/examples/installed" -B "$work/consumer" -DCMAKE_PREFIX_PATH="$work/prefix" >/dev/null
cmake --build "$work/consumer" >/dev/null
"$work/consumer/consumer"

export PKG_CONFIG_PATH="$work/prefix/lib/pkgconfig"
# shellcheck disable=SC2046
g++ -O1 -o "$work/consumer-pc" "$src/examples/installed/main.cpp" $(pkg-config --cflags --libs fragscope-pools)
"$work/consumer-pc"
echo "PASS: installed package consumed with find_package and with pkg-config"
