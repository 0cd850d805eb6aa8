// Call sites in the snapshot (see site_view.hpp).
#include "site_view.hpp"

#include <dlfcn.h>
#include <elf.h>
#include <link.h>

#include <algorithm>
#include <cstdarg>
#include <cstdio>
#include <cstring>

#include "os_memory.hpp"
#include "runtime.hpp"

namespace fragscope::shim {
namespace {

constexpr std::size_t kTopLive = 32, kTopChurn = 16, kTopPinnedSites = 16, kFramesOut = 24, kModules = 256;

// Reporter-only scratch: the site records and the modules named in this snapshot.
core::SiteTable::Site* g_sites = nullptr;
const char* g_modules[kModules];
std::size_t g_nmodules = 0;

// Where each module named in this snapshot is loaded, so that a profile can be symbolized
// elsewhere (pprof's mappings): the base its frames' offsets are from (dladdr's dli_fbase), its
// executable segment as /proc/self/maps would show it, and its GNU build ID.
struct ModuleMap {
  std::uintptr_t base = 0, start = 0, limit = 0, file_offset = 0;
  unsigned char build_id[64];
  unsigned build_id_len = 0;
  bool found = false;
};
ModuleMap g_maps[kModules];

int module_index(const char* path, const void* base) {
  for (std::size_t i = 0; i < g_nmodules; ++i)
    if (g_modules[i] == path || std::strcmp(g_modules[i], path) == 0) return static_cast<int>(i);
  if (g_nmodules == kModules) return -1;
  g_modules[g_nmodules] = path;  // dladdr's strings live as long as the module stays loaded
  g_maps[g_nmodules] = ModuleMap{};
  g_maps[g_nmodules].base = reinterpret_cast<std::uintptr_t>(base);
  return static_cast<int>(g_nmodules++);
}

// Fills g_maps from the loader's list (dl_iterate_phdr: no allocation). A module is matched by
// its base lying in one of the object's loadable segments; notes are read in place (they are
// inside a loaded segment of a loaded object).
void find_module_maps() noexcept {
  dl_iterate_phdr(
      [](dl_phdr_info* info, std::size_t, void*) -> int {
        const std::uintptr_t page = 4096;
        for (std::size_t m = 0; m < g_nmodules; ++m) {
          ModuleMap& mm = g_maps[m];
          if (mm.found) continue;
          bool mine = false;
          for (int i = 0; i < info->dlpi_phnum && !mine; ++i) {
            const auto& ph = info->dlpi_phdr[i];
            const std::uintptr_t lo = (info->dlpi_addr + ph.p_vaddr) & ~(page - 1);
            mine = ph.p_type == PT_LOAD && mm.base >= lo && mm.base < info->dlpi_addr + ph.p_vaddr + ph.p_memsz;
          }
          if (!mine) continue;
          mm.found = true;
          for (int i = 0; i < info->dlpi_phnum; ++i) {
            const auto& ph = info->dlpi_phdr[i];
            if (ph.p_type == PT_LOAD && (ph.p_flags & PF_X) && mm.limit == 0) {
              const std::uintptr_t a = info->dlpi_addr + ph.p_vaddr;
              mm.start = a & ~(page - 1);
              mm.limit = (a + ph.p_memsz + page - 1) & ~(page - 1);
              mm.file_offset = ph.p_offset & ~(page - 1);
            }
            if (ph.p_type != PT_NOTE || mm.build_id_len != 0) continue;
            const auto* p = reinterpret_cast<const unsigned char*>(info->dlpi_addr + ph.p_vaddr);
            const unsigned char* end = p + ph.p_memsz;
            // Name and descriptor are padded to the segment's alignment: 4, or 8 (gABI).
            const std::uint64_t pad = ph.p_align == 8 ? 7 : 3;
            while (p + sizeof(ElfW(Nhdr)) <= end) {
              ElfW(Nhdr) nh;
              std::memcpy(&nh, p, sizeof nh);
              const unsigned char* name = p + sizeof nh;
              if (nh.n_namesz > static_cast<std::uint64_t>(end - name)) break;
              const unsigned char* desc = name + ((nh.n_namesz + pad) & ~pad);
              if (desc > end || nh.n_descsz > static_cast<std::uint64_t>(end - desc)) break;
              if (nh.n_type == NT_GNU_BUILD_ID && nh.n_namesz == 4 && std::memcmp(name, "GNU", 4) == 0 &&
                  nh.n_descsz > 0 && nh.n_descsz <= sizeof mm.build_id) {
                std::memcpy(mm.build_id, desc, nh.n_descsz);
                mm.build_id_len = nh.n_descsz;
                break;
              }
              const std::uint64_t step = (nh.n_descsz + pad) & ~pad;
              if (step > static_cast<std::uint64_t>(end - desc)) break;
              p = desc + step;
            }
          }
        }
        return 0;
      },
      nullptr);
}

double live_bytes(const core::SiteTable::Site& s) { return std::max(0.0, s.alloc_bytes - s.free_bytes); }

}  // namespace

void encode_sites(core::TextBuffer& out, const core::HeapLayout* layout, const double* pinned, std::size_t npinned) noexcept {
  core::SiteTable& sites = g_rec.sites;
  core::append_printf(out, ",\"sites\":{\"sample_bytes\":%llu", static_cast<unsigned long long>(sites.mean()));
  if (!sites.enabled()) {
    out.append(",\"list\":[],\"modules\":[]}");
    return;
  }
  if (g_sites == nullptr)
    g_sites = static_cast<core::SiteTable::Site*>(core::os_map(sizeof(core::SiteTable::Site) * core::SiteTable::kMaxSites, "site-view"));
  if (g_sites == nullptr) {
    out.append(",\"error\":\"out of memory\",\"list\":[],\"modules\":[]}");
    return;
  }
  const std::size_t n = sites.snapshot(g_sites, core::SiteTable::kMaxSites);
  // Ids are 1-based and in order: g_sites[id - 1] is site `id`.
  std::uint32_t chosen[kTopLive + kTopChurn + kTopPinnedSites + core::HeapLayout::kTopPinned];
  std::size_t nchosen = 0;
  auto choose = [&](std::uint32_t id) {
    if (id == 0 || id > n) return;
    for (std::size_t i = 0; i < nchosen; ++i)
      if (chosen[i] == id) return;
    chosen[nchosen++] = id;
  };
  std::uint32_t order[kTopLive];
  static_assert(kTopPinnedSites <= kTopLive && kTopChurn <= kTopLive);
  // Sites made after the analysis counted none: they have no entry.
  auto pinned_of = [&](std::uint32_t id) { return pinned != nullptr && id < npinned ? pinned[id] : 0.0; };
  auto top_by = [&](auto key, std::size_t k) {
    std::size_t m = 0;
    for (std::uint32_t id = 1; id <= n; ++id) {
      double v = key(g_sites[id - 1]);
      if (v <= 0) continue;
      std::size_t pos = m < k ? m++ : k;
      if (pos == k) {
        if (key(g_sites[order[k - 1] - 1]) >= v) continue;
        pos = k - 1;
      }
      while (pos > 0 && key(g_sites[order[pos - 1] - 1]) < v) {
        order[pos] = order[pos - 1];
        --pos;
      }
      order[pos] = id;
    }
    for (std::size_t i = 0; i < m; ++i) choose(order[i]);
  };
  top_by(live_bytes, kTopLive);
  top_by([](const core::SiteTable::Site& s) { return s.frees; }, kTopChurn);
  if (pinned)
    top_by([&](const core::SiteTable::Site& s) { return pinned_of(static_cast<std::uint32_t>(&s - g_sites) + 1); },
           kTopPinnedSites);
  std::uint32_t pinned_site[core::HeapLayout::kTopPinned] = {};
  if (layout) {
    for (unsigned i = 0; i < layout->ntop_pinned; ++i) {
      pinned_site[i] = sites.site_of(layout->top_pinned[i].addr);
      choose(pinned_site[i]);
    }
  }

  // The sites left out of the list, in sum, so that a profile's totals are the snapshot's.
  struct Sum {
    double allocs = 0, alloc_bytes = 0, frees = 0, live_bytes = 0, live_blocks = 0, pinned_bytes = 0;
  } others;
  auto add = [&](std::uint32_t id, double sign) {
    const core::SiteTable::Site& s = g_sites[id - 1];
    others.allocs += sign * s.allocs, others.alloc_bytes += sign * s.alloc_bytes, others.frees += sign * s.frees;
    others.live_bytes += sign * live_bytes(s), others.live_blocks += sign * std::max(0.0, s.allocs - s.frees);
    others.pinned_bytes += sign * pinned_of(id);
  };
  for (std::uint32_t id = 1; id <= n; ++id) add(id, 1);
  for (std::size_t i = 0; i < nchosen; ++i) add(chosen[i], -1);
  core::append_printf(out,
      ",\"others\":{\"sites\":%zu,\"allocs\":%.0f,\"alloc_bytes\":%.0f,\"frees\":%.0f,\"live_bytes\":%.0f,"
      "\"live_blocks\":%.0f,\"pinned_bytes\":%.0f}",
      n - nchosen, std::max(0.0, others.allocs), std::max(0.0, others.alloc_bytes), std::max(0.0, others.frees),
      std::max(0.0, others.live_bytes), std::max(0.0, others.live_blocks), std::max(0.0, others.pinned_bytes));
  core::append_printf(out, ",\"count\":%zu,\"dropped\":%llu,\"list\":[", n, static_cast<unsigned long long>(sites.dropped()));
  g_nmodules = 0;
  for (std::size_t i = 0; i < nchosen; ++i) {
    const core::SiteTable::Site& s = g_sites[chosen[i] - 1];
    core::append_printf(out,
        "%s{\"id\":%u,\"samples\":%llu,\"allocs\":%.0f,\"alloc_bytes\":%.0f,\"frees\":%.0f,\"live_bytes\":%.0f,"
        "\"live_blocks\":%.0f,\"pinned_bytes\":%.0f,\"frames\":[",
        i ? "," : "", chosen[i], static_cast<unsigned long long>(s.samples), s.allocs, s.alloc_bytes, s.frees,
        live_bytes(s), std::max(0.0, s.allocs - s.frees), pinned_of(chosen[i]));
    void* const* frames = sites.frames(s);
    for (std::uint32_t f = 0; f < s.nframes && f < kFramesOut; ++f) {
      Dl_info info{};
      // A return address: look up the call instruction before it.
      void* ip = static_cast<char*>(frames[f]) - 1;
      if (dladdr(ip, &info) != 0 && info.dli_fname != nullptr) {
        int mod = module_index(info.dli_fname, info.dli_fbase);
        core::append_printf(out, "%s[%d,%llu,", f ? "," : "", mod,
            static_cast<unsigned long long>(reinterpret_cast<std::uintptr_t>(ip) - reinterpret_cast<std::uintptr_t>(info.dli_fbase)));
        if (info.dli_sname) core::json_string(out, info.dli_sname);
        else out.append("null");
        out.append("]");
      } else {
        core::append_printf(out, "%s[-1,%llu,null]", f ? "," : "", static_cast<unsigned long long>(reinterpret_cast<std::uintptr_t>(ip)));
      }
    }
    out.append("]}");
  }
  out.append("],\"modules\":[");
  for (std::size_t i = 0; i < g_nmodules; ++i) {
    if (i) out.append(",");
    core::json_string(out, g_modules[i]);
  }
  // Where they are loaded (for pprof's mappings): parallel to `modules`.
  find_module_maps();
  out.append("],\"module_maps\":[");
  for (std::size_t i = 0; i < g_nmodules; ++i) {
    const ModuleMap& mm = g_maps[i];
    core::append_printf(out, "%s{\"base\":%llu,\"start\":%llu,\"limit\":%llu,\"file_offset\":%llu,\"build_id\":",
                        i ? "," : "", static_cast<unsigned long long>(mm.base), static_cast<unsigned long long>(mm.start),
                        static_cast<unsigned long long>(mm.limit), static_cast<unsigned long long>(mm.file_offset));
    if (mm.build_id_len == 0) {
      out.append("null}");
      continue;
    }
    char hex[2 * sizeof mm.build_id + 3];
    hex[0] = '"';
    for (unsigned b = 0; b < mm.build_id_len; ++b) {
      hex[1 + 2 * b] = "0123456789abcdef"[mm.build_id[b] >> 4];
      hex[2 + 2 * b] = "0123456789abcdef"[mm.build_id[b] & 15];
    }
    hex[1 + 2 * mm.build_id_len] = '"';
    hex[2 + 2 * mm.build_id_len] = 0;
    out.append(hex);
    out.append("}");
  }
  out.append("],\"top_pinned_sites\":[");
  if (layout)
    for (unsigned i = 0; i < layout->ntop_pinned; ++i) core::append_printf(out, "%s%u", i ? "," : "", pinned_site[i]);
  out.append("]}");
}

}  // namespace fragscope::shim
