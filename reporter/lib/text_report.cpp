// Text report (see text_report.hpp).
#include "text_report.hpp"

#include "advise.hpp"
#include "json_access.hpp"
#include "moment.hpp"
#include "sites.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <iterator>
#include <map>
#include <vector>

namespace fragscope::report {
namespace {

using nlohmann::json;

std::string range(const json& c) {
  double lo = num(c, "lo"), hi = num(c, "hi");
  if (hi == 0) return fmt::format("> {}", human_bytes(lo - 1));
  return fmt::format("{}..{}", human_bytes(lo), human_bytes(hi));
}

// The verdict in short: each finding's kind, title, estimate and the command that tries it
// (fragscope advise has the evidence).
template <class Out>
void append_what_to_do(Out o, const SnapshotFile& f) {
  const nlohmann::json& s = f.snapshots.back();
  const AdviseResult v = advise(f, str(s, "argv0").empty() ? str(s, "exe", "CMD") : str(s, "argv0"));
  fmt::format_to(o, "\n  what to do   (judged: {}; `fragscope advise FILE` has the evidence)\n", v.moment.why);
  for (const auto& a : v.allocator_says) fmt::format_to(o, "    {}\n", a);
  if (v.findings.empty()) fmt::format_to(o, "    nothing to fix: {} mechanisms checked\n", v.checked.size());
  for (std::size_t i = 0; i < v.findings.size(); ++i) {
    const Finding& x = v.findings[i];
    fmt::format_to(o, "    {}. [{}] {}{}\n", i + 1, x.kind, x.title,
                   x.recover_bytes > 0 ? fmt::format(" — would recover ~{}", human_bytes(x.recover_bytes)) : "");
    if (!x.command.empty()) fmt::format_to(o, "       try: {}\n", x.command);
  }
}

}  // namespace

double median_lower(const json& hist, double* total_out) {
  double total = 0;
  for (const auto& b : hist) total += num_at(b, 1);
  if (total_out) *total_out = total;
  double seen = 0;
  for (const auto& b : hist) {
    seen += num_at(b, 1);
    if (seen * 2 >= total) return num_at(b, 0);
  }
  return 0;
}

std::string human_bytes(double b) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (std::fabs(b) >= 1024 && u < 4) b /= 1024, ++u;
  return u == 0 ? fmt::format("{:.0f} {}", b, units[u]) : fmt::format("{:.1f} {}", b, units[u]);
}

std::string human_ns(double ns) {
  if (ns < 1e3) return fmt::format("{:.0f} ns", ns);
  if (ns < 1e6) return fmt::format("{:.1f} µs", ns / 1e3);
  if (ns < 1e9) return fmt::format("{:.1f} ms", ns / 1e6);
  return fmt::format("{:.1f} s", ns / 1e9);
}

std::string render_text_report(const SnapshotFile& f, const TextReportOptions& opt) {
  std::string out;
  auto o = std::back_inserter(out);
  const json& first = f.snapshots.front();
  const json* fin = f.final_snapshot();
  const json& last = fin ? *fin : f.snapshots.back();
  const json& t = sub(last, "totals");
  const json& st = sub(sub(last, "process"), "status");
  const json& sr = sub(sub(last, "process"), "smaps_rollup");

  fmt::format_to(o, "fragscope report: {} (pid {}), {} snapshot{} over {}{}\n", program_label(last),
                 whole(num(last, "pid")), f.snapshots.size(), f.snapshots.size() == 1 ? "" : "s",
                 human_ns(num(last, "uptime_ns")), fin ? "" : " — no final snapshot (killed, or still running)");
  for (const auto& g : coverage_gaps(last)) fmt::format_to(o, "  INCOMPLETE   {}\n", g);
  // Sampled mode: which figures are estimates (≈, with ± one standard error) and which exact.
  const bool sampled = str(last, "mode") == "sampled";
  const char* est = sampled ? "≈" : "";
  if (sampled) {
    const json& sm = sub(last, "sampling");
    fmt::format_to(o, "  sampled      one {} address region in {}: figures marked ≈ are estimates (± one standard "
                      "error); allocation counts and bytes by size class are exact\n",
                   human_bytes(num(sm, "region_bytes")), whole(num(sm, "one_in")));
  }
  double live_req = num(t, "live_requested"), live_usable = num(t, "live_usable");
  // The live data's standard errors: those of the heap segments' live bytes and blocks.
  const json& lse = sub(sub(sub(last, "heap"), "estimate"), "se");
  const std::string live_pm = lse.contains("live_in_segments") ? " ± " + human_bytes(num(lse, "live_in_segments")) : "";
  const std::string blocks_pm =
      lse.contains("blocks_in_segments") ? fmt::format(" ± {}", whole(num(lse, "blocks_in_segments"))) : "";
  fmt::format_to(o, "  live data    {}{}{} requested in {}{}{} blocks; {} usable (internal_frag {}, {:.1f}%)\n", est,
                 human_bytes(live_req), live_pm, est, whole(num(t, "live_blocks")), blocks_pm, human_bytes(live_usable),
                 human_bytes(num(t, "internal_frag")), 100 * num(t, "internal_frag_ratio"));
  if (sampled)
    fmt::format_to(o, "  allocations  {} ({} requested), {}{} frees; the peak of live data is not tracked in sampled mode\n",
                   whole(num(t, "allocs")), human_bytes(num(t, "requested_allocated")), est, whole(num(t, "frees")));
  else
    fmt::format_to(o, "  peak live    {} requested; {} allocations, {} frees\n", human_bytes(num(t, "peak_live_requested")),
                   whole(num(t, "allocs")), whole(num(t, "frees")));
  if (st.contains("vm_rss")) {
    double rss = num(st, "vm_rss");
    fmt::format_to(o, "  process      RSS {} (HWM {}), anon {}, swap {}   [/proc/self/status]\n", human_bytes(rss),
                   human_bytes(num(st, "vm_hwm")), human_bytes(num(st, "rss_anon")), human_bytes(num(st, "vm_swap")));
    if (sr.contains("pss"))
      fmt::format_to(o, "               PSS {}, USS {}, AnonHugePages {}   [/proc/self/smaps_rollup]\n",
                     human_bytes(num(sr, "pss")), human_bytes(num(sr, "uss")), human_bytes(num(sr, "anon_huge_pages")));
    const json& bk = sub(sub(last, "process"), "by_kind");
    if (bk.contains("source")) {
      std::string kinds;
      for (const char* k : {"heap", "anon", "stack", "file", "shmem", "ours", "other"}) {
        const double rss_k = num(sub(bk, k), "rss");
        if (rss_k > 0) kinds += fmt::format("{}{} {}", kinds.empty() ? "" : ", ", k, human_bytes(rss_k));
      }
      fmt::format_to(o, "               RSS by mapping: {}   [/proc/self/smaps]\n", kinds.empty() ? "none" : kinds);
    }
    if (live_req > 0)
      fmt::format_to(o, "  anon RSS / live requested   {:.2f}x ({} resident anonymous for {} of live data)\n",
                     num(st, "rss_anon") / live_req, human_bytes(num(st, "rss_anon")), human_bytes(live_req));
  } else {
    fmt::format_to(o, "  process      /proc/self/status unavailable: {}\n", str(st, "error", "not recorded"));
  }
  if (f.snapshots.size() > 1) {
    const json& ft = sub(first, "totals");
    const json& fs = sub(sub(first, "process"), "status");
    fmt::format_to(o, "  over time    live {} -> {}, anon RSS {} -> {} (first to last snapshot)\n",
                   human_bytes(num(ft, "live_requested")), human_bytes(live_req), human_bytes(num(fs, "rss_anon")),
                   human_bytes(num(st, "rss_anon")));
    // Fragmentation over time: the first and the latest, the peaks, the largest rise of
    // rss_over_live and the judged snapshot always; the rest spread evenly (moment.hpp).
    const Moment m = choose_moment(f);
    const std::vector<std::size_t> rows = timeline_rows(f, m, 12);
    fmt::format_to(o, "\n  fragmentation over time ({} of {} snapshots: the first, the peaks, the largest rise of RSS/live, "
                      "the judged one (*) and the latest)\n",
                   rows.size(), f.snapshots.size());
    fmt::format_to(o, "    {:>9} {:>11} {:>11} {:>11} {:>9} {:>8} {:>11} {:>8}\n", "time", "live", "anon RSS", "heap RSS",
                   "RSS/live", "pinned", "in holes", "ext_frag");
    for (std::size_t row : rows) {
      const json& s = f.snapshots[row];
      const json& sh = sub(s, "heap");
      const double live = num(sub(s, "totals"), "live_requested");
      const bool heap = sh.contains("heap_rss");
      fmt::format_to(o, "  {} {:>9} {:>11} {:>11} {:>11} {:>9} {:>8} {:>11} {:>8}\n", row == m.judged ? '*' : ' ',
                     human_ns(num(s, "uptime_ns")),
                     human_bytes(live), human_bytes(num(sub(sub(s, "process"), "status"), "rss_anon")),
                     heap ? human_bytes(num(sh, "heap_rss")) : "-",
                     heap ? fmt::format("{:.2f}x", num(sh, "rss_over_live")) : "-",
                     heap ? fmt::format("{}", whole(num(sh, "pinned_pages"))) : "-",
                     heap ? human_bytes(num(sub(sh, "holes"), "total")) : "-",
                     heap ? fmt::format("{:.3f}", num(sh, "ext_frag")) : "-");
    }
  }

  const std::vector<NamedSite> sites = named_sites(last);

  // The heap's layout: resident pages against live bytes, holes, and who pins them.
  const json& h = sub(last, "heap");
  if (h.contains("heap_rss")) {
    double rss = num(h, "heap_rss"), page = num(h, "page_size", 4096);
    // "± x" after an estimate: its standard error (sampled mode), in the figure's unit.
    const json& se = sub(sub(h, "estimate"), "se");
    auto pm_bytes = [&](const char* k) { return se.contains(k) ? " ± " + human_bytes(num(se, k)) : std::string(); };
    auto pm_count = [&](const char* k) { return se.contains(k) ? fmt::format(" ± {}", whole(num(se, k))) : std::string(); };
    // heap_rss is read whole in sampled mode too (its stated error 0); snapshots of older
    // versions estimated it.
    const char* rss_est = sampled && num(se, "heap_rss") > 0 ? est : "";
    const std::string rss_pm = rss_est[0] != '\0' ? pm_bytes("heap_rss") : std::string();
    fmt::format_to(o, "\n  heap         heap_rss {}{}{} in {} segments for {}{} live: rss_over_live {}{:.2f}x, free_resident {}{}{}\n",
                   rss_est, human_bytes(rss), rss_pm, whole(num(h, "segments")), est, human_bytes(live_req), est,
                   num(h, "rss_over_live"), est, human_bytes(num(h, "free_resident")), pm_bytes("free_resident"));
    fmt::format_to(o, "  pages        {}{} resident: {}{}{} empty (0 live bytes), {}{}{} pinned (< 1/4 live){}\n", rss_est,
                   whole(rss / page), est, whole(num(h, "empty_resident_pages")), pm_count("empty_resident_pages"), est,
                   whole(num(h, "pinned_pages")), pm_count("pinned_pages"),
                   sampled ? fmt::format("   [{} sampled regions]", whole(num(sub(h, "estimate"), "regions"))) : "");
    const json& occ = arr(h, "page_occupancy");
    if (occ.size() == 9) {
      fmt::format_to(o, "  occupancy    ");
      const char* labels[] = {"0", "<=1/8", "<=2/8", "<=3/8", "<=4/8", "<=5/8", "<=6/8", "<=7/8", "<=1"};
      for (unsigned i = 0; i < 9; ++i) fmt::format_to(o, "{}{} {}", i ? ", " : "", labels[i], whole(num_at(occ, i)));
      fmt::format_to(o, " pages\n");
    }
    const json& holes = sub(h, "holes");
    if (sampled)
      fmt::format_to(o, "  holes        ≈{}{} between live blocks, ≈{}{} in all (≈{} resident), largest seen {}\n",
                     whole(num(holes, "count")), pm_count("holes"), human_bytes(num(holes, "total")), pm_bytes("hole_bytes"),
                     human_bytes(num(holes, "resident")), human_bytes(num(holes, "largest")));
    else
      fmt::format_to(o, "  holes        {} between live blocks, {} in all ({} resident), largest {}: ext_frag {:.3f}\n",
                     whole(num(holes, "count")), human_bytes(num(holes, "total")),
                     human_bytes(num(holes, "resident")), human_bytes(num(holes, "largest")), num(h, "ext_frag"));
    const json& pins = arr(h, "top_pinned_by");
    const json& pin_sites = arr(sub(last, "sites"), "top_pinned_sites");
    for (unsigned i = 0; i < pins.size() && i < 3; ++i) {
      fmt::format_to(o, "  pinned by    a {} block, {} old, at the top of a {} segment, holds {} of holes below it\n",
                     human_bytes(num(pins[i], "size")), human_ns(num(pins[i], "age_ns")),
                     human_bytes(num(pins[i], "segment_end") - num(pins[i], "segment_start")),
                     human_bytes(num(pins[i], "free_below")));
      const std::uint64_t site = whole(num_at(pin_sites, i));
      for (const auto& ns : sites)
        if (site != 0 && ns.id == site && ns.origin())
          fmt::format_to(o, "               allocated at {}\n", ns.origin()->label());
    }
  } else if (h.contains("error")) {
    fmt::format_to(o, "\n  heap         not analysed: {}\n", str(h, "error", "?"));
  }

  // Size classes by live bytes, with the lifetimes of their freed blocks and ages of live ones.
  std::vector<const json*> classes;
  for (const auto& c : arr(last, "size_classes")) classes.push_back(&c);
  std::sort(classes.begin(), classes.end(), [](const json* a, const json* b) {
    return num(*a, "live_requested") > num(*b, "live_requested");
  });
  std::map<std::uint64_t, const json*> lifetimes;  // by class number
  for (const auto& l : arr(sub(last, "lifetimes"), "by_class")) lifetimes[whole(num(l, "class"))] = &l;
  fmt::format_to(o, "\n  size classes by live bytes{}\n",
                 sampled ? " (sampled: allocs exact; live, frees, peak and lifetimes from the sampled blocks)" : "");
  fmt::format_to(o, "    {:<20} {:>10} {:>11} {:>12} {:>12} {:>11} {:>17} {:>17}\n", "class", "live", "live bytes",
                 "allocs", "frees", "peak live", "median life", "median live age");
  unsigned shown = 0;
  for (const json* c : classes) {
    if (shown++ == opt.top_classes) break;
    std::string life = "-", age = "-";
    if (auto it = lifetimes.find(whole(num(*c, "class"))); it != lifetimes.end()) {
      const json* l = it->second;
      double n = 0;
      double m = median_lower(arr(*l, "freed"), &n);
      if (n > 0) life = m > 0 ? life_range(m) : "< 1 tick";
      m = median_lower(arr(*l, "live_age"), &n);
      if (n > 0) age = m > 0 ? life_range(m) : "< 1 tick";
    }
    fmt::format_to(o, "    {:<20} {:>10} {:>11} {:>12} {:>12} {:>11} {:>17} {:>17}\n", range(*c),
                   whole(num(*c, "live_blocks")), human_bytes(num(*c, "live_requested")),
                   whole(num(*c, "allocs")), whole(num(*c, "frees")),
                   human_bytes(num(*c, "peak_live_requested")), life, age);
  }
  const json& sizes = arr(last, "top_sizes");
  if (!sizes.empty()) {
    fmt::format_to(o, "\n  most frequent request sizes:");
    for (unsigned i = 0; i < sizes.size() && i < opt.top_sizes; ++i)
      fmt::format_to(o, "{} {} B x{}", i ? "," : "", whole(num(sizes[i], "size")), whole(num(sizes[i], "allocs")));
    fmt::format_to(o, "\n");
  }
  if (!sites.empty()) {
    std::vector<const NamedSite*> by_live;
    for (const auto& ns : sites) by_live.push_back(&ns);
    std::sort(by_live.begin(), by_live.end(), [](auto* a, auto* b) { return a->live_bytes > b->live_bytes; });
    fmt::format_to(o, "\n  call sites by live bytes (sampled every {} on average; figures are estimates)\n",
                   human_bytes(num(sub(last, "sites"), "sample_bytes")));
    for (unsigned i = 0; i < by_live.size() && i < opt.top_sites; ++i) {
      const NamedSite& ns = *by_live[i];
      if (ns.live_bytes < 1) break;
      fmt::format_to(o, "    {:>11} in {:>9.0f} blocks, {:>10.0f} frees  {}\n", human_bytes(ns.live_bytes), ns.live_blocks,
                     ns.frees, ns.origin() ? ns.origin()->label() : "?");
    }
    std::vector<const NamedSite*> by_pinned;
    for (const auto& ns : sites)
      if (ns.pinned_bytes >= 1) by_pinned.push_back(&ns);
    std::sort(by_pinned.begin(), by_pinned.end(), [](auto* a, auto* b) { return a->pinned_bytes > b->pinned_bytes; });
    if (!by_pinned.empty()) fmt::format_to(o, "  call sites by pinned bytes (free resident bytes on the pinned pages their blocks hold)\n");
    for (unsigned i = 0; i < by_pinned.size() && i < opt.top_sites; ++i)
      fmt::format_to(o, "    {:>11} pinned by {:>9.0f} live blocks  {}\n", human_bytes(by_pinned[i]->pinned_bytes),
                     by_pinned[i]->live_blocks, by_pinned[i]->origin() ? by_pinned[i]->origin()->label() : "?");
  }
  const json& mm = sub(last, "mmap");
  fmt::format_to(o, "  mmap         {} live anonymous mappings of the application, {}; {} mmap calls, {} mremap moves\n",
                 whole(num(mm, "live_anon_mappings")), human_bytes(num(mm, "live_anon_bytes")),
                 whole(num(mm, "calls")), whole(num(mm, "mremap_moves")));
  // Pools: the application's (fragscope::pools, through the bridge) and the preload remedy's.
  // Pools are often destroyed before the final snapshot: take the last snapshot that lists them.
  auto last_with = [&f](const char* key) -> const json* {
    for (auto it = f.snapshots.rbegin(); it != f.snapshots.rend(); ++it)
      if (it->contains(key)) return &*it;
    return nullptr;
  };
  auto pool_line = [&o](const char* label, const std::string& name, const json& p, const char* size_key) {
    const double committed = num(p, "committed_bytes");
    const double used = num(p, "live") * num(p, "stride");
    fmt::format_to(o, "  {:<12} {}{} B slots: {} live (peak {}), {} chunks, {} committed, fragmentation {:.0f}%\n", label,
                   name, whole(num(p, size_key)), whole(num(p, "live")),
                   whole(num(p, "peak")), whole(num(p, "chunks")),
                   human_bytes(committed), committed > 0 ? 100 * (1 - used / committed) : 0.0);
  };
  if (const json* snap = last_with("pools")) {
    const json& pools = sub(*snap, "pools");
    for (const auto& p : arr(pools, "list")) {
      const std::string name = str(p, "name");
      pool_line("pool", name.empty() ? std::string("(unnamed) ") : "'" + name + "' ", p, "slot_size");
    }
    if (num(pools, "unlisted") > 0)
      fmt::format_to(o, "  pool         ... and {} more not listed\n", whole(num(pools, "unlisted")));
  }
  if (const json* snap = last_with("pool_remedy")) {
    for (const auto& p : arr(*snap, "pool_remedy")) pool_line("pool remedy", "FRAGSCOPE_POOL_SIZES ", p, "size");
  }
  // The system: free memory, the kernel's unusable index for huge pages (order 9), and the
  // compaction and THP events during the run.
  const json& sys = sub(last, "system");
  if (sys.contains("meminfo")) {
    const json& mi = sub(sys, "meminfo");
    std::string frag;
    for (const auto& z : arr(sys, "buddyinfo")) {
      const json& ui = arr(z, "unusable_index");
      if (ui.size() > 9 && str(z, "zone") == "Normal")
        frag += fmt::format("{}node {} Normal unusable index at order 9 (2 MiB) {:.3f}", frag.empty() ? "; " : ", ",
                            whole(num(z, "node")), num_at(ui, 9) / 1000);
    }
    fmt::format_to(o, "  system       MemAvailable {} of {}, slab {} (unreclaimable {}){}   [/proc/meminfo, buddyinfo]\n",
                   human_bytes(num(mi, "mem_available")), human_bytes(num(mi, "mem_total")), human_bytes(num(mi, "slab")),
                   human_bytes(num(mi, "s_unreclaim")), frag);
    const json& v0 = sub(sub(first, "system"), "vmstat");
    const json& v1 = sub(sys, "vmstat");
    auto delta = [&](const char* k) { return num(v1, k) - num(v0, k); };
    if (f.snapshots.size() > 1)
      fmt::format_to(o, "               during the run: {:.0f} compaction stalls, {:.0f} THP fault fallbacks, {:.0f} allocation "
                     "stalls, {:.0f} pages swapped out   [/proc/vmstat deltas]\n",
                     delta("compact_stall"), delta("thp_fault_fallback"), delta("allocstall"), delta("pswpout"));
  }
  const json& ov = sub(last, "overhead");
  fmt::format_to(o, "  overhead     live table {} ({:.1f} B per live block), {} thread blocks{}; all left out of the "
                    "heap figures\n",
                 human_bytes(num(ov, "live_table_bytes")), num(ov, "bytes_per_live_block"),
                 whole(num(ov, "thread_blocks")),
                 ov.contains("self_heap_bytes")
                     ? fmt::format(", fragscope's own heap {} (its threads' allocations)", human_bytes(num(ov, "self_heap_bytes")))
                     : "");
  // How the shim recorded: what the overhead the user saw depends on (bench/README.md).
  const json& rec = sub(last, "recording");
  const std::string mode = str(rec, "mode");
  if (mode == "batched") {
    std::string where;
    const double cpus = num(rec, "cpus");
    if (rec.contains("reporter_applies") && cpus > 0)
      where = flag(rec, "reporter_applies")
                  ? fmt::format(", applied by the reporter thread on another CPU ({:g} usable)", cpus)
                  : fmt::format(", applied by the allocating thread itself ({:g} CPU{} usable)", cpus, cpus == 1 ? "" : "s");
    // One thread at a time logs: how often that passed between threads, or came back from direct.
    const double handovers = num(rec, "handovers"), returns = num(rec, "returns");
    if (handovers > 0) where += fmt::format("; passed between threads {} time{}", whole(handovers), handovers == 1 ? "" : "s");
    if (returns > 0) where += fmt::format("; back from direct recording {} time{}", whole(returns), returns == 1 ? "" : "s");
    fmt::format_to(o, "  recording    batched: the hooks logged {} events{}\n", whole(num(rec, "events_applied")), where);
  } else if (mode == "sampled") {
    fmt::format_to(o, "  recording    sampled: every allocation counted by size class; only the blocks of the sampled "
                      "regions (and large ones) recorded\n");
  } else if (mode == "direct") {
    fmt::format_to(o, "  recording    direct: each call recorded at once (threads took turns too often to pass the "
                      "batching between them, or batching was unavailable): costlier per call\n");
  }
  const json& an = sub(last, "anomalies");
  append_what_to_do(o, f);
  if (num(an, "untracked_frees") + num(an, "missed_frees") + num(an, "dropped") > 0)
    fmt::format_to(o, "  note         {} frees of blocks allocated before the shim started, {} missed frees, {} unrecorded\n",
                   whole(num(an, "untracked_frees")), whole(num(an, "missed_frees")),
                   whole(num(an, "dropped")));
  for (const auto& w : arr(last, "warnings")) fmt::format_to(o, "  warning      {}\n", w.is_string() ? w.get<std::string>() : w.dump());
  if (!f.errors.empty())
    fmt::format_to(o, "  {} line{} of {} skipped (first: line {}: {})\n", f.errors.size(), f.errors.size() == 1 ? "" : "s",
                   f.path, f.errors.front().line, f.errors.front().message);
  return out;
}

}  // namespace fragscope::report
