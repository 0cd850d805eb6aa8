// The Prometheus exposition of a snapshot (see prometheus.hpp).
#include "prometheus.hpp"

#include <cstdio>
#include <cstring>
#include <utility>

#include "metric_families.hpp"

namespace fragscope::core {
namespace {

// `{pid="1",exe="svc"` — without the closing brace, so that series can add labels.
struct Labels {
  char text[320];
};

Labels make_labels(const SnapshotMeta& m) {
  Labels l;
  // The program's name as it was started (argv[0]), else the executable: exe resolves symlinks.
  const char* name = m.argv0 != nullptr && m.argv0[0] != '\0' ? m.argv0 : m.exe;
  const char* base = std::strrchr(name, '/');
  base = base ? base + 1 : name;
  int n = std::snprintf(l.text, sizeof(l.text), "{pid=\"%ld\",exe=\"", m.pid);
  // Label values escape backslash, double quote and newline.
  for (const char* c = base; *c != '\0' && n < static_cast<int>(sizeof(l.text)) - 4; ++c) {
    if (*c == '\\' || *c == '"') l.text[n++] = '\\', l.text[n++] = *c;
    else if (*c == '\n') l.text[n++] = '\\', l.text[n++] = 'n';
    else l.text[n++] = *c;
  }
  l.text[n++] = '"';
  l.text[n] = '\0';
  return l;
}

void family(TextBuffer& out, const char* name) {
  const proc::MetricFamily& f = proc::metric_family(name);
  append_printf(out, "# HELP fragscope_%s %.*s\n# TYPE fragscope_%s %.*s\n", name, static_cast<int>(f.help.size()),
                f.help.data(), name, static_cast<int>(f.type.size()), f.type.data());
}

void sample(TextBuffer& out, const char* name, const Labels& l, double v) {
  append_printf(out, "fragscope_%s%s} %.17g\n", name, l.text, v);
}

void metric(TextBuffer& out, const char* name, const Labels& l, double v) {
  family(out, name);
  sample(out, name, l, v);
}

}  // namespace

void encode_prometheus(TextBuffer& out, const PrometheusInputs& in) noexcept {
  const SnapshotMeta& m = *in.meta;
  const SnapshotTotals& t = *in.totals;
  const Labels l = make_labels(m);
  const double live_req = static_cast<double>(t.table_requested);
  const double live_usable = static_cast<double>(t.usable_alloc - t.usable_free);
  metric(out, "live_requested_bytes", l, live_req);
  metric(out, "live_usable_bytes", l, live_usable);
  metric(out, "live_blocks", l, static_cast<double>(t.table_blocks));
  metric(out, "peak_live_requested_bytes", l,
         static_cast<double>(t.peak_requested));
  metric(out, "allocations_total", l,
         static_cast<double>(t.allocs));
  metric(out, "frees_total", l, static_cast<double>(t.frees));
  if (m.heap != nullptr) {
    const HeapLayout& h = *m.heap;
    const double rss = static_cast<double>(h.heap_rss(m.page_size));
    metric(out, "heap_rss_bytes", l, rss);
    metric(out, "rss_over_live_ratio", l, live_req > 0 ? rss / live_req : 0);
    metric(out, "free_resident_bytes", l, rss > live_usable ? rss - live_usable : 0);
    metric(out, "heap_pinned_pages", l,
           static_cast<double>(h.pinned_pages));
    metric(out, "heap_empty_resident_pages", l,
           static_cast<double>(h.empty_resident_pages));
    metric(out, "heap_holes_bytes", l,
           static_cast<double>(h.hole_bytes));
    metric(out, "heap_largest_hole_bytes", l,
           static_cast<double>(h.largest_hole));
    metric(out, "heap_ext_frag_ratio", l,
           h.hole_bytes ? 1.0 - static_cast<double>(h.largest_hole) / static_cast<double>(h.hole_bytes) : 0);
    metric(out, "heap_segments", l, static_cast<double>(h.segments));
    if (m.estimate != nullptr) {
      // Sampled mode: which series are estimates, and how far off they may be.
      const HeapEstimate& e = *m.estimate;
      metric(out, "sampled_region_fraction", l, e.fraction);
      family(out, "estimate_stderr");
      const double pg = static_cast<double>(m.page_size);
      const std::pair<const char*, double> se[] = {{"heap_rss_bytes", e.se_resident_pages * pg},
                                                   {"free_resident_bytes", e.se_free_resident},
                                                   {"heap_pinned_pages", e.se_pinned_pages},
                                                   {"heap_empty_resident_pages", e.se_empty_pages},
                                                   {"heap_holes_bytes", e.se_hole_bytes}};
      for (const auto& [name, v] : se) append_printf(out, "fragscope_estimate_stderr%s,metric=\"fragscope_%s\"} %.17g\n", l.text, name, v);
    }
  }
  if (m.status != nullptr) {
    const proc::Status& s = *m.status;
    if (s.vm_rss) metric(out, "process_rss_bytes", l, static_cast<double>(*s.vm_rss));
    if (s.vm_hwm) metric(out, "process_rss_peak_bytes", l, static_cast<double>(*s.vm_hwm));
    if (s.rss_anon) metric(out, "process_rss_anon_bytes", l, static_cast<double>(*s.rss_anon));
    if (s.vm_swap) metric(out, "process_swap_bytes", l, static_cast<double>(*s.vm_swap));
  }
  if (m.rollup != nullptr) {
    const proc::SmapsRollup& r = *m.rollup;
    if (r.pss) metric(out, "process_pss_bytes", l, static_cast<double>(*r.pss));
    if (auto uss = r.uss()) metric(out, "process_uss_bytes", l, static_cast<double>(*uss));
  }
  if (in.meminfo != nullptr && in.meminfo->mem_available)
    metric(out, "system_mem_available_bytes", l,
           static_cast<double>(*in.meminfo->mem_available));
  if (in.buddy != nullptr && in.buddy->zones > 0) {
    family(out, "system_unusable_free_index_ratio");
    for (int z = 0; z < in.buddy->zones; ++z) {
      const proc::BuddyZone& zone = in.buddy->zone[z];
      for (int o = 0; o < zone.orders; ++o)
        append_printf(out, "fragscope_system_unusable_free_index_ratio%s,node=\"%d\",zone=\"%s\",order=\"%d\"} %.3f\n",
                      l.text, zone.node, zone.zone, o, proc::unusable_free_index(zone, o) / 1000.0);
    }
  }
  if (in.allocator != nullptr) {
    // The allocator's own figures, with its name as a label.
    const AllocatorFigures& a = *in.allocator;
    Labels al = l;
    const int used = static_cast<int>(std::strlen(al.text));
    std::snprintf(al.text + used, sizeof(al.text) - static_cast<std::size_t>(used), ",allocator=\"%s\"", a.name);
    const std::pair<const char*, double> figures[] = {{"allocator_in_use_bytes", a.in_use},
                                                       {"allocator_free_bytes", a.free},
                                                       {"allocator_arenas", a.arenas},
                                                       {"allocator_bin_utilization_ratio", a.bin_utilization}};
    for (const auto& [name, v] : figures)
      if (v == v) metric(out, name, al, v);  // NaN: not this allocator's figure
  }
  if (in.vmstat != nullptr) {
    const proc::Vmstat& v = *in.vmstat;
    if (v.compact_stall) metric(out, "system_compact_stalls_total", l, static_cast<double>(*v.compact_stall));
    if (v.thp_fault_fallback) metric(out, "system_thp_fault_fallbacks_total", l, static_cast<double>(*v.thp_fault_fallback));
    if (v.allocstall) metric(out, "system_allocation_stalls_total", l, static_cast<double>(*v.allocstall));
  }
}

}  // namespace fragscope::core
