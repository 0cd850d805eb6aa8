// Sampled mode: the region sampler, the sampled recording paths, and the heap layout estimate
// against the exact analysis of the same heap (analyze_heap over every block).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <vector>

#include "balance.hpp"
#include "heap_estimate.hpp"
#include "heap_layout.hpp"
#include "html_report.hpp"
#include "snapshot_file.hpp"
#include "text_report.hpp"
#include "recorder.hpp"
#include "region_sampler.hpp"
#include "snapshot_json.hpp"

namespace fc = fragscope::core;

namespace {

constexpr std::size_t kPage = 4096;

TEST(RegionSampler, ChoosesAboutOneRegionInN) {
  fc::RegionSampler s;
  s.configure(32, 14, 12345);
  std::size_t hits = 0;
  constexpr std::size_t kRegions = 1 << 20;
  for (std::uint64_t r = 0; r < kRegions; ++r) hits += s.sampled_region(r);
  const double expect = kRegions / 32.0, sd = std::sqrt(expect);
  EXPECT_NEAR(static_cast<double>(hits), expect, 5 * sd);
  EXPECT_DOUBLE_EQ(s.fraction(), 1.0 / 32);
  // Another salt chooses other regions.
  fc::RegionSampler t;
  t.configure(32, 14, 999);
  std::size_t both = 0;
  for (std::uint64_t r = 0; r < kRegions; ++r) both += s.sampled_region(r) && t.sampled_region(r);
  EXPECT_LT(both, hits / 8);
}

TEST(RegionSampler, OneInOneKeepsEverything) {
  fc::RegionSampler s;
  s.configure(1, 14, 7);
  for (std::uintptr_t a = 0x10000; a < 0x10000 + (1 << 24); a += 4096) EXPECT_EQ(s.hit(a, 16), fc::RegionSampler::Hit::kStart);
}

// The start of the first sampled region after region 1000 whose predecessor is not sampled.
std::uintptr_t sampled_after_unsampled(const fc::RegionSampler& s) {
  std::uint64_t r = 1000;
  while (!(s.sampled_region(r) && !s.sampled_region(r - 1))) ++r;
  return r << s.shift();
}

TEST(RegionSampler, SpillsAreBlocksReachingIntoASampledRegion) {
  fc::RegionSampler s;
  s.configure(32, 14, 42);
  const std::uintptr_t base = sampled_after_unsampled(s);
  EXPECT_EQ(s.hit(base + 100, 16), fc::RegionSampler::Hit::kStart);
  EXPECT_EQ(s.hit(base - 64, 32), fc::RegionSampler::Hit::kNone);   // ends before the region
  EXPECT_EQ(s.hit(base - 64, 65), fc::RegionSampler::Hit::kSpill);  // its last byte is in it
  EXPECT_FALSE(s.maybe_spill(base - 64));
  s.add_spill(base - 64, +1);
  EXPECT_TRUE(s.maybe_spill(base - 64));
  s.add_spill(base - 64, -1);
  EXPECT_FALSE(s.maybe_spill(base - 64));
}

// A kept spill marks its own address, not its region: the other blocks of its region are not
// looked for in the table at their free (with the region as the key, every one was: a hot block
// sharing a region with a spill cost a table search at every free).
TEST(RegionSampler, ASpillMarksItsOwnAddressNotItsRegion) {
  fc::RegionSampler s;
  s.configure(32, 14, 42);
  const std::uintptr_t base = sampled_after_unsampled(s);
  const std::uintptr_t spill = base - 64;
  ASSERT_EQ(s.hit(spill, 65), fc::RegionSampler::Hit::kSpill);
  s.add_spill(spill, +1);
  EXPECT_TRUE(s.maybe_spill(spill));
  unsigned marked = 0, blocks = 0;
  for (std::uintptr_t a = base - (1u << 14); a < spill; a += 16, ++blocks) marked += s.maybe_spill(a);
  EXPECT_EQ(blocks, 1020u);
  EXPECT_LE(marked, 1u) << "of " << blocks << " other blocks of the spill's region";
  // Blocks a power of two apart (1 MiB, 1 GiB) do not share its slot either.
  for (std::uintptr_t stride : {std::uintptr_t{1} << 20, std::uintptr_t{1} << 30})
    for (int k = 1; k <= 64; ++k) marked += s.maybe_spill(spill + k * stride);
  EXPECT_LE(marked, 2u);
  s.add_spill(spill, -1);
  EXPECT_FALSE(s.maybe_spill(spill));
}

std::size_t usable_same(void*) { return 0; }

TEST(SampledRecording, KeepsSampledBlocksAndBalances) {
  static fc::Recorder rec;  // large: not on the stack
  ASSERT_TRUE(rec.init());
  rec.regions.configure(8, 14, 77);
  fc::ThreadRegistry reg;
  fc::ThreadStats* t = reg.acquire();
  ASSERT_NE(t, nullptr);
  std::mt19937_64 rng(5);
  std::vector<std::pair<std::uintptr_t, std::uint64_t>> live;
  std::uintptr_t next = std::uintptr_t{1} << 32;
  std::uint64_t kept_start = 0, kept_spill = 0, kept_large = 0;
  for (int i = 0; i < 200000; ++i) {
    const std::uint64_t size = rng() % 64 == 0 ? 70000 + rng() % 100000
                               : rng() % 8 == 0 ? 20000 + rng() % 40000
                                                : 16 + rng() % 1000;
    const std::uintptr_t a = next;
    next += (size + 15) & ~std::uint64_t{15};
    fc::sampled_count_alloc(*t, size);
    const auto h = rec.regions.hit(a, size);
    if (h != fc::RegionSampler::Hit::kNone) fc::sampled_keep(rec, *t, a, size, size, 1, h, 0);
    kept_start += h == fc::RegionSampler::Hit::kStart;
    kept_spill += h == fc::RegionSampler::Hit::kSpill;
    kept_large += h == fc::RegionSampler::Hit::kLarge;
    if (size > fc::RegionSampler::kLargeBytes) {
      EXPECT_NE(h, fc::RegionSampler::Hit::kNone);
    }
    live.push_back({a, size});
  }
  EXPECT_GT(kept_spill, 0u);
  EXPECT_GT(kept_large, 0u);
  EXPECT_EQ(rec.table.entries(), kept_start + kept_spill + kept_large);
  std::shuffle(live.begin(), live.end(), rng);
  std::uint64_t dropped = 0;
  for (std::size_t i = 0; i < live.size() * 7 / 8; ++i) {
    const auto h = fc::sampled_free_kind(rec, live[i].first);
    if (h != fc::RegionSampler::Hit::kNone) dropped += fc::sampled_drop(rec, *t, live[i].first, h, 2, usable_same);
  }
  std::uint64_t allocs = 0, s_allocs = 0, frees = 0;
  for (unsigned c = 0; c < fc::kNumSizeClasses; ++c)
    allocs += t->every[c].allocs.get(), s_allocs += t->cls[c].allocs.get(), frees += t->cls[c].frees.get();
  EXPECT_EQ(allocs, 200000u);
  {
    // A failed allocation's count is taken back (the short malloc counts before the call).
    fc::ThreadStats u{};
    fc::sampled_count_alloc(u, 100000), fc::sampled_count_alloc(u, 40);
    fc::sampled_uncount_alloc(u, 100000), fc::sampled_uncount_alloc(u, 40);
    for (unsigned c = 0; c < fc::kNumSizeClasses; ++c) {
      EXPECT_EQ(u.every[c].allocs.get(), 0u) << c;
      EXPECT_EQ(u.every[c].bytes.get(), 0u) << c;
    }
    fc::sampled_count_alloc(u, 40), fc::sampled_count_alloc(u, 40), fc::sampled_uncount_alloc(u, 40);
    EXPECT_EQ(u.every[fc::size_class_of(40)].allocs.get(), 1u);
    EXPECT_EQ(u.every[fc::size_class_of(40)].bytes.get(), 40u);
  }
  EXPECT_EQ(s_allocs, kept_start + kept_large);
  // The large classes count every block, as full mode does.
  for (unsigned c = fc::kFirstLargeClass; c < fc::kNumSizeClasses; ++c) EXPECT_EQ(t->every[c].allocs.get(), t->cls[c].allocs.get());
  // Every kept block freed was found, and the table holds the rest.
  EXPECT_EQ(rec.table.entries(), kept_start + kept_spill + kept_large - dropped);
  EXPECT_EQ(t->untracked_frees.get(), 0u);
  // Sampled live blocks balance: s_allocs − frees = blocks of the sample in the table.
  std::uint64_t in_table_counted = 0;
  rec.table.walk(3, [&](const fc::Block& b, std::uint64_t) { in_table_counted += rec.regions.counted(b.addr, b.size); });
  EXPECT_EQ(s_allocs - frees, in_table_counted);
  // The blocks left in the table are live: frees of all of them empty it, and no spill counter stays.
  for (std::size_t i = live.size() * 7 / 8; i < live.size(); ++i) {
    const auto h = fc::sampled_free_kind(rec, live[i].first);
    if (h != fc::RegionSampler::Hit::kNone) fc::sampled_drop(rec, *t, live[i].first, h, 3, usable_same);
  }
  EXPECT_EQ(rec.table.entries(), 0u);
  for (std::size_t i = 0; i < live.size(); ++i) EXPECT_FALSE(rec.regions.maybe_spill(live[i].first)) << i;
}

// The snapshot of a sampled recorder: estimates in the figures, the sampled counts in "sampled"
// (which balance), allocations exact; and a sampled count taken away shows in check.
TEST(SampledRecording, SnapshotsBalanceOnTheSampledCountsAndEstimateTheRest) {
  static fc::Recorder rec;
  ASSERT_TRUE(rec.init());
  rec.regions.configure(16, 14, 99);
  fc::ThreadStats* t = rec.threads.acquire();
  std::mt19937_64 rng(11);
  std::vector<std::uintptr_t> live;
  std::uintptr_t next = std::uintptr_t{1} << 33;
  std::uint64_t live_bytes = 0;
  std::vector<std::uint64_t> sizes;
  for (int i = 0; i < 300000; ++i) {
    const std::uint64_t size = rng() % 500 == 0 ? 100000 : 16 + rng() % 500;
    const std::uintptr_t a = next;
    next += (size + 31) & ~std::uint64_t{15};
    fc::sampled_count_alloc(*t, size);
    const auto h = rec.regions.hit(a, size);
    if (h != fc::RegionSampler::Hit::kNone) fc::sampled_keep(rec, *t, a, size, size, 1, h, 0);
    live.push_back(a), sizes.push_back(size), live_bytes += size;
  }
  for (std::size_t i = 0; i < live.size(); i += 2) {  // free every other block
    const auto h = fc::sampled_free_kind(rec, live[i]);
    if (h != fc::RegionSampler::Hit::kNone) fc::sampled_drop(rec, *t, live[i], h, 2, usable_same);
    live_bytes -= sizes[i];
  }
  nlohmann::json j = fragscope::test::snapshot_json(rec, 3);
  EXPECT_EQ(j["mode"], "sampled");
  EXPECT_EQ(j["sampling"]["one_in"], 16);
  EXPECT_TRUE(fragscope::report::check_balance(j).empty()) << j["totals"];
  EXPECT_EQ(j["totals"]["allocs"], 300000);
  const double est = j["totals"]["live_requested"].get<double>();
  EXPECT_NEAR(est, static_cast<double>(live_bytes), 0.1 * static_cast<double>(live_bytes));
  EXPECT_NEAR(j["totals"]["live_blocks"].get<double>(), 150000, 15000);
  // Frees are what was allocated (exact) less what is live (estimated): they never exceed the
  // allocations, and allocations balance against them and the live blocks, class by class.
  EXPECT_NEAR(j["totals"]["frees"].get<double>(), 150000, 15000);
  EXPECT_EQ(j["totals"]["frees"].get<std::uint64_t>() + j["totals"]["live_blocks"].get<std::uint64_t>(), 300000u);
  EXPECT_NEAR(j["totals"]["requested_freed"].get<double>(),
              j["totals"]["requested_allocated"].get<double>() - static_cast<double>(live_bytes), 0.1 * static_cast<double>(live_bytes));
  for (const auto& c : j["size_classes"])
    EXPECT_EQ(c["frees"].get<std::uint64_t>() + c["live_blocks"].get<std::uint64_t>(), c["allocs"].get<std::uint64_t>()) << c;
  // The large class is exact: 100000 B blocks, all kept.
  for (const auto& c : j["size_classes"])
    if (c["lo"].get<std::uint64_t>() > fc::RegionSampler::kLargeBytes) {
      EXPECT_EQ(c["allocs"], c["sampled"]["allocs"]);
    }
  // A sampled count that does not balance is found.
  nlohmann::json bad = j;
  bad["totals"]["sampled"]["frees"] = bad["totals"]["sampled"]["frees"].get<std::uint64_t>() + 1;
  EXPECT_FALSE(fragscope::report::check_balance(bad).empty());
}

// Sampled frees are the allocations less the live estimate; when the live estimate rises faster
// than the program allocates (a quiet spell whose few new blocks all fall in the sample), they must
// not step back: fragscope_frees_total is a Prometheus counter.
TEST(SampledRecording, FreesNeverStepBackBetweenSnapshots) {
  static fc::Recorder rec;
  ASSERT_TRUE(rec.init());
  rec.regions.configure(16, 14, 7);
  fc::ThreadStats* t = rec.threads.acquire();
  std::uintptr_t next = std::uintptr_t{1} << 35;
  auto alloc = [&](bool only_sampled) {
    for (;;) {
      const std::uintptr_t a = next;
      next += 64;
      const auto h = rec.regions.hit(a, 48);
      if (only_sampled && h != fc::RegionSampler::Hit::kStart) continue;
      fc::sampled_count_alloc(*t, 48);
      if (h != fc::RegionSampler::Hit::kNone) fc::sampled_keep(rec, *t, a, 48, 48, 1, h, 0);
      return a;
    }
  };
  std::vector<std::uintptr_t> blocks;
  for (int i = 0; i < 20000; ++i) blocks.push_back(alloc(false));
  for (std::size_t i = 0; i < blocks.size(); i += 2) {
    const auto h = fc::sampled_free_kind(rec, blocks[i]);
    if (h != fc::RegionSampler::Hit::kNone) fc::sampled_drop(rec, *t, blocks[i], h, 2, usable_same);
  }
  auto b = std::make_unique<fc::SnapshotBuilder>();
  b->collect(rec, 3);
  const std::uint64_t frees1 = b->totals().frees, allocs1 = b->totals().allocs;
  EXPECT_EQ(frees1 + b->totals().table_blocks, allocs1);
  for (int i = 0; i < 50; ++i) alloc(true);  // 50 allocations, each standing for 16 live blocks
  b->collect(rec, 4);
  EXPECT_EQ(b->totals().allocs, allocs1 + 50);
  EXPECT_GT(b->totals().table_blocks + frees1, b->totals().allocs) << "the live estimate rose by more than 50";
  EXPECT_GE(b->totals().frees, frees1);
}

// The text and HTML reports of a sampled snapshot (a sampled recorder and the estimate of its heap):
// every estimate is marked ≈ with its standard error, the mode is said, and the exact figures
// (allocations) are not marked.
TEST(SampledRecording, ReportsMarkEveryEstimateWithItsError) {
  static fc::Recorder rec;
  ASSERT_TRUE(rec.init());
  rec.regions.configure(8, 14, 5);
  fc::ThreadStats* t = rec.threads.acquire();
  std::mt19937_64 rng(3);
  const std::uintptr_t base = std::uintptr_t{1} << 34;
  std::uintptr_t next = base;
  std::vector<fc::LiveRange> kept;
  for (int i = 0; i < 100000; ++i) {
    const std::uint64_t size = 16 + rng() % 200;
    const std::uintptr_t a = next;
    next += (size + 31) & ~std::uint64_t{15};
    fc::sampled_count_alloc(*t, size);
    const auto h = rec.regions.hit(a, size);
    const bool freed = i % 4 != 0;  // three in four freed: pinned pages and holes
    if (h != fc::RegionSampler::Hit::kNone) {
      fc::sampled_keep(rec, *t, a, size, size, 1, h, 0);
      if (freed) fc::sampled_drop(rec, *t, a, fc::sampled_free_kind(rec, a), 2, usable_same);
    }
    if (!freed && h != fc::RegionSampler::Hit::kNone) kept.push_back({a, size, 0, 0});
  }
  const fc::Segment seg{base, (next + kPage - 1) & ~(kPage - 1)};
  std::vector<char> scratch(fc::estimate_scratch_bytes(rec.regions, kPage) + 16);
  fc::HeapEstimate est;
  fc::estimate_heap(kept.data(), kept.size(), &seg, 1, kPage, rec.regions, 1.0,
                    [](std::uintptr_t, std::size_t pages, unsigned char* out, void*) {
                      std::memset(out, 1, pages);
                      return true;
                    },
                    nullptr, scratch.data(), est);
  fc::SnapshotMeta m;
  m.exe = "/bin/sampled";
  m.pid = 99;
  m.heap = &est.layout;
  m.estimate = &est;
  m.page_size = kPage;
  const nlohmann::json j = fragscope::test::snapshot_json(rec, 3, m);
  ASSERT_EQ(j["mode"], "sampled");
  ASSERT_GT(j["heap"]["pinned_pages"].get<double>(), 0) << j["heap"].dump();
  auto f = fragscope::report::parse_snapshot_text(j.dump() + "\n");
  const std::string text = fragscope::report::render_text_report(f);
  EXPECT_NE(text.find("sampled      one 16.0 KiB address region in 8: figures marked ≈ are estimates"), std::string::npos)
      << text;
  for (const char* marked : {"rss_over_live ≈", "free_resident ≈", "live data    ≈"})
    EXPECT_NE(text.find(marked), std::string::npos) << marked << "\n" << text;
  // heap_rss is read whole (its stated error 0): not marked, no error; free_resident's is given.
  EXPECT_EQ(j["heap"]["estimate"]["se"]["heap_rss"].get<double>(), 0.0);
  ASSERT_NE(text.find("heap_rss "), std::string::npos) << text;
  const std::size_t rss_at = text.find("heap_rss ");
  const std::string rss_line = text.substr(rss_at, text.find(" segments", rss_at) - rss_at);  // "heap_rss X in N"
  EXPECT_EQ(rss_line.find("≈"), std::string::npos) << rss_line;
  EXPECT_EQ(rss_line.find(" ± "), std::string::npos) << rss_line;
  EXPECT_NE(text.find("free_resident ≈"), std::string::npos) << text;
  EXPECT_NE(text.substr(text.find("free_resident ≈"), 60).find(" ± "), std::string::npos) << text;
  // A snapshot of an older version, which estimated heap_rss, still gets it marked with its error.
  {
    nlohmann::json old = j;
    old["heap"]["estimate"]["se"]["heap_rss"] = 123456.0;
    const std::string t2 = fragscope::report::render_text_report(fragscope::report::parse_snapshot_text(old.dump() + "\n"));
    ASSERT_NE(t2.find("heap_rss ≈"), std::string::npos) << t2;
    EXPECT_NE(t2.substr(t2.find("heap_rss ≈"), 40).find(" ± "), std::string::npos) << t2;
  }
  EXPECT_NE(text.find("pinned (< 1/4 live)   [" + std::to_string(est.regions) + " sampled regions]"), std::string::npos) << text;
  EXPECT_NE(text.find("holes        ≈"), std::string::npos) << text;
  EXPECT_NE(text.find("largest seen"), std::string::npos) << text;  // a lower bound, not "largest"
  EXPECT_EQ(text.find("ext_frag"), std::string::npos) << "ext_frag is not estimated:\n" << text;
  const std::string html = fragscope::report::render_html_report(f);
  EXPECT_NE(html.find("sampled: one 16.0 KiB address region in 8; ≈ marks an estimate"), std::string::npos);
  std::size_t marks = 0;
  for (std::size_t p = html.find("≈"); p != std::string::npos; p = html.find("≈", p + 1)) ++marks;
  EXPECT_GE(marks, 5u);
  EXPECT_NE(html.find(" ± "), std::string::npos);
}

// A synthetic heap: one segment of `bytes`, blocks packed then freed at random; residency: every
// page touched by a block ever, except a deterministic sixth of them (as if swapped or purged).
struct Heap {
  fc::Segment seg;
  std::vector<fc::LiveRange> blocks;  // live, sorted
  std::vector<unsigned char> resident;
};

Heap make_heap(std::uint64_t bytes, double keep, unsigned seed, bool big_blocks) {
  Heap h;
  h.seg = {std::uintptr_t{1} << 36, (std::uintptr_t{1} << 36) + bytes};
  std::mt19937_64 rng(seed);
  std::vector<fc::LiveRange> all;
  std::uintptr_t a = h.seg.start + 64;
  while (true) {
    std::uint64_t size = 16 + rng() % 1008;
    if (big_blocks && rng() % 200 == 0) size = 20000 + rng() % 100000;
    if (a + size + 16 > h.seg.end - 100000) break;
    all.push_back({a, size, 0, 0.0f});
    a += (size + 16 + 15) & ~std::uint64_t{15};
  }
  const std::uintptr_t used_end = a;
  // Live: a random share, with whole runs of blocks freed (lifetime clusters) and single ones.
  for (std::size_t i = 0; i < all.size();) {
    const std::size_t run = 1 + rng() % 64;
    const bool run_dies = rng() % 100 < 30;
    for (std::size_t j = i; j < std::min(all.size(), i + run); ++j)
      if (!run_dies && std::uniform_real_distribution<double>(0, 1)(rng) < keep) h.blocks.push_back(all[j]);
    i += run;
  }
  h.resident.assign(bytes / kPage, 0);
  for (std::size_t p = 0; p < h.resident.size(); ++p)
    h.resident[p] = h.seg.start + p * kPage < used_end && (p * 2654435761u) % 6 != 0;
  return h;
}

bool residency(std::uintptr_t start, std::size_t pages, unsigned char* out, void* ctx) {
  const Heap& h = *static_cast<const Heap*>(ctx);
  const std::size_t first = (start - h.seg.start) / kPage;
  for (std::size_t i = 0; i < pages; ++i) out[i] = h.resident[first + i];
  return true;
}

struct Truth {
  fc::HeapLayout layout;
  double free_resident;
};

Truth exact(const Heap& h) {
  Truth t;
  std::vector<char> scratch(fc::heap_scratch_bytes(h.resident.size()) + 16);
  fc::analyze_heap(h.blocks.data(), h.blocks.size(), &h.seg, 1, kPage, residency, const_cast<Heap*>(&h), scratch.data(),
                   t.layout);
  double live_on_resident = 0;
  for (const auto& b : h.blocks)
    for (std::uintptr_t p = b.addr; p < b.addr + b.size;) {
      const std::uintptr_t pe = (p / kPage + 1) * kPage, upto = std::min(pe, b.addr + b.size);
      if (h.resident[(p - h.seg.start) / kPage]) live_on_resident += static_cast<double>(upto - p);
      p = upto;
    }
  t.free_resident = static_cast<double>(t.layout.resident_pages * kPage) - live_on_resident;
  return t;
}

fc::HeapEstimate estimate(const Heap& h, std::uint64_t salt, std::uint32_t one_in) {
  fc::RegionSampler s;
  s.configure(one_in, 14, salt);
  std::vector<fc::LiveRange> kept;
  for (const auto& b : h.blocks)
    if (s.hit(b.addr, b.size) != fc::RegionSampler::Hit::kNone) kept.push_back(b);
  std::vector<char> scratch(fc::estimate_scratch_bytes(s, kPage));
  fc::HeapEstimate e;
  fc::estimate_heap(kept.data(), kept.size(), &h.seg, 1, kPage, s, 1.0, residency, const_cast<Heap*>(&h), scratch.data(),
                    e);
  return e;
}

// Resident pages are exact; each other figure of one estimate lies within 4 of its stated standard
// errors of the truth (plus a little: the edges of holes are approximated), and the mean over many
// salts is close to the truth (the ratio estimator's bias is of order 1/n).
void check_estimates(const Heap& h, std::uint32_t one_in, int salts, double bias_tol) {
  const Truth t = exact(h);
  ASSERT_GT(t.layout.empty_resident_pages, 100u);
  ASSERT_GT(t.layout.pinned_pages, 100u);
  struct Fig {
    const char* name;
    double truth;
    double sum = 0;
    int outside = 0;
  };
  Fig figs[] = {{"resident_pages", static_cast<double>(t.layout.resident_pages)},
                {"empty_resident_pages", static_cast<double>(t.layout.empty_resident_pages)},
                {"pinned_pages", static_cast<double>(t.layout.pinned_pages)},
                {"hole_bytes", static_cast<double>(t.layout.hole_bytes)},
                {"holes", static_cast<double>(t.layout.holes)},
                {"live_bytes", static_cast<double>(t.layout.live_bytes)},
                {"free_resident", t.free_resident}};
  for (int s = 1; s <= salts; ++s) {
    const fc::HeapEstimate e = estimate(h, 0x1234567ull * s, one_in);
    EXPECT_GT(e.regions, 0u);
    EXPECT_EQ(e.layout.pages, t.layout.pages);
    EXPECT_EQ(e.layout.resident_pages, t.layout.resident_pages);  // read whole, not estimated
    EXPECT_EQ(e.se_resident_pages, 0.0);
    const double est[] = {static_cast<double>(e.layout.resident_pages), static_cast<double>(e.layout.empty_resident_pages),
                          static_cast<double>(e.layout.pinned_pages),   static_cast<double>(e.layout.hole_bytes),
                          static_cast<double>(e.layout.holes),          static_cast<double>(e.layout.live_bytes),
                          e.free_resident};
    const double se[] = {e.se_resident_pages, e.se_empty_pages, e.se_pinned_pages, e.se_hole_bytes,
                         e.se_holes,          e.se_live_bytes,  e.se_free_resident};
    for (std::size_t i = 0; i < std::size(figs); ++i) {
      if (s == 1 && std::getenv("FRAGSCOPE_TEST_VERBOSE"))
        std::printf("%s est %.0f se %.0f truth %.0f\n", figs[i].name, est[i], se[i], figs[i].truth);
      figs[i].sum += est[i];
      if (std::abs(est[i] - figs[i].truth) > 4 * se[i] + 0.01 * figs[i].truth) ++figs[i].outside;
    }
  }
  for (const Fig& f : figs) {
    EXPECT_EQ(f.outside, 0) << f.name << ": estimates outside 4 standard errors";
    const double mean = f.sum / salts;
    if (std::getenv("FRAGSCOPE_TEST_VERBOSE")) std::printf("%s truth %.0f mean %.0f\n", f.name, f.truth, mean);
    EXPECT_NEAR(mean, f.truth, bias_tol * f.truth) << f.name << " (mean over " << salts << " salts)";
  }
}

TEST(HeapEstimate, UnbiasedWithStatedErrorOnAFragmentedHeap) {
  const Heap h = make_heap(std::uint64_t{64} << 20, 0.25, 1, false);
  check_estimates(h, 32, 40, 0.03);
}

TEST(HeapEstimate, LargeBlocksThatSpanRegions) {
  const Heap h = make_heap(std::uint64_t{64} << 20, 0.4, 2, true);
  check_estimates(h, 32, 40, 0.03);
}

TEST(HeapEstimate, OneInOneIsExact) {
  const Heap h = make_heap(std::uint64_t{8} << 20, 0.3, 3, true);
  const Truth t = exact(h);
  const fc::HeapEstimate e = estimate(h, 99, 1);
  EXPECT_EQ(e.layout.resident_pages, t.layout.resident_pages);
  EXPECT_EQ(e.layout.empty_resident_pages, t.layout.empty_resident_pages);
  EXPECT_EQ(e.layout.pinned_pages, t.layout.pinned_pages);
  EXPECT_EQ(e.layout.live_bytes, t.layout.live_bytes);
  EXPECT_EQ(e.layout.holes, t.layout.holes);
  EXPECT_EQ(e.layout.hole_bytes, t.layout.hole_bytes);
  EXPECT_EQ(e.layout.trailing_bytes, t.layout.trailing_bytes);
  for (unsigned i = 0; i < fc::HeapLayout::kOccupancyBins; ++i) EXPECT_EQ(e.layout.occupancy[i], t.layout.occupancy[i]);
  EXPECT_NEAR(e.free_resident, t.free_resident, 1.0);
  EXPECT_EQ(e.se_resident_pages, 0.0);
}

}  // namespace
