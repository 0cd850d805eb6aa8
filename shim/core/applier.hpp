// The applier: applies the hooks' events (event_log.hpp) to the live table, the size-class and
// lifetime counters, the peaks and the call sites, exactly as recording each call at once would
// (record_alloc / record_free), in each ring's order. One drainer at a time (lock_). Counts go into
// a ThreadStats block of the applier's own, so that they never have two writers: the hook thread
// keeps writing its call counters and sampling state, and, after the process switched to direct
// recording, its size-class counters too.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "event_log.hpp"
#include "recorder.hpp"
#include "spinlock.hpp"

namespace fragscope::core {

class EventApplier {
 public:
  /// Requires r.init() done. False when our memory cannot be mapped.
  bool init(Recorder& r) noexcept;

  /// A hook appends an event to its thread's ring; a full ring is drained first, by this thread.
  void push(ThreadStats& t, const Event& e) noexcept {
    if (!t.ring.try_push(e)) [[unlikely]]
      push_full(t, e);
  }
  /// Applies every event published so far. Waits for the lock; returns the events applied.
  std::size_t drain() noexcept;

  struct Stats {
    std::uint64_t applied;      // events applied
    std::uint64_t full_drains;  // drains by a hook whose ring was full
  };
  Stats stats() const noexcept {
    return Stats{applied_.load(std::memory_order_relaxed), full_drains_.load(std::memory_order_relaxed)};
  }

  /// fork(): taken first in prepare, released last in parent and child.
  void lock() noexcept { lock_.lock(); }
  void unlock() noexcept { lock_.unlock(); }

 private:
  void push_full(ThreadStats& t, const Event& e) noexcept;
  std::size_t drain_locked() noexcept;
  void apply(const Event& e) noexcept;

  Recorder* r_ = nullptr;
  ThreadStats* c_ = nullptr;  // the applier's counters (written under lock_ only)
  SpinLock lock_;
  std::atomic<std::uint64_t> applied_{0}, full_drains_{0};
};

}  // namespace fragscope::core
