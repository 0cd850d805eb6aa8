#!/usr/bin/env bash
# The second README command (and CI's): installs what is missing, builds, runs every test suite.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/install-deps.sh"
"$root/scripts/build.sh"
build="${FRAGSCOPE_BUILD_DIR:-$root/build}"
cd "$build"
ctest -j"$(nproc)" --output-on-failure --timeout 600
