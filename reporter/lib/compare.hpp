// `fragscope compare`: the allocators it knows, the figures of one run, summaries over runs,
// and the renderings (text table, JSON, HTML). Pure functions over values, so they are tested
// without running anything; the CLI (reporter/cli/compare_command.cpp) runs the processes.
#pragma once

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <vector>

#include "snapshot_file.hpp"

namespace fragscope::report {

struct AllocatorSpec {
  std::string name;      // glibc, jemalloc, tcmalloc, mimalloc, pools
  std::string library;   // file name to preload; empty for glibc (the process's own) and pools
  std::string package;   // the Debian package that provides it
};

/// The allocators compare knows, in its default order.
const std::vector<AllocatorSpec>& known_allocators();
/// The spec named `name`, or nullopt.
std::optional<AllocatorSpec> find_allocator(const std::string& name);
/// The path of spec.library in the first of `dirs` that has it; empty when none does.
std::string locate_library(const AllocatorSpec& spec, const std::vector<std::string>& dirs);

/// The heap figures of one run under the shim, from its snapshot file: the last periodic
/// snapshot holding at least 90% of the most live bytes any periodic snapshot held (the steady
/// state, before any teardown), or the final one when there is no periodic snapshot.
struct HeapFigures {
  double live_requested = 0, heap_rss = 0, rss_over_live = 0, pinned_pages = 0, holes_bytes = 0;
  std::vector<std::pair<std::size_t, double>> top_sizes;  // request size → allocations
};
std::optional<HeapFigures> heap_figures(const SnapshotFile& file);

/// One run of the command under one allocator: the plain run (time, RSS) and the run under the
/// shim (heap figures). `status` is the shell's exit status (128 + signal).
struct RunResult {
  int status = 0;
  std::string error;          // why the run failed, empty when it succeeded
  double wall_s = 0, cpu_s = 0, peak_rss = 0, steady_rss = 0;
  std::optional<HeapFigures> heap;
  bool ok() const { return status == 0 && error.empty(); }
};

struct AllocatorResult {
  AllocatorSpec spec;
  std::string library_path;   // what was preloaded
  std::string skipped;        // non-empty: not run, and why
  std::vector<RunResult> runs;
  std::string pool_sizes;     // pools only: the sizes served
};

/// Median and range of values; for an even count the median is the mean of the middle two.
struct Summary {
  double median = 0, min = 0, max = 0;
  std::size_t n = 0;
};
Summary summarize(std::vector<double> values);

/// The steady RSS of a run from RSS samples taken at regular intervals: the median of the
/// samples of its second half (a program's start-up climb is not its steady state).
double steady_rss(const std::vector<double>& samples);

/// Pool sizes for the pools contender: the most frequent request sizes (up to `max` of them,
/// each ≤ 4096) of a run, rounded up to 16, in ascending order, as "32,48,64".
std::string pool_sizes_from(const HeapFigures& figures, std::size_t max = 8);

/// The table printed on the terminal.
std::string render_compare_table(const std::vector<AllocatorResult>& results, const std::string& command);
nlohmann::json compare_json(const std::vector<AllocatorResult>& results, const std::string& command);
std::string render_compare_html(const std::vector<AllocatorResult>& results, const std::string& command);

}  // namespace fragscope::report
