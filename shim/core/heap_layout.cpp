// Heap layout analysis (see heap_layout.hpp).
#include "heap_layout.hpp"

#include <algorithm>
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

HeapAnalyzer::HeapAnalyzer(const Segment* segs, std::size_t nsegs, std::size_t page, ResidencyFn residency, void* ctx,
                           void* scratch, HeapLayout& out, double* pinned_by_site, std::size_t nsites) noexcept
    : segs_(segs), nsegs_(nsegs), page_(page), residency_(residency), ctx_(ctx), out_(out),
      pinned_by_site_(pinned_by_site), nsites_(nsites) {
  out_ = HeapLayout{};
  std::size_t max_pages = 0;
  for (std::size_t i = 0; i < nsegs; ++i) max_pages = std::max<std::size_t>(max_pages, (segs[i].end - segs[i].start) / page);
  res_ = static_cast<unsigned char*>(scratch);
  live_ = reinterpret_cast<std::uint32_t*>(static_cast<char*>(scratch) + ((max_pages + 7) & ~std::size_t{7}));
  pending_ = reinterpret_cast<LiveRange*>(live_ + max_pages + (max_pages & 1));
}

void HeapAnalyzer::open(std::size_t si) noexcept {
  const Segment& seg = segs_[si];
  const std::size_t npages = (seg.end - seg.start) / page_;
  ++out_.segments;
  out_.segment_bytes += seg.end - seg.start;
  out_.pages += npages;
  largest_opened_ = std::max(largest_opened_, npages);
  if (!residency_(seg.start, npages, res_, ctx_)) {
    std::memset(res_, 1, npages);
    out_.residency_unknown_pages += npages;
  }
  std::memset(live_, 0, npages * sizeof(std::uint32_t));
  open_ = true;
  seg_blocks_ = 0;
  prev_end_ = 0;
  seg_holes_ = seg_holes_resident_ = gap_below_ = gap_below_resident_ = 0;
  npending_ = 0;
  flushed_below_ = 0;
}

void HeapAnalyzer::add(const LiveRange* blocks, std::size_t n) noexcept {
  for (std::size_t i = 0; i < n; ++i) {
    const LiveRange& b = blocks[i];
    while (si_ < nsegs_ && b.addr >= segs_[si_].end) {
      if (open_) close();
      ++si_;
    }
    if (si_ == nsegs_) return;
    const Segment& seg = segs_[si_];
    if (b.addr < seg.start) continue;
    if (!open_) open(si_);

    // Live bytes per page, and the gap below this block.
    const std::uintptr_t s = b.addr, e = b.addr + b.size < seg.end ? b.addr + b.size : seg.end;
    ++out_.blocks;
    out_.live_bytes += e > s ? e - s : 0;
    if (pinned_by_site_ != nullptr) {
      const std::size_t first_page = (s - seg.start) / page_;
      if (first_page > flushed_below_) flush_pending(first_page);  // no later block reaches below it
    }
    for (std::uintptr_t p = s; p < e;) {
      std::uintptr_t pe = seg.start + ((p - seg.start) / page_ + 1) * page_;
      std::uintptr_t upto = e < pe ? e : pe;
      live_[(p - seg.start) / page_] += static_cast<std::uint32_t>(upto - p);
      p = upto;
    }
    gap_below_ = gap_below_resident_ = 0;
    if (seg_blocks_ > 0 && s > prev_end_) {
      std::uint64_t gap = s - prev_end_;
      if (gap < HeapLayout::kMinHole) {
        out_.gap_overhead += gap;
      } else {
        ++out_.holes;
        out_.hole_bytes += gap;
        if (gap > out_.largest_hole) out_.largest_hole = gap;
        ++out_.hole_hist[log2_bin(gap)];
        std::uint64_t r = resident_bytes_in(prev_end_, s, seg.start, page_, res_);
        out_.hole_resident_bytes += r;
        seg_holes_ += gap;
        seg_holes_resident_ += r;
        gap_below_ = gap, gap_below_resident_ = r;
      }
    }
    if (e > prev_end_) prev_end_ = e;
    ++seg_blocks_;
    top_ = b;
    if (pinned_by_site_ != nullptr && b.site != 0 && b.site < nsites_ && e > s) {
      if (npending_ == kPending) {
        ++early_;  // its later pages may still gain blocks
        attribute(b);
      } else {
        pending_[npending_++] = b;
      }
    }
  }
}

// Who pins the pinned pages: each sampled block gets its share of the free resident bytes of the
// pinned pages it is on, in proportion to its live bytes there, times its weight.
void HeapAnalyzer::attribute(const LiveRange& b) noexcept {
  const Segment& seg = segs_[si_];
  const std::uintptr_t s = b.addr, e = b.addr + b.size < seg.end ? b.addr + b.size : seg.end;
  for (std::uintptr_t p = s; p < e;) {
    const std::size_t pi = (p - seg.start) / page_;
    std::uintptr_t pe = seg.start + (pi + 1) * page_;
    std::uintptr_t upto = e < pe ? e : pe;
    const std::uint64_t l = live_[pi];
    if ((res_[pi] & 1) && l != 0 && l * 4 < page_)
      pinned_by_site_[b.site] += static_cast<double>(b.weight) * static_cast<double>(page_ - l) *
                                 static_cast<double>(upto - p) / static_cast<double>(l);
    p = upto;
  }
}

void HeapAnalyzer::flush_pending(std::size_t below_page) noexcept {
  const Segment& seg = segs_[si_];
  for (std::size_t i = 0; i < npending_;) {
    const LiveRange& b = pending_[i];
    const std::uintptr_t e = b.addr + b.size < seg.end ? b.addr + b.size : seg.end;
    if ((e - 1 - seg.start) / page_ < below_page) {
      attribute(b);
      pending_[i] = pending_[--npending_];
    } else {
      ++i;
    }
  }
  flushed_below_ = below_page;
}

void HeapAnalyzer::close() noexcept {
  const Segment& seg = segs_[si_];
  const std::size_t npages = (seg.end - seg.start) / page_;
  if (seg_blocks_ > 0 && prev_end_ < seg.end) out_.trailing_bytes += seg.end - prev_end_;
  for (std::size_t p = 0; p < npages; ++p) {
    if (!(res_[p] & 1)) continue;
    ++out_.resident_pages;
    const std::uint64_t l = live_[p];
    unsigned bin = l == 0 ? 0 : static_cast<unsigned>((l * 8 + page_ - 1) / page_);
    if (bin > 8) bin = 8;
    ++out_.occupancy[bin];
    if (l == 0) ++out_.empty_resident_pages;
    else if (l * 4 < page_) ++out_.pinned_pages;
  }
  if (pinned_by_site_ != nullptr) flush_pending(npages);
  open_ = false;

  // The segment's top block: everything free below it stays in the segment until it goes.
  if (seg_blocks_ == 0 || seg_holes_ == 0) return;
  HeapLayout::Pinned pin{seg.start, seg.end, top_.addr, top_.size, 0, seg_holes_, seg_holes_resident_, gap_below_,
                         gap_below_resident_};
  unsigned pos = out_.ntop_pinned < HeapLayout::kTopPinned ? out_.ntop_pinned++ : HeapLayout::kTopPinned;
  if (pos == HeapLayout::kTopPinned) {
    if (out_.top_pinned[pos - 1].free_below >= pin.free_below) return;
    pos = HeapLayout::kTopPinned - 1;
  }
  while (pos > 0 && out_.top_pinned[pos - 1].free_below < pin.free_below) {
    out_.top_pinned[pos] = out_.top_pinned[pos - 1];
    --pos;
  }
  out_.top_pinned[pos] = pin;
}

void HeapAnalyzer::finish() noexcept {
  if (open_) close();
  si_ = nsegs_;
}

void analyze_heap(const LiveRange* blocks, std::size_t nblocks, const Segment* segs, std::size_t nsegs,
                  std::size_t page, ResidencyFn residency, void* ctx, void* scratch, HeapLayout& out,
                  double* pinned_by_site, std::size_t nsites) noexcept {
  HeapAnalyzer a(segs, nsegs, page, residency, ctx, scratch, out, pinned_by_site, nsites);
  a.add(blocks, nblocks);
  a.finish();
}

namespace {
struct ByAddr {  // a type, not a function pointer: the heap and sort calls inline it
  bool operator()(const LiveRange& a, const LiveRange& b) const noexcept { return a.addr < b.addr; }
};
constexpr ByAddr by_addr;
}  // namespace

void WindowSelector::offer(const LiveRange& r) noexcept {
  if (r.addr < lo_ || r.addr >= hi_ || cap_ == 0) return;
  if (n_ < cap_) {
    out_[n_++] = r;
    if (n_ == cap_) std::make_heap(out_, out_ + n_, by_addr);
    return;
  }
  if (r.addr >= out_[0].addr) return;  // above the highest kept
  std::pop_heap(out_, out_ + n_, by_addr);
  out_[n_ - 1] = r;
  std::push_heap(out_, out_ + n_, by_addr);
}

std::size_t WindowSelector::finish() noexcept {
  if (n_ == cap_) std::sort_heap(out_, out_ + n_, by_addr);
  else std::sort(out_, out_ + n_, by_addr);
  return n_;
}

void AddressSample::finish() noexcept { std::sort(out_, out_ + n_); }

bool AddressSample::any_in(std::uintptr_t lo, std::uintptr_t hi) const noexcept {
  const std::uintptr_t* it = std::lower_bound(out_, out_ + n_, lo);
  return it != out_ + n_ && *it < hi;
}

std::uintptr_t AddressSample::window_end(std::uintptr_t lo, std::size_t blocks, std::size_t total) const noexcept {
  if (n_ == 0 || total == 0) return UINTPTR_MAX;
  const std::size_t first = static_cast<std::size_t>(std::lower_bound(out_, out_ + n_, lo) - out_);
  // Each sampled address stands for total / n blocks.
  const std::size_t step = static_cast<std::size_t>(static_cast<double>(blocks) * static_cast<double>(n_) / static_cast<double>(total));
  const std::size_t at = first + (step == 0 ? 1 : step);
  return at < n_ ? out_[at] : UINTPTR_MAX;
}

}  // namespace fragscope::core
