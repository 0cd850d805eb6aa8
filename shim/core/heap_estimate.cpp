// Sampled mode's heap layout estimate (see heap_estimate.hpp).
#include "heap_estimate.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace fragscope::core {
namespace {

unsigned log2_bin(std::uint64_t v) {
  unsigned b = 63u - static_cast<unsigned>(__builtin_clzll(v | 1));
  return b < HeapLayout::kHoleBins ? b : HeapLayout::kHoleBins - 1;
}

// One figure y against an auxiliary figure x whose total over the analysed segments is known
// exactly (their resident pages, or their pages): the sums over the sampled regions for the
// ratio estimator and its variance.
struct Sum {
  double s = 0, s2 = 0, sxy = 0;
  void add(double y, double x) {
    s += y;
    s2 += y * y;
    sxy += x * y;
  }
};
struct Aux {
  double total = 0;     // exact, over the analysed segments
  double s = 0, s2 = 0;  // over the sampled regions
  void add(double x) {
    s += x;
    s2 += x * x;
  }
};

// The ratio estimate of y's total, X · Σy / Σx, and its standard error by linearisation,
// (X / Σx) · sqrt((1 − π) Σ (y − R x)²) with R = Σy / Σx (Poisson sampling of regions). With no
// x in the sample (nothing of the auxiliary seen), the Horvitz–Thompson estimate Σy / π.
struct Estimate {
  double value, se;
};
Estimate ratio_estimate(const Sum& y, const Aux& x, double pi) {
  const double w = pi > 0 ? 1.0 / pi : 0.0;
  if (x.s <= 0) return {y.s * w, std::sqrt(std::max(0.0, y.s2 * (1.0 - pi))) * w};
  const double r = y.s / x.s;
  const double resid2 = std::max(0.0, y.s2 - 2 * r * y.sxy + r * r * x.s2);
  const double g = x.total / x.s;
  return {x.total * r, g * std::sqrt(resid2 * (1.0 - pi))};
}

}  // namespace

void estimate_heap(const LiveRange* blocks, std::size_t nblocks, const Segment* segs, std::size_t nsegs,
                   std::size_t page, const RegionSampler& sampler, double usable_per_requested, ResidencyFn residency,
                   void* ctx, void* scratch, HeapEstimate& out, double* pinned_by_site, std::size_t nsites) noexcept {
  out = HeapEstimate{};
  HeapLayout& L = out.layout;
  const double pi = sampler.fraction();
  out.fraction = pi;
  const double w = pi > 0 ? 1.0 / pi : 0.0;
  const unsigned shift = sampler.shift();
  const std::uint64_t rbytes = sampler.region_bytes();
  const std::size_t max_pages = rbytes / page + 1;
  auto* res = static_cast<unsigned char*>(scratch);
  auto* live = reinterpret_cast<std::uint32_t*>(static_cast<char*>(scratch) + ((max_pages + 7) & ~std::size_t{7}));
  auto* chunk = reinterpret_cast<unsigned char*>(live + max_pages + (max_pages & 1));
  const LiveRange* const bend = blocks + nblocks;

  // Auxiliary figures known exactly: the analysed segments' resident pages (read whole, a chunk
  // at a time) and their pages. The figures on resident pages are estimated in ratio to the
  // first, the others (holes, live bytes, blocks) to the second.
  Aux x_res, x_pages;
  Sum empty, pinned, hole_bytes, holes, live_bytes, free_res, hole_res, gap_ovh, trailing, nblk;
  Sum occ[HeapLayout::kOccupancyBins];

  for (std::size_t si = 0; si < nsegs; ++si) {
    const Segment& seg = segs[si];
    ++L.segments;
    L.segment_bytes += seg.end - seg.start;
    L.pages += (seg.end - seg.start) / page;
    const LiveRange* sb = std::lower_bound(blocks, bend, seg.start,
                                           [](const LiveRange& r, std::uintptr_t a) { return r.addr < a; });
    const LiveRange* se = std::lower_bound(sb, bend, seg.end,
                                           [](const LiveRange& r, std::uintptr_t a) { return r.addr < a; });
    if (sb == se) continue;  // no kept block starts here: nothing is known of this segment
    // Its resident pages, exactly.
    const std::size_t seg_pages = (seg.end - seg.start) / page;
    x_pages.total += static_cast<double>(seg_pages);
    for (std::size_t done = 0; done < seg_pages;) {
      const std::size_t n = std::min(kEstimateChunkPages, seg_pages - done);
      std::uint64_t r = 0;
      if (residency(seg.start + done * page, n, chunk, ctx)) {
        for (std::size_t i = 0; i < n; ++i) r += chunk[i] & 1;
      } else {
        r = n;  // unknown: counted resident, as full mode does
        L.residency_unknown_pages += n;
      }
      L.resident_pages += r;
      done += n;
    }

    for (std::uint64_t r = seg.start >> shift, rlast = (seg.end - 1) >> shift; r <= rlast; ++r) {
      if (!sampler.sampled_region(r)) continue;
      const std::uintptr_t ws = std::max<std::uintptr_t>(seg.start, r << shift);
      const std::uintptr_t we = std::min<std::uintptr_t>(seg.end, (r + 1) << shift);
      const std::size_t npages = (we - ws) / page;
      if (npages == 0) continue;
      ++out.regions;
      if (!residency(ws, npages, res, ctx)) std::memset(res, 1, npages);  // counted above
      std::memset(live, 0, npages * sizeof(std::uint32_t));

      // The kept blocks overlapping [ws, we): the one that starts below and reaches in, if any,
      // then those that start inside.
      const LiveRange* first = std::lower_bound(sb, se, ws, [](const LiveRange& b, std::uintptr_t a) { return b.addr < a; });
      if (first > sb && (first - 1)->addr < ws && (first - 1)->addr + (first - 1)->size > ws) --first;
      double y_live = 0, y_holes = 0, y_hole_bytes = 0, y_hole_res = 0, y_gap = 0, y_trailing = 0, y_blocks = 0;
      // A gap between two kept blocks [ga, gb) (as far as the sample sees: its ends are the
      // nearest kept blocks), of which [a, b) lies in this region.
      auto add_gap = [&](std::uintptr_t ga, std::uintptr_t gb, std::uintptr_t a, std::uintptr_t b) {
        if (b <= a) return;
        const std::uint64_t gap = gb - ga;
        if (gap < HeapLayout::kMinHole) {
          y_gap += static_cast<double>(b - a);
          return;
        }
        y_hole_bytes += static_cast<double>(b - a);
        std::uint64_t rb = 0;
        for (std::uintptr_t p = (a - ws) / page, lastp = (b - 1 - ws) / page; p <= lastp; ++p) {
          if (!(res[p] & 1)) continue;
          const std::uintptr_t ps = ws + p * page, pe = ps + page;
          rb += std::min(b, pe) - std::max(a, ps);
        }
        y_hole_res += static_cast<double>(rb);
        if (ga >= ws) y_holes += 1;  // the hole starts here: counted once, in this region
        if (ga >= ws && gb <= we) ++L.hole_hist[log2_bin(gap)];  // seen whole (scaled below)
        if (b - a > out.largest_hole_seen) out.largest_hole_seen = b - a;
      };
      // The end of the kept block before the region (0: none in this segment).
      std::uintptr_t prev_end = 0;
      if (first > sb) prev_end = (first - 1)->addr + (first - 1)->size;
      const LiveRange* b = first;
      for (; b != se && b->addr < we; ++b) {
        const std::uintptr_t s = std::max<std::uintptr_t>(b->addr, ws);
        const std::uintptr_t e = std::min<std::uintptr_t>(b->addr + b->size, we);
        if (b->addr >= ws) y_blocks += 1;
        if (e > s) y_live += static_cast<double>(e - s);
        for (std::uintptr_t p = s; p < e;) {
          const std::uintptr_t pe = ws + ((p - ws) / page + 1) * page;
          const std::uintptr_t upto = std::min(e, pe);
          live[(p - ws) / page] += static_cast<std::uint32_t>(upto - p);
          p = upto;
        }
        if (prev_end != 0 && b->addr > prev_end)
          add_gap(prev_end, b->addr, std::max<std::uintptr_t>(prev_end, ws), s);
        prev_end = std::max<std::uintptr_t>(prev_end, b->addr + b->size);
      }
      // After the last block that reaches into the region: a gap up to the next kept block, or
      // the segment's trailing free space when there is none.
      if (prev_end != 0 && prev_end < we) {
        const std::uintptr_t a = std::max<std::uintptr_t>(prev_end, ws);
        if (b != se) add_gap(prev_end, b->addr, a, we);
        else y_trailing += static_cast<double>(we - a);
      }

      double y_res = 0, y_empty = 0, y_pinned = 0, y_free = 0;
      double y_occ[HeapLayout::kOccupancyBins] = {};
      for (std::size_t p = 0; p < npages; ++p) {
        if (!(res[p] & 1)) continue;
        y_res += 1;
        const std::uint64_t l = live[p];
        unsigned bin = l == 0 ? 0 : static_cast<unsigned>((l * 8 + page - 1) / page);
        if (bin > 8) bin = 8;
        y_occ[bin] += 1;
        if (l == 0) y_empty += 1;
        else if (l * 4 < page) y_pinned += 1;
        // Not clipped at 0: a page whose usable bytes exceed it (the ratio is an average) owes
        // the difference to its neighbours, as in full mode's heap_rss − live usable.
        y_free += static_cast<double>(page) - usable_per_requested * static_cast<double>(l);
      }
      const double y_pages = static_cast<double>(npages);
      x_res.add(y_res);
      x_pages.add(y_pages);
      empty.add(y_empty, y_res);
      pinned.add(y_pinned, y_res);
      free_res.add(y_free, y_res);
      hole_res.add(y_hole_res, y_res);
      for (unsigned i = 0; i < HeapLayout::kOccupancyBins; ++i) occ[i].add(y_occ[i], y_res);
      hole_bytes.add(y_hole_bytes, y_pages);
      holes.add(y_holes, y_pages);
      live_bytes.add(y_live, y_pages);
      gap_ovh.add(y_gap, y_pages);
      trailing.add(y_trailing, y_pages);
      nblk.add(y_blocks, y_pages);

      if (pinned_by_site != nullptr) {
        for (const LiveRange* b = first; b != se && b->addr < we; ++b) {
          if (b->site == 0 || b->site >= nsites) continue;
          const std::uintptr_t s = std::max<std::uintptr_t>(b->addr, ws);
          const std::uintptr_t e = std::min<std::uintptr_t>(b->addr + b->size, we);
          for (std::uintptr_t p = s; p < e;) {
            const std::size_t pi_ = (p - ws) / page;
            const std::uintptr_t upto = std::min<std::uintptr_t>(e, ws + (pi_ + 1) * page);
            const std::uint64_t l = live[pi_];
            if ((res[pi_] & 1) && l != 0 && l * 4 < page)
              pinned_by_site[b->site] += static_cast<double>(b->weight) * static_cast<double>(page - l) *
                                         static_cast<double>(upto - p) / static_cast<double>(l);
            p = upto;
          }
        }
      }
    }
  }

  x_res.total = static_cast<double>(L.resident_pages);
  // The totals (heap_estimate.hpp): resident pages exact, the rest in ratio to them or to the
  // pages; the hole histogram (holes seen whole) scaled by 1/π.
  auto total = [](const Estimate& e) { return static_cast<std::uint64_t>(std::llround(std::max(0.0, e.value))); };
  const Estimate e_empty = ratio_estimate(empty, x_res, pi), e_pinned = ratio_estimate(pinned, x_res, pi),
                 e_free = ratio_estimate(free_res, x_res, pi), e_hole_res = ratio_estimate(hole_res, x_res, pi),
                 e_hole_bytes = ratio_estimate(hole_bytes, x_pages, pi), e_holes = ratio_estimate(holes, x_pages, pi),
                 e_live = ratio_estimate(live_bytes, x_pages, pi), e_gap = ratio_estimate(gap_ovh, x_pages, pi),
                 e_trailing = ratio_estimate(trailing, x_pages, pi), e_blocks = ratio_estimate(nblk, x_pages, pi);
  L.empty_resident_pages = total(e_empty);
  L.pinned_pages = total(e_pinned);
  L.hole_bytes = total(e_hole_bytes);
  L.holes = total(e_holes);
  L.hole_resident_bytes = total(e_hole_res);
  L.live_bytes = total(e_live);
  L.gap_overhead = total(e_gap);
  L.trailing_bytes = total(e_trailing);
  L.blocks = total(e_blocks);
  L.largest_hole = out.largest_hole_seen;
  for (unsigned i = 0; i < HeapLayout::kOccupancyBins; ++i) L.occupancy[i] = total(ratio_estimate(occ[i], x_res, pi));
  for (unsigned i = 0; i < HeapLayout::kHoleBins; ++i)
    L.hole_hist[i] = static_cast<std::uint64_t>(std::llround(static_cast<double>(L.hole_hist[i]) * w));
  out.free_resident = std::max(0.0, e_free.value);
  out.se_resident_pages = 0;  // read whole
  out.se_empty_pages = e_empty.se;
  out.se_pinned_pages = e_pinned.se;
  out.se_hole_bytes = e_hole_bytes.se;
  out.se_holes = e_holes.se;
  out.se_live_bytes = e_live.se;
  out.se_free_resident = e_free.se;
  out.se_blocks = e_blocks.se;
}

}  // namespace fragscope::core
