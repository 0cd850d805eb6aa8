#!/usr/bin/env bash
# The workload suite, small: each workload runs plainly and under libfragscope.so, prints the
# same checksum both ways, reports its live bytes, and its final snapshot balances.
# Usage: workloads_test.sh BENCH_DIR LIBFRAGSCOPE FRAGSCOPE
set -euo pipefail
bench="$1" shim="$2" cli="$3"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
small=(
  "wl_prodcons --items 200000 --window 5000"
  "wl_sawtooth --cycles 4 --peak 20000"
  "wl_ttl_cache --ticks 300 --per-tick 500"
  "wl_pinning --rounds 100000 --records 5000"
  "wl_thread_churn --rounds 5 --threads 3 --blocks 2000"
)
for w in "${small[@]}"; do
  name="${w%% *}"
  # shellcheck disable=SC2086
  plain="$("$bench"/$w)"
  # shellcheck disable=SC2086
  shimmed="$(LD_PRELOAD="$shim" FRAGSCOPE_OUTPUT="$out/$name.%p.jsonl" FRAGSCOPE_SUMMARY=0 "$bench"/$w)"
  echo "$plain"
  sum() { sed -n 's/.*checksum=\([0-9]*\).*/\1/p' <<<"$1"; }
  [[ -n "$(sum "$plain")" && "$(sum "$plain")" == "$(sum "$shimmed")" ]] || { echo "FAIL: $name: checksum differs under the shim"; exit 1; }
  grep -qE "live_bytes=[1-9][0-9]* rss_bytes=[1-9]" <<<"$plain" || { echo "FAIL: $name: no live bytes or RSS"; exit 1; }
  "$cli" check "$out/$name".*.jsonl >/dev/null
done
echo PASS
