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

static_assert(SiteTable::kMaxSites - 1 <= Event::kSiteMask, "a site id must fit in an event's tag");
static_assert(kNumEventOps + 1 <= 15, "an Op + 1 must fit in an event's 4 call bits");

class EventApplier {
 public:
  /// Requires r.init() done. False when our memory cannot be mapped.
  bool init(Recorder& r) noexcept;

  /// A hook appends an event to its thread's ring; a full ring is drained first, by this thread.
  void push(ThreadStats& t, const Event& e) noexcept {
    if (!t.ring.try_push(e)) [[unlikely]]
      push_full(t, e);
  }
  /// push(t, Event::alloc(...)) and push(t, Event::free(...)), written in place (try_emplace).
  void push_alloc(ThreadStats& t, std::uintptr_t a, std::uint64_t tick, std::uint64_t req, std::uint64_t usable,
                  std::uint32_t site, unsigned call) noexcept {
    const std::uint32_t tag = Event::kAlloc | (call << Event::kCallShift) | (site & Event::kSiteMask);
    if (!t.ring.try_emplace(a, tick, req, Event::slack_of(req, usable), tag)) [[unlikely]]
      push_full(t, Event::alloc(a, tick, req, usable, site, call));
  }
  void push_free(ThreadStats& t, std::uintptr_t a, std::uint64_t tick, std::uint64_t usable, unsigned call) noexcept {
    if (!t.ring.try_emplace(a, tick, usable, 0, Event::kFree | (call << Event::kCallShift))) [[unlikely]]
      push_full(t, Event::free(a, tick, usable, call));
  }
  /// Applies every event published so far. Waits for the lock; returns the events applied.
  std::size_t drain() noexcept;

  /// Exclusive: the applier is the live table's only writer (the process is batched: no hook
  /// updates the table itself). Then it applies without bucket locks, unless a reader has
  /// announced itself with begin_shared(). Set by the shim as its recording mode changes; the
  /// switch to direct recording clears it before its last drain.
  void set_exclusive(bool on) noexcept { exclusive_.store(on, std::memory_order_release); }
  /// Another thread is about to walk or look up the live table: until end_shared(), drains take
  /// the bucket locks. Returns once no drain that might have skipped them is still running.
  void begin_shared() noexcept {
    shared_.fetch_add(1, std::memory_order_seq_cst);
    LockGuard g(lock_);  // a drain that read shared_ == 0 has finished; later ones see it
  }
  void end_shared() noexcept { shared_.fetch_sub(1, std::memory_order_release); }

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
  template <bool kLocked>
  void apply(const Event& e) noexcept;

  Recorder* r_ = nullptr;
  ThreadStats* c_ = nullptr;  // the applier's counters (written under lock_ only)
  SpinLock lock_;
  std::atomic<std::uint64_t> applied_{0}, full_drains_{0};
  std::atomic<bool> exclusive_{false};
  std::atomic<unsigned> shared_{0};
};

}  // namespace fragscope::core
