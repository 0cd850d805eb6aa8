// The call sites of a snapshot, with their frames named: for the text and HTML reports and the
// collapsed-stack (flame graph) export.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace fragscope::report {

struct NamedFrame {
  std::string module, function, location;
  std::uint64_t offset = 0;
  /// "function (file:line)", or "module+0xoffset" when nothing better is known.
  std::string label() const;
};

struct NamedSite {
  std::uint32_t id = 0;
  double live_bytes = 0, live_blocks = 0, allocs = 0, frees = 0, alloc_bytes = 0;
  double pinned_bytes = 0;  // free resident bytes of pinned pages its blocks keep (estimate)
  std::vector<NamedFrame> frames;  // innermost first
  /// The first frame outside the C and C++ runtime (operator new, malloc wrappers): where the
  /// program asked for memory.
  const NamedFrame* origin() const;
  /// The index of origin() in `frames` (0 when there are none): frames from it outward are the
  /// program's stack with the allocator's and the wrappers' frames folded.
  std::size_t origin_index() const;
};

/// The snapshot's sites with their frames resolved (addr2line for what the snapshot lacks).
std::vector<NamedSite> named_sites(const nlohmann::json& snapshot);

/// Collapsed stacks ("outer;...;inner weight" per line), weighted by live bytes or by pinned bytes.
std::string collapsed_live_stacks(const std::vector<NamedSite>& sites);
std::string collapsed_pinned_stacks(const std::vector<NamedSite>& sites);

}  // namespace fragscope::report
