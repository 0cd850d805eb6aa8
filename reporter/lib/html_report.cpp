// HTML report (see html_report.hpp).
#include "html_report.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <iterator>
#include <limits>
#include <map>

#include "advise.hpp"
#include "flame_graph.hpp"
#include "json_access.hpp"
#include "sites.hpp"
#include "svg_chart.hpp"
#include "text_report.hpp"

namespace fragscope::report {
namespace {

using nlohmann::json;

// Missing numbers are NaN here, shown as "–" (the text report shows 0).
double num_or_nan(const json& o, const char* k) { return num(o, k, std::numeric_limits<double>::quiet_NaN()); }
std::string bytes_or_dash(double v) { return std::isfinite(v) ? human_bytes(v) : "–"; }
std::string class_label(const json& c) {
  double lo = num_or_nan(c, "lo"), hi = num_or_nan(c, "hi");
  if (!(hi > 0)) return fmt::format("> {}", human_bytes(lo - 1));
  return fmt::format("{}–{}", human_bytes(lo), human_bytes(hi));
}

constexpr const char* kStyle = R"(
body{font:14px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:980px;color:#1d2430;padding:0 1rem}
h1{font-size:1.5rem;margin-bottom:.2rem}h2{font-size:1.15rem;margin-top:2rem;border-bottom:1px solid #dde2ea}
.meta{color:#5b6678}table{border-collapse:collapse;margin:.5rem 0}td,th{padding:.25rem .7rem;text-align:right}
th{background:#f1f4f8}td:first-child,th:first-child{text-align:left}tr:nth-child(even) td{background:#fafbfc}
.chart{width:100%;height:auto;background:#fff;border:1px solid #e3e7ee;margin:.6rem 0}
.chart .title{font-weight:600;font-size:14px}.chart .tick,.chart .legend{font-size:11px;fill:#4a5568}
.chart .grid{stroke:#e8ecf2}.chart polyline{fill:none;stroke-width:2}.bar{fill:#3b7dd8}
.s0{stroke:#d9480f;fill:#d9480f}.s1{stroke:#f59f00;fill:#f59f00}.s2{stroke:#2b8a3e;fill:#2b8a3e}.s3{stroke:#1c7ed6;fill:#1c7ed6}
polyline.s0,polyline.s1,polyline.s2,polyline.s3{fill:none}.warn{color:#a61e4d}footer{margin-top:3rem;color:#8a94a6;font-size:12px}
)";

}  // namespace

std::string html_escape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string render_html_report(const SnapshotFile& f) {
  std::string out;
  auto o = std::back_inserter(out);
  const json* fin = f.final_snapshot();
  const json& last = fin ? *fin : f.snapshots.back();
  const json& t = sub(last, "totals");
  const json& st = sub(sub(last, "process"), "status");
  const json& sr = sub(sub(last, "process"), "smaps_rollup");
  const std::string exe = program_label(last);
  const std::uint64_t pid = whole(num(last, "pid"));

  fmt::format_to(o, "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                    "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
                    "<title>fragscope report: {} (pid {})</title><style>{}</style></head><body>\n",
                 html_escape(exe), pid, kStyle);
  fmt::format_to(o, "<h1>fragscope report</h1><p class=\"meta\">{} (pid {}) · {} snapshot{} over {}{}</p>\n",
                 html_escape(exe), pid, f.snapshots.size(), f.snapshots.size() == 1 ? "" : "s",
                 html_escape(human_ns(num_or_nan(last, "uptime_ns"))),
                 fin ? "" : " · <span class=\"warn\">no final snapshot (killed, or still running)</span>");

  // What to do: the verdict (advise.hpp), first, as in `fragscope advise`.
  {
    const AdviseResult v = advise(f, str(last, "argv0").empty() ? str(last, "exe", "CMD") : str(last, "argv0"));
    out += "<section id=\"what-to-do\"><h2>What to do</h2>\n";
    fmt::format_to(o, "<p class=\"meta\">Judged: {}</p><p class=\"meta\">{}<br>{}</p>\n", html_escape(v.moment.why),
                   html_escape(v.heap_line), html_escape(v.trend));
    for (const auto& g : v.partial) fmt::format_to(o, "<p class=\"warn\"><b>Partial picture:</b> {}</p>\n", html_escape(g));
    if (v.findings.empty())
      out += "<p><b>Nothing to fix</b>: none of the mechanisms below holds at the judged snapshot.</p>\n";
    out += "<ol class=\"findings\">\n";
    for (const auto& x : v.findings) {
      fmt::format_to(o, "<li data-kind=\"{}\"><b>[{}] {}</b>", html_escape(x.kind), html_escape(x.kind), html_escape(x.title));
      if (x.recover_bytes > 0)
        fmt::format_to(o, "<br>would recover ~{} <span class=\"meta\">({})</span>", html_escape(human_bytes(x.recover_bytes)),
                       html_escape(x.estimate));
      out += "<ul>";
      for (const auto& e : x.evidence) fmt::format_to(o, "<li class=\"meta\">{}</li>", html_escape(e));
      for (const auto& r : x.remedy) fmt::format_to(o, "<li>{}</li>", html_escape(r));
      if (!x.command.empty()) fmt::format_to(o, "<li>try it without relinking: <code>{}</code></li>", html_escape(x.command));
      out += "</ul></li>\n";
    }
    out += "</ol>\n<h3>What the allocator says</h3><ul>\n";
    for (const auto& a : v.allocator_says) fmt::format_to(o, "<li>{}</li>\n", html_escape(a));
    out += "</ul>\n<details><summary>Checked and found fine</summary><ul>\n";
    for (const auto& c : v.checked) fmt::format_to(o, "<li>{}</li>\n", html_escape(c));
    for (const auto& n : v.not_assessed) fmt::format_to(o, "<li>not assessed: {}</li>\n", html_escape(n));
    out += "</ul></details></section>\n";
  }

  // Summary.
  double live = num_or_nan(t, "live_requested"), anon = num_or_nan(st, "rss_anon");
  out += "<section id=\"summary\"><h2>Summary</h2><table>\n";
  auto row = [&](const char* name, const std::string& value, const char* source) {
    fmt::format_to(o, "<tr><td>{}</td><td>{}</td><td class=\"meta\">{}</td></tr>\n", name, html_escape(value), source);
  };
  // Sampled mode: which figures are estimates, and their standard errors.
  const bool sampled = str(last, "mode") == "sampled";
  if (sampled)
    row("mode", fmt::format("sampled: one {} address region in {}; ≈ marks an estimate (± one standard error); "
                            "allocation counts by size class are exact",
                            bytes_or_dash(num_or_nan(sub(last, "sampling"), "region_bytes")),
                            num_or_nan(sub(last, "sampling"), "one_in")),
        "shim");
  const char* est = sampled ? "≈" : "";
  row("live requested (R)", est + bytes_or_dash(live), "shim: live table");
  row("live blocks (N)", fmt::format("{}{:.0f}", est, num_or_nan(t, "live_blocks")), "shim: live table");
  row("live usable (U)", bytes_or_dash(num_or_nan(t, "live_usable")), "shim: malloc_usable_size");
  row("internal_frag (U − R)",
      fmt::format("{} ({:.1f}%)", bytes_or_dash(num_or_nan(t, "internal_frag")), 100 * num_or_nan(t, "internal_frag_ratio")), "shim");
  row("peak live requested", bytes_or_dash(num_or_nan(t, "peak_live_requested")), "shim");
  row("allocations / frees", fmt::format("{:.0f} / {:.0f}", num_or_nan(t, "allocs"), num_or_nan(t, "frees")), "shim");
  row("VmRSS (VmHWM)", fmt::format("{} ({})", bytes_or_dash(num_or_nan(st, "vm_rss")), bytes_or_dash(num_or_nan(st, "vm_hwm"))),
      "/proc/self/status");
  row("RssAnon", bytes_or_dash(anon), "/proc/self/status");
  row("VmSwap", bytes_or_dash(num_or_nan(st, "vm_swap")), "/proc/self/status");
  row("PSS / USS", fmt::format("{} / {}", bytes_or_dash(num_or_nan(sr, "pss")), bytes_or_dash(num_or_nan(sr, "uss"))),
      "/proc/self/smaps_rollup");
  if (live > 0 && std::isfinite(anon))
    row("RssAnon / live requested", fmt::format("{:.2f}×", anon / live), "both");
  const json& ov = sub(last, "overhead");
  row("fragscope live table", fmt::format("{} ({:.1f} B per live block)", bytes_or_dash(num_or_nan(ov, "live_table_bytes")),
                                          num_or_nan(ov, "bytes_per_live_block")),
      "shim");
  out += "</table></section>\n";

  // Memory over time.
  std::vector<double> x;
  std::vector<Series> series{{"VmRSS", {}}, {"RssAnon", {}}, {"heap_rss", {}}, {"live requested", {}}};
  for (const auto& s : f.snapshots) {
    x.push_back(num_or_nan(s, "uptime_ns") / 1e9);
    const json& sst = sub(sub(s, "process"), "status");
    const json& stt = sub(s, "totals");
    series[0].y.push_back(num_or_nan(sst, "vm_rss"));
    series[1].y.push_back(num_or_nan(sst, "rss_anon"));
    series[2].y.push_back(num_or_nan(sub(s, "heap"), "heap_rss"));
    series[3].y.push_back(num_or_nan(stt, "live_requested"));
  }
  out += "<section id=\"over-time\"><h2>Memory over time</h2>\n";
  out += svg_line_chart("RSS against live data", x, series);
  out += "<p class=\"meta\">When RSS climbs while the live data stays flat, freed memory is held resident: "
         "fragmentation, or memory the allocator does not return.</p></section>\n";

  // Heap layout.
  const json& h = sub(last, "heap");
  if (h.contains("heap_rss")) {
    out += "<section id=\"heap\"><h2>Heap pages and holes</h2><table>\n";
    const json& se = sub(sub(h, "estimate"), "se");
    auto pm = [&](const char* k, bool bytes) {
      if (!se.contains(k)) return std::string();
      return " ± " + (bytes ? bytes_or_dash(num_or_nan(se, k)) : fmt::format("{:.0f}", num_or_nan(se, k)));
    };
    // heap_rss is read whole in sampled mode too (its stated error 0); older snapshots estimated it.
    const bool rss_est = sampled && num_or_nan(se, "heap_rss") > 0;
    row("heap_rss", (rss_est ? est : std::string()) + bytes_or_dash(num_or_nan(h, "heap_rss")) + (rss_est ? pm("heap_rss", true) : std::string()),
        "live table + maps + mincore");
    row("rss_over_live", fmt::format("{}{:.2f}×", est, num_or_nan(h, "rss_over_live")), "both");
    row("free_resident", est + bytes_or_dash(num_or_nan(h, "free_resident")) + pm("free_resident", true), "both");
    row("empty / pinned resident pages",
        fmt::format("{}{:.0f}{} / {}{:.0f}{}", est, num_or_nan(h, "empty_resident_pages"), pm("empty_resident_pages", false),
                    est, num_or_nan(h, "pinned_pages"), pm("pinned_pages", false)),
        "shim + mincore");
    const json& holes = sub(h, "holes");
    row("holes", fmt::format("{:.0f}, {} ({} resident), largest {}", num_or_nan(holes, "count"), bytes_or_dash(num_or_nan(holes, "total")),
                             bytes_or_dash(num_or_nan(holes, "resident")), bytes_or_dash(num_or_nan(holes, "largest"))),
        "shim");
    row("ext_frag", fmt::format("{:.3f}", num_or_nan(h, "ext_frag")), "shim");
    out += "</table>\n";
    std::vector<Bar> occ;
    const char* labels[] = {"0", "≤1/8", "≤2/8", "≤3/8", "≤4/8", "≤5/8", "≤6/8", "≤7/8", "≤1"};
    const json& occupancy = arr(h, "page_occupancy");
    for (unsigned i = 0; i < occupancy.size() && i < 9; ++i) occ.push_back({labels[i], num_at(occupancy, i)});
    out += svg_bar_chart("Resident heap pages by live bytes on the page", occ, false);
    std::vector<Bar> hb;
    for (const auto& b : arr(sub(h, "holes"), "hist")) hb.push_back({"≥ " + human_bytes(num_at(b, 0)), num_at(b, 1)});
    out += svg_bar_chart("Holes between live blocks by size", hb, false);
    out += "<table><tr><th>top-pinning block</th><th>age</th><th>segment</th><th>free below it</th><th>resident</th></tr>\n";
    for (const auto& p : arr(h, "top_pinned_by"))
      fmt::format_to(o, "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n", human_bytes(num_or_nan(p, "size")),
                     html_escape(human_ns(num_or_nan(p, "age_ns"))), human_bytes(num_or_nan(p, "segment_end") - num_or_nan(p, "segment_start")),
                     human_bytes(num_or_nan(p, "free_below")), human_bytes(num_or_nan(p, "free_below_resident")));
    out += "</table><p class=\"meta\">Pinned pages hold under a quarter of a page of live data; a trim cannot "
           "return them, and the holes below a segment's top block stay mapped until that block goes.</p></section>\n";
  }

  // Size classes.
  std::vector<const json*> classes;
  for (const auto& c : arr(last, "size_classes")) classes.push_back(&c);
  std::vector<const json*> by_live;
  for (const json* c : classes)
    if (num_or_nan(*c, "live_requested") > 0) by_live.push_back(c);
  std::sort(by_live.begin(), by_live.end(),
            [](const json* a, const json* b) { return num_or_nan(*a, "live_requested") > num_or_nan(*b, "live_requested"); });
  if (by_live.size() > 16) by_live.resize(16);
  std::sort(by_live.begin(), by_live.end(), [](const json* a, const json* b) { return num(*a, "class") < num(*b, "class"); });
  std::vector<Bar> bars;
  for (const json* c : by_live) bars.push_back({class_label(*c), num_or_nan(*c, "live_requested")});
  out += "<section id=\"size-classes\"><h2>Size classes</h2>\n";
  out += svg_bar_chart("Live bytes by size class (the 16 largest)", bars, true);
  out += "<table><tr><th>class</th><th>live blocks</th><th>live bytes</th><th>live usable</th><th>allocs</th>"
         "<th>frees</th><th>peak live</th></tr>\n";
  for (const json* c : by_live)
    fmt::format_to(o, "<tr><td>{}</td><td>{:.0f}</td><td>{}</td><td>{}</td><td>{:.0f}</td><td>{:.0f}</td><td>{}</td></tr>\n",
                   html_escape(class_label(*c)), num_or_nan(*c, "live_blocks"), human_bytes(num_or_nan(*c, "live_requested")),
                   human_bytes(num_or_nan(*c, "live_usable")), num_or_nan(*c, "allocs"), num_or_nan(*c, "frees"),
                   human_bytes(num_or_nan(*c, "peak_live_requested")));
  out += "</table></section>\n";

  // Lifetimes, all classes together.
  std::map<double, double> freed, ages;
  for (const auto& l : arr(sub(last, "lifetimes"), "by_class")) {
    for (const auto& b : arr(l, "freed")) freed[num_at(b, 0)] += num_at(b, 1);
    for (const auto& b : arr(l, "live_age")) ages[num_at(b, 0)] += num_at(b, 1);
  }
  auto hist_bars = [](const std::map<double, double>& h) {
    std::vector<Bar> b;
    for (const auto& [lo, n] : h) b.push_back({"≥ " + human_ns(lo), n});
    return b;
  };
  out += "<section id=\"lifetimes\"><h2>Lifetimes</h2>\n";
  out += svg_bar_chart("Lifetimes of freed blocks (log2 buckets)", hist_bars(freed), false);
  out += svg_bar_chart("Ages of live blocks at the last snapshot (log2 buckets)", hist_bars(ages), false);
  out += "<p class=\"meta\">Long-lived blocks allocated among short-lived ones of the same sizes keep pages "
         "resident after the short-lived ones are freed.</p></section>\n";

  // Call sites.
  const auto sites = named_sites(last);
  if (!sites.empty()) {
    std::vector<const NamedSite*> by_live;
    for (const auto& ns : sites) by_live.push_back(&ns);
    std::sort(by_live.begin(), by_live.end(), [](auto* a, auto* b) { return a->live_bytes > b->live_bytes; });
    fmt::format_to(o, "<section id=\"sites\"><h2>Call sites</h2><p class=\"meta\">Sampled every {} on average: "
                      "estimates.</p><table><tr><th>allocated at</th><th>live bytes</th><th>live blocks</th>"
                      "<th>frees</th><th>pinned bytes</th></tr>\n",
                   html_escape(human_bytes(num_or_nan(sub(last, "sites"), "sample_bytes"))));
    for (std::size_t i = 0; i < by_live.size() && i < 12; ++i) {
      const NamedSite& ns = *by_live[i];
      fmt::format_to(o, "<tr><td>{}</td><td>{}</td><td>{:.0f}</td><td>{:.0f}</td><td>{}</td></tr>\n",
                     html_escape(ns.origin() ? ns.origin()->label() : "?"), human_bytes(ns.live_bytes), ns.live_blocks,
                     ns.frees, human_bytes(ns.pinned_bytes));
    }
    out += "</table>\n";
    out += flame_graph_html(last, sites);
    out += "</section>\n";
  }

  // Request sizes and notes.
  // The system: the kernel's view of free memory, at the latest snapshot, and its events.
  if (const json& sys = sub(f.snapshots.back(), "system"); sys.contains("meminfo")) {
    const json& mi = sub(sys, "meminfo");
    out += "<section id=\"system\"><h2>System</h2><table>\n";
    auto srow = [&](const std::string& name, const std::string& value, const char* source) {
      fmt::format_to(o, "<tr><td>{}</td><td>{}</td><td class=\"meta\">{}</td></tr>\n", html_escape(name), html_escape(value), source);
    };
    srow("MemAvailable / MemTotal", fmt::format("{} / {}", bytes_or_dash(num_or_nan(mi, "mem_available")),
                                                bytes_or_dash(num_or_nan(mi, "mem_total"))), "/proc/meminfo");
    srow("Slab (unreclaimable)", fmt::format("{} ({})", bytes_or_dash(num_or_nan(mi, "slab")), bytes_or_dash(num_or_nan(mi, "s_unreclaim"))),
         "/proc/meminfo");
    for (const auto& z : arr(sys, "buddyinfo"))
      srow(fmt::format("node {} {}: order 9 (2 MiB) unusable free space / fragmentation index", whole(num(z, "node")),
                       str(z, "zone", "?")),
           fmt::format("{:.3f} / {:.3f}", num_at(arr(z, "unusable_index"), 9) / 1000, num_at(arr(z, "fragmentation_index"), 9, -1000) / 1000),
           "/proc/buddyinfo, mm/vmstat.c's formulas");
    const json& v0 = sub(sub(f.snapshots.front(), "system"), "vmstat");
    const json& v1 = sub(sys, "vmstat");
    auto delta = [&](const char* k) { return fmt::format("{:.0f}", num(v1, k) - num(v0, k)); };
    srow("during the run: compaction stalls / failures", delta("compact_stall") + " / " + delta("compact_fail"), "/proc/vmstat deltas");
    srow("during the run: THP fault fallbacks / allocation stalls", delta("thp_fault_fallback") + " / " + delta("allocstall"),
         "/proc/vmstat deltas");
    out += "</table><p class=\"meta\">The unusable index alone is not a problem: a kernel finding needs the fragmentation "
           "index (≥ 0.5: allocations of that order fail for fragmentation), compaction stalls or THP fallbacks.</p></section>\n";
  }

  out += "<section id=\"top-sizes\"><h2>Most frequent request sizes</h2><table><tr><th>size</th><th>allocations</th></tr>\n";
  for (const auto& s : arr(last, "top_sizes"))
    fmt::format_to(o, "<tr><td>{} B</td><td>{}</td></tr>\n", whole(num(s, "size")), whole(num(s, "allocs")));
  out += "</table></section>\n";
  if (!f.errors.empty() || !arr(last, "warnings").empty()) {
    out += "<section id=\"notes\"><h2>Notes</h2><ul>\n";
    for (const auto& w : arr(last, "warnings")) fmt::format_to(o, "<li class=\"warn\">{}</li>\n", html_escape(w.is_string() ? w.get<std::string>() : w.dump()));
    for (const auto& e : f.errors)
      fmt::format_to(o, "<li class=\"warn\">{} line {}: {} (skipped)</li>\n", html_escape(f.path), e.line, html_escape(e.message));
    out += "</ul></section>\n";
  }
  fmt::format_to(o, "<footer>fragscope · snapshot schema {} · {}</footer>\n</body></html>\n", whole(num(last, "version")),
                 html_escape(f.path));
  return out;
}

}  // namespace fragscope::report
