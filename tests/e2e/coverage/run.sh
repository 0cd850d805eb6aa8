#!/usr/bin/env bash
# A partial picture is said, never presented as whole (issue 16). The C++ program new_delete:
#  1. over glibc under `fragscope run`: complete — check passes, no INCOMPLETE line;
#  2. over jemalloc, preloaded as users do (LD_PRELOAD=libjemalloc.so.2 fragscope run ...):
#     fragscope's malloc hooks come first, but jemalloc's own operator new never calls malloc —
#     check exits 1 naming it, the report says INCOMPLETE, advise --json says complete: false;
#  3. jemalloc ahead of the shim in LD_PRELOAD: the same, naming the object ahead of it.
# Usage: run.sh FRAGSCOPE LIBFRAGSCOPE NEW_DELETE
set -euo pipefail
fragscope=$1 lib=$2 prog=$3
jemalloc=/usr/lib/x86_64-linux-gnu/libjemalloc.so.2
[[ -e $jemalloc ]] || { echo "FAIL: $jemalloc missing (Debian package libjemalloc2)"; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
export FRAGSCOPE_LIB=$lib

# 1. glibc: complete.
"$fragscope" run --no-report -o "$work/g.%p.jsonl" -- "$prog" >/dev/null 2>&1 || fail "run over glibc"
"$fragscope" check "$work"/g.*.jsonl >/dev/null 2>"$work/g.err" || { cat "$work/g.err"; fail "check over glibc"; }
"$fragscope" report "$work"/g.*.jsonl | grep -q INCOMPLETE && fail "a complete run reported INCOMPLETE"

# 2. jemalloc preloaded by the user: fragscope run puts the shim first; operator new is jemalloc's.
LD_PRELOAD=$jemalloc "$fragscope" run --no-report -o "$work/j.%p.jsonl" -- "$prog" >/dev/null 2>&1 || fail "run over jemalloc"
if "$fragscope" check "$work"/j.*.jsonl 2>"$work/j.err"; then fail "check passed a run whose new/delete bypassed the shim"; fi
grep -q "incomplete: C++ operator new and delete go to .*libjemalloc" "$work/j.err" || { cat "$work/j.err"; fail "check does not say why"; }
"$fragscope" report "$work"/j.*.jsonl | grep -q "INCOMPLETE   C++ operator new" || fail "the report does not say INCOMPLETE"
"$fragscope" advise --json "$work"/j.*.jsonl | python3 -c 'import json,sys; v=json.load(sys.stdin); assert v["complete"] is False and v["partial"], v' \
  || fail "advise --json does not say the picture is partial"

# 3. jemalloc ahead of the shim: its malloc answers first.
LD_PRELOAD="$jemalloc $lib" FRAGSCOPE_OUTPUT="$work/a.%p.jsonl" FRAGSCOPE_SUMMARY=0 "$prog" >/dev/null 2>&1 || fail "run with jemalloc ahead"
ls "$work"/a.*.jsonl >/dev/null 2>&1 || fail "no snapshot at all with jemalloc ahead of the shim"
if "$fragscope" check "$work"/a.*.jsonl 2>"$work/a.err"; then fail "check passed a run with an allocator ahead of the shim"; fi
grep -q "incomplete: .*libjemalloc.so.2 defines malloc ahead of libfragscope.so" "$work/a.err" || { cat "$work/a.err"; fail "check does not name the allocator ahead"; }
echo "ok: coverage"
