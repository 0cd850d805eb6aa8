#!/usr/bin/env bash
# Runs the workload suite under every allocator with `fragscope compare` and writes
# bench/RESULTS.md: the machine, the exact commands, and one table per workload.
# Usage: bench/run_suite.sh [RUNS]        (default 3 runs per allocator; ~15 minutes on 2 cores)
# Needs a build with the bench and the CLI: $FRAGSCOPE_BUILD_DIR, by default build/.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${FRAGSCOPE_BUILD_DIR:-$root/build}"
runs="${1:-3}"
cli="$build/reporter/cli/fragscope"
out="$root/bench/RESULTS.md"
for f in "$cli" "$build/bench/wl_churn"; do
  [[ -x "$f" ]] || { echo "run_suite: $f is not built (cmake --build $build)" >&2; exit 2; }
done

# name|arguments[|compare options]: sized so that each plain run takes about 0.2-6 s here. The
# example service's pool sizes are those `fragscope advise` proposes for it (README's story).
suite=(
  "wl_churn|--iterations 10000000"
  "wl_churn_mt|--iterations 10000000 --threads 2"
  "wl_map_churn|--iterations 2000000"
  "wl_prodcons|--items 3000000"
  "wl_sawtooth|--cycles 6 --peak 100000"
  "wl_ttl_cache|--ticks 3000 --per-tick 2000"
  "wl_pinning|--rounds 2000000"
  "wl_thread_churn|--rounds 100"
  "fragmenting_service|--seconds 6 --quiet|--pool-sizes 48,64,80,96"
  "fragmenting_service|--seconds 6 --quiet --pools|--allocators glibc,jemalloc"
)

pkg_version() { dpkg-query -W -f='${Version}' "$1" 2>/dev/null || echo "not installed"; }
tmp="$(mktemp)"
trap 'rm -f "$tmp"' EXIT
{
  echo "# Workload suite under every allocator"
  echo
  echo "Produced by \`bench/run_suite.sh $runs\` at commit \`$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)\`"
  echo "on $(date -u +%Y-%m-%d). Each row is ${runs} runs of the workload under that allocator, taken in rounds"
  echo "(every allocator once, then again), so that a change in the machine's load spreads over all of"
  echo "them. \`±\` is (max − min) / median over the runs. What each workload does: [README.md](README.md#the-workload-suite)."
  echo
  echo "## Machine"
  echo
  echo "- CPU: $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) cores online"
  echo "- kernel $(uname -r), $(. /etc/os-release && echo "$PRETTY_NAME"), glibc $(ldd --version | head -1 | awk '{print $NF}')"
  echo "- jemalloc $(pkg_version libjemalloc2), tcmalloc $(pkg_version libtcmalloc-minimal4), mimalloc $(pkg_version libmimalloc2.0)"
  echo "- \`pools\` is fragscope's preload remediation (\`FRAGSCOPE_POOL_SIZES\`) on top of glibc, serving"
  echo "  the most frequent request sizes of the glibc run (the sizes are listed under each table)"
  echo
} >"$tmp"
for entry in "${suite[@]}"; do
  IFS='|' read -r name args options <<<"$entry"
  title="$name $args"
  bin="$build/bench/$name"
  [[ $name == fragmenting_service ]] && bin="$build/examples/$name"
  echo "run_suite: $name $args $options" >&2
  # shellcheck disable=SC2086
  table="$("$cli" compare --runs "$runs" $options -- "$bin" $args 2>/dev/null)" || true
  {
    echo "## $title"
    echo
    echo '```text'
    echo "\$ fragscope compare --runs $runs $options -- ${bin#"$root/"} $args"
    echo "$table" | sed "s|$root/||g"
    echo '```'
    echo
  } >>"$tmp"
done
mv "$tmp" "$out"
trap - EXIT
echo "run_suite: wrote $out" >&2
