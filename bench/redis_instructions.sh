#!/usr/bin/env bash
# redis_instructions.sh: what the shim's hooks cost Redis in instructions, which this VM's noise
# does not move (its throughput varies by 25% from one plain run to the next): the user-space
# instructions of redis-server's main thread per SET, counted by callgrind (valgrind), plain
# and under each LIB given, sampled mode, ROUNDS servers each (each server a new sampling salt).
# Only the main thread is counted: the reporter thread's snapshots run 50x more often per
# request under valgrind than natively. Kernel time (Redis's reads and writes) is not counted,
# so a throughput ratio is closer to 1 than the instruction ratio.
#
# Usage:   bench/redis_instructions.sh [-n REQUESTS] [-r ROUNDS] [-m MODE] LIB [LIB...]
#   LIB        build/shim/libfragscope.so (give a second, e.g. a build of an older commit, to
#              compare them in the same run)
#   REQUESTS   redis-benchmark -t set requests per server (default 200000)
#   ROUNDS     servers per LIB (default 3)
#   MODE       sampled (default) or full
# Needs: redis-server, redis-cli, redis-benchmark (Debian package redis), valgrind.
set -euo pipefail
usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0" >&2; exit 2; }
requests=200000 rounds=3 mode=sampled
while getopts n:r:m:h o; do
  case $o in
    n) requests=$OPTARG ;; r) rounds=$OPTARG ;; m) mode=$OPTARG ;; *) usage ;;
  esac
done
shift $((OPTIND - 1))
[[ $# -ge 1 && $requests =~ ^[1-9][0-9]*$ && $rounds =~ ^[1-9][0-9]*$ && $mode =~ ^(sampled|full)$ ]] || usage
for p in redis-server redis-cli redis-benchmark valgrind callgrind_annotate; do
  command -v "$p" >/dev/null || { echo "redis_instructions: $p not found" >&2; exit 1; }
done
libs=()
for l in "$@"; do
  [[ -f $l ]] || { echo "redis_instructions: $l: no such file" >&2; exit 1; }
  libs+=("$(cd "$(dirname "$l")" && pwd)/$(basename "$l")")
done
tmp=$(mktemp -d "${TMPDIR:-/tmp}/fragscope-redis-ir.XXXXXX")
pid=""
cleanup() { [[ -z $pid ]] || kill "$pid" 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT

# one TAG [LIB]: a server under callgrind (LIB preloaded, if given), `requests` SETs; prints the
# main thread's instructions per SET.
one() {
  local tag=$1 lib=${2:-}
  local -a env_=()
  [[ -n $lib ]] && env_=(LD_PRELOAD="$lib" FRAGSCOPE_MODE="$mode" FRAGSCOPE_SUMMARY=0 FRAGSCOPE_OUTPUT="$tmp/$tag.%p.jsonl")
  local port=$((20000 + RANDOM % 20000))
  env "${env_[@]}" valgrind --tool=callgrind --separate-threads=yes --callgrind-out-file="$tmp/$tag.out" \
    redis-server --port "$port" --save "" --appendonly no >"$tmp/$tag.log" 2>&1 &
  pid=$!
  for _ in $(seq 300); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.2; done
  redis-benchmark -p "$port" -q -n "$requests" -P 16 -r 100000 -d 100 -t set --csv >/dev/null
  redis-cli -p "$port" shutdown nosave >/dev/null 2>&1 || true
  wait "$pid" 2>/dev/null || true
  pid=""
  local ir
  ir=$(awk '/^(summary|totals):/ { print $2; exit }' "$tmp/$tag.out-01")
  echo $((ir / requests))
}

echo "redis-server main thread, user-space instructions per SET (redis-benchmark -n $requests -P 16 -r 100000 -d 100 -t set)"
plain=$(one plain)
echo "plain: $plain"
for i in "${!libs[@]}"; do
  line="$mode ${libs[i]}:"
  for ((r = 1; r <= rounds; r++)); do
    v=$(one "lib$i.$r" "${libs[i]}")
    line+=" $v ($(awk -v a="$v" -v b="$plain" 'BEGIN { printf "%.3fx", a / b }'))"
  done
  echo "$line"
done
