// `fragscope report --format json|prom`: a snapshot file for machines. JSON: the run's identity,
// its figures over time and its last snapshot whole. Prometheus: the exposition of the last
// snapshot with the same families and labels the shim serves (shim/core/prometheus.cpp), so a
// file written by a process that has exited can still feed a textfile collector.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

#include "snapshot_file.hpp"

namespace fragscope::report {

nlohmann::json render_report_json(const SnapshotFile& f);
std::string render_prometheus(const SnapshotFile& f);

}  // namespace fragscope::report
