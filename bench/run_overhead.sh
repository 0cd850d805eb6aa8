#!/usr/bin/env bash
# run_overhead.sh: the shim's per-call overhead. Runs fragscope_hook_bench twice with the same
# arguments, plain and with LD_PRELOAD=LIB, and prints one row per benchmark: plain ns,
# shimmed ns and their ratio (median of 3 repetitions).
#
# Usage:   bench/run_overhead.sh LIB [BENCHMARK_ARGS...]
#   LIB              the library to preload, e.g. build/shim/libfragscope.so
#   BENCHMARK_ARGS   passed to both runs, e.g. --benchmark_filter=MallocFree
# Environment:
#   FRAGSCOPE_BUILD_DIR  build tree holding bench/fragscope_hook_bench (default: <repo>/build)
#   METRIC               cpu_time (default: CPU per call, steady on a busy machine) or
#                        real_time (wall clock per call: also shows threads waiting on a lock)
#   KEEP_TMP=1           keep the JSON results (their directory is printed)
# Needs: bash, awk, mktemp (all in a base Debian install).
set -euo pipefail

usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0" >&2; exit 2; }
[[ $# -ge 1 && $1 != -h && $1 != --help ]] || usage
lib=$1
shift

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
build_dir=${FRAGSCOPE_BUILD_DIR:-$here/../build}
bench=$build_dir/bench/fragscope_hook_bench
metric=${METRIC:-cpu_time}

die() { echo "run_overhead: $*" >&2; exit 1; }
[[ -x $bench ]] || die "$bench not found; build target fragscope_hook_bench or set FRAGSCOPE_BUILD_DIR"
[[ -f $lib ]] || die "$lib: no such library"
[[ $metric == cpu_time || $metric == real_time ]] || die "METRIC must be cpu_time or real_time"
lib=$(cd "$(dirname "$lib")" && pwd)/$(basename "$lib")  # a relative LD_PRELOAD depends on the cwd
# ld.so only warns and runs on without it when a preload fails; a comparison against nothing
# would look like zero overhead, so check first.
if LD_PRELOAD=$lib /bin/true 2>&1 | grep -q 'cannot be preloaded'; then
  echo "run_overhead: $lib cannot be preloaded:" >&2
  LD_PRELOAD=$lib /bin/true
  exit 1
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/fragscope-overhead.XXXXXX")
if [[ ${KEEP_TMP:-0} == 1 ]]; then
  echo "run_overhead: results kept in $tmp" >&2
else
  trap 'rm -rf "$tmp"' EXIT
fi

common=(--benchmark_repetitions=3 --benchmark_report_aggregates_only=true
        --benchmark_out_format=json "$@")

# The benchmark's console table goes to stderr to show progress; stdout is only our table.
echo "== plain" >&2
"$bench" "${common[@]}" --benchmark_out="$tmp/plain.json" >&2
echo "== LD_PRELOAD=$lib" >&2
mkdir -p "$tmp/fragscope-output"
FRAGSCOPE_OUTPUT=$tmp/fragscope-output/fragscope.%p.jsonl FRAGSCOPE_SUMMARY=0 LD_PRELOAD=$lib \
  "$bench" "${common[@]}" --benchmark_out="$tmp/shim.json" >&2

# Prints "run_name value_in_ns" for each median aggregate. Google Benchmark writes one key per
# line, so a line-oriented reader is enough and needs no jq or python.
medians() {
  awk -v metric="\"$metric\":" '
    /^ *\{/ { name = ""; agg = ""; value = ""; unit = "ns" }
    $1 == "\"run_name\":"       { name = $2; gsub(/[",]/, "", name) }
    $1 == "\"aggregate_name\":" { agg = $2;  gsub(/[",]/, "", agg) }
    $1 == metric                { value = $2; gsub(/,/, "", value) }
    $1 == "\"time_unit\":"      { unit = $2; gsub(/[",]/, "", unit) }
    /^ *\}/ && agg == "median" && name != "" && value != "" {
      scale = (unit == "us") ? 1e3 : (unit == "ms") ? 1e6 : (unit == "s") ? 1e9 : 1
      printf "%s %.6g\n", name, value * scale
      agg = ""
    }' "$1"
}

medians "$tmp/plain.json" >"$tmp/plain.txt"
medians "$tmp/shim.json" >"$tmp/shim.txt"
[[ -s $tmp/plain.txt && -s $tmp/shim.txt ]] || die "no median results in the JSON (KEEP_TMP=1 keeps it)"

echo
echo "median $metric per iteration, ns (3 repetitions each); preloaded: $lib"
awk '
  NR == FNR { shim[$1] = $2; next }
  FNR == 1 { printf "%-34s %12s %12s %8s\n", "benchmark", "plain", "shimmed", "ratio" }
  {
    s = ($1 in shim) ? shim[$1] : ""
    ratio = (s != "" && $2 > 0) ? sprintf("%.2f", s / $2) : "-"
    printf "%-34s %12.1f %12s %8s\n", $1, $2, (s == "" ? "-" : sprintf("%.1f", s)), ratio
  }' "$tmp/shim.txt" "$tmp/plain.txt"
