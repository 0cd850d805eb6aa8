// Heap layout analysis: from the live blocks (sorted by address), the heap segments and page
// residency, compute what DESIGN.md's metrics call heap_rss, page_occupancy,
// empty_resident_pages, pinned_pages, holes, ext_frag and top_pinned_by. A pure function of its
// inputs (residency comes through a callback), run by the reporter thread, never in a hook.
//
// Blocks are measured by their requested bytes: a gap between two live blocks includes the
// allocator's header and the slack of the lower block, so gaps under kMinHole bytes (glibc's
// smallest free chunk) are that per-block overhead, reported as `gap_overhead`, not as holes.
#pragma once

#include <cstddef>
#include <cstdint>

namespace fragscope::core {

// 24 bytes: the reporter holds one per live block of a batch (HeapAnalyzer) during a snapshot.
struct LiveRange {
  std::uintptr_t addr;
  std::uint64_t size;
  std::uint32_t site;  // call site of a sampled block, else 0
  float weight;        // blocks this sampled block stands for (1/p), else 0
};
static_assert(sizeof(LiveRange) == 24);

struct Segment {
  std::uintptr_t start, end;  // page-aligned
};

/// Fills out[i] (bit 0) for the pages of [start, start + pages * page); false if unknown.
using ResidencyFn = bool (*)(std::uintptr_t start, std::size_t pages, unsigned char* out, void* ctx);

struct HeapLayout {
  static constexpr unsigned kOccupancyBins = 9;  // 0 = no live byte; k = (k-1)/8 < live/page <= k/8
  static constexpr unsigned kHoleBins = 48;      // log2 of the hole size
  static constexpr std::uint64_t kMinHole = 32;
  static constexpr unsigned kTopPinned = 8;

  std::uint64_t segments = 0, segment_bytes = 0, pages = 0, resident_pages = 0;
  std::uint64_t segments_skipped = 0;  // set by the caller: segments too large to analyse
  std::uint64_t residency_unknown_pages = 0;  // mincore failed: counted as resident
  std::uint64_t blocks = 0, live_bytes = 0;   // live blocks inside the segments
  std::uint64_t occupancy[kOccupancyBins] = {};
  std::uint64_t empty_resident_pages = 0, pinned_pages = 0;
  std::uint64_t holes = 0, hole_bytes = 0, largest_hole = 0, hole_resident_bytes = 0;
  std::uint64_t hole_hist[kHoleBins] = {};
  std::uint64_t gap_overhead = 0;    // gaps below kMinHole: headers and slack
  std::uint64_t trailing_bytes = 0;  // after the last live block of each segment (trim could return it)
  struct Pinned {
    std::uintptr_t segment_start, segment_end;
    std::uintptr_t addr;
    std::uint64_t size, age;  // age: ticks, filled in by the caller (0 if unknown)
    std::uint64_t free_below;           // hole bytes below it in its segment
    std::uint64_t free_below_resident;  // ... of which resident
    std::uint64_t gap_below;            // the hole right below it (0 if the block below touches it)
    std::uint64_t gap_below_resident;   // ... of which resident
  };
  Pinned top_pinned[kTopPinned] = {};  // segments whose top block pins the most free bytes
  unsigned ntop_pinned = 0;

  std::uint64_t heap_rss(std::size_t page) const noexcept { return resident_pages * page; }
  double ext_frag() const noexcept {
    return hole_bytes ? 1.0 - static_cast<double>(largest_hole) / static_cast<double>(hole_bytes) : 0.0;
  }
};

/// The analysis, fed blocks in address order in as many batches as the caller likes, so that
/// the caller never needs every live block in memory at once (the reporter walks the live table
/// once per batch, see WindowSelector). Requires: `segs` sorted by start, disjoint; `scratch`
/// has heap_scratch_bytes(largest segment's pages) bytes, 8-byte aligned. Each segment's pages
/// are read (residency) when its first block arrives; a segment with no block is not counted.
/// When `pinned_by_site` is given (indexed by site id, `nsites` entries), adds to it each sampled
/// block's (site != 0) estimated share of the free resident bytes on the pinned pages it occupies,
/// once every block that can share those pages has arrived.
class HeapAnalyzer {
 public:
  static constexpr std::size_t kPending = 1024;  // sampled blocks waiting for their pages' totals

  HeapAnalyzer(const Segment* segs, std::size_t nsegs, std::size_t page, ResidencyFn residency, void* ctx, void* scratch,
               HeapLayout& out, double* pinned_by_site = nullptr, std::size_t nsites = 0) noexcept;
  /// Blocks sorted by addr, each at or above every block of the previous calls. A block that
  /// overlaps one before it (the table changed between two batches) is taken as it is.
  void add(const LiveRange* blocks, std::size_t n) noexcept;
  /// Ends the last segment. Call once, after the last add().
  void finish() noexcept;
  /// Sampled blocks attributed before all of their pages were complete (more than kPending were
  /// waiting at once): their share is approximate.
  std::uint64_t early_attributions() const noexcept { return early_; }
  /// Pages of the largest segment a block landed in: how much of the scratch was touched.
  std::size_t largest_opened_pages() const noexcept { return largest_opened_; }

 private:
  void open(std::size_t si) noexcept;
  void close() noexcept;
  void attribute(const LiveRange& b) noexcept;
  void flush_pending(std::size_t below_page) noexcept;  // pages below it are complete

  const Segment* segs_;
  std::size_t nsegs_, page_;
  ResidencyFn residency_;
  void* ctx_;
  HeapLayout& out_;
  double* pinned_by_site_;
  std::size_t nsites_;
  unsigned char* res_ = nullptr;
  std::uint32_t* live_ = nullptr;
  LiveRange* pending_ = nullptr;
  std::size_t npending_ = 0;
  std::uint64_t early_ = 0;
  std::size_t flushed_below_ = 0;  // pending blocks wholly below this page were attributed
  std::size_t largest_opened_ = 0;
  std::size_t si_ = 0;       // the segment the next block is looked for from
  bool open_ = false;        // segs_[si_] has had a block
  std::size_t seg_blocks_ = 0;
  std::uintptr_t prev_end_ = 0;
  std::uint64_t seg_holes_ = 0, seg_holes_resident_ = 0;
  std::uint64_t gap_below_ = 0, gap_below_resident_ = 0;  // the hole right below the last block
  LiveRange top_{};  // the segment's last block so far
};

/// analyze_heap in one batch: `blocks` sorted by addr.
void analyze_heap(const LiveRange* blocks, std::size_t nblocks, const Segment* segs, std::size_t nsegs,
                  std::size_t page, ResidencyFn residency, void* ctx, void* scratch, HeapLayout& out,
                  double* pinned_by_site = nullptr, std::size_t nsites = 0) noexcept;

/// Scratch bytes HeapAnalyzer needs for segments of at most `max_pages` pages: a residency byte
/// and a live-bytes counter per page, and the pending sampled blocks.
inline std::size_t heap_scratch_bytes(std::size_t max_pages) noexcept {
  return ((max_pages + 7) & ~std::size_t{7}) + max_pages * 4 + 8 + HeapAnalyzer::kPending * sizeof(LiveRange);
}

/// Picks, in one pass over the live blocks, those in [lo, hi) — at most the `cap` lowest of them:
/// the reporter's bounded batch. While it is not full a block is appended; once full, `out` is a
/// max-heap that keeps the lowest (slower: the window was too wide). finish() sorts the batch.
/// The next batch starts at `hi` when this one was not full, else above its last block.
class WindowSelector {
 public:
  WindowSelector(LiveRange* out, std::size_t cap, std::uintptr_t lo, std::uintptr_t hi = UINTPTR_MAX) noexcept
      : out_(out), cap_(cap), lo_(lo), hi_(hi) {}
  void offer(const LiveRange& r) noexcept;
  /// Sorts the batch by address; returns its size.
  std::size_t finish() noexcept;
  bool full() const noexcept { return n_ == cap_; }
  /// Where the next batch starts (after finish()); 0 when no block can lie above this batch.
  std::uintptr_t next_lo() const noexcept {
    if (n_ == cap_ && n_ != 0) return out_[n_ - 1].addr + 1;
    return hi_ == UINTPTR_MAX ? 0 : hi_;
  }

 private:
  LiveRange* out_;
  std::size_t cap_, n_ = 0;
  std::uintptr_t lo_, hi_;
};

/// Every `every`-th address a walk of the live table offers, up to `cap`: the table's order is its
/// hash's, so this is a sample of the live blocks' addresses, from which the reporter cuts the
/// address space into windows of about as many blocks as its batch holds (window_end).
class AddressSample {
 public:
  AddressSample(std::uintptr_t* out, std::size_t cap, std::size_t every) noexcept
      : out_(out), cap_(cap), every_(every == 0 ? 1 : every) {}
  void offer(std::uintptr_t a) noexcept {
    if (seen_++ % every_ == 0 && n_ < cap_) out_[n_++] = a;
  }
  /// Sorts the sample; call once, after the walk.
  void finish() noexcept;
  /// Whether a sampled address lies in [lo, hi) (after finish()).
  bool any_in(std::uintptr_t lo, std::uintptr_t hi) const noexcept;
  /// The end of a window from `lo` that holds about `blocks` of the `total` live blocks
  /// (UINTPTR_MAX: the rest of the address space).
  std::uintptr_t window_end(std::uintptr_t lo, std::size_t blocks, std::size_t total) const noexcept;

 private:
  std::uintptr_t* out_;
  std::size_t cap_, every_, n_ = 0, seen_ = 0;
};

}  // namespace fragscope::core
