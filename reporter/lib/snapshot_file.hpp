// Reading snapshot files (JSON lines written by the shim; docs/snapshot-schema.md). A truncated
// or corrupt line is reported with its line number and skipped: the rest of the file is kept.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace fragscope::report {

struct LineError {
  std::size_t line = 0;  // 1-based
  std::string message;
};

struct SnapshotFile {
  std::string path;
  std::vector<nlohmann::json> snapshots;  // valid snapshot objects, in file order
  std::vector<LineError> errors;
  /// The last snapshot marked final, or nullptr when the process did not exit normally.
  const nlohmann::json* final_snapshot() const;
  /// The steady state: the last snapshot with a heap analysis holding at least 90% of the most
  /// live bytes any snapshot held, so that a program's teardown (freeing everything before it
  /// exits) is not taken for it. `periodic_only` leaves the final snapshot out. nullptr if none.
  const nlohmann::json* steady_snapshot(bool periodic_only = false) const;
};

/// Parses snapshot text. Never throws on bad content; lines that are not snapshot objects of a
/// known schema version become errors.
SnapshotFile parse_snapshot_text(const std::string& text, std::string path = {});

/// Reads and parses a file, a line at a time: a line longer than files::kSnapshotLineMax
/// (16 MiB) is an error ("longer than ...") and skipped without being held in memory. Throws
/// std::runtime_error (with the path and errno text) when the file cannot be read.
SnapshotFile read_snapshot_file(const std::string& path);

}  // namespace fragscope::report
