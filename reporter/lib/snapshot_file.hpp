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

/// The snapshots of one process image in a file that several processes wrote to (an output path
/// without %p: a program and the programs it executes, or unrelated processes given the same
/// FRAGSCOPE_OUTPUT). A process image is its pid and its run_id (exec keeps the pid, not the run id).
struct ProcessSnapshots {
  long long pid = -1;  // -1 when the snapshots carry none
  std::string run_id;  // empty when the snapshots carry none
  SnapshotFile file;   // its snapshots in file order; path and errors are the whole file's
  /// "pid 123 (/bin/ls, run 0123456789abcdef)", for messages.
  std::string label() const;
};

/// Splits a file's snapshots by process image (pid and run_id), in order of first appearance.
/// A file of one process gives one entry holding the file as it is.
std::vector<ProcessSnapshots> split_by_process(SnapshotFile f);

/// The processes of `procs` with that pid (any when `pid` < 0) and run id (any when empty).
std::vector<const ProcessSnapshots*> select_processes(const std::vector<ProcessSnapshots>& procs, long long pid,
                                                      const std::string& run_id);

/// One line naming the processes (the first 12, then how many more), for "choose one with --pid":
/// "pid 12 (/bin/sh, run ...), pid 13 (...)".
std::string list_processes(const std::vector<ProcessSnapshots>& procs);

/// Reads and parses a file, a line at a time: a line longer than files::kSnapshotLineMax
/// (16 MiB) is an error ("longer than ...") and skipped without being held in memory. Throws
/// std::runtime_error (with the path and errno text) when the file cannot be read.
SnapshotFile read_snapshot_file(const std::string& path);

}  // namespace fragscope::report
