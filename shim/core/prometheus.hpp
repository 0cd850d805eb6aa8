// The Prometheus text exposition (format 0.0.4) of a snapshot: what the shim writes to
// FRAGSCOPE_METRICS_FILE (node_exporter's textfile collector) and serves on
// FRAGSCOPE_METRICS_ADDR. Every series carries the labels pid and exe (the executable's file
// name), so the files of several processes can sit side by side. Metric names follow
// DESIGN.md's glossary; units are in the names (_bytes, _total, _ratio).
#pragma once

#include "heap_layout.hpp"
#include "proc_parse.hpp"
#include "snapshot.hpp"

namespace fragscope::core {

struct PrometheusInputs {
  const SnapshotMeta* meta = nullptr;      // pid, exe, status, rollup, heap
  const SnapshotTotals* totals = nullptr;
  const proc::BuddyInfo* buddy = nullptr;  // the system view; nullptr when unread
  const proc::Meminfo* meminfo = nullptr;
  const proc::Vmstat* vmstat = nullptr;
};

/// Appends the exposition. Never allocates.
void encode_prometheus(TextBuffer& out, const PrometheusInputs& in) noexcept;

}  // namespace fragscope::core
