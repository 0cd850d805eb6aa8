#!/usr/bin/env bash
# run_workloads.sh: what the shim costs a whole program, next to heaptrack. Runs each workload
# RUNS times in these modes: plain, preload (LD_PRELOAD=LIB: the shim in full mode, or an
# allocator to compare), sampled (the shim with FRAGSCOPE_MODE=sampled) and heaptrack. Prints per
# workload and mode the median wall time, CPU time (user + system, all threads) and peak RSS and
# their ratio to plain, and checks that every run printed the same checksum as the plain run:
# a shim must not change what the program computes.
#
# Usage:   bench/run_workloads.sh LIB [RUNS]
#   LIB    the library to preload, e.g. build/shim/libfragscope.so
#   RUNS   runs per workload and mode (default 3); the modes take turns, so that a burst of
#          load from elsewhere on the machine hits all of them alike
# Environment:
#   FRAGSCOPE_BUILD_DIR  build tree holding bench/wl_* (default: <repo>/build)
#   WORKLOADS            default "wl_churn wl_churn_mt wl_map_churn"
#   MODES                modes besides plain, default "preload sampled heaptrack"; plain always
#                        runs first, as the baseline
#   UNDER                an allocator library to run every mode over (plain included), e.g.
#                        /usr/lib/x86_64-linux-gnu/libjemalloc.so.2; preloaded after the shim
#   WL_CHURN_ARGS, WL_CHURN_MT_ARGS, WL_MAP_CHURN_ARGS
#                        arguments for one workload, e.g. WL_CHURN_ARGS="--iterations 1000000"
#   KEEP_TMP=1           keep outputs (program output, fragscope and heaptrack data) in the
#                        directory printed; otherwise each run's profiler data is deleted
# In preload mode FRAGSCOPE_OUTPUT points into a fresh directory per run and FRAGSCOPE_SUMMARY=0.
# heaptrack writes its data file into the temporary directory; its wall time includes its own
# post-processing, and its peak RSS is that of the largest process in its tree.
# Needs: bash, awk, sort, date, mktemp; /usr/bin/time (Debian package "time") for peak RSS,
# else that column shows "-"; heaptrack (package "heaptrack") for that mode, else it is skipped.
set -euo pipefail

usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0" >&2; exit 2; }
[[ $# -ge 1 && $# -le 2 && $1 != -h && $1 != --help ]] || usage
lib=$1
runs=${2:-3}
[[ $runs =~ ^[1-9][0-9]*$ ]] || { echo "run_workloads: RUNS must be a positive integer" >&2; exit 2; }
die() { echo "run_workloads: $*" >&2; exit 1; }

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
build_dir=${FRAGSCOPE_BUILD_DIR:-$here/../build}
read -r -a workloads <<<"${WORKLOADS:-wl_churn wl_churn_mt wl_map_churn}"
modes=(plain)  # the baseline: always, first, once
for mode in ${MODES:-preload sampled heaptrack}; do
  case $mode in
    plain) ;;
    preload) modes+=(preload) ;;
    sampled) modes+=(sampled) ;;
    heaptrack)
      if command -v heaptrack >/dev/null; then
        modes+=(heaptrack)
      else
        echo "run_workloads: heaptrack not installed; skipping that mode" >&2
      fi ;;
    *) echo "run_workloads: unknown mode '$mode' (plain, preload, sampled, heaptrack)" >&2; exit 2 ;;
  esac
done

[[ -f $lib ]] || die "$lib: no such library"
lib=$(cd "$(dirname "$lib")" && pwd)/$(basename "$lib")  # the runs change directory
# ld.so only warns and runs on without it when a preload fails: check first.
if LD_PRELOAD=$lib /bin/true 2>&1 | grep -q 'cannot be preloaded'; then
  echo "run_workloads: $lib cannot be preloaded:" >&2
  LD_PRELOAD=$lib /bin/true
  exit 1
fi
for wl in "${workloads[@]}"; do
  [[ -x $build_dir/bench/$wl ]] || die "$build_dir/bench/$wl not found; build it or set FRAGSCOPE_BUILD_DIR"
done
under=${UNDER:-}
[[ -z $under || -f $under ]] || die "UNDER=$under: no such library"
timer=()
[[ -x /usr/bin/time ]] && timer=(/usr/bin/time -f "%M %U %S" -o)
[[ ${#timer[@]} -gt 0 ]] || echo "run_workloads: /usr/bin/time not installed; peak RSS and CPU time not measured" >&2

tmp=$(mktemp -d "${TMPDIR:-/tmp}/fragscope-workloads.XXXXXX")
if [[ ${KEEP_TMP:-0} == 1 ]]; then
  echo "run_workloads: outputs kept in $tmp" >&2
else
  trap 'rm -rf "$tmp"' EXIT
fi

# run_once WORKLOAD MODE RUN: runs it and appends "wall_seconds peak_kib checksum cpu_seconds" to
# $tmp/WORKLOAD.MODE.results. Returns non-zero if the program failed or printed no result.
run_once() {
  local wl=$1 mode=$2 run=$3
  local bin=$build_dir/bench/$wl
  local args_var=${wl^^}_ARGS
  local -a args
  read -r -a args <<<"${!args_var:-}"
  local base=$tmp/$wl.$mode.$run
  local -a cmd
  local plain_preload=${under:+LD_PRELOAD=$under}
  case $mode in
    plain) cmd=(env $plain_preload "$bin" "${args[@]}") ;;
    preload | sampled)
      mkdir -p "$base.fragscope"
      cmd=(env FRAGSCOPE_OUTPUT="$base.fragscope/fragscope.%p.jsonl" FRAGSCOPE_SUMMARY=0
           FRAGSCOPE_MODE=$([[ $mode == sampled ]] && echo sampled || echo full)
           LD_PRELOAD="$lib${under:+:$under}" "$bin" "${args[@]}") ;;
    heaptrack) cmd=(env $plain_preload heaptrack -o "$base.heaptrack" "$bin" "${args[@]}") ;;
  esac
  local -a measure=()
  [[ ${#timer[@]} -gt 0 ]] && measure=("${timer[@]}" "$base.rss")

  local start end status=0
  start=$(date +%s%N)
  (cd "$tmp" && "${measure[@]}" "${cmd[@]}") >"$base.out" 2>"$base.err" || status=$?
  end=$(date +%s%N)

  local result
  result=$(grep "^$wl " "$base.out" | tail -n 1 || true)
  if [[ $status -ne 0 || -z $result ]]; then
    echo "run_workloads: $wl ($mode, run $run) failed with status $status; its stderr ends:" >&2
    tail -n 5 "$base.err" >&2
    return 1
  fi
  local peak=- cpu=-
  if [[ -s $base.rss ]]; then
    read -r peak user sys < <(tail -n 1 "$base.rss")
    cpu=$(awk -v u="$user" -v s="$sys" 'BEGIN { printf "%.2f", u + s }')
  fi
  local checksum=${result##*checksum=}
  checksum=${checksum%% *}
  local wall
  wall=$(awk -v ns=$((end - start)) 'BEGIN { printf "%.3f", ns / 1e9 }')
  echo "$wall $peak $checksum $cpu" >>"$tmp/$wl.$mode.results"
  printf '  %-14s %-10s run %d/%d: %8.2f s  CPU %s s  peak %s KiB\n' "$wl" "$mode" "$run" "$runs" "$wall" "$cpu" \
    "$peak" >&2
  # Profiler data can be hundreds of MB per run; keep it only on request.
  [[ ${KEEP_TMP:-0} == 1 ]] || rm -rf "$base.fragscope" "$base".heaptrack*
}

# median FILE COLUMN: the median of a column of numbers, "-" if any run lacks it.
median() {
  awk -v c="$2" '
    $c == "-" { missing = 1; next }
    { v[++n] = $c + 0 }
    END {
      if (missing || n == 0) { print "-"; exit }
      for (i = 2; i <= n; i++)  # insertion sort: n is the number of runs
        for (j = i; j > 1 && v[j - 1] > v[j]; j--) { t = v[j]; v[j] = v[j - 1]; v[j - 1] = t }
      print (n % 2) ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
    }' "$1"
}

failed=0
for wl in "${workloads[@]}"; do
  for ((run = 1; run <= runs; run++)); do
    for mode in "${modes[@]}"; do
      run_once "$wl" "$mode" "$run" || failed=1
    done
  done
done

echo
echo "median of $runs run(s); x plain = ratio to the plain median; preloaded: $lib${under:+; every mode over $under}"
printf '%-14s %-10s %9s %8s %8s %8s %14s %8s  %s\n' workload mode wall_s "x plain" cpu_s "x plain" peak_rss_MiB \
  "x plain" checksum
for wl in "${workloads[@]}"; do
  plain_results=$tmp/$wl.plain.results
  [[ -s $plain_results ]] || { printf '%-14s %-10s %s\n' "$wl" plain "no successful run"; continue; }
  plain_wall=$(median "$plain_results" 1)
  plain_rss=$(median "$plain_results" 2)
  plain_cpu=$(median "$plain_results" 4)
  plain_checksum=$(awk 'NR == 1 { print $3 }' "$plain_results")
  for mode in "${modes[@]}"; do
    results=$tmp/$wl.$mode.results
    if [[ ! -s $results ]]; then
      printf '%-14s %-10s %s\n' "$wl" "$mode" "no successful run"
      continue
    fi
    checksums=same
    # Compared as strings: 64-bit checksums do not survive awk's doubles.
    if awk -v want="$plain_checksum" '($3 "") != (want "") { bad = 1 } END { exit !bad }' "$results"; then
      checksums=DIFFERS
      failed=1
    fi
    awk -v wl="$wl" -v mode="$mode" -v wall="$(median "$results" 1)" -v rss="$(median "$results" 2)" \
      -v cpu="$(median "$results" 4)" -v pcpu="$plain_cpu" \
      -v pwall="$plain_wall" -v prss="$plain_rss" -v sums="$checksums" 'BEGIN {
        rss_mib = (rss == "-") ? "-" : sprintf("%.1f", rss / 1024)
        rss_x = (rss == "-" || prss == "-" || prss == 0) ? "-" : sprintf("%.2f", rss / prss)
        cpu_x = (cpu == "-" || pcpu == "-" || pcpu == 0) ? "-" : sprintf("%.2f", cpu / pcpu)
        printf "%-14s %-10s %9.2f %8.2f %8s %8s %14s %8s  %s\n", wl, mode, wall, wall / pwall, cpu, cpu_x, rss_mib,
          rss_x, sums
      }'
  done
done
[[ $failed -eq 0 ]] || die "some runs failed or computed a different checksum (see above)"
