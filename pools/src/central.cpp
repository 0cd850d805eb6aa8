// The thread-safe core: thread caches, their registry, and the batch moves between magazines
// and the central pools. See detail/central.hpp for the design and the lock order.
#include "fragscope/pools/detail/central.hpp"

#include <pthread.h>

#include <bit>
#include <cstring>
#include <new>

namespace fragscope::pools::detail {

constinit thread_local ThreadCacheIndex tl_cache_index{};

namespace {

std::atomic<std::uint64_t> g_next_uid{1};

// Guards every owner's list of caches and every cache's owner pointer.
std::mutex& registry_mutex() {
  static std::mutex* m = new std::mutex;  // never destroyed: threads may exit after static destructors
  return *m;
}

pthread_key_t g_exit_key;
std::once_flag g_exit_key_once;

void on_thread_exit(void*) noexcept;

void arm_thread_exit() noexcept {
  std::call_once(g_exit_key_once, [] { pthread_key_create(&g_exit_key, &on_thread_exit); });
  pthread_setspecific(g_exit_key, &tl_cache_index);  // any non-null value makes the destructor run
}

void forget_in_index(ThreadCacheIndex& index, const ThreadCache* cache) noexcept {
  for (std::uint32_t i = 0; i < kDirectEntries; ++i) {
    if (index.cache[i] == cache) {
      index.cache[i] = nullptr;
      index.uid[i] = 0;
    }
  }
}

}  // namespace

// Gives one cache's slots back to its owner (if any) and frees it. REQUIRES registry mutex.
void return_cache(ThreadCache* cache) noexcept {
  if (CentralPools* owner = cache->owner) {
    for (std::uint32_t cls = 0; cls < cache->classes; ++cls) {
      Magazine& m = cache->magazines[cls];
      const std::uint32_t n = m.count.load(std::memory_order_relaxed);
      if (n == 0) continue;
      auto& c = *owner->pools_[cls];
      std::lock_guard guard(c.lock);
      for (std::uint32_t i = 0; i < n; ++i) c.pool.deallocate(m.slots[i]);
      m.count.store(0, std::memory_order_relaxed);
    }
    if (cache->owner_prev != nullptr) cache->owner_prev->owner_next = cache->owner_next;
    else owner->caches_ = cache->owner_next;
    if (cache->owner_next != nullptr) cache->owner_next->owner_prev = cache->owner_prev;
  }
  cache->~ThreadCache();
  ::operator delete(cache);
}

// At thread exit: every cache of this thread goes back to its owner.
void flush_thread_caches() noexcept {
  ThreadCacheIndex& index = tl_cache_index;
  std::lock_guard guard(registry_mutex());
  ThreadCache* cache = index.all;
  while (cache != nullptr) {
    ThreadCache* next = cache->thread_next;
    return_cache(cache);
    cache = next;
  }
  std::memset(&index, 0, sizeof index);
}

namespace {
void on_thread_exit(void*) noexcept { flush_thread_caches(); }
}  // namespace

CentralPools::CentralPools(std::span<const std::size_t> slot_sizes, std::span<const std::size_t> alignments,
                           const PoolOptions& options)
    : uid_(g_next_uid.fetch_add(1, std::memory_order_relaxed)), debug_(options.debug) {
  pools_.reserve(slot_sizes.size());
  for (std::size_t i = 0; i < slot_sizes.size(); ++i) {
    std::size_t alignment = i < alignments.size() ? alignments[i] : 0;
    if (alignment == 0) {
      alignment = std::size_t{1} << std::countr_zero(slot_sizes[i]);
      if (alignment > 4096) alignment = 4096;
    }
    pools_.push_back(std::make_unique<Class>(slot_sizes[i], alignment, options));
  }
}

CentralPools::~CentralPools() {
  std::lock_guard guard(registry_mutex());
  for (ThreadCache* cache = caches_; cache != nullptr; cache = cache->owner_next) cache->owner = nullptr;
  caches_ = nullptr;
}

ThreadCache* CentralPools::local_slow() noexcept {
  ThreadCacheIndex& index = tl_cache_index;
  const std::uint32_t h = static_cast<std::uint32_t>(uid_) & (kDirectEntries - 1);
  std::lock_guard guard(registry_mutex());
  // Look through this thread's caches; free the orphans met on the way.
  ThreadCache* found = nullptr;
  for (ThreadCache** link = &index.all; *link != nullptr;) {
    ThreadCache* cache = *link;
    if (cache->owner == nullptr) {
      *link = cache->thread_next;
      forget_in_index(index, cache);
      return_cache(cache);
      continue;
    }
    if (cache->uid == uid_) found = cache;
    link = &cache->thread_next;
  }
  if (found == nullptr) {
    const std::size_t bytes = sizeof(ThreadCache) + classes() * sizeof(Magazine) + alignof(Magazine);
    void* memory = ::operator new(bytes, std::nothrow);
    if (memory == nullptr) return nullptr;
    found = new (memory) ThreadCache{};
    auto mags = reinterpret_cast<std::uintptr_t>(static_cast<char*>(memory) + sizeof(ThreadCache));
    mags = (mags + alignof(Magazine) - 1) & ~(std::uintptr_t{alignof(Magazine)} - 1);
    found->magazines = reinterpret_cast<Magazine*>(mags);
    for (std::uint32_t i = 0; i < classes(); ++i) new (&found->magazines[i]) Magazine{};
    found->uid = uid_;
    found->owner = this;
    found->classes = classes();
    found->owner_next = caches_;
    if (caches_ != nullptr) caches_->owner_prev = found;
    caches_ = found;
    found->thread_next = index.all;
    index.all = found;
    arm_thread_exit();
  }
  index.uid[h] = uid_;
  index.cache[h] = found;
  return found;
}

void* CentralPools::refill(std::uint32_t cls, Magazine& m) noexcept {
  Class& c = *pools_[cls];
  std::lock_guard guard(c.lock);
  std::uint32_t n = 0;
  while (n < kBatch) {
    void* p = c.pool.try_allocate();
    if (p == nullptr) break;
    m.slots[n++] = p;
  }
  if (n == 0) return nullptr;
  m.count.store(n - 1, std::memory_order_relaxed);
  return m.slots[n - 1];
}

void CentralPools::flush(std::uint32_t cls, Magazine& m, void* extra) noexcept {
  Class& c = *pools_[cls];
  std::lock_guard guard(c.lock);
  c.pool.deallocate(extra);
  // Give back the oldest half: the newest slots are the likeliest to be in cache.
  for (std::uint32_t i = 0; i < kBatch; ++i) c.pool.deallocate(m.slots[i]);
  std::memmove(m.slots, m.slots + kBatch, (kMagazineSlots - kBatch) * sizeof(void*));
  m.count.store(kMagazineSlots - kBatch, std::memory_order_relaxed);
}

void* CentralPools::allocate_locked(std::uint32_t cls) noexcept {
  Class& c = *pools_[cls];
  std::lock_guard guard(c.lock);
  return c.pool.try_allocate();
}

void CentralPools::deallocate_locked(std::uint32_t cls, void* p) noexcept {
  Class& c = *pools_[cls];
  std::lock_guard guard(c.lock);
  c.pool.deallocate(p);
}

int CentralPools::class_owning(const void* p) const noexcept {
  for (std::uint32_t cls = 0; cls < classes(); ++cls) {
    const Class& c = *pools_[cls];
    std::lock_guard guard(c.lock);
    if (c.pool.owns(p)) return static_cast<int>(cls);
  }
  return -1;
}

std::size_t CentralPools::trim() noexcept {
  if (!debug_) {
    ThreadCacheIndex& index = tl_cache_index;
    const std::uint32_t h = static_cast<std::uint32_t>(uid_) & (kDirectEntries - 1);
    if (index.uid[h] == uid_) {
      ThreadCache* cache = index.cache[h];
      for (std::uint32_t cls = 0; cls < classes(); ++cls) {
        Magazine& m = cache->magazines[cls];
        const std::uint32_t n = m.count.load(std::memory_order_relaxed);
        Class& c = *pools_[cls];
        std::lock_guard guard(c.lock);
        for (std::uint32_t i = 0; i < n; ++i) c.pool.deallocate(m.slots[i]);
        m.count.store(0, std::memory_order_relaxed);
      }
    }
  }
  std::size_t released = 0;
  for (auto& c : pools_) {
    std::lock_guard guard(c->lock);
    released += c->pool.trim();
  }
  return released;
}

PoolStats CentralPools::stats(std::uint32_t cls) const noexcept {
  std::lock_guard registry(registry_mutex());
  std::size_t cached = 0;
  for (const ThreadCache* cache = caches_; cache != nullptr; cache = cache->owner_next) {
    cached += cache->magazines[cls].count.load(std::memory_order_relaxed);
  }
  const Class& c = *pools_[cls];
  std::lock_guard guard(c.lock);
  PoolStats s = c.pool.stats();
  s.live = s.live >= cached ? s.live - cached : 0;
  return s;
}

}  // namespace fragscope::pools::detail
