// SharedFixedPool: the thread-safe FixedPool. Any thread may allocate, and any thread may free
// a slot another thread allocated, in O(1) and without a lock on the common path: each thread
// works from its own magazine of up to 64 slots and only moves batches of 32 from or to the
// central pool under its mutex (design in detail/central.hpp).
//
// Thread safety: every member function may be called concurrently, except construction and
// destruction, which must not overlap any other call.
#pragma once

#include <cstddef>
#include <new>

#include "fragscope/pools/detail/central.hpp"
#include "fragscope/pools/options.hpp"

namespace fragscope::pools {

class SharedFixedPool {
 public:
  // Slots of `slot_size` bytes aligned to `alignment` (a power of two). Throws
  // std::invalid_argument as FixedPool does. In debug mode (options.debug) every call goes to
  // the central pool under its lock, so that double frees and foreign pointers are caught.
  explicit SharedFixedPool(std::size_t slot_size, std::size_t alignment = alignof(std::max_align_t),
                           PoolOptions options = {})
      : sizes_{slot_size}, alignments_{alignment}, central_(sizes_, alignments_, options) {}

  // Throws std::bad_alloc when the chunk source has no memory.
  void* allocate() {
    if (void* p = try_allocate()) return p;
    throw std::bad_alloc();
  }
  void* try_allocate() noexcept { return central_.allocate(0); }
  // Requires: p came from this pool and is live. Any thread. nullptr is ignored.
  void deallocate(void* p) noexcept {
    if (p != nullptr) central_.deallocate(0, p);
  }
  // True when p is a slot of this pool. Takes the central lock.
  bool owns(const void* p) const noexcept { return central_.class_owning(p) == 0; }
  // Returns the calling thread's cached slots, then every empty chunk. Slots cached by other
  // threads keep their chunks until those threads free or exit. Returns the bytes given back.
  std::size_t trim() noexcept { return central_.trim(); }
  // `live` excludes slots waiting in any thread's magazine.
  PoolStats stats() const noexcept { return central_.stats(0); }

  std::size_t slot_size() const noexcept { return central_.central(0).slot_size(); }
  std::size_t stride() const noexcept { return central_.central(0).stride(); }
  std::size_t alignment() const noexcept { return central_.central(0).alignment(); }

 private:
  std::size_t sizes_[1];
  std::size_t alignments_[1];
  detail::CentralPools central_;
};

}  // namespace fragscope::pools
