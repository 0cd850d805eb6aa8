#!/usr/bin/env bash
# The CLI at its edges: processes that share one snapshot file (no %p) are reported, advised on
# and checked one by one; `check` on a running service's file checks its last periodic snapshot;
# nonsense numeric arguments get one line and exit 2; `run` says when the program is static,
# setuid, or killed by a signal.
# Usage: edges_test.sh FRAGSCOPE EXAMPLE_SERVICE
set -uo pipefail
fragscope=$1 example=$2
tmp=$(mktemp -d)
svc=
trap '[[ -n $svc ]] && kill -KILL "$svc" 2>/dev/null; rm -rf "$tmp"' EXIT
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
status() {  # status NAME EXPECTED ACTUAL
  if [[ $2 != "$3" ]]; then fail "$1: exit status $3, expected $2"; else echo "ok: $1"; fi
}
has() {  # has NAME FILE REGEX
  grep -qE -- "$3" "$2" || { fail "$1: no line matching '$3' in:"; sed 's/^/    /' "$2" >&2; }
}

# --- 1. Processes sharing one file. bash forks three children that exec ls (each ls writes into
# the same file: only a fork child that keeps running gets a file of its own), then execs ls
# itself (a second image with bash's pid, told apart by its run id) once bash has written
# periodic snapshots (its reporter starts at an allocation after 100 ms: the loop makes some).
shared=$tmp/shared.jsonl
"$fragscope" run --no-report -i 100 -o "$shared" -- \
  bash -c 'for i in 1 2 3; do ls / >/dev/null & done; wait; sleep 0.2; for i in {1..300}; do x=$i$x; done; sleep 0.6; exec ls / >/dev/null' 2>"$tmp/err"
status "run of bash and its children into one file" 0 $?
# Processes (pid, run id) in the file, by the snapshots themselves.
python3 - "$shared" >"$tmp/procs" <<'PY'
import json, sys
seen = []
for line in open(sys.argv[1]):
    s = json.loads(line)
    k = (s["pid"], s["run_id"])
    if k not in seen: seen.append(k)
for pid, run in seen: print(pid, run)
PY
# One of the ls children (a pid with one image, that image ls): chosen by what it ran, not by
# the order of the pids (bash's children need not get ascending pids, nor pids of one length).
lspid=$(python3 - "$shared" <<'PY'
import collections, json, sys
images = collections.defaultdict(list)
for line in open(sys.argv[1]):
    s = json.loads(line)
    if (s["run_id"], s["exe"]) not in images[s["pid"]]: images[s["pid"]].append((s["run_id"], s["exe"]))
print(next(pid for pid, im in images.items() if len(im) == 1 and im[0][1].endswith("/ls")))
PY
)
nprocs=$(wc -l <"$tmp/procs")
[[ $nprocs -ge 6 ]] || fail "the shared file holds $nprocs processes, expected bash, 3 ls, sleep and the exec'd ls"
[[ $(cut -d' ' -f1 "$tmp/procs" | sort -u | wc -l) -eq $((nprocs - 1)) ]] || fail "the exec'd image does not share bash's pid"
"$fragscope" report "$shared" >"$tmp/out" 2>"$tmp/err"
status "report of a shared file" 0 $?
has "report of a shared file" "$tmp/out" "holds $nprocs processes"
[[ $(grep -c "^=== process [0-9]* of $nprocs: pid " "$tmp/out") -eq $nprocs ]] || fail "report does not show each of $nprocs processes"
[[ $(grep -c "^fragscope report: .*(pid [0-9]*), [0-9]* snapshot" "$tmp/out") -eq $nprocs ]] || fail "report has not $nprocs reports"
# bash's pid has two images (bash, then the ls it exec'd); a child's pid has one.
bashpid=$(cut -d' ' -f1 "$tmp/procs" | sort | uniq -d) execrun=$(grep "^$bashpid " "$tmp/procs" | tail -1 | cut -d' ' -f2)
"$fragscope" report --pid "$lspid" "$shared" >"$tmp/out" 2>"$tmp/err"
status "report --pid of one process" 0 $?
[[ $(grep -c "^fragscope report: .*(pid $lspid), " "$tmp/out") -eq 1 && $(grep -c "^fragscope report: " "$tmp/out") -eq 1 ]] \
  || fail "report --pid $lspid does not report that process alone"
"$fragscope" report --format json "$shared" >/dev/null 2>"$tmp/err"
status "report --format json of a shared file" 2 $?
has "report --format json of a shared file" "$tmp/err" "holds $nprocs processes \(pid [0-9]+ .*\); --format json is of one process: choose it with --pid"
"$fragscope" report --pid 4194304 "$shared" >/dev/null 2>"$tmp/err"
status "report --pid of a pid not in the file" 2 $?
has "report --pid of a pid not in the file" "$tmp/err" "no process with pid 4194304; the file holds (.*, )?pid $lspid \(/[^ ]*ls, run [0-9a-f]{16}\)"
"$fragscope" report --format json --pid "$bashpid" --run-id "$execrun" "$shared" >"$tmp/out" 2>"$tmp/err"
status "report --pid --run-id of the exec'd image" 0 $?
python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); assert j["last"]["run_id"]==sys.argv[2] and j["last"]["pid"]==int(sys.argv[3]), j["last"]["run_id"]' \
  "$tmp/out" "$execrun" "$bashpid" || fail "report --run-id did not pick that image"
"$fragscope" advise "$shared" >"$tmp/out" 2>"$tmp/err"
status "advise on a shared file" 0 $?
[[ $(grep -c "^=== process [0-9]* of $nprocs: pid " "$tmp/out") -eq $nprocs ]] || fail "advise does not take each of $nprocs processes"
"$fragscope" advise --json "$shared" >/dev/null 2>"$tmp/err"
status "advise --json on a shared file" 2 $?
"$fragscope" check "$shared" >"$tmp/out" 2>"$tmp/err"
status "check of a shared file" 0 $?
has "check of a shared file" "$tmp/out" "1 file\(s\), $nprocs process\(es\): the snapshots balance"
has "check of a shared file" "$tmp/out" "pid $bashpid .*: replaced by exec: its last snapshot"
# One process's final snapshot made not to balance (not the file's last): check names that process.
python3 - "$shared" "$lspid" >"$tmp/bad.jsonl" <<'PY'
import json, sys
lines = open(sys.argv[1]).read().splitlines()
for i, line in enumerate(lines):
    s = json.loads(line)
    if s["pid"] == int(sys.argv[2]) and s["final"]:
        s["totals"]["allocs"] += 1
        lines[i] = json.dumps(s)
print("\n".join(lines))
PY
"$fragscope" check "$tmp/bad.jsonl" >"$tmp/out" 2>"$tmp/err"
status "check of a shared file where one process does not balance" 1 $?
has "check names the process that does not balance" "$tmp/err" "bad.jsonl: pid $lspid \(.*\): totals: allocs"

# --- 2. check on a running service's file: its last periodic snapshot is checked (exit 0); once
# the service is killed, the missing final snapshot fails the check (exit 1). run says how it ended.
"$fragscope" run --no-report -i 100 -o "$tmp/live.%p.jsonl" -- "$example" --seconds 60 --quiet >/dev/null 2>"$tmp/live-err" &
runner=$!
for _ in $(seq 300); do
  live=$(ls "$tmp"/live.*.jsonl 2>/dev/null | head -1)
  [[ -n $live && $(wc -l <"$live") -ge 2 ]] && break
  sleep 0.1
done
if [[ -z ${live:-} || $(wc -l <"$live") -lt 2 ]]; then
  fail "the service wrote no two snapshots in 30 s"
  kill -TERM "$runner"
  wait "$runner"
else
  svc=$(basename "$live" .jsonl) svc=${svc#live.}
  "$fragscope" check "$live" >"$tmp/out" 2>"$tmp/err"
  status "check of a running service's file" 0 $?
  has "check of a running service's file" "$tmp/out" "still running: its last periodic snapshot \(seq [0-9]+\) checked"
  kill -KILL "$svc"
  wait "$runner"
  status "run of a service killed by SIGKILL" 137 $?
  svc=
  has "run names the signal" "$tmp/live-err" "was killed by SIGKILL \(exit status 137\)"
  "$fragscope" check "$live" >"$tmp/out" 2>"$tmp/err"
  status "check of a killed service's file" 1 $?
  has "check of a killed service's file" "$tmp/err" "no final snapshot, and the process is not running"
fi
"$fragscope" check --help >"$tmp/out" 2>&1
has "check --help documents the exit statuses" "$tmp/out" "Exit status: 0 every process balances; 1 "

# --- 3. Nonsense numbers: exit 2 and one line that names the subcommand and the range.
while IFS='|' read -r args pattern; do
  # shellcheck disable=SC2086
  "$fragscope" $args >"$tmp/out" 2>"$tmp/err"
  rc=$?
  if [[ $rc != 2 || $(wc -l <"$tmp/err") -ne 1 || $(wc -c <"$tmp/err") -gt 300 ]] || ! grep -qE -- "$pattern" "$tmp/err"; then
    fail "fragscope $args: exit $rc, stderr:"; sed 's/^/    /' "$tmp/err" >&2
  else
    echo "ok: fragscope $args: $(cat "$tmp/err")"
  fi
done <<EOF
proc -5|^fragscope proc: pid: '-5' is not a whole number from 1 to 4194304
proc 0|^fragscope proc: pid: '0' is not a whole number from 1 to 4194304
proc 99999999999999999999|^fragscope proc: pid: '99999999999999999999' is not a whole number
proc abc|^fragscope proc: pid: 'abc' is not a whole number
proc 1 --watch -1|^fragscope proc: --watch: '-1' is not a number of seconds from 0.05 to 86400
proc 1 --watch nan|^fragscope proc: --watch: 'nan' is not a number of seconds
proc 1 --watch inf|^fragscope proc: --watch: 'inf' is not a number of seconds
proc 1 --watch 1 --count 0|^fragscope proc: --count: '0' is not a whole number from 1
proc 1 --watch 1 --count -3|^fragscope proc: --count: '-3' is not a whole number
system --watch 0|^fragscope system: --watch: '0' is not a number of seconds from 0.1
system --watch 1e9|^fragscope system: --watch: '1e9' is not a number of seconds
system --count -1|^fragscope system: --count: '-1' is not a whole number
run --interval-ms -1 -- true|^fragscope run: --interval-ms: '-1' is not a whole number from 0 to 3600000
run --interval-ms 1e3 -- true|^fragscope run: --interval-ms: '1e3' is not a whole number
run --interval-ms 99999999999999999999 -- true|^fragscope run: --interval-ms: '99999999999999999999' is not
run --metrics-addr 99999 -- true|^fragscope run: --metrics-addr: '99999' is not PORT or IPv4:PORT
run --metrics-addr 0 -- true|^fragscope run: --metrics-addr: '0' is not PORT
run --metrics-addr 1.2.3:80 -- true|^fragscope run: --metrics-addr: '1.2.3:80' is not PORT
run --trim=-1 -- true|^fragscope run: --trim: expected bytes
run --pool-sizes 0 -- true|^fragscope run: --pool-sizes: expected up to 16 sizes
compare -n 0 -- true|^fragscope compare: --runs: '0' is not a whole number from 1 to 1000
compare -n -2 -- true|^fragscope compare: --runs: '-2' is not a whole number
compare -i 5 -- true|^fragscope compare: --interval-ms: '5' is not a whole number from 10
check --min-files -1 x|^fragscope check: --min-files: '-1' is not a whole number
report --pid -5 x|^fragscope report: --pid: '-5' is not a whole number from 1 to 4194304
report --pid 5000000 x|^fragscope report: --pid: '5000000' is not a whole number
report --run-id xyz x|^fragscope report: --run-id: 'xyz' is not a run id
advise --pid 1.5 x|^fragscope advise: --pid: '1.5' is not a whole number
EOF
"$fragscope" proc $$ --watch 0.05 --count 2 >/dev/null 2>"$tmp/err"
status "proc with sensible numbers" 0 $?

# --- 4. run on what cannot be measured, and on what was killed.
printf 'int main(void) { return 3; }\n' >"$tmp/static.c"
if gcc -static -o "$tmp/static" "$tmp/static.c" 2>/dev/null; then
  "$fragscope" run --no-report -o "$tmp/st.%p.jsonl" -- "$tmp/static" 2>"$tmp/err"
  status "run of a static program" 3 $?
  has "run of a static program" "$tmp/err" "warning: .*/static is statically linked .*LD_PRELOAD is ignored and fragscope cannot measure it; running it anyway"
  has "run of a static program" "$tmp/err" "exited with status 3; no snapshots at .*: .*statically linked"
  grep -q "see the warning above" "$tmp/err" && fail "run of a static program points at a warning"
else
  echo "skipped: static program (gcc -static does not link here)"
fi
"$fragscope" run --no-report -o "$tmp/k.%p.jsonl" -- sh -c 'kill -KILL $$' 2>"$tmp/err"
status "run of a command killed by SIGKILL" 137 $?
has "run of a command killed by SIGKILL" "$tmp/err" "sh was killed by SIGKILL \(exit status 137\)"
"$fragscope" run --no-report -o "$tmp/s.%p.jsonl" -- sh -c 'kill -SEGV $$' 2>"$tmp/err"
status "run of a command killed by SIGSEGV" 139 $?
has "run of a command killed by SIGSEGV" "$tmp/err" "killed by SIGSEGV"
# setuid to another user: the loader ignores our LD_PRELOAD (only root can make such a file here,
# and only where the mount honours the bit).
if [[ $(id -u) == 0 ]] && id nobody >/dev/null 2>&1 && ! findmnt -n -o OPTIONS -T "$tmp" | grep -qw nosuid; then
  cp "$(type -P true)" "$tmp/suid-true" && chown nobody "$tmp/suid-true" && chmod 4755 "$tmp/suid-true"
  chmod 755 "$tmp"
  "$fragscope" run --no-report -o "$tmp/u.%p.jsonl" -- "$tmp/suid-true" 2>"$tmp/err"
  status "run of a setuid program" 0 $?
  has "run of a setuid program" "$tmp/err" "suid-true is setuid \(owner uid [0-9]+\): the loader runs it in secure-execution mode and ignores LD_PRELOAD"
  has "run of a setuid program" "$tmp/err" "no snapshots at .*: .*setuid"
else
  echo "skipped: setuid program (needs root and a mount without nosuid)"
fi

((failures == 0)) || { echo "$failures check(s) failed" >&2; exit 1; }
echo "all passed"
