#!/usr/bin/env bash
# End-to-end test driver: runs one real program twice, once plainly and once with libfragscope.so
# preloaded, and fails unless the host behaved the same (stdout, stderr, exit status) and what the
# shim wrote is sound (every file's final snapshot balances, files are mode 0600, named by pid).
# With --bad-input CASE it first breaks the shim's configuration or environment in one way, then
# allows one extra stderr line starting with "fragscope:" and checks that nothing else was hurt
# (no file written through a symlink, no directory created); snapshots the shim writes to a
# fallback in $TMPDIR instead must meet the same rules as those in the output directory.
# Every e2e test in tests/e2e/CMakeLists.txt is one call of this script.
set -euo pipefail

usage() {
  cat <<'EOF'
usage: run_scenario.sh --shim LIB --checker PROG [options] -- COMMAND [ARG...]

Runs COMMAND in a fresh directory without and then with LD_PRELOAD=LIB; the shim writes to
OUT/fragscope.%p.jsonl with FRAGSCOPE_SUMMARY=0 and FRAGSCOPE_INTERVAL_MS=100.
  --setup SCRIPT      run "bash SCRIPT" once, without the shim, in an empty directory; both runs
                      start in a fresh copy of what it leaves there (same path both times)
  --min-files N       the shim run must leave at least N output files (default 1; told to
                      the checker, which counts them)
  --require PROG=PKG  fail at once, naming the Debian package, if PROG is not found (repeatable)
  --timeout SECONDS   limit for each run (default 240)
  --bad-input CASE    one of: interval-abc, output-dir-missing, output-symlink,
                      output-symlink-dangling, proc-no-smaps-rollup, proc-smaps-rollup-dir
  --expect-batched FIELD=N
                      every file's final snapshot must say the shim recorded batched, with at
                      least N in recording.FIELD (handovers: of the batching between threads;
                      returns: from direct recording), and no untracked or missed frees (when
                      the kernel lacks membarrier's private expedited command: direct)
  --expect-rebuild    the final snapshot of the largest file must count a rebuild of the live
                      table (recording.table_compactions) and no untracked or missed frees
  --mode MODE         FRAGSCOPE_MODE for the shim run (full or sampled); every file's snapshots
                      must say they were taken in that mode
  --keep              keep the scratch directory even when the test passes
EOF
}

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

# ---- arguments ------------------------------------------------------------------------------
shim="" checker="" setup="" min_files=1 timeout_s=240 bad_input="" keep=0 expect_batched= mode="" expect_rebuild=0
requires=()
while (($#)); do
  case $1 in
    --shim) shim=$2; shift 2 ;;
    --checker) checker=$2; shift 2 ;;
    --setup) setup=$2; shift 2 ;;
    --min-files) min_files=$2; shift 2 ;;
    --require) requires+=("$2"); shift 2 ;;
    --timeout) timeout_s=$2; shift 2 ;;
    --bad-input) bad_input=$2; shift 2 ;;
    --expect-batched) expect_batched=$2; shift 2 ;;
    --mode) mode=$2; shift 2 ;;
    --expect-rebuild) expect_rebuild=1; shift ;;
    --keep) keep=1; shift ;;
    -h | --help) usage; exit 0 ;;
    --) shift; break ;;
    *) usage >&2; fail "unknown argument: $1" ;;
  esac
done
(($#)) || { usage >&2; fail "no COMMAND given"; }
command_line=("$@")
[[ -f $shim ]] || fail "shim not found: '$shim' (build the fragscope_preload target)"
[[ -x $checker ]] || fail "checker not found: '$checker' (build the fragscope target)"
for req in "${requires[@]}"; do
  command -v "${req%%=*}" >/dev/null || fail "'${req%%=*}' not found; install the Debian package ${req#*=}"
done

# ---- scratch directory ----------------------------------------------------------------------
scratch=$(mktemp -d "${TMPDIR:-/tmp}/fragscope-e2e.XXXXXX")
fixture=$scratch/fixture # what --setup made; copied to $work before each run
work=$scratch/work       # the host's working directory, the same path in both runs
out=$scratch/out         # where the shim writes
mkdir -p "$fixture" "$out"
finish() {
  local rc=$?
  if ((rc == 0 && keep == 0)); then
    rm -rf "$scratch"
  else
    echo "scratch directory kept: $scratch" >&2
  fi
}
trap finish EXIT

# Both runs (and the setup) see the same environment except for the shim's variables: the
# caller's LD_PRELOAD and FRAGSCOPE_* removed, a private HOME and TMPDIR at the same paths.
inherited_unset=(-u LD_PRELOAD)
for name in $(compgen -e); do
  if [[ $name == FRAGSCOPE_* ]]; then inherited_unset+=(-u "$name"); fi
done
base_env=(LC_ALL=C TZ=UTC "HOME=$scratch/home" "TMPDIR=$scratch/tmp")
fresh_home_and_tmp() {
  rm -rf "${scratch:?}/home" "${scratch:?}/tmp"
  mkdir "$scratch/home" "$scratch/tmp"
}

if [[ -n $setup ]]; then
  fresh_home_and_tmp
  (cd "$fixture" && exec env "${inherited_unset[@]}" "${base_env[@]}" bash "$setup") </dev/null ||
    fail "setup script $setup failed"
fi

# The shim's settings; a --bad-input case changes one of them or the environment it reads.
declare -A shim_vars=(
  [LD_PRELOAD]=$shim
  [FRAGSCOPE_OUTPUT]=$out/fragscope.%p.jsonl
  [FRAGSCOPE_SUMMARY]=0
  [FRAGSCOPE_INTERVAL_MS]=100 # several periodic snapshots even in short runs
)
[[ -z $mode ]] || shim_vars[FRAGSCOPE_MODE]=$mode
expect_output=1 # whether the shim must have written snapshot files into $out
planted=""      # a symlink we put at the output path, not the shim's output

# Builds a stand-in for /proc in $1 whose self/smaps_rollup is missing (or, with $2 = dir, a
# directory), while everything else links to the real /proc and so still reads correctly.
make_proc_dir() {
  local dir=$1 how=$2 entry name
  mkdir -p "$dir/self"
  for entry in /proc/self/*; do
    name=${entry##*/}
    [[ $name == smaps_rollup ]] || ln -s "/proc/self/$name" "$dir/self/$name"
  done
  for entry in /proc/*; do
    name=${entry##*/}
    [[ $name == self || $name =~ ^[0-9]+$ ]] || ln -s "/proc/$name" "$dir/$name"
  done
  if [[ $how == dir ]]; then mkdir "$dir/self/smaps_rollup"; fi
}

case $bad_input in
  "") ;;
  interval-abc)
    shim_vars[FRAGSCOPE_INTERVAL_MS]=abc ;;
  output-dir-missing)
    shim_vars[FRAGSCOPE_OUTPUT]=$scratch/nonexistent/dir/x
    expect_output=0 ;;
  output-symlink | output-symlink-dangling)
    # The output path is a symlink placed before the run (so no %p: its name must be known).
    if [[ $bad_input == output-symlink ]]; then
      printf 'not yours\n' >"$scratch/victim"
      chmod 0644 "$scratch/victim"
    fi
    planted=$out/fragscope.jsonl
    ln -s "$scratch/victim" "$planted"
    shim_vars[FRAGSCOPE_OUTPUT]=$planted
    expect_output=0 ;;
  proc-no-smaps-rollup)
    make_proc_dir "$scratch/proc" missing
    shim_vars[FRAGSCOPE_PROC_DIR]=$scratch/proc ;;
  proc-smaps-rollup-dir)
    make_proc_dir "$scratch/proc" dir
    shim_vars[FRAGSCOPE_PROC_DIR]=$scratch/proc ;;
  *) fail "unknown --bad-input case: $bad_input" ;;
esac
shim_env=()
for name in "${!shim_vars[@]}"; do shim_env+=("$name=${shim_vars[$name]}"); done

# ---- the two runs ---------------------------------------------------------------------------
# run_once LABEL [NAME=VALUE...]: runs the command, leaving LABEL.{stdout,stderr,status}.
run_once() {
  local label=$1 start elapsed_ms status=0
  shift
  rm -rf "$work"
  cp -a "$fixture" "$work"
  fresh_home_and_tmp
  start=${EPOCHREALTIME/./}
  # timeout(1) and env(1) run without the shim; only the command and its children get it.
  (cd "$work" && umask 022 &&
    exec timeout -k 10 "$timeout_s" env "${inherited_unset[@]}" "${base_env[@]}" "$@" \
      "${command_line[@]}") </dev/null >"$scratch/$label.stdout" 2>"$scratch/$label.stderr" ||
    status=$?
  echo "$status" >"$scratch/$label.status"
  elapsed_ms=$(((${EPOCHREALTIME/./} - start) / 1000))
  printf '%s run: exit status %s, %d.%03d s\n' "$label" "$status" $((elapsed_ms / 1000)) $((elapsed_ms % 1000))
  if ((status == 124 || status == 137)); then
    fail "$label run timed out after $timeout_s s (a deadlock?) or was killed"
  fi
}

run_once plain
[[ $(<"$scratch/plain.status") == 0 ]] ||
  fail "the scenario itself fails without the shim (exit $(<"$scratch/plain.status")):
$(tail -n 20 "$scratch/plain.stderr")"
run_once shim "${shim_env[@]}"

# ---- the host behaved the same --------------------------------------------------------------
[[ $(<"$scratch/shim.status") == $(<"$scratch/plain.status") ]] ||
  fail "exit status $(<"$scratch/shim.status") with the shim, 0 without; its stderr:
$(tail -n 20 "$scratch/shim.stderr")"
cmp -s "$scratch/plain.stdout" "$scratch/shim.stdout" ||
  fail "stdout differs with the shim:
$(diff "$scratch/plain.stdout" "$scratch/shim.stdout" | head -n 20)"

if [[ -z $bad_input ]]; then
  cmp -s "$scratch/plain.stderr" "$scratch/shim.stderr" ||
    fail "stderr differs with the shim:
$(diff "$scratch/plain.stderr" "$scratch/shim.stderr" | head -n 20)"
else
  # At most one extra line, and it is ours; everything else exactly as without the shim.
  warnings=$(grep -c '^fragscope:' "$scratch/shim.stderr" || true)
  ((warnings <= 1)) || fail "$warnings warning lines on stderr, at most 1 allowed:
$(grep '^fragscope:' "$scratch/shim.stderr" | head -n 5)"
  if ((warnings == 1)); then echo "warning: $(grep '^fragscope:' "$scratch/shim.stderr")"; fi
  grep -v '^fragscope:' "$scratch/shim.stderr" >"$scratch/shim.stderr.host" || true # 1: no line left
  cmp -s "$scratch/plain.stderr" "$scratch/shim.stderr.host" ||
    fail "stderr differs with the shim beyond one 'fragscope:' line:
$(diff "$scratch/plain.stderr" "$scratch/shim.stderr" | head -n 20)"
fi

# ---- what the shim wrote --------------------------------------------------------------------
case $bad_input in
  output-dir-missing)
    [[ ! -e $scratch/nonexistent ]] || fail "the shim created the missing output directory" ;;
  output-symlink | output-symlink-dangling)
    [[ -L $planted && $(readlink "$planted") == "$scratch/victim" ]] ||
      fail "the symlink at the output path was replaced or changed" ;;&
  output-symlink)
    [[ $(<"$scratch/victim") == "not yours" && $(stat -c %a "$scratch/victim") == 644 ]] ||
      fail "the shim wrote through a symlink: the file it points to was changed" ;;
  output-symlink-dangling)
    [[ ! -e $scratch/victim ]] || fail "the shim created the file a dangling symlink points to" ;;
esac

shopt -s nullglob dotglob
written=() # files in the output directory, other than a symlink we planted there
for file in "$out"/*; do
  if [[ $file != "$planted" ]]; then written+=("$file"); fi
done
if ((expect_output)); then
  for file in "${written[@]}"; do
    [[ ${file##*/} =~ ^fragscope\.[0-9]+\.jsonl$ ]] ||
      fail "output file not named by the %p pattern: $file"
  done
else
  ((${#written[@]} == 0)) ||
    fail "files appeared in the output directory although the output path was unusable: ${written[*]}"
fi
# Where the configured path is unusable the shim may fall back to $TMPDIR; the same rules apply.
written+=("$scratch/tmp"/fragscope*)
for file in "${written[@]}"; do
  [[ -f $file && ! -L $file ]] || fail "the shim wrote something other than a regular file: $file"
  [[ $(stat -c %a "$file") == 600 ]] ||
    fail "output file has mode $(stat -c %a "$file"), not 600: $file"
done
echo "${#written[@]} output files"
if ((expect_output || ${#written[@]} > 0)); then
  "$checker" check --min-files "$min_files" "${written[@]}" ||
    fail "the snapshots do not check out (fragscope check above)"
fi
if [[ -n $mode ]]; then
  for file in "${written[@]}"; do
    others=$(grep -c -v "\"mode\":\"$mode\"" "$file" || true)
    [[ $others == 0 ]] || fail "$others snapshot(s) of $file were not taken in mode $mode"
  done
fi
if ((expect_rebuild)); then
  python3 - "${written[@]}" <<'PY' || fail "the live table was not rebuilt as expected"
import json, os, sys
path = max(sys.argv[1:], key=os.path.getsize)
final = json.loads(open(path).read().splitlines()[-1])
rebuilds, anomalies = final["recording"].get("table_compactions", 0), final["anomalies"]
print(f"{path}: {rebuilds} rebuild(s) of the live table, anomalies {anomalies}")
if rebuilds < 1:
    sys.exit("no rebuild of the live table")
if anomalies["untracked_frees"] or anomalies["missed_frees"]:
    sys.exit("frees of blocks the table did not have: the rebuild lost or kept some")
PY
fi
if [[ -n $expect_batched ]]; then
  python3 - "$expect_batched" "${written[@]}" <<'PY' || fail "the recording did not end batched as expected"
import ctypes, json, sys
# membarrier(MEMBARRIER_CMD_QUERY): bit 3 is MEMBARRIER_CMD_PRIVATE_EXPEDITED (x86-64 syscall 324).
cmds = ctypes.CDLL(None, use_errno=True).syscall(324, 0, 0, 0)
fence = cmds > 0 and cmds & 8
field, want = sys.argv[1].split("=")
for path in sys.argv[2:]:
    snapshot = json.loads(open(path).read().splitlines()[-1])
    final, anomalies = snapshot["recording"], snapshot["anomalies"]
    print(f"{path}: recording {final}, anomalies {anomalies}")
    # Every block the program frees was allocated under the shim: none may look unknown.
    if anomalies["untracked_frees"] or anomalies["missed_frees"]:
        sys.exit("frees were applied out of order")
    if fence and (final["mode"] != "batched" or final.get(field, 0) < int(want)):
        sys.exit(f"expected batched with recording.{field} at least {want}")
    if not fence and final["mode"] != "direct":
        sys.exit("expected direct: the kernel has no private expedited membarrier")
PY
fi
echo "PASS"
