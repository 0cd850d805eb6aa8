// `fragscope run`: runs a command with the shim preloaded and reports where its snapshots went.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace fragscope::cli {

struct RunOptions {
  std::vector<std::string> command;  // empty: the bundled example service
  std::string output = "fragscope.%p.jsonl";
  int interval_ms = 1000;
  std::string lib;                   // libfragscope.so; empty: found next to the CLI
  bool report = true;                // print the text report of the command's own process
  std::string html;                  // also write its HTML report here (empty: no)
  bool shim_summary = false;         // the shim's one-line stderr summary in every process
  bool follow_exec = true;           // measure the programs the command executes too
  bool sampled = false;              // FRAGSCOPE_MODE=sampled (production mode)
  std::uint32_t region_one_in = 0;   // FRAGSCOPE_REGION_ONE_IN; 0: unset
  std::string pool_sizes;            // FRAGSCOPE_POOL_SIZES (the preload remediation); empty: unset
  std::string trim;                  // FRAGSCOPE_TRIM (bytes; --trim alone: 1048576); empty: unset
  std::string metrics_addr;          // FRAGSCOPE_METRICS_ADDR; empty: unset
  std::string metrics_file;          // FRAGSCOPE_METRICS_FILE; empty: unset
};

/// Runs the command; returns the exit status the shell would report (128 + signal if killed,
/// 127 if it cannot be executed).
int run_command(const RunOptions& opt);

/// libfragscope.so: `lib_option` if given, else $FRAGSCOPE_LIB, else next to the CLI; absolute.
/// Empty (after a message on stderr naming `subcommand`) when it cannot be read.
std::string find_shim(const std::string& lib_option, const char* subcommand);

/// Locates a file installed or built next to the CLI (e.g. "shim/libfragscope.so").
std::string find_beside_cli(const std::vector<std::string>& candidates);

}  // namespace fragscope::cli
