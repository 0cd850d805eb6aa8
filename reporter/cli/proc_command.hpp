// `fragscope proc PID [--watch SECONDS]`: smem-like memory of any process by mapping kind (heap,
// anon, stack, file, shmem, ours, other) from its /proc/PID/smaps — RSS, PSS, USS and swap —
// with the growth between samples. No preload needed.
#pragma once

#include <string>

namespace fragscope::cli {

struct ProcOptions {
  long pid = 0;
  double watch_s = 0;   // 0: one sample
  int count = 0;        // with --watch: samples to take, 0 = until interrupted or the process exits
  bool json = false;    // one JSON object per sample instead of the table
  std::string from;     // read this saved smaps text instead of /proc/PID/smaps (one sample)
};

/// 0 on success; 2 when the process does not exist or its smaps cannot be read (the message says
/// which and why).
int proc_command(const ProcOptions& opt);

}  // namespace fragscope::cli
