#!/usr/bin/env bash
# e2e.own_threads.*: fragscope's own threads create no allocator arena (DESIGN.md, "Never
# diagnose ourselves"). Runs a single-threaded COMMAND that prints "arenas=N own_threads=M" at its
# end (glibc's malloc_info arena count, and its threads named fragscope*) once plainly and once
# under the shim with the reporter (FRAGSCOPE_INTERVAL_MS=200) and the metrics thread
# (FRAGSCOPE_METRICS_ADDR, a free loopback port) running, and fails unless:
#   - both runs report the same arena count, and it is 1;
#   - the shim run had both of our threads (reporter and metrics) alive at the end, the plain one none;
#   - the shim wrote at least 2 interval snapshots and a final one, and `fragscope check` passes.
set -euo pipefail

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

shim="" checker=""
while (($#)); do
  case $1 in
    --shim) shim=$2; shift 2 ;;
    --checker) checker=$2; shift 2 ;;
    --) shift; break ;;
    *) fail "unknown argument: $1" ;;
  esac
done
(($#)) || fail "no COMMAND given"
[[ -f $shim ]] || fail "shim not found: '$shim'"
[[ -x $checker ]] || fail "checker not found: '$checker'"

scratch=$(mktemp -d "${TMPDIR:-/tmp}/fragscope-own-threads.XXXXXX")
trap 'rc=$?; if ((rc == 0)); then rm -rf "$scratch"; else echo "scratch directory kept: $scratch" >&2; fi' EXIT

clean_env=(-u LD_PRELOAD)
for name in $(compgen -e); do
  if [[ $name == FRAGSCOPE_* ]]; then clean_env+=(-u "$name"); fi
done

# field NAME LINE: the value of NAME=... in LINE.
field() { sed -n "s/.*\\b$1=\\([0-9-]*\\).*/\\1/p" <<<"$2"; }

plain=$(env "${clean_env[@]}" "$@") || fail "plain run failed"
plain_arenas=$(field arenas "$plain")
[[ -n $plain_arenas ]] || fail "plain run printed no arena count: '$plain'"
[[ $(field own_threads "$plain") == 0 ]] || fail "plain run has fragscope threads: '$plain'"

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# The port may be taken between our look and the shim's bind: then try another.
for attempt in 1 2 3; do
  out=$scratch/out.$attempt
  mkdir "$out"
  port=$(free_port)
  shimmed=$(env "${clean_env[@]}" LD_PRELOAD="$shim" FRAGSCOPE_OUTPUT="$out/f.%p.jsonl" FRAGSCOPE_SUMMARY=0 \
                FRAGSCOPE_INTERVAL_MS=200 FRAGSCOPE_METRICS_ADDR="127.0.0.1:$port" "$@" 2>"$out/stderr") ||
    fail "shim run failed: $(cat "$out/stderr")"
  grep -q "cannot serve metrics" "$out/stderr" || break
  ((attempt < 3)) || fail "no free port for the metrics endpoint: $(cat "$out/stderr")"
done
[[ ! -s $out/stderr ]] || fail "the shim run wrote to stderr: $(cat "$out/stderr")"
shim_arenas=$(field arenas "$shimmed")
echo "plain: $plain"
echo "shim:  $shimmed"
[[ $(field own_threads "$shimmed") == 2 ]] ||
  fail "the shim run should have had the reporter and the metrics thread running: '$shimmed'"
[[ $shim_arenas == "$plain_arenas" ]] ||
  fail "malloc arenas: $plain_arenas without the shim, $shim_arenas with it (fragscope's threads made an arena)"
[[ $plain_arenas == 1 ]] || fail "a single-threaded program should have 1 arena, not $plain_arenas"

files=("$out"/f.*.jsonl)
((${#files[@]} == 1)) || fail "expected one snapshot file, found ${#files[@]}"
snapshots=$(wc -l <"${files[0]}")
((snapshots >= 3)) || fail "expected at least 2 interval snapshots and the final one, found $snapshots lines"
"$checker" check "${files[0]}" >"$scratch/check.txt" 2>&1 || fail "fragscope check: $(cat "$scratch/check.txt")"
echo "PASS: $plain_arenas arena(s) with and without the shim; $snapshots snapshots; check passed"
