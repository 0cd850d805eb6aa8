// ObjectPool<T>: typed objects in a FixedPool. create and destroy are O(1) in any order (unlike
// boost::object_pool, whose destroy searches an ordered free list), make_unique returns a
// unique_ptr whose deleter gives the object back to the pool, and a policy says what happens to
// objects still live when the pool is destroyed.
//
// Thread safety: one thread at a time per pool.
#pragma once

#include <cstddef>
#include <memory>
#include <new>
#include <utility>

#include "fragscope/pools/detail/errors.hpp"
#include "fragscope/pools/fixed_pool.hpp"
#include "fragscope/pools/options.hpp"

namespace fragscope::pools {

// What ~ObjectPool does with objects still live.
enum class AtPoolDestruction {
  destroy,  // runs their destructors (a walk over the chunks), then frees the memory
  check,    // reports PoolError::live_at_destroy to the error handler, then frees the memory
  release,  // frees the memory without running destructors (for trivially destructible T)
};

template <class T, AtPoolDestruction Policy = AtPoolDestruction::destroy>
class ObjectPool {
 public:
  explicit ObjectPool(PoolOptions options = {}) : pool_(sizeof(T), alignof(T), options) {}
  ~ObjectPool() {
    if (pool_.live() == 0) return;
    if constexpr (Policy == AtPoolDestruction::destroy) {
      if constexpr (!std::is_trivially_destructible_v<T>) {
        pool_.for_each_allocated([](void* p) { static_cast<T*>(p)->~T(); });
      }
    } else if constexpr (Policy == AtPoolDestruction::check) {
      detail::report_error(PoolError::live_at_destroy, this, pool_.name());
    }
  }
  ObjectPool(const ObjectPool&) = delete;
  ObjectPool& operator=(const ObjectPool&) = delete;

  // Constructs a T from args in a slot. Throws std::bad_alloc, or what T's constructor throws
  // (the slot is then returned).
  template <class... Args>
  T* create(Args&&... args) {
    void* p = pool_.allocate();
    try {
      return ::new (p) T(std::forward<Args>(args)...);
    } catch (...) {
      pool_.deallocate(p);
      throw;
    }
  }

  // Destroys *p and returns its slot. Requires: p came from create on this pool. nullptr is ignored.
  void destroy(T* p) noexcept {
    if (p == nullptr) return;
    p->~T();
    pool_.deallocate(p);
  }

  struct Deleter {
    ObjectPool* pool;
    void operator()(T* p) const noexcept { pool->destroy(p); }
  };
  using unique_ptr = std::unique_ptr<T, Deleter>;

  // create, owned by a unique_ptr whose deleter destroys into this pool.
  template <class... Args>
  unique_ptr make_unique(Args&&... args) {
    return unique_ptr(create(std::forward<Args>(args)...), Deleter{this});
  }

  bool owns(const T* p) const noexcept { return pool_.owns(p); }
  std::size_t trim() noexcept { return pool_.trim(); }
  PoolStats stats() const noexcept { return pool_.stats(); }
  std::size_t live() const noexcept { return pool_.live(); }

 private:
  FixedPool pool_;
};

}  // namespace fragscope::pools
