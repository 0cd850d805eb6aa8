// The timestamp taken in every hook. On x86-64 with an invariant TSC it is RDTSC (about 8 ns here,
// against about 19 ns for clock_gettime through the vDSO); elsewhere CLOCK_MONOTONIC. Timestamps
// are in "ticks" (TSC cycles / 32, or nanoseconds / 16); the reporter converts ticks to ns with
// a factor it calibrates against CLOCK_MONOTONIC, so the hooks never divide.
#pragma once

#include <time.h>

#include <atomic>
#include <cstdint>

#if defined(__x86_64__)
#include <x86intrin.h>
#endif

namespace fragscope::core {

enum class ClockSource : std::uint8_t { kMonotonic = 0, kTsc = 1 };

/// Chosen once at start-up (select_clock); read in every hook.
extern std::atomic<ClockSource> g_clock_source;

inline std::uint64_t monotonic_ns() noexcept {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1000000000u + static_cast<std::uint64_t>(ts.tv_nsec);
}

inline std::uint64_t now_ticks() noexcept {
#if defined(__x86_64__)
  if (g_clock_source.load(std::memory_order_relaxed) == ClockSource::kTsc) return __rdtsc() >> 5;
#endif
  return monotonic_ns() >> 4;
}

/// Picks the TSC when /proc/cpuinfo says it is invariant (constant_tsc and nonstop_tsc).
/// `cpuinfo` is the text of /proc/cpuinfo (may be empty: then CLOCK_MONOTONIC is used).
ClockSource select_clock(const char* cpuinfo, std::size_t len) noexcept;

/// The clock the hooks stamp allocations and frees with: a shared tick, not a TSC read per call.
///
/// On this project's VM, RDTSC waits for every load in flight: a loop of independent cache misses
/// goes from 11 to 197 ns per iteration when one RDTSC is added (clock_gettime through the vDSO
/// reads the TSC the same way). One per hook took away the program's memory-level parallelism:
/// on wl_churn, two thirds of the shim's cost. So each thread reads the TSC every kEvery calls
/// and publishes it; while the reporter thread runs it publishes it every millisecond; every
/// other call reads the last published value, a plain load. When nobody ticks (before the
/// reporter starts, in a process that makes few calls, or in a fork child) every call reads the
/// TSC, as before. Lifetimes and ages are therefore measured to about kEvery calls of the thread
/// or a millisecond, whichever is shorter; shorter lifetimes land in the first buckets.
// A line of its own: the reporter writes it every millisecond, and what the hooks read on every
// call (the state, the mode) must not sit beside it.
struct alignas(64) HookClock {
  static constexpr std::uint32_t kEvery = 64;
  std::atomic<std::uint64_t> tick{0};
  std::atomic<bool> ticking{false};  // the reporter publishes `tick` at least every millisecond

  /// Publishes a fresh reading (never moves `tick` back) and returns it.
  std::uint64_t refresh() noexcept {
    const std::uint64_t v = now_ticks();
    std::uint64_t cur = tick.load(std::memory_order_relaxed);
    while (v > cur && !tick.compare_exchange_weak(cur, v, std::memory_order_relaxed)) {
    }
    return v;
  }
  /// A hook's timestamp; `countdown` belongs to the calling thread.
  std::uint64_t read(std::uint32_t& countdown) noexcept {
    if (!ticking.load(std::memory_order_relaxed) || --countdown == 0) [[unlikely]] {
      countdown = kEvery;
      return refresh();
    }
    return tick.load(std::memory_order_relaxed);
  }
};

/// Converts ticks to nanoseconds from two (ticks, ns) readings taken apart in time.
class TickCalibration {
 public:
  void start() noexcept;
  /// Refreshes the factor; cheap (two clock reads). Thread-compatible (reporter only).
  void update() noexcept;
  double ns_per_tick() const noexcept { return ns_per_tick_; }
  std::uint64_t to_ns(std::uint64_t ticks) const noexcept {
    return static_cast<std::uint64_t>(static_cast<double>(ticks) * ns_per_tick_);
  }

 private:
  std::uint64_t t0_ticks_ = 0, t0_ns_ = 0;
  double ns_per_tick_ = 16.0;
};

}  // namespace fragscope::core
