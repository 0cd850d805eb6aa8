#!/usr/bin/env bash
# e2e.trim.*: FRAGSCOPE_TRIM gives free heap pages back with the allocator's own call.
# trim_heap (see its header) leaves a heap with most pages free, waits for two snapshots and
# prints its RSS. Runs it under the shim (FRAGSCOPE_INTERVAL_MS=300) and fails unless:
#   --expect-rss-drop (glibc): run once without FRAGSCOPE_TRIM and once with 1048576; the trimmed
#     run's RSS is lower by at least half the empty resident bytes its trim_remedy reported, its
#     trim_remedy says calls >= 1 with CALL, glibc still has 1 arena (our thread's malloc_trim made
#     none), and the untrimmed run's snapshots have no trim_remedy;
#   --under LIB (another allocator preloaded after the shim): with FRAGSCOPE_TRIM=1048576,
#     trim_remedy says calls >= 1 with CALL and released_bytes > 0;
# and every run's snapshot file passes `fragscope check`.
set -euo pipefail

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

shim="" checker="" program="" under="" keep_every=64 expect_drop=0 call=""
while (($#)); do
  case $1 in
    --shim) shim=$2; shift 2 ;;
    --checker) checker=$2; shift 2 ;;
    --program) program=$2; shift 2 ;;
    --under) under=$2; shift 2 ;;
    --keep-every) keep_every=$2; shift 2 ;;
    --call) call=$2; shift 2 ;;
    --expect-rss-drop) expect_drop=1; shift ;;
    *) fail "unknown argument: $1" ;;
  esac
done
[[ -f $shim && -x $checker && -x $program && -n $call ]] || fail "usage: run.sh --shim LIB --checker PROG --program PROG --call CALL [--under LIB] [--keep-every N] [--expect-rss-drop]"
[[ -z $under || -f $under ]] || fail "'$under' not found (scripts/install-deps.sh installs it)"

scratch=$(mktemp -d "${TMPDIR:-/tmp}/fragscope-trim.XXXXXX")
trap 'rc=$?; if ((rc == 0)); then rm -rf "$scratch"; else echo "scratch directory kept: $scratch" >&2; fi' EXIT

clean_env=(-u LD_PRELOAD)
for name in $(compgen -e); do
  if [[ $name == FRAGSCOPE_* ]]; then clean_env+=(-u "$name"); fi
done
preload=$shim${under:+:$under}

# run NAME [VAR=VALUE...]: runs the program under the shim; its stdout goes to $scratch/NAME.out,
# its snapshots to $scratch/NAME/.
run() {
  local name=$1
  shift
  mkdir "$scratch/$name"
  env "${clean_env[@]}" LD_PRELOAD="$preload" FRAGSCOPE_OUTPUT="$scratch/$name/f.%p.jsonl" FRAGSCOPE_SUMMARY=0 \
      FRAGSCOPE_INTERVAL_MS=300 "$@" "$program" "$keep_every" >"$scratch/$name.out" 2>"$scratch/$name.err" ||
    fail "$name run failed: $(cat "$scratch/$name.err")"
  [[ ! -s $scratch/$name.err ]] || fail "$name run wrote to stderr: $(cat "$scratch/$name.err")"
  "$checker" check "$scratch/$name"/f.*.jsonl >"$scratch/$name.check" 2>&1 ||
    fail "fragscope check ($name): $(cat "$scratch/$name.check")"
  echo "$name: $(cat "$scratch/$name.out")"
}

# trim_field NAME FIELD: FIELD of trim_remedy in run NAME's final snapshot ("absent" if none).
trim_field() {
  python3 - "$scratch/$1" "$2" <<'PY'
import glob, json, sys
final = None
for path in glob.glob(sys.argv[1] + "/f.*.jsonl"):
    for line in open(path):
        s = json.loads(line)
        if s.get("final"):
            final = s
t = final.get("trim_remedy") if final else None
print("absent" if t is None else t[sys.argv[2]])
PY
}
field() { sed -n "s/.*\\b$1=\\([0-9-]*\\).*/\\1/p" "$scratch/$2.out"; }

run trimmed FRAGSCOPE_TRIM=1048576
calls=$(trim_field trimmed calls)
released=$(trim_field trimmed released_bytes)
empty=$(trim_field trimmed last_empty_bytes)
echo "trim_remedy: call '$(trim_field trimmed call)', calls $calls, released $released, last empty $empty"
[[ $(trim_field trimmed call) == "$call" ]] || fail "trim_remedy.call is '$(trim_field trimmed call)', not '$call'"
((calls >= 1)) || fail "trim_remedy.calls is $calls: the allocator was never asked to trim"
((empty >= 1048576)) || fail "trim_remedy.last_empty_bytes is $empty, below the threshold"

if ((expect_drop)); then
  run untrimmed
  [[ $(trim_field untrimmed calls) == absent ]] || fail "trim_remedy present without FRAGSCOPE_TRIM"
  before=$(field rss untrimmed) after=$(field rss trimmed)
  ((before - after >= empty / 2)) ||
    fail "RSS $before without the trim, $after with it: less than half the $empty empty bytes given back"
  [[ $(field arenas trimmed) == 1 ]] || fail "glibc has $(field arenas trimmed) arenas after our malloc_trim (expected 1)"
  echo "PASS: RSS $before -> $after bytes ($(((before - after) * 100 / empty))% of the $empty empty bytes)"
else
  ((released > 0)) || fail "trim_remedy.released_bytes is $released: the call gave nothing back"
  echo "PASS: $released bytes given back in $calls call(s)"
fi
