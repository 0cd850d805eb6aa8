// pool_bench: fragscope::pools against Boost.Pool, libstdc++'s std::pmr pool resources and plain
// operator new/delete (whatever allocator LD_PRELOAD puts under it). Google Benchmark, one binary.
// bench/run_pool_bench.sh runs it plain and under jemalloc, tcmalloc and mimalloc, and sums up.
//
// Benchmark names are PATTERN/CONTENDER/ARG. Every benchmark reports items_per_second, and an
// item is always one allocation plus one deallocation (a "pair"), except in `destroy`, where it
// is one destroy, and in `map`, where it is one insert-or-erase. So 1e9 / items_per_second is the
// time per pair (per destroy, per map operation) whatever the batch size of an iteration.
//
// Patterns (sizes 8, 16, 64, 256 B are the benchmark argument; every contender gets the size at
// compile time through a Blob<N> type, so that typed pools take part on the same terms):
//   single         allocate one block and free it at once (foonathan/memory's `single`);
//   bulk           allocate 1000, free them in allocation order;
//   bulk_reversed  allocate 1000, free them in reverse order;
//   butterfly      allocate 1000, free the even-indexed ones in order, then the odd-indexed ones
//                  in reverse order (foonathan/memory's `butterfly`);
//   destroy        N objects of 32 B created (not timed), then destroyed in a pre-shuffled random
//                  order (timed with manual timing): ObjectPool, boost::object_pool, new/delete;
//   list           std::list<int, Alloc> holding 1000 nodes, push_back + pop_front, per node;
//   map            std::map<int, int, less, Alloc> holding ~1000 entries, insert-or-erase of
//                  pre-drawn random keys out of 2000, per operation;
//   producer_consumer  thread 1 allocates 64-byte blocks and passes them through a bounded
//                  lock-free SPSC ring to thread 2, which frees them; wall time per block.
//                  `ring_only` passes preallocated blocks: the transport's own cost;
//   destroy_ordered  the same destroys in creation order, with emptied chunks returned 16 at a
//                  time (default) or one at a time (release_batch=1);
//   chunk_return   giving a touched 64 KiB chunk back to the kernel: munmap (/0) against
//                  madvise(MADV_DONTNEED) (/1) and the batched munmap of adjacent runs (/2),
//                  per chunk — what emptied chunks cost a pool.
// `FixedPool+keep_empty` is FixedPool with max_empty_chunks = 64 instead of the default, to show
// what giving emptied chunks back costs when a round empties several chunks (bulk at 256 B).
// Every pool is built with PoolOptions::debug = false (debug checks default on without NDEBUG)
// and blocks are requested with 8-byte alignment everywhere (what boost::pool gives).
// Fixed seeds everywhere: every run makes the same calls in the same order.

#include "rng.hpp"

#include <fragscope/pools/pools.hpp>

#include <benchmark/benchmark.h>
#include <boost/pool/object_pool.hpp>
#include <boost/pool/pool.hpp>
#include <boost/pool/pool_alloc.hpp>
#include <boost/pool/singleton_pool.hpp>

#include <sys/mman.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <list>
#include <map>
#include <memory_resource>
#include <mutex>
#include <new>
#include <string>
#include <thread>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define POOL_BENCH_PAUSE() _mm_pause()
#else
#define POOL_BENCH_PAUSE() ((void)0)
#endif

namespace {

namespace fp = fragscope::pools;

constexpr std::size_t kAlign = 8;
constexpr std::size_t kBulk = 1000;

fp::PoolOptions fast_options() {
  fp::PoolOptions o;
  o.debug = false;  // explicit: it defaults on when NDEBUG is not defined
  return o;
}

// A block of N bytes for the typed contenders. The empty user-provided constructor makes
// `new (p) Blob()` (what ObjectPool::create() and boost::object_pool::construct() do) write
// nothing, so typed pools are not charged for zeroing the block.
template <std::size_t N>
struct alignas(kAlign) Blob {
  Blob() noexcept {}  // NOLINT: deliberately leaves bytes uninitialised
  unsigned char bytes[N];
};

// ---------------------------------------------------------------------------------------------
// Contenders: each adapter has `void* allocate()` and `void deallocate(void*)` for blocks of N B.

template <std::size_t N>
class FixedPoolA {
 public:
  void* allocate() { return pool_.allocate(); }
  void deallocate(void* p) { pool_.deallocate(p); }

 private:
  fp::FixedPool pool_{N, kAlign, fast_options()};
};

// The same with emptied chunks kept (max_empty_chunks = 64 instead of the default): shows what
// returning chunks to the OS costs when a pattern empties and refills several chunks per round.
template <std::size_t N>
class FixedPoolKeepA {
 public:
  void* allocate() { return pool_.allocate(); }
  void deallocate(void* p) { pool_.deallocate(p); }

 private:
  static fp::PoolOptions options() {
    fp::PoolOptions o = fast_options();
    o.max_empty_chunks = 64;
    return o;
  }
  fp::FixedPool pool_{N, kAlign, options()};
};

template <std::size_t N>
class SharedFixedPoolA {
 public:
  void* allocate() { return pool_.allocate(); }
  void deallocate(void* p) { pool_.deallocate(p); }

 private:
  fp::SharedFixedPool pool_{N, kAlign, fast_options()};
};

template <std::size_t N>
class ObjectPoolA {
 public:
  void* allocate() { return pool_.create(); }
  void deallocate(void* p) { pool_.destroy(static_cast<Blob<N>*>(p)); }

 private:
  fp::ObjectPool<Blob<N>> pool_{fast_options()};
};

// A std::pmr::memory_resource used the way pmr code uses it: through the base-class pointer, so
// every call is virtual. The pointer is laundered through DoNotOptimize, otherwise the compiler
// would devirtualise calls on a `final` class it can see.
template <class Resource>
Resource make_resource() {
  if constexpr (std::is_same_v<Resource, fp::PoolResource> ||
                std::is_same_v<Resource, fp::SynchronizedPoolResource>) {
    return Resource(fast_options());
  } else {
    return Resource();
  }
}

template <class Resource, std::size_t N>
class ResourceA {
 public:
  ResourceA() : resource_(make_resource<Resource>()), mr_(&resource_) { benchmark::DoNotOptimize(mr_); }
  void* allocate() { return mr_->allocate(N, kAlign); }
  void deallocate(void* p) { mr_->deallocate(p, N, kAlign); }

 private:
  Resource resource_;
  std::pmr::memory_resource* mr_;
};
template <std::size_t N> using PoolResourceA = ResourceA<fp::PoolResource, N>;
template <std::size_t N> using SyncPoolResourceA = ResourceA<fp::SynchronizedPoolResource, N>;
template <std::size_t N> using PmrUnsyncA = ResourceA<std::pmr::unsynchronized_pool_resource, N>;
template <std::size_t N> using PmrSyncA = ResourceA<std::pmr::synchronized_pool_resource, N>;

// PoolAllocator on the process-wide default (synchronized) resource: the non-virtual path.
template <std::size_t N>
class PoolAllocatorA {
 public:
  void* allocate() { return alloc_.allocate(1); }
  void deallocate(void* p) { alloc_.deallocate(static_cast<Blob<N>*>(p), 1); }

 private:
  fp::PoolAllocator<Blob<N>> alloc_;
};

// PoolAllocator on a PoolResource of its own (single-threaded).
template <std::size_t N>
class PoolAllocatorLocalA {
 public:
  void* allocate() { return alloc_.allocate(1); }
  void deallocate(void* p) { alloc_.deallocate(static_cast<Blob<N>*>(p), 1); }

 private:
  fp::PoolResource resource_{fast_options()};
  fp::PoolAllocator<Blob<N>, fp::PoolResource> alloc_{resource_};
};

template <std::size_t N>
class BoostPoolA {
 public:
  void* allocate() { return pool_.malloc(); }
  void deallocate(void* p) { pool_.free(p); }

 private:
  boost::pool<> pool_{N};
};

template <std::size_t N>
class BoostPoolOrderedA {
 public:
  void* allocate() { return pool_.ordered_malloc(); }
  void deallocate(void* p) { pool_.ordered_free(p); }

 private:
  boost::pool<> pool_{N};
};

template <std::size_t N>
class BoostObjectPoolA {
 public:
  void* allocate() { return pool_.construct(); }
  void deallocate(void* p) { pool_.destroy(static_cast<Blob<N>*>(p)); }

 private:
  boost::object_pool<Blob<N>> pool_;
};

template <std::size_t N, class Mutex>
class FastPoolAllocA {
 public:
  void* allocate() { return alloc_.allocate(1); }
  void deallocate(void* p) { alloc_.deallocate(static_cast<Blob<N>*>(p), 1); }

 private:
  boost::fast_pool_allocator<Blob<N>, boost::default_user_allocator_new_delete, Mutex> alloc_;
};
template <std::size_t N> using FastPoolAllocMutexA = FastPoolAllocA<N, boost::details::pool::default_mutex>;
template <std::size_t N> using FastPoolAllocNullA = FastPoolAllocA<N, boost::details::pool::null_mutex>;

// operator new/delete: the allocator under it is glibc's, or the one LD_PRELOAD puts there.
// Sized delete, as a delete-expression of a complete type calls it.
template <std::size_t N>
class NewDeleteA {
 public:
  void* allocate() { return ::operator new(N); }
  void deallocate(void* p) { ::operator delete(p, N); }
};

// ---------------------------------------------------------------------------------------------
// The four size patterns.

// Lets the contender's address escape. Without it a pool that is a local of the benchmark
// function and fully inline (boost::pool) lives in registers, and a malloc/free pair costs half
// a nanosecond; in a program a pool is an object in memory that other code also sees. Once the
// address has escaped, every DoNotOptimize / ClobberMemory (both clobber memory) makes the
// compiler store the pool's state before and reload it after, as an opaque call would.
template <class A>
void escape(A& a) {
  A* p = &a;
  benchmark::DoNotOptimize(p);
}

struct Single {
  template <class A>
  static void run(benchmark::State& state) {
    A a;
    escape(a);
    for (auto _ : state) {
      void* p = a.allocate();
      benchmark::DoNotOptimize(p);
      a.deallocate(p);
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
  }
};

enum class FreeOrder { forward, reversed, butterfly };

template <FreeOrder Order>
struct Bulk {
  template <class A>
  static void run(benchmark::State& state) {
    A a;
    escape(a);
    std::vector<void*> ptrs(kBulk);
    for (auto _ : state) {
      for (std::size_t i = 0; i < kBulk; ++i) ptrs[i] = a.allocate();
      benchmark::DoNotOptimize(ptrs.data());
      benchmark::ClobberMemory();
      if constexpr (Order == FreeOrder::forward) {
        for (std::size_t i = 0; i < kBulk; ++i) a.deallocate(ptrs[i]);
      } else if constexpr (Order == FreeOrder::reversed) {
        for (std::size_t i = kBulk; i-- > 0;) a.deallocate(ptrs[i]);
      } else {
        for (std::size_t i = 0; i < kBulk; i += 2) a.deallocate(ptrs[i]);
        for (std::size_t i = (kBulk - 1) | 1; i < kBulk; i -= 2) a.deallocate(ptrs[i]);  // odd, down to 1
      }
      benchmark::ClobberMemory();
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * kBulk));
  }
};

template <template <std::size_t> class A, class Pattern>
void sized(benchmark::State& state) {
  switch (state.range(0)) {
    case 8: Pattern::template run<A<8>>(state); break;
    case 16: Pattern::template run<A<16>>(state); break;
    case 64: Pattern::template run<A<64>>(state); break;
    case 256: Pattern::template run<A<256>>(state); break;
    default: state.SkipWithError("size must be 8, 16, 64 or 256");
  }
}

template <class Pattern>
void register_pattern(const std::string& pattern) {
  struct Entry {
    const char* name;
    void (*fn)(benchmark::State&);
  };
  const Entry entries[] = {
      {"FixedPool", &sized<FixedPoolA, Pattern>},
      {"FixedPool+keep_empty", &sized<FixedPoolKeepA, Pattern>},
      {"SharedFixedPool", &sized<SharedFixedPoolA, Pattern>},
      {"ObjectPool", &sized<ObjectPoolA, Pattern>},
      {"PoolResource", &sized<PoolResourceA, Pattern>},
      {"SynchronizedPoolResource", &sized<SyncPoolResourceA, Pattern>},
      {"PoolAllocator", &sized<PoolAllocatorA, Pattern>},
      {"PoolAllocator+PoolResource", &sized<PoolAllocatorLocalA, Pattern>},
      {"boost::pool", &sized<BoostPoolA, Pattern>},
      {"boost::pool+ordered", &sized<BoostPoolOrderedA, Pattern>},
      {"boost::object_pool", &sized<BoostObjectPoolA, Pattern>},
      {"boost::fast_pool_allocator", &sized<FastPoolAllocMutexA, Pattern>},
      {"boost::fast_pool_allocator+null_mutex", &sized<FastPoolAllocNullA, Pattern>},
      {"pmr::unsynchronized_pool_resource", &sized<PmrUnsyncA, Pattern>},
      {"pmr::synchronized_pool_resource", &sized<PmrSyncA, Pattern>},
      {"new_delete", &sized<NewDeleteA, Pattern>},
  };
  for (const Entry& e : entries) {
    benchmark::RegisterBenchmark((pattern + "/" + e.name).c_str(), e.fn)->Arg(8)->Arg(16)->Arg(64)->Arg(256);
  }
}

// ---------------------------------------------------------------------------------------------
// destroy: N objects of 32 bytes, destroyed in a random order. Only the destroys are timed.

struct Obj32 {
  explicit Obj32(std::uint64_t v) noexcept : a(v), b(v + 1), c(v + 2), d(v + 3) {}
  std::uint64_t a, b, c, d;
};
static_assert(sizeof(Obj32) == 32);

// A random permutation of 0..n-1 (Fisher-Yates, fixed seed), one per n, made once.
const std::vector<std::uint32_t>& shuffled(std::size_t n) {
  static std::map<std::size_t, std::vector<std::uint32_t>> cache;
  auto& order = cache[n];
  if (order.empty()) {
    order.resize(n);
    for (std::size_t i = 0; i < n; ++i) order[i] = static_cast<std::uint32_t>(i);
    fragscope::bench::Rng rng(7);
    for (std::size_t i = n - 1; i > 0; --i) std::swap(order[i], order[rng.below(i + 1)]);
  }
  return order;
}

struct ObjectPoolD {
  explicit ObjectPoolD(std::size_t max_empty = fp::PoolOptions{}.max_empty_chunks)
      : pool(options(max_empty)) {}
  static fp::PoolOptions options(std::size_t max_empty) {
    fp::PoolOptions o = fast_options();
    o.max_empty_chunks = max_empty;
    return o;
  }
  Obj32* create(std::uint64_t v) { return pool.create(v); }
  void destroy(Obj32* p) { pool.destroy(p); }
  fp::ObjectPool<Obj32> pool;
};
// The same with every emptied chunk kept: separates the pool's own work from munmap.
struct ObjectPoolKeepD : ObjectPoolD {
  ObjectPoolKeepD() : ObjectPoolD(SIZE_MAX) {}
};
// The default pool, but each chunk beyond the cache returned as soon as it empties (one munmap
// each) instead of 16 at a time (one munmap per run of adjacent chunks).
struct ObjectPoolBatch1D {
  static fp::PoolOptions options() {
    fp::PoolOptions o = fast_options();
    o.release_batch = 1;
    return o;
  }
  Obj32* create(std::uint64_t v) { return pool.create(v); }
  void destroy(Obj32* p) { pool.destroy(p); }
  fp::ObjectPool<Obj32> pool{options()};
};
struct BoostObjectPoolD {
  Obj32* create(std::uint64_t v) { return pool.construct(v); }
  void destroy(Obj32* p) { pool.destroy(p); }
  boost::object_pool<Obj32> pool;
};
struct NewDeleteD {
  Obj32* create(std::uint64_t v) { return new Obj32(v); }
  void destroy(Obj32* p) { delete p; }
};

// chunk_return: what giving a pool chunk back to the kernel costs, per 64 KiB chunk whose 16
// pages were all touched: munmap one chunk at a time (/0), madvise(MADV_DONTNEED) (/1, keeps
// the mapping), and the pools' batched path (/2: os_chunk_source().deallocate_chunks on all 256,
// one munmap per run of adjacent chunks). Only the returns are timed. This is what a pool with the default
// empty-chunk cache pays inside a burst of frees that empties many chunks (`destroy`).
void BM_chunk_return(benchmark::State& state) {
  const auto how = state.range(0);
  constexpr std::size_t kChunk = 64 * 1024;
  std::vector<void*> chunks(256);
  fp::ChunkSource& source = fp::os_chunk_source();
  for (auto _ : state) {
    for (void*& c : chunks) {
      c = source.allocate_chunk(kChunk, kChunk);
      if (c == nullptr) {
        state.SkipWithError("mmap failed");
        return;
      }
      std::memset(c, 1, kChunk);
    }
    const auto start = std::chrono::steady_clock::now();
    if (how == 2) {
      source.deallocate_chunks(chunks.data(), chunks.size(), kChunk, kChunk);
    } else {
      for (void* c : chunks) {
        if (how == 1) madvise(c, kChunk, MADV_DONTNEED);
        else source.deallocate_chunk(c, kChunk, kChunk);
      }
    }
    const auto stop = std::chrono::steady_clock::now();
    state.SetIterationTime(std::chrono::duration<double>(stop - start).count());
    if (how == 1) {
      for (void* c : chunks) source.deallocate_chunk(c, kChunk, kChunk);
    }
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * chunks.size()));
}

// Ordered: destroyed in creation order instead (the chunks empty one after the other).
template <class Pool, bool Ordered = false>
void BM_destroy(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  static std::vector<std::uint32_t> identity;
  if (Ordered && identity.size() != n) {
    identity.resize(n);
    for (std::size_t i = 0; i < n; ++i) identity[i] = static_cast<std::uint32_t>(i);
  }
  const std::vector<std::uint32_t>& order = Ordered ? identity : shuffled(n);
  std::vector<Obj32*> objects(n);
  std::vector<Obj32*> victims(n);  // objects in destroy order: the timed loop reads it sequentially
  Pool pool;
  for (auto _ : state) {
    for (std::size_t i = 0; i < n; ++i) objects[i] = pool.create(i);
    for (std::size_t i = 0; i < n; ++i) victims[i] = objects[order[i]];
    benchmark::ClobberMemory();
    const auto start = std::chrono::steady_clock::now();
    for (Obj32* p : victims) pool.destroy(p);
    benchmark::ClobberMemory();
    const auto stop = std::chrono::steady_clock::now();
    state.SetIterationTime(std::chrono::duration<double>(stop - start).count());
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * n));
}

// ---------------------------------------------------------------------------------------------
// list and map churn over standard containers.

struct StdAllocatorC {
  template <class T> using alloc = std::allocator<T>;
  auto make() { return std::allocator<int>(); }
};
struct PoolAllocatorC {  // the process-wide SynchronizedPoolResource
  template <class T> using alloc = fp::PoolAllocator<T>;
  auto make() { return fp::PoolAllocator<int>(); }
};
struct PoolAllocatorLocalC {
  template <class T> using alloc = fp::PoolAllocator<T, fp::PoolResource>;
  fp::PoolResource resource{fast_options()};
  auto make() { return fp::PoolAllocator<int, fp::PoolResource>(resource); }
};
template <class Mutex>
struct FastPoolC {
  template <class T>
  using alloc = boost::fast_pool_allocator<T, boost::default_user_allocator_new_delete, Mutex>;
  auto make() { return alloc<int>(); }
};
template <class Resource>
struct PmrC {
  template <class T> using alloc = std::pmr::polymorphic_allocator<T>;
  Resource resource = make_resource<Resource>();
  auto make() { return std::pmr::polymorphic_allocator<int>(&resource); }
};

template <class C>
void BM_list(benchmark::State& state) {
  C c;
  using Alloc = typename C::template alloc<int>;
  std::list<int, Alloc> list{Alloc(c.make())};
  for (int i = 0; i < 1000; ++i) list.push_back(i);
  int v = 1000;
  for (auto _ : state) {
    list.push_back(v++);
    list.pop_front();
    benchmark::ClobberMemory();
  }
  benchmark::DoNotOptimize(list.front());
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}

constexpr std::size_t kKeyTable = 1 << 16;
constexpr int kKeySpace = 2000;  // the map holds about half of them

const std::vector<int>& map_keys() {
  static const std::vector<int> keys = [] {
    std::vector<int> k(kKeyTable);
    fragscope::bench::Rng rng(11);
    for (int& key : k) key = static_cast<int>(rng.below(kKeySpace));
    return k;
  }();
  return keys;
}

template <class C>
void BM_map(benchmark::State& state) {
  C c;
  using Alloc = typename C::template alloc<std::pair<const int, int>>;
  std::map<int, int, std::less<int>, Alloc> map{Alloc(c.make())};
  const std::vector<int>& keys = map_keys();
  std::size_t i = 0;
  auto step = [&] {
    const int k = keys[i++ & (kKeyTable - 1)];
    const auto it = map.find(k);
    if (it != map.end()) map.erase(it);
    else map.emplace(k, k);
  };
  for (std::size_t w = 0; w < kKeyTable; ++w) step();  // to the steady state, not timed
  for (auto _ : state) {
    step();
    benchmark::ClobberMemory();
  }
  benchmark::DoNotOptimize(map.size());
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}

template <class C>
void register_containers(const char* name) {
  benchmark::RegisterBenchmark((std::string("list/") + name).c_str(), &BM_list<C>);
  benchmark::RegisterBenchmark((std::string("map/") + name).c_str(), &BM_map<C>);
}

// ---------------------------------------------------------------------------------------------
// producer_consumer: allocate on one thread, free on another, through a bounded SPSC ring.

class SpscRing {
 public:
  bool push(void* p) noexcept {
    const std::size_t tail = tail_.load(std::memory_order_relaxed);
    if (tail - head_cache_ == kCapacity) {
      head_cache_ = head_.load(std::memory_order_acquire);
      if (tail - head_cache_ == kCapacity) return false;
    }
    slots_[tail & (kCapacity - 1)] = p;
    tail_.store(tail + 1, std::memory_order_release);
    return true;
  }
  bool pop(void*& p) noexcept {
    const std::size_t head = head_.load(std::memory_order_relaxed);
    if (head == tail_cache_) {
      tail_cache_ = tail_.load(std::memory_order_acquire);
      if (head == tail_cache_) return false;
    }
    p = slots_[head & (kCapacity - 1)];
    head_.store(head + 1, std::memory_order_release);
    return true;
  }

 private:
  static constexpr std::size_t kCapacity = 1024;
  alignas(64) std::atomic<std::size_t> head_{0};  // consumer's
  std::size_t tail_cache_ = 0;                    // consumer's copy of tail_
  alignas(64) std::atomic<std::size_t> tail_{0};  // producer's
  std::size_t head_cache_ = 0;                    // producer's copy of head_
  alignas(64) void* slots_[kCapacity];
};

// Spins briefly, then yields: on two cores something else may need the other one.
inline void backoff(unsigned& spins) {
  if (++spins < 64) {
    POOL_BENCH_PAUSE();
  } else {
    spins = 0;
    std::this_thread::yield();
  }
}

constexpr std::size_t kBlock = 64;

struct SharedFixedPoolP {
  fp::SharedFixedPool pool{kBlock, kAlign, fast_options()};
  void* allocate() { return pool.allocate(); }
  void deallocate(void* p) { pool.deallocate(p); }
};
struct SyncPoolResourceP {
  fp::SynchronizedPoolResource resource{fast_options()};
  void* allocate() { return resource.allocate_bytes(kBlock, kAlign); }
  void deallocate(void* p) { resource.deallocate_bytes(p, kBlock, kAlign); }
};
struct PmrSyncP {
  std::pmr::synchronized_pool_resource resource;
  std::pmr::memory_resource* mr = &resource;
  void* allocate() { return mr->allocate(kBlock, kAlign); }
  void deallocate(void* p) { mr->deallocate(p, kBlock, kAlign); }
};
struct BoostPoolMutexP {  // boost::pool is not thread-safe: one std::mutex around it
  std::mutex lock;
  boost::pool<> pool{kBlock};
  void* allocate() {
    std::lock_guard guard(lock);
    return pool.malloc();
  }
  void deallocate(void* p) {
    std::lock_guard guard(lock);
    pool.free(p);
  }
};
struct SingletonTag {};
struct BoostSingletonPoolP {  // its own mutex (std::mutex by default)
  using pool = boost::singleton_pool<SingletonTag, kBlock>;
  void* allocate() { return pool::malloc(); }
  void deallocate(void* p) { pool::free(p); }
};
// No allocator at all: blocks taken round-robin from a fixed array much larger than the ring,
// so that none is reused while in flight. The transport's own cost, to subtract from the rest.
struct RingOnlyP {
  static constexpr std::size_t kBlocks = 8192;
  std::vector<unsigned char> memory = std::vector<unsigned char>(kBlocks * kBlock);
  std::size_t next = 0;
  void* allocate() { return memory.data() + (next++ % kBlocks) * kBlock; }
  void deallocate(void*) {}
};
struct NewDeleteP {
  void* allocate() { return ::operator new(kBlock); }
  void deallocate(void* p) { ::operator delete(p, kBlock); }
};

template <class Pool>
void BM_producer_consumer(benchmark::State& state) {
  constexpr std::size_t kItemsPerIteration = 4096;
  Pool pool;
  SpscRing ring;
  std::thread consumer([&] {
    unsigned spins = 0;
    for (;;) {
      void* p;
      if (!ring.pop(p)) {
        backoff(spins);
        continue;
      }
      spins = 0;
      if (p == nullptr) return;  // end of the benchmark
      unsigned char byte = std::atomic_ref(*static_cast<unsigned char*>(p)).load(std::memory_order_relaxed);
      benchmark::DoNotOptimize(byte);
      pool.deallocate(p);
    }
  });
  for (auto _ : state) {
    for (std::size_t i = 0; i < kItemsPerIteration; ++i) {
      void* p = pool.allocate();
      std::atomic_ref(*static_cast<unsigned char*>(p))
          .store(static_cast<unsigned char>(i), std::memory_order_relaxed);
      unsigned spins = 0;
      while (!ring.push(p)) backoff(spins);
    }
  }
  unsigned spins = 0;
  while (!ring.push(nullptr)) backoff(spins);
  consumer.join();
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * kItemsPerIteration));
}

template <class Pool>
void register_producer_consumer(const char* name) {
  const std::string full = std::string("producer_consumer/") + name;
  benchmark::RegisterBenchmark(full.c_str(), &BM_producer_consumer<Pool>)->UseRealTime();
}

void register_all() {
  register_pattern<Single>("single");
  register_pattern<Bulk<FreeOrder::forward>>("bulk");
  register_pattern<Bulk<FreeOrder::reversed>>("bulk_reversed");
  register_pattern<Bulk<FreeOrder::butterfly>>("butterfly");

  benchmark::RegisterBenchmark("destroy/ObjectPool", &BM_destroy<ObjectPoolD>)
      ->Arg(10'000)->Arg(100'000)->Arg(1'000'000)->UseManualTime();
  benchmark::RegisterBenchmark("destroy/ObjectPool+keep_empty", &BM_destroy<ObjectPoolKeepD>)
      ->Arg(10'000)->Arg(100'000)->Arg(1'000'000)->UseManualTime();
  // boost::object_pool::destroy is ordered_free: a walk of the ordered free list, O(N) per
  // destroy in a random order, so O(N²) per round: 1e5 takes about 8 s per round here, and 1e6
  // would take about 15 minutes. Capped at 1e5, and 1e5 runs one round, once (see README).
  benchmark::RegisterBenchmark("destroy/boost::object_pool", &BM_destroy<BoostObjectPoolD>)
      ->Arg(10'000)->UseManualTime();
  benchmark::RegisterBenchmark("destroy/boost::object_pool", &BM_destroy<BoostObjectPoolD>)
      ->Arg(100'000)->UseManualTime()->Iterations(1)->Repetitions(1);
  benchmark::RegisterBenchmark("destroy/new_delete", &BM_destroy<NewDeleteD>)
      ->Arg(10'000)->Arg(100'000)->Arg(1'000'000)->UseManualTime();
  // The same pools destroying in creation order, with emptied chunks returned 16 at a time (the
  // default) and one at a time.
  benchmark::RegisterBenchmark("destroy_ordered/ObjectPool", &BM_destroy<ObjectPoolD, true>)
      ->Arg(1'000'000)->UseManualTime();
  benchmark::RegisterBenchmark("destroy_ordered/ObjectPool+release_batch=1", &BM_destroy<ObjectPoolBatch1D, true>)
      ->Arg(1'000'000)->UseManualTime();
  // Arg 0: munmap each, 1: madvise(MADV_DONTNEED) each, 2: deallocate_chunks on the batch.
  benchmark::RegisterBenchmark("chunk_return", &BM_chunk_return)->Arg(0)->Arg(1)->Arg(2)->UseManualTime();

  register_containers<StdAllocatorC>("std::allocator");
  register_containers<PoolAllocatorC>("PoolAllocator");
  register_containers<PoolAllocatorLocalC>("PoolAllocator+PoolResource");
  register_containers<FastPoolC<boost::details::pool::default_mutex>>("boost::fast_pool_allocator");
  register_containers<FastPoolC<boost::details::pool::null_mutex>>("boost::fast_pool_allocator+null_mutex");
  register_containers<PmrC<std::pmr::unsynchronized_pool_resource>>("pmr+pmr::unsynchronized_pool_resource");
  register_containers<PmrC<std::pmr::synchronized_pool_resource>>("pmr+pmr::synchronized_pool_resource");
  register_containers<PmrC<fp::PoolResource>>("pmr+PoolResource");
  register_containers<PmrC<fp::SynchronizedPoolResource>>("pmr+SynchronizedPoolResource");

  register_producer_consumer<RingOnlyP>("ring_only");
  register_producer_consumer<SharedFixedPoolP>("SharedFixedPool");
  register_producer_consumer<SyncPoolResourceP>("SynchronizedPoolResource");
  register_producer_consumer<PmrSyncP>("pmr::synchronized_pool_resource");
  register_producer_consumer<BoostPoolMutexP>("boost::pool+std::mutex");
  register_producer_consumer<BoostSingletonPoolP>("boost::singleton_pool");
  register_producer_consumer<NewDeleteP>("new_delete");
}

}  // namespace

int main(int argc, char** argv) {
  register_all();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
