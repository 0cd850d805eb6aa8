#!/usr/bin/env bash
# The shim's Prometheus metrics: the textfile passes `promtool check metrics`, the HTTP endpoint
# serves the same families, and a real Prometheus on loopback scrapes a running example service
# and answers a PromQL query for its rss_over_live. Everything listens on 127.0.0.1 only, and
# every wait is bounded.  Usage: prometheus_test.sh FRAGSCOPE FRAGMENTING_SERVICE
set -euo pipefail
cli="$1" service="$2"
for tool in promtool prometheus curl; do
  command -v "$tool" >/dev/null || { echo "FAIL: $tool is not installed (scripts/install-deps.sh installs prometheus)"; exit 1; }
done
work="$(mktemp -d)"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }
# A free loopback port: ask the kernel for one.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

mport="$(free_port)"
"$cli" run --no-report -i 200 -o "$work/f.%p.jsonl" --metrics-file "$work/svc.prom" --metrics-addr "$mport" \
  -- "$service" --seconds 20 --quiet >/dev/null 2>"$work/svc.err" &
pids+=($!)

# The endpoint and the file appear after the first snapshot.
for _ in $(seq 1 100); do
  curl -sf "http://127.0.0.1:$mport/metrics" >"$work/scraped.prom" 2>/dev/null && [[ -s "$work/svc.prom" ]] && break
  sleep 0.1
done
[[ -s "$work/scraped.prom" ]] || fail "no metrics served on 127.0.0.1:$mport ($(cat "$work/svc.err"))"
promtool check metrics <"$work/svc.prom" || fail "promtool rejects the metrics file"
promtool check metrics <"$work/scraped.prom" || fail "promtool rejects the served metrics"
[[ "$(stat -c %a "$work/svc.prom")" == 600 ]] || fail "metrics file mode $(stat -c %a "$work/svc.prom")"
for family in fragscope_live_requested_bytes fragscope_rss_over_live_ratio fragscope_heap_pinned_pages \
              fragscope_process_pss_bytes fragscope_system_unusable_free_index_ratio; do
  grep -q "^# TYPE $family " "$work/scraped.prom" || fail "$family is not served"
done
[[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$mport/other")" == 404 ]] || fail "/other is not a 404"
# `fragscope report --format prom` of the snapshot file: promtool accepts it, and it has exactly
# the families the shim serves.
"$cli" report --format prom "$(ls "$work"/f.*.jsonl | head -1)" >"$work/report.prom" 2>/dev/null || fail "report --format prom"
promtool check metrics <"$work/report.prom" || fail "promtool rejects report --format prom"
diff <(grep '^# TYPE' "$work/scraped.prom" | sort) <(grep '^# TYPE' "$work/report.prom" | sort) \
  || fail "report --format prom and the shim's endpoint differ in their families"

# Sampled mode: the estimates are marked (the fraction of regions sampled) and each has its
# standard error; promtool accepts it, and report --format prom writes the same families.
"$cli" run --sampled --no-report -i 200 -o "$work/s.%p.jsonl" --metrics-file "$work/sampled.prom" \
  -- "$service" --seconds 2 --quiet >/dev/null 2>"$work/sampled.err" || fail "sampled run ($(cat "$work/sampled.err"))"
promtool check metrics <"$work/sampled.prom" || fail "promtool rejects the sampled metrics file"
grep -q '^fragscope_sampled_region_fraction{.*} 0.03125$' "$work/sampled.prom" || fail "no sampled_region_fraction of 1/32"
for m in heap_rss_bytes free_resident_bytes heap_pinned_pages heap_empty_resident_pages heap_holes_bytes; do
  grep -q "^fragscope_estimate_stderr{.*,metric=\"fragscope_$m\"} [0-9]" "$work/sampled.prom" || fail "no standard error for $m"
done
! grep -q fragscope_estimate_stderr "$work/svc.prom" || fail "full mode marks estimates"
"$cli" report --format prom "$(ls "$work"/s.*.jsonl | head -1)" >"$work/sreport.prom" 2>/dev/null || fail "report --format prom (sampled)"
diff <(grep '^# TYPE' "$work/sampled.prom" | sort) <(grep '^# TYPE' "$work/sreport.prom" | sort) \
  || fail "report --format prom and the sampled shim differ in their families"

# A real Prometheus scraping the service every second.
pport="$(free_port)"
cat >"$work/prometheus.yml" <<YAML
global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: fragscope
    static_configs:
      - targets: ["127.0.0.1:$mport"]
YAML
prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/tsdb" \
  --web.listen-address="127.0.0.1:$pport" >"$work/prometheus.log" 2>&1 &
pids+=($!)
answer=""
for _ in $(seq 1 60); do
  answer="$(curl -sf "http://127.0.0.1:$pport/api/v1/query" --data-urlencode 'query=fragscope_rss_over_live_ratio{job="fragscope"}' 2>/dev/null || true)"
  python3 -c 'import json,sys; r=json.loads(sys.argv[1])["data"]["result"]; sys.exit(0 if r and float(r[0]["value"][1]) > 0 else 1)' "$answer" 2>/dev/null && break
  answer=""
  sleep 0.5
done
[[ -n "$answer" ]] || fail "Prometheus never answered the query ($(tail -5 "$work/prometheus.log"))"
echo "Prometheus answered: $answer"
python3 -c '
import json, sys
r = json.loads(sys.argv[1])["data"]["result"][0]
assert r["metric"]["exe"] == "fragmenting_service", r
print("rss_over_live of pid", r["metric"]["pid"], "=", r["value"][1])
' "$answer"
echo PASS
