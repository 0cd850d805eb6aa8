// The event log of a process with one hook thread: events pushed to a ring and applied in
// batches (by the producer when its ring is full, or by a drain) give exactly the table and the
// figures of recording each call at once.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <memory>
#include <random>
#include <thread>
#include <vector>

#include "applier.hpp"
#include "balance.hpp"
#include "snapshot_json.hpp"

using namespace fragscope::core;

namespace {

struct Fixture {
  std::unique_ptr<Recorder> rec = std::make_unique<Recorder>();
  std::unique_ptr<EventApplier> ap = std::make_unique<EventApplier>();
  explicit Fixture(bool with_applier) {
    EXPECT_TRUE(rec->init());
    if (with_applier) {
      EXPECT_TRUE(ap->init(*rec));
    }
  }
  nlohmann::json snapshot(std::uint64_t now) { return fragscope::test::snapshot_json(*rec, now); }
};

}  // namespace

// Both ways of applying: taking the bucket locks, and without them while the applier is the
// table's only user (set_exclusive, the batched process).
class EventApplierModes : public ::testing::TestWithParam<bool> {};
INSTANTIATE_TEST_SUITE_P(Locking, EventApplierModes, ::testing::Values(false, true),
                         [](const ::testing::TestParamInfo<bool>& i) { return i.param ? "Exclusive" : "Locked"; });

TEST_P(EventApplierModes, ARingAppliedInBatchesGivesTheFiguresOfDirectRecording) {
  Fixture f(true), direct(false);
  f.ap->set_exclusive(GetParam());
  ThreadStats* t = f.rec->threads.acquire();
  ThreadStats* d = direct.rec->threads.acquire();
  std::mt19937_64 rng(7);
  std::vector<std::uintptr_t> live;
  std::uint64_t tick = 1000, pushed = 0;
  // Ten rings' worth of events: the producer drains its full ring itself, ten times or more.
  for (int i = 0; i < static_cast<int>(10 * EventRing::kCapacity); ++i) {
    tick += 37;
    if (live.empty() || rng() % 3 != 0) {
      const std::uintptr_t a = 0x10000000 + (rng() % 100000) * 16;
      const std::uint64_t req = 1 + rng() % 500;
      // Now and then an address that is still live: a free that bypassed the hooks.
      // The event counts its malloc call; the direct recording's hook would have counted it.
      f.ap->push(*t, Event::alloc(a, tick, req, req + 8, 0, static_cast<unsigned>(Op::kMalloc) + 1));
      ++pushed;
      d->calls[static_cast<unsigned>(Op::kMalloc)].add(1);
      record_alloc(*direct.rec, *d, reinterpret_cast<void*>(a), req, req + 8, tick);
      if (std::find(live.begin(), live.end(), a) == live.end()) live.push_back(a);
    } else {
      const std::size_t k = rng() % live.size();
      const std::uintptr_t a = live[k];
      live[k] = live.back();
      live.pop_back();
      Block b;
      ASSERT_TRUE(direct.rec->table.find(a, tick, &b));
      f.ap->push(*t, Event::free(a, tick, b.size + 8));
      ++pushed;
      record_free(*direct.rec, *d, reinterpret_cast<void*>(a), tick, [&](void*) { return b.size + 8; });
    }
    if (i % 1000 == 999) {  // and a never-allocated address: an untracked free
      f.ap->push(*t, Event::free(0x42 + 8 * i, tick, 16));
      ++pushed;
      record_free(*direct.rec, *d, reinterpret_cast<void*>(0x42 + 8 * i), tick, [](void*) { return std::size_t{16}; });
    }
  }
  EXPECT_GE(f.ap->stats().full_drains, 10u);
  EXPECT_LT(f.ap->stats().applied, pushed) << "the last events still wait in the ring";
  f.ap->drain();
  EXPECT_EQ(f.ap->stats().applied, pushed);
  EXPECT_EQ(f.rec->table.entries(), live.size());
  EXPECT_EQ(f.rec->table.entries(), direct.rec->table.entries());
  auto a = f.snapshot(tick + 1), b = direct.snapshot(tick + 1);
  EXPECT_TRUE(fragscope::report::check_balance(a).empty());
  EXPECT_EQ(a["totals"], b["totals"]);
  EXPECT_EQ(a["size_classes"], b["size_classes"]);
  EXPECT_EQ(a["lifetimes"], b["lifetimes"]);
  EXPECT_EQ(a["anomalies"], b["anomalies"]);
  EXPECT_EQ(a["calls"], b["calls"]);
  EXPECT_GT(a["calls"]["malloc"].get<int>(), 0) << a["calls"];
  EXPECT_GT(a["anomalies"]["missed_frees"].get<int>(), 0);
  EXPECT_GT(a["anomalies"]["untracked_frees"].get<int>(), 0);
}

TEST(EventApplier, ADrainFromAnotherThreadWhileTheProducerPushesLosesNothing) {
  Fixture f(true);
  ThreadStats* t = f.rec->threads.acquire();
  std::atomic<bool> done{false};
  std::thread drainer([&] {
    while (!done.load()) f.ap->drain();
  });
  constexpr int kBlocks = 200000;
  for (int i = 0; i < kBlocks; ++i) {
    const std::uintptr_t a = 0x20000000 + static_cast<std::uintptr_t>(i % 5000) * 64;
    f.ap->push(*t, Event::alloc(a, 2 * i, 48, 56, 0));
  }
  for (int i = 0; i < 5000; ++i) f.ap->push(*t, Event::free(0x20000000 + static_cast<std::uintptr_t>(i) * 64, 2 * kBlocks + i, 56));
  done = true;
  drainer.join();
  f.ap->drain();
  auto j = f.snapshot(3 * kBlocks);
  EXPECT_TRUE(fragscope::report::check_balance(j).empty()) << j["totals"];
  EXPECT_EQ(j["totals"]["allocs"], kBlocks);
  EXPECT_EQ(j["totals"]["live_blocks"], 0);
  EXPECT_EQ(j["anomalies"]["missed_frees"], kBlocks - 5000);  // each address allocated 40 times, freed once
  EXPECT_EQ(f.ap->stats().applied, static_cast<std::uint64_t>(kBlocks + 5000));
}

// A reader that announces itself (begin_shared) may walk the table while an exclusive applier
// drains: the drains take the bucket locks meanwhile, so every walk sees each live block once.
TEST(EventApplier, AWalkAnnouncedWhileAnExclusiveApplierDrainsSeesEveryBlockOnce) {
  Fixture f(true);
  f.ap->set_exclusive(true);
  ThreadStats* t = f.rec->threads.acquire();
  constexpr std::uintptr_t kBase = 0x30000000;
  constexpr int kSlots = 20000;
  std::atomic<bool> done{false};
  std::atomic<int> walks{0}, bad_walks{0};
  std::thread reader([&] {
    std::vector<unsigned char> seen(kSlots);
    while (!done.load()) {
      std::fill(seen.begin(), seen.end(), 0);
      bool ok = true;
      f.ap->begin_shared();
      f.rec->table.walk(1u << 30, [&](const Block& b, std::uint64_t) {
        const std::uintptr_t i = (b.addr - kBase) / 64;
        if (b.addr < kBase || i >= kSlots || seen[i]++ != 0) ok = false;
      });
      f.ap->end_shared();
      ++walks;
      if (!ok) ++bad_walks;
    }
  });
  // Allocations grow the table through many splits, with frees mixed in; the producer drains
  // its full ring itself, without locks except while the reader has announced a walk.
  std::mt19937_64 rng(3);
  std::vector<bool> live(kSlots);
  std::uint64_t tick = 0;
  for (int round = 0; round < 40 || walks.load() < 20; ++round) {
    for (int k = 0; k < kSlots; ++k) {
      const int i = static_cast<int>(rng() % kSlots);
      const std::uintptr_t a = kBase + static_cast<std::uintptr_t>(i) * 64;
      if (live[i]) f.ap->push(*t, Event::free(a, ++tick, 56));
      else f.ap->push(*t, Event::alloc(a, ++tick, 48, 56, 0));
      live[i] = !live[i];
    }
  }
  done = true;
  reader.join();
  f.ap->drain();
  EXPECT_GE(walks.load(), 20);
  EXPECT_EQ(bad_walks.load(), 0);
  const auto n = static_cast<std::size_t>(std::count(live.begin(), live.end(), true));
  EXPECT_EQ(f.rec->table.entries(), n);
  auto j = f.snapshot(tick + 1);
  EXPECT_TRUE(fragscope::report::check_balance(j).empty()) << j["totals"];
  EXPECT_EQ(j["totals"]["live_blocks"], n);
  EXPECT_EQ(j["anomalies"]["missed_frees"], 0);
  EXPECT_EQ(j["anomalies"]["untracked_frees"], 0);
}
