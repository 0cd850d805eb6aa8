// HookClock: the hooks' timestamps without a TSC read per call.
#include <gtest/gtest.h>

#include <cstdint>
#include <thread>
#include <vector>

#include "clock.hpp"

using namespace fragscope::core;

TEST(HookClock, WithoutATickerEveryCallReadsTheClock) {
  HookClock c;
  std::uint32_t countdown = 1;
  std::uint64_t prev = c.read(countdown);
  for (int i = 0; i < 1000; ++i) {
    const std::uint64_t t = c.read(countdown);
    EXPECT_GE(t, prev);
    prev = t;
  }
  EXPECT_EQ(c.tick.load(), prev) << "each read published itself";
}

TEST(HookClock, WhileTickingAThreadReadsTheClockEveryKEveryCalls) {
  HookClock c;
  c.ticking = true;
  c.tick = 5;  // what the ticker published last
  std::uint32_t countdown = HookClock::kEvery;
  for (std::uint32_t i = 1; i < HookClock::kEvery; ++i) EXPECT_EQ(c.read(countdown), 5u) << i;
  const std::uint64_t fresh = c.read(countdown);  // the kEvery-th call
  EXPECT_GT(fresh, 5u);
  EXPECT_EQ(c.tick.load(), fresh);
  EXPECT_EQ(c.read(countdown), fresh) << "and the others see it";
}

TEST(HookClock, RefreshNeverMovesTheTickBack) {
  HookClock c;
  c.tick = ~std::uint64_t{0} >> 1;  // far ahead of any reading
  c.refresh();
  EXPECT_EQ(c.tick.load(), ~std::uint64_t{0} >> 1);
  // Many threads refreshing at once leave the largest reading.
  HookClock d;
  std::vector<std::thread> th;
  std::vector<std::uint64_t> seen(4);
  for (int i = 0; i < 4; ++i)
    th.emplace_back([&, i] {
      for (int k = 0; k < 10000; ++k) seen[i] = std::max(seen[i], d.refresh());
    });
  for (auto& t : th) t.join();
  EXPECT_EQ(d.tick.load(), *std::max_element(seen.begin(), seen.end()));
}
