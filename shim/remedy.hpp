// The preload remediation (FRAGSCOPE_POOL_SIZES): request sizes the user names are served from
// fixed-size pools (fragscope::pools::FixedPool) inside the measured process, so that the effect
// of pooling shows on an unchanged binary before anyone writes code.
//
// Each pool owns a reserved stretch of address space (PROT_NONE until a chunk is needed), so
// "is this block ours?" is one subtraction and compare on every free, and the pool of a block is
// its offset divided by the stretch. Pool sizes are rounded up to multiples of 16 (malloc's
// alignment), and a request of n bytes goes to the smallest pool size ≥ n;
// realloc moves a block into or out of the pools when its new size says so (as jemalloc moves a
// shrunk block into its size class). Slots are 16-byte aligned, like malloc's blocks. Each pool
// has its own spin lock, taken across fork.
//
// Everything here runs under the recursion guard: the pools' own bookkeeping allocates through
// the real allocator.
#pragma once

#include <cstddef>
#include <cstdint>

#include "config.hpp"

namespace fragscope::shim {

struct RemedyRange {
  std::uintptr_t base = 0;    // 0 when the remediation is off: owns() is then always false
  std::uintptr_t span = 0;    // bytes reserved for all pools
  std::uintptr_t per_pool = 0;
  std::size_t max_size = 0;   // largest request served
  std::int8_t pool_of_size16[core::Config::kMaxPoolSize / 16 + 1] = {};  // (n + 15) / 16 → pool, -1 none
};
extern RemedyRange g_remedy;

inline bool remedy_owns(const void* p) noexcept {
  return reinterpret_cast<std::uintptr_t>(p) - g_remedy.base < g_remedy.span;
}
// The pool that serves a request of n bytes, or -1.
/// Whether the preload remediation serves any size.
inline bool remedy_on() noexcept { return g_remedy.max_size != 0; }
inline int remedy_pool_for(std::size_t n) noexcept {
  if (n == 0 || n > g_remedy.max_size) return -1;
  return g_remedy.pool_of_size16[(n + 15) / 16];
}

/// Sets up the pools of cfg.pool_sizes (none: stays off). On failure (address space refused)
/// stays off and returns a warning line to print, else nullptr. Requires the guard.
const char* remedy_init(const core::Config& cfg) noexcept;

/// A slot of pool `pool`; nullptr (errno ENOMEM) when it cannot grow. Requires the guard.
void* remedy_alloc(int pool) noexcept;
/// Returns a slot. Requires: remedy_owns(p). Requires the guard.
void remedy_free(void* p) noexcept;
/// Usable bytes of a slot (the pool's stride). Requires: remedy_owns(p).
std::size_t remedy_usable(const void* p) noexcept;
/// realloc for the cases the remediation is involved in (p ours, or n served by a pool);
/// mirrors glibc: realloc(p, 0) frees and returns nullptr. Requires the guard.
void* remedy_realloc(void* p, std::size_t n) noexcept;

struct RemedyPoolStats {
  std::size_t size, stride, live, peak, chunks, committed_bytes;
};
/// Number of pools (0 when off), and a pool's counters (lock-free reads).
std::size_t remedy_pools() noexcept;
RemedyPoolStats remedy_stats(std::size_t pool) noexcept;

/// fork: every pool lock, in pool order.
void remedy_lock_all() noexcept;
void remedy_unlock_all() noexcept;

}  // namespace fragscope::shim
