// The heap layout analysis fed in batches (HeapAnalyzer), as the reporter does when the live
// table holds more blocks than its bounded batch: every figure must be the one-batch figure, and
// the one-batch figures must be those of a heap worked out by hand.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <random>
#include <vector>

#include "heap_layout.hpp"

namespace fc = fragscope::core;

namespace {

constexpr std::size_t kPage = 4096;

struct Heap {
  std::vector<fc::Segment> segs;
  std::vector<fc::LiveRange> blocks;  // sorted by addr
  std::vector<unsigned char> resident;  // per page of all segments, in order
};

bool residency(std::uintptr_t start, std::size_t pages, unsigned char* out, void* ctx) {
  const Heap& h = *static_cast<const Heap*>(ctx);
  std::size_t base = 0;
  for (const fc::Segment& s : h.segs) {
    if (s.start == start) {
      std::memcpy(out, h.resident.data() + base, pages);
      return true;
    }
    base += (s.end - s.start) / kPage;
  }
  return false;
}

std::size_t max_pages(const Heap& h) {
  std::size_t m = 0;
  for (const fc::Segment& s : h.segs) m = std::max(m, (s.end - s.start) / kPage);
  return m;
}

// Analyses `h` in batches of the sizes `rng` draws (1 to max_batch blocks), with site attribution.
fc::HeapLayout analyse_in_batches(const Heap& h, std::size_t max_batch, std::mt19937_64& rng, std::vector<double>& pinned) {
  std::vector<std::uint64_t> scratch(fc::heap_scratch_bytes(max_pages(h)) / 8 + 1);
  fc::HeapLayout out;
  fc::HeapAnalyzer a(h.segs.data(), h.segs.size(), kPage, residency, const_cast<Heap*>(&h), scratch.data(), out,
                     pinned.data(), pinned.size());
  for (std::size_t i = 0; i < h.blocks.size();) {
    const std::size_t n = std::min<std::size_t>(h.blocks.size() - i, 1 + rng() % max_batch);
    a.add(h.blocks.data() + i, n);
    i += n;
  }
  a.finish();
  EXPECT_EQ(a.early_attributions(), 0u);
  return out;
}

void expect_same(const fc::HeapLayout& a, const fc::HeapLayout& b) {
  EXPECT_EQ(a.segments, b.segments);
  EXPECT_EQ(a.segment_bytes, b.segment_bytes);
  EXPECT_EQ(a.pages, b.pages);
  EXPECT_EQ(a.resident_pages, b.resident_pages);
  EXPECT_EQ(a.blocks, b.blocks);
  EXPECT_EQ(a.live_bytes, b.live_bytes);
  for (unsigned i = 0; i < fc::HeapLayout::kOccupancyBins; ++i) EXPECT_EQ(a.occupancy[i], b.occupancy[i]) << i;
  EXPECT_EQ(a.empty_resident_pages, b.empty_resident_pages);
  EXPECT_EQ(a.pinned_pages, b.pinned_pages);
  EXPECT_EQ(a.holes, b.holes);
  EXPECT_EQ(a.hole_bytes, b.hole_bytes);
  EXPECT_EQ(a.largest_hole, b.largest_hole);
  EXPECT_EQ(a.hole_resident_bytes, b.hole_resident_bytes);
  for (unsigned i = 0; i < fc::HeapLayout::kHoleBins; ++i) EXPECT_EQ(a.hole_hist[i], b.hole_hist[i]) << i;
  EXPECT_EQ(a.gap_overhead, b.gap_overhead);
  EXPECT_EQ(a.trailing_bytes, b.trailing_bytes);
  ASSERT_EQ(a.ntop_pinned, b.ntop_pinned);
  for (unsigned i = 0; i < a.ntop_pinned; ++i) {
    EXPECT_EQ(a.top_pinned[i].addr, b.top_pinned[i].addr);
    EXPECT_EQ(a.top_pinned[i].free_below, b.top_pinned[i].free_below);
    EXPECT_EQ(a.top_pinned[i].free_below_resident, b.top_pinned[i].free_below_resident);
    EXPECT_EQ(a.top_pinned[i].gap_below, b.top_pinned[i].gap_below);
    EXPECT_EQ(a.top_pinned[i].gap_below_resident, b.top_pinned[i].gap_below_resident);
  }
}

TEST(HeapAnalyzer, AHeapWorkedOutByHand) {
  // Two segments of 4 pages; a third with no block is not counted. Segment A: a 100 B block at
  // page 0, a 5000 B block from page 1 (to page 2), a 64 B block at the start of page 3, page 2's
  // rest free; segment B: one 8 B block at its start, its page 1 not resident.
  Heap h;
  const std::uintptr_t a = 0x100000, b = 0x200000, c = 0x300000;
  h.segs = {{a, a + 4 * kPage}, {b, b + 4 * kPage}, {c, c + 4 * kPage}};
  h.blocks = {{a, 100, 1, 2.0f}, {a + kPage, 5000, 0, 0}, {a + 3 * kPage, 64, 0, 0}, {b, 8, 0, 0}};
  h.resident.assign(12, 1);
  h.resident[5] = 0;
  std::vector<double> pinned(2, 0.0);
  std::vector<std::uint64_t> scratch(fc::heap_scratch_bytes(4) / 8 + 1);
  fc::HeapLayout l;
  fc::analyze_heap(h.blocks.data(), h.blocks.size(), h.segs.data(), h.segs.size(), kPage, residency, &h, scratch.data(), l,
                   pinned.data(), pinned.size());
  EXPECT_EQ(l.segments, 2u);
  EXPECT_EQ(l.pages, 8u);
  EXPECT_EQ(l.resident_pages, 7u);
  EXPECT_EQ(l.blocks, 4u);
  EXPECT_EQ(l.live_bytes, 100u + 5000 + 64 + 8);
  // Pages: A0 100 B, A1 4096, A2 904, A3 64; B0 8, B2 0, B3 0 (B1 not resident).
  EXPECT_EQ(l.occupancy[0], 2u);  // B2, B3
  EXPECT_EQ(l.occupancy[1], 3u);  // A0, A3, B0: up to an eighth
  EXPECT_EQ(l.occupancy[2], 1u);  // A2: 904 B, up to a quarter
  EXPECT_EQ(l.occupancy[8], 1u);  // A1: full
  EXPECT_EQ(l.empty_resident_pages, 2u);
  EXPECT_EQ(l.pinned_pages, 4u);  // A0, A2, A3, B0: under a quarter full
  // Holes: 100..4096 on A0 (3996 B), and from 4096 + 5000 to page 3 (3192 B).
  EXPECT_EQ(l.holes, 2u);
  EXPECT_EQ(l.hole_bytes, 3996u + 3192u);
  EXPECT_EQ(l.largest_hole, 3996u);
  EXPECT_EQ(l.hole_resident_bytes, 3996u + 3192u);
  EXPECT_EQ(l.trailing_bytes, (kPage - 64) + (4 * kPage - 8));
  ASSERT_EQ(l.ntop_pinned, 1u);
  EXPECT_EQ(l.top_pinned[0].addr, a + 3 * kPage);
  EXPECT_EQ(l.top_pinned[0].free_below, 3996u + 3192u);
  EXPECT_EQ(l.top_pinned[0].gap_below, 3192u);
  // Site 1's block has all the live bytes of page A0 (100 of 4096): weight 2 x 3996 free bytes.
  EXPECT_DOUBLE_EQ(pinned[1], 2.0 * 3996);
}

// Random heaps over several segments, some pages not resident, every tenth block sampled: the
// analysis in batches of any size gives the one-batch figures exactly (attribution up to the
// order of a floating-point sum).
TEST(HeapAnalyzer, BatchesOfAnySizeGiveTheOneBatchFigures) {
  std::mt19937_64 rng(2026);
  for (int round = 0; round < 20; ++round) {
    Heap h;
    std::uintptr_t base = 0x10000000;
    for (int s = 0; s < 4; ++s) {
      const std::size_t pages = 16 + rng() % 200;
      h.segs.push_back({base, base + pages * kPage});
      for (std::size_t p = 0; p < pages; ++p) h.resident.push_back(rng() % 10 != 0);
      std::uintptr_t at = base + (rng() % 3) * 64;
      while (true) {
        const std::uint64_t size = rng() % 8 == 0 ? 1 + rng() % 20000 : 1 + rng() % 200;
        if (at + size > base + pages * kPage + (s == 1 ? 500 : 0)) break;  // segment 1's last block runs past its end
        if (rng() % 3 != 0) {
          const bool sampled = rng() % 10 == 0;
          h.blocks.push_back({at, size, sampled ? static_cast<std::uint32_t>(1 + rng() % 7) : 0u, sampled ? 3.0f : 0.0f});
        }
        at += size + (rng() % 4 == 0 ? rng() % 3000 : rng() % 40);
      }
      base += pages * kPage + (1 + rng() % 4) * kPage;
    }
    h.blocks.push_back({base + 5 * kPage, 64, 0, 0});  // outside every segment
    std::vector<double> single(8, 0.0);
    std::vector<std::uint64_t> scratch(fc::heap_scratch_bytes(max_pages(h)) / 8 + 1);
    fc::HeapLayout ref;
    fc::analyze_heap(h.blocks.data(), h.blocks.size(), h.segs.data(), h.segs.size(), kPage, residency, &h, scratch.data(), ref,
                     single.data(), single.size());
    ASSERT_EQ(ref.segments, 4u);
    ASSERT_GT(ref.holes, 0u);
    ASSERT_GT(ref.pinned_pages, 0u);
    ASSERT_GT(ref.ntop_pinned, 0u);
    for (std::size_t max_batch : {1u, 2u, 7u, 100u}) {
      std::vector<double> pinned(8, 0.0);
      const fc::HeapLayout got = analyse_in_batches(h, max_batch, rng, pinned);
      expect_same(got, ref);
      for (std::size_t i = 0; i < pinned.size(); ++i) EXPECT_NEAR(pinned[i], single[i], 1e-9 * (1 + single[i])) << i;
    }
  }
}

TEST(WindowSelector, BatchesTileTheBlocksInAddressOrder) {
  std::mt19937_64 rng(7);
  std::vector<fc::LiveRange> blocks;
  for (int i = 0; i < 10000; ++i) blocks.push_back({0x1000 + (rng() % 1000000) * 16, 16, 0, 0});
  std::sort(blocks.begin(), blocks.end(), [](auto& x, auto& y) { return x.addr < y.addr; });
  blocks.erase(std::unique(blocks.begin(), blocks.end(), [](auto& x, auto& y) { return x.addr == y.addr; }), blocks.end());
  std::vector<fc::LiveRange> shuffled = blocks;
  std::shuffle(shuffled.begin(), shuffled.end(), rng);  // the table's order is its hash's
  for (std::size_t cap : {7u, 999u, 4096u, 20000u}) {
    std::vector<fc::LiveRange> buf(cap), seen;
    std::uintptr_t lo = 0;
    int batches = 0;
    for (bool more = true; more;) {
      fc::WindowSelector w(buf.data(), cap, lo);
      for (const auto& b : shuffled) w.offer(b);
      const std::size_t n = w.finish();
      ASSERT_LE(n, cap);
      seen.insert(seen.end(), buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(n));
      more = w.full();
      lo = w.next_lo();
      ++batches;
    }
    ASSERT_EQ(seen.size(), blocks.size()) << cap;
    for (std::size_t i = 0; i < seen.size(); ++i) ASSERT_EQ(seen[i].addr, blocks[i].addr) << cap << " " << i;
    EXPECT_EQ(batches, static_cast<int>(blocks.size() / cap + 1)) << cap;
  }
}

}  // namespace

namespace {

// The sample the reporter cuts its windows from: every k-th address of a walk in hash order.
// A window from any start holds about the blocks asked for, and any_in finds a sampled address.
TEST(AddressSample, WindowsHoldAboutTheBlocksAskedFor) {
  std::mt19937_64 rng(11);
  std::vector<std::uintptr_t> blocks;
  for (int i = 0; i < 200000; ++i) blocks.push_back(0x10000000 + (rng() % 100000000) * 16);
  std::sort(blocks.begin(), blocks.end());
  blocks.erase(std::unique(blocks.begin(), blocks.end()), blocks.end());
  std::vector<std::uintptr_t> walk = blocks;
  std::shuffle(walk.begin(), walk.end(), rng);  // the table's order
  std::vector<std::uintptr_t> space(4096);
  fc::AddressSample sample(space.data(), space.size(), walk.size() / space.size() + 1);
  for (std::uintptr_t a : walk) sample.offer(a);
  sample.finish();
  const std::size_t want = 20000;
  std::size_t windows = 0;
  for (std::uintptr_t lo = 0;;) {
    const std::uintptr_t hi = sample.window_end(lo, want, walk.size());
    const auto first = std::lower_bound(blocks.begin(), blocks.end(), lo);
    const auto last = hi == UINTPTR_MAX ? blocks.end() : std::lower_bound(blocks.begin(), blocks.end(), hi);
    const auto got = static_cast<std::size_t>(last - first);
    ++windows;
    if (hi == UINTPTR_MAX) {
      EXPECT_LE(got, want * 5 / 4);  // the rest
      break;
    }
    EXPECT_GT(hi, lo);
    EXPECT_NEAR(static_cast<double>(got), static_cast<double>(want), 0.2 * want) << windows;
    lo = hi;
  }
  EXPECT_NEAR(static_cast<double>(windows), static_cast<double>(blocks.size()) / want, 2);
  EXPECT_TRUE(sample.any_in(blocks.front(), blocks.back() + 1));
  EXPECT_FALSE(sample.any_in(0, blocks.front()));
  EXPECT_FALSE(sample.any_in(blocks.back() + 1, UINTPTR_MAX));
}

}  // namespace
