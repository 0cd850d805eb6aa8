// The pool kinds the typed suites run over, behind one small interface: allocate a 64-byte
// slot, deallocate it, count live slots. `kThreadSafe` says whether cross-thread tests apply.
#pragma once

#include <cstddef>
#include <list>

#include "fragscope/pools/pools.hpp"

namespace fragscope::pools::test {

inline constexpr std::size_t kSlot = 64;

inline PoolOptions test_options() {
  PoolOptions o;
  o.debug = false;
  o.name = "test";
  return o;
}

struct FixedPoolKind {
  static constexpr bool kThreadSafe = false;
  FixedPool pool{kSlot, 16, test_options()};
  void* allocate() { return pool.allocate(); }
  void deallocate(void* p) { pool.deallocate(p); }
  std::size_t live() const { return pool.stats().live; }
  std::size_t trim() { return pool.trim(); }
};

struct SharedPoolKind {
  static constexpr bool kThreadSafe = true;
  SharedFixedPool pool{kSlot, 16, test_options()};
  void* allocate() { return pool.allocate(); }
  void deallocate(void* p) { pool.deallocate(p); }
  std::size_t live() const { return pool.stats().live; }
  std::size_t trim() { return pool.trim(); }
};

struct alignas(16) Object64 {
  unsigned char bytes[kSlot];
};

struct ObjectPoolKind {
  static constexpr bool kThreadSafe = false;
  ObjectPool<Object64> pool{test_options()};
  void* allocate() { return pool.create(); }
  void deallocate(void* p) { pool.destroy(static_cast<Object64*>(p)); }
  std::size_t live() const { return pool.stats().live; }
  std::size_t trim() { return pool.trim(); }
};

struct PoolResourceKind {
  static constexpr bool kThreadSafe = false;
  PoolResource resource{test_options()};
  void* allocate() { return resource.allocate(kSlot, 16); }
  void deallocate(void* p) { resource.deallocate(p, kSlot, 16); }
  std::size_t live() const { return resource.pool(size_class_of(kSlot, 16)).stats().live; }
  std::size_t trim() { return resource.trim(); }
};

struct SyncResourceKind {
  static constexpr bool kThreadSafe = true;
  SynchronizedPoolResource resource{test_options()};
  void* allocate() { return resource.allocate(kSlot, 16); }
  void deallocate(void* p) { resource.deallocate(p, kSlot, 16); }
  std::size_t live() const { return resource.stats(size_class_of(kSlot, 16)).live; }
  std::size_t trim() { return resource.trim(); }
};

struct PoolAllocatorKind {
  static constexpr bool kThreadSafe = true;
  SynchronizedPoolResource resource{test_options()};
  PoolAllocator<Object64> alloc{resource};
  void* allocate() { return alloc.allocate(1); }
  void deallocate(void* p) { alloc.deallocate(static_cast<Object64*>(p), 1); }
  std::size_t live() const { return resource.stats(size_class_of(sizeof(Object64), alignof(Object64))).live; }
  std::size_t trim() { return resource.trim(); }
};

}  // namespace fragscope::pools::test
