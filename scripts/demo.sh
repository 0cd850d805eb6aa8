#!/usr/bin/env bash
# The first README command: installs what is missing, builds, and runs the main job — the
# bundled misbehaving example service under `fragscope run` — printing the text report and
# writing the HTML report. Snapshots and out/demo/report.html go to out/demo/ (override with
# FRAGSCOPE_DEMO_DIR).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/install-deps.sh"
"$root/scripts/build.sh"
build="${FRAGSCOPE_BUILD_DIR:-$root/build}"
out="${FRAGSCOPE_DEMO_DIR:-$root/out/demo}"
mkdir -p "$out"
"$build/reporter/cli/fragscope" run -o "$out/fragscope.%p.jsonl" --html "$out/report.html" \
  -- "$build/examples/fragmenting_service" "$@"
