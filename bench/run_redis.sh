#!/usr/bin/env bash
# run_redis.sh: what the shim costs Redis (its own jemalloc underneath), in full and in sampled
# mode, against plain Redis: redis-benchmark throughput (SET and GET, pipelined), the server's
# CPU time over the benchmark, and Redis's own used_memory_rss and mem_fragmentation_ratio
# (INFO memory) after a load of KEYS random-size values. The modes take turns, ROUNDS times.
#
# Usage:   bench/run_redis.sh LIB [ROUNDS]
#   LIB     build/shim/libfragscope.so
#   ROUNDS  rounds of plain, full, sampled (default 3)
# Environment:
#   KEYS      keys loaded before the memory is read (default 500000)
#   REQUESTS  redis-benchmark requests per test (default 1000000)
#   MODES     the modes that take turns (default "plain full sampled"); their order is reversed
#             every other round, so that a drift of the machine falls on each mode alike
# Needs: redis-server, redis-cli, redis-benchmark (Debian package redis), python3.
set -euo pipefail
usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0" >&2; exit 2; }
[[ $# -ge 1 && $# -le 2 && $1 != -h && $1 != --help ]] || usage
lib=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
rounds=${2:-3}
keys=${KEYS:-500000}
requests=${REQUESTS:-1000000}
for p in redis-server redis-cli redis-benchmark python3; do
  command -v "$p" >/dev/null || { echo "run_redis: $p not found (Debian package redis)" >&2; exit 1; }
done
tmp=$(mktemp -d "${TMPDIR:-/tmp}/fragscope-redis.XXXXXX")
pid=""
cleanup() { [[ -z $pid ]] || kill "$pid" 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT
port=$((20000 + RANDOM % 20000))

# one MODE ROUND: starts the server, benchmarks it, loads the keys, reads INFO memory; appends
# "rps_set rps_get cpu_s used_memory_rss frag_ratio" to $tmp/MODE.
one() {
  local mode=$1 round=$2
  local -a env_=()
  case $mode in
    plain) ;;
    full | sampled) env_=(LD_PRELOAD="$lib" FRAGSCOPE_MODE=$mode FRAGSCOPE_SUMMARY=0
                          FRAGSCOPE_OUTPUT="$tmp/$mode.$round.%p.jsonl") ;;
  esac
  env "${env_[@]}" redis-server --port "$port" --save "" --appendonly no --daemonize no \
    --dir "$tmp" >"$tmp/server.log" 2>&1 &
  pid=$!
  for _ in $(seq 100); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
  local t0
  t0=$(awk '{ print $14 + $15 }' "/proc/$pid/stat")
  local out
  out=$(redis-benchmark -p "$port" -q -n "$requests" -P 16 -r 100000 -d 100 -t set,get --csv)
  local t1
  t1=$(awk '{ print $14 + $15 }' "/proc/$pid/stat")
  # Random-size values (10..1000 B), then a random 60% deleted: the fragmentation Redis reports.
  python3 - "$port" "$keys" <<'PY'
import random, socket, sys
port, keys = int(sys.argv[1]), int(sys.argv[2])
random.seed(3)
s = socket.create_connection(("127.0.0.1", port))
def send(cmds):
    buf = bytearray()
    for c in cmds:
        buf += b"*%d\r\n" % len(c)
        for a in c:
            buf += b"$%d\r\n%s\r\n" % (len(a), a)
    s.sendall(buf)
    need, got = len(cmds), b""
    while got.count(b"\r\n") < need:
        got += s.recv(1 << 16)
batch = []
for i in range(keys):
    batch.append([b"SET", b"k%d" % i, b"v" * random.randint(10, 1000)])
    if len(batch) == 1000: send(batch); batch = []
if batch: send(batch)
batch = []
for i in random.sample(range(keys), keys * 6 // 10):
    batch.append([b"DEL", b"k%d" % i])
    if len(batch) == 1000: send(batch); batch = []
if batch: send(batch)
PY
  sleep 2  # jemalloc's decay, and a snapshot or two
  local info
  info=$(redis-cli -p "$port" info memory | tr -d '\r')
  redis-cli -p "$port" shutdown nosave >/dev/null 2>&1 || true
  wait "$pid" 2>/dev/null || true
  pid=""
  local hz
  hz=$(getconf CLK_TCK)
  local set get rss ratio
  set=$(awk -F'"' '/"SET"/ { print $4 }' <<<"$out")
  get=$(awk -F'"' '/"GET"/ { print $4 }' <<<"$out")
  rss=$(awk -F: '/^used_memory_rss:/ { print $2 }' <<<"$info")
  ratio=$(awk -F: '/^mem_fragmentation_ratio:/ { print $2 }' <<<"$info")
  echo "$set $get $(awk -v a="$t0" -v b="$t1" -v hz="$hz" 'BEGIN { printf "%.2f", (b - a) / hz }') $rss $ratio" >>"$tmp/$mode"
  printf '  %-8s round %d: SET %s/s GET %s/s, server CPU %s s, used_memory_rss %s, frag %s\n' "$mode" "$round" \
    "$set" "$get" "$(tail -n 1 "$tmp/$mode" | awk '{ print $3 }')" "$rss" "$ratio" >&2
}

read -r -a modes <<<"${MODES:-plain full sampled}"
for m in "${modes[@]}"; do
  case $m in plain | full | sampled) ;; *) echo "run_redis: MODES: unknown mode '$m'" >&2; exit 2 ;; esac
done
for ((r = 1; r <= rounds; r++)); do
  if ((r % 2)); then order=("${modes[@]}"); else order=(); for ((i = ${#modes[@]} - 1; i >= 0; i--)); do order+=("${modes[i]}"); done; fi
  for mode in "${order[@]}"; do one "$mode" "$r"; done
done

median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
echo
echo "redis-benchmark -n $requests -P 16 -d 100 (SET, GET); then $keys keys of 10..1000 B, 60% deleted; median of $rounds round(s)"
printf '%-8s %12s %12s %12s %16s %10s\n' mode "SET/s" "GET/s" "server CPU s" used_memory_rss frag_ratio
for mode in "${modes[@]}"; do
  printf '%-8s %12s %12s %12s %16s %10s\n' "$mode" \
    "$(awk '{ print $1 }' "$tmp/$mode" | median)" "$(awk '{ print $2 }' "$tmp/$mode" | median)" \
    "$(awk '{ print $3 }' "$tmp/$mode" | median)" "$(awk '{ print $4 }' "$tmp/$mode" | median)" \
    "$(awk '{ print $5 }' "$tmp/$mode" | median)"
done
# Each round's ratio to plain (the rounds are paired: a slow round of the machine is slow for
# every mode), with the quartiles of the rounds.
if [[ -f $tmp/plain ]]; then
  for mode in "${modes[@]}"; do
    [[ $mode == plain ]] && continue
    python3 - "$tmp/plain" "$tmp/$mode" "$mode" <<'PY'
import statistics, sys
plain = [list(map(float, l.split())) for l in open(sys.argv[1])]
mode = [list(map(float, l.split())) for l in open(sys.argv[2])]
def q(v):
    v = sorted(v)
    if len(v) < 4: return f"{statistics.median(v):.3f}"
    qs = statistics.quantiles(v, n=4)
    return f"{qs[1]:.3f} ({qs[0]:.3f}..{qs[2]:.3f})"
for i, name in ((0, "SET/s"), (1, "GET/s"), (2, "server CPU")):
    print(f"{sys.argv[3]:<8} {name:<11} x plain, median of {len(mode)} paired rounds: {q([m[i] / p[i] for p, m in zip(plain, mode)])}")
PY
  done
fi
