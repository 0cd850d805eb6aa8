// Heap layout analysis (see heap_layout.hpp).
#include "heap_layout.hpp"

#include <cstring>

namespace fragscope::core {
namespace {

unsigned log2_bin(std::uint64_t v) {
  unsigned b = 63u - static_cast<unsigned>(__builtin_clzll(v | 1));
  return b < HeapLayout::kHoleBins ? b : HeapLayout::kHoleBins - 1;
}

std::uint64_t resident_bytes_in(std::uintptr_t a, std::uintptr_t b, std::uintptr_t seg, std::size_t page,
                                const unsigned char* res) {
  std::uint64_t total = 0;
  for (std::uintptr_t p = (a - seg) / page, last = (b - 1 - seg) / page; p <= last; ++p) {
    if (!(res[p] & 1)) continue;
    std::uintptr_t ps = seg + p * page, pe = ps + page;
    total += (b < pe ? b : pe) - (a > ps ? a : ps);
  }
  return total;
}

}  // namespace

void analyze_heap(const LiveRange* blocks, std::size_t nblocks, const Segment* segs, std::size_t nsegs,
                  std::size_t page, ResidencyFn residency, void* ctx, void* scratch, HeapLayout& out,
                  double* pinned_by_site, std::size_t nsites) noexcept {
  out = HeapLayout{};
  std::size_t bi = 0;
  for (std::size_t si = 0; si < nsegs; ++si) {
    const Segment& seg = segs[si];
    while (bi < nblocks && blocks[bi].addr < seg.start) ++bi;
    const std::size_t first = bi;
    while (bi < nblocks && blocks[bi].addr < seg.end) ++bi;
    const std::size_t last = bi;  // blocks [first, last) start in this segment
    const std::size_t npages = (seg.end - seg.start) / page;
    ++out.segments;
    out.segment_bytes += seg.end - seg.start;
    out.pages += npages;

    auto* res = static_cast<unsigned char*>(scratch);
    auto* live = reinterpret_cast<std::uint32_t*>(static_cast<char*>(scratch) + ((npages + 3) & ~std::size_t{3}));
    if (!residency(seg.start, npages, res, ctx)) {
      std::memset(res, 1, npages);
      out.residency_unknown_pages += npages;
    }
    std::memset(live, 0, npages * sizeof(std::uint32_t));

    // Live bytes per page, and the gaps between consecutive blocks.
    std::uintptr_t prev_end = 0;
    std::uint64_t seg_holes = 0, seg_holes_resident = 0;
    std::uint64_t gap_below = 0, gap_below_resident = 0;  // the hole right below the segment's top block
    for (std::size_t i = first; i < last; ++i) {
      const LiveRange& b = blocks[i];
      std::uintptr_t s = b.addr, e = b.addr + b.size;
      if (e > seg.end) e = seg.end;
      ++out.blocks;
      out.live_bytes += e > s ? e - s : 0;
      for (std::uintptr_t p = s; p < e;) {
        std::uintptr_t pe = seg.start + ((p - seg.start) / page + 1) * page;
        std::uintptr_t upto = e < pe ? e : pe;
        live[(p - seg.start) / page] += static_cast<std::uint32_t>(upto - p);
        p = upto;
      }
      if (i > first && s > prev_end) {
        std::uint64_t gap = s - prev_end;
        if (gap < HeapLayout::kMinHole) {
          out.gap_overhead += gap;
        } else {
          ++out.holes;
          out.hole_bytes += gap;
          if (gap > out.largest_hole) out.largest_hole = gap;
          ++out.hole_hist[log2_bin(gap)];
          std::uint64_t r = resident_bytes_in(prev_end, s, seg.start, page, res);
          out.hole_resident_bytes += r;
          seg_holes += gap;
          seg_holes_resident += r;
          if (i + 1 == last) gap_below = gap, gap_below_resident = r;
        }
      }
      if (e > prev_end) prev_end = e;
    }
    if (last > first && prev_end < seg.end) out.trailing_bytes += seg.end - prev_end;

    for (std::size_t p = 0; p < npages; ++p) {
      if (!(res[p] & 1)) continue;
      ++out.resident_pages;
      const std::uint64_t l = live[p];
      unsigned bin = l == 0 ? 0 : static_cast<unsigned>((l * 8 + page - 1) / page);
      if (bin > 8) bin = 8;
      ++out.occupancy[bin];
      if (l == 0) ++out.empty_resident_pages;
      else if (l * 4 < page) ++out.pinned_pages;
    }

    // Who pins the pinned pages: each sampled block gets its share of the free resident bytes
    // of the pinned pages it is on, in proportion to its live bytes there, times its weight.
    if (pinned_by_site != nullptr) {
      for (std::size_t i = first; i < last; ++i) {
        const LiveRange& b = blocks[i];
        if (b.site == 0 || b.site >= nsites) continue;
        std::uintptr_t s = b.addr, e = b.addr + b.size < seg.end ? b.addr + b.size : seg.end;
        for (std::uintptr_t p = s; p < e;) {
          const std::size_t pi = (p - seg.start) / page;
          std::uintptr_t pe = seg.start + (pi + 1) * page;
          std::uintptr_t upto = e < pe ? e : pe;
          const std::uint64_t l = live[pi];
          if ((res[pi] & 1) && l != 0 && l * 4 < page)
            pinned_by_site[b.site] += static_cast<double>(b.weight) * static_cast<double>(page - l) *
                                      static_cast<double>(upto - p) / static_cast<double>(l);
          p = upto;
        }
      }
    }

    // The segment's top block: everything free below it stays in the segment until it goes.
    if (last > first && seg_holes > 0) {
      const LiveRange& top = blocks[last - 1];
      HeapLayout::Pinned pin{seg.start, seg.end, top.addr, top.size, 0, seg_holes, seg_holes_resident, gap_below,
                             gap_below_resident};
      unsigned pos = out.ntop_pinned < HeapLayout::kTopPinned ? out.ntop_pinned++ : HeapLayout::kTopPinned;
      if (pos == HeapLayout::kTopPinned) {
        if (out.top_pinned[pos - 1].free_below >= pin.free_below) continue;
        pos = HeapLayout::kTopPinned - 1;
      }
      while (pos > 0 && out.top_pinned[pos - 1].free_below < pin.free_below) {
        out.top_pinned[pos] = out.top_pinned[pos - 1];
        --pos;
      }
      out.top_pinned[pos] = pin;
    }
  }
}

}  // namespace fragscope::core
