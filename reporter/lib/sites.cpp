// Named call sites (see sites.hpp).
#include "sites.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <map>

#include "json_access.hpp"
#include "symbolizer.hpp"

namespace fragscope::report {
namespace {

// Frames of the runtime between the program and the allocator: skipped to find the origin.
bool runtime_frame(const NamedFrame& f) {
  auto base = f.module.substr(f.module.rfind('/') + 1);
  if (base.rfind("libc.so", 0) == 0 || base.rfind("libstdc++.so", 0) == 0 || base.rfind("ld-linux", 0) == 0)
    return true;
  return f.function.rfind("operator new", 0) == 0 || f.function.rfind("std::__new_allocator", 0) == 0 ||
         f.function.rfind("__gnu_cxx::new_allocator", 0) == 0 || f.function.rfind("std::allocator", 0) == 0 ||
         f.function.rfind("std::allocator_traits", 0) == 0 || f.function.rfind("std::_Vector_base", 0) == 0;
}

}  // namespace

std::string NamedFrame::label() const {
  if (!function.empty()) return location.empty() ? function : fmt::format("{} ({})", function, location);
  auto slash = module.rfind('/');
  return fmt::format("{}+{:#x}", slash == std::string::npos ? module : module.substr(slash + 1), offset);
}

const NamedFrame* NamedSite::origin() const {
  for (const auto& f : frames)
    if (!runtime_frame(f)) return &f;
  return frames.empty() ? nullptr : &frames.front();
}

std::vector<NamedSite> named_sites(const nlohmann::json& snapshot) {
  std::vector<NamedSite> out;
  const nlohmann::json& sites = sub(snapshot, "sites");
  std::vector<std::string> modules;
  for (const auto& m : arr(sites, "modules")) modules.push_back(m.is_string() ? m.get<std::string>() : "");
  // A frame is [module index, offset, exported symbol or null]; anything else reads as unknown.
  auto module_of = [&](const nlohmann::json& f) -> std::string {
    const double mod = num_at(f, 0, -1);
    return mod >= 0 && mod < static_cast<double>(modules.size()) ? modules[static_cast<std::size_t>(mod)] : "";
  };
  auto offset_of = [](const nlohmann::json& f) -> std::uint64_t {
    return f.is_array() && f.size() > 1 && f[1].is_number_unsigned() ? f[1].get<std::uint64_t>() : 0;
  };
  // First pass: everything each module needs resolved, in one addr2line run per module.
  std::map<std::string, std::vector<std::uint64_t>> wanted;
  const nlohmann::json& list = arr(sites, "list");
  for (const auto& s : list)
    for (const auto& f : arr(s, "frames")) {
      std::string module = module_of(f);
      if (!module.empty()) wanted[module].push_back(offset_of(f));
    }
  Symbolizer sym;
  for (auto& [module, offsets] : wanted) sym.resolve(module, offsets);
  for (const auto& s : list) {
    NamedSite ns;
    ns.id = static_cast<std::uint32_t>(whole(num(s, "id")));
    ns.live_bytes = num(s, "live_bytes");
    ns.live_blocks = num(s, "live_blocks");
    ns.allocs = num(s, "allocs");
    ns.frees = num(s, "frees");
    ns.alloc_bytes = num(s, "alloc_bytes");
    ns.pinned_bytes = num(s, "pinned_bytes");
    for (const auto& f : arr(s, "frames")) {
      NamedFrame nf;
      nf.module = module_of(f);
      nf.offset = offset_of(f);
      FrameName n = sym.name(nf.module, nf.offset);
      nf.function = !n.function.empty() ? n.function
                    : f.is_array() && f.size() > 2 && f[2].is_string() ? f[2].get<std::string>()
                                                                        : "";
      nf.location = n.location;
      ns.frames.push_back(std::move(nf));
    }
    out.push_back(std::move(ns));
  }
  return out;
}

namespace {
template <class Weight>
std::string collapsed(const std::vector<NamedSite>& sites, Weight weight) {
  std::string out;
  for (const auto& s : sites) {
    if (weight(s) < 1 || s.frames.empty()) continue;
    std::string line;
    for (auto it = s.frames.rbegin(); it != s.frames.rend(); ++it) {
      std::string l = it->function.empty() ? it->label() : it->function;
      std::replace(l.begin(), l.end(), ';', ':');  // ';' separates frames in this format
      if (!line.empty()) line += ';';
      line += l;
    }
    out += fmt::format("{} {:.0f}\n", line, weight(s));
  }
  return out;
}
}  // namespace

std::string collapsed_live_stacks(const std::vector<NamedSite>& sites) {
  return collapsed(sites, [](const NamedSite& s) { return s.live_bytes; });
}

std::string collapsed_pinned_stacks(const std::vector<NamedSite>& sites) {
  return collapsed(sites, [](const NamedSite& s) { return s.pinned_bytes; });
}

}  // namespace fragscope::report
