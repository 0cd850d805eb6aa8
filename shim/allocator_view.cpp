// The allocator's own view (see allocator_view.hpp).
#include "allocator_view.hpp"

#include <dlfcn.h>
#include <malloc.h>

#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string_view>

#include "forward.hpp"
#include "os_memory.hpp"

namespace fragscope::shim {
namespace {

enum class Kind { kGlibc, kJemalloc, kTcmalloc, kMimalloc, kOther };

struct Identity {
  Kind kind = Kind::kOther;
  const char* name = "unknown";
  char library[512] = "";
};

Identity identify() {
  Identity id;
  Dl_info info{};
  if (g_real.malloc == nullptr || dladdr(reinterpret_cast<void*>(g_real.malloc), &info) == 0 || info.dli_fname == nullptr)
    return id;
  std::snprintf(id.library, sizeof(id.library), "%s", info.dli_fname);
  const char* base = std::strrchr(info.dli_fname, '/');
  base = base ? base + 1 : info.dli_fname;
  if (std::strstr(base, "jemalloc")) id.kind = Kind::kJemalloc, id.name = "jemalloc";
  else if (std::strstr(base, "tcmalloc")) id.kind = Kind::kTcmalloc, id.name = "tcmalloc";
  else if (std::strstr(base, "mimalloc")) id.kind = Kind::kMimalloc, id.name = "mimalloc";
  else if (std::strncmp(base, "libc.so", 7) == 0) id.kind = Kind::kGlibc, id.name = "glibc";
  return id;
}

template <class F>
F sym(const char* name) {
  return reinterpret_cast<F>(dlsym(RTLD_DEFAULT, name));
}

// malloc_info's totals: the elements after the last </heap> (fast and rest free chunks, mmapped
// chunks, system bytes current and max, address space). Written through fmemopen into a buffer
// of ours (glibc allocates the FILE itself: unrecorded, under the reporter's guard).
double malloc_info_totals(core::TextBuffer& out) {
  using MallocInfo = int (*)(int, FILE*);
  auto mi = sym<MallocInfo>("malloc_info");
  static char* buf = nullptr;
  constexpr std::size_t kCap = 4u << 20;  // one <heap> element per arena: 4 MiB is thousands
  if (buf == nullptr) buf = static_cast<char*>(core::os_map(kCap, "malloc-info"));
  if (mi == nullptr || buf == nullptr) return __builtin_nan("");
  FILE* f = fmemopen(buf, kCap, "w");
  if (f == nullptr) return __builtin_nan("");
  int rc = mi(0, f);
  long len = ftell(f);
  fclose(f);
  if (rc != 0 || len <= 0 || static_cast<std::size_t>(len) >= kCap) return __builtin_nan("");
  std::string_view xml(buf, static_cast<std::size_t>(len));
  // One <heap nr="N"> element per arena: the main arena and each thread arena glibc made.
  std::size_t arenas = 0;
  for (std::size_t pos = 0; (pos = xml.find("<heap nr=", pos)) != std::string_view::npos; ++pos) ++arenas;
  auto last_heap = xml.rfind("</heap>");
  if (last_heap != std::string_view::npos) xml.remove_prefix(last_heap);
  core::append_printf(out, ",\"malloc_info\":{\"arenas\":%zu", arenas);
  bool first = false;
  // Each element: <(total|system|aspace) type="T" [count="N"] size="S"/>
  for (std::size_t pos = 0; (pos = xml.find('<', pos)) != std::string_view::npos; ++pos) {
    std::string_view rest = xml.substr(pos + 1);
    std::string_view tag = rest.substr(0, rest.find(' '));
    if (tag != "total" && tag != "system" && tag != "aspace") continue;
    std::string_view el = rest.substr(0, rest.find('>'));
    auto attr = [&](std::string_view name) -> std::string_view {
      auto a = el.find(name);
      if (a == std::string_view::npos) return {};
      auto v = el.substr(a + name.size());
      return v.substr(0, v.find('"'));
    };
    std::string_view type = attr(" type=\""), size = attr(" size=\""), count = attr(" count=\"");
    auto digits = [](std::string_view v) {
      return !v.empty() && v.find_first_not_of("0123456789") == std::string_view::npos;
    };
    if (type.empty() || !digits(size) || (!count.empty() && !digits(count)) ||
        type.find_first_not_of("abcdefghijklmnopqrstuvwxyz") != std::string_view::npos)
      continue;
    core::append_printf(out, "%s\"%.*s_%.*s\":%.*s", first ? "" : ",", static_cast<int>(tag.size()), tag.data(),
        static_cast<int>(type.size()), type.data(), static_cast<int>(size.size()), size.data());
    first = false;
    if (!count.empty())
      core::append_printf(out, ",\"%.*s_%.*s_count\":%.*s", static_cast<int>(tag.size()), tag.data(), static_cast<int>(type.size()),
          type.data(), static_cast<int>(count.size()), count.data());
  }
  out.append("}");
  return static_cast<double>(arenas);
}

void glibc_view(core::TextBuffer& out, core::AllocatorFigures& fig) {
  using Mallinfo2 = struct mallinfo2 (*)();
  auto mi2 = sym<Mallinfo2>("mallinfo2");
  if (mi2 == nullptr) {
    out.append("{\"error\":\"mallinfo2 not available\"}");
    return;
  }
  struct mallinfo2 m = mi2();
  core::append_printf(out,
      "{\"source\":\"mallinfo2\",\"arena\":%zu,\"ordblks\":%zu,\"smblks\":%zu,\"hblks\":%zu,\"hblkhd\":%zu,"
      "\"fsmblks\":%zu,\"uordblks\":%zu,\"fordblks\":%zu,\"keepcost\":%zu",
      m.arena, m.ordblks, m.smblks, m.hblks, m.hblkhd, m.fsmblks, m.uordblks, m.fordblks, m.keepcost);
  fig.in_use = static_cast<double>(m.uordblks + m.hblkhd);
  fig.free = static_cast<double>(m.fordblks);
  fig.arenas = malloc_info_totals(out);
  out.append("}");
}

void jemalloc_view(core::TextBuffer& out, core::AllocatorFigures& fig) {
  using Mallctl = int (*)(const char*, void*, std::size_t*, void*, std::size_t);
  auto mallctl = sym<Mallctl>("mallctl");
  if (mallctl == nullptr) {
    out.append("{\"error\":\"mallctl not found\"}");
    return;
  }
  std::uint64_t epoch = 1;
  std::size_t sz = sizeof(epoch);
  mallctl("epoch", &epoch, &sz, &epoch, sz);  // refresh the statistics
  out.append("{\"source\":\"mallctl\"");
  std::size_t stat[6] = {};  // allocated, active, resident, mapped, retained, metadata
  bool have[6] = {};
  const char* keys[6] = {"stats.allocated", "stats.active", "stats.resident", "stats.mapped", "stats.retained",
                         "stats.metadata"};
  for (int k = 0; k < 6; ++k) {
    sz = sizeof(stat[k]);
    have[k] = mallctl(keys[k], &stat[k], &sz, nullptr, 0) == 0;
    if (have[k]) core::append_printf(out, ",\"%s\":%zu", keys[k] + 6, stat[k]);
  }
  if (have[0]) fig.in_use = static_cast<double>(stat[0]);
  if (have[0] && have[2] && have[5])
    fig.free = static_cast<double>(stat[2]) - static_cast<double>(stat[0]) - static_cast<double>(stat[5]);
  // Per-bin utilisation over all arenas (MALLCTL_ARENAS_ALL = 4096): used regions / regions of
  // the bin's current slabs.
  unsigned nbins = 0;
  sz = sizeof(nbins);
  out.append(",\"bins\":[");
  double used_regs = 0, all_regs = 0;
  if (mallctl("arenas.nbins", &nbins, &sz, nullptr, 0) == 0) {
    bool first = true;
    for (unsigned i = 0; i < nbins && i < 256; ++i) {
      char key[96];
      std::size_t size = 0, curregs = 0, curslabs = 0;
      std::uint32_t nregs = 0;
      std::snprintf(key, sizeof(key), "arenas.bin.%u.size", i);
      sz = sizeof(size);
      if (mallctl(key, &size, &sz, nullptr, 0) != 0) continue;
      std::snprintf(key, sizeof(key), "arenas.bin.%u.nregs", i);
      sz = sizeof(nregs);
      if (mallctl(key, &nregs, &sz, nullptr, 0) != 0) continue;
      std::snprintf(key, sizeof(key), "stats.arenas.4096.bins.%u.curregs", i);
      sz = sizeof(curregs);
      if (mallctl(key, &curregs, &sz, nullptr, 0) != 0) continue;
      std::snprintf(key, sizeof(key), "stats.arenas.4096.bins.%u.curslabs", i);
      sz = sizeof(curslabs);
      if (mallctl(key, &curslabs, &sz, nullptr, 0) != 0 || curslabs == 0) continue;
      core::append_printf(out, "%s{\"size\":%zu,\"curregs\":%zu,\"curslabs\":%zu,\"nregs\":%u,\"utilization\":%.4f}", first ? "" : ",",
          size, curregs, curslabs, nregs, static_cast<double>(curregs) / (static_cast<double>(curslabs) * nregs));
      first = false;
      used_regs += static_cast<double>(curregs);
      all_regs += static_cast<double>(curslabs) * nregs;
    }
  }
  if (all_regs > 0) fig.bin_utilization = used_regs / all_regs;
  out.append("]}");
}

void tcmalloc_view(core::TextBuffer& out, core::AllocatorFigures& fig) {
  using Get = int (*)(const char*, std::size_t*);
  auto get = sym<Get>("MallocExtension_GetNumericProperty");
  if (get == nullptr) {
    out.append("{\"error\":\"MallocExtension_GetNumericProperty not found\"}");
    return;
  }
  out.append("{\"source\":\"MallocExtension\"");
  std::size_t v[4] = {};
  bool have[4] = {};
  const char* keys[4] = {"generic.current_allocated_bytes", "generic.heap_size", "tcmalloc.pageheap_free_bytes",
                         "tcmalloc.pageheap_unmapped_bytes"};
  for (int k = 0; k < 4; ++k) {
    have[k] = get(keys[k], &v[k]) != 0;
    if (have[k]) core::append_printf(out, ",\"%s\":%zu", keys[k], v[k]);
  }
  if (have[0]) fig.in_use = static_cast<double>(v[0]);
  if (have[0] && have[1] && have[3])
    fig.free = static_cast<double>(v[1]) - static_cast<double>(v[3]) - static_cast<double>(v[0]);
  out.append("}");
}

const Identity& identity() {
  static Identity id = identify();  // the allocator underneath does not change
  return id;
}

// The trim call of the allocator underneath, resolved once.
struct Trim {
  const char* name = nullptr;
  void (*fn)() = nullptr;
};
using Mallctl = int (*)(const char*, void*, std::size_t*, void*, std::size_t);
Mallctl g_mallctl = nullptr;
void (*g_voidfn)() = nullptr;                 // MallocExtension_ReleaseFreeMemory
int (*g_malloc_trim)(std::size_t) = nullptr;
void (*g_mi_collect)(bool) = nullptr;

Trim resolve_trim() {
  switch (identity().kind) {
    case Kind::kGlibc:
      if ((g_malloc_trim = sym<int (*)(std::size_t)>("malloc_trim")) != nullptr)
        return {"malloc_trim(0)", [] { g_malloc_trim(0); }};
      break;
    case Kind::kJemalloc:
      if ((g_mallctl = sym<Mallctl>("mallctl")) != nullptr)
        return {"mallctl(arena.4096.purge)", [] { g_mallctl("arena.4096.purge", nullptr, nullptr, nullptr, 0); }};
      break;
    case Kind::kTcmalloc:
      if ((g_voidfn = sym<void (*)()>("MallocExtension_ReleaseFreeMemory")) != nullptr)
        return {"MallocExtension_ReleaseFreeMemory()", [] { g_voidfn(); }};
      break;
    case Kind::kMimalloc:
      if ((g_mi_collect = sym<void (*)(bool)>("mi_collect")) != nullptr)
        return {"mi_collect(true)", [] { g_mi_collect(true); }};
      break;
    default: break;
  }
  return {};
}

const Trim& trim() {
  static Trim t = resolve_trim();
  return t;
}

}  // namespace

const char* allocator_trim_call() noexcept { return trim().name; }

void allocator_trim() noexcept { trim().fn(); }

void encode_allocator_view(core::TextBuffer& out, core::AllocatorFigures& fig) noexcept {
  const Identity& id = identity();
  fig = core::AllocatorFigures{};
  fig.name = id.name;
  out.append(",\"allocator\":{\"name\":\"");
  out.append(id.name);
  out.append("\",\"library\":");
  core::json_string(out, id.library);
  out.append(",\"native\":");
  switch (id.kind) {
    case Kind::kGlibc: glibc_view(out, fig); break;
    case Kind::kJemalloc: jemalloc_view(out, fig); break;
    case Kind::kTcmalloc: tcmalloc_view(out, fig); break;
    default: out.append("{\"error\":\"no statistics interface known for this allocator\"}");
  }
  out.append("}");
}

}  // namespace fragscope::shim
