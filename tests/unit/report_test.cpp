// The reporter library on snapshot files made by the real recording core: corrupt and truncated
// lines are skipped with their line numbers, broken identities are caught, and the text and HTML
// reports carry the figures (HTML: self-contained, escaped).
#include <gtest/gtest.h>

#include <memory>
#include <regex>
#include <string>

#include "balance.hpp"
#include "html_report.hpp"
#include "recorder.hpp"
#include "snapshot.hpp"
#include "snapshot_file.hpp"
#include "text_report.hpp"

using namespace fragscope;

namespace {

// One snapshot line from a recorder holding 300 live blocks of 48 bytes.
std::string snapshot_line(std::uint64_t seq, bool final, const char* exe) {
  auto rec = std::make_unique<core::Recorder>();
  EXPECT_TRUE(rec->init());
  core::ThreadStats* t = rec->threads.acquire();
  for (std::uintptr_t i = 0; i < 400; ++i) core::record_alloc(*rec, *t, reinterpret_cast<void*>(0x100000 + i * 64), 48, 56, 10);
  for (std::uintptr_t i = 0; i < 100; ++i)
    core::record_free(*rec, *t, reinterpret_cast<void*>(0x100000 + i * 64), 5000, [](void*) { return std::size_t{56}; });
  auto b = std::make_unique<core::SnapshotBuilder>();
  b->collect(*rec, 100000);
  core::TextBuffer buf;
  EXPECT_TRUE(buf.reserve(1 << 20));
  core::SnapshotMeta m;
  m.seq = seq;
  m.final = final;
  m.exe = exe;
  m.pid = 4242;
  m.uptime_ns = (seq + 1) * 1000000000ull;
  proc::Status st;
  st.vm_rss = 8 << 20;
  st.rss_anon = 4 << 20;
  m.status = &st;
  b->encode(m, *rec, buf);
  return std::string(buf.data(), buf.size());
}

}  // namespace

TEST(SnapshotFile, CorruptAndTruncatedLinesAreSkippedWithTheirNumbers) {
  std::string text = snapshot_line(0, false, "/bin/x") + "{not json\n" + "{\"schema\":\"other\"}\n" +
                     snapshot_line(1, true, "/bin/x") + "{\"schema\":\"fragscope.snapshot\",\"version\":1,\"tot";
  auto f = report::parse_snapshot_text(text, "t.jsonl");
  ASSERT_EQ(f.snapshots.size(), 2u);
  ASSERT_EQ(f.errors.size(), 3u);
  EXPECT_EQ(f.errors[0].line, 2u);
  EXPECT_EQ(f.errors[1].line, 3u);
  EXPECT_EQ(f.errors[2].line, 5u);
  EXPECT_NE(f.errors[2].message.find("truncated"), std::string::npos);
  ASSERT_NE(f.final_snapshot(), nullptr);
  EXPECT_EQ((*f.final_snapshot())["seq"], 1);
}

TEST(SnapshotFile, UnsupportedVersionIsRefused) {
  auto f = report::parse_snapshot_text("{\"schema\":\"fragscope.snapshot\",\"version\":2}\n");
  EXPECT_TRUE(f.snapshots.empty());
  ASSERT_EQ(f.errors.size(), 1u);
  EXPECT_NE(f.errors[0].message.find("version"), std::string::npos);
}

TEST(SnapshotFile, UnreadableFileThrowsWithThePath) {
  EXPECT_THROW(
      {
        try {
          report::read_snapshot_file("/nonexistent/x.jsonl");
        } catch (const std::runtime_error& e) {
          EXPECT_NE(std::string(e.what()).find("/nonexistent/x.jsonl"), std::string::npos);
          throw;
        }
      },
      std::runtime_error);
}

TEST(Balance, ARealSnapshotBalancesAndATamperedOneDoesNot) {
  auto j = nlohmann::json::parse(snapshot_line(0, true, "/bin/x"));
  EXPECT_TRUE(report::check_balance(j).empty());
  j["size_classes"][0]["frees"] = j["size_classes"][0]["frees"].get<std::uint64_t>() + 1;
  auto bad = report::check_balance(j);
  ASSERT_FALSE(bad.empty());
  EXPECT_NE(bad[0].find("allocs"), std::string::npos);
  auto k = nlohmann::json::parse(snapshot_line(0, true, "/bin/x"));
  k["totals"]["live_usable"] = 1;
  EXPECT_FALSE(report::check_balance(k).empty());
}

TEST(TextReport, ShowsTheFiguresOfTheFinalSnapshot) {
  auto f = report::parse_snapshot_text(snapshot_line(0, false, "/bin/x") + snapshot_line(1, true, "/bin/x"));
  std::string text = report::render_text_report(f);
  EXPECT_NE(text.find("/bin/x (pid 4242), 2 snapshots"), std::string::npos) << text;
  EXPECT_NE(text.find("300 blocks"), std::string::npos) << text;
  EXPECT_NE(text.find("41 B..48 B"), std::string::npos) << text;
  EXPECT_NE(text.find("48 B x400"), std::string::npos) << text;
}

TEST(HtmlReport, IsSelfContainedHasEveryChartAndEscapesText) {
  auto f = report::parse_snapshot_text(snapshot_line(0, false, "/bin/<script>alert(1)</script>") +
                                       snapshot_line(1, true, "/bin/<script>alert(1)</script>"));
  std::string html = report::render_html_report(f);
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_NE(html.find("&lt;script&gt;"), std::string::npos);
  std::size_t svgs = 0;
  for (std::size_t p = html.find("<svg"); p != std::string::npos; p = html.find("<svg", p + 1)) ++svgs;
  EXPECT_EQ(svgs, 4u);  // memory over time, size classes, freed lifetimes, live ages (no heap data here)
  EXPECT_NE(html.find("<polyline"), std::string::npos);
  EXPECT_NE(html.find("class=\"bar\""), std::string::npos);
  // Nothing is fetched: no src= or href= attributes, no url(...) in the CSS.
  EXPECT_FALSE(std::regex_search(html, std::regex(R"((src|href)\s*=|url\()")));
  EXPECT_NE(html.find("</html>"), std::string::npos);
}
