#!/usr/bin/env bash
# `fragscope compare --allocators glibc,trim` on brk_top (64 MiB freed below one live block): the
# trim row runs the shim with recording off and FRAGSCOPE_TRIM (trim_only.cpp), and its steady
# RSS must be at least 48 MiB below glibc's. Usage: compare_trim.sh FRAGSCOPE LIBFRAGSCOPE PROGRAMS
set -euo pipefail
fragscope=$1 lib=$2 programs=$3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$fragscope" compare --runs 1 --allocators glibc,trim --lib "$lib" --json "$work/c.json" -i 200 \
  -- "$programs" brk_top >"$work/table" 2>"$work/err" || { cat "$work/table" "$work/err"; echo "FAIL: compare"; exit 1; }
cat "$work/table"
python3 - "$work/c.json" <<'PY'
import json, sys
rows = {a["name"]: a for a in json.load(open(sys.argv[1]))["allocators"]}
steady = {n: rows[n]["runs"][0]["steady_rss_bytes"] for n in ("glibc", "trim")}
print("steady RSS:", {n: f"{v / 1048576:.1f} MiB" for n, v in steady.items()})
if not all(rows[n]["runs"][0]["ok"] for n in steady):
    sys.exit("FAIL: a run failed")
if steady["glibc"] - steady["trim"] < 48 * 1048576:
    sys.exit("FAIL: the trim row's steady RSS is not 48 MiB below glibc's")
print("ok: compare trim")
PY
