// Call sites in the snapshot (see site_view.hpp).
#include "site_view.hpp"

#include <dlfcn.h>

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

int module_index(const char* path) {
  for (std::size_t i = 0; i < g_nmodules; ++i)
    if (g_modules[i] == path || std::strcmp(g_modules[i], path) == 0) return static_cast<int>(i);
  if (g_nmodules == kModules) return -1;
  g_modules[g_nmodules] = path;  // dladdr's strings live as long as the module stays loaded
  return static_cast<int>(g_nmodules++);
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
        int mod = module_index(info.dli_fname);
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
  out.append("],\"top_pinned_sites\":[");
  if (layout)
    for (unsigned i = 0; i < layout->ntop_pinned; ++i) core::append_printf(out, "%s%u", i ? "," : "", pinned_site[i]);
  out.append("]}");
}

}  // namespace fragscope::shim
