// `fragscope system [--watch SECONDS] [--count N]`: the system's memory in one screen (see
// reporter/lib/system_report.hpp). Sources only root can read are skipped with the reason.
#pragma once

#include <string>

namespace fragscope::cli {

struct SystemOptions {
  double watch_s = 0;             // 0: one screen
  int count = 0;                  // with --watch: screens to show, 0 = until interrupted
  std::string proc_dir = "/proc"; // for tests and containers
};

/// 0, or 2 when not even /proc/meminfo can be read.
int system_command(const SystemOptions& opt);

}  // namespace fragscope::cli
