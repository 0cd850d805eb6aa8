// The system's view in the snapshot (see system_view.hpp).
#include "system_view.hpp"

#include <cstring>

namespace fragscope::shim {
namespace {

void put_opt(core::TextBuffer& out, bool& first, std::string_view key, const std::optional<std::uint64_t>& v) {
  if (!v) return;
  core::append_printf(out, "%s\"%.*s\":%llu", first ? "" : ",", static_cast<int>(key.size()), key.data(),
                      static_cast<unsigned long long>(*v));
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
    bool first = true;
    core::append_printf(out, "{");
    for (const proc::MeminfoField& f : proc::kMeminfoFields) put_opt(out, first, f.name, v.meminfo.*f.field);
    core::append_printf(out, "}");
  }
  core::append_printf(out, ",\"vmstat\":");
  if (v.vmstat_errno != 0) {
    put_error(out, proc_dir, "vmstat", v.vmstat_errno);
  } else {
    bool first = true;
    core::append_printf(out, "{");
    for (const proc::VmstatField& f : proc::kVmstatFields) put_opt(out, first, f.name, v.vmstat.*f.field);
    core::append_printf(out, "}");
  }
  core::append_printf(out, "}");
}

}  // namespace fragscope::shim
