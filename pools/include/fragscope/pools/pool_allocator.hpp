// PoolAllocator<T>: a standard allocator over a pool resource, for std::list, std::map,
// std::set, std::unordered_map and other containers. Every rebind of one allocator shares its
// resource, so a map's nodes and a list's nodes each land in the size class of their node.
// The default resource is a process-wide SynchronizedPoolResource (never destroyed, so it
// outlives static containers); pass a PoolResource for a single-threaded container.
//
// Thread safety: that of the resource.
#pragma once

#include <cstddef>
#include <limits>
#include <new>

#include "fragscope/pools/pool_resource.hpp"

namespace fragscope::pools {

// The process-wide resource of default-constructed PoolAllocators.
SynchronizedPoolResource& default_pool_resource() noexcept;

template <class T, class Resource = SynchronizedPoolResource>
class PoolAllocator {
 public:
  using value_type = T;
  using propagate_on_container_copy_assignment = std::true_type;
  using propagate_on_container_move_assignment = std::true_type;
  using propagate_on_container_swap = std::true_type;
  using is_always_equal = std::false_type;

  PoolAllocator() noexcept
    requires std::is_same_v<Resource, SynchronizedPoolResource>
      : resource_(&default_pool_resource()) {}
  explicit PoolAllocator(Resource& resource) noexcept : resource_(&resource) {}
  template <class U>
  PoolAllocator(const PoolAllocator<U, Resource>& other) noexcept : resource_(other.resource()) {}

  // Throws std::bad_array_new_length when n * sizeof(T) overflows, std::bad_alloc when out of memory.
  T* allocate(std::size_t n) {
    if (n > std::numeric_limits<std::size_t>::max() / sizeof(T)) throw std::bad_array_new_length();
    return static_cast<T*>(resource_->allocate_bytes(n * sizeof(T), alignof(T)));
  }
  void deallocate(T* p, std::size_t n) noexcept { resource_->deallocate_bytes(p, n * sizeof(T), alignof(T)); }

  Resource* resource() const noexcept { return resource_; }

  template <class U>
  bool operator==(const PoolAllocator<U, Resource>& other) const noexcept {
    return resource_ == other.resource();
  }

 private:
  Resource* resource_;
};

}  // namespace fragscope::pools
