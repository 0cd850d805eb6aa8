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

// 24 bytes: the reporter holds one per live block during a snapshot.
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

/// Requires: `blocks` sorted by addr; `segs` sorted by start, disjoint; `scratch` has room for
/// the largest segment's page count (bytes) plus as many uint32 (see scratch_bytes()).
/// When `pinned_by_site` is given (indexed by site id, `nsites` entries), adds to it each sampled
/// block's estimated share of the free resident bytes on the pinned pages it occupies.
void analyze_heap(const LiveRange* blocks, std::size_t nblocks, const Segment* segs, std::size_t nsegs,
                  std::size_t page, ResidencyFn residency, void* ctx, void* scratch, HeapLayout& out,
                  double* pinned_by_site = nullptr, std::size_t nsites = 0) noexcept;

/// Scratch bytes analyze_heap needs for segments of at most `max_pages` pages.
inline std::size_t heap_scratch_bytes(std::size_t max_pages) noexcept { return max_pages * 5; }

}  // namespace fragscope::core
