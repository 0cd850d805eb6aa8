// The live table: exact membership under inserts, removes, replacement, splits, concurrency,
// and the memory bound of the product (<= 32 bytes per live block).
#include <gtest/gtest.h>

#include <random>
#include <thread>
#include <unordered_map>
#include <vector>

#include "live_table.hpp"

using namespace fragscope::core;

namespace {
std::uintptr_t addr_of(std::uint64_t i) { return 0x10000000ull + i * 48; }
}  // namespace

TEST(LiveTable, InsertRemoveRoundTripKeepsSizeAndTime) {
  LiveTable t;
  ASSERT_TRUE(t.init());
  Block b{0x7f1234567890, (1ull << 35) - 1, 12345, true};
  EXPECT_EQ(t.insert(b, nullptr), InsertResult::kInserted);
  EXPECT_EQ(t.entries(), 1u);
  Block out;
  ASSERT_TRUE(t.remove(b.addr, 20000, &out));
  EXPECT_EQ(out.addr, b.addr);
  EXPECT_EQ(out.size, b.size);
  EXPECT_EQ(out.time, 12345u);
  EXPECT_TRUE(out.sampled);
  EXPECT_FALSE(t.remove(b.addr, 20000, &out));
  EXPECT_EQ(t.entries(), 0u);
}

TEST(LiveTable, OversizedAndHighAddressesUseTheSideList) {
  LiveTable t;
  ASSERT_TRUE(t.init());
  Block huge{0x5000, 1ull << 40, 7, false};
  Block high{0xffff800000001000ull, 64, 8, false};
  EXPECT_EQ(t.insert(huge, nullptr), InsertResult::kInserted);
  EXPECT_EQ(t.insert(high, nullptr), InsertResult::kInserted);
  Block out;
  ASSERT_TRUE(t.remove(huge.addr, 9, &out));
  EXPECT_EQ(out.size, 1ull << 40);
  ASSERT_TRUE(t.remove(high.addr, 9, &out));
  EXPECT_EQ(out.size, 64u);
}

TEST(LiveTable, ReinsertingALiveAddressReportsTheOldEntry) {
  LiveTable t;
  ASSERT_TRUE(t.init());
  EXPECT_EQ(t.insert({0x1000, 10, 1, false}, nullptr), InsertResult::kInserted);
  Block old;
  EXPECT_EQ(t.insert({0x1000, 20, 2, false}, &old), InsertResult::kReplaced);
  EXPECT_EQ(old.size, 10u);
  EXPECT_EQ(t.entries(), 1u);
}

TEST(LiveTable, MatchesAReferenceMapThroughSplitsAndRandomRemoves) {
  LiveTable t;
  ASSERT_TRUE(t.init());
  std::unordered_map<std::uintptr_t, std::uint64_t> ref;
  std::mt19937_64 rng(42);
  for (int i = 0; i < 400000; ++i) {
    std::uintptr_t a = addr_of(rng() % 300000);
    if (ref.count(a)) {
      Block out;
      ASSERT_TRUE(t.remove(a, 0, &out));
      ASSERT_EQ(out.size, ref[a]);
      ref.erase(a);
    } else {
      std::uint64_t size = rng() % 5000;
      ASSERT_EQ(t.insert({a, size, 0, false}, nullptr), InsertResult::kInserted);
      ref[a] = size;
    }
  }
  EXPECT_EQ(t.entries(), ref.size());
  std::size_t walked = 0;
  t.walk(0, [&](const Block& b, std::uint64_t) {
    ++walked;
    auto it = ref.find(b.addr);
    ASSERT_NE(it, ref.end());
    EXPECT_EQ(it->second, b.size);
  });
  EXPECT_EQ(walked, ref.size());
}

TEST(LiveTable, StaysUnder32BytesPerLiveBlock) {
  LiveTable t;
  ASSERT_TRUE(t.init());
  for (std::uint64_t n : {10000ull, 100000ull, 1000000ull}) {
    for (std::uint64_t i = 0; i < n; ++i) t.insert({addr_of(i), 64, 0, false}, nullptr);
    double per_block = static_cast<double>(t.memory_bytes()) / static_cast<double>(t.entries());
    EXPECT_LE(per_block, 32.0) << n << " blocks";
    for (std::uint64_t i = 0; i < n; ++i) ASSERT_TRUE(t.remove(addr_of(i), 0, nullptr));
  }
}

// Memory that follows the program down: after 85% of a million blocks are freed the table still
// holds the buckets of the peak, until compact() rebuilds it; every entry survives with its size
// and time, odd blocks (the wide table) included, and the table goes on working.
TEST(LiveTable, CompactFollowsTheLiveBlocksDown) {
  LiveTable t;
  ASSERT_TRUE(t.init());
  constexpr std::uint64_t kN = 1000000;
  for (std::uint64_t i = 0; i < kN; ++i) t.insert({addr_of(i), 64 + (i % 7), 1000 + i % 1000, false}, nullptr);
  const std::uintptr_t odd = 0x7f0000000000;  // a block of 1 MiB: the wide table
  t.insert({odd, std::uint64_t{1} << 20, 5, true}, nullptr);
  const std::size_t peak = t.memory_bytes();
  for (std::uint64_t i = 0; i < kN; ++i) {
    if (i % 20 >= 3) {
      ASSERT_TRUE(t.remove(addr_of(i), 0, nullptr));
    }
  }
  const std::size_t left = t.entries();
  ASSERT_EQ(left, kN * 3 / 20 + 1);
  EXPECT_EQ(t.memory_bytes(), peak);  // removing gives nothing back by itself
  EXPECT_GT(static_cast<double>(t.memory_bytes()) / static_cast<double>(left), 32.0);
  std::vector<Block> before(kN);  // what the table says of each live block (times as it decodes them)
  for (std::uint64_t i = 0; i < kN; i += 20) {
    ASSERT_TRUE(t.find(addr_of(i), 5000, &before[i]));
  }
  ASSERT_TRUE(t.compact());
  EXPECT_EQ(t.entries(), left);
  EXPECT_LE(static_cast<double>(t.memory_bytes()) / static_cast<double>(left), 32.0) << t.memory_bytes();
  for (std::uint64_t i = 0; i < kN; ++i) {
    Block b;
    const bool live = i % 20 < 3;
    ASSERT_EQ(t.find(addr_of(i), 5000, &b), live) << i;
    if (live) {
      EXPECT_EQ(b.size, 64 + (i % 7));
    }
    if (i % 20 == 0) {
      EXPECT_EQ(b.time, before[i].time) << i;
    }
  }
  Block w;
  ASSERT_TRUE(t.find(odd, 10, &w));  // the wide table was rebuilt too
  EXPECT_EQ(w.size, std::uint64_t{1} << 20);
  EXPECT_TRUE(w.sampled);
  // And it grows and shrinks again.
  for (std::uint64_t i = 0; i < kN; ++i) {
    if (i % 20 >= 3) {
      ASSERT_EQ(t.insert({addr_of(i), 16, 0, false}, nullptr), InsertResult::kInserted);
    }
  }
  EXPECT_EQ(t.entries(), kN + 1);
  for (std::uint64_t i = 0; i < kN; ++i) ASSERT_TRUE(t.remove(addr_of(i), 0, nullptr));
  ASSERT_TRUE(t.remove(odd, 0, nullptr));
  EXPECT_EQ(t.entries(), 0u);
  ASSERT_TRUE(t.compact());
  EXPECT_LE(t.memory_bytes(), std::size_t{64} << 10);
}

TEST(LiveTable, ConcurrentThreadsNeverLoseOrDuplicateEntries) {
  LiveTable t;
  ASSERT_TRUE(t.init());
  constexpr int kThreads = 4, kPerThread = 100000;
  std::vector<std::thread> th;
  std::atomic<int> failures{0};
  for (int w = 0; w < kThreads; ++w) {
    th.emplace_back([&, w] {
      std::vector<std::uintptr_t> mine;
      for (int i = 0; i < kPerThread; ++i) {
        std::uintptr_t a = addr_of(static_cast<std::uint64_t>(w) * 10000000 + i);
        if (t.insert({a, 16, 0, false}, nullptr) != InsertResult::kInserted) ++failures;
        mine.push_back(a);
        if (i % 3 == 0) {
          if (!t.remove(mine.back(), 0, nullptr)) ++failures;
          mine.pop_back();
        }
      }
    });
  }
  // Walk while the writers run: the walk must never block them forever nor crash.
  for (int i = 0; i < 20; ++i) t.walk(0, [](const Block&, std::uint64_t) {});
  for (auto& x : th) x.join();
  EXPECT_EQ(failures.load(), 0);
  const std::size_t expected = kThreads * (kPerThread - (kPerThread + 2) / 3);
  EXPECT_EQ(t.entries(), expected);
  std::size_t walked = 0;
  t.walk(0, [&](const Block&, std::uint64_t) { ++walked; });
  EXPECT_EQ(walked, expected);
}

TEST(LiveTable, AgesSurviveTheFineTimeWrapThroughCoarseRewrite) {
  LiveTable t;
  ASSERT_TRUE(t.init());
  const std::uint64_t t0 = 1000;
  t.insert({0x2000, 32, t0, false}, nullptr);
  // A walk after more than a quarter of the 43-bit window rewrites the entry in coarse units.
  std::uint64_t later = t0 + (CompactSlots::kTimeMask << CompactSlots::kTimeShift >> 1);
  t.walk(later, [](const Block&, std::uint64_t) {});
  // Far beyond the fine window, the age is still right to within the coarse unit.
  std::uint64_t much_later = t0 + (CompactSlots::kTimeMask << CompactSlots::kTimeShift << 3);
  std::uint64_t age = 0;
  t.walk(much_later, [&](const Block&, std::uint64_t a) { age = a; });
  std::uint64_t expected = much_later - t0;
  EXPECT_NEAR(static_cast<double>(age), static_cast<double>(expected), double(2ull << CompactSlots::kCoarseShift));
}

// One thread's hook clock may be a little behind the one that stamped an entry (HookClock): such
// an entry reads as just made, not as almost a window old.
TEST(LiveTable, AnEntryStampedSlightlyInTheFutureHasAgeZero) {
  LiveTable t;
  ASSERT_TRUE(t.init());
  const std::uint64_t t0 = std::uint64_t{1} << 36;
  t.insert({0x3000, 32, t0, false}, nullptr);
  t.insert({std::uintptr_t{1} << 50, 64, t0, false}, nullptr);  // a wide slot (address above 2^48)
  Block b;
  ASSERT_TRUE(t.find(0x3000, t0 - 100000, &b));
  EXPECT_EQ(b.time, t0 - 100000) << "age 0 at the earlier `now`";
  std::vector<std::uint64_t> ages;
  t.walk(t0 - 5000, [&](const Block&, std::uint64_t age) { ages.push_back(age); });
  EXPECT_EQ(ages, (std::vector<std::uint64_t>{0, 0}));
  // Half a window later it is an old entry: its age is not mistaken for a time in the future.
  const std::uint64_t later = t0 + (CompactSlots::kTimeMask << CompactSlots::kTimeShift) / 2;
  ASSERT_TRUE(t.find(0x3000, later, &b));
  EXPECT_NEAR(static_cast<double>(b.time), static_cast<double>(t0), 256.0);
}

// The table's first directory bits come from a block's 2 MiB region (slot_formats.hpp,
// hash_addr): every block of one region shares them, so threads allocating from regions of their
// own lock different buckets; over many regions every pattern occurs about equally often.
TEST(LiveTable, BlocksOfOneRegionShareTheirFirstDirectoryBits) {
  constexpr std::uint64_t kLow = (std::uint64_t{1} << kRegionBits) - 1;
  std::mt19937_64 rng(11);
  unsigned seen[1u << kRegionBits] = {};
  for (int r = 0; r < 4000; ++r) {
    const std::uintptr_t region = (std::uintptr_t{0x55} << 36) + (rng() % (1u << 20)) * (std::uintptr_t{1} << 21);
    const std::uint64_t bits = hash_addr(region) & kLow;
    for (int i = 0; i < 20; ++i) ASSERT_EQ(hash_addr(region + rng() % (1u << 21)) & kLow, bits);
    ++seen[bits];
  }
  for (unsigned v : seen) {
    EXPECT_GT(v, 4000u / (1u << kRegionBits) * 8 / 10);
    EXPECT_LT(v, 4000u / (1u << kRegionBits) * 12 / 10);
  }
}

// A split whose keys all fall on one side makes no bucket for the other: the first kRegionBits
// splits of a table whose blocks lie in one 2 MiB region separate nothing (hash_addr), and used
// to cost a 4 KiB bucket each. The side left empty is made when a key of its own arrives, and a
// lookup there answers "absent" without making it.
TEST(LiveTable, ASplitThatSeparatesNothingMakesNoEmptyBucket) {
  LiveTable t;
  ASSERT_TRUE(t.init());
  const std::size_t others = t.buckets() - 1;  // the wide table's bucket
  constexpr std::uint64_t kLow = (std::uint64_t{1} << kRegionBits) - 1;
  const std::uintptr_t region = std::uintptr_t{0x55} << 36;
  constexpr int kBlocks = 400;  // more than one bucket holds, less than two
  for (int i = 0; i < kBlocks; ++i) ASSERT_EQ(t.insert({region + 64u * i, 32, 0, false}, nullptr), InsertResult::kInserted);
  // kRegionBits splits separate nothing; one split by the address bits then makes one bucket.
  EXPECT_EQ(t.buckets() - others, 2u);
  std::uintptr_t elsewhere = region;
  do elsewhere += std::uintptr_t{1} << 21;
  while ((hash_addr(elsewhere) & kLow) == (hash_addr(region) & kLow));
  const std::size_t before = t.buckets();
  Block b;
  EXPECT_FALSE(t.find(elsewhere, 0, &b));
  EXPECT_FALSE(t.remove(elsewhere, 0, nullptr));
  EXPECT_EQ(t.buckets(), before) << "a lookup made a bucket";
  ASSERT_EQ(t.insert({elsewhere, 48, 7, false}, nullptr), InsertResult::kInserted);
  EXPECT_EQ(t.buckets(), before + 1);
  ASSERT_TRUE(t.find(elsewhere, 7, &b));
  EXPECT_EQ(b.size, 48u);
  for (int i = 0; i < kBlocks; ++i) {
    ASSERT_TRUE(t.find(region + 64u * i, 0, &b)) << i;
    EXPECT_EQ(b.size, 32u);
  }
  for (int i = 0; i < kBlocks; ++i) ASSERT_TRUE(t.remove(region + 64u * i, 0, nullptr)) << i;
  ASSERT_TRUE(t.remove(elsewhere, 0, nullptr));
  EXPECT_EQ(t.entries(), 0u);
  // compact() rebuilds it the same way: one bucket for nothing.
  ASSERT_TRUE(t.compact());
  EXPECT_EQ(t.buckets() - others, 1u);
}
