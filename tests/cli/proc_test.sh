#!/usr/bin/env bash
# `fragscope proc PID`: its PSS and USS equal a direct sum over the process's smaps (read just
# before and just after it, and equal both times, so nothing moved in between); the kinds add up
# to the total; --watch samples and stops when asked; a missing PID and an unreadable smaps get
# clear messages and exit status 2.  Usage: proc_test.sh FRAGSCOPE
set -euo pipefail
cli="$1"
BASH_TMP_ERR="$(mktemp)"
fail() { echo "FAIL: $*"; exit 1; }
sleep 60 &
pid=$!
trap 'kill $pid 2>/dev/null || true; rm -f "$BASH_TMP_ERR"' EXIT
sleep 0.2

# Every reader of /proc/PID/smaps maps shared libraries too, which moves the target's PSS by a
# few pages (a page shared by N processes counts 1/N): so the exact check sums one saved text
# both ways, and the live check allows the readers' own share.
smaps="$(mktemp)"
cat "/proc/$pid/smaps" >"$smaps"
direct="$(awk '/^Pss:/{p+=$2} /^Private_(Clean|Dirty):/{u+=$2} END{print p*1024, u*1024}' "$smaps")"
json="$("$cli" proc "$pid" --from "$smaps" --json)"
rm -f "$smaps"
ours="$(python3 -c 'import json,sys; t=json.loads(sys.argv[1])["total"]; print(t["pss"], t["uss"])' "$json")"
echo "direct sum over smaps: $direct   fragscope proc: $ours"
[[ "$ours" == "$direct" ]] || fail "PSS/USS $ours differ from the direct sum $direct"
python3 -c '
import json, sys
j = json.loads(sys.argv[1])
for f in ("mappings", "rss", "pss", "uss", "swap"):
    assert sum(k[f] for k in j["by_kind"].values()) == j["total"][f], f
assert j["by_kind"]["heap"]["mappings"] <= 1 and j["by_kind"]["stack"]["mappings"] >= 1
' "$json" || fail "the kinds do not add up to the total"
live="$("$cli" proc "$pid" --json)"
now="$(awk '/^Pss:/{p+=$2} /^Private_(Clean|Dirty):/{u+=$2} END{print p*1024, u*1024}' "/proc/$pid/smaps")"
python3 -c '
import json, sys
t = json.loads(sys.argv[1])["total"]; pss, uss = map(int, sys.argv[2].split())
# A library page becomes "private" (USS) when the last other process mapping it exits, and PSS
# moves with every reader: live figures agree within what other processes can shift.
assert abs(t["uss"] - uss) <= max(256 * 1024, uss // 4), (t["uss"], uss)
assert abs(t["pss"] - pss) <= max(256 * 1024, pss // 4), (t["pss"], pss)
' "$live" "$now" || fail "live: $(echo "$live" | head -c 200) against $now"

out="$("$cli" proc "$pid" --watch 0.1 --count 3)"
[[ $(grep -c "^fragscope proc $pid" <<<"$out") -eq 3 ]] || fail "--watch --count 3 did not take 3 samples"
grep -q "PSS growth" <<<"$out" || fail "--watch shows no growth columns"

set +e
"$cli" proc 4194304 2>"$BASH_TMP_ERR" >/dev/null; rc=$?
set -e
[[ $rc -eq 2 ]] && grep -q "no process 4194304" "$BASH_TMP_ERR" || fail "missing PID: status $rc, $(cat "$BASH_TMP_ERR")"
if command -v setpriv >/dev/null && [[ $(id -u) -eq 0 ]]; then
  set +e
  setpriv --reuid=65534 --regid=65534 --clear-groups "$cli" proc 1 2>"$BASH_TMP_ERR" >/dev/null; rc=$?
  set -e
  [[ $rc -eq 2 ]] && grep -q "cannot read /proc/1/smaps: Permission denied" "$BASH_TMP_ERR" || fail "unreadable smaps: status $rc, $(cat "$BASH_TMP_ERR")"
fi
echo PASS
