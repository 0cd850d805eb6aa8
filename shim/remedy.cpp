// The preload remediation: FixedPools in reserved address ranges. See remedy.hpp.
#include "remedy.hpp"

#include <errno.h>
#include <sys/mman.h>

#include <algorithm>
#include <cstring>
#include <new>

#include "forward.hpp"
#include "fragscope/pools/fixed_pool.hpp"
#include "runtime.hpp"
#include "spinlock.hpp"

namespace fragscope::shim {

RemedyRange g_remedy;

namespace {

constexpr std::uintptr_t kPerPool = std::uintptr_t{8} << 30;  // address space per pool: 8 GiB
constexpr std::size_t kChunk = 64 * 1024;

// Chunks carved from one pool's reserved range: made accessible when first needed, given back
// to the kernel (MADV_DONTNEED) when the pool returns them, and reused from a stack.
// Called under the pool's lock.
class RangeSource final : public pools::ChunkSource {
 public:
  bool init(std::uintptr_t base, std::uintptr_t size) noexcept {
    base_ = next_ = base;
    end_ = base + size;
    capacity_ = size / kChunk;
    void* stack = mmap(nullptr, capacity_ * sizeof(std::uintptr_t), PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (stack == MAP_FAILED) return false;
    free_ = static_cast<std::uintptr_t*>(stack);
    return true;
  }
  void* allocate_chunk(std::size_t bytes, std::size_t) noexcept override {
    if (bytes != kChunk) return nullptr;  // the pools here only ask for kChunk
    if (nfree_ != 0) return reinterpret_cast<void*>(free_[--nfree_]);
    if (next_ + bytes > end_) return nullptr;
    if (mprotect(reinterpret_cast<void*>(next_), bytes, PROT_READ | PROT_WRITE) != 0) return nullptr;
    void* chunk = reinterpret_cast<void*>(next_);
    next_ += bytes;
    return chunk;
  }
  void deallocate_chunk(void* chunk, std::size_t bytes, std::size_t) noexcept override {
    madvise(chunk, bytes, MADV_DONTNEED);
    if (nfree_ < capacity_) free_[nfree_++] = reinterpret_cast<std::uintptr_t>(chunk);
  }

 private:
  std::uintptr_t base_ = 0, next_ = 0, end_ = 0;
  std::uintptr_t* free_ = nullptr;
  std::size_t capacity_ = 0, nfree_ = 0;
};

struct Pool {
  core::SpinLock lock;
  std::size_t size = 0;
  pools::FixedPool* pool = nullptr;  // GUARDED_BY lock (its counters may be read without it)
};

// Never destroyed: the host may free pool blocks until its very last instruction.
Pool g_pools[core::Config::kMaxPools];
std::size_t g_npools = 0;
alignas(pools::FixedPool) unsigned char g_pool_storage[core::Config::kMaxPools][sizeof(pools::FixedPool)];
alignas(RangeSource) unsigned char g_source_storage[core::Config::kMaxPools][sizeof(RangeSource)];

Pool& pool_of(const void* p) noexcept {
  return g_pools[(reinterpret_cast<std::uintptr_t>(p) - g_remedy.base) / g_remedy.per_pool];
}

}  // namespace

const char* remedy_init(const core::Config& cfg) noexcept {
  if (cfg.npool_sizes == 0) return nullptr;
  std::size_t sizes[core::Config::kMaxPools];  // rounded up to malloc's alignment, distinct
  std::size_t nsizes = 0;
  for (std::size_t i = 0; i < cfg.npool_sizes; ++i) {
    const std::size_t size = (cfg.pool_sizes[i] + 15) & ~std::size_t{15};
    if (nsizes == 0 || sizes[nsizes - 1] != size) sizes[nsizes++] = size;
  }
  const std::uintptr_t span = kPerPool * nsizes;
  void* raw = mmap(nullptr, span + kChunk, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (raw == MAP_FAILED) return "fragscope: FRAGSCOPE_POOL_SIZES: cannot reserve address space for the pools; not pooling";
  const std::uintptr_t base = (reinterpret_cast<std::uintptr_t>(raw) + kChunk - 1) & ~(kChunk - 1);
  for (std::size_t i = 0; i < nsizes; ++i) {
    auto* source = new (g_source_storage[i]) RangeSource;
    if (!source->init(base + i * kPerPool, kPerPool)) {
      munmap(raw, span + kChunk);
      return "fragscope: FRAGSCOPE_POOL_SIZES: cannot map the pools' bookkeeping; not pooling";
    }
    pools::PoolOptions options;
    options.chunk_size = kChunk;
    options.max_empty_chunks = 4;
    options.release_batch = 1;  // the RSS the remediation shows is what the pools hold: no lag
    options.debug = false;
    options.name = "FRAGSCOPE_POOL_SIZES";
    options.publish = false;  // reported in its own section, pool_remedy
    options.source = source;
    g_pools[i].size = sizes[i];
    g_pools[i].pool = new (g_pool_storage[i]) pools::FixedPool(sizes[i], 16, options);
  }
  g_npools = nsizes;
  // Index (n + 15) / 16 → the smallest pool whose size (a multiple of 16) holds n.
  std::size_t pool = 0;
  for (std::size_t n16 = 1; n16 <= core::Config::kMaxPoolSize / 16; ++n16) {
    while (pool < g_npools && g_pools[pool].size < n16 * 16) ++pool;
    g_remedy.pool_of_size16[n16] = static_cast<std::int8_t>(pool < g_npools ? pool : -1);
  }
  g_remedy.pool_of_size16[0] = -1;
  g_remedy.per_pool = kPerPool;
  g_remedy.max_size = g_pools[g_npools - 1].size;
  g_remedy.span = span;
  g_remedy.base = base;  // last: from here on, remedy_owns() may answer true
  return nullptr;
}

void* remedy_alloc(int pool) noexcept {
  Guard g;
  const int saved = errno;
  Pool& p = g_pools[pool];
  void* slot;
  {
    core::LockGuard lock(p.lock);
    slot = p.pool->try_allocate();
  }
  errno = slot != nullptr ? saved : ENOMEM;
  return slot;
}

void remedy_free(void* slot) noexcept {
  Guard g;
  const int saved = errno;
  Pool& p = pool_of(slot);
  {
    core::LockGuard lock(p.lock);
    p.pool->deallocate(slot);
  }
  errno = saved;
}

std::size_t remedy_usable(const void* slot) noexcept { return pool_of(slot).pool->stride(); }

void* remedy_realloc(void* p, std::size_t n) noexcept {
  const int to = remedy_pool_for(n);
  const bool ours = p != nullptr && remedy_owns(p);
  if (p == nullptr) return to >= 0 ? remedy_alloc(to) : g_real.malloc(n);
  if (n == 0) {
    if (!ours) return g_real.realloc(p, 0);
    remedy_free(p);
    return nullptr;
  }
  if (!ours && to < 0) return g_real.realloc(p, n);
  if (ours && to >= 0 && &pool_of(p) == &g_pools[to]) return p;  // same pool: in place
  void* q = to >= 0 ? remedy_alloc(to) : g_real.malloc(n);
  if (q == nullptr) return nullptr;  // p untouched, as realloc leaves it
  const std::size_t old = ours ? remedy_usable(p) : g_real.malloc_usable_size(p);
  std::memcpy(q, p, std::min(old, n));
  if (ours) remedy_free(p);
  else g_real.free(p);
  return q;
}

std::size_t remedy_pools() noexcept { return g_remedy.base != 0 ? g_npools : 0; }

RemedyPoolStats remedy_stats(std::size_t pool) noexcept {
  const pools::FixedPool& fp = *g_pools[pool].pool;
  // Only the counters that are atomics: no lock, so the reporter never waits on a hook.
  const std::size_t chunks = fp.chunk_count();
  return {g_pools[pool].size, fp.stride(), fp.live(), fp.peak(), chunks, chunks * fp.chunk_size()};
}

void remedy_lock_all() noexcept {
  for (std::size_t i = 0; i < g_npools; ++i) g_pools[i].lock.lock();
}
void remedy_unlock_all() noexcept {
  for (std::size_t i = g_npools; i-- > 0;) g_pools[i].lock.unlock();
}

}  // namespace fragscope::shim
