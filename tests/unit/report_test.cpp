// The reporter library on snapshot files made by the real recording core: corrupt and truncated
// lines are skipped with their line numbers, broken identities are caught, and the text and HTML
// reports carry the figures (HTML: self-contained, escaped).
#include <gtest/gtest.h>

#include <memory>
#include <regex>
#include <string>

#include "advise.hpp"
#include "balance.hpp"
#include "html_report.hpp"
#include "machine_formats.hpp"
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
  // Resident memory by mapping kind, summed from an smaps text as the shim does.
  const proc::SmapsByKind kinds = proc::sum_smaps_by_kind(
      "55d0a1a00000-55d0a1a21000 rw-p 00000000 00:00 0                          [heap]\n"
      "Rss:                 132 kB\nPss:                 132 kB\nPrivate_Dirty:       132 kB\n"
      "7f0000000000-7f0000400000 rw-p 00000000 00:00 0 \n"
      "Rss:                3072 kB\nPss:                3072 kB\nPrivate_Dirty:      3072 kB\n");
  m.by_kind = &kinds;
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

// The same line as another process image wrote it.
std::string as_process(const std::string& line, int pid, const char* run_id) {
  auto j = nlohmann::json::parse(line);
  j["pid"] = pid;
  j["run_id"] = run_id;
  return j.dump() + "\n";
}

TEST(SnapshotFile, ProcessesSharingAFileAreToldApartByPidAndRunId) {
  const std::string a0 = snapshot_line(0, false, "/bin/sh"), a1 = snapshot_line(1, true, "/bin/sh");
  // pid 10 (sh), then pid 11, interleaved; then pid 10 again after exec (another run id).
  auto f = report::parse_snapshot_text(as_process(a0, 10, "00000000000000aa") + as_process(a0, 11, "00000000000000bb") +
                                           as_process(a1, 11, "00000000000000bb") + as_process(a1, 10, "00000000000000cc") +
                                           "junk\n",
                                       "shared.jsonl");
  ASSERT_EQ(f.snapshots.size(), 4u);
  const auto procs = report::split_by_process(std::move(f));
  ASSERT_EQ(procs.size(), 3u);
  EXPECT_EQ(procs[0].pid, 10);
  EXPECT_EQ(procs[0].run_id, "00000000000000aa");
  EXPECT_EQ(procs[0].file.snapshots.size(), 1u);
  EXPECT_EQ(procs[0].file.final_snapshot(), nullptr);
  EXPECT_EQ(procs[1].pid, 11);
  EXPECT_EQ(procs[1].file.snapshots.size(), 2u);
  ASSERT_NE(procs[1].file.final_snapshot(), nullptr);
  EXPECT_EQ(procs[2].run_id, "00000000000000cc");
  EXPECT_EQ(procs[2].file.path, "shared.jsonl");
  EXPECT_EQ(procs[2].file.errors.size(), 1u);  // the file's skipped lines go with each process
  EXPECT_EQ(procs[1].label(), "pid 11 (/bin/sh, run 00000000000000bb)");
  EXPECT_EQ(report::select_processes(procs, 10, "").size(), 2u);
  EXPECT_EQ(report::select_processes(procs, 10, "00000000000000cc").front(), &procs[2]);
  EXPECT_TRUE(report::select_processes(procs, 12, "").empty());
  EXPECT_EQ(report::select_processes(procs, -1, "").size(), 3u);
  // A file of one process stays one.
  EXPECT_EQ(report::split_by_process(report::parse_snapshot_text(a0 + a1)).size(), 1u);
}

TEST(SnapshotFile, UnsupportedVersionIsRefused) {
  auto f = report::parse_snapshot_text("{\"schema\":\"fragscope.snapshot\",\"version\":2}\n");
  EXPECT_TRUE(f.snapshots.empty());
  ASSERT_EQ(f.errors.size(), 1u);
  EXPECT_NE(f.errors[0].message.find("version"), std::string::npos);
}

// Found by fuzz_snapshot_file: a "final" that is not a boolean made final_snapshot() throw
// (fragscope report, check and advise died in std::terminate), and a version of 2^32 + 1 was read
// as version 1. A schema that is not a string is a foreign line, not an exception.
TEST(SnapshotFile, MistypedFieldsAreNotExceptions) {
  auto f = report::parse_snapshot_text(
      "{\"schema\":\"fragscope.snapshot\",\"version\":1,\"final\":[]}\n"
      "{\"schema\":\"fragscope.snapshot\",\"version\":4294967297,\"final\":true}\n"
      "{\"schema\":1,\"version\":1}\n");
  ASSERT_EQ(f.snapshots.size(), 1u);
  ASSERT_EQ(f.errors.size(), 2u);
  EXPECT_NE(f.errors[0].message.find("version"), std::string::npos);
  EXPECT_EQ(f.errors[1].line, 3u);
  EXPECT_EQ(f.final_snapshot(), nullptr);
  EXPECT_EQ(f.steady_snapshot(true), nullptr);
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
  EXPECT_NE(text.find("RSS by mapping: heap 132.0 KiB, anon 3.0 MiB   [/proc/self/smaps]"), std::string::npos) << text;
  EXPECT_EQ(f.snapshots.back()["process"]["by_kind"]["anon"]["uss"], 3072 * 1024);
  // One row per snapshot (at most 12), at its uptime; no heap analysis in these: dashes.
  EXPECT_NE(text.find("fragmentation over time (2 of 2 snapshots:"), std::string::npos) << text;
  EXPECT_NE(text.find("     1.0 s    14.1 KiB     4.0 MiB           -         -"), std::string::npos) << text;
  EXPECT_NE(text.find("     2.0 s    14.1 KiB"), std::string::npos) << text;
}

// The recording section (written by the running shim, so added here by hand): how the shim
// recorded, and on which CPU the events were applied.
TEST(TextReport, SaysHowTheShimRecorded) {
  auto f = report::parse_snapshot_text(snapshot_line(0, true, "/bin/x"));
  f.snapshots.back()["recording"] = {{"mode", "batched"}, {"events_applied", 1234}, {"full_ring_drains", 0},
                                     {"cpus", 1}, {"reporter_applies", false}};
  std::string text = report::render_text_report(f);
  EXPECT_NE(text.find("recording    batched: the hooks logged 1234 events, applied by the allocating thread itself "
                      "(1 CPU usable)"),
            std::string::npos)
      << text;
  f.snapshots.back()["recording"]["cpus"] = 1.5;
  f.snapshots.back()["recording"]["reporter_applies"] = false;
  text = report::render_text_report(f);
  EXPECT_NE(text.find("(1.5 CPUs usable)"), std::string::npos) << text;
  f.snapshots.back()["recording"]["cpus"] = 2;
  f.snapshots.back()["recording"]["reporter_applies"] = true;
  text = report::render_text_report(f);
  EXPECT_NE(text.find("applied by the reporter thread on another CPU (2 usable)"), std::string::npos) << text;
  EXPECT_EQ(text.find("passed between threads"), std::string::npos) << text;  // none: not said
  f.snapshots.back()["recording"]["handovers"] = 1;
  f.snapshots.back()["recording"]["returns"] = 3;
  text = report::render_text_report(f);
  EXPECT_NE(text.find("(2 usable); passed between threads 1 time; back from direct recording 3 times\n"),
            std::string::npos)
      << text;
  f.snapshots.back()["recording"] = {{"mode", "direct"}};
  text = report::render_text_report(f);
  EXPECT_NE(text.find("recording    direct: each call recorded at once"), std::string::npos) << text;
  // A snapshot from before these fields: the mode alone.
  f.snapshots.back()["recording"] = {{"mode", "batched"}, {"events_applied", 7}};
  text = report::render_text_report(f);
  EXPECT_NE(text.find("recording    batched: the hooks logged 7 events\n"), std::string::npos) << text;
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

// Found by fuzz_report_pipeline: the reports read whatever valid JSON a damaged snapshot holds
// without throwing or reading out of bounds — a histogram bucket with one element (read past the
// end of the array), a size class numbered past the table of lifetimes, mistyped strings and
// numbers (nlohmann's value() and get<>() throw), counts out of an integer's range (converting
// them was undefined behaviour), call-site frames that are not [module, offset, symbol], a "sites"
// without "list" — and the exposition escapes a zone label as it does the exe label.
TEST(Reports, DamagedButValidSnapshotsStillRender) {
  const std::string damaged =
      R"({"schema":"fragscope.snapshot","version":1,"final":true,"exe":5,"pid":-1e300,"seq":"x","uptime_ns":1e300,)"
      R"("totals":{"live_requested":1e300,"live_blocks":-7,"allocs":"many"},)"
      R"("size_classes":[{"class":300,"lo":-16,"hi":-1,"live_blocks":100,"live_requested":5},)"
      R"({"class":1e30,"hi":64,"live_blocks":1e9,"live_requested":4,"peak_live_requested":-1},7],)"
      R"("lifetimes":{"by_class":[{"class":300,"freed":[[1],[],5,[2,"x"]],"live_age":[[1e18]]},3]},)"
      R"("top_sizes":[{"size":-5,"allocs":1e40},"x"],)"
      R"("heap":{"heap_rss":1,"page_size":0,"page_occupancy":[1,"a",null,-1,1e300,[],{},true,2],)"
      R"("holes":{"hist":[[64],7]},"top_pinned_by":[5],"error":3},)"
      R"("sites":{"modules":[1,"/nonexistent/libc.so.6"],"top_pinned_sites":["a"],)"
      R"("list":[{"id":-3,"frames":[[0],[1,2,3],"f",[1e9,1],[-1,5,"sym"]],"live_bytes":"x"},4]},)"
      R"("system":{"meminfo":{"mem_total":1},"buddyinfo":[{"zone":"Nor\"mal\n","node":"x",)"
      R"("unusable_index":[1,2,"3",4,5,6,7,8,9,null]},1],"vmstat":[]},)"
      R"("warnings":[1,"w"],"pools":{"list":[3]},"pool_remedy":[{"size":-1}]})"
      "\n";
  const std::string no_site_list = R"({"schema":"fragscope.snapshot","version":1,"sites":{"modules":[]}})" "\n";
  for (const std::string& text : {damaged, no_site_list, no_site_list + damaged}) {
    auto f = report::parse_snapshot_text(text, "damaged.jsonl");
    ASSERT_FALSE(f.snapshots.empty());
    EXPECT_TRUE(f.errors.empty());
    std::string out;
    EXPECT_NO_THROW(out = report::render_text_report(f));
    EXPECT_EQ(out.rfind("fragscope report: ", 0), 0u) << out;
    EXPECT_NO_THROW(out = report::render_report_json(f).dump());
    EXPECT_NO_THROW(out = report::render_prometheus(f));
    if (text == damaged) {
      EXPECT_NE(out.find(R"(zone="Nor\"mal\n")"), std::string::npos) << out;
    }
    EXPECT_NO_THROW(out = report::render_html_report(f));
    EXPECT_EQ(out.find("<script"), std::string::npos);
    EXPECT_NO_THROW(out = report::render_advice(report::advise(f)));
    EXPECT_NO_THROW(report::check_balance(f.snapshots.back()));
  }
}
