// Sampled mode's heap layout: the figures of heap_layout.hpp estimated from the sampled regions
// (region_sampler.hpp). Each sampled region that lies in a heap segment is analysed whole — its
// pages' residency, and the live bytes on each page from every kept block that overlaps it — and
// each total is estimated as the sum over those regions divided by the sampling fraction π
// (Horvitz–Thompson). With regions chosen independently with probability π, the estimator is
// unbiased and its variance is estimated by Σ y_i² (1 − π) / π² over the sampled regions' values
// y_i; the snapshot states the standard error (the square root) of each figure.
//
// Holes cross region boundaries: a gap runs, as far as the sample can tell, from the end of one
// kept block to the start of the next kept block of its segment (before the first one it is the
// segment's leading free space, after the last one its trailing free space, as in full mode); a
// region adds the part of it that lies inside, and a hole is counted once, in the region where it
// starts. The hole histogram holds the holes seen whole. The largest hole and top_pinned_by are
// not estimated (the largest piece seen is a lower bound; the segments' top blocks are unknown).
//
// Pure function of its inputs, like analyze_heap; run by the reporter thread.
#pragma once

#include <cstddef>
#include <cstdint>

#include "heap_layout.hpp"
#include "region_sampler.hpp"

namespace fragscope::core {

struct HeapEstimate {
  HeapLayout layout;   // every total scaled by 1/π (rounded); segments, segment_bytes, pages exact
  double fraction = 1; // π
  std::uint64_t regions = 0;  // sampled regions analysed (inside the segments)
  // Standard errors of the scaled totals.
  double se_resident_pages = 0, se_empty_pages = 0, se_pinned_pages = 0, se_hole_bytes = 0, se_holes = 0,
         se_live_bytes = 0, se_free_resident = 0, se_blocks = 0;
  double free_resident = 0;  // estimated: resident bytes − usable live bytes on them (see below)
  std::uint64_t largest_hole_seen = 0;
};

/// Requires: `blocks` sorted by addr, disjoint, holding every kept block (region_sampler.hpp);
/// `segs` sorted and disjoint; `scratch` of estimate_scratch_bytes(sampler) bytes.
/// `usable_per_requested` (≥ 1): the sampled blocks' usable / requested bytes, which turns the
/// requested bytes on a page into usable ones for free_resident (= heap_rss − live usable bytes,
/// as in full mode). `pinned_by_site` as analyze_heap's (each block's weight
/// already stands for its share of the whole heap: SiteTable::set_scale).
void estimate_heap(const LiveRange* blocks, std::size_t nblocks, const Segment* segs, std::size_t nsegs,
                   std::size_t page, const RegionSampler& sampler, double usable_per_requested, ResidencyFn residency,
                   void* ctx, void* scratch, HeapEstimate& out, double* pinned_by_site = nullptr,
                   std::size_t nsites = 0) noexcept;

/// Scratch bytes estimate_heap needs.
inline std::size_t estimate_scratch_bytes(const RegionSampler& s, std::size_t page) noexcept {
  const std::size_t pages = s.region_bytes() / page + 1;
  return pages * (1 + sizeof(std::uint32_t)) + 64;
}

}  // namespace fragscope::core
