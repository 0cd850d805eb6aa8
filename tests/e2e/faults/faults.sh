#!/usr/bin/env bash
# Fault injection (issue 16): the files fragscope writes land only on a regular file of its own,
# and what it reads from /proc-like files and snapshot files is bounded. One CASE a call:
#
#   cli-device-target     `report --html/--collapsed-live/--collapsed-pinned X` and `run --html X`
#                         with X a character device (mknod'ed here) or a FIFO: exit 2, "not a
#                         regular file", X the same inode and type, nothing left beside it
#   cli-symlink-dir       --html through a symlink in a directory component: exit 2, the
#                         symlink's target directory untouched; a plain path: written, mode 0600
#   output-symlink-dir    FRAGSCOPE_OUTPUT through a symlinked directory: target untouched, the
#                         snapshots in $TMPDIR's fallback (which passes `check`), said why
#   metrics-planted-tmp   a FIFO, then another user's 0666 file, at the old predictable metrics
#                         temporary name (PATH.<pid>.tmp): no hang, the metrics file ours, 0600,
#                         the planted ones untouched
#   metrics-target-fifo   FRAGSCOPE_METRICS_FILE naming a FIFO: no hang, FIFO kept, said why
#   output-mode           an existing output file of ours with mode 0644 becomes 0600
#   full-disk             the output on a full 64 KiB tmpfs (root only; SKIP otherwise): the
#                         snapshots go on in the fallback, "No space left on device" said once,
#                         the full file holds whole lines only
#   proc-endless-meminfo  FRAGSCOPE_PROC_DIR whose meminfo is /dev/zero: the host's VmHWM within
#                         1 MB of a run with a good FRAGSCOPE_PROC_DIR, one warning naming it
#   system-endless        `fragscope system --proc` with an endless meminfo: bounded max RSS,
#                         a warning naming the file, the other files still read
#   long-line             a 200 MB line in a snapshot file: `report` and `check` name the line,
#                         with a bounded max RSS
#
# Usage: faults.sh --fragscope CLI --shim LIB --host PROGRAM CASE
# Exit 0: passed; 1: failed; 77: skipped (said why).
set -uo pipefail

fragscope="" shim="" host=""
while (($#)); do
  case $1 in
    --fragscope) fragscope=$2; shift 2 ;;
    --shim) shim=$2; shift 2 ;;
    --host) host=$2; shift 2 ;;
    *) break ;;
  esac
done
case_name=${1:-}
[[ -x $fragscope && -f $shim && -x $host && -n $case_name ]] || {
  echo "usage: faults.sh --fragscope CLI --shim LIB --host PROGRAM CASE" >&2
  exit 1
}

tmp=$(mktemp -d)
mounted=""
cleanup() {
  [[ -n $mounted ]] && umount "$mounted" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
failures=0
fail() {
  echo "FAIL: $case_name: $*" >&2
  failures=$((failures + 1))
}
ok() { ((failures)) || echo "ok: $case_name: $*"; }
skip() {
  echo "SKIP: $case_name: $*"
  exit 77
}
me=$(id -u)
mkdir -p "$tmp/fallback"

# run_host OUT_PREFIX [NAME=VALUE...] -- [HOST ARGS]: the host under the shim, snapshots every
# 100 ms, at most 30 s; leaves OUT_PREFIX.{stdout,stderr,status}.
run_host() {
  local prefix=$1
  shift
  local vars=()
  while (($#)) && [[ $1 != -- ]]; do vars+=("$1"); shift; done
  [[ ${1:-} == -- ]] && shift
  timeout 30 env LD_PRELOAD="$shim" FRAGSCOPE_SUMMARY=0 FRAGSCOPE_INTERVAL_MS=100 TMPDIR="$tmp/fallback" "${vars[@]}" \
    "$host" "$@" >"$prefix.stdout" 2>"$prefix.stderr"
  echo $? >"$prefix.status"
}

# max_rss_kb OUT ERR COMMAND...: peak RSS (kB) of COMMAND, from /usr/bin/time -v; its stdout
# and stderr in OUT and ERR, its status in $tmp/time.status.
max_rss_kb() {
  local out=$1 err=$2
  shift 2
  /usr/bin/time -v -o "$tmp/time.out" "$@" >"$out" 2>"$err"
  echo $? >"$tmp/time.status"
  awk -F': ' '/Maximum resident set size/ {print $2}' "$tmp/time.out"
}

# A stand-in for /proc in $1: links to the real files, meminfo to $2 (default: the real one).
make_proc_dir() {
  local dir=$1 meminfo=${2:-/proc/meminfo} entry name
  mkdir -p "$dir/self"
  for entry in /proc/self/*; do
    name=${entry##*/}
    ln -s "/proc/self/$name" "$dir/self/$name"
  done
  for entry in /proc/*; do
    name=${entry##*/}
    [[ $name == self || $name =~ ^[0-9]+$ ]] || ln -s "/proc/$name" "$dir/$name"
  done
  ln -sfn "$meminfo" "$dir/meminfo"
}

# A snapshot file to report on.
make_snapshot() {
  "$fragscope" run --no-report -o "$tmp/snap.jsonl" -- "$host" 4 >/dev/null 2>"$tmp/snap.err" ||
    { echo "FAIL: $case_name: cannot make a snapshot file: $(cat "$tmp/snap.err")" >&2; exit 1; }
}

identity() { stat -c '%F %d %i %a %u' "$1"; }

case $case_name in
cli-device-target)
  make_snapshot
  mkdir "$tmp/dev"
  targets=(fifo)
  mkfifo "$tmp/dev/fifo"
  if mknod "$tmp/dev/null" c 1 3 2>/dev/null; then targets+=(null); else echo "note: cannot mknod (not root?): FIFO only"; fi
  for t in "${targets[@]}"; do
    before=$(identity "$tmp/dev/$t")
    for opt in --html --collapsed-live --collapsed-pinned; do
      timeout 20 "$fragscope" report "$tmp/snap.jsonl" "$opt" "$tmp/dev/$t" >/dev/null 2>"$tmp/err"
      rc=$?
      [[ $rc == 2 ]] || fail "report $opt $t: exit $rc, expected 2"
      grep -q "not a regular file" "$tmp/err" || fail "report $opt $t: no 'not a regular file' message: $(cat "$tmp/err")"
      [[ $(identity "$tmp/dev/$t") == "$before" ]] || fail "report $opt $t replaced it: $before -> $(identity "$tmp/dev/$t")"
    done
    timeout 30 "$fragscope" run --no-report --html "$tmp/dev/$t" -o "$tmp/r.%p.jsonl" -- "$host" 2 >/dev/null 2>"$tmp/err"
    rc=$?
    [[ $rc == 2 ]] || fail "run --html $t: exit $rc, expected 2"
    grep -q "not a regular file" "$tmp/err" || fail "run --html $t: no 'not a regular file' message"
    [[ $(identity "$tmp/dev/$t") == "$before" ]] || fail "run --html $t replaced it"
  done
  leftover=$(ls -A "$tmp/dev" | grep -v -x -e fifo -e null)
  [[ -z $leftover ]] || fail "left beside the targets: $leftover"
  ok "${targets[*]}: refused with exit 2, untouched" ;;

cli-symlink-dir)
  make_snapshot
  mkdir -p "$tmp/victim/sub" "$tmp/real"
  ln -s "$tmp/victim" "$tmp/link"
  ln -s "$tmp/victim" "$tmp/real/mid"
  for target in "$tmp/link/r.html" "$tmp/real/mid/sub/r.html"; do
    "$fragscope" report "$tmp/snap.jsonl" --html "$target" >/dev/null 2>"$tmp/err"
    rc=$?
    [[ $rc == 2 ]] || fail "--html $target: exit $rc, expected 2"
    grep -q "symlink" "$tmp/err" || fail "--html $target: the message does not say symlink: $(cat "$tmp/err")"
  done
  [[ -z $(find "$tmp/victim" -mindepth 1 -not -path "$tmp/victim/sub") ]] || fail "written into the symlink's target: $(find "$tmp/victim")"
  "$fragscope" report "$tmp/snap.jsonl" --html "$tmp/real/r.html" >/dev/null 2>"$tmp/err" || fail "plain --html: $(cat "$tmp/err")"
  [[ -s $tmp/real/r.html && $(stat -c '%a %u' "$tmp/real/r.html") == "600 $me" ]] ||
    fail "plain --html: not written as ours, mode 0600: $(stat -c '%a %u' "$tmp/real/r.html" 2>&1)"
  ok "refused through symlinks, target untouched; plain path written 0600" ;;

output-symlink-dir)
  mkdir "$tmp/victim"
  ln -s "$tmp/victim" "$tmp/link"
  run_host "$tmp/h" FRAGSCOPE_OUTPUT="$tmp/link/out.%p.jsonl" -- 10
  [[ $(cat "$tmp/h.status") == 0 && $(cat "$tmp/h.stdout") =~ ^[0-9]+$ ]] || fail "host status $(cat "$tmp/h.status")"
  [[ -z $(ls -A "$tmp/victim") ]] || fail "written through the symlink: $(ls -A "$tmp/victim")"
  grep -q "cannot write snapshots to '$tmp/link/out.*symlink in its path.*writing them to $tmp/fallback/fragscope" "$tmp/h.stderr" ||
    fail "no warning saying why: $(cat "$tmp/h.stderr")"
  fb=$(ls "$tmp/fallback"/fragscope.*.jsonl 2>/dev/null | head -1)
  [[ -n $fb ]] && "$fragscope" check "$fb" >/dev/null 2>&1 || fail "no fallback file that passes check: '$fb'"
  ok "symlinked directory refused, snapshots in $fb" ;;

metrics-planted-tmp)
  mkdir "$tmp/m"
  # bash plants at its own pid's name, then execs the host (same pid) under the shim.
  for kind in fifo file; do
    rm -f "$tmp/m"/*
    start=$SECONDS
    timeout 30 bash -c '
      tmpname="$1/m.prom.$$.tmp"
      if [[ $2 == fifo ]]; then mkfifo "$tmpname"; else printf planted >"$tmpname"; chmod 0666 "$tmpname"; chown nobody "$tmpname" 2>/dev/null; fi
      exec env LD_PRELOAD="$3" FRAGSCOPE_SUMMARY=0 FRAGSCOPE_INTERVAL_MS=100 FRAGSCOPE_OUTPUT="$1/out.%p.jsonl" \
        FRAGSCOPE_METRICS_FILE="$1/m.prom" "$4" 10' _ "$tmp/m" "$kind" "$shim" "$host" >"$tmp/h.stdout" 2>"$tmp/h.stderr"
    rc=$?
    [[ $rc == 0 ]] || fail "$kind planted: host exit $rc (124: it hung)"
    ((SECONDS - start < 15)) || fail "$kind planted: the host took $((SECONDS - start)) s"
    [[ -f $tmp/m/m.prom && $(stat -c '%a %u' "$tmp/m/m.prom") == "600 $me" ]] ||
      fail "$kind planted: metrics file not ours with mode 0600: $(stat -c '%F %a %u' "$tmp/m/m.prom" 2>&1)"
    grep -q '^fragscope_' "$tmp/m/m.prom" 2>/dev/null || fail "$kind planted: no metrics in the file"
    planted=$(ls "$tmp/m"/m.prom.*.tmp 2>/dev/null)
    if [[ $kind == fifo ]]; then
      [[ -p $planted ]] || fail "the planted FIFO is gone or replaced"
    else
      [[ $(cat "$planted" 2>/dev/null) == planted ]] || fail "the planted file was written to"
    fi
    [[ -z $(ls -A "$tmp/m" | grep -v -e '^m\.prom$' -e '^m\.prom\.[0-9]*\.tmp$' -e '^out\.') ]] ||
      fail "$kind planted: temporary files left: $(ls -A "$tmp/m")"
  done
  ok "no hang, metrics file ours and 0600, planted files untouched" ;;

metrics-target-fifo)
  mkfifo "$tmp/m.prom"
  before=$(identity "$tmp/m.prom")
  start=$SECONDS
  run_host "$tmp/h" FRAGSCOPE_OUTPUT="$tmp/out.%p.jsonl" FRAGSCOPE_METRICS_FILE="$tmp/m.prom" -- 10
  [[ $(cat "$tmp/h.status") == 0 ]] || fail "host exit $(cat "$tmp/h.status") (124: it hung)"
  ((SECONDS - start < 15)) || fail "the host took $((SECONDS - start)) s"
  [[ $(identity "$tmp/m.prom") == "$before" ]] || fail "the FIFO was replaced"
  grep -q "cannot write metrics to '$tmp/m.prom': not a regular file" "$tmp/h.stderr" || fail "no warning saying why: $(cat "$tmp/h.stderr")"
  ok "FIFO refused, kept, said why" ;;

output-mode)
  : >"$tmp/out.jsonl"
  chmod 0644 "$tmp/out.jsonl"
  run_host "$tmp/h" FRAGSCOPE_OUTPUT="$tmp/out.jsonl" -- 6
  [[ $(cat "$tmp/h.status") == 0 ]] || fail "host exit $(cat "$tmp/h.status")"
  [[ $(stat -c '%a' "$tmp/out.jsonl") == 600 ]] || fail "output file mode $(stat -c '%a' "$tmp/out.jsonl"), expected 600"
  "$fragscope" check "$tmp/out.jsonl" >/dev/null 2>&1 || fail "the output file does not pass check"
  ok "existing 0644 output file is now 0600 and holds the snapshots" ;;

full-disk)
  [[ $me == 0 ]] || skip "needs root to mount a 64 KiB tmpfs (uid $me)"
  mkdir "$tmp/full"
  mount -t tmpfs -o size=64k tmpfs "$tmp/full" || { fail "root, but cannot mount a tmpfs"; exit 1; }
  mounted=$tmp/full
  run_host "$tmp/h" FRAGSCOPE_OUTPUT="$tmp/full/out.jsonl" -- 30
  [[ $(cat "$tmp/h.status") == 0 && $(cat "$tmp/h.stdout") =~ ^[0-9]+$ ]] || fail "host status $(cat "$tmp/h.status")"
  n=$(grep -c "cannot write snapshots to '$tmp/full/out.jsonl' (No space left on device); writing them to $tmp/fallback/fragscope\." "$tmp/h.stderr")
  [[ $n == 1 ]] || fail "the ENOSPC fallback is said $n times, expected once: $(cat "$tmp/h.stderr")"
  fb=$(ls "$tmp/fallback"/fragscope.*.jsonl 2>/dev/null | head -1)
  [[ -n $fb ]] && "$fragscope" check "$fb" >/dev/null 2>"$tmp/err" || fail "the fallback file '$fb' does not pass check: $(cat "$tmp/err")"
  if [[ -s $tmp/full/out.jsonl ]]; then
    [[ $(tail -c 1 "$tmp/full/out.jsonl" | od -An -c | tr -d ' ') == '\n' ]] || fail "the full file ends in a cut line"
    "$fragscope" report "$tmp/full/out.jsonl" >/dev/null 2>"$tmp/err"
    ! grep -q "line skipped" "$tmp/err" || fail "the full file holds a broken line: $(cat "$tmp/err")"
  fi
  ok "full disk: fallback $fb passes check, said once, the full file holds whole lines" ;;

proc-endless-meminfo)
  make_proc_dir "$tmp/good"
  make_proc_dir "$tmp/bad" /dev/zero
  ln -sfn /dev/zero "$tmp/bad/self/smaps"  # endless per-process files too (bounds of 64 and 256 MiB)
  ln -sfn /dev/zero "$tmp/bad/self/maps"
  make_proc_dir "$tmp/big" "$tmp/big-meminfo"
  truncate -s 300K "$tmp/big-meminfo"  # a regular file larger than the bound: not read at all
  run_host "$tmp/g" FRAGSCOPE_OUTPUT="$tmp/good.jsonl" FRAGSCOPE_PROC_DIR="$tmp/good" -- 20
  # A safety net for the unfixed shim (2.25 GB): the test fails rather than the machine.
  (ulimit -v 4000000; run_host "$tmp/b" FRAGSCOPE_OUTPUT="$tmp/bad.jsonl" FRAGSCOPE_PROC_DIR="$tmp/bad" -- 20)
  run_host "$tmp/l" FRAGSCOPE_OUTPUT="$tmp/big.jsonl" FRAGSCOPE_PROC_DIR="$tmp/big" -- 20
  good=$(cat "$tmp/g.stdout") bad=$(cat "$tmp/b.stdout")
  [[ $(cat "$tmp/g.status") == 0 && $good =~ ^[0-9]+$ ]] || fail "good run: status $(cat "$tmp/g.status")"
  [[ $(cat "$tmp/b.status") == 0 && $bad =~ ^[0-9]+$ ]] || fail "bad run: status $(cat "$tmp/b.status")"
  [[ $(cat "$tmp/l.status") == 0 ]] || fail "big run: status $(cat "$tmp/l.status")"
  echo "VmHWM: good FRAGSCOPE_PROC_DIR $good kB, meminfo, maps and smaps -> /dev/zero $bad kB (+$((bad - good)) kB)"
  ((bad - good <= 1024)) || fail "the host's VmHWM grew by $((bad - good)) kB (> 1 MB) with endless files"
  for f in meminfo self/smaps self/maps; do
    n=$(grep -c "fragscope: $tmp/bad/$f is not a regular file" "$tmp/b.stderr")
    [[ $n == 1 ]] || fail "the warning naming $f is said $n times, expected once: $(cat "$tmp/b.stderr")"
  done
  n=$(grep -c "fragscope: $tmp/big/meminfo goes on past 256 KiB" "$tmp/l.stderr")
  [[ $n == 1 ]] || fail "the warning naming the 300 KiB meminfo is said $n times, expected once: $(cat "$tmp/l.stderr")"
  "$fragscope" check "$tmp/bad.jsonl" >/dev/null 2>&1 || fail "the bad run's snapshots do not pass check"
  grep -q '"meminfo":{"error":"cannot read [^"]*meminfo: Invalid argument"}' "$tmp/bad.jsonl" ||
    fail "the snapshot does not say meminfo could not be read"
  grep -q '"meminfo":{"error":"cannot read [^"]*meminfo: File too large"}' "$tmp/big.jsonl" ||
    fail "the snapshot does not say the 300 KiB meminfo was too large"
  ! grep -q '"meminfo":{"error"' "$tmp/good.jsonl" || fail "the good run's meminfo has an error"
  ok "bounded: +$((bad - good)) kB, one warning per file" ;;

system-endless)
  make_proc_dir "$tmp/good"
  make_proc_dir "$tmp/bad" /dev/zero
  good=$(max_rss_kb /dev/null "$tmp/g.err" timeout 30 "$fragscope" system --proc "$tmp/good")
  [[ $(cat "$tmp/time.status") == 0 ]] || fail "good --proc: exit $(cat "$tmp/time.status"): $(cat "$tmp/g.err")"
  bad=$(ulimit -v 4000000; max_rss_kb "$tmp/b.out" "$tmp/b.err" timeout 30 "$fragscope" system --proc "$tmp/bad")
  rc=$(cat "$tmp/time.status")
  echo "max RSS of fragscope system: good --proc $good kB, meminfo -> /dev/zero $bad kB"
  [[ $rc == 0 ]] || fail "endless meminfo: exit $rc (buddyinfo and vmstat are still readable)"
  [[ $bad =~ ^[0-9]+$ ]] && ((bad <= good + 4096)) || fail "max RSS $bad kB, more than 4 MB over the good run's $good kB"
  grep -q "fragscope system: $tmp/bad/meminfo goes on past 256 KiB" "$tmp/b.err" || fail "no warning naming meminfo: $(cat "$tmp/b.err")"
  ok "bounded: $bad kB against $good kB, warned" ;;

long-line)
  make_snapshot
  { head -n 1 "$tmp/snap.jsonl"; head -c 200000000 /dev/zero | tr '\0' x; echo; tail -n +2 "$tmp/snap.jsonl"; } >"$tmp/big.jsonl"
  base=$(max_rss_kb /dev/null /dev/null "$fragscope" report "$tmp/snap.jsonl")
  for cmd in report check; do
    rss=$(ulimit -v 4000000; max_rss_kb /dev/null "$tmp/err" "$fragscope" "$cmd" "$tmp/big.jsonl")
    rc=$(cat "$tmp/time.status")
    echo "max RSS of fragscope $cmd: ${rss:-?} kB with a 200 MB line ($base kB for the file without it)"
    expected=0
    [[ $cmd == check ]] && expected=1
    [[ $rc == "$expected" ]] || fail "$cmd: exit $rc, expected $expected"
    grep -q "big.jsonl:2: longer than 16 MiB" "$tmp/err" || fail "$cmd: line 2 is not named: $(head -c 300 "$tmp/err")"
    [[ $rss =~ ^[0-9]+$ ]] && ((rss <= base + 65536)) || fail "$cmd: max RSS $rss kB, more than 64 MB over $base kB"
  done
  ok "the 200 MB line named, memory bounded" ;;

*)
  echo "unknown case: $case_name" >&2
  exit 1 ;;
esac

((failures == 0)) || exit 1
exit 0
