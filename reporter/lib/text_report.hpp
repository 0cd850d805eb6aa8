// The text report of one process's snapshots: what the engineer reads first. Uses the metric
// names of DESIGN.md; every ratio is printed next to its absolute bytes.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

#include "snapshot_file.hpp"

namespace fragscope::report {

struct TextReportOptions {
  unsigned top_classes = 8;
  unsigned top_sizes = 8;
  unsigned top_sites = 5;
};

/// Renders the report. Requires at least one snapshot in `f`.
std::string render_text_report(const SnapshotFile& f, const TextReportOptions& opt = {});

/// The lower bound of the bucket holding the median of a log histogram ([[lower_bound, count],
/// ...] in ascending order); the total count goes to *total_out when given. 0 when empty.
double median_lower(const nlohmann::json& hist, double* total_out = nullptr);

/// "12.3 MiB", "512 B", ...
std::string human_bytes(double bytes);
/// "850 ns", "12.5 µs", "3.2 s", ...
std::string human_ns(double ns);

}  // namespace fragscope::report
