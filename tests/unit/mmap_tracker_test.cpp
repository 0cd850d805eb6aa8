// Live anonymous mappings: adds, partial unmaps that split ranges, MAP_FIXED overlaps.
#include <gtest/gtest.h>

#include "mmap_tracker.hpp"

using fragscope::core::MmapTracker;

TEST(MmapTracker, PartialUnmapSplitsAndTrims) {
  MmapTracker m;
  m.add(0x10000, 0x10000);
  EXPECT_EQ(m.count(), 1u);
  m.remove(0x14000, 0x1000);  // a hole in the middle
  EXPECT_EQ(m.count(), 2u);
  EXPECT_EQ(m.bytes(), 0xf000u);
  m.remove(0x10000, 0x2000);  // trim the front
  EXPECT_EQ(m.bytes(), 0xd000u);
  m.remove(0x0, 0x100000);    // everything
  EXPECT_EQ(m.count(), 0u);
  EXPECT_EQ(m.bytes(), 0u);
}

TEST(MmapTracker, OverlappingAddReplaces) {
  MmapTracker m;
  m.add(0x10000, 0x4000);
  m.add(0x12000, 0x4000);  // MAP_FIXED over the tail
  EXPECT_EQ(m.count(), 2u);
  EXPECT_EQ(m.bytes(), 0x6000u);
  EXPECT_TRUE(m.overlaps(0x15000, 1));
  EXPECT_FALSE(m.overlaps(0x16000, 0x1000));
}

TEST(MmapTracker, ManyRangesGrowTheArray) {
  MmapTracker m;
  for (std::uintptr_t i = 0; i < 5000; ++i) m.add(0x100000 + i * 0x2000, 0x1000);
  EXPECT_EQ(m.count(), 5000u);
  EXPECT_EQ(m.bytes(), 5000u * 0x1000);
}
