#!/usr/bin/env bash
# The HTML report in a real browser: headless Chromium renders it (all six charts in the DOM,
# no script error, no NaN or undefined on the page), it loads nothing from the network, and a
# screenshot of it is a real picture.  Usage: html_chromium_test.sh FRAGSCOPE FRAGMENTING_SERVICE
set -euo pipefail
cli="$1" service="$2"
browser="$(command -v chromium || command -v chromium-browser || true)"
[[ -n "$browser" ]] || { echo "FAIL: chromium is not installed (scripts/install-deps.sh installs it)"; exit 1; }
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

"$cli" run --no-report -i 250 -o "$work/f.%p.jsonl" --html "$work/report.html" -- "$service" --seconds 2 --quiet >/dev/null 2>&1
[[ -s "$work/report.html" ]] || fail "no HTML report"
# Self-contained: nothing fetched from anywhere.
if grep -Eqi '(src|href)="(https?:)?//' "$work/report.html"; then fail "the report refers to the network"; fi

flags=(--headless=new --no-sandbox --disable-gpu --no-first-run --disable-extensions
       --proxy-server=127.0.0.1:9 --user-data-dir="$work/profile" --enable-logging=stderr --v=0)
timeout 120 "$browser" "${flags[@]}" --dump-dom "file://$work/report.html" >"$work/dom.html" 2>"$work/console.log" \
  || fail "chromium failed: $(tail -3 "$work/console.log")"
charts=$(grep -o "<svg" "$work/dom.html" | wc -l)
[[ $charts -eq 6 ]] || fail "the rendered page has $charts charts, expected 6"
grep -q "fragmenting_service" "$work/dom.html" || fail "the page does not name the program"
if grep -Eq '>[^<]*(NaN|undefined)[^<]*<' "$work/dom.html"; then fail "the page shows NaN or undefined"; fi
if grep -E 'CONSOLE|Uncaught' "$work/console.log"; then fail "the page logged to the console"; fi

timeout 120 "$browser" "${flags[@]}" --window-size=1280,1800 --screenshot="$work/report.png" \
  "file://$work/report.html" >/dev/null 2>&1 || fail "no screenshot"
python3 - "$work/report.png" <<'PY'
import struct, sys
data = open(sys.argv[1], "rb").read()
assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
w, h = struct.unpack(">II", data[16:24])
assert (w, h) == (1280, 1800), (w, h)
assert len(data) > 30_000, f"{len(data)} bytes: a blank page?"
print(f"screenshot {w}x{h}, {len(data)} bytes")
PY
echo PASS
