// The recording core end to end without preload: record allocations and frees from several
// threads, collect a snapshot, parse its JSON, and check the identities the product promises.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <memory>
#include <thread>
#include <vector>

#include "balance.hpp"
#include "recorder.hpp"
#include "snapshot.hpp"
#include "snapshot_json.hpp"

using namespace fragscope::core;

namespace {

struct Fixture {
  std::unique_ptr<Recorder> rec = std::make_unique<Recorder>();
  Fixture() { EXPECT_TRUE(rec->init()); }
  nlohmann::json snapshot(std::uint64_t now) {
    SnapshotMeta m;
    fragscope::proc::Status st;
    st.vm_rss = 123;
    m.status = &st;
    m.rollup_error = "cannot read /proc/self/smaps_rollup: Permission denied";
    return fragscope::test::snapshot_json(*rec, now, m);
  }
};

std::size_t usable_of(void*) { return 64; }

}  // namespace

TEST(Recorder, SnapshotBalancesPerClassAndInTotal) {
  Fixture f;
  ThreadStats* t = f.rec->threads.acquire();
  ASSERT_NE(t, nullptr);
  std::vector<std::uintptr_t> addrs;
  for (std::uintptr_t i = 0; i < 1000; ++i) {
    std::uintptr_t a = 0x100000 + i * 64;
    record_alloc(*f.rec, *t, reinterpret_cast<void*>(a), 1 + i % 60, 64, /*now=*/100);
    addrs.push_back(a);
  }
  for (std::size_t i = 0; i < addrs.size(); i += 2)
    ASSERT_TRUE(record_free(*f.rec, *t, reinterpret_cast<void*>(addrs[i]), /*now=*/100 + 5000, usable_of));
  EXPECT_FALSE(record_free(*f.rec, *t, reinterpret_cast<void*>(0x42), 0, usable_of));

  auto j = f.snapshot(200000);
  EXPECT_TRUE(fragscope::report::check_balance(j).empty());
  EXPECT_EQ(j["totals"]["allocs"], 1000);
  EXPECT_EQ(j["totals"]["frees"], 500);
  EXPECT_EQ(j["totals"]["live_blocks"], 500);
  EXPECT_EQ(j["totals"]["live_usable"], 500 * 64);
  EXPECT_EQ(j["anomalies"]["untracked_frees"], 1);
  EXPECT_EQ(j["process"]["status"]["vm_rss"], 123);
  EXPECT_TRUE(j["process"]["smaps_rollup"].contains("error"));
  // Every freed block lived 5000 ticks: all in log2 bucket 12 ([4096, 8192) ticks).
  std::uint64_t freed = 0;
  for (const auto& c : j["lifetimes"]["by_class"])
    for (const auto& b : c["freed"]) {
      EXPECT_EQ(b[0].get<std::uint64_t>(), static_cast<std::uint64_t>(4096 * 16.0));
      freed += b[1].get<std::uint64_t>();
    }
  EXPECT_EQ(freed, 500u);
}

TEST(Recorder, CountsFromManyThreadsAddUpAndSurviveBlockReuse) {
  Fixture f;
  constexpr int kThreads = 8, kBlocks = 20000;
  std::vector<std::thread> th;
  for (int w = 0; w < kThreads; ++w) {
    th.emplace_back([&, w] {
      ThreadStats* t = f.rec->threads.acquire();
      for (int i = 0; i < kBlocks; ++i) {
        auto a = reinterpret_cast<void*>(0x1000000 + (static_cast<std::uintptr_t>(w) * kBlocks + i) * 32);
        record_alloc(*f.rec, *t, a, 24, 32, 1);
        if (i % 4 != 0) record_free(*f.rec, *t, a, 2, [](void*) { return std::size_t{32}; });
      }
      f.rec->threads.release(t);  // the thread "exits"; its counts must stay
    });
  }
  for (auto& x : th) x.join();
  auto j = f.snapshot(3);
  EXPECT_TRUE(fragscope::report::check_balance(j).empty());
  EXPECT_EQ(j["totals"]["allocs"], kThreads * kBlocks);
  EXPECT_EQ(j["totals"]["live_blocks"], kThreads * kBlocks / 4);
  EXPECT_LE(j["overhead"]["thread_blocks"].get<int>(), kThreads);
  // A new thread reuses a released block rather than a new one.
  auto before = f.rec->threads.blocks();
  ThreadStats* t = f.rec->threads.acquire();
  EXPECT_NE(t, nullptr);
  EXPECT_EQ(f.rec->threads.blocks(), before);
}

TEST(Recorder, PeakLiveTracksTheHighWaterMark) {
  Fixture f;
  ThreadStats* t = f.rec->threads.acquire();
  for (std::uintptr_t i = 0; i < 4096; ++i) record_alloc(*f.rec, *t, reinterpret_cast<void*>(0x10000 + i * 1024), 1000, 1024, 0);
  for (std::uintptr_t i = 0; i < 4096; ++i)
    record_free(*f.rec, *t, reinterpret_cast<void*>(0x10000 + i * 1024), 1, [](void*) { return std::size_t{1024}; });
  auto j = f.snapshot(2);
  // 4 MB peak, exact to the 64 KiB flush granularity of one thread.
  EXPECT_NEAR(j["totals"]["peak_live_requested"].get<double>(), 4096000.0, 65536.0);
  EXPECT_EQ(j["totals"]["live_requested"], 0);
}

TEST(Snapshot, JsonStringsAreEscaped) {
  TextBuffer b;
  ASSERT_TRUE(b.reserve(4096));
  json_string(b, "a\"b\\c\nd\x01");
  std::string s(b.data(), b.size());
  EXPECT_EQ(nlohmann::json::parse(s).get<std::string>(), "a\"b\\c\nd\x01");
}

// Paths and command lines are bytes: valid UTF-8 passes, anything else becomes U+FFFD, so the
// line stays valid JSON.
TEST(Snapshot, JsonStringsAreValidUtf8) {
  TextBuffer b;
  ASSERT_TRUE(b.reserve(4096));
  json_string(b, "/opt/caf\xc3\xa9/\xff\xc3(\xe2\x82\xac\xed\xa0\x80\xf0\x9f\x98\x80");
  std::string s(b.data(), b.size());
  EXPECT_EQ(nlohmann::json::parse(s).get<std::string>(),
            "/opt/caf\xc3\xa9/\xef\xbf\xbd\xef\xbf\xbd(\xe2\x82\xac\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xf0\x9f\x98\x80");
}
