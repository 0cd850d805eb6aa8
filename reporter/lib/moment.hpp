// Which snapshot of a file to judge, and which to show over time. A service's heap is judged in
// its latest state, against its peak and its trend, never at its peak alone: the textbook case
// (load data, delete most of it, RSS stays high) is only visible after the delete. An exited
// process is judged at its last snapshot before exit-time teardown (a final snapshot taken after
// the program freed its data on the way out says nothing about the service it was).
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "snapshot_file.hpp"

namespace fragscope::report {

struct Moment {
  static constexpr std::size_t npos = static_cast<std::size_t>(-1);
  std::size_t judged = npos;     // index into SnapshotFile::snapshots; npos when the file has none
  std::size_t peak_live = npos;  // the snapshot with the most live requested bytes
  std::size_t peak_rss = npos;   // the snapshot with the most heap_rss (with a heap analysis)
  std::size_t latest = npos;     // the last snapshot in the file
  bool exited = false;           // the file has a final snapshot
  bool exit_skipped = false;     // the exit snapshot was not judged (a periodic one exists)
  std::string why;               // one sentence: which snapshot and why
};

/// Chooses the snapshot to judge: the latest with a heap analysis, except the exit snapshot when
/// a periodic one exists (the exit snapshot is taken after exit handlers and static destructors
/// ran: it shows the teardown, not the running program), and except, before exit, the periodic
/// snapshots at the very end that each hold under 95% of the live bytes of the one before (a
/// teardown already under way). Snapshots without a heap analysis are judged only when no other
/// exists.
Moment choose_moment(const SnapshotFile& f);

/// Up to `max_rows` snapshot indexes for an "over time" table or chart, in file order: always the
/// first, the peak of live bytes, the peak of heap_rss, both ends of the largest rise of
/// rss_over_live between consecutive snapshots, the judged one and the latest; the rest spread
/// evenly over the run.
std::vector<std::size_t> timeline_rows(const SnapshotFile& f, const Moment& m, std::size_t max_rows);

/// Live requested bytes of a snapshot (0 when absent).
double live_of(const nlohmann::json& snapshot);
/// Whether the snapshot carries a heap analysis (heap.heap_rss).
bool has_heap(const nlohmann::json& snapshot);

}  // namespace fragscope::report
