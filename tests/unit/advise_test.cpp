// fragscope advise's rules on synthetic snapshots: a class of old live blocks among short-lived
// ones on a fragmented glibc heap gets a pool (with sizes and chunk size), a healthy heap gets
// nothing, and empty resident pages get glibc's trim advice.
#include <gtest/gtest.h>

#include <fmt/format.h>

#include "advise.hpp"

namespace fragscope::report {
namespace {

// One final snapshot: class 49..64 B has 10k live blocks aged ~1 s whose freed siblings lived
// ~4 µs; class 65..80 B has live blocks as young as its freed ones.
std::string snapshot(double rss_over_live, double empty_pages, const char* allocator = "glibc", double pinned = 200) {
  return fmt::format(
      R"({{"schema":"fragscope.snapshot","version":1,"seq":3,"final":true,"exe":"/svc","pid":9,"uptime_ns":5e9,)"
      R"("totals":{{"live_requested":1000000}},)"
      R"("size_classes":[{{"class":20,"lo":49,"hi":64,"live_blocks":10000,"live_requested":600000,"peak_live_requested":640000,"frees":900000}},)"
      R"({{"class":21,"lo":65,"hi":80,"live_blocks":5000,"live_requested":380000,"peak_live_requested":400000,"frees":90000}}],)"
      R"("lifetimes":{{"by_class":[{{"class":20,"freed":[[4096,900000]],"live_age":[[1073741824,10000]]}},)"
      R"({{"class":21,"freed":[[1048576,90000]],"live_age":[[1048576,5000]]}}]}},)"
      R"("top_sizes":[{{"size":56,"allocs":500000}},{{"size":72,"allocs":90000}},{{"size":60,"allocs":400000}}],)"
      R"("heap":{{"heap_rss":{},"rss_over_live":{},"page_size":4096,"pinned_pages":{},"empty_resident_pages":{},"free_resident":1,"segments":1,"holes":{{"total":1}}}},)"
      R"("allocator":{{"name":"{}"}},"overhead":{{"thread_blocks":1}}}})"
      "\n",
      rss_over_live * 1e6, rss_over_live, pinned, empty_pages, allocator);
}

TEST(Advise, PoolsTheClassOfOldBlocksAmongShortLivedOnes) {
  AdviseResult r = advise(parse_snapshot_text(snapshot(4.0, 0)), "./svc");
  ASSERT_GE(r.advice.size(), 2u);
  EXPECT_NE(r.advice[0].title.find("Pool 49 B..64 B"), std::string::npos) << r.advice[0].title;
  EXPECT_EQ(r.pool_sizes, "64");  // 56 and 60 round to 64; 72 is in the young class
  bool run_cmd = false, chunk = false;
  for (const auto& a : r.advice[0].actions) {
    run_cmd |= a == "try it without changing code:  fragscope run --pool-sizes 64 -- ./svc";
    chunk |= a.find("chunk_size = 64.0 KiB") != std::string::npos;  // 640 kB / 32 → floor of 64 KiB
  }
  EXPECT_TRUE(run_cmd);
  EXPECT_TRUE(chunk);
  EXPECT_NE(r.advice[1].title.find("allocator"), std::string::npos);
  EXPECT_NE(render_advice(r).find("not assessed: kernel knobs"), std::string::npos);
}

// The smallest class holds malloc(0): a pool size is 1..4096 (FRAGSCOPE_POOL_SIZES refuses a
// list with a 0 in it, and then pools nothing), so size 0 is served by the 16-byte pool.
TEST(Advise, PoolSizesAreNeverZero) {
  std::string s = snapshot(4.0, 0);
  auto edit = [&s](std::string_view from, std::string_view to) { s.replace(s.find(from), from.size(), to); };
  edit(R"("class":20,"lo":49,"hi":64)", R"("class":0,"lo":0,"hi":8)");
  edit(R"({"class":20,"freed")", R"({"class":0,"freed")");
  edit(R"("size":56)", R"("size":0)");
  AdviseResult r = advise(parse_snapshot_text(s));
  ASSERT_FALSE(r.advice.empty());
  EXPECT_EQ(r.pool_sizes, "16");
}

TEST(Advise, AHealthyHeapGetsNothing) {
  AdviseResult r = advise(parse_snapshot_text(snapshot(1.05, 0, "glibc", 2)));
  EXPECT_TRUE(r.advice.empty());
  EXPECT_NE(render_advice(r).find("Nothing to fix"), std::string::npos);
}

TEST(Advise, EmptyResidentPagesGetTrimAdviceOnGlibcOnly) {
  auto has_trim = [](const AdviseResult& r) {
    for (const auto& a : r.advice)
      if (a.title.find("empty pages") != std::string::npos) return true;
    return false;
  };
  EXPECT_TRUE(has_trim(advise(parse_snapshot_text(snapshot(1.2, 500)))));  // 2 MB empty of a 1.2 MB heap
  EXPECT_FALSE(has_trim(advise(parse_snapshot_text(snapshot(1.2, 500, "jemalloc")))));
  EXPECT_FALSE(has_trim(advise(parse_snapshot_text(snapshot(1.2, 10)))));
}

TEST(Advise, KernelFragmentationFromTheSystemView) {
  auto with_system = [](int unusable9, int stalls_after) {
    std::string first = snapshot(1.05, 0, "glibc", 2), last = first;
    auto add = [](std::string& s, const std::string& sys) { s.insert(s.rfind('}'), ",\"system\":" + sys); };
    const std::string zone = fmt::format(R"({{"node":0,"zone":"Normal","free":[1,1,1,1,1,1,1,1,1,0,0],)"
                                         R"("unusable_index":[0,0,0,0,0,0,0,0,0,{},{}]}})", unusable9, unusable9);
    add(first, fmt::format(R"({{"buddyinfo":[{}],"vmstat":{{"compact_stall":10}}}})", zone));
    add(last, fmt::format(R"({{"buddyinfo":[{}],"vmstat":{{"compact_stall":{}}}}})", zone, 10 + stalls_after));
    first.replace(first.find("\"final\":true"), 12, "\"final\":false");
    return advise(parse_snapshot_text(first + last));
  };
  AdviseResult bad = with_system(900, 0);
  ASSERT_EQ(bad.advice.size(), 1u);
  EXPECT_NE(bad.advice[0].title.find("kernel"), std::string::npos);
  EXPECT_NE(bad.advice[0].evidence[0].find("90% of the free memory of node 0 Normal"), std::string::npos);
  AdviseResult stalled = with_system(100, 3);
  ASSERT_EQ(stalled.advice.size(), 1u);
  EXPECT_NE(stalled.advice[0].evidence.back().find("3 direct compaction stalls"), std::string::npos);
  AdviseResult fine = with_system(100, 0);
  EXPECT_TRUE(fine.advice.empty());
  ASSERT_EQ(fine.checked.size(), 1u);
  EXPECT_NE(fine.checked[0].find("0.100 in node 0 Normal"), std::string::npos);
}

}  // namespace
}  // namespace fragscope::report
