// fragscope advise's rules on synthetic snapshots: each mechanism is recognised from the figures
// that define it, and only from them — a class of old live blocks among short-lived ones near its
// peak gets pools, the same class thinned out by deletes gets sparse_pages (never pools), empty
// pages get a trim on glibc and the allocator's own figures on jemalloc, a kernel finding needs a
// kernel signal, a healthy heap gets "nothing to fix"; and the judged snapshot is the latest
// before teardown, not the peak.
#include <gtest/gtest.h>

#include <fmt/format.h>

#include "advise.hpp"
#include "moment.hpp"

namespace fragscope::report {
namespace {

struct Snap {
  double live = 1e6, rss_over_live = 4.0, empty_pages = 0, pinned = 200;
  double usable_factor = 1.04;  // live_usable / live_requested
  const char* allocator = "glibc";
  double peak20 = 640000;   // peak live of class 49..64 (live 600000)
  double age20 = 1073741824;  // median live age of class 49..64 (ns)
  std::string occupancy = "[0,300,300,100,0,0,0,0,10]";  // sparse pages: ~2.6 MB free
  std::string native = "{}";
  bool final_ = true;
  int seq = 3;
  double threads = 2;
  double uptime = -1;  // ns; seq seconds when negative
};

std::string snapshot(const Snap& s) {
  return fmt::format(
      R"({{"schema":"fragscope.snapshot","version":1,"seq":{},"final":{},"exe":"/svc","pid":9,"uptime_ns":{},)"
      R"("totals":{{"live_requested":{},"live_usable":{}}},)"
      R"("size_classes":[{{"class":20,"lo":49,"hi":64,"live_blocks":10000,"live_requested":600000,"live_usable":640000,"peak_live_requested":{},"frees":900000}},)"
      R"({{"class":21,"lo":65,"hi":80,"live_blocks":5000,"live_requested":380000,"live_usable":400000,"peak_live_requested":400000,"frees":90000}}],)"
      R"("lifetimes":{{"by_class":[{{"class":20,"freed":[[4096,900000]],"live_age":[[{},10000]]}},)"
      R"({{"class":21,"freed":[[1048576,90000]],"live_age":[[1048576,5000]]}}]}},)"
      R"("top_sizes":[{{"size":56,"allocs":500000}},{{"size":72,"allocs":90000}},{{"size":60,"allocs":400000}}],)"
      R"("heap":{{"heap_rss":{},"rss_over_live":{},"page_size":4096,"pinned_pages":{},"empty_resident_pages":{},"free_resident":{},"segments":1,"page_occupancy":{},"holes":{{"total":1}}}},)"
      R"("allocator":{{"name":"{}","native":{}}},"process":{{"status":{{"threads":{}}}}},"overhead":{{"thread_blocks":1}}}})"
      "\n",
      s.seq, s.final_ ? "true" : "false", s.uptime >= 0 ? s.uptime : s.seq * 1e9, s.live, s.live * s.usable_factor, s.peak20, s.age20,
      s.rss_over_live * s.live, s.rss_over_live, s.pinned, s.empty_pages,
      s.rss_over_live * s.live - s.live * s.usable_factor, s.occupancy, s.allocator,
      s.native, s.threads);
}

AdviseResult judge(const Snap& s) { return advise(parse_snapshot_text(snapshot(s)), "./svc"); }

const Finding* find(const AdviseResult& r, const std::string& kind) {
  for (const auto& f : r.findings)
    if (f.kind == kind) return &f;
  return nullptr;
}

TEST(Advise, OldBlocksAmongShortLivedOnesNearThePeakArePooled) {
  AdviseResult r = judge(Snap{});
  ASSERT_FALSE(r.findings.empty()) << render_advice(r);
  EXPECT_EQ(r.findings[0].kind, "lifetime_mixing");
  EXPECT_EQ(r.pool_sizes, "64");  // 56 and 60 round to 64; 72 is in the young class
  EXPECT_EQ(r.findings[0].command, "fragscope run --pool-sizes 64 -- ./svc");
  // The estimate: the free bytes of pages at most half full, in the class's share of live bytes,
  // less one 64 KiB chunk for the one pool.
  const double sparse = 4096.0 * (300 * (1 - 0.5 / 8) + 300 * (1 - 1.5 / 8) + 100 * (1 - 2.5 / 8));
  EXPECT_NEAR(r.findings[0].recover_bytes, sparse * 600000 / 980000 - 65536, 1);
  EXPECT_EQ(find(r, "sparse_pages"), nullptr);
}

// Two classes of old blocks: the median age is that of their blocks together (10k at ~1 s, 5k at
// ~8.6 s: ~1 s), not the larger of the two classes' medians.
TEST(Advise, MediansAreOfTheBlocksTogether) {
  std::string s = snapshot(Snap{});
  const std::string young = R"("live_age":[[1048576,5000]])";
  s.replace(s.find(young), young.size(), R"("live_age":[[8589934592,5000]])");
  AdviseResult r = advise(parse_snapshot_text(s));
  ASSERT_FALSE(r.findings.empty());
  ASSERT_EQ(r.findings[0].kind, "lifetime_mixing") << render_advice(r);
  EXPECT_NE(r.findings[0].evidence[0].find("median age 1.1 s–2.1 s"), std::string::npos) << r.findings[0].evidence[0];
  EXPECT_NE(r.findings[0].evidence[0].find("15 k live blocks"), std::string::npos) << r.findings[0].evidence[0];
}

TEST(Advise, TheSameClassThinnedByDeletesIsSparseAndNeverPooled) {
  Snap s;
  s.peak20 = 6e6;  // the class held 10x more before: a delete, not a steady state
  AdviseResult r = judge(s);
  ASSERT_FALSE(r.findings.empty()) << render_advice(r);
  EXPECT_EQ(r.findings[0].kind, "sparse_pages");
  EXPECT_EQ(find(r, "lifetime_mixing"), nullptr);
  EXPECT_TRUE(r.pool_sizes.empty());
  EXPECT_TRUE(r.findings[0].command.empty());
  bool says_no_pools = false;
  for (const auto& x : r.findings[0].remedy) says_no_pools |= x.find("pools will not help") != std::string::npos;
  EXPECT_TRUE(says_no_pools);
}

TEST(Advise, PoolSizesAreNeverZero) {
  std::string s = snapshot(Snap{});
  auto edit = [&s](std::string_view from, std::string_view to) { s.replace(s.find(from), from.size(), to); };
  edit(R"("class":20,"lo":49,"hi":64)", R"("class":0,"lo":0,"hi":8)");
  edit(R"({"class":20,"freed")", R"({"class":0,"freed")");
  edit(R"("size":56)", R"("size":0)");
  AdviseResult r = advise(parse_snapshot_text(s));
  ASSERT_NE(find(r, "lifetime_mixing"), nullptr) << render_advice(r);
  EXPECT_EQ(r.pool_sizes, "16");
}

TEST(Advise, AHealthyHeapHasNothingToFixAndSaysWhatWasChecked) {
  Snap s;
  s.rss_over_live = 1.05, s.pinned = 2, s.occupancy = "[0,0,0,0,0,0,0,2,250]";
  AdviseResult r = judge(s);
  EXPECT_TRUE(r.findings.empty()) << render_advice(r);
  const std::string text = render_advice(r);
  EXPECT_NE(text.find("Nothing to fix"), std::string::npos);
  for (const char* k : {"trim:", "lifetime_mixing", "internal_frag:", "arenas:"}) EXPECT_NE(text.find(k), std::string::npos) << k;
  EXPECT_TRUE(advice_json(r)["nothing_to_fix"].get<bool>());
}

TEST(Advise, EmptyPagesAreATrimOnGlibcAndRetentionOnJemalloc) {
  Snap s;
  s.empty_pages = 2000, s.rss_over_live = 12, s.occupancy = "[2000,0,0,0,0,0,0,0,250]";  // 8 MB empty of 12 MB
  AdviseResult g = judge(s);
  ASSERT_FALSE(g.findings.empty()) << render_advice(g);
  EXPECT_EQ(g.findings[0].kind, "trim");
  EXPECT_EQ(g.findings[0].recover_bytes, 2000 * 4096.0);
  EXPECT_EQ(g.findings[0].command, "fragscope run --trim -- ./svc");
  s.allocator = "jemalloc";
  s.native = R"({"allocated":1000000,"active":1200000,"resident":10000000,"metadata":200000,"mapped":12000000})";
  AdviseResult j = judge(s);
  EXPECT_EQ(find(j, "trim"), nullptr);
  const Finding* ret = find(j, "allocator_retention");
  ASSERT_NE(ret, nullptr) << render_advice(j);
  EXPECT_EQ(ret->recover_bytes, 10000000 - 1200000 - 200000);
  EXPECT_NE(render_advice(j).find("MALLOC_CONF=dirty_decay_ms"), std::string::npos);
}

// Sampled mode: a finding promises what it recovers, so it stands on the estimate less two
// standard errors, and says so; top_pinned is not assessed (top blocks are not known).
AdviseResult judge_sampled(const Snap& s, double se_empty_pages) {
  std::string text = snapshot(s);
  text.replace(text.find("\"totals\""), 0, R"("mode":"sampled","sampling":{"one_in":32,"region_bytes":16384},)");
  text.replace(text.find("\"page_size\""), 0,
               fmt::format(R"("estimate":{{"regions":80,"se":{{"empty_resident_pages":{},"free_resident":0}}}},)",
                           se_empty_pages));
  return advise(parse_snapshot_text(text), "./svc");
}

TEST(Advise, SampledFindingsStandOnTheLowerBoundOfTheirEstimate) {
  Snap s;
  s.empty_pages = 2000, s.rss_over_live = 12, s.occupancy = "[2000,0,0,0,0,0,0,0,250]";  // 8 MB empty of 12 MB
  AdviseResult a = judge_sampled(s, 300);
  const Finding* trim = find(a, "trim");
  ASSERT_NE(trim, nullptr) << render_advice(a);
  EXPECT_EQ(trim->recover_bytes, (2000 - 2 * 300) * 4096.0);
  EXPECT_NE(render_advice(a).find("sampled regions"), std::string::npos) << render_advice(a);
  EXPECT_NE(render_advice(a).find("top_pinned: the segments' top blocks are not known"), std::string::npos);
  // An estimate whose lower bound is below a tenth of heap_rss is no finding.
  AdviseResult b = judge_sampled(s, 900);  // 200 pages: 0.8 MB, below 1 MiB
  EXPECT_EQ(find(b, "trim"), nullptr) << render_advice(b);
}

TEST(Advise, JemallocBinUtilisationIsShown) {
  Snap s;
  s.allocator = "jemalloc";
  s.native = R"({"allocated":1,"active":1,"resident":1,"metadata":0,"bins":[)"
             R"({"size":64,"curregs":100,"curslabs":10,"nregs":64,"utilization":0.156}]})";
  AdviseResult r = judge(s);
  bool shown = false;
  for (const auto& l : r.allocator_says) shown |= l.find("bin utilisation 16%") != std::string::npos;
  EXPECT_TRUE(shown) << render_advice(r);
}

// Blocks twice as large as requested: slack inside them, on a heap otherwise packed.
TEST(Advise, SlackInsideBlocksIsInternalFrag) {
  Snap s;
  s.live = 2e6, s.rss_over_live = 2.2, s.usable_factor = 2.0, s.pinned = 0, s.occupancy = "[0,0,0,0,0,0,0,0,1000]";
  AdviseResult r = judge(s);
  ASSERT_FALSE(r.findings.empty()) << render_advice(r);
  EXPECT_EQ(r.findings[0].kind, "internal_frag");
  EXPECT_EQ(r.findings[0].recover_bytes, 2e6);
  EXPECT_TRUE(r.findings[0].command.empty());
  s.usable_factor = 1.04;  // glibc's usual slack: nothing
  EXPECT_EQ(find(judge(s), "internal_frag"), nullptr);
}

TEST(Advise, ArenasCountOnlyTheApplicationsThreads) {
  Snap s;
  s.rss_over_live = 12, s.occupancy = "[0,0,0,0,0,0,0,0,250]", s.pinned = 0;
  s.native = R"({"arena":1,"malloc_info":{"arenas":8}})";
  s.threads = 2;  // the program and fragscope's reporter thread
  EXPECT_EQ(find(judge(s), "arenas"), nullptr);
  s.threads = 9;
  const AdviseResult r = judge(s);
  const Finding* a = find(r, "arenas");
  ASSERT_NE(a, nullptr) << render_advice(r);
  EXPECT_NE(a->command.find("glibc.malloc.arena_max=2"), std::string::npos);
}

TEST(Advise, KernelFindingsNeedTheKernelsOwnSignals) {
  auto with_system = [](int unusable9, int frag9, int stalls_after) {
    Snap s;
    s.rss_over_live = 1.05, s.pinned = 2, s.occupancy = "[0,0,0,0,0,0,0,2,250]", s.final_ = false, s.seq = 1;
    std::string first = snapshot(s);
    s.final_ = true, s.seq = 2;
    std::string last = snapshot(s);
    auto add = [](std::string& x, const std::string& sys) { x.insert(x.rfind('}'), ",\"system\":" + sys); };
    const std::string zone = fmt::format(R"({{"node":0,"zone":"Normal","free":[1,1,1,1,1,1,1,1,1,0,0],)"
                                         R"("unusable_index":[0,0,0,0,0,0,0,0,0,{},{}],)"
                                         R"("fragmentation_index":[-1000,-1000,-1000,-1000,-1000,-1000,-1000,-1000,-1000,{},{}]}})",
                                         unusable9, unusable9, frag9, frag9);
    add(first, fmt::format(R"({{"buddyinfo":[{}],"vmstat":{{"compact_stall":10}}}})", zone));
    add(last, fmt::format(R"({{"buddyinfo":[{}],"vmstat":{{"compact_stall":{}}}}})", zone, 10 + stalls_after));
    return advise(parse_snapshot_text(first + last));
  };
  // The unusable index alone (free memory in small blocks, but nothing fails): no finding.
  EXPECT_EQ(find(with_system(900, -1000, 0), "kernel"), nullptr);
  const AdviseResult frag = with_system(900, 700, 0);
  ASSERT_NE(find(frag, "kernel"), nullptr);
  EXPECT_NE(find(frag, "kernel")->evidence[0].find("order 9 (0.700)"), std::string::npos);
  const AdviseResult stalled = with_system(100, -1000, 3);
  ASSERT_NE(find(stalled, "kernel"), nullptr);
  EXPECT_NE(find(stalled, "kernel")->evidence.back().find("3 direct compaction stalls"), std::string::npos);
}

// Load, delete, stay up: the judged snapshot is the latest, not the one at the peak of live data.
TEST(Moment, TheLatestStateIsJudgedNotThePeak) {
  Snap peak;
  peak.live = 10e6, peak.final_ = false, peak.seq = 1;
  Snap after = peak;
  after.live = 1e6, after.seq = 2;
  SnapshotFile f = parse_snapshot_text(snapshot(peak) + snapshot(after));
  Moment m = choose_moment(f);
  EXPECT_EQ(m.judged, 1u);
  EXPECT_EQ(m.peak_live, 0u);
  EXPECT_NE(m.why.find("latest"), std::string::npos);
}

// The exit snapshot comes after exit handlers and destructors: the last periodic one is judged,
// whatever the exit snapshot holds; alone, the exit snapshot is judged.
TEST(Moment, TheExitSnapshotIsJudgedOnlyAlone) {
  Snap running;
  running.final_ = false, running.seq = 1, running.live = 5e6;
  Snap exit_ = running;
  exit_.final_ = true, exit_.seq = 2, exit_.live = 1e5;
  Moment m = choose_moment(parse_snapshot_text(snapshot(running) + snapshot(exit_)));
  EXPECT_EQ(m.judged, 0u);
  EXPECT_TRUE(m.exit_skipped);
  exit_.live = 5e6;  // holding its data at exit: still after the destructors
  m = choose_moment(parse_snapshot_text(snapshot(running) + snapshot(exit_)));
  EXPECT_EQ(m.judged, 0u);
  m = choose_moment(parse_snapshot_text(snapshot(exit_)));
  EXPECT_EQ(m.judged, 0u);
  EXPECT_FALSE(m.exit_skipped);
  EXPECT_NE(m.why.find("the only one"), std::string::npos);
}

// A periodic snapshot taken within 100 ms of the exit snapshot may have caught the teardown
// starting (the allocator's figures are read after the live table): the one before is judged.
TEST(Moment, APeriodicSnapshotRightBeforeExitIsNotJudged) {
  Snap a, b, exit_;
  a.final_ = false, a.seq = 0, a.uptime = 2.9e9;
  b.final_ = false, b.seq = 1, b.uptime = 3.0e9;
  exit_.final_ = true, exit_.seq = 2, exit_.uptime = 3.05e9, exit_.live = 1e4;
  EXPECT_EQ(choose_moment(parse_snapshot_text(snapshot(a) + snapshot(b) + snapshot(exit_))).judged, 0u);
  exit_.uptime = 3.2e9;  // 200 ms later: the last periodic one is the running program's
  EXPECT_EQ(choose_moment(parse_snapshot_text(snapshot(a) + snapshot(b) + snapshot(exit_))).judged, 1u);
  exit_.uptime = 3.05e9;  // the only periodic one is judged all the same
  EXPECT_EQ(choose_moment(parse_snapshot_text(snapshot(b) + snapshot(exit_))).judged, 0u);
}

// Before exit: periodic snapshots that caught the program freeing its data on the way out are
// teardown too; a delete followed by a steady state is judged after the delete.
TEST(Moment, ATeardownUnderWayBeforeExitIsSkipped) {
  auto file = [](std::initializer_list<double> lives) {
    std::string text;
    int seq = 0;
    for (double live : lives) {
      Snap s;
      s.final_ = false, s.seq = seq++, s.live = live;
      text += snapshot(s);
    }
    Snap exit_;
    exit_.seq = seq, exit_.live = 1e4;
    return parse_snapshot_text(text + snapshot(exit_));
  };
  EXPECT_EQ(choose_moment(file({64e6, 64e6, 64e6, 30e6, 5e6})).judged, 2u);  // freeing at the end
  EXPECT_EQ(choose_moment(file({64e6, 6e6, 6e6, 6e6})).judged, 3u);          // a delete, then steady
  EXPECT_EQ(choose_moment(file({64e6, 64e6})).judged, 1u);
  EXPECT_EQ(choose_moment(file({22.3e6, 22.3e6, 16.8e6})).judged, 1u);  // CPython finalising: 75%
  EXPECT_EQ(choose_moment(file({22.3e6, 22.3e6, 21.9e6})).judged, 2u);  // a steady state's wobble
}

TEST(Moment, TimelineKeepsPeakRiseJudgedAndLatest) {
  std::string text;
  // 40 snapshots: live rises to a peak at 10, RSS/live jumps between 24 and 25.
  for (int i = 0; i < 40; ++i) {
    Snap s;
    s.final_ = false, s.seq = i;
    s.live = i == 10 ? 9e6 : 1e6;
    s.rss_over_live = i < 25 ? 1.5 : 6.0;
    text += snapshot(s);
  }
  SnapshotFile f = parse_snapshot_text(text);
  Moment m = choose_moment(f);
  auto rows = timeline_rows(f, m, 12);
  auto has = [&](std::size_t i) { return std::find(rows.begin(), rows.end(), i) != rows.end(); };
  EXPECT_LE(rows.size(), 12u);
  for (std::size_t i : {0, 10, 24, 25, 39}) EXPECT_TRUE(has(i)) << i;
  EXPECT_TRUE(std::is_sorted(rows.begin(), rows.end()));
}

TEST(Advise, LifetimeBucketsReadAsRanges) {
  EXPECT_EQ(life_range(4096), "4.1 µs–8.2 µs");
  EXPECT_NE(life_range(0).find("< 1 clock tick"), std::string::npos);
}

}  // namespace
}  // namespace fragscope::report
