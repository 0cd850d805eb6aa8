// The Prometheus metric families fragscope exposes, in one table: the shim's exposition
// (shim/core/prometheus.cpp) and `fragscope report --format prom` (reporter/lib/machine_formats.cpp)
// both take their names, types and help texts from here, so the two cannot drift apart.
// Header-only and allocation-free: the shim includes it.
#pragma once

#include <string_view>

namespace fragscope::proc {

struct MetricFamily {
  std::string_view name;  // without the fragscope_ prefix
  std::string_view type;  // gauge | counter
  std::string_view help;
};

inline constexpr MetricFamily kMetricFamilies[] = {
    {"live_requested_bytes", "gauge", "Requested bytes of live heap blocks (R)."},
    {"live_usable_bytes", "gauge", "Usable bytes of live heap blocks (U, malloc_usable_size)."},
    {"live_blocks", "gauge", "Live heap blocks (N)."},
    {"peak_live_requested_bytes", "gauge", "Most requested bytes live at once so far."},
    {"allocations_total", "counter", "Heap blocks allocated since the process started."},
    {"frees_total", "counter", "Heap blocks freed since the process started."},
    {"heap_rss_bytes", "gauge", "Resident bytes of the heap mappings (segments holding live blocks)."},
    {"rss_over_live_ratio", "gauge", "heap_rss / live requested bytes."},
    {"free_resident_bytes", "gauge", "heap_rss minus live usable bytes: free memory the kernel keeps resident."},
    {"heap_pinned_pages", "gauge", "Resident heap pages with less than a quarter of live bytes."},
    {"heap_empty_resident_pages", "gauge", "Resident heap pages without a live byte."},
    {"heap_holes_bytes", "gauge", "Bytes of the gaps between live blocks in heap mappings."},
    {"heap_largest_hole_bytes", "gauge", "The largest gap between live blocks."},
    {"heap_ext_frag_ratio", "gauge", "1 - largest hole / hole bytes."},
    {"heap_segments", "gauge", "Heap mappings holding live blocks."},
    {"process_rss_bytes", "gauge", "VmRSS of the process (/proc/self/status)."},
    {"process_rss_peak_bytes", "gauge", "VmHWM of the process."},
    {"process_rss_anon_bytes", "gauge", "RssAnon of the process."},
    {"process_swap_bytes", "gauge", "VmSwap of the process."},
    {"process_pss_bytes", "gauge", "Pss of the process (/proc/self/smaps_rollup)."},
    {"process_uss_bytes", "gauge", "Private_Clean + Private_Dirty of the process."},
    {"system_mem_available_bytes", "gauge", "MemAvailable (/proc/meminfo)."},
    {"system_compact_stalls_total", "counter", "Direct compaction stalls since boot (/proc/vmstat)."},
    {"system_thp_fault_fallbacks_total", "counter", "Huge page faults that fell back to small pages."},
    {"system_allocation_stalls_total", "counter", "Direct reclaim stalls (allocstall_*)."},
    {"allocator_in_use_bytes", "gauge", "Bytes the allocator underneath says it has handed out (glibc uordblks + hblkhd, jemalloc stats.allocated, tcmalloc current_allocated_bytes)."},
    {"allocator_free_bytes", "gauge", "Bytes the allocator says it holds free (glibc fordblks, jemalloc resident - allocated - metadata, tcmalloc heap_size - unmapped - allocated)."},
    {"allocator_arenas", "gauge", "glibc malloc arenas (malloc_info)."},
    {"allocator_bin_utilization_ratio", "gauge", "jemalloc: used regions / regions of the current slabs, over all small bins."},
    {"sampled_region_fraction", "gauge", "Sampled mode (absent in full mode): the share of address regions whose blocks are recorded. The live_* and heap_* series are then estimates; fragscope_estimate_stderr gives their standard errors."},
    {"estimate_stderr", "gauge", "Sampled mode: the standard error of the estimate named by the metric label, in its unit."},
    {"system_unusable_free_index_ratio", "gauge", "Share of a zone's free memory unusable for an allocation of 2^order pages (mm/vmstat.c)."},
};

/// The family called `name`; every name the encoders use is in the table (a missing one is a
/// programming error, caught by the tests that compare both expositions).
constexpr const MetricFamily& metric_family(std::string_view name) {
  for (const MetricFamily& f : kMetricFamilies)
    if (f.name == name) return f;
  return kMetricFamilies[0];
}

}  // namespace fragscope::proc
