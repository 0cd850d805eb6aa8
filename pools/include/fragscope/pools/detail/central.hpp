// Internal: the thread-safe core of SharedFixedPool and SynchronizedPoolResource. One FixedPool
// per size class behind a mutex (the central pools), and per thread and per owner a cache of
// magazines, one per class (Bonwick's magazines, as in Solaris' vmem and tcmalloc's per-thread
// caches). A thread allocates from and frees to its own magazine without any lock or atomic
// read-modify-write; only an empty or full magazine moves a batch of kBatch slots to or from
// the central pool under its mutex. A slot freed by another thread simply lands in that
// thread's magazine, so a cross-thread free is as cheap as a local one.
//
// Lifetimes. A thread finds its cache through a direct-mapped thread-local index keyed by the
// owner's uid (never reused), so a stale entry can never match a later owner. When a thread
// exits, its caches flush their slots back to their owners (a pthread key destructor). When an
// owner is destroyed first, its caches are orphaned (owner = nullptr) and freed by their thread
// later. Lock order: registry mutex, then a class mutex.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <vector>

#include "fragscope/pools/fixed_pool.hpp"
#include "fragscope/pools/options.hpp"

namespace fragscope::pools::detail {

inline constexpr std::uint32_t kMagazineSlots = 64;
inline constexpr std::uint32_t kBatch = 32;

struct Magazine {
  // Written only by the owning thread; atomic so that stats() may read it from another thread.
  std::atomic<std::uint32_t> count{0};
  void* slots[kMagazineSlots];
};

class CentralPools;

struct ThreadCache {
  std::uint64_t uid = 0;
  CentralPools* owner = nullptr;         // nullptr once the owner is gone. GUARDED_BY registry mutex
  ThreadCache* owner_prev = nullptr;     // the owner's list of caches. GUARDED_BY registry mutex
  ThreadCache* owner_next = nullptr;
  ThreadCache* thread_next = nullptr;    // the thread's list of caches (that thread only)
  std::uint32_t classes = 0;
  Magazine* magazines = nullptr;         // [classes], allocated with the cache
};

inline constexpr std::uint32_t kDirectEntries = 16;

// Per thread: a direct-mapped index from owner uid to cache, and the list of all caches.
// Trivial and constant-initialized, so accessing it needs no TLS wrapper call.
struct ThreadCacheIndex {
  std::uint64_t uid[kDirectEntries];
  ThreadCache* cache[kDirectEntries];
  ThreadCache* all;
};
extern constinit thread_local ThreadCacheIndex tl_cache_index;

class CentralPools {
 public:
  // One class per entry of `slot_sizes`, each with the given alignment (0: the largest power of
  // two dividing the size, at most 4096). In debug mode magazines are bypassed, so that every
  // call reaches the central pool's checks.
  CentralPools(std::span<const std::size_t> slot_sizes, std::span<const std::size_t> alignments,
               const PoolOptions& options);
  ~CentralPools();
  CentralPools(const CentralPools&) = delete;
  CentralPools& operator=(const CentralPools&) = delete;

  void* allocate(std::uint32_t cls) noexcept {
    ThreadCache* cache = debug_ ? nullptr : local();
    if (cache == nullptr) [[unlikely]] return allocate_locked(cls);
    Magazine& m = cache->magazines[cls];
    const std::uint32_t n = m.count.load(std::memory_order_relaxed);
    if (n != 0) [[likely]] {
      m.count.store(n - 1, std::memory_order_relaxed);
      return m.slots[n - 1];
    }
    return refill(cls, m);
  }

  void deallocate(std::uint32_t cls, void* p) noexcept {
    ThreadCache* cache = debug_ ? nullptr : local();
    if (cache == nullptr) [[unlikely]] {
      deallocate_locked(cls, p);
      return;
    }
    Magazine& m = cache->magazines[cls];
    const std::uint32_t n = m.count.load(std::memory_order_relaxed);
    if (n != kMagazineSlots) [[likely]] {
      m.slots[n] = p;
      m.count.store(n + 1, std::memory_order_relaxed);
      return;
    }
    flush(cls, m, p);
  }

  // Class of a pointer, for owns(): the class whose central pool owns p, or -1.
  int class_owning(const void* p) const noexcept;
  // Returns the calling thread's cached slots to the central pools, then trims them.
  std::size_t trim() noexcept;
  // Central counters minus the slots cached in every thread's magazines.
  PoolStats stats(std::uint32_t cls) const noexcept;
  std::uint32_t classes() const noexcept { return static_cast<std::uint32_t>(pools_.size()); }
  const FixedPool& central(std::uint32_t cls) const noexcept { return pools_[cls]->pool; }

 private:
  struct Class {
    Class(std::size_t size, std::size_t alignment, const PoolOptions& options) : pool(size, alignment, options) {}
    mutable std::mutex lock;
    FixedPool pool;  // GUARDED_BY lock
  };

  ThreadCache* local() noexcept {
    ThreadCacheIndex& index = tl_cache_index;
    const std::uint32_t h = static_cast<std::uint32_t>(uid_) & (kDirectEntries - 1);
    if (index.uid[h] == uid_) [[likely]] return index.cache[h];
    return local_slow();
  }
  // Finds or creates the calling thread's cache; nullptr when out of memory (then every call
  // takes the class lock).
  ThreadCache* local_slow() noexcept;
  void* refill(std::uint32_t cls, Magazine& m) noexcept;
  void flush(std::uint32_t cls, Magazine& m, void* extra) noexcept;
  void* allocate_locked(std::uint32_t cls) noexcept;
  void deallocate_locked(std::uint32_t cls, void* p) noexcept;

  friend void flush_thread_caches() noexcept;
  friend void return_cache(ThreadCache* cache) noexcept;

  std::uint64_t uid_;
  bool debug_;
  std::vector<std::unique_ptr<Class>> pools_;
  ThreadCache* caches_ = nullptr;  // GUARDED_BY registry mutex
};

}  // namespace fragscope::pools::detail
