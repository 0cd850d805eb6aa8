#!/usr/bin/env bash
# `fragscope system` from the outside: one screen with every section, --watch with deltas, the
# root-only sources skipped with their reason for an ordinary user, and a clear error when
# /proc is not there.  Usage: system_test.sh FRAGSCOPE
set -euo pipefail
cli="$1"
fail() { echo "FAIL: $*"; exit 1; }
out="$("$cli" system)"
for section in "memory " "free memory by order" "unusable" "events since boot" "tunables" "min_free_kbytes"; do
  grep -q "$section" <<<"$out" || fail "no '$section' in: $out"
done
watched="$("$cli" system --watch 0.2 --count 2)"
grep -q "events in the last 0.2 s" <<<"$watched" || fail "--watch shows no deltas"
if command -v setpriv >/dev/null && [[ $(id -u) -eq 0 ]]; then
  user="$(setpriv --reuid=65534 --regid=65534 --clear-groups "$cli" system)"
  grep -q "skipped    /proc/slabinfo: Permission denied (root only)" <<<"$user" || fail "slabinfo not skipped for nobody: $user"
  grep -q "free memory by order" <<<"$user" || fail "an ordinary user lost the buddyinfo view"
fi
err="$(mktemp)"
trap 'rm -f "$err"' EXIT
set +e
"$cli" system --proc /nonexistent >/dev/null 2>"$err"; rc=$?
set -e
[[ $rc -eq 2 ]] && grep -q "cannot read /nonexistent/meminfo" "$err" || fail "missing /proc: status $rc: $(cat "$err")"
echo PASS
