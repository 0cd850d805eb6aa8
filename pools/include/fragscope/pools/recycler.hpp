// Recycler<T>: object reuse for objects that are expensive to build (buffers with capacity,
// parsers with tables). A released object is reset (by default: its clear() if it has one) and
// kept constructed, up to `max_cached`; the next acquire hands it out again without running a
// constructor. Beyond max_cached, released objects are destroyed. Storage comes from an
// ObjectPool, so even the objects built fresh do not fragment the general heap.
//
// Thread safety: one thread at a time per recycler.
#pragma once

#include <cstddef>
#include <memory>
#include <utility>
#include <vector>

#include "fragscope/pools/object_pool.hpp"

namespace fragscope::pools {

// The default reset hook: calls t.clear() when T has one, otherwise does nothing.
struct ClearOnRecycle {
  template <class T>
  void operator()(T& t) const {
    if constexpr (requires { t.clear(); }) t.clear();
  }
};

template <class T, class Reset = ClearOnRecycle>
class Recycler {
 public:
  struct Stats {
    std::size_t created = 0;   // objects constructed
    std::size_t reused = 0;    // acquires served by a recycled object
    std::size_t cached = 0;    // objects waiting for reuse now
    std::size_t destroyed = 0; // released beyond max_cached
  };

  explicit Recycler(std::size_t max_cached = 64, Reset reset = Reset{}, PoolOptions options = {})
      : reset_(std::move(reset)), max_cached_(max_cached), objects_(options) {
    cache_.reserve(max_cached < 1024 ? max_cached : 1024);
  }
  ~Recycler() {
    for (T* t : cache_) objects_.destroy(t);
  }
  Recycler(const Recycler&) = delete;
  Recycler& operator=(const Recycler&) = delete;

  // Releases into the recycler instead of deleting.
  struct Releaser {
    Recycler* recycler;
    void operator()(T* t) const noexcept { recycler->release(t); }
  };
  using handle = std::unique_ptr<T, Releaser>;

  // A recycled object if one is cached (args are then ignored), else a T built from args.
  // Throws what allocation or T's constructor throws.
  template <class... Args>
  handle acquire(Args&&... args) {
    if (!cache_.empty()) {
      T* t = cache_.back();
      cache_.pop_back();
      ++stats_.reused;
      return handle(t, Releaser{this});
    }
    T* t = objects_.create(std::forward<Args>(args)...);
    ++stats_.created;
    return handle(t, Releaser{this});
  }

  // Resets t and keeps it for reuse, or destroys it when max_cached are already kept (or when
  // the reset hook throws). Requires: t came from acquire on this recycler.
  void release(T* t) noexcept {
    if (t == nullptr) return;
    if (cache_.size() < max_cached_) {
      try {
        reset_(*t);
        cache_.push_back(t);
        return;
      } catch (...) {
        // fall through: an object that cannot be reset is not reused
      }
    }
    objects_.destroy(t);
    ++stats_.destroyed;
  }

  // Destroys every cached object and returns empty chunks. Returns the bytes given back.
  std::size_t shrink() noexcept {
    for (T* t : cache_) objects_.destroy(t);
    cache_.clear();
    return objects_.trim();
  }

  Stats stats() const noexcept {
    Stats s = stats_;
    s.cached = cache_.size();
    return s;
  }
  PoolStats pool_stats() const noexcept { return objects_.stats(); }

 private:
  Reset reset_;
  std::size_t max_cached_;
  ObjectPool<T, AtPoolDestruction::destroy> objects_;
  std::vector<T*> cache_;
  Stats stats_;
};

}  // namespace fragscope::pools
