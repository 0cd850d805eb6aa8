// fragscope compare's pure parts: summaries, steady RSS, pool sizes from a run, heap figures
// from snapshots, and what the table says about skipped and failed allocators.
#include <gtest/gtest.h>

#include <cmath>

#include "compare.hpp"
#include "machine_formats.hpp"
#include "metric_families.hpp"

namespace fragscope::report {
namespace {

TEST(Compare, SummarizeGivesMedianAndRange) {
  Summary s = summarize({3, 1, 2});
  EXPECT_EQ(s.n, 3u);
  EXPECT_EQ(s.median, 2);
  EXPECT_EQ(s.min, 1);
  EXPECT_EQ(s.max, 3);
  EXPECT_EQ(summarize({4, 1, 2, 3}).median, 2.5);
  EXPECT_EQ(summarize({}).n, 0u);
}

TEST(Compare, SteadyRssIgnoresTheStartUpClimb) {
  // A climb from 0 to 90, then a plateau at 100 with one spike.
  std::vector<double> samples = {0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 100, 100, 100, 300, 100, 100, 100, 100, 100};
  EXPECT_EQ(steady_rss(samples), 100);
  EXPECT_EQ(steady_rss({}), 0);
}

TEST(Compare, PoolSizesAreTheMostFrequentRoundedTo16) {
  HeapFigures f;
  f.top_sizes = {{24, 1000}, {8000, 900}, {40, 800}, {33, 700}, {48, 600}, {17, 500}, {100, 10}};
  EXPECT_EQ(pool_sizes_from(f, 2), "32,48");  // 24→32, 8000 too large, 40→48; 33 and 48 are 48 again
  EXPECT_EQ(pool_sizes_from(f, 8), "32,48,112");
  EXPECT_EQ(pool_sizes_from(HeapFigures{}), "");
}

TEST(Compare, HeapFiguresComeFromTheSteadyStateNotTheTeardown) {
  const std::string text =
      R"({"schema":"fragscope.snapshot","version":1,"seq":0,"final":false,"totals":{"live_requested":100},"heap":{"heap_rss":400,"rss_over_live":4,"pinned_pages":7,"holes":{"total":250}}})"
      "\n"
      R"({"schema":"fragscope.snapshot","version":1,"seq":1,"final":false,"totals":{"live_requested":200},"heap":{"heap_rss":500,"rss_over_live":2.5,"pinned_pages":9,"holes":{"total":150}}})"
      "\n"
      R"({"schema":"fragscope.snapshot","version":1,"seq":2,"final":false,"totals":{"live_requested":20},"heap":{"heap_rss":500,"rss_over_live":25,"pinned_pages":90,"holes":{"total":480}}})"
      "\n"
      R"({"schema":"fragscope.snapshot","version":1,"seq":3,"final":true,"totals":{"live_requested":0},"heap":{"heap_rss":100,"rss_over_live":0,"pinned_pages":0,"holes":{"total":0}},"top_sizes":[{"size":32,"allocs":5}]})"
      "\n";
  auto f = heap_figures(parse_snapshot_text(text));
  ASSERT_TRUE(f.has_value());
  EXPECT_EQ(f->live_requested, 200);
  EXPECT_EQ(f->rss_over_live, 2.5);
  EXPECT_EQ(f->pinned_pages, 9);
  EXPECT_EQ(f->holes_bytes, 150);
  ASSERT_EQ(f->top_sizes.size(), 1u);  // counted over the whole run: from the final snapshot
  EXPECT_EQ(f->top_sizes[0].first, 32u);
  EXPECT_FALSE(heap_figures(parse_snapshot_text("")).has_value());
}

TEST(Compare, TableListsEveryAllocatorSkippedAndFailedRuns) {
  AllocatorResult glibc{*find_allocator("glibc"), "", "", {}, ""};
  RunResult ok;
  ok.wall_s = 2;
  ok.cpu_s = 1.5;
  ok.peak_rss = 10 << 20;
  ok.steady_rss = 8 << 20;
  ok.heap = HeapFigures{1 << 20, 4 << 20, 4, 12, 1 << 20, {}};
  glibc.runs = {ok, ok};
  glibc.runs[1].wall_s = 4;
  AllocatorResult jemalloc{*find_allocator("jemalloc"), "/x/libjemalloc.so.2", "", {}, ""};
  RunResult failed;
  failed.status = 3;
  failed.error = "exit status 3: boom";
  RunResult fast = ok;
  fast.wall_s = 1.5;
  fast.steady_rss = 4 << 20;
  jemalloc.runs = {fast, failed};
  AllocatorResult mimalloc{*find_allocator("mimalloc"), "", "libmimalloc.so.2 not found; install the Debian package libmimalloc2.0", {}, ""};
  const std::string table = render_compare_table({glibc, jemalloc, mimalloc}, "./wl");
  EXPECT_NE(table.find("glibc       2/2"), std::string::npos) << table;
  EXPECT_NE(table.find("3 ±67%"), std::string::npos) << table;  // wall: median 3 of {2, 4}
  EXPECT_NE(table.find("jemalloc    1/2"), std::string::npos) << table;
  EXPECT_NE(table.find("0.50"), std::string::npos) << table;  // jemalloc's wall ratio 1.5 / 3
  EXPECT_NE(table.find("jemalloc: run 2 failed: exit status 3: boom"), std::string::npos) << table;
  EXPECT_NE(table.find("mimalloc: skipped — libmimalloc.so.2 not found; install the Debian package libmimalloc2.0"),
            std::string::npos)
      << table;
  const auto j = compare_json({glibc, jemalloc, mimalloc}, "./wl");
  EXPECT_EQ(j["allocators"][0]["summary"]["wall_s"]["median"], 3);
  EXPECT_EQ(j["allocators"][1]["runs"][1]["ok"], false);
  EXPECT_EQ(j["allocators"][2]["skipped"].get<std::string>().rfind("libmimalloc.so.2 not found", 0), 0u);
  const std::string html = render_compare_html({glibc, jemalloc, mimalloc}, "./wl <x>");
  EXPECT_NE(html.find("./wl &lt;x&gt;"), std::string::npos);
  EXPECT_NE(html.find("<svg"), std::string::npos);
}

// report --format prom: every family it writes is in the shared table, under its own name (a
// name missing from the table would silently take the first entry's help and type).
TEST(MachineFormats, PrometheusFamiliesComeFromTheSharedTable) {
  const std::string text =
      R"({"schema":"fragscope.snapshot","version":1,"seq":0,"final":true,"pid":7,"exe":"/bin/x\"y",)"
      R"("totals":{"live_requested":10,"live_usable":16,"live_blocks":1,"peak_live_requested":10,"allocs":3,"frees":2},)"
      R"("heap":{"heap_rss":4096,"rss_over_live":409.6,"free_resident":4080,"pinned_pages":1,"empty_resident_pages":0,"ext_frag":0,"segments":1,"holes":{"total":0,"largest":0}},)"
      R"("process":{"status":{"vm_rss":1,"vm_hwm":2,"rss_anon":3,"vm_swap":0},"smaps_rollup":{"pss":5,"uss":4}},)"
      R"("system":{"meminfo":{"mem_available":9},"buddyinfo":[{"node":0,"zone":"Normal","unusable_index":[0,500]}],)"
      R"("vmstat":{"compact_stall":1,"thp_fault_fallback":2,"allocstall":3}},)"
      R"("allocator":{"name":"glibc","native":{"uordblks":100,"hblkhd":0,"fordblks":50,"malloc_info":{"arenas":1}}}})"
      "\n";
  const std::string prom = render_prometheus(parse_snapshot_text(text));
  std::size_t families = 0;
  for (std::size_t at = prom.find("# TYPE fragscope_"); at != std::string::npos; at = prom.find("# TYPE fragscope_", at + 1)) {
    const std::size_t start = at + 17;
    const std::string name = prom.substr(start, prom.find(' ', start) - start);
    EXPECT_EQ(fragscope::proc::metric_family(name).name, name);
    ++families;
  }
  // This snapshot has every section but sampled mode's (below); glibc has no bin utilisation
  // (jemalloc's, below).
  EXPECT_EQ(families, std::size(fragscope::proc::kMetricFamilies) - 3);
  EXPECT_EQ(prom.find("fragscope_estimate_stderr"), std::string::npos) << "full mode has no estimate";
  // Sampled mode: the fraction of regions sampled marks the estimates, and each has its error.
  std::string sampled = text;
  const std::string holes = R"("holes":{"total":0,"largest":0}})";
  sampled.replace(sampled.find(holes), holes.size(),
                  R"("holes":{"total":0,"largest":0},"estimate":{"fraction":0.03125,"se":{"heap_rss":512,)"
                  R"("free_resident":300,"pinned_pages":0.5,"empty_resident_pages":0.25,"hole_bytes":64}}})");
  const std::string sprom = render_prometheus(parse_snapshot_text(sampled));
  std::size_t sfamilies = 0;
  for (std::size_t at = sprom.find("# TYPE fragscope_"); at != std::string::npos; at = sprom.find("# TYPE fragscope_", at + 1))
    ++sfamilies;
  EXPECT_EQ(sfamilies, std::size(fragscope::proc::kMetricFamilies) - 1);
  EXPECT_NE(sprom.find(R"(fragscope_sampled_region_fraction{pid="7",exe="x\"y"} 0.03125)"), std::string::npos) << sprom;
  EXPECT_NE(sprom.find(R"(fragscope_estimate_stderr{pid="7",exe="x\"y",metric="fragscope_heap_rss_bytes"} 512)"),
            std::string::npos) << sprom;
  EXPECT_NE(sprom.find(R"(fragscope_estimate_stderr{pid="7",exe="x\"y",metric="fragscope_heap_holes_bytes"} 64)"),
            std::string::npos) << sprom;
  EXPECT_NE(prom.find(R"(fragscope_allocator_arenas{pid="7",exe="x\"y",allocator="glibc"} 1)"), std::string::npos) << prom;
  std::string je = text;
  je.replace(je.find(R"({"name":"glibc")"), std::string::npos,
             R"({"name":"jemalloc","native":{"allocated":10,"resident":40,"metadata":5,)"
             R"("bins":[{"size":8,"curregs":1,"curslabs":1,"nregs":4}]}}})" "\n");
  const std::string jprom = render_prometheus(parse_snapshot_text(je));
  EXPECT_NE(jprom.find(R"(fragscope_allocator_bin_utilization_ratio{pid="7",exe="x\"y",allocator="jemalloc"} 0.25)"),
            std::string::npos) << jprom;
  EXPECT_NE(jprom.find(R"(fragscope_allocator_free_bytes{pid="7",exe="x\"y",allocator="jemalloc"} 25)"), std::string::npos);
  EXPECT_NE(prom.find(R"(exe="x\"y")"), std::string::npos);
  EXPECT_NE(prom.find(R"(order="1"} 0.500)"), std::string::npos);
}

}  // namespace
}  // namespace fragscope::report
