// `fragscope check`: do the snapshot files' figures balance, process by process?
#pragma once

#include <string>
#include <vector>

namespace fragscope::cli {

/// Exit statuses: 0 every process's snapshot balances (a process that exited: its final snapshot;
/// one still running: its latest periodic snapshot; one replaced by exec: its last snapshot);
/// 1 a snapshot does not balance, misses allocations, a line is corrupt, a process that is gone
/// left no final snapshot, or fewer than `min_files` files were given; 2 a file cannot be read.
int check_command(const std::vector<std::string>& paths, std::size_t min_files);

/// The help footer of `fragscope check`: what it checks and its exit statuses.
extern const char* const kCheckHelp;

}  // namespace fragscope::cli
