// The applier (see applier.hpp).
#include "applier.hpp"

namespace fragscope::core {

bool EventApplier::init(Recorder& r) noexcept {
  r_ = &r;
  c_ = r.threads.acquire();  // kept for good: never handed to a thread
  return c_ != nullptr;
}

void EventApplier::push_full(ThreadStats& t, const Event& e) noexcept {
  do {
    LockGuard g(lock_);
    full_drains_.fetch_add(1, std::memory_order_relaxed);
    drain_locked();
  } while (!t.ring.try_push(e));  // once drained the ring is empty: the loop runs once
}

std::size_t EventApplier::drain() noexcept {
  if (c_ == nullptr) return 0;
  LockGuard g(lock_);
  return drain_locked();
}

std::size_t EventApplier::drain_locked() noexcept {
  std::size_t applied = 0;
  // Read under lock_: begin_shared() increments shared_ and then waits for lock_, so either this
  // drain sees the reader, or the reader waits for it to finish.
  const bool exclusive = exclusive_.load(std::memory_order_acquire) && shared_.load(std::memory_order_acquire) == 0;
  r_->threads.for_each([&](ThreadStats& t) {
    EventRing& ring = t.ring;
    const std::uint64_t end = ring.head(), begin = ring.tail();
    if (begin == end) return;
    // The table lines of the events a few ahead are loaded while these are applied: the misses
    // overlap instead of following one another.
    // Slots go back to the producer every kRelease events, so that a drain from another thread
    // (the reporter's) does not leave the producer facing a full ring until it ends.
    constexpr std::uint64_t kAhead = 8, kRelease = 256;
    for (std::uint64_t i = begin; i < end && i < begin + kAhead; ++i) r_->table.prefetch(ring.at(i).addr);
    for (std::uint64_t i = begin; i < end; ++i) {
      if (i + kAhead < end) r_->table.prefetch(ring.at(i + kAhead).addr);
      if (((i - begin) & (kRelease - 1)) == kRelease - 1) ring.release_to(i);
      if (exclusive) apply<false>(ring.at(i));
      else apply<true>(ring.at(i));
    }
    ring.release_to(end);
    applied += end - begin;
  });
  applied_.fetch_add(applied, std::memory_order_relaxed);
  return applied;
}

template <bool kLocked>
void EventApplier::apply(const Event& e) noexcept {
  if (const unsigned call = e.call(); call != 0) c_->calls[call - 1].add(1);
  if (e.is_alloc()) {
    record_alloc_sampled<kLocked>(*r_, *c_, e.addr, e.size, e.usable(), e.tick, e.site());
  } else {
    record_free<kLocked>(*r_, *c_, reinterpret_cast<void*>(e.addr), e.tick, [&](void*) { return e.size; });
  }
}

}  // namespace fragscope::core
