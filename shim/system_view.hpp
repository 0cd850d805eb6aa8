// The system's view in the snapshot: /proc/buddyinfo with the kernel's fragmentation indices per
// zone and order, /proc/meminfo, and /proc/vmstat's compaction, THP, migration, reclaim and swap
// counters (since boot; readers take deltas between snapshots). No root needed.
#pragma once

#include "proc_parse.hpp"
#include "snapshot.hpp"

namespace fragscope::shim {

struct SystemView {
  proc::BuddyInfo buddy;
  proc::Meminfo meminfo;
  proc::Vmstat vmstat;
  int buddy_errno = 0, meminfo_errno = 0, vmstat_errno = 0;  // why a file could not be read
};

/// Appends `,"system":{...}`.
void encode_system_view(core::TextBuffer& out, const SystemView& v, const char* proc_dir) noexcept;

}  // namespace fragscope::shim
