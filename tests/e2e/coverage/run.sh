#!/usr/bin/env bash
# Nothing missed silently (issue 16). cxx_churn (larson-like: every form of new and delete, a
# quarter of the objects deleted by another thread) counts its own allocations:
#  1. under `fragscope run`, over glibc and over jemalloc, tcmalloc and mimalloc preloaded as users
#     do (LD_PRELOAD=ALLOCATOR fragscope run ...; those allocators export operator new and delete
#     of their own, which never call malloc): the recorded allocations are within 1% of the
#     program's count (never fewer), no untracked frees, the final snapshot balances (check), and
#     nothing says INCOMPLETE;
#  2. an allocator ahead of the shim in LD_PRELOAD (jemalloc, mimalloc): nothing reaches the hooks,
#     and the shim's exit line, check (exit 1), the report and advise --json all say so;
#  3. and 4. below: without memory, and in sampled mode.
# Usage: run.sh FRAGSCOPE LIBFRAGSCOPE CXX_CHURN
set -euo pipefail
fragscope=$1 lib=$2 prog=$3
L=/usr/lib/x86_64-linux-gnu
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
export FRAGSCOPE_LIB=$lib

recorded() {  # FILE -> "allocations untracked_frees operator_new_via"
  tail -n 1 "$1" | python3 -c '
import json, sys
d = json.loads(sys.stdin.read()); c = d["calls"]
ops = ["malloc", "calloc", "posix_memalign", "aligned_alloc", "memalign", "valloc", "pvalloc", "operator_new"]
print(sum(c.get(k, 0) for k in ops), d["anomalies"]["untracked_frees"], d["coverage"]["operator_new_via"])'
}

for alloc in glibc libjemalloc.so.2 libtcmalloc_minimal.so.4 libmimalloc.so.2; do
  pre=""
  if [[ $alloc != glibc ]]; then
    pre=$L/$alloc
    [[ -e $pre ]] || fail "$pre missing (scripts/install-deps.sh installs it)"
  fi
  rm -f "$work"/s.*.jsonl
  LD_PRELOAD=$pre "$fragscope" run --no-report -o "$work/s.%p.jsonl" -- "$prog" "$work/count" 4 100000 \
    >"$work/out" 2>"$work/err" || { cat "$work/err"; fail "$alloc: run"; }
  s=$(ls "$work"/s.*.jsonl)
  read -r got untracked via < <(recorded "$s")
  want=$(cat "$work/count")
  echo "$alloc: program made $want allocations, fragscope recorded $got, untracked frees $untracked, operator new via $via"
  (( got >= want )) || fail "$alloc: recorded $got allocations, fewer than the program's $want"
  (( got * 100 <= want * 101 )) || fail "$alloc: recorded $got allocations, more than 1% over the program's $want"
  (( untracked == 0 )) || fail "$alloc: $untracked untracked frees"
  if [[ $alloc == glibc ]]; then want_via=malloc; else want_via=hook; fi
  [[ $via == "$want_via" ]] || fail "$alloc: operator new recorded via '$via', expected '$want_via'"
  "$fragscope" check "$s" 2>"$work/check" || { cat "$work/check"; fail "$alloc: the final snapshot does not balance"; }
  "$fragscope" report "$s" | grep -q INCOMPLETE && fail "$alloc: a complete run reported INCOMPLETE"
  grep -q INCOMPLETE "$work/err" && fail "$alloc: the shim said INCOMPLETE for a complete run"
done

for alloc in libjemalloc.so.2 libmimalloc.so.2; do
  rm -f "$work"/a.*.jsonl
  LD_PRELOAD="$L/$alloc $lib" FRAGSCOPE_OUTPUT="$work/a.%p.jsonl" "$prog" "$work/count" 2 20000 \
    >/dev/null 2>"$work/err" || { cat "$work/err"; fail "$alloc ahead: the program failed"; }
  grep -q "INCOMPLETE: $L/$alloc answers malloc ahead of libfragscope.so" "$work/err" \
    || { cat "$work/err"; fail "$alloc ahead: the shim's exit line does not say so"; }
  a=$(ls "$work"/a.*.jsonl) || fail "$alloc ahead: no snapshot at all"
  if "$fragscope" check "$a" 2>"$work/check"; then fail "$alloc ahead: check passed"; fi
  grep -q "incomplete: $L/$alloc answers malloc ahead of libfragscope.so" "$work/check" \
    || { cat "$work/check"; fail "$alloc ahead: check does not name it"; }
  "$fragscope" report "$a" | grep -q "INCOMPLETE   $L/$alloc answers malloc ahead" || fail "$alloc ahead: the report does not say INCOMPLETE"
  "$fragscope" advise --json "$a" | python3 -c 'import json,sys; v=json.load(sys.stdin); assert v["complete"] is False and v["partial"], v' \
    || fail "$alloc ahead: advise --json does not say the picture is partial"
  echo "$alloc ahead of the shim: said by the exit line, check, report and advise"
done
# 3. No memory: what new throws, what nothrow new returns and the new_handler calls are the same
#    with the shim as without it, over each allocator (mimalloc's new aborts, with or without),
#    in both modes (sampled mode's new has a short path of its own).
for alloc in glibc libjemalloc.so.2 libtcmalloc_minimal.so.4; do
  pre=""; [[ $alloc != glibc ]] && pre=$L/$alloc
  LD_PRELOAD=$pre "$prog" --no-memory >"$work/plain" 2>/dev/null || fail "$alloc: --no-memory failed plain"
  grep -q "new: bad_alloc" "$work/plain" || { cat "$work/plain"; fail "$alloc: the probe does not reach bad_alloc plain"; }
  for mode in full sampled; do
    LD_PRELOAD="$lib${pre:+ $pre}" FRAGSCOPE_MODE=$mode FRAGSCOPE_SUMMARY=0 FRAGSCOPE_OUTPUT="$work/n.%p.jsonl" "$prog" --no-memory \
      >"$work/shim" 2>"$work/err" || { cat "$work/err"; fail "$alloc, $mode: --no-memory failed under the shim"; }
    diff "$work/plain" "$work/shim" || fail "$alloc, $mode: new behaves differently without memory under the shim"
  done
done
# 4. Sampled mode counts every allocation exactly (its short paths of malloc, free, new and delete
#    included): totals.allocs within 1% of the program's count (never fewer), no untracked frees,
#    and the final snapshot balances on the sampled counts.
for alloc in glibc libjemalloc.so.2 libtcmalloc_minimal.so.4 libmimalloc.so.2; do
  pre=""; [[ $alloc != glibc ]] && pre=$L/$alloc
  rm -f "$work"/m.*.jsonl
  LD_PRELOAD=$pre "$fragscope" run --sampled --no-report -o "$work/m.%p.jsonl" -- "$prog" "$work/count" 4 100000 \
    >"$work/out" 2>"$work/err" || { cat "$work/err"; fail "$alloc, sampled: run"; }
  s=$(ls "$work"/m.*.jsonl)
  read -r mode got untracked < <(tail -n 1 "$s" | python3 -c '
import json, sys
d = json.loads(sys.stdin.read())
print(d["mode"], d["totals"]["allocs"], d["anomalies"]["untracked_frees"])')
  want=$(cat "$work/count")
  echo "$alloc, sampled: program made $want allocations, fragscope counted $got, untracked frees $untracked"
  [[ $mode == sampled ]] || fail "$alloc: mode $mode, expected sampled"
  (( got >= want )) || fail "$alloc, sampled: counted $got allocations, fewer than the program's $want"
  (( got * 100 <= want * 101 )) || fail "$alloc, sampled: counted $got allocations, more than 1% over the program's $want"
  (( untracked == 0 )) || fail "$alloc, sampled: $untracked untracked frees"
  "$fragscope" check "$s" 2>"$work/check" || { cat "$work/check"; fail "$alloc, sampled: the final snapshot does not balance"; }
done
echo "ok: coverage"
