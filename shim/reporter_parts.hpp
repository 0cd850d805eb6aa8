// The reporter's parts (shim/reporter.cpp, its thread and its snapshots), by job:
//   reporter_io.cpp      our descriptors, what we say on stderr, bounded reads of /proc files;
//   snapshot_output.cpp  the snapshot file: opened safely, written whole, fallen back from;
//   heap_analysis.cpp    the heap layout analysis and its bounded scratch, the live table's rebuild.
// Everything here is the reporter thread's (guarded by g_mu), unless said otherwise. Internal to
// the shim: the rest of it sees reporter.cpp's functions in runtime.hpp.
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "heap_estimate.hpp"
#include "heap_layout.hpp"
#include "os_memory.hpp"
#include "safe_file.hpp"
#include "snapshot.hpp"

namespace fragscope::shim::rep {

// Reporter-only scratch memory for the heap layout analysis, in our own mappings; it grows to
// the largest size needed and is kept (guarded by g_mu).
struct Scratch {
  void* p = nullptr;
  std::size_t cap = 0;
  std::size_t used = 0;  // the most of it this snapshot touched (release_scratch resets it)
  void touched(std::size_t bytes) { used = std::max(used, std::min(bytes, cap)); }
  bool ensure(std::size_t bytes, const char* tag) {
    if (bytes <= cap) return true;
    std::size_t ncap = bytes + bytes / 2;
    void* np = core::os_map(ncap, tag);
    if (np == nullptr) return false;
    if (p != nullptr) std::memcpy(np, p, cap);  // read_proc grows it in the middle of a file
    core::os_unmap(p, cap);
    p = np;
    cap = ncap;
    return true;
  }
};

/// /proc text, read one file at a time (read_path, read_proc).
extern Scratch g_proctext;

// Descriptors. A descriptor of ours is only ours while it still refers to the file we opened: a
// host that closes descriptor numbers it does not own (closefrom, a double close) can free ours,
// and the number can then be reused for one of its files at any moment, by any of its threads.
// A check of the number's identity followed by a read, write or close is a race that no check can
// close: the host may close and reuse the number between the two (issue 16). So the reporter
// thread (and the metrics thread it starts) work in a descriptor table of their own
// (own_fd_table): the host's close, open and dup2 cannot reach our numbers, our open cannot make
// its dup2 fail with EBUSY or take the number it expects, and we never hold a reference to one of
// its files. The identity checks below stay, for the one case where the table cannot be ours
// (no thread could be started, or a kernel before 5.9: see own_fd_table).
// A file's identity: device and inode, and for a device node (a terminal on fd 2) the device it
// stands for and the file type as well.
struct FileId {
  dev_t dev = 0;
  ino_t ino = 0;
  dev_t rdev = 0;
  mode_t type = 0;
  bool valid = false;
};
FileId identify_fd(int fd);
bool same_file(const FileId& a, const FileId& b);
/// Whether `fd` still refers to the file `id` was taken from.
bool still_ours(int fd, const FileId& id);
/// Closes `fd` only if it is still the file we opened (see reporter_io.cpp).
void close_if_ours(int fd, const FileId& id);
extern thread_local bool t_own_fds;  // this thread works in our own descriptor table
extern FileId g_stderr_id;           // fd 2 as the process started with it (reporter_init)
extern int g_pidfd;                  // in our table: the process, to reach its fd 2 (say)
/// Makes the calling thread's descriptor table its own (see reporter_io.cpp); false when it could not.
bool own_fd_table();
/// Writes one line to fd 2, escaped, only while fd 2 is the stderr the process started with.
void say(const char* line);

/// Reads `path` whole into `buf`, NUL-terminated; its length or -errno. At most `limit` bytes: a
/// file that goes on is cut there when `cut_ok`, else not read (-EFBIG) and said once.
long read_path(const char* path, Scratch& buf, std::size_t limit = files::kSmallProcFileMax, bool cut_ok = false);
/// read_path of `<proc_dir>/self/<name>` (or `<proc_dir>/<name>`), with the file's own bound.
long read_proc(const char* name, Scratch& buf, bool self = true);
/// The CPUs this process can use at once (affinity, cgroup quotas); 0 when unknown.
double usable_cpus();
/// The process's resident bytes from statm, or -1.
long long resident_bytes();

// The snapshot file (snapshot_output.cpp).
extern int g_fd;
extern FileId g_fd_id;  // identity of g_fd
extern bool g_output_failed;
extern char g_path[];   // the file written to ("" when none)
extern bool g_forked;   // a fork child: a path without %p gets ".<pid>" (reporter.cpp)
/// Opens the output file if it is not open (or the host took its number); false when snapshots are off.
bool ensure_output();
/// Appends one snapshot line, whole or not at all, falling back to the temporary directory.
void write_snapshot(const char* data, std::size_t size);

// The heap layout analysis (heap_analysis.cpp).
extern Scratch g_ranges;  // the batch of live blocks
extern core::HeapLayout g_layout;
extern core::HeapEstimate g_estimate;  // sampled mode: g_layout is its layout
extern std::uint64_t g_compactions;    // rebuilds of the live table (maybe_compact_table)
/// The most live blocks the analysis holds at once, for a table of `entries`.
std::size_t layout_batch_cap(std::size_t entries);
/// Analyses the heap from the first batch of live blocks `ranges` (see heap_analysis.cpp); fills
/// g_layout and the scratch figures of `m`; an error, or nullptr.
const char* analyse_heap(core::LiveRange* ranges, std::size_t n, std::size_t cap, bool more,
                         const core::AddressSample* windows, std::size_t entries, const core::SnapshotTotals& totals,
                         core::SnapshotMeta& m);
/// The pinned bytes by site id of the last analysis, and how many ids it has (nullptr: none).
const double* pinned_by_site(std::size_t* n);
/// The analysis scratch given back (MADV_DONTNEED) after a snapshot.
void release_scratch();
/// What the scratch memory of this snapshot touched so far.
std::uint64_t scratch_touched();
/// Rebuilds the live table when it takes far more memory than its entries need.
void maybe_compact_table();

}  // namespace fragscope::shim::rep
