// PoolResource and SynchronizedPoolResource: std::pmr::memory_resource over the size-class
// pools of size_classes.hpp. Requests up to 4096 bytes (and alignments up to 4096) come from
// the pool of their class; larger ones go to the upstream resource. Unlike libstdc++'s pool
// resources, empty chunks go back to the OS (beyond options.max_empty_chunks per class) and a
// free is O(1) whatever the order.
//
// Thread safety: PoolResource — one thread at a time. SynchronizedPoolResource — any thread,
// frees from any thread, with per-thread magazines (detail/central.hpp).
#pragma once

#include <bit>
#include <cstddef>
#include <memory>
#include <memory_resource>
#include <new>

#include "fragscope/pools/detail/central.hpp"
#include "fragscope/pools/fixed_pool.hpp"
#include "fragscope/pools/options.hpp"
#include "fragscope/pools/size_classes.hpp"

namespace fragscope::pools {

namespace detail {
// The std::pmr::memory_resource virtuals, forwarded to Derived's non-virtual allocate_bytes and
// deallocate_bytes (which PoolAllocator calls directly).
template <class Derived>
class ResourceBase : public std::pmr::memory_resource {
 private:
  void* do_allocate(std::size_t bytes, std::size_t alignment) override {
    return static_cast<Derived*>(this)->allocate_bytes(bytes, alignment);
  }
  void do_deallocate(void* p, std::size_t bytes, std::size_t alignment) override {
    static_cast<Derived*>(this)->deallocate_bytes(p, bytes, alignment);
  }
  bool do_is_equal(const std::pmr::memory_resource& other) const noexcept override { return this == &other; }
};
}  // namespace detail

class PoolResource final : public detail::ResourceBase<PoolResource> {
 public:
  explicit PoolResource(PoolOptions options = {},
                        std::pmr::memory_resource* upstream = std::pmr::new_delete_resource());
  ~PoolResource() override;
  PoolResource(const PoolResource&) = delete;
  PoolResource& operator=(const PoolResource&) = delete;

  // The non-virtual fast path that do_allocate and PoolAllocator use. Throws std::bad_alloc.
  void* allocate_bytes(std::size_t bytes, std::size_t alignment) {
    const std::uint32_t c = size_class_of(bytes, alignment);
    if (c == kNoClass) [[unlikely]] return upstream_->allocate(bytes, alignment);
    return pool_at(c).allocate();
  }
  // Requires: p came from allocate_bytes with the same bytes and alignment.
  void deallocate_bytes(void* p, std::size_t bytes, std::size_t alignment) noexcept {
    const std::uint32_t c = size_class_of(bytes, alignment);
    if (c == kNoClass) [[unlikely]] {
      upstream_->deallocate(p, bytes, alignment);
      return;
    }
    pool_at(c).deallocate(p);
  }

  // Returns every empty chunk of every class. Returns the bytes given back.
  std::size_t trim() noexcept;
  // The pool behind class `cls` (0..35), for stats.
  const FixedPool& pool(std::uint32_t cls) const noexcept {
    return const_cast<PoolResource*>(this)->pool_at(cls);
  }
  std::pmr::memory_resource* upstream() const noexcept { return upstream_; }

 private:
  static constexpr std::size_t kClasses = kClassSizes.size();
  // The pools live inside the resource, one after the other: the pool of a class is at a fixed
  // offset from `this`, with no pointer to follow on the fast path (a vector of unique_ptrs cost
  // two dependent loads per call). A power-of-two stride makes the offset a shift, not a
  // multiply.
  static constexpr std::size_t kPoolStride = std::bit_ceil(sizeof(FixedPool));
  FixedPool& pool_at(std::uint32_t cls) noexcept {
    return *std::launder(reinterpret_cast<FixedPool*>(storage_ + cls * kPoolStride));
  }

  alignas(FixedPool) std::byte storage_[kClasses * kPoolStride];
  std::pmr::memory_resource* upstream_;
};

class SynchronizedPoolResource final : public detail::ResourceBase<SynchronizedPoolResource> {
 public:
  explicit SynchronizedPoolResource(PoolOptions options = {},
                                    std::pmr::memory_resource* upstream = std::pmr::new_delete_resource());

  void* allocate_bytes(std::size_t bytes, std::size_t alignment) {
    const std::uint32_t c = size_class_of(bytes, alignment);
    if (c == kNoClass) [[unlikely]] return upstream_->allocate(bytes, alignment);
    if (void* p = central_.allocate(c)) [[likely]] return p;
    throw std::bad_alloc();
  }
  void deallocate_bytes(void* p, std::size_t bytes, std::size_t alignment) noexcept {
    const std::uint32_t c = size_class_of(bytes, alignment);
    if (c == kNoClass) [[unlikely]] {
      upstream_->deallocate(p, bytes, alignment);
      return;
    }
    central_.deallocate(c, p);
  }

  // Returns the calling thread's cached slots and every empty chunk. Returns the bytes given back.
  std::size_t trim() noexcept { return central_.trim(); }
  PoolStats stats(std::uint32_t cls) const noexcept { return central_.stats(cls); }
  std::pmr::memory_resource* upstream() const noexcept { return upstream_; }

 private:
  detail::CentralPools central_;
  std::pmr::memory_resource* upstream_;
};

}  // namespace fragscope::pools
