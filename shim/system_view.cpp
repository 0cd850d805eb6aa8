// The system's view in the snapshot (see system_view.hpp).
#include "system_view.hpp"

#include <cstring>

namespace fragscope::shim {
namespace {

void put_opt(core::TextBuffer& out, bool& first, const char* key, const std::optional<std::uint64_t>& v) {
  if (!v) return;
  core::append_printf(out, "%s\"%s\":%llu", first ? "" : ",", key, static_cast<unsigned long long>(*v));
  first = false;
}

void put_error(core::TextBuffer& out, const char* proc_dir, const char* file, int err) {
  core::append_printf(out, "{\"error\":");
  char line[200];
  std::snprintf(line, sizeof(line), "cannot read %.80s/%s: %s", proc_dir, file, std::strerror(err));
  core::json_string(out, line);
  core::append_printf(out, "}");
}

}  // namespace

void encode_system_view(core::TextBuffer& out, const SystemView& v, const char* proc_dir) noexcept {
  core::append_printf(out, ",\"system\":{\"buddyinfo\":");
  if (v.buddy_errno != 0) {
    put_error(out, proc_dir, "buddyinfo", v.buddy_errno);
  } else {
    core::append_printf(out, "[");
    for (int z = 0; z < v.buddy.zones; ++z) {
      const proc::BuddyZone& zone = v.buddy.zone[z];
      core::append_printf(out, "%s{\"node\":%d,\"zone\":", z ? "," : "", zone.node);
      core::json_string(out, zone.zone);
      core::append_printf(out, ",\"free\":[");
      for (int o = 0; o < zone.orders; ++o)
        core::append_printf(out, "%s%llu", o ? "," : "", static_cast<unsigned long long>(zone.free[o]));
      // The kernel's indices, in thousandths as it computes them (debugfs prints them /1000).
      core::append_printf(out, "],\"unusable_index\":[");
      for (int o = 0; o < zone.orders; ++o) core::append_printf(out, "%s%d", o ? "," : "", proc::unusable_free_index(zone, o));
      core::append_printf(out, "],\"fragmentation_index\":[");
      for (int o = 0; o < zone.orders; ++o) core::append_printf(out, "%s%d", o ? "," : "", proc::fragmentation_index(zone, o));
      core::append_printf(out, "]}");
    }
    core::append_printf(out, "]");
  }
  core::append_printf(out, ",\"meminfo\":");
  if (v.meminfo_errno != 0) {
    put_error(out, proc_dir, "meminfo", v.meminfo_errno);
  } else {
    const proc::Meminfo& m = v.meminfo;
    bool first = true;
    core::append_printf(out, "{");
    put_opt(out, first, "mem_total", m.mem_total);
    put_opt(out, first, "mem_free", m.mem_free);
    put_opt(out, first, "mem_available", m.mem_available);
    put_opt(out, first, "buffers", m.buffers);
    put_opt(out, first, "cached", m.cached);
    put_opt(out, first, "swap_total", m.swap_total);
    put_opt(out, first, "swap_free", m.swap_free);
    put_opt(out, first, "anon_pages", m.anon_pages);
    put_opt(out, first, "slab", m.slab);
    put_opt(out, first, "s_reclaimable", m.s_reclaimable);
    put_opt(out, first, "s_unreclaim", m.s_unreclaim);
    put_opt(out, first, "page_tables", m.page_tables);
    put_opt(out, first, "vmalloc_used", m.vmalloc_used);
    put_opt(out, first, "anon_huge_pages", m.anon_huge_pages);
    put_opt(out, first, "committed_as", m.committed_as);
    put_opt(out, first, "commit_limit", m.commit_limit);
    core::append_printf(out, "}");
  }
  core::append_printf(out, ",\"vmstat\":");
  if (v.vmstat_errno != 0) {
    put_error(out, proc_dir, "vmstat", v.vmstat_errno);
  } else {
    const proc::Vmstat& s = v.vmstat;
    bool first = true;
    core::append_printf(out, "{");
    put_opt(out, first, "compact_stall", s.compact_stall);
    put_opt(out, first, "compact_fail", s.compact_fail);
    put_opt(out, first, "compact_success", s.compact_success);
    put_opt(out, first, "compact_migrate_scanned", s.compact_migrate_scanned);
    put_opt(out, first, "compact_free_scanned", s.compact_free_scanned);
    put_opt(out, first, "compact_isolated", s.compact_isolated);
    put_opt(out, first, "compact_daemon_wake", s.compact_daemon_wake);
    put_opt(out, first, "thp_fault_alloc", s.thp_fault_alloc);
    put_opt(out, first, "thp_fault_fallback", s.thp_fault_fallback);
    put_opt(out, first, "thp_collapse_alloc", s.thp_collapse_alloc);
    put_opt(out, first, "thp_split_page", s.thp_split_page);
    put_opt(out, first, "pgmigrate_success", s.pgmigrate_success);
    put_opt(out, first, "pgmigrate_fail", s.pgmigrate_fail);
    put_opt(out, first, "allocstall", s.allocstall);
    put_opt(out, first, "pgmajfault", s.pgmajfault);
    put_opt(out, first, "pswpin", s.pswpin);
    put_opt(out, first, "pswpout", s.pswpout);
    put_opt(out, first, "oom_kill", s.oom_kill);
    core::append_printf(out, "}");
  }
  core::append_printf(out, "}");
}

}  // namespace fragscope::shim
