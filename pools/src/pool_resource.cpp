// Construction of the pmr resources' size-class pools.
#include "fragscope/pools/pool_resource.hpp"

#include <bit>

namespace fragscope::pools {
namespace {
// Each class is aligned to the largest power of two dividing its size, up to 4096, so that
// size_class_of can serve an alignment by picking a class whose size is a multiple of it.
std::size_t class_alignment(std::size_t size) {
  const std::size_t a = std::size_t{1} << std::countr_zero(size);
  return a > 4096 ? 4096 : a;
}
}  // namespace

PoolResource::PoolResource(PoolOptions options, std::pmr::memory_resource* upstream) : upstream_(upstream) {
  std::size_t built = 0;
  try {
    for (; built < kClasses; ++built) {
      const std::size_t size = kClassSizes[built];
      ::new (storage_ + built * kPoolStride) FixedPool(size, class_alignment(size), options);
    }
  } catch (...) {
    while (built > 0) pool_at(static_cast<std::uint32_t>(--built)).~FixedPool();
    throw;
  }
}

PoolResource::~PoolResource() {
  for (std::uint32_t c = 0; c < kClasses; ++c) pool_at(c).~FixedPool();
}

std::size_t PoolResource::trim() noexcept {
  std::size_t released = 0;
  for (std::uint32_t c = 0; c < kClasses; ++c) released += pool_at(c).trim();
  return released;
}

SynchronizedPoolResource::SynchronizedPoolResource(PoolOptions options, std::pmr::memory_resource* upstream)
    : central_(kClassSizes, {}, options), upstream_(upstream) {}

}  // namespace fragscope::pools

#include "fragscope/pools/pool_allocator.hpp"

namespace fragscope::pools {
SynchronizedPoolResource& default_pool_resource() noexcept {
  // Never destroyed: containers with static storage may free into it during exit.
  static auto* resource = new SynchronizedPoolResource(PoolOptions{.debug = false, .name = "default"});
  return *resource;
}
}  // namespace fragscope::pools
