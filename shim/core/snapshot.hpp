// Snapshots: the one contract between the shim and everything downstream. collect() sums the
// per-thread counters and walks the live table; encode() writes one JSON object (one line) in
// the schema documented in docs/snapshot-schema.md. Both run in the reporter thread (or at exit),
// never in a hook, and neither touches the host's heap: the output buffer is our own mapping.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "clock.hpp"
#include "heap_estimate.hpp"
#include "heap_layout.hpp"
#include "proc_parse.hpp"
#include "recorder.hpp"

namespace fragscope::core {

inline constexpr int kSchemaVersion = 1;

class TextBuffer;

/// Everything about the process that the recorder does not know.
struct SnapshotMeta {
  std::uint64_t seq = 0;
  bool final = false;
  const char* reason = "interval";  // "interval" | "exit"
  long pid = 0, ppid = 0;
  std::uint64_t run_id = 0;
  const char* exe = "";
  const char* argv0 = "";  // the first word of the command line
  const char* output_path = "";
  std::uint64_t time_unix_ns = 0, uptime_ns = 0;
  bool forked_child = false;
  double ns_per_tick = 16.0;
  ClockSource clock = ClockSource::kMonotonic;
  // /proc views: parsed values, or the reason they are missing.
  const proc::Status* status = nullptr;
  const char* status_error = nullptr;
  const proc::SmapsRollup* rollup = nullptr;
  const char* rollup_error = nullptr;
  const proc::SmapsByKind* by_kind = nullptr;  // /proc/self/smaps summed by mapping kind
  const char* by_kind_error = nullptr;
  const char* proc_dir = "/proc";
  const char* const* warnings = nullptr;  // lines said on stderr since the last snapshot
  std::size_t nwarnings = 0;
  // Heap layout (nullptr: not analysed, and heap_error says why). In sampled mode `heap` is
  // estimate->layout and `estimate` gives its standard errors.
  const HeapLayout* heap = nullptr;
  const HeapEstimate* estimate = nullptr;
  const char* heap_error = nullptr;
  std::size_t page_size = 4096;
  // The analysis's own working memory this snapshot (the batch of blocks, the page arrays, the
  // /proc text), the most its batch of live blocks may take, and how many batches (walks of the
  // live table) the layout took.
  std::uint64_t scratch_bytes = 0, batch_bytes = 0;
  unsigned layout_batches = 0;
  // Appends further `,"name":{...}` sections (the runtime's allocator and call-site views).
  void (*extra)(TextBuffer& out, const SnapshotMeta& m) = nullptr;
};

/// Totals derived by collect(); what the exit summary prints. In sampled mode (Recorder::regions
/// on) allocs and req_alloc are exact, the rest are estimates (the sampled counts scaled by 1/π),
/// and `sampled` holds the sampled counts themselves.
struct SnapshotTotals {
  std::uint64_t allocs = 0, frees = 0, req_alloc = 0, req_free = 0, usable_alloc = 0, usable_free = 0;
  std::uint64_t table_blocks = 0, table_requested = 0;
  std::int64_t peak_requested = 0;
  bool estimated = false;
  struct Sampled {
    std::uint64_t allocs = 0, frees = 0, req_alloc = 0, req_free = 0, usable_alloc = 0, usable_free = 0;
    std::uint64_t table_blocks = 0, table_requested = 0;
  } sampled;
  double scale = 1;  // 1/π
};

/// A fixed-capacity text buffer in our own memory; output that does not fit is cut and flagged.
class TextBuffer {
 public:
  bool reserve(std::size_t cap) noexcept;
  void clear() noexcept { len_ = 0, overflow_ = false; }
  void append(const char* s, std::size_t n) noexcept;
  void append(std::string_view s) noexcept { append(s.data(), s.size()); }
  char* data() noexcept { return buf_; }
  std::size_t size() const noexcept { return len_; }
  std::size_t capacity() const noexcept { return cap_; }
  bool overflow() const noexcept { return overflow_; }
  char* tail() noexcept { return buf_ + len_; }
  std::size_t room() const noexcept { return cap_ - len_; }
  void commit(std::size_t n) noexcept {
    if (n > room()) overflow_ = true, len_ = cap_;
    else len_ += n;
  }

 private:
  char* buf_ = nullptr;
  std::size_t len_ = 0, cap_ = 0;
  bool overflow_ = false;
};

class SnapshotBuilder {
 public:
  /// Sums counters and walks the live table as of `now` (ticks). Reporter only. When `batch` is
  /// given, offers it every live block (sampled blocks with site UINT32_MAX, for the caller to
  /// look up): the layout analysis's first batch; when `sample` is, every block's address.
  void collect(Recorder& r, std::uint64_t now, WindowSelector* batch = nullptr, AddressSample* sample = nullptr) noexcept;
  /// Appends one JSON object and a newline to `out`. Requires collect() first.
  void encode(const SnapshotMeta& meta, Recorder& r, TextBuffer& out) const noexcept;
  const SnapshotTotals& totals() const noexcept { return totals_; }

 private:
  /// Sampled mode: what a sampled block of class `c` stands for (1 in the large classes).
  double class_scale(unsigned c) const noexcept { return c >= kFirstLargeClass ? 1.0 : totals_.scale; }
  void encode_heap(const SnapshotMeta& m, TextBuffer& out) const noexcept;
  struct ClassAgg {
    std::uint64_t allocs, frees, req_alloc, req_free, usable_alloc, usable_free;
    std::uint64_t s_allocs, s_req_alloc;  // sampled mode
    std::uint64_t table_blocks, table_requested;
    std::uint64_t freed_life[kLifetimeBuckets];
    std::uint64_t live_age[kLifetimeBuckets];
  };
  ClassAgg cls_[kNumSizeClasses] = {};
  std::uint64_t calls_[kNumOps] = {}, failures_[kNumOps] = {};
  std::uint64_t untracked_frees_ = 0, missed_frees_ = 0, dropped_ = 0, realloc_moves_ = 0, realloc_in_place_ = 0;
  std::uint64_t mmap_bytes_ = 0, munmap_bytes_ = 0, mremap_moves_ = 0, allocator_mmaps_ = 0,
                allocator_mmap_bytes_ = 0;
  std::uint64_t exact_[kExactSizes] = {};
  std::size_t live_maps_ = 0, live_map_bytes_ = 0;
  SnapshotTotals totals_;
  // Sampled mode: the process's frees (and their bytes) as last reported. Estimated as the
  // allocations less the live blocks, they would step back when the live estimate rose faster
  // than the program allocated (a quiet second, a few new blocks in the sample), and
  // fragscope_frees_total is a Prometheus counter: a counter that steps back reads as a reset.
  std::uint64_t frees_floor_ = 0, req_free_floor_ = 0;
};

/// Appends printf-formatted text to `out` (cut and flagged if it does not fit).
void append_printf(TextBuffer& out, const char* fmt, ...) noexcept __attribute__((format(printf, 2, 3)));

/// Writes `s` as a JSON string literal (quotes included) into `out`.
void json_string(TextBuffer& out, const char* s) noexcept;

}  // namespace fragscope::core
