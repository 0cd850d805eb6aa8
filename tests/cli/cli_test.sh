#!/usr/bin/env bash
# The fragscope CLI from the outside: `run` returns the command's exit status (127 when it
# cannot be found), nonsense arguments give exit 2 and a message, `report` on a corrupt file
# names the bad line, and `run --html` on the example service writes a report with its charts.
# Usage: cli_test.sh FRAGSCOPE EXAMPLE_SERVICE
set -uo pipefail
fragscope=$1 example=$2
tmp=$(mktemp -d)
mkdir -p "$tmp/x" "$tmp/y"
trap 'rm -rf "$tmp"' EXIT
failures=0
check() {  # check NAME EXPECTED_STATUS ACTUAL_STATUS
  if [[ $2 != "$3" ]]; then
    echo "FAIL: $1: exit status $3, expected $2" >&2
    failures=$((failures + 1))
  else
    echo "ok: $1"
  fi
}

"$fragscope" run --no-report -o "$tmp/a.%p.jsonl" -- sh -c 'exit 7' 2>/dev/null
check "run returns the command's status" 7 $?
"$fragscope" run --no-report -o "$tmp/b.%p.jsonl" -- /nonexistent/program 2>"$tmp/err"
check "run of a missing program" 127 $?
grep -q "cannot execute /nonexistent/program" "$tmp/err" || { echo "FAIL: no message for a missing program" >&2; failures=$((failures + 1)); }
"$fragscope" run --no-report -o "$tmp/c.%p.jsonl" -- sh -c 'kill -TERM $$' 2>/dev/null
check "run of a command killed by SIGTERM" 143 $?

"$fragscope" run --interval-ms abc -- true 2>"$tmp/err"
check "run --interval-ms abc" 2 $?
[[ -s $tmp/err ]] || { echo "FAIL: no message for --interval-ms abc" >&2; failures=$((failures + 1)); }
# --trim sets FRAGSCOPE_TRIM for the command: 1 MiB when given alone; a bad value is a usage error.
"$fragscope" run --no-report -o "$tmp/t.%p.jsonl" --trim -- sh -c 'echo "$FRAGSCOPE_TRIM"' >"$tmp/trim" 2>/dev/null
check "run --trim" 0 $?
[[ $(cat "$tmp/trim") == 1048576 ]] || { echo "FAIL: run --trim set FRAGSCOPE_TRIM='$(cat "$tmp/trim")'" >&2; failures=$((failures + 1)); }
"$fragscope" run --no-report -o "$tmp/t.%p.jsonl" --trim=4096 -- sh -c 'echo "$FRAGSCOPE_TRIM"' >"$tmp/trim" 2>/dev/null
check "run --trim=4096" 0 $?
[[ $(cat "$tmp/trim") == 4096 ]] || { echo "FAIL: run --trim=4096 set FRAGSCOPE_TRIM='$(cat "$tmp/trim")'" >&2; failures=$((failures + 1)); }
"$fragscope" run --no-report -o "$tmp/t.%p.jsonl" -- sh -c 'echo "${FRAGSCOPE_TRIM-unset}"' >"$tmp/trim" 2>/dev/null
[[ $(cat "$tmp/trim") == unset ]] || { echo "FAIL: run without --trim set FRAGSCOPE_TRIM" >&2; failures=$((failures + 1)); }
"$fragscope" run --trim=1M -- true 2>"$tmp/err"
check "run --trim=1M" 2 $?
"$fragscope" frobnicate 2>/dev/null
check "unknown subcommand" 2 $?
"$fragscope" report 2>/dev/null
check "report without a file" 2 $?
"$fragscope" report "$tmp/none.jsonl" 2>"$tmp/err"
check "report of a missing file" 2 $?
grep -q "none.jsonl" "$tmp/err" || { echo "FAIL: the message does not name the file" >&2; failures=$((failures + 1)); }

# A clean run, then its file with a corrupt line appended: the report names line N and goes on.
"$fragscope" run --no-report -o "$tmp/d.%p.jsonl" -- true 2>/dev/null
check "run true" 0 $?
f=$(ls "$tmp"/d.*.jsonl | head -1)
lines=$(wc -l <"$f")
printf '{"schema":"fragscope.snap' >>"$f"
"$fragscope" report "$f" >"$tmp/out" 2>"$tmp/err"
check "report of a file with a truncated last line" 0 $?
grep -q ":$((lines + 1)): truncated" "$tmp/err" || { echo "FAIL: the truncated line is not named" >&2; cat "$tmp/err" >&2; failures=$((failures + 1)); }
"$fragscope" check "$f" 2>/dev/null
check "check of a file with a truncated last line" 1 $?

# Sampling every 16 KiB on average, so the short run has call sites to name (advise below); 4 s,
# long enough for the sessions to thin out pages (at 2 s the pages are still 3/4 full).
FRAGSCOPE_SAMPLE_BYTES=16384 "$fragscope" run -o "$tmp/e.%p.jsonl" --html "$tmp/report.html" -- "$example" --seconds 4 --quiet >/dev/null 2>"$tmp/err"
check "run --html on the example service" 0 $?
grep -q "HTML report written to $tmp/report.html" "$tmp/err" || { echo "FAIL: run did not say where the HTML went" >&2; failures=$((failures + 1)); }
# memory over time, page occupancy, hole sizes, size classes, freed lifetimes, live ages
[[ $(grep -o "<svg" "$tmp/report.html" | wc -l) -eq 6 ]] || { echo "FAIL: the HTML report lacks its 6 charts" >&2; failures=$((failures + 1)); }
"$fragscope" run -o "$tmp/g.%p.jsonl" --no-report --html /nonexistent/dir/r.html -- true 2>"$tmp/err"
check "run --html into a missing directory" 2 $?
grep -q "cannot write /nonexistent/dir/r.html" "$tmp/err" || { echo "FAIL: no message for an unwritable HTML path" >&2; failures=$((failures + 1)); }

# Exec'd programs are measured by default, not with --no-follow-exec (bash forks and execs two).
"$fragscope" run --no-report -o "$tmp/x/f.%p.jsonl" -- bash -c '/bin/true; /bin/true; :' 2>/dev/null
check "run following execs" 0 $?
[[ $(ls "$tmp/x" | wc -l) -ge 3 ]] || { echo "FAIL: exec'd programs were not measured" >&2; failures=$((failures + 1)); }
"$fragscope" run --no-report --no-follow-exec -o "$tmp/y/f.%p.jsonl" -- bash -c '/bin/true; /bin/true; :' 2>/dev/null
check "run --no-follow-exec" 0 $?
[[ $(ls "$tmp/y" | wc -l) -eq 1 ]] || { echo "FAIL: --no-follow-exec measured $(ls "$tmp/y" | wc -l) processes" >&2; failures=$((failures + 1)); }

# report --format json: the figures over time and the last snapshot, as JSON.
"$fragscope" report --format json "$(ls "$tmp"/e.*.jsonl | head -1)" >"$tmp/report.json" 2>/dev/null
check "report --format json" 0 $?
python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); assert j["schema"]=="fragscope.report" and j["snapshots"]>=1 and j["complete"] and len(j["over_time"])==j["snapshots"] and j["last"]["final"]' "$tmp/report.json" \
  || { echo "FAIL: report --format json" >&2; failures=$((failures + 1)); }
"$fragscope" report --format yaml "$(ls "$tmp"/e.*.jsonl | head -1)" >/dev/null 2>&1
check "report --format yaml" 2 $?

# advise on the example service's snapshots: pooling, with the pinning call site and sizes that
# cover the session records (32..96 B), the allocator, and what it could not assess.
"$fragscope" advise --command "./svc" "$(ls "$tmp"/e.*.jsonl | head -1)" >"$tmp/advice" 2>"$tmp/err"
check "advise on the example service" 0 $?
cat "$tmp/advice"
grep -q "^1\. \[lifetime_mixing\] Long-lived .* blocks are scattered among short-lived ones" "$tmp/advice" || { echo "FAIL: advise's first finding is not lifetime_mixing" >&2; failures=$((failures + 1)); }
grep -q "allocated at .*open_session" "$tmp/advice" || { echo "FAIL: advise does not name open_session" >&2; failures=$((failures + 1)); }
grep -qE "fragscope run --pool-sizes [0-9,]*(64|80|96)[0-9,]* -- ./svc" "$tmp/advice" || { echo "FAIL: no --pool-sizes command" >&2; failures=$((failures + 1)); }
grep -qE "^    kernel: no order's fragmentation index|\[kernel\] The kernel reports fragmented free memory" "$tmp/advice" || { echo "FAIL: advise does not assess the kernel's view" >&2; failures=$((failures + 1)); }
# The same verdict as JSON, for alerting: the kinds, the estimate and the command.
"$fragscope" advise --json --command "./svc" "$(ls "$tmp"/e.*.jsonl | head -1)" >"$tmp/advice.json" 2>"$tmp/err"
check "advise --json" 0 $?
python3 - "$tmp/advice.json" <<'PY' || { echo "FAIL: advise --json" >&2; failures=$((failures + 1)); }
import json, sys
v = json.load(open(sys.argv[1]))
assert v["schema"] == "fragscope.advice" and v["version"] == 1, v
f = v["findings"][0]
assert f["kind"] == "lifetime_mixing" and f["recover_bytes"] > 0 and f["command"].startswith("fragscope run --pool-sizes "), f
assert v["nothing_to_fix"] is False and "index" in v["moment"], v["moment"]
PY
"$fragscope" advise /nonexistent.jsonl 2>"$tmp/err"
check "advise of a missing file" 2 $?
printf 'not json\n' >"$tmp/junk.jsonl"
"$fragscope" advise "$tmp/junk.jsonl" 2>"$tmp/err"
check "advise of a file without snapshots" 2 $?
grep -q "junk.jsonl:1: not valid JSON; line skipped" "$tmp/err" || { echo "FAIL: the bad line is not named" >&2; cat "$tmp/err" >&2; failures=$((failures + 1)); }

((failures == 0)) || { echo "$failures check(s) failed" >&2; exit 1; }
