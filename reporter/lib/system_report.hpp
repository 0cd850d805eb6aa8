// `fragscope system`: the machine's memory as the kernel sees it, in one screen — meminfo,
// free memory by order with the kernel's fragmentation indices, compaction/THP/reclaim counters,
// the vm tunables that matter for fragmentation, and, when readable (root), pageblocks by
// migrate type, the largest slab caches and allocation failures in the kernel log. Parsers here
// are pure functions over text; the CLI (reporter/cli/system_command.cpp) reads the files.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "proc_parse.hpp"

namespace fragscope::report {

struct SlabCache {
  std::string name;
  std::uint64_t active_objs = 0, num_objs = 0, objsize = 0;
  std::uint64_t bytes() const { return num_objs * objsize; }
};
/// /proc/slabinfo (version 2.x). Malformed lines are skipped and counted in *bad.
std::vector<SlabCache> parse_slabinfo(std::string_view text, int* bad = nullptr);

/// The "Number of blocks type" table of /proc/pagetypeinfo: pageblocks per migrate type, per zone.
struct PageblockZone {
  int node = 0;
  std::string zone;
  std::vector<std::uint64_t> blocks;  // in the order of `types`
};
struct Pageblocks {
  std::vector<std::string> types;  // Unmovable, Movable, Reclaimable, ...
  std::vector<PageblockZone> zones;
};
Pageblocks parse_pageblocks(std::string_view pagetypeinfo);

/// Kernel log records (/dev/kmsg: "prio,seq,usec,flags;message") about allocation failures and
/// OOM kills: how many, and the last one.
struct KernelLogFindings {
  std::uint64_t allocation_failures = 0, oom_kills = 0;
  std::string last;
};
KernelLogFindings scan_kernel_log(std::string_view records);

/// One reading of every source; a source that could not be read has its reason in `skipped`.
struct SystemSample {
  std::optional<proc::Meminfo> meminfo;
  std::optional<proc::BuddyInfo> buddy;
  std::optional<proc::Vmstat> vmstat;
  std::map<std::string, std::string> tunables;  // path → value ("" when absent)
  std::optional<Pageblocks> pageblocks;
  std::optional<std::vector<SlabCache>> slabs;
  std::optional<KernelLogFindings> kernel_log;
  std::vector<std::string> skipped;  // "source: reason"
};

/// The screen; `previous` (the last sample of --watch) turns vmstat into deltas.
std::string render_system(const SystemSample& now, const SystemSample* previous, double interval_s);

}  // namespace fragscope::report
