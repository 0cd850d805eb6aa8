// The HTML report of one process's snapshots: one self-contained file (inline CSS, SVG and
// script, no network access) with charts of memory over time, live bytes by size class and
// lifetimes, and a flame graph of the call sites (flame_graph.hpp), beside the figures of the
// text report.
#pragma once

#include <string>

#include "snapshot_file.hpp"

namespace fragscope::report {

/// Renders the report. Requires at least one snapshot in `f`.
std::string render_html_report(const SnapshotFile& f);

/// Escapes &, <, >, " and ' for HTML text and attribute values.
std::string html_escape(std::string_view s);

}  // namespace fragscope::report
