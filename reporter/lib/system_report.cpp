// `fragscope system`: parsers and the screen (see system_report.hpp).
#include "system_report.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <sstream>

#include "text_report.hpp"

namespace fragscope::report {
namespace {

std::vector<std::string_view> words(std::string_view line) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
    std::size_t j = i;
    while (j < line.size() && line[j] != ' ' && line[j] != '\t') ++j;
    if (j > i) out.push_back(line.substr(i, j - i));
    i = j;
  }
  return out;
}

bool to_u64(std::string_view s, std::uint64_t* v) {
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), *v);
  return ec == std::errc() && end == s.data() + s.size();
}

template <class F>
void for_each_line(std::string_view text, F&& f) {
  while (!text.empty()) f(proc::take_line(text));
}

}  // namespace

std::vector<SlabCache> parse_slabinfo(std::string_view text, int* bad) {
  std::vector<SlabCache> out;
  int malformed = 0;
  for_each_line(text, [&](std::string_view line) {
    if (line.empty() || line.rfind("slabinfo", 0) == 0 || line[0] == '#') return;
    auto w = words(line);
    SlabCache c;
    if (w.size() < 4 || !to_u64(w[1], &c.active_objs) || !to_u64(w[2], &c.num_objs) || !to_u64(w[3], &c.objsize)) {
      ++malformed;
      return;
    }
    c.name = std::string(w[0]);
    out.push_back(std::move(c));
  });
  if (bad) *bad = malformed;
  return out;
}

Pageblocks parse_pageblocks(std::string_view text) {
  Pageblocks p;
  bool in_table = false;
  for_each_line(text, [&](std::string_view line) {
    if (line.rfind("Number of blocks type", 0) == 0) {
      in_table = true;
      auto w = words(line.substr(21));
      for (auto t : w) p.types.emplace_back(t);
      return;
    }
    if (!in_table) return;
    // "Node 0, zone   Normal    69   1717   70   0   0"
    auto w = words(line);
    if (w.size() < 4 || w[0] != "Node" || w[2] != "zone") {
      in_table = !line.empty() && in_table && w.empty();
      return;
    }
    PageblockZone z;
    std::uint64_t node = 0;
    std::string_view n = w[1];
    if (!n.empty() && n.back() == ',') n.remove_suffix(1);
    if (!to_u64(n, &node)) return;
    z.node = static_cast<int>(node);
    z.zone = std::string(w[3]);
    for (std::size_t i = 4; i < w.size(); ++i) {
      std::uint64_t v = 0;
      if (!to_u64(w[i], &v)) return;
      z.blocks.push_back(v);
    }
    p.zones.push_back(std::move(z));
  });
  return p;
}

KernelLogFindings scan_kernel_log(std::string_view records) {
  KernelLogFindings k;
  for_each_line(records, [&](std::string_view line) {
    auto semi = line.find(';');
    std::string_view msg = semi == std::string_view::npos ? line : line.substr(semi + 1);
    const bool failure = msg.find("page allocation failure") != std::string_view::npos;
    const bool oom = msg.find("Out of memory: Killed process") != std::string_view::npos ||
                     msg.find("oom-kill:") != std::string_view::npos;
    if (failure) ++k.allocation_failures;
    if (oom && msg.find("Out of memory: Killed process") != std::string_view::npos) ++k.oom_kills;
    if (failure || oom) k.last = std::string(msg.substr(0, 200));
  });
  return k;
}

std::string render_system(const SystemSample& s, const SystemSample* prev, double interval_s) {
  std::string out;
  auto o = std::back_inserter(out);
  auto b = [](const std::optional<std::uint64_t>& v) { return v ? human_bytes(static_cast<double>(*v)) : std::string("?"); };
  if (s.meminfo) {
    const proc::Meminfo& m = *s.meminfo;
    fmt::format_to(o, "memory     total {}, free {}, available {}, cached {}, anon {}   [/proc/meminfo]\n", b(m.mem_total),
                   b(m.mem_free), b(m.mem_available), b(m.cached), b(m.anon_pages));
    fmt::format_to(o, "           slab {} (unreclaimable {}), page tables {}, vmalloc {}, anon huge pages {}, swap used {}\n",
                   b(m.slab), b(m.s_unreclaim), b(m.page_tables), b(m.vmalloc_used), b(m.anon_huge_pages),
                   m.swap_total && m.swap_free ? human_bytes(static_cast<double>(*m.swap_total - *m.swap_free)) : "?");
  }
  if (s.buddy) {
    fmt::format_to(o, "\nfree memory by order (free blocks of 2^order pages; unusable free space index and fragmentation\n"
                      "index for an allocation of that order, as mm/vmstat.c computes them)   [/proc/buddyinfo]\n");
    for (int zi = 0; zi < s.buddy->zones; ++zi) {
      const proc::BuddyZone& z = s.buddy->zone[zi];
      fmt::format_to(o, "  node {} {:<8} order", z.node, z.zone);
      for (int k = 0; k < z.orders; ++k) fmt::format_to(o, " {:>7}", k);
      fmt::format_to(o, "\n  {:<15} free ", "");
      for (int k = 0; k < z.orders; ++k) fmt::format_to(o, " {:>7}", z.free[k]);
      fmt::format_to(o, "\n  {:<15} unusable", "");
      for (int k = 0; k < z.orders; ++k) fmt::format_to(o, " {:>7.3f}", proc::unusable_free_index(z, k) / 1000.0);
      fmt::format_to(o, "\n  {:<15} fragind ", "");
      for (int k = 0; k < z.orders; ++k) fmt::format_to(o, " {:>7.3f}", proc::fragmentation_index(z, k) / 1000.0);
      fmt::format_to(o, "\n");
    }
  }
  if (s.vmstat) {
    const proc::Vmstat& v = *s.vmstat;
    const proc::Vmstat* p = prev && prev->vmstat ? &*prev->vmstat : nullptr;
    auto c = [&](const std::optional<std::uint64_t> proc::Vmstat::*f) -> std::string {
      const auto& now = v.*f;
      if (!now) return "-";
      if (p && (p->*f)) return fmt::format("+{}", *now - *(p->*f));
      return std::to_string(*now);
    };
    fmt::format_to(o, "\n{}   [/proc/vmstat]\n", p ? fmt::format("events in the last {:.1f} s", interval_s) : "events since boot");
    fmt::format_to(o, "  compaction   stalls {}, failed {}, succeeded {}, daemon wakeups {}, pages migrated {} (failed {})\n",
                   c(&proc::Vmstat::compact_stall), c(&proc::Vmstat::compact_fail), c(&proc::Vmstat::compact_success),
                   c(&proc::Vmstat::compact_daemon_wake), c(&proc::Vmstat::pgmigrate_success), c(&proc::Vmstat::pgmigrate_fail));
    fmt::format_to(o, "  huge pages   faults {}, fallbacks to small pages {}, collapses {}, splits {}\n",
                   c(&proc::Vmstat::thp_fault_alloc), c(&proc::Vmstat::thp_fault_fallback),
                   c(&proc::Vmstat::thp_collapse_alloc), c(&proc::Vmstat::thp_split_page));
    fmt::format_to(o, "  reclaim      allocation stalls {}, major faults {}, swapped in {}, out {}, OOM kills {}\n",
                   c(&proc::Vmstat::allocstall), c(&proc::Vmstat::pgmajfault), c(&proc::Vmstat::pswpin),
                   c(&proc::Vmstat::pswpout), c(&proc::Vmstat::oom_kill));
  }
  if (!s.tunables.empty()) {
    fmt::format_to(o, "\ntunables\n");
    for (const auto& [path, value] : s.tunables) fmt::format_to(o, "  {:<52} {}\n", path, value.empty() ? "(not present)" : value);
  }
  if (s.pageblocks && !s.pageblocks->zones.empty()) {
    fmt::format_to(o, "\npageblocks by migrate type   [/proc/pagetypeinfo]\n  {:<18}", "");
    for (const auto& t : s.pageblocks->types) fmt::format_to(o, " {:>12}", t);
    fmt::format_to(o, "\n");
    for (const auto& z : s.pageblocks->zones) {
      fmt::format_to(o, "  node {} {:<11}", z.node, z.zone);
      for (auto n : z.blocks) fmt::format_to(o, " {:>12}", n);
      fmt::format_to(o, "\n");
    }
  }
  if (s.slabs) {
    std::vector<SlabCache> top = *s.slabs;
    std::sort(top.begin(), top.end(), [](auto& x, auto& y) { return x.bytes() > y.bytes(); });
    fmt::format_to(o, "\nlargest slab caches   [/proc/slabinfo]\n");
    for (std::size_t i = 0; i < top.size() && i < 8; ++i)
      fmt::format_to(o, "  {:<28} {:>11}  {} of {} objects of {} B in use\n", top[i].name,
                     human_bytes(static_cast<double>(top[i].bytes())), top[i].active_objs, top[i].num_objs, top[i].objsize);
  }
  if (s.kernel_log) {
    fmt::format_to(o, "\nkernel log   {} page allocation failures, {} OOM kills{}   [/dev/kmsg]\n", s.kernel_log->allocation_failures,
                   s.kernel_log->oom_kills, s.kernel_log->last.empty() ? "" : "; last: " + s.kernel_log->last);
  }
  for (const auto& sk : s.skipped) fmt::format_to(o, "\nskipped    {}", sk);
  if (!s.skipped.empty()) fmt::format_to(o, "\n");
  return out;
}

}  // namespace fragscope::report
