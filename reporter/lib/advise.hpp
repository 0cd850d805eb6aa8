// `fragscope advise` and the "What to do" part of every report: findings by mechanism, for the
// allocator actually underneath, judged at the right moment (moment.hpp). Each finding names its
// mechanism with a stable `kind`, its evidence (figures and where they come from), the bytes its
// remedy would recover (estimated from the data), the remedy, and a command that tries it without
// relinking where one exists. Pure functions over the snapshots.
//
// Kinds (stable; docs/advice-schema.md):
//   trim                 free whole pages the allocator keeps resident until asked (glibc)
//   allocator_retention  free memory the allocator's own policy keeps (jemalloc dirty pages,
//                        tcmalloc's page heap)
//   top_pinned           glibc: free space below one live block at the top of a heap
//   lifetime_mixing      long-lived blocks among short-lived ones of the same classes → pools
//   sparse_pages         pages thinned out by deleting equally old objects → compaction,
//                        rebuild, restart (pools do not help)
//   arenas               glibc: the application's threads spread the heap over many arenas
//   internal_frag        usable bytes far above requested ones in frequent sizes
//   kernel               the kernel's own signals of fragmented free memory
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "moment.hpp"
#include "snapshot_file.hpp"

namespace fragscope::report {

struct Finding {
  std::string kind;                   // one of the kinds above
  std::string title;                  // the mechanism, in one line
  std::vector<std::string> evidence;  // figures, each followed by its source in [brackets]
  double recover_bytes = 0;           // estimated bytes the remedy gives back (0: none or unknown)
  std::string estimate;               // how recover_bytes was estimated
  std::vector<std::string> remedy;    // what to do, for the allocator underneath
  std::string command;                // tries the remedy without relinking; empty when none exists
  double rank = 0;                    // recover_bytes weighed by the remedy's cost; higher first
};

struct AdviseResult {
  std::string subject;                    // "EXE (pid N)"
  Moment moment;                          // which snapshot was judged, and why
  std::uint64_t judged_seq = 0, judged_uptime_ns = 0;
  std::string trend;                      // the judged state against the peak and the trend
  std::string heap_line;                  // the heap's state in one line, or why there is none
  std::string allocator;                  // glibc, jemalloc, tcmalloc, mimalloc, unknown
  std::vector<std::string> allocator_says;  // the allocator's own figures, one line each
  std::vector<Finding> findings;          // most important first; empty: nothing to fix
  std::vector<std::string> checked;       // what was looked at and found fine, with the figure
  std::vector<std::string> not_assessed;  // what the data could not say, and why
  std::string pool_sizes;                 // for --pool-sizes, when pooling is advised
  std::vector<std::string> partial;       // coverage_gaps of the judged snapshot: the figures miss these
};

/// Why a snapshot's figures are a partial picture of the process's heap, one sentence each; empty
/// when the hooks saw the program's allocations: an object ahead of the shim answers malloc
/// (snapshot "coverage".malloc_ahead), or at least kUntrackedFreesFloor frees, and more than
/// kUntrackedFreesShare of all frees, were of blocks the hooks never saw allocated.
std::vector<std::string> coverage_gaps(const nlohmann::json& snapshot);
inline constexpr double kUntrackedFreesFloor = 100;
inline constexpr double kUntrackedFreesShare = 0.01;

/// `command` is shown in the commands it proposes (e.g. "./service --port 80").
AdviseResult advise(const SnapshotFile& file, const std::string& command = "CMD");
std::string render_advice(const AdviseResult& result);
/// The machine-readable verdict (docs/advice-schema.md): schema "fragscope.advice", version 1.
nlohmann::json advice_json(const AdviseResult& result);

/// "[lo, 2lo)" of a log2 lifetime bucket as words: "1.0–2.1 ms", or "< 1 clock tick" for 0.
std::string life_range(double lower_bound_ns);

}  // namespace fragscope::report
