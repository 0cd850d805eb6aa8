// The pools of the process in the snapshot. See pool_view.hpp.
#include "pool_view.hpp"

#include <cstring>

#include "fragscope/pools/bridge.h"
#include "remedy.hpp"
#include "spinlock.hpp"

namespace fragscope::shim {
namespace {

constexpr std::size_t kMaxRegistered = 1024;
constexpr std::size_t kMaxShown = 64;

struct Registered {
  const void* pool;
  fragscope_pool_report_fn report;
};

// Static storage, zero-initialised: usable before the shim initialises (pools built by static
// constructors of the host's libraries).
core::SpinLock g_lock;
Registered g_registered[kMaxRegistered];  // GUARDED_BY g_lock
std::size_t g_unlisted = 0;              // registrations refused: table full. GUARDED_BY g_lock

void append_json_name(core::TextBuffer& out, const char* name) {
  if (name == nullptr) name = "";
  core::append_printf(out, "\"name\":");
  core::json_string(out, name);
}

}  // namespace

void encode_pool_sections(core::TextBuffer& out) noexcept {
  fragscope_pool_report shown[kMaxShown];
  std::size_t nshown = 0, registered = 0, unlisted = 0;
  {
    core::LockGuard guard(g_lock);
    for (const Registered& r : g_registered) {
      if (r.pool == nullptr) continue;
      ++registered;
      fragscope_pool_report rep{};
      r.report(r.pool, &rep);
      if (rep.peak == 0 && rep.chunks == 0) continue;  // never used: a resource's idle classes
      if (nshown < kMaxShown) shown[nshown++] = rep;
      else ++unlisted;
    }
    unlisted += g_unlisted;
  }
  if (registered != 0) {
    core::append_printf(out, ",\"pools\":{\"registered\":%zu,\"unlisted\":%zu,\"list\":[", registered, unlisted);
    for (std::size_t i = 0; i < nshown; ++i) {
      const fragscope_pool_report& r = shown[i];
      core::append_printf(out, "%s{", i ? "," : "");
      append_json_name(out, r.name);
      core::append_printf(out,
                          ",\"slot_size\":%zu,\"stride\":%zu,\"live\":%zu,\"peak\":%zu,\"chunks\":%zu,"
                          "\"committed_bytes\":%zu}",
                          r.slot_size, r.stride, r.live, r.peak, r.chunks, r.chunks * r.chunk_size);
    }
    core::append_printf(out, "]}");
  }
  const std::size_t npools = remedy_pools();
  if (npools != 0) {
    core::append_printf(out, ",\"pool_remedy\":[");
    for (std::size_t i = 0; i < npools; ++i) {
      RemedyPoolStats s = remedy_stats(i);
      core::append_printf(out,
                          "%s{\"size\":%zu,\"stride\":%zu,\"live\":%zu,\"peak\":%zu,\"chunks\":%zu,"
                          "\"committed_bytes\":%zu}",
                          i ? "," : "", s.size, s.stride, s.live, s.peak, s.chunks, s.committed_bytes);
    }
    core::append_printf(out, "]");
  }
}

void pool_registry_lock() noexcept { g_lock.lock(); }
void pool_registry_unlock() noexcept { g_lock.unlock(); }

}  // namespace fragscope::shim

namespace fs = fragscope::shim;

extern "C" __attribute__((visibility("default"))) int fragscope_pool_register(unsigned version, const void* pool,
                                                                             fragscope_pool_report_fn report) {
  if (version != FRAGSCOPE_POOL_BRIDGE_VERSION || pool == nullptr || report == nullptr) return -1;
  fragscope::core::LockGuard guard(fs::g_lock);
  for (fs::Registered& r : fs::g_registered) {
    if (r.pool == nullptr) {
      r = {pool, report};
      return 0;
    }
  }
  ++fs::g_unlisted;
  return -1;
}

extern "C" __attribute__((visibility("default"))) void fragscope_pool_unregister(const void* pool) {
  fragscope::core::LockGuard guard(fs::g_lock);
  for (fs::Registered& r : fs::g_registered) {
    if (r.pool == pool) {
      r = {nullptr, nullptr};
      return;
    }
  }
}
