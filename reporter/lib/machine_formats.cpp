// `fragscope report --format json|prom` (see machine_formats.hpp).
#include "machine_formats.hpp"

#include <fmt/format.h>

#include "json_access.hpp"

namespace fragscope::report {

using nlohmann::json;

namespace {
const json& last_of(const SnapshotFile& f) { return f.final_snapshot() ? *f.final_snapshot() : f.snapshots.back(); }
}  // namespace

json render_report_json(const SnapshotFile& f) {
  const json& last = last_of(f);
  json out = {{"schema", "fragscope.report"}, {"version", 1}, {"file", f.path},
              {"exe", last.value("exe", "")}, {"pid", last.value("pid", 0)}, {"snapshots", f.snapshots.size()},
              {"complete", f.final_snapshot() != nullptr}, {"over_time", json::array()}, {"skipped_lines", json::array()}};
  for (const auto& s : f.snapshots) {
    out["over_time"].push_back({{"uptime_ns", num(s, "uptime_ns")},
                                {"live_requested", num(sub(s, "totals"), "live_requested")},
                                {"live_blocks", num(sub(s, "totals"), "live_blocks")},
                                {"heap_rss", num(sub(s, "heap"), "heap_rss")},
                                {"rss_over_live", num(sub(s, "heap"), "rss_over_live")},
                                {"pinned_pages", num(sub(s, "heap"), "pinned_pages")},
                                {"vm_rss", num(sub(sub(s, "process"), "status"), "vm_rss")},
                                {"rss_anon", num(sub(sub(s, "process"), "status"), "rss_anon")}});
  }
  for (const auto& e : f.errors) out["skipped_lines"].push_back({{"line", e.line}, {"message", e.message}});
  out["last"] = last;
  return out;
}

std::string render_prometheus(const SnapshotFile& f) {
  const json& s = last_of(f);
  std::string out;
  auto o = std::back_inserter(out);
  std::string exe = s.value("exe", "");
  if (auto slash = exe.rfind('/'); slash != std::string::npos) exe = exe.substr(slash + 1);
  std::string escaped;
  for (char c : exe) {
    if (c == '\\' || c == '"') escaped += '\\', escaped += c;
    else if (c == '\n') escaped += "\\n";
    else escaped += c;
  }
  const std::string labels = fmt::format("{{pid=\"{}\",exe=\"{}\"", s.value("pid", 0), escaped);
  auto metric = [&](const char* name, const char* type, const char* help, double v) {
    fmt::format_to(o, "# HELP fragscope_{} {}\n# TYPE fragscope_{} {}\nfragscope_{}{}}} {:.17g}\n", name, help, name, type,
                   name, labels, v);
  };
  const json& t = sub(s, "totals");
  metric("live_requested_bytes", "gauge", "Requested bytes of live heap blocks (R).", num(t, "live_requested"));
  metric("live_usable_bytes", "gauge", "Usable bytes of live heap blocks (U, malloc_usable_size).", num(t, "live_usable"));
  metric("live_blocks", "gauge", "Live heap blocks (N).", num(t, "live_blocks"));
  metric("peak_live_requested_bytes", "gauge", "Most requested bytes live at once so far.", num(t, "peak_live_requested"));
  metric("allocations_total", "counter", "Heap blocks allocated since the process started.", num(t, "allocs"));
  metric("frees_total", "counter", "Heap blocks freed since the process started.", num(t, "frees"));
  const json& h = sub(s, "heap");
  if (h.contains("heap_rss")) {
    const json& holes = sub(h, "holes");
    metric("heap_rss_bytes", "gauge", "Resident bytes of the heap mappings (segments holding live blocks).", num(h, "heap_rss"));
    metric("rss_over_live_ratio", "gauge", "heap_rss / live requested bytes.", num(h, "rss_over_live"));
    metric("free_resident_bytes", "gauge", "heap_rss minus live usable bytes: free memory the kernel keeps resident.",
           num(h, "free_resident"));
    metric("heap_pinned_pages", "gauge", "Resident heap pages with less than a quarter of live bytes.", num(h, "pinned_pages"));
    metric("heap_empty_resident_pages", "gauge", "Resident heap pages without a live byte.", num(h, "empty_resident_pages"));
    metric("heap_holes_bytes", "gauge", "Bytes of the gaps between live blocks in heap mappings.", num(holes, "total"));
    metric("heap_largest_hole_bytes", "gauge", "The largest gap between live blocks.", num(holes, "largest"));
    metric("heap_ext_frag_ratio", "gauge", "1 - largest hole / hole bytes.", num(h, "ext_frag"));
    metric("heap_segments", "gauge", "Heap mappings holding live blocks.", num(h, "segments"));
  }
  const json& st = sub(sub(s, "process"), "status");
  if (st.contains("vm_rss")) metric("process_rss_bytes", "gauge", "VmRSS of the process (/proc/self/status).", num(st, "vm_rss"));
  if (st.contains("vm_hwm")) metric("process_rss_peak_bytes", "gauge", "VmHWM of the process.", num(st, "vm_hwm"));
  if (st.contains("rss_anon")) metric("process_rss_anon_bytes", "gauge", "RssAnon of the process.", num(st, "rss_anon"));
  if (st.contains("vm_swap")) metric("process_swap_bytes", "gauge", "VmSwap of the process.", num(st, "vm_swap"));
  const json& r = sub(sub(s, "process"), "smaps_rollup");
  if (r.contains("pss")) metric("process_pss_bytes", "gauge", "Pss of the process (/proc/self/smaps_rollup).", num(r, "pss"));
  if (r.contains("uss")) metric("process_uss_bytes", "gauge", "Private_Clean + Private_Dirty of the process.", num(r, "uss"));
  const json& sys = sub(s, "system");
  if (sub(sys, "meminfo").contains("mem_available"))
    metric("system_mem_available_bytes", "gauge", "MemAvailable (/proc/meminfo).", num(sub(sys, "meminfo"), "mem_available"));
  const json& buddy = arr(sys, "buddyinfo");
  if (!buddy.empty()) {
    fmt::format_to(o, "# HELP fragscope_system_unusable_free_index_ratio Share of a zone's free memory unusable for an "
                      "allocation of 2^order pages (mm/vmstat.c).\n# TYPE fragscope_system_unusable_free_index_ratio gauge\n");
    for (const auto& z : buddy) {
      const json& ui = arr(z, "unusable_index");
      for (std::size_t k = 0; k < ui.size(); ++k)
        fmt::format_to(o, "fragscope_system_unusable_free_index_ratio{},node=\"{}\",zone=\"{}\",order=\"{}\"}} {:.3f}\n", labels,
                       z.value("node", 0), z.value("zone", ""), k, ui[k].get<double>() / 1000.0);
    }
  }
  const json& vm = sub(sys, "vmstat");
  if (vm.contains("compact_stall"))
    metric("system_compact_stalls_total", "counter", "Direct compaction stalls since boot (/proc/vmstat).", num(vm, "compact_stall"));
  if (vm.contains("thp_fault_fallback"))
    metric("system_thp_fault_fallbacks_total", "counter", "Huge page faults that fell back to small pages.",
           num(vm, "thp_fault_fallback"));
  if (vm.contains("allocstall"))
    metric("system_allocation_stalls_total", "counter", "Direct reclaim stalls (allocstall_*).", num(vm, "allocstall"));
  return out;
}

}  // namespace fragscope::report
