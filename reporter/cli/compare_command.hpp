// `fragscope compare [--allocators LIST] [--runs N] -- CMD ARGS...`: runs CMD under each
// allocator, repeatedly, and prints time, memory and fragmentation side by side.
#pragma once

#include <string>
#include <vector>

namespace fragscope::cli {

struct CompareOptions {
  std::vector<std::string> allocators = {"glibc", "jemalloc", "tcmalloc", "mimalloc", "pools"};
  int runs = 3;
  std::string pool_sizes;            // for "pools"; empty: the first allocator's most frequent sizes
  std::string json_out, html_out;    // also write these (empty: no)
  std::string lib;                   // libfragscope.so; empty: found next to the CLI
  std::vector<std::string> lib_dirs; // where allocator libraries are looked for, before the defaults
  int interval_ms = 200;             // snapshot interval of the runs under the shim
  std::vector<std::string> command;
};

/// Returns 0 when every run succeeded, 1 when some run of CMD failed (the others still ran),
/// 2 when compare itself could not work (shim not found, outputs not writable, no command).
int compare_command(const CompareOptions& opt);

}  // namespace fragscope::cli
