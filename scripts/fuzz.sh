#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz with clang (ASan + UBSan) in build-fuzz/ and runs
# each one for SECONDS_PER_TARGET seconds (default 20) over a temporary copy of its seed corpus
# (tests/fuzz/corpus, tests/data/proc), so the repository is not modified. Fails if any target
# finds a crash, a sanitizer report, a broken invariant or a timeout; the reproducers stay in
# build-fuzz/artifacts/ and their paths are printed (rerun one: build-fuzz/tests/fuzz/fuzz_T FILE).
# Usage: scripts/fuzz.sh [SECONDS_PER_TARGET]
#   FRAGSCOPE_FUZZ_BUILD_DIR  build directory (default build-fuzz)
#   FRAGSCOPE_FUZZ_JOBS       targets run at once (default: the number of cores)
#   FRAGSCOPE_FUZZ_TARGETS    the targets to run, e.g. "maps smaps" (default: all)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
seconds="${1:-20}"
if ! [[ "$seconds" =~ ^[0-9]+$ ]] || [ "$seconds" -lt 1 ]; then
  echo "usage: scripts/fuzz.sh [SECONDS_PER_TARGET]   (a whole number of seconds, at least 1)" >&2
  exit 2
fi
build="${FRAGSCOPE_FUZZ_BUILD_DIR:-$root/build-fuzz}"
jobs="${FRAGSCOPE_FUZZ_JOBS:-$(nproc)}"
proc="$root/tests/data/proc"
corpus="$root/tests/fuzz/corpus"

# Each target's seed files and dictionary.
seeds_of() {
  case "$1" in
    status | smaps_rollup | meminfo | vmstat | buddyinfo) printf '%s\n' "$proc/$1".* ;;
    maps) printf '%s\n' "$corpus"/maps/* ;;
    cgroup) printf '%s\n' "$corpus"/cgroup/* ;;
    smaps) printf '%s\n' "$corpus"/smaps/* "$corpus"/maps/* ;;
    system_text) printf '%s\n' "$proc"/{slabinfo,pagetypeinfo,buddyinfo,meminfo,vmstat}.* "$corpus"/system_text/* ;;
    snapshot_file | report_pipeline) printf '%s\n' "$corpus"/snapshot/* ;;
  esac
}
dict_of() {
  case "$1" in
    snapshot_file | report_pipeline) echo "$root/tests/fuzz/snapshot.dict" ;;
  esac
}

targets=(${FRAGSCOPE_FUZZ_TARGETS:-status smaps_rollup meminfo vmstat buddyinfo maps smaps cgroup system_text snapshot_file report_pipeline})

if ! command -v clang++ >/dev/null; then
  echo "fuzz: clang++ not found (scripts/install-deps.sh installs clang and libclang-rt-14-dev)" >&2
  exit 2
fi
start=$SECONDS
CC=clang CXX=clang++ cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ -DFRAGSCOPE_BUILD_FUZZERS=ON \
  -DFRAGSCOPE_SANITIZE=address,undefined -DFRAGSCOPE_BUILD_SHIM=OFF -DFRAGSCOPE_BUILD_POOLS=OFF \
  -DFRAGSCOPE_BUILD_TESTS=OFF -DFRAGSCOPE_BUILD_BENCH=OFF -DFRAGSCOPE_BUILD_EXAMPLES=OFF >/dev/null
cmake --build "$build" -j"$(nproc)" --target "${targets[@]/#/fuzz_}"
built=$SECONDS

artifacts="$build/artifacts"
logs="$build/fuzz-logs"
mkdir -p "$artifacts" "$logs"
work="$(mktemp -d "${TMPDIR:-/tmp}/fragscope-fuzz.XXXXXX")"
trap 'rm -rf "$work"' EXIT
find "$artifacts" -type f | sort >"$work/artifacts-before"

export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}" UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1}"
run_one() {
  local t="$1" dict=() seeds=()
  mkdir -p "$work/corpus/$t"
  mapfile -t seeds < <(seeds_of "$t")
  cp "${seeds[@]}" "$work/corpus/$t/"
  [ -n "$(dict_of "$t")" ] && dict=(-dict="$(dict_of "$t")")
  set +e
  "$build/tests/fuzz/fuzz_$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$artifacts/$t-" "${dict[@]}" "$work/corpus/$t" >"$logs/$t.log" 2>&1
  echo $? >"$logs/$t.rc"
}

echo "fuzz: ${#targets[@]} targets, ${seconds} s each, ${jobs} at a time; logs in $logs"
running=0
for t in "${targets[@]}"; do
  rm -f "$logs/$t.rc"
  run_one "$t" &
  running=$((running + 1))
  if [ "$running" -ge "$jobs" ]; then
    wait -n || true
    running=$((running - 1))
  fi
done
wait

failed=()
for t in "${targets[@]}"; do
  rc="$(cat "$logs/$t.rc" 2>/dev/null || echo 1)"
  runs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$logs/$t.log" | tail -1)"
  cov="$(grep -o 'cov: [0-9]*' "$logs/$t.log" | tail -1 || true)"
  if [ "$rc" = 0 ]; then
    printf 'fuzz: %-16s ok: %s inputs, %s\n' "$t" "${runs:-?}" "${cov:-cov: ?}"
  else
    printf 'fuzz: %-16s FAILED (exit %s); the end of %s:\n' "$t" "$rc" "$logs/$t.log"
    tail -n 40 "$logs/$t.log" | sed 's/^/    /'
    failed+=("$t")
  fi
done
found="$(find "$artifacts" -type f | sort | comm -13 "$work/artifacts-before" -)"
if [ -n "$found" ]; then
  echo "fuzz: reproducers (run one with build-fuzz/tests/fuzz/fuzz_TARGET FILE):"
  echo "$found" | sed 's/^/    /'
fi
echo "fuzz: build $((built - start)) s, runs $((SECONDS - built)) s"
if [ ${#failed[@]} -ne 0 ]; then
  echo "fuzz: failed: ${failed[*]}"
fi
echo "fuzz: $((${#targets[@]} - ${#failed[@]})) passed, ${#failed[@]} failed"
[ ${#failed[@]} -eq 0 ]
