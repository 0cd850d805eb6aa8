// `fragscope compare`: figures, summaries and renderings (see compare.hpp).
#include "compare.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>

#include "html_report.hpp"
#include "json_access.hpp"
#include "svg_chart.hpp"

namespace fragscope::report {

using nlohmann::json;

const std::vector<AllocatorSpec>& known_allocators() {
  static const std::vector<AllocatorSpec> all = {
      {"glibc", "", "libc6"},
      {"jemalloc", "libjemalloc.so.2", "libjemalloc2"},
      {"tcmalloc", "libtcmalloc_minimal.so.4", "libtcmalloc-minimal4"},
      {"mimalloc", "libmimalloc.so.2", "libmimalloc2.0"},
      {"pools", "", "(fragscope: FRAGSCOPE_POOL_SIZES)"},
      {"trim", "", "(fragscope: FRAGSCOPE_TRIM)"},
  };
  return all;
}

std::optional<AllocatorSpec> find_allocator(const std::string& name) {
  for (const auto& a : known_allocators())
    if (a.name == name) return a;
  return std::nullopt;
}

std::string locate_library(const AllocatorSpec& spec, const std::vector<std::string>& dirs) {
  std::error_code ec;
  for (const auto& d : dirs) {
    auto p = std::filesystem::path(d) / spec.library;
    if (std::filesystem::is_regular_file(p, ec)) return p.string();
  }
  return {};
}

std::optional<HeapFigures> heap_figures(const SnapshotFile& file) {
  const json* pick = file.steady_snapshot(/*periodic_only=*/true);
  if (pick == nullptr) pick = file.final_snapshot();
  if (pick == nullptr || !sub(*pick, "heap").contains("heap_rss")) return std::nullopt;
  const json& h = sub(*pick, "heap");
  HeapFigures f;
  f.live_requested = num(sub(*pick, "totals"), "live_requested");
  f.heap_rss = num(h, "heap_rss");
  f.rss_over_live = num(h, "rss_over_live");
  f.pinned_pages = num(h, "pinned_pages");
  f.holes_bytes = num(sub(h, "holes"), "total");
  // Request sizes from the final snapshot: it counts the whole run.
  const json& counted = file.final_snapshot() ? *file.final_snapshot() : *pick;
  for (const auto& t : arr(counted, "top_sizes"))
    f.top_sizes.emplace_back(static_cast<std::size_t>(num(t, "size")), num(t, "allocs"));
  return f;
}

Summary summarize(std::vector<double> v) {
  Summary s;
  s.n = v.size();
  if (v.empty()) return s;
  std::sort(v.begin(), v.end());
  s.min = v.front();
  s.max = v.back();
  s.median = v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
  return s;
}

double steady_rss(const std::vector<double>& samples) {
  if (samples.empty()) return 0;
  return summarize(std::vector<double>(samples.begin() + static_cast<long>(samples.size() / 2), samples.end())).median;
}

std::string pool_sizes_from(const HeapFigures& figures, std::size_t max) {
  auto sizes = figures.top_sizes;
  std::stable_sort(sizes.begin(), sizes.end(), [](auto& a, auto& b) { return a.second > b.second; });
  std::vector<std::size_t> picked;
  for (const auto& [size, allocs] : sizes) {
    if (size == 0 || size > 4096) continue;
    const std::size_t rounded = (size + 15) / 16 * 16;
    if (std::find(picked.begin(), picked.end(), rounded) == picked.end()) picked.push_back(rounded);
    if (picked.size() == max) break;
  }
  std::sort(picked.begin(), picked.end());
  std::string out;
  for (std::size_t s : picked) out += (out.empty() ? "" : ",") + std::to_string(s);
  return out;
}

namespace {

struct Column {
  const char* title;
  const char* json_key;
  bool bytes;
  double (*get)(const RunResult&);  // NaN when the run has no such figure
};

const std::vector<Column>& columns() {
  static const std::vector<Column> c = {
      {"wall s", "wall_s", false, [](const RunResult& r) { return r.wall_s; }},
      {"CPU s", "cpu_s", false, [](const RunResult& r) { return r.cpu_s; }},
      {"peak RSS", "peak_rss_bytes", true, [](const RunResult& r) { return r.peak_rss; }},
      {"steady RSS", "steady_rss_bytes", true, [](const RunResult& r) { return r.steady_rss; }},
      {"rss/live", "rss_over_live", false,
       [](const RunResult& r) { return r.heap ? r.heap->rss_over_live : std::nan(""); }},
      {"pinned pages", "pinned_pages", false,
       [](const RunResult& r) { return r.heap ? r.heap->pinned_pages : std::nan(""); }},
      {"heap holes", "holes_bytes", true, [](const RunResult& r) { return r.heap ? r.heap->holes_bytes : std::nan(""); }},
  };
  return c;
}

Summary column_summary(const AllocatorResult& a, const Column& c) {
  std::vector<double> v;
  for (const auto& r : a.runs) {
    if (!r.ok()) continue;
    double x = c.get(r);
    if (!std::isnan(x)) v.push_back(x);
  }
  return summarize(v);
}

std::string fmt_value(double v, bool bytes) {
  if (bytes) {
    if (v >= 1024.0 * 1024 * 1024) return fmt::format("{:.2f} GiB", v / (1024.0 * 1024 * 1024));
    if (v >= 1024.0 * 1024) return fmt::format("{:.1f} MiB", v / (1024.0 * 1024));
    return fmt::format("{:.0f} KiB", v / 1024.0);
  }
  if (v >= 1000) return fmt::format("{:.0f}", v);
  return fmt::format("{:.3g}", v);
}

// "median ±spread%" (spread = (max − min) / median), "median" for one run, or "-".
std::string cell(const Summary& s, bool bytes) {
  if (s.n == 0) return "-";
  if (s.n == 1 || s.median == 0) return fmt_value(s.median, bytes);
  return fmt::format("{} ±{:.0f}%", fmt_value(s.median, bytes), 100 * (s.max - s.min) / s.median);
}

std::size_t ok_runs(const AllocatorResult& a) {
  return static_cast<std::size_t>(std::count_if(a.runs.begin(), a.runs.end(), [](auto& r) { return r.ok(); }));
}

}  // namespace

std::string render_compare_table(const std::vector<AllocatorResult>& results, const std::string& command) {
  std::string out;
  auto o = std::back_inserter(out);
  fmt::format_to(o, "fragscope compare: {}\n", command);
  fmt::format_to(o, "  medians over the successful runs, ±(max − min) / median; × = ratio of medians to {}\n\n",
                 results.empty() ? "-" : results.front().spec.name);
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> header = {"allocator", "runs"};
  for (const auto& c : columns()) header.push_back(c.title);
  header.push_back("× wall");
  header.push_back("× steady RSS");
  rows.push_back(header);
  const AllocatorResult* base = nullptr;
  for (const auto& a : results)
    if (a.skipped.empty() && ok_runs(a) > 0) {
      base = &a;
      break;
    }
  for (const auto& a : results) {
    if (!a.skipped.empty()) continue;
    std::vector<std::string> row = {a.spec.name, fmt::format("{}/{}", ok_runs(a), a.runs.size())};
    for (const auto& c : columns()) row.push_back(cell(column_summary(a, c), c.bytes));
    auto ratio = [&](const Column& c) -> std::string {
      if (base == nullptr) return "-";
      Summary mine = column_summary(a, c), theirs = column_summary(*base, c);
      if (mine.n == 0 || theirs.n == 0 || theirs.median == 0) return "-";
      return fmt::format("{:.2f}", mine.median / theirs.median);
    };
    row.push_back(ratio(columns()[0]));
    row.push_back(ratio(columns()[3]));
    rows.push_back(row);
  }
  std::vector<std::size_t> width(header.size(), 0);
  for (const auto& r : rows)
    for (std::size_t i = 0; i < r.size(); ++i) width[i] = std::max(width[i], r[i].size());
  for (const auto& r : rows) {
    fmt::format_to(o, " ");
    for (std::size_t i = 0; i < r.size(); ++i) {
      if (i == 0) fmt::format_to(o, " {:<{}}", r[i], width[i]);
      else fmt::format_to(o, "  {:>{}}", r[i], width[i]);
    }
    fmt::format_to(o, "\n");
  }
  for (const auto& a : results) {
    if (!a.skipped.empty()) {
      fmt::format_to(o, "  {}: skipped — {}\n", a.spec.name, a.skipped);
      continue;
    }
    if (!a.pool_sizes.empty()) fmt::format_to(o, "  {}: served sizes {} from pools\n", a.spec.name, a.pool_sizes);
    for (std::size_t i = 0; i < a.runs.size(); ++i) {
      const RunResult& r = a.runs[i];
      if (!r.ok())
        fmt::format_to(o, "  {}: run {} failed: {}\n", a.spec.name, i + 1,
                       r.error.empty() ? fmt::format("exit status {}", r.status) : r.error);
    }
  }
  fmt::format_to(o,
                 "\n  wall, CPU (user+system), peak RSS (the kernel's maxrss) and steady RSS (median of the\n"
                 "  second half of VmRSS samples) come from runs without fragscope's recording (pools, trim:\n"
                 "  the shim loaded with FRAGSCOPE_ENABLE=0, so only its pools, or its trim thread going by\n"
                 "  what glibc says it holds free, run); rss/live, pinned pages and\n"
                 "  heap holes from runs under libfragscope.so (its last snapshot at steady live data).\n");
  return out;
}

json compare_json(const std::vector<AllocatorResult>& results, const std::string& command) {
  json out = {{"schema", "fragscope.compare"}, {"version", 1}, {"command", command}, {"allocators", json::array()}};
  for (const auto& a : results) {
    json j = {{"name", a.spec.name}, {"package", a.spec.package}, {"library", a.library_path}};
    if (!a.skipped.empty()) {
      j["skipped"] = a.skipped;
      out["allocators"].push_back(j);
      continue;
    }
    if (!a.pool_sizes.empty()) j["pool_sizes"] = a.pool_sizes;
    j["runs"] = json::array();
    for (const auto& r : a.runs) {
      json jr = {{"status", r.status}, {"ok", r.ok()}, {"wall_s", r.wall_s}, {"cpu_s", r.cpu_s},
                 {"peak_rss_bytes", r.peak_rss}, {"steady_rss_bytes", r.steady_rss}};
      if (!r.error.empty()) jr["error"] = r.error;
      if (r.heap)
        jr["heap"] = {{"live_requested", r.heap->live_requested}, {"heap_rss", r.heap->heap_rss},
                      {"rss_over_live", r.heap->rss_over_live}, {"pinned_pages", r.heap->pinned_pages},
                      {"holes_bytes", r.heap->holes_bytes}};
      j["runs"].push_back(jr);
    }
    json med = json::object();
    for (const auto& c : columns()) {
      Summary s = column_summary(a, c);
      if (s.n) med[c.json_key] = {{"median", s.median}, {"min", s.min}, {"max", s.max}, {"n", s.n}};
    }
    j["summary"] = med;
    out["allocators"].push_back(j);
  }
  return out;
}

std::string render_compare_html(const std::vector<AllocatorResult>& results, const std::string& command) {
  std::string out;
  auto o = std::back_inserter(out);
  fmt::format_to(o,
                 "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>fragscope compare</title>"
                 "<style>body{{font:14px system-ui,sans-serif;margin:2em;max-width:70em}}table{{border-collapse:collapse}}"
                 "td,th{{padding:.3em .8em;border-bottom:1px solid #ddd;text-align:right}}td:first-child,th:first-child"
                 "{{text-align:left}}.chart{{display:inline-block;margin:1em}}svg text{{font-size:11px}}"
                 ".bar{{fill:#4a7ab0}}.axis{{stroke:#999}}</style></head><body>"
                 "<h1>fragscope compare</h1><p><code>{}</code></p><table><tr><th>allocator</th><th>runs</th>",
                 html_escape(command));
  for (const auto& c : columns()) fmt::format_to(o, "<th>{}</th>", html_escape(c.title));
  fmt::format_to(o, "</tr>");
  for (const auto& a : results) {
    if (!a.skipped.empty()) {
      fmt::format_to(o, "<tr><td>{}</td><td colspan=\"{}\">skipped: {}</td></tr>", html_escape(a.spec.name),
                     columns().size() + 1, html_escape(a.skipped));
      continue;
    }
    fmt::format_to(o, "<tr><td>{}</td><td>{}/{}</td>", html_escape(a.spec.name), ok_runs(a), a.runs.size());
    for (const auto& c : columns()) fmt::format_to(o, "<td>{}</td>", html_escape(cell(column_summary(a, c), c.bytes)));
    fmt::format_to(o, "</tr>");
  }
  fmt::format_to(o, "</table>");
  for (std::size_t ci : {0u, 3u, 4u}) {
    const Column& c = columns()[ci];
    std::vector<Bar> bars;
    for (const auto& a : results) {
      if (!a.skipped.empty()) continue;
      Summary s = column_summary(a, c);
      if (s.n) bars.push_back({a.spec.name, s.median});
    }
    if (!bars.empty()) fmt::format_to(o, "<div class=\"chart\">{}</div>", svg_bar_chart(c.title, bars, c.bytes));
  }
  fmt::format_to(o, "</body></html>\n");
  return out;
}

}  // namespace fragscope::report
