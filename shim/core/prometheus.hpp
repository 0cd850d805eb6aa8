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

/// What the allocator underneath says about itself, in the units of the allocator_* families
/// (DESIGN.md "allocator_native"); NaN where this allocator has no such figure.
struct AllocatorFigures {
  const char* name = "unknown";  // glibc, jemalloc, tcmalloc, mimalloc, unknown
  double in_use = __builtin_nan("");     // bytes handed out: glibc uordblks + hblkhd, jemalloc allocated, tcmalloc current_allocated
  double free = __builtin_nan("");       // bytes it holds free, resident or not returned: glibc fordblks,
                                         // jemalloc resident − allocated − metadata, tcmalloc heap − unmapped − allocated
  double arenas = __builtin_nan("");     // glibc: arenas (malloc_info's <heap> elements)
  double bin_utilization = __builtin_nan("");  // jemalloc: used regions / regions of current slabs, all small bins
};

struct PrometheusInputs {
  const SnapshotMeta* meta = nullptr;      // pid, exe, status, rollup, heap
  const SnapshotTotals* totals = nullptr;
  const proc::BuddyInfo* buddy = nullptr;  // the system view; nullptr when unread
  const proc::Meminfo* meminfo = nullptr;
  const proc::Vmstat* vmstat = nullptr;
  const AllocatorFigures* allocator = nullptr;  // nullptr when unread
};

/// Appends the exposition. Never allocates.
void encode_prometheus(TextBuffer& out, const PrometheusInputs& in) noexcept;

}  // namespace fragscope::core
