// `fragscope advise` (see advise.hpp). The rules, each reading the steady-state snapshot:
//  1. Pool: size classes (≤ 4096 B) whose live blocks are much older than the blocks of the same
//     sizes that were freed — long-lived blocks among short-lived ones — ranked by live bytes,
//     while the heap shows the cost (rss_over_live ≥ 1.3 or pinned pages).
//  2. Allocator: glibc underneath and rss_over_live ≥ 1.5: compare jemalloc and mimalloc.
//  3. glibc trim: empty resident heap pages worth ≥ 1 MiB and ≥ 10% of the heap.
//  4. glibc arenas: several threads and more than two heap segments.
//  5. Kernel: the system view shows free memory too fragmented for 2 MiB blocks (unusable index
//     at order 9 ≥ 0.5), or compaction stalls or THP fallbacks happened during the run.
#include "advise.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <bit>
#include <map>

#include "json_access.hpp"
#include "sites.hpp"
#include "text_report.hpp"

namespace fragscope::report {

using nlohmann::json;

namespace {

struct ClassInfo {
  double lo = 0, hi = 0, live_blocks = 0, live_bytes = 0, peak_live = 0, frees = 0;
  double freed_median = 0, freed_n = 0, age_median = 0, age_n = 0;
};

// Classes whose live blocks outlive their freed siblings by far.
std::vector<ClassInfo> long_lived_classes(const json& snap) {
  std::map<std::uint64_t, const json*> lifetimes;
  for (const auto& l : arr(sub(snap, "lifetimes"), "by_class")) lifetimes[whole(num(l, "class"))] = &l;
  std::vector<ClassInfo> out;
  for (const auto& c : arr(snap, "size_classes")) {
    ClassInfo ci;
    ci.lo = num(c, "lo");
    ci.hi = num(c, "hi");
    ci.live_blocks = num(c, "live_blocks");
    ci.live_bytes = num(c, "live_requested");
    ci.peak_live = num(c, "peak_live_requested");
    ci.frees = num(c, "frees");
    if (!(ci.hi > 0) || ci.hi > 4096 || ci.live_blocks < 64) continue;
    auto it = lifetimes.find(whole(num(c, "class")));
    if (it == lifetimes.end()) continue;
    ci.freed_median = median_lower(arr(*it->second, "freed"), &ci.freed_n);
    ci.age_median = median_lower(arr(*it->second, "live_age"), &ci.age_n);
    // Churn in the class, and its live blocks at least 8× older than its freed ones lived.
    if (ci.freed_n < ci.live_blocks || ci.age_n == 0) continue;
    if (ci.age_median < 8 * std::max(ci.freed_median, 1000.0)) continue;
    out.push_back(ci);
  }
  return out;
}

std::string count(double n) {
  if (n >= 1e6) return fmt::format("{:.1f} M", n / 1e6);
  if (n >= 1e4) return fmt::format("{:.0f} k", n / 1e3);
  return fmt::format("{:.0f}", n);
}

}  // namespace

AdviseResult advise(const SnapshotFile& file, const std::string& command) {
  AdviseResult r;
  const json* snap = file.steady_snapshot();
  if (snap == nullptr) snap = file.final_snapshot();
  if (snap == nullptr && !file.snapshots.empty()) snap = &file.snapshots.back();
  if (snap == nullptr) {
    r.heap_line = "no snapshot to read";
    return r;
  }
  r.subject = fmt::format("{} (pid {}), snapshot {}{} at {}", str(*snap, "exe", "?"), whole(num(*snap, "pid")),
                          whole(num(*snap, "seq")), flag(*snap, "final") ? " (final)" : "",
                          human_ns(num(*snap, "uptime_ns")));
  const json& h = sub(*snap, "heap");
  const json& totals = sub(*snap, "totals");
  const double live = num(totals, "live_requested");
  const bool have_heap = h.contains("heap_rss");
  const double rss_over_live = num(h, "rss_over_live"), pinned = num(h, "pinned_pages");
  const double page = num(h, "page_size", 4096), heap_rss = num(h, "heap_rss");
  if (have_heap) {
    r.heap_line = fmt::format("heap_rss {} for {} live: rss_over_live {:.2f}x, free_resident {}, {} pinned pages, "
                              "{} empty resident pages, {} in holes",
                              human_bytes(heap_rss), human_bytes(live), rss_over_live,
                              human_bytes(num(h, "free_resident")), count(pinned),
                              count(num(h, "empty_resident_pages")), human_bytes(num(sub(h, "holes"), "total")));
  } else {
    r.heap_line = fmt::format("no heap analysis in this snapshot ({})", str(h, "error", "not recorded"));
  }
  const std::string allocator = str(sub(*snap, "allocator"), "name", "unknown");
  const bool fragmented = have_heap && (rss_over_live >= 1.3 || pinned * page >= 0.1 * heap_rss);

  // 1. Pools for long-lived blocks among short-lived ones.
  std::vector<ClassInfo> classes = long_lived_classes(*snap);
  std::sort(classes.begin(), classes.end(), [](auto& a, auto& b) { return a.live_bytes > b.live_bytes; });
  if (classes.size() > 6) classes.resize(6);
  if (fragmented && !classes.empty()) {
    std::sort(classes.begin(), classes.end(), [](auto& a, auto& b) { return a.lo < b.lo; });
    double blocks = 0, bytes = 0, peak = 0, freed = 0, age = 0, life = 0;
    for (const auto& c : classes) {
      blocks += c.live_blocks, bytes += c.live_bytes, peak += c.peak_live, freed += c.freed_n;
      age = std::max(age, c.age_median), life = std::max(life, c.freed_median);
    }
    // Sizes to serve: the most frequent request sizes inside these classes, rounded up to 16
    // (a pool size is 1..4096: malloc(0) is served from the 16-byte pool).
    auto pool_size = [](double s) { return (std::max<std::uint64_t>(whole(s), 1) + 15) / 16 * 16; };
    std::vector<std::uint64_t> sizes;
    for (const auto& t : arr(*snap, "top_sizes")) {
      const double s = num(t, "size");
      for (const auto& c : classes)
        if (s >= c.lo && s <= c.hi) sizes.push_back(pool_size(s));
    }
    for (const auto& c : classes) sizes.push_back(pool_size(c.hi));
    std::sort(sizes.begin(), sizes.end());
    sizes.erase(std::unique(sizes.begin(), sizes.end()), sizes.end());
    if (sizes.size() > 16) sizes.resize(16);
    for (std::uint64_t s : sizes) r.pool_sizes += (r.pool_sizes.empty() ? "" : ",") + std::to_string(s);
    // Chunks small enough that the pool holds ~32 of them at its peak, so emptied ones go back.
    const std::uint64_t chunk = std::clamp<std::uint64_t>(
        std::bit_ceil(std::min<std::uint64_t>(whole(peak / 32), std::uint64_t{1} << 40) | 1), 64 * 1024, 4 * 1024 * 1024);
    Advice a;
    a.title = fmt::format("Pool {}..{}: long-lived blocks are scattered among short-lived ones",
                          human_bytes(classes.front().lo), human_bytes(classes.back().hi));
    a.evidence.push_back(fmt::format("{} live blocks ({}) in these size classes are >= {} old (median), while the {} "
                                     "blocks of these sizes freed so far lived >= {} (median)  [size_classes, lifetimes]",
                                     count(blocks), human_bytes(bytes), human_ns(age), count(freed), human_ns(life)));
    a.evidence.push_back(fmt::format("the heap holds {} for {} of live data (rss_over_live {:.2f}x), {} pages pinned "
                                     "by a few live bytes  [heap]",
                                     human_bytes(heap_rss), human_bytes(live), rss_over_live, count(pinned)));
    // The call sites of these blocks: sites whose live blocks average a size inside the classes,
    // by pinned bytes first (the pages they hold), else by live bytes.
    std::vector<NamedSite> sites;
    for (auto& site : named_sites(*snap)) {
      if (site.live_blocks < 1 || site.origin() == nullptr) continue;
      const double avg = site.live_bytes / site.live_blocks;
      if (avg >= classes.front().lo && avg <= classes.back().hi) sites.push_back(std::move(site));
    }
    std::sort(sites.begin(), sites.end(), [](auto& x, auto& y) {
      return x.pinned_bytes != y.pinned_bytes ? x.pinned_bytes > y.pinned_bytes : x.live_bytes > y.live_bytes;
    });
    std::string origin;
    if (!sites.empty()) {
      origin = sites[0].origin()->label();
      if (sites[0].pinned_bytes >= 1)
        a.evidence.push_back(fmt::format("{} of pinned pages are held by blocks allocated at {}  [sites, sampled]",
                                         human_bytes(sites[0].pinned_bytes), origin));
      a.evidence.push_back(fmt::format("{} of these long-lived blocks ({} live) were allocated at {}  [sites, sampled]",
                                       count(sites[0].live_blocks), human_bytes(sites[0].live_bytes), origin));
    }
    a.actions.push_back(fmt::format("try it without changing code:  fragscope run --pool-sizes {} -- {}", r.pool_sizes,
                                    command));
    a.actions.push_back(fmt::format("measure it:  fragscope compare --allocators glibc,pools --pool-sizes {} -- {}",
                                    r.pool_sizes, command));
    a.actions.push_back(fmt::format(
        "in code: allocate {} from a fragscope::pools::ObjectPool<T> (or a FixedPool per size) with "
        "PoolOptions::chunk_size = {} (about 32 chunks at the peak of {}), so the long-lived blocks stop "
        "pinning the general heap",
        origin.empty() ? "these long-lived objects" : "what " + origin + " allocates", human_bytes(static_cast<double>(chunk)),
        human_bytes(peak)));
    r.advice.push_back(a);
  }

  // 2. Another allocator.
  if (have_heap && allocator == "glibc" && rss_over_live >= 1.5) {
    Advice a;
    a.title = "Try an allocator that keeps size classes apart (jemalloc, mimalloc)";
    a.evidence.push_back(fmt::format("glibc malloc holds {} resident for {} of live data (rss_over_live {:.2f}x); "
                                     "allocators with per-size slabs do not interleave sizes  [heap, allocator]",
                                     human_bytes(heap_rss), human_bytes(live), rss_over_live));
    a.actions.push_back(fmt::format("fragscope compare --allocators glibc,jemalloc,mimalloc,tcmalloc{} -- {}",
                                    r.pool_sizes.empty() ? "" : ",pools --pool-sizes " + r.pool_sizes, command));
    a.actions.push_back("then preload the winner (LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libjemalloc.so.2) or link it");
    r.advice.push_back(a);
  }

  // 3. glibc keeps empty pages.
  const double empty_bytes = num(h, "empty_resident_pages") * page;
  if (have_heap && allocator == "glibc" && empty_bytes >= 1024 * 1024 && empty_bytes >= 0.1 * heap_rss) {
    Advice a;
    a.title = "Give glibc's empty pages back to the kernel";
    a.evidence.push_back(fmt::format("{} of resident heap pages hold no live byte ({:.0f}% of heap_rss)  [heap]",
                                     human_bytes(empty_bytes), 100 * empty_bytes / heap_rss));
    a.actions.push_back("call malloc_trim(0) after phases that free a lot (it also releases pages inside the heap)");
    a.actions.push_back(fmt::format("or lower the trim threshold:  GLIBC_TUNABLES=glibc.malloc.trim_threshold=131072 {}",
                                    command));
    r.advice.push_back(a);
  }

  // 4. glibc arenas.
  const double threads = num(sub(*snap, "overhead"), "thread_blocks");
  const double segments = num(h, "segments");
  if (have_heap && allocator == "glibc" && threads > 1 && segments > 2 && rss_over_live >= 1.3) {
    Advice a;
    a.title = "Fewer glibc arenas";
    a.evidence.push_back(fmt::format("{} threads allocate and the heap spans {} segments (glibc gives threads arenas "
                                     "of their own, each fragmenting apart)  [heap, overhead]",
                                     count(threads), count(segments)));
    a.actions.push_back(fmt::format("GLIBC_TUNABLES=glibc.malloc.arena_max=2 {}   (M_ARENA_MAX; compare the RSS)", command));
    r.advice.push_back(a);
  }

  // 5. The kernel: external fragmentation of free memory (buddyinfo), compaction and THP events.
  const json& sys = sub(*snap, "system");
  if (!sys.contains("buddyinfo") || !arr(sys, "buddyinfo").is_array() || arr(sys, "buddyinfo").empty()) {
    r.not_assessed.push_back("kernel knobs (compaction, THP, min_free_kbytes): the snapshot has no system view "
                             "(/proc/buddyinfo, /proc/vmstat) to show external fragmentation");
  } else {
    double worst = -1;
    std::string worst_zone;
    for (const auto& z : arr(sys, "buddyinfo")) {
      const json& ui = arr(z, "unusable_index");
      if (ui.size() > 9 && ui[9].is_number() && ui[9].get<double>() > worst) {
        worst = ui[9].get<double>();
        worst_zone = fmt::format("node {} {}", whole(num(z, "node")), str(z, "zone", "?"));
      }
    }
    const json& first_sys = sub(file.snapshots.front(), "system");
    auto delta = [&](const char* k) { return num(sub(sys, "vmstat"), k) - num(sub(first_sys, "vmstat"), k); };
    const double stalls = delta("compact_stall"), fallbacks = delta("thp_fault_fallback");
    if (worst >= 500 || stalls > 0 || fallbacks > 0) {
      Advice a;
      a.title = "The kernel's free memory is fragmented: help compaction";
      if (worst >= 0)
        a.evidence.push_back(fmt::format("{:.0f}% of the free memory of {} cannot serve a 2 MiB block (unusable free "
                                         "space index {:.3f} at order 9, mm/vmstat.c's formula)  [system.buddyinfo]",
                                         worst / 10, worst_zone, worst / 1000));
      if (stalls > 0 || fallbacks > 0)
        a.evidence.push_back(fmt::format("during the run: {:.0f} direct compaction stalls, {:.0f} transparent huge page "
                                         "faults fell back to small pages  [system.vmstat deltas]",
                                         stalls, fallbacks));
      a.actions.push_back("compact now, once:  echo 1 > /proc/sys/vm/compact_memory");
      a.actions.push_back("compact in the background sooner:  sysctl vm.compaction_proactiveness=40 (default 20)");
      a.actions.push_back("keep more free memory for atomic and high-order allocations:  sysctl vm.min_free_kbytes=<2x>");
      a.actions.push_back("if huge page faults stall:  echo defer+madvise > /sys/kernel/mm/transparent_hugepage/defrag");
      r.advice.push_back(a);
    } else {
      r.checked.push_back(fmt::format("kernel: free memory is not fragmented (unusable free space index at order 9: "
                                      "{:.3f} in {}, no compaction stalls or THP fallbacks during the run)",
                                      std::max(worst, 0.0) / 1000, worst_zone.empty() ? "?" : worst_zone));
    }
  }
  if (!have_heap) r.not_assessed.push_back("pooling and trimming: no heap analysis in the snapshot");
  return r;
}

std::string render_advice(const AdviseResult& r) {
  std::string out;
  auto o = std::back_inserter(out);
  fmt::format_to(o, "fragscope advise: {}\n  {}\n", r.subject.empty() ? "?" : r.subject, r.heap_line);
  if (r.advice.empty()) fmt::format_to(o, "\n  Nothing to fix: no fragmentation these rules recognise.\n");
  for (std::size_t i = 0; i < r.advice.size(); ++i) {
    const Advice& a = r.advice[i];
    fmt::format_to(o, "\n{}. {}\n", i + 1, a.title);
    for (const auto& e : a.evidence) fmt::format_to(o, "   evidence: {}\n", e);
    for (const auto& x : a.actions) fmt::format_to(o, "   - {}\n", x);
  }
  for (const auto& c : r.checked) fmt::format_to(o, "\n  checked: {}\n", c);
  for (const auto& n : r.not_assessed) fmt::format_to(o, "\n  not assessed: {}\n", n);
  return out;
}

}  // namespace fragscope::report
