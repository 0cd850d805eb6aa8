#!/usr/bin/env bash
# run_pool_bench.sh: the fragscope::pools benchmarks in one command. Runs pool_bench (every
# benchmark, plain: glibc under new/delete), then only the benchmarks that go through operator
# new/delete (new_delete, std::allocator) again under each preloadable allocator found
# (jemalloc, tcmalloc, mimalloc), then pool_frag in each mode (and its malloc mode under each
# allocator), and prints markdown tables: medians per benchmark, the allocators side by side,
# the fragmentation scenario and the issue's targets with our figure next to each.
# About 6 minutes on the 2-core development VM with the defaults; run it on an idle machine
# (the producer/consumer benchmark needs both cores).
#
# Usage:   bench/run_pool_bench.sh [BENCHMARK_ARGS...]
#   BENCHMARK_ARGS   passed to every pool_bench run, e.g. --benchmark_filter=single
#                    (the preloaded runs add their own filter after it)
# Environment:
#   FRAGSCOPE_BUILD_DIR  build tree holding bench/pool_bench and bench/pool_frag
#                        (default: <repo>/build; targets pool_bench and pool_frag)
#   REPETITIONS          repetitions per benchmark, the median is reported (default 3)
#   MIN_TIME             --benchmark_min_time per repetition, seconds (default 0.2)
#   FRAG_OBJECTS         pool_frag --objects (default 2000000)
#   ALLOCATORS           libraries to preload (default: the Debian paths of jemalloc, tcmalloc
#                        and mimalloc; a missing one is reported and skipped)
#   KEEP_TMP=1           keep the JSON results and pool_frag's lines (their directory is printed)
# Needs: bash, awk, mktemp (all in a base Debian install).
set -euo pipefail

usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0" >&2; exit 2; }
[[ ${1:-} != -h && ${1:-} != --help ]] || usage

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
build_dir=${FRAGSCOPE_BUILD_DIR:-$here/../build}
bench=$build_dir/bench/pool_bench
frag=$build_dir/bench/pool_frag
reps=${REPETITIONS:-3}
min_time=${MIN_TIME:-0.2}
frag_objects=${FRAG_OBJECTS:-2000000}
libdir=/usr/lib/x86_64-linux-gnu
allocators=${ALLOCATORS:-"$libdir/libjemalloc.so.2 $libdir/libtcmalloc_minimal.so.4 $libdir/libmimalloc.so.2"}

die() { echo "run_pool_bench: $*" >&2; exit 1; }
[[ -x $bench ]] || die "$bench not found; build target pool_bench or set FRAGSCOPE_BUILD_DIR"
[[ -x $frag ]] || die "$frag not found; build target pool_frag or set FRAGSCOPE_BUILD_DIR"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/fragscope-poolbench.XXXXXX")
if [[ ${KEEP_TMP:-0} == 1 ]]; then
  echo "run_pool_bench: results kept in $tmp" >&2
else
  trap 'rm -rf "$tmp"' EXIT
fi

# Short allocator names (glibc, jemalloc, tcmalloc, mimalloc) for the tables.
short_name() { local b; b=$(basename "$1"); b=${b#lib}; b=${b%%.so*}; echo "${b%_minimal}"; }

# Which allocators can really be preloaded: ld.so only warns when a preload fails and runs on,
# which would measure glibc under another allocator's name.
preloads=()
for lib in $allocators; do
  if [[ ! -f $lib ]]; then
    echo "run_pool_bench: $lib missing; $(short_name "$lib") skipped" | tee -a "$tmp/notes" >&2
  elif LD_PRELOAD=$lib /bin/true 2>&1 | grep -q 'cannot be preloaded'; then
    echo "run_pool_bench: $lib cannot be preloaded; $(short_name "$lib") skipped" | tee -a "$tmp/notes" >&2
  else
    preloads+=("$lib")
  fi
done

echo "run_pool_bench: $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg) at start" >&2
common=(--benchmark_repetitions="$reps" --benchmark_report_aggregates_only=true
        --benchmark_min_time="$min_time" --benchmark_out_format=json)

# 1. Everything, plain. The console table goes to stderr as progress; stdout is only our tables.
echo "== pool_bench, plain (glibc)" >&2
"$bench" "${common[@]}" "$@" --benchmark_out="$tmp/glibc.json" >&2

# 2. The new/delete benchmarks under each preloaded allocator.
for lib in "${preloads[@]}"; do
  name=$(short_name "$lib")
  echo "== pool_bench new/delete benchmarks, LD_PRELOAD=$lib" >&2
  LD_PRELOAD=$lib "$bench" "${common[@]}" "$@" --benchmark_filter='new_delete|std::allocator' \
    --benchmark_out="$tmp/$name.json" >&2
done

# 3. The fragmentation scenario.
echo "== pool_frag" >&2
for mode in malloc pools pools-mixed; do
  "$frag" --mode "$mode" --objects "$frag_objects" | sed 's/^pool_frag /pool_frag allocator=glibc /' | tee -a "$tmp/frag.txt" >&2
done
for lib in "${preloads[@]}"; do
  LD_PRELOAD=$lib "$frag" --mode malloc --objects "$frag_objects" |
    sed "s/^pool_frag /pool_frag allocator=$(short_name "$lib") /" | tee -a "$tmp/frag.txt" >&2
done
echo "run_pool_bench: load average $(cut -d' ' -f1-3 /proc/loadavg) at the end" >&2

# Prints "allocator name ns_per_item" for each benchmark of a JSON file: from the median's
# items_per_second (1e9 / it), or from the single run when a benchmark has no aggregates
# (boost::object_pool at 1e5, which runs once). Names lose /manual_time, /real_time, /repeats:N
# and /iterations:N. Google Benchmark writes one key per line, so awk needs no JSON parser.
medians() {
  awk -v alloc="$2" '
    function clean(n) { gsub(/\/(manual_time|real_time|iterations:[0-9]+|repeats:[0-9]+)/, "", n); return n }
    /^ *\{/ { name = ""; type = ""; agg = ""; ips = "" }
    $1 == "\"run_name\":"       { name = $0; sub(/^[^:]*: *"/, "", name); sub(/",? *$/, "", name) }
    $1 == "\"run_type\":"       { type = $2; gsub(/[",]/, "", type) }
    $1 == "\"aggregate_name\":" { agg = $2;  gsub(/[",]/, "", agg) }
    $1 == "\"items_per_second\":" { ips = $2; gsub(/,/, "", ips) }
    /^ *\}/ && name != "" && ips != "" {
      n = clean(name)
      if (!(n in seen)) { seen[n] = 1; ord[++k] = n }  # keep the order of the run
      if (type == "aggregate" && agg == "median") med[n] = 1e9 / ips
      else if (type == "iteration" && !(n in one)) one[n] = 1e9 / ips
      name = ""
    }
    END { for (i = 1; i <= k; ++i) { n = ord[i]; if ((n in med) || (n in one)) printf "%s %s %.6g\n", alloc, n, (n in med) ? med[n] : one[n] } }' "$1"
}

medians "$tmp/glibc.json" glibc >"$tmp/results.txt"
for lib in "${preloads[@]}"; do
  name=$(short_name "$lib")
  medians "$tmp/$name.json" "$name" >>"$tmp/results.txt"
done
[[ -s $tmp/results.txt ]] || die "no results in the JSON (KEEP_TMP=1 keeps it)"

alloc_names="glibc"
for lib in "${preloads[@]}"; do alloc_names="$alloc_names $(short_name "$lib")"; done

echo
echo "pool_bench: median of $reps repetitions (min_time $min_time s); ns per pair (allocation + free),"
echo "per destroy (destroy), per node (list), per operation (map), per block (producer_consumer, wall clock)"
[[ -f $tmp/notes ]] && sed 's/^run_pool_bench: /note: /' "$tmp/notes"
awk -v allocs="$alloc_names" '
  FILENAME ~ /results.txt$/ { v[$1, $2] = $3; if (!(($2) in order)) { order[$2] = ++count; names[count] = $2 } next }
  { f = ""; a = ""; for (i = 1; i <= NF; ++i) { split($i, kv, "="); fv[kv[1]] = kv[2] }
    key = fv["allocator"] "/" fv["mode"]; frag_rows[++nfrag] = key
    live[key] = fv["live_mib"]; before[key] = fv["rss_before_free_mib"]; after[key] = fv["rss_after_trim_mib"]
    base[key] = fv["rss_baseline_mib"]; ratio[key] = fv["rss_over_live"]; trim[key] = fv["trim"] }
  function g(name, al) { if (al == "") al = "glibc"; return ((al, name) in v) ? v[al, name] : "" }
  function fmt(x) { if (x == "") return "–"; if (x >= 1000) return sprintf("%.0f", x); if (x >= 100) return sprintf("%.1f", x); return sprintf("%.2f", x) }
  function contenders(prefix,   i, n, c, k, m) {  # contenders of a pattern, in registration order
    m = 0
    for (i = 1; i <= count; ++i) {
      n = names[i]
      if (index(n, prefix "/") != 1) continue
      c = substr(n, length(prefix) + 2); sub(/\/[0-9]+$/, "", c)
      if (!(c in seen_c)) { seen_c[c] = 1; list_c[++m] = c }
    }
    for (k in seen_c) delete seen_c[k]
    return m
  }
  function sized_table(prefix, title, cols,   m, i, j, c, nc, col) {
    m = contenders(prefix); if (m == 0) return
    nc = split(cols, col, " ")
    printf "\n### %s\n\n| contender |", title; for (j = 1; j <= nc; ++j) printf " %s |", col[j]
    printf "\n|---|"; for (j = 1; j <= nc; ++j) printf "---:|"; printf "\n"
    for (i = 1; i <= m; ++i) {
      c = list_c[i]; printf "| %s |", c
      for (j = 1; j <= nc; ++j) printf " %s |", fmt(g(prefix "/" c "/" col[j]))
      printf "\n"
    }
  }
  function ratio_of(num, den) { return (num == "" || den == "" || den == 0) ? "" : num / den }
  function yesno(b) { return b ? "met" : "**missed**" }
  END {
    sized_table("single", "single: allocate one, free it (ns per pair)", "8 16 64 256")
    sized_table("bulk", "bulk: allocate 1000, free in order (ns per pair)", "8 16 64 256")
    sized_table("bulk_reversed", "bulk_reversed: allocate 1000, free in reverse (ns per pair)", "8 16 64 256")
    sized_table("butterfly", "butterfly: allocate 1000, free evens forward, odds backward (ns per pair)", "8 16 64 256")
    sized_table("destroy", "destroy: N objects of 32 B destroyed in random order (ns per destroy; only the destroys timed)", "10000 100000 1000000")

    printf "\n### std::list (push_back + pop_front, 1000 nodes) and std::map (insert-or-erase, ~1000 keys)\n\n"
    printf "| allocator | list ns/node | map ns/op |\n|---|---:|---:|\n"
    m = contenders("list")
    for (i = 1; i <= m; ++i) printf "| %s | %s | %s |\n", list_c[i], fmt(g("list/" list_c[i])), fmt(g("map/" list_c[i]))

    m = contenders("producer_consumer")
    if (m > 0) {
      printf "\n### producer_consumer: 64 B blocks allocated on one thread, freed on another (ns per block, wall clock)\n\n"
      printf "| contender | ns/block |\n|---|---:|\n"
      for (i = 1; i <= m; ++i) printf "| %s | %s |\n", list_c[i], fmt(g("producer_consumer/" list_c[i]))
    }

    na = split(allocs, al, " ")
    if (na > 1) {
      printf "\n### new/delete and std::allocator under each allocator (ns per pair / node / op / block / destroy)\n\n| benchmark |"
      for (j = 1; j <= na; ++j) printf " %s |", al[j]
      printf "\n|---|"; for (j = 1; j <= na; ++j) printf "---:|"; printf "\n"
      for (i = 1; i <= count; ++i) {
        n = names[i]
        if (n !~ /new_delete|std::allocator/) continue
        printf "| %s |", n; for (j = 1; j <= na; ++j) printf " %s |", fmt(g(n, al[j])); printf "\n"
      }
    }

    if (nfrag > 0) {
      printf "\n### pool_frag: RSS against live bytes after a random 90%% free (MiB)\n\n"
      printf "| allocator / mode | live | RSS baseline | RSS before free | RSS after trim | (after − baseline) / live | trim |\n"
      printf "|---|---:|---:|---:|---:|---:|---|\n"
      for (i = 1; i <= nfrag; ++i) { k = frag_rows[i]
        printf "| %s | %s | %s | %s | %s | %s | %s |\n", k, live[k], base[k], before[k], after[k], ratio[k], trim[k] }
    }

    # The issue targets.
    printf "\n### Targets\n\n| target | our figure | |\n|---|---|---|\n"
    ok = 1; s = ""
    for (i = 1; i <= 4; ++i) { sz = (i == 1) ? 8 : (i == 2) ? 16 : (i == 3) ? 64 : 256
      r = ratio_of(g("single/FixedPool/" sz), g("single/boost::pool/" sz)); if (r == "" || r > 1.0) ok = 0
      s = s sprintf("%s%d B %.2f×", (i > 1 ? ", " : ""), sz, r) }
    printf "| (a) FixedPool pair ≤ 1.0× boost::pool, single | %s | %s |\n", s, yesno(ok)
    ok = 1; s = ""
    for (i = 1; i <= 4; ++i) { sz = (i == 1) ? 8 : (i == 2) ? 16 : (i == 3) ? 64 : 256
      r = ratio_of(g("bulk/FixedPool/" sz), g("bulk/boost::pool/" sz)); if (r == "" || r > 1.0) ok = 0
      s = s sprintf("%s%d B %.2f×", (i > 1 ? ", " : ""), sz, r) }
    printf "| (a) the same, bulk | %s | %s |\n", s, yesno(ok)
    lo = ""; hi = ""; ok = 1; s = ""
    for (i = 1; i <= 3; ++i) { n = (i == 1) ? 10000 : (i == 2) ? 100000 : 1000000
      x = g("destroy/ObjectPool/" n); if (x == "" || x > 5) ok = 0
      if (x != "" && (lo == "" || x < lo)) lo = x; if (x != "" && (hi == "" || x > hi)) hi = x
      s = s sprintf("%sN=%d %s ns", (i > 1 ? ", " : ""), n, fmt(x)) }
    if (lo == "" || hi / lo > 1.5) ok = 0
    printf "| (b) ObjectPool random-order destroy constant in N (max/min ≤ 1.5) and ≤ 5 ns | %s (max/min %.1f) | %s |\n", s, (lo == "" ? 0 : hi / lo), yesno(ok)
    # The same pool keeping its emptied chunks: the work of the pool itself, without munmap.
    lo = ""; hi = ""; ok = 1; s = ""
    for (i = 1; i <= 3; ++i) { n = (i == 1) ? 10000 : (i == 2) ? 100000 : 1000000
      x = g("destroy/ObjectPool+keep_empty/" n); if (x == "" || x > 5) ok = 0
      if (x != "" && (lo == "" || x < lo)) lo = x; if (x != "" && (hi == "" || x > hi)) hi = x
      s = s sprintf("%sN=%d %s ns", (i > 1 ? ", " : ""), n, fmt(x)) }
    printf "| (b) the same, emptied chunks kept (no munmap in the timed loop) | %s (max/min %.1f) | %s |\n", s, (lo == "" ? 0 : hi / lo), (ok ? "≤ 5 ns met" : "**missed**") ((lo != "" && hi / lo > 1.5) ? ", not constant" : "")
    x = g("list/PoolAllocator")
    printf "| (c) PoolAllocator<int> (default resource) under std::list ≤ 6 ns per node | %s ns | %s |\n", fmt(x), yesno(x != "" && x <= 6)
    for (pass = 1; pass <= 2; ++pass) {
      ours = (pass == 1) ? "PoolResource" : "SynchronizedPoolResource"
      theirs = (pass == 1) ? "pmr::unsynchronized_pool_resource" : "pmr::synchronized_pool_resource"
      lo = ""; hi = ""; s = ""
      split("single bulk bulk_reversed butterfly", pats, " ")
      for (p = 1; p <= 4; ++p) for (i = 1; i <= 4; ++i) { sz = (i == 1) ? 8 : (i == 2) ? 16 : (i == 3) ? 64 : 256
        r = ratio_of(g(pats[p] "/" theirs "/" sz), g(pats[p] "/" ours "/" sz)); if (r == "") continue
        if (lo == "" || r < lo) { lo = r; lo_at = pats[p] "/" sz } if (hi == "" || r > hi) { hi = r; hi_at = pats[p] "/" sz } }
      rl = ratio_of(g("list/pmr+" theirs), g("list/pmr+" ours)); rm = ratio_of(g("map/pmr+" theirs), g("map/pmr+" ours))
      verdict = (lo != "" && lo >= 2.5) ? "met on every allocation pattern" : "**missed** on the allocation patterns"
      verdict = verdict ((rl != "" && rl >= 2.5) ? ", met" : ", **missed**") " on std::list"
      verdict = verdict ((rm != "" && rm >= 2.5) ? ", met" : ", **missed**") " on std::map"
      printf "| (d) %s ≥ 2.5× faster than libstdc++ %s | patterns: %.2f× (%s) to %.2f× (%s); std::list %.2f×, std::map %.2f× | %s |\n",
             ours, theirs, lo, lo_at, hi, hi_at, rl, rm, verdict
    }
    # The most any allocator could gain on std::map: the fastest allocator in this run, against
    # the libstdc++ pool resource. The tree walk is the rest.
    best = ""; best_at = ""
    for (k in v) { split(k, kp, SUBSEP); if (kp[1] == "glibc" && kp[2] ~ /^map\// && (best == "" || v[k] < best)) { best = v[k]; best_at = kp[2] } }
    printf "| (d) bound: the fastest allocator of this run on std::map against pmr::unsynchronized_pool_resource | %s (%s) | the ceiling of any allocator here |\n", \
           (best == "" ? "–" : sprintf("%.2f×", g("map/pmr+pmr::unsynchronized_pool_resource") / best)), best_at
    x = ratio["glibc/pools"]; y = ratio["glibc/malloc"]; z = ratio["glibc/pools-mixed"]
    printf "| (e) fragmentation: pools resident ≤ 1.3× live, glibc near 6× | pools %s×, glibc %s×, pools-mixed %s× | %s |\n", x, y, z, yesno(x != "" && x <= 1.3)
  }' "$tmp/results.txt" "$tmp/frag.txt"
