#!/usr/bin/env bash
# Installs the Debian 12 packages fragscope needs to build, test and benchmark, when missing.
# Runs apt-get only if something is missing, so it is quick and offline-safe on a ready machine.
# Usage: scripts/install-deps.sh [--test]   (as root, or with sudo available)
#   without --test: what building and the demo need; with it, also what the tests and benchmarks use.
set -euo pipefail

packages=(
  # build
  g++ cmake make pkg-config
  libjemalloc-dev libunwind-dev libboost-dev libfmt-dev nlohmann-json3-dev libcli11-dev
  # the pprof export (report --pprof): profile.proto compiled by protoc, written with libprotobuf
  protobuf-compiler libprotobuf-dev
  # tests and benchmarks are built with everything else
  googletest libgtest-dev libgmock-dev libbenchmark-dev
  # `fragscope report` names call sites' frames with binutils' addr2line
  binutils
)
if [ "${1:-}" = "--test" ]; then
  packages+=(
    # the libFuzzer targets (scripts/fuzz.sh): clang, and its runtimes (libFuzzer, ASan, UBSan)
    clang libclang-rt-14-dev
    # allocators loaded for comparisons
    libgoogle-perftools-dev libmimalloc-dev
    # real programs the end-to-end tests preload the shim into, and reference tools
    python3 git sqlite3 gcc libc6-dev coreutils bash time heaptrack
    # Redis (Debian's, on jemalloc) for the verdict scenario: its INFO memory and MEMORY DOCTOR are ground truth
    redis-server redis-tools
    # checks the pools' Valgrind annotations (its headers turn them on at build time)
    valgrind
    # a real Prometheus (and promtool) to check the metrics, a real browser to check the HTML report,
    # Go's pprof (go tool pprof) to read the pprof export
    prometheus chromium curl golang-go
  )
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi
echo "install-deps: installing ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null; then SUDO="sudo"; else
    echo "install-deps: need root (or sudo) to install: ${missing[*]}" >&2
    exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
