#!/usr/bin/env bash
# The preload remediation on the bundled example service: `fragscope run --pool-sizes` serves
# the session records' sizes from pools, and the service's steady RSS drops while its output
# (checksum) stays the same; the service's --pools build (the fix in code) does the same without
# the shim. Usage: remedy_test.sh FRAGSCOPE FRAGMENTING_SERVICE
set -euo pipefail
cli="$1" service="$2"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT

field() { sed -n "s/.* $1=\([0-9.]*\).*/\1/p" <<<"$2"; }

plain="$("$cli" run --no-report -o "$out/plain.%p.jsonl" -- "$service" --seconds 6 --quiet 2>/dev/null)"
pooled="$("$cli" run --no-report --pool-sizes 32,48,64,80,96 -o "$out/pooled.%p.jsonl" -- "$service" --seconds 6 --quiet 2>/dev/null)"
echo "without pools: $plain"
echo "with pools:    $pooled"

[[ "$(field checksum "$plain")" == "$(field checksum "$pooled")" ]] || { echo "FAIL: the checksum changed"; exit 1; }
rss_plain="$(field rss_bytes "$plain")" rss_pooled="$(field rss_bytes "$pooled")"
# At least 25% less RSS (measured: about 40% less).
(( rss_pooled * 4 < rss_plain * 3 )) || { echo "FAIL: RSS $rss_pooled with pools is not 25% below $rss_plain"; exit 1; }
# The snapshots account for the pools, and their final snapshot balances.
grep -q '"pool_remedy":\[{"size":32,"stride":32,' "$out"/pooled.*.jsonl || { echo "FAIL: no pool_remedy section"; exit 1; }
"$cli" check "$out"/pooled.*.jsonl
# And the fix in code: the service's own --pools build, no shim at all.
fixed="$("$service" --seconds 6 --quiet --pools)"
echo "fixed in code: $fixed"
[[ "$(field checksum "$plain")" == "$(field checksum "$fixed")" ]] || { echo "FAIL: --pools changed the checksum"; exit 1; }
rss_fixed="$(field rss_bytes "$fixed")"
(( rss_fixed * 4 < rss_plain * 3 )) || { echo "FAIL: RSS $rss_fixed with --pools is not 25% below $rss_plain"; exit 1; }
echo "PASS: RSS $rss_plain -> $rss_pooled bytes (preload remediation), $rss_fixed bytes (--pools)"
