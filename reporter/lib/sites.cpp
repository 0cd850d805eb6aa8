// Named call sites (see sites.hpp).
#include "sites.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <string_view>

#include "json_access.hpp"
#include "symbolizer.hpp"

namespace fragscope::report {
namespace {

// Frames between the program and the allocator: the C and C++ runtimes, and the allocation
// wrappers programs and libraries put in front of malloc (Redis's zmalloc, GNU's xmalloc, GLib's
// g_malloc, CPython's PyMem_* and PyObject_*, ...). They are skipped to find where the program
// asked for memory; collapsed stacks keep every frame.
bool wrapper_name(std::string_view fn) {
  // Names by prefix: the wrapper families of common programs and libraries.
  static constexpr std::string_view kPrefixes[] = {
      "operator new", "std::__new_allocator", "__gnu_cxx::new_allocator", "std::allocator",
      "std::allocator_traits", "std::_Vector_base", "zmalloc", "zcalloc", "zrealloc", "ztrymalloc",
      "ztrycalloc", "ztryrealloc", "zstrdup", "xmalloc", "xcalloc", "xrealloc", "xzalloc", "xstrdup",
      "xmemdup", "g_malloc", "g_malloc0", "g_realloc", "g_try_malloc", "g_slice_alloc", "g_new",
      "g_strdup", "PyMem_", "_PyMem_", "PyObject_Malloc", "PyObject_Calloc", "PyObject_Realloc",
      "_PyObject_Malloc", "_PyObject_Calloc", "_PyObject_Realloc", "_PyObject_GC_", "PyObject_GC_",
      "_PyObject_New", "PyType_GenericAlloc", "_PyType_AllocNoTrack", "sqlite3Malloc", "sqlite3DbMallocRaw",
      "sqlite3DbMallocZero", "sqlite3MemMalloc", "sqlite3MallocZero", "pymalloc_", "_PyLong_New",
      "emalloc", "ecalloc", "erealloc", "OPENSSL_malloc", "CRYPTO_malloc", "CRYPTO_zalloc",
      "av_malloc", "av_mallocz", "je_malloc", "je_calloc", "tc_malloc", "mi_malloc", "safe_malloc",
      "checked_malloc", "mem_alloc", "my_malloc"};
  for (auto p : kPrefixes)
    if (fn.substr(0, p.size()) == p) return true;
  return false;
}

bool runtime_frame(const NamedFrame& f) {
  auto base = f.module.substr(f.module.rfind('/') + 1);
  if (base.rfind("libc.so", 0) == 0 || base.rfind("libstdc++.so", 0) == 0 || base.rfind("ld-linux", 0) == 0 ||
      base.rfind("libjemalloc.so", 0) == 0 || base.rfind("libtcmalloc", 0) == 0 || base.rfind("libmimalloc.so", 0) == 0)
    return true;
  return wrapper_name(f.function);
}

}  // namespace

std::string NamedFrame::label() const {
  if (!function.empty()) return location.empty() ? function : fmt::format("{} ({})", function, location);
  auto slash = module.rfind('/');
  return fmt::format("{}+{:#x}", slash == std::string::npos ? module : module.substr(slash + 1), offset);
}

const NamedFrame* NamedSite::origin() const { return frames.empty() ? nullptr : &frames[origin_index()]; }

std::size_t NamedSite::origin_index() const {
  for (std::size_t i = 0; i < frames.size(); ++i)
    if (!runtime_frame(frames[i])) return i;
  return 0;
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
