#!/usr/bin/env bash
# `fragscope compare` from the outside: a complete table for every installed allocator, a
# missing allocator skipped with its package, a command that fails under one allocator while the
# others go on, and peak RSS agreeing with /usr/bin/time -v within 5%.
# Usage: compare_test.sh FRAGSCOPE WL_CHURN
set -euo pipefail
cli="$1" wl="$2"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
workload=("$wl" --iterations 3000000 --slots 100000)

echo "== every allocator, 2 runs"
"$cli" compare --runs 2 --json "$out/all.json" -- "${workload[@]}" >"$out/all.txt" 2>"$out/all.err" || fail "compare failed: $(cat "$out/all.txt" "$out/all.err")"
cat "$out/all.txt"
for a in glibc jemalloc tcmalloc mimalloc pools; do
  grep -qE "^  $a +2/2 " "$out/all.txt" || fail "no complete row for $a"
done
python3 - "$out/all.json" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
for a in doc["allocators"]:
    assert "skipped" not in a, a
    keys = set(a["summary"])
    want = {"wall_s", "cpu_s", "peak_rss_bytes", "steady_rss_bytes", "rss_over_live", "pinned_pages", "holes_bytes"}
    assert want <= keys, (a["name"], want - keys)
    assert all(r["ok"] for r in a["runs"]), a["name"]
    assert a["summary"]["peak_rss_bytes"]["median"] > 40 << 20, a["name"]   # 100k blocks of 8..1024 B
PY

echo "== allocators that are not installed"
FRAGSCOPE_LIB_DIRS=/nonexistent "$cli" compare --runs 1 --allocators glibc,jemalloc,mimalloc -- "${workload[@]}" >"$out/skip.txt" 2>/dev/null
cat "$out/skip.txt"
grep -q "jemalloc: skipped — libjemalloc.so.2 not found; install the Debian package libjemalloc2" "$out/skip.txt" || fail "no skip line for jemalloc"
grep -q "mimalloc: skipped — libmimalloc.so.2 not found; install the Debian package libmimalloc2.0" "$out/skip.txt" || fail "no skip line for mimalloc"
grep -qE "^  glibc +1/1 " "$out/skip.txt" || fail "glibc did not run"

echo "== a command that fails under one allocator"
set +e
"$cli" compare --runs 1 --allocators glibc,tcmalloc,mimalloc -- \
  bash -c 'case "$LD_PRELOAD" in *tcmalloc*) echo "tcmalloc is not welcome" >&2; exit 3;; esac; exec "$0" "$@"' "${workload[@]}" >"$out/fail.txt" 2>/dev/null
rc=$?
set -e
cat "$out/fail.txt"
[[ $rc -eq 1 ]] || fail "exit status $rc, expected 1"
grep -q "tcmalloc: run 1 failed: exit status 3: tcmalloc is not welcome" "$out/fail.txt" || fail "failure not reported"
grep -qE "^  glibc +1/1 " "$out/fail.txt" && grep -qE "^  mimalloc +1/1 " "$out/fail.txt" || fail "the others did not run"

echo "== peak RSS against /usr/bin/time -v"
"$cli" compare --runs 1 --allocators glibc,jemalloc --json "$out/rss.json" -- "${workload[@]}" >/dev/null 2>&1
for a in glibc jemalloc; do
  if [[ $a == jemalloc ]]; then pre="$(python3 -c 'import json,sys; print([x for x in json.load(open(sys.argv[1]))["allocators"] if x["name"]=="jemalloc"][0]["library"])' "$out/rss.json")"; else pre=""; fi
  LD_PRELOAD="$pre" /usr/bin/time -v "${workload[@]}" >/dev/null 2>"$out/time.$a"
  direct=$(( $(sed -n 's/.*Maximum resident set size (kbytes): //p' "$out/time.$a") * 1024 ))
  ours=$(python3 -c 'import json,sys; print(int([x for x in json.load(open(sys.argv[1]))["allocators"] if x["name"]==sys.argv[2]][0]["summary"]["peak_rss_bytes"]["median"]))' "$out/rss.json" "$a")
  echo "$a: compare $ours bytes, /usr/bin/time -v $direct bytes"
  python3 -c 'import sys; a,b=int(sys.argv[1]),int(sys.argv[2]); sys.exit(0 if abs(a-b) <= 0.05*b else 1)' "$ours" "$direct" \
    || fail "$a: peak RSS $ours differs from /usr/bin/time's $direct by more than 5%"
done
echo "PASS"
