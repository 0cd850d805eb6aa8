// `fragscope advise`: remediations derived from a snapshot file, each with the evidence it rests
// on — which size classes to pool and with what chunk size (long-lived blocks scattered among
// short-lived ones), which allocator to try, glibc's tunables — and the commands that try them.
// Pure functions over the snapshots.
#pragma once

#include <string>
#include <vector>

#include "snapshot_file.hpp"

namespace fragscope::report {

struct Advice {
  std::string title;
  std::vector<std::string> evidence;  // figures from the snapshot, with their source
  std::vector<std::string> actions;   // what to do, commands first
};

struct AdviseResult {
  std::string subject;                // "EXE (pid N), snapshot S at T"
  std::string heap_line;              // the heap's state in one line, or why there is none
  std::vector<Advice> advice;         // most important first; empty: nothing to fix
  std::vector<std::string> checked;       // rules that looked and found nothing to fix, with the figure
  std::vector<std::string> not_assessed;  // what the data could not say, and why
  std::string pool_sizes;             // for --pool-sizes, when pooling is advised
};

/// `command` is shown in the commands it proposes (e.g. "./service --port 80").
AdviseResult advise(const SnapshotFile& file, const std::string& command = "CMD");
std::string render_advice(const AdviseResult& result);

}  // namespace fragscope::report
