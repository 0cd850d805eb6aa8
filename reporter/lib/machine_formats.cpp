// `fragscope report --format json|prom` (see machine_formats.hpp).
#include "machine_formats.hpp"

#include <fmt/format.h>

#include "json_access.hpp"
#include "metric_families.hpp"

namespace fragscope::report {

using nlohmann::json;

namespace {
const json& last_of(const SnapshotFile& f) { return f.final_snapshot() ? *f.final_snapshot() : f.snapshots.back(); }

// A label value of the exposition format: backslash, double quote and newline escaped.
std::string label_value(const std::string& v) {
  std::string escaped;
  for (char c : v) {
    if (c == '\\' || c == '"') escaped += '\\', escaped += c;
    else if (c == '\n') escaped += "\\n";
    else escaped += c;
  }
  return escaped;
}
}  // namespace

json render_report_json(const SnapshotFile& f) {
  const json& last = last_of(f);
  json out = {{"schema", "fragscope.report"}, {"version", 1}, {"file", f.path},
              {"exe", str(last, "exe")}, {"pid", whole(num(last, "pid"))}, {"snapshots", f.snapshots.size()},
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
  std::string exe = str(s, "argv0");  // the name it was started by, else the executable (symlinks resolved)
  if (exe.empty()) exe = str(s, "exe");
  if (auto slash = exe.rfind('/'); slash != std::string::npos) exe = exe.substr(slash + 1);
  const std::string labels = fmt::format("{{pid=\"{}\",exe=\"{}\"", whole(num(s, "pid")), label_value(exe));
  auto family = [&](const char* name) {
    const proc::MetricFamily& f = proc::metric_family(name);
    fmt::format_to(o, "# HELP fragscope_{} {}\n# TYPE fragscope_{} {}\n", name, f.help, name, f.type);
  };
  auto metric = [&](const char* name, double v) {
    family(name);
    fmt::format_to(o, "fragscope_{}{}}} {:.17g}\n", name, labels, v);
  };
  const json& t = sub(s, "totals");
  metric("live_requested_bytes", num(t, "live_requested"));
  metric("live_usable_bytes", num(t, "live_usable"));
  metric("live_blocks", num(t, "live_blocks"));
  metric("peak_live_requested_bytes", num(t, "peak_live_requested"));
  metric("allocations_total", num(t, "allocs"));
  metric("frees_total", num(t, "frees"));
  const json& h = sub(s, "heap");
  if (h.contains("heap_rss")) {
    const json& holes = sub(h, "holes");
    metric("heap_rss_bytes", num(h, "heap_rss"));
    metric("rss_over_live_ratio", num(h, "rss_over_live"));
    metric("free_resident_bytes", num(h, "free_resident"));
    metric("heap_pinned_pages", num(h, "pinned_pages"));
    metric("heap_empty_resident_pages", num(h, "empty_resident_pages"));
    metric("heap_holes_bytes", num(holes, "total"));
    metric("heap_largest_hole_bytes", num(holes, "largest"));
    metric("heap_ext_frag_ratio", num(h, "ext_frag"));
    metric("heap_segments", num(h, "segments"));
    if (h.contains("estimate")) {
      // Sampled mode, as the shim exposes it (shim/core/prometheus.cpp).
      const json& e = sub(h, "estimate");
      const json& se = sub(e, "se");
      metric("sampled_region_fraction", num(e, "fraction"));
      family("estimate_stderr");
      const std::pair<const char*, const char*> figures[] = {{"heap_rss_bytes", "heap_rss"},
                                                             {"free_resident_bytes", "free_resident"},
                                                             {"heap_pinned_pages", "pinned_pages"},
                                                             {"heap_empty_resident_pages", "empty_resident_pages"},
                                                             {"heap_holes_bytes", "hole_bytes"}};
      for (const auto& [name, key] : figures)
        fmt::format_to(o, "fragscope_estimate_stderr{},metric=\"fragscope_{}\"}} {:.17g}\n", labels, name, num(se, key));
    }
  }
  const json& st = sub(sub(s, "process"), "status");
  if (st.contains("vm_rss")) metric("process_rss_bytes", num(st, "vm_rss"));
  if (st.contains("vm_hwm")) metric("process_rss_peak_bytes", num(st, "vm_hwm"));
  if (st.contains("rss_anon")) metric("process_rss_anon_bytes", num(st, "rss_anon"));
  if (st.contains("vm_swap")) metric("process_swap_bytes", num(st, "vm_swap"));
  const json& r = sub(sub(s, "process"), "smaps_rollup");
  if (r.contains("pss")) metric("process_pss_bytes", num(r, "pss"));
  if (r.contains("uss")) metric("process_uss_bytes", num(r, "uss"));
  const json& sys = sub(s, "system");
  if (sub(sys, "meminfo").contains("mem_available"))
    metric("system_mem_available_bytes", num(sub(sys, "meminfo"), "mem_available"));
  const json& buddy = arr(sys, "buddyinfo");
  if (!buddy.empty()) {
    family("system_unusable_free_index_ratio");
    for (const auto& z : buddy) {
      const json& ui = arr(z, "unusable_index");
      for (std::size_t k = 0; k < ui.size(); ++k)
        fmt::format_to(o, "fragscope_system_unusable_free_index_ratio{},node=\"{}\",zone=\"{}\",order=\"{}\"}} {:.3f}\n", labels,
                       whole(num(z, "node")), label_value(str(z, "zone")), k, num_at(ui, k) / 1000.0);
    }
  }
  // The allocator's own figures, as the shim exposes them (core::AllocatorFigures).
  const json& al = sub(s, "allocator");
  const json& nat = sub(al, "native");
  const std::string aname = str(al, "name", "unknown");
  auto alloc_metric = [&](const char* name, double v) {
    family(name);
    fmt::format_to(o, "fragscope_{}{},allocator=\"{}\"}} {:.17g}\n", name, labels, label_value(aname), v);
  };
  if (aname == "glibc" && nat.contains("uordblks")) {
    alloc_metric("allocator_in_use_bytes", num(nat, "uordblks") + num(nat, "hblkhd"));
    alloc_metric("allocator_free_bytes", num(nat, "fordblks"));
    if (sub(nat, "malloc_info").contains("arenas")) alloc_metric("allocator_arenas", num(sub(nat, "malloc_info"), "arenas"));
  } else if (aname == "jemalloc" && nat.contains("allocated")) {
    alloc_metric("allocator_in_use_bytes", num(nat, "allocated"));
    if (nat.contains("resident") && nat.contains("metadata"))
      alloc_metric("allocator_free_bytes", num(nat, "resident") - num(nat, "allocated") - num(nat, "metadata"));
    double used = 0, regs = 0;
    for (const auto& b : arr(nat, "bins")) used += num(b, "curregs"), regs += num(b, "curslabs") * num(b, "nregs");
    if (regs > 0) alloc_metric("allocator_bin_utilization_ratio", used / regs);
  } else if (aname == "tcmalloc" && nat.contains("generic.current_allocated_bytes")) {
    alloc_metric("allocator_in_use_bytes", num(nat, "generic.current_allocated_bytes"));
    if (nat.contains("generic.heap_size") && nat.contains("tcmalloc.pageheap_unmapped_bytes"))
      alloc_metric("allocator_free_bytes", num(nat, "generic.heap_size") - num(nat, "tcmalloc.pageheap_unmapped_bytes") -
                                               num(nat, "generic.current_allocated_bytes"));
  }
  const json& vm = sub(sys, "vmstat");
  if (vm.contains("compact_stall"))
    metric("system_compact_stalls_total", num(vm, "compact_stall"));
  if (vm.contains("thp_fault_fallback"))
    metric("system_thp_fault_fallbacks_total", num(vm, "thp_fault_fallback"));
  if (vm.contains("allocstall"))
    metric("system_allocation_stalls_total", num(vm, "allocstall"));
  return out;
}

}  // namespace fragscope::report
