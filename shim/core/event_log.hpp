// The hooks' event log, while one thread allocates: what a hook writes instead of updating the
// live table itself.
//
// A live-table update costs a cache miss or two on a table of megabytes, taken in the hook where
// the program waits for it. While a single thread of the process calls the hooks, a hook appends
// one 32-byte event to its thread's ring instead (sequential writes, no lock), and the table and
// counters are updated when the ring is full — by that thread, a batch of events at once, with
// the table lines prefetched several events ahead — or before a snapshot. Events are applied in
// the ring's order, which is the program's, so the figures are exactly those of recording each
// call at once. Only one thread logs at a time (the batcher): when another thread calls a hook
// it takes the batching over after every logged event is applied, or, when threads take turns
// too often, switches the process to recording each call at once (shim/runtime.hpp: orders
// across threads are then the table locks' business) until one thread calls the hooks alone again.
//
// EventRing is single-producer (its thread) and single-consumer (whoever holds the applier's
// lock: the producer itself when its ring is full, the reporter for a snapshot, the thread that
// takes the batching over or switches the process to direct recording).
#pragma once

#include <atomic>
#include <cstdint>

namespace fragscope::core {

struct Event {
  enum Kind : std::uint32_t { kAlloc = 1u << 30, kFree = 2u << 30 };
  static constexpr unsigned kCallShift = 26;
  static constexpr std::uint32_t kSiteMask = (1u << kCallShift) - 1;
  std::uintptr_t addr;
  std::uint64_t tick;
  std::uint64_t size;   // alloc: requested bytes; free: the block's usable bytes
  std::uint32_t slack;  // alloc: usable - requested bytes (saturated at 2^32 - 1)
  std::uint32_t tag;    // Kind | call << kCallShift | call-site id (alloc; 0 = not sampled)

  bool is_alloc() const noexcept { return (tag & kAlloc) != 0; }
  std::uint32_t site() const noexcept { return tag & kSiteMask; }
  /// The hooked call this event counts, as its Op + 1 (0: the hook counted its call itself), so
  /// that a hook's own counter update moves into the applier.
  unsigned call() const noexcept { return (tag >> kCallShift) & 15; }
  std::uint64_t usable() const noexcept { return size + slack; }

  static std::uint32_t slack_of(std::uint64_t req, std::uint64_t usable) noexcept {
    const std::uint64_t s = usable > req ? usable - req : 0;
    return s > 0xffffffffu ? 0xffffffffu : static_cast<std::uint32_t>(s);
  }
  static Event alloc(std::uintptr_t a, std::uint64_t t, std::uint64_t req, std::uint64_t usable,
                     std::uint32_t site, unsigned call = 0) noexcept {
    return Event{a, t, req, slack_of(req, usable), kAlloc | (call << kCallShift) | (site & kSiteMask)};
  }
  static Event free(std::uintptr_t a, std::uint64_t t, std::uint64_t usable, unsigned call = 0) noexcept {
    return Event{a, t, usable, 0, kFree | (call << kCallShift)};
  }
};
static_assert(sizeof(Event) == 32);

class EventRing {
 public:
  static constexpr std::uint64_t kCapacity = 4096;  // 128 KiB per thread, touched as it is used

  EventRing() noexcept {}  // leaves events_ alone: a ring's pages are touched only as it fills

  /// Producer: appends e; false when the ring is full (then e is not appended).
  bool try_push(const Event& e) noexcept {
    const std::uint64_t h = head_.load(std::memory_order_relaxed);
    if (h - tail_seen_ >= kCapacity) [[unlikely]] {
      tail_seen_ = tail_.load(std::memory_order_acquire);
      if (h - tail_seen_ >= kCapacity) return false;
    }
    events_[h & (kCapacity - 1)] = e;
    head_.store(h + 1, std::memory_order_release);
    return true;
  }
  /// Producer: as try_push(Event{addr, tick, size, slack, tag}), written field by field into the
  /// ring. (An Event built first is copied through the stack with 16-byte loads that cannot take
  /// their data from the 8-byte stores just made: a store-forwarding stall in every hook.)
  bool try_emplace(std::uintptr_t addr, std::uint64_t tick, std::uint64_t size, std::uint32_t slack,
                   std::uint32_t tag) noexcept {
    const std::uint64_t h = head_.load(std::memory_order_relaxed);
    if (h - tail_seen_ >= kCapacity) [[unlikely]] {
      tail_seen_ = tail_.load(std::memory_order_acquire);
      if (h - tail_seen_ >= kCapacity) return false;
    }
    Event& e = events_[h & (kCapacity - 1)];
    e.addr = addr;
    e.tick = tick;
    e.size = size;
    e.slack = slack;
    e.tag = tag;
    head_.store(h + 1, std::memory_order_release);
    return true;
  }
  /// Consumer: events [tail(), head()) are published and not yet applied.
  std::uint64_t head() const noexcept { return head_.load(std::memory_order_acquire); }
  std::uint64_t tail() const noexcept { return tail_.load(std::memory_order_relaxed); }
  const Event& at(std::uint64_t i) const noexcept { return events_[i & (kCapacity - 1)]; }
  /// Consumer: events before `t` are applied; their slots may be reused.
  void release_to(std::uint64_t t) noexcept { tail_.store(t, std::memory_order_release); }

 private:
  std::atomic<std::uint64_t> head_{0};
  std::uint64_t tail_seen_ = 0;  // producer's copy of tail_
  alignas(64) std::atomic<std::uint64_t> tail_{0};
  alignas(64) Event events_[kCapacity];
};

}  // namespace fragscope::core
