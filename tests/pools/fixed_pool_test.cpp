// FixedPool and SharedFixedPool specifics: chunk geometry and alignment, pages untouched until
// used, a checking chunk source that sees every chunk come back, statistics, and every debug
// check firing on its fault.
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <map>
#include <set>
#include <thread>
#include <vector>

#include "pool_kinds.hpp"

namespace fragscope::pools::test {
namespace {

// Hands out chunks from the OS and checks every return against what it gave.
class CheckingSource final : public ChunkSource {
 public:
  void* allocate_chunk(std::size_t bytes, std::size_t alignment) noexcept override {
    if (fail_next) {
      fail_next = false;
      return nullptr;
    }
    void* p = os_chunk_source().allocate_chunk(bytes, alignment);
    if (p != nullptr) outstanding[p] = bytes;
    alignment_ok = alignment_ok && reinterpret_cast<std::uintptr_t>(p) % alignment == 0;
    ++allocated;
    return p;
  }
  void deallocate_chunk(void* chunk, std::size_t bytes, std::size_t alignment) noexcept override {
    auto it = outstanding.find(chunk);
    if (it == outstanding.end() || it->second != bytes) {
      bad_return = true;
      return;
    }
    outstanding.erase(it);
    os_chunk_source().deallocate_chunk(chunk, bytes, alignment);
  }
  void deallocate_chunks(void* const* chunks, std::size_t n, std::size_t bytes, std::size_t alignment) noexcept override {
    batches.push_back(n);
    for (std::size_t i = 0; i < n; ++i) deallocate_chunk(chunks[i], bytes, alignment);
  }
  std::vector<std::size_t> batches;  // sizes of the deallocate_chunks calls
  std::map<void*, std::size_t> outstanding;
  std::size_t allocated = 0;
  bool alignment_ok = true;
  bool bad_return = false;
  bool fail_next = false;
};

// Fills `chunks` whole chunks of the pool; returns their slots in allocation order.
std::vector<void*> fill_chunks(FixedPool& pool, std::size_t chunks) {
  std::vector<void*> slots;
  for (std::size_t i = 0; i < pool.capacity_per_chunk() * chunks; ++i) slots.push_back(pool.allocate());
  return slots;
}

PoolOptions with_source(ChunkSource* source, bool debug = false) {
  PoolOptions o;
  o.source = source;
  o.debug = debug;
  o.name = "checked";
  return o;
}

TEST(FixedPool, RejectsBadGeometry) {
  EXPECT_THROW(FixedPool(0), std::invalid_argument);
  EXPECT_THROW(FixedPool(16, 3), std::invalid_argument);
  PoolOptions o;
  o.chunk_size = 5000;
  EXPECT_THROW(FixedPool(16, 8, o), std::invalid_argument);
  o.chunk_size = 2048;
  EXPECT_THROW(FixedPool(16, 8, o), std::invalid_argument);
}

TEST(FixedPool, EveryAlignmentFromOneTo4096) {
  for (std::size_t alignment = 1; alignment <= 4096; alignment *= 2) {
    for (std::size_t size : {1u, 24u, 100u, 4096u}) {
      FixedPool pool(size, alignment, test_options());
      std::vector<void*> slots;
      for (int i = 0; i < 100; ++i) {
        void* p = pool.allocate();
        ASSERT_EQ(reinterpret_cast<std::uintptr_t>(p) % alignment, 0u) << size << "/" << alignment;
        std::memset(p, 0xAB, size);
        EXPECT_EQ(pool.chunk_of(p), pool.chunk_of(static_cast<char*>(p) + size - 1));
        slots.push_back(p);
      }
      EXPECT_GE(pool.stride(), size);
      EXPECT_LE(pool.alignment(), pool.chunk_size());
      for (void* p : slots) pool.deallocate(p);
    }
  }
}

TEST(FixedPool, ChunkOfAPointerIsItsAlignedBase) {
  CheckingSource source;
  FixedPool pool(48, 16, with_source(&source));
  std::vector<void*> slots;
  for (int i = 0; i < 10000; ++i) slots.push_back(pool.allocate());
  for (void* p : slots) {
    const auto* chunk = static_cast<const char*>(pool.chunk_base(p));
    ASSERT_TRUE(source.outstanding.count(const_cast<char*>(chunk)));
    ASSERT_GE(static_cast<char*>(p), chunk);
    ASSERT_LT(static_cast<char*>(p) + 48, chunk + pool.chunk_size() + 1);
    ASSERT_TRUE(pool.owns(p));
  }
  EXPECT_TRUE(source.alignment_ok);
  int stack_object = 0;
  std::vector<char> heap(64);
  EXPECT_FALSE(pool.owns(&stack_object));
  EXPECT_FALSE(pool.owns(heap.data()));
  EXPECT_FALSE(pool.owns(static_cast<char*>(slots[0]) + 1));
  for (void* p : slots) pool.deallocate(p);
}

TEST(FixedPool, NoSlotIsWrittenBeforeItsFirstUse) {
  PoolOptions o = test_options();
  o.chunk_size = 1u << 20;
  FixedPool pool(64, 64, o);
  void* first = pool.allocate();
  void* chunk = pool.chunk_base(first);
  std::vector<unsigned char> vec(pool.chunk_size() / 4096);
  ASSERT_EQ(mincore(chunk, pool.chunk_size(), vec.data()), 0);
  std::size_t resident = 0;
  for (unsigned char v : vec) resident += v & 1;
  // The header and the first slot share the first page; nothing else was touched.
  EXPECT_LE(resident, 1u);
  pool.deallocate(first);
}

TEST(FixedPool, EmptyChunksGoBackBeyondTheCache) {
  CheckingSource source;
  PoolOptions o = with_source(&source);
  o.max_empty_chunks = 2;
  o.release_batch = 1;  // each at once
  {
    FixedPool pool(64, 16, o);
    std::vector<void*> slots = fill_chunks(pool, 10);
    EXPECT_EQ(source.outstanding.size(), 10u);
    for (void* p : slots) pool.deallocate(p);
    // The current chunk stays, two empty ones are cached, the rest went back.
    EXPECT_EQ(source.outstanding.size(), 3u);
    PoolStats s = pool.stats();
    EXPECT_EQ(s.chunks, 3u);
    EXPECT_EQ(s.empty_chunks, 2u);
    EXPECT_EQ(pool.trim(), 3 * pool.chunk_size());
    EXPECT_EQ(source.outstanding.size(), 0u);
    // And the pool still works after a full trim.
    void* p = pool.allocate();
    EXPECT_EQ(source.outstanding.size(), 1u);
    pool.deallocate(p);
  }
  EXPECT_TRUE(source.outstanding.empty()) << "the destructor returns every chunk";
  EXPECT_FALSE(source.bad_return);
}

// Beyond the cache, empty chunks go back release_batch at a time, in one call each batch, and
// wait (reusable) until their batch is full; trim() returns the rest.
TEST(FixedPool, EmptyChunksGoBackInBatches) {
  CheckingSource source;
  PoolOptions o = with_source(&source);
  o.max_empty_chunks = 2;
  o.release_batch = 4;
  FixedPool pool(64, 16, o);
  const std::size_t per_chunk = pool.capacity_per_chunk();
  std::vector<void*> slots = fill_chunks(pool, 20);
  ASSERT_EQ(source.outstanding.size(), 20u);
  for (void* p : slots) pool.deallocate(p);
  // 19 chunks emptied around the current one: whenever 2 + 4 were waiting, 4 went back at once.
  ASSERT_FALSE(source.batches.empty());
  for (std::size_t n : source.batches) EXPECT_EQ(n, 4u);
  EXPECT_EQ(source.batches.size(), 4u);  // 16 of the 19
  EXPECT_EQ(source.outstanding.size(), 4u);  // the current chunk, 2 cached, 1 waiting
  EXPECT_EQ(pool.stats().empty_chunks, 3u);
  // The waiting chunks are reused before any new one is mapped.
  const std::size_t mapped = source.allocated;
  for (std::size_t i = 0; i < per_chunk * 4; ++i) slots[i] = pool.allocate();
  EXPECT_EQ(source.allocated, mapped);
  for (std::size_t i = 0; i < per_chunk * 4; ++i) pool.deallocate(slots[i]);
  EXPECT_EQ(pool.trim(), 4 * pool.chunk_size());
  EXPECT_TRUE(source.outstanding.empty());
  EXPECT_FALSE(source.bad_return);
}

// The OS source unmaps a batch whatever its order and adjacency: afterwards no page of any of
// the chunks is mapped.
TEST(OsChunkSource, ABatchOfChunksIsUnmappedWhole) {
  ChunkSource& os = os_chunk_source();
  constexpr std::size_t kChunk = 64 * 1024;
  std::vector<void*> chunks;
  for (int i = 0; i < 40; ++i) {
    void* c = os.allocate_chunk(kChunk, kChunk);
    ASSERT_NE(c, nullptr);
    static_cast<char*>(c)[0] = 1;
    chunks.push_back(c);
  }
  // Every other one first (no two adjacent), then the rest reversed.
  std::vector<void*> order;
  for (std::size_t i = 0; i < chunks.size(); i += 2) order.push_back(chunks[i]);
  for (std::size_t i = chunks.size(); i-- > 0;) if (i % 2 == 1) order.push_back(chunks[i]);
  os.deallocate_chunks(order.data(), 20, kChunk, kChunk);
  os.deallocate_chunks(order.data() + 20, order.size() - 20, kChunk, kChunk);
  unsigned char vec[kChunk / 4096];
  for (void* c : chunks) {
    errno = 0;
    EXPECT_EQ(mincore(c, kChunk, vec), -1) << c;
    EXPECT_EQ(errno, ENOMEM) << "still mapped: " << c;
  }
}

TEST(FixedPool, OutOfMemoryIsAnErrorNotACrash) {
  CheckingSource source;
  FixedPool pool(64, 16, with_source(&source));
  source.fail_next = true;
  EXPECT_EQ(pool.try_allocate(), nullptr);
  source.fail_next = true;
  EXPECT_THROW(pool.allocate(), std::bad_alloc);
  void* p = pool.allocate();  // the source works again
  EXPECT_NE(p, nullptr);
  pool.deallocate(p);
}

// Slots freed into chunks other than the current one are parked in a bitmap and handed out again
// from it: every slot comes back exactly once, none that is live, and the walks see the parked
// slots as free. Odd strides (the index is an exact division by the stride's odd part).
TEST(FixedPool, SlotsFreedIntoOtherChunksComeBackOnceEach) {
  for (std::size_t size : {8u, 24u, 40u, 96u, 1000u}) {
    CheckingSource source;
    PoolOptions o = with_source(&source);
    o.max_empty_chunks = 1;
    o.release_batch = 1;
    FixedPool pool(size, 8, o);
    const std::size_t per_chunk = pool.capacity_per_chunk();
    const std::size_t n = per_chunk * 5 + 7;
    std::vector<void*> slots;
    for (std::size_t i = 0; i < n; ++i) slots.push_back(pool.allocate());
    // Free two thirds in a scrambled order: most go to chunks that are not current.
    std::vector<void*> kept;
    std::set<void*> freed;
    for (std::size_t i = 0; i < n; ++i) {
      void* p = slots[(i * 7919) % n];
      if (i % 3 == 0) kept.push_back(p);
      else {
        pool.deallocate(p);
        freed.insert(p);
      }
    }
    ASSERT_EQ(pool.live(), kept.size()) << size;
    ASSERT_EQ(pool.stats().live, kept.size());
    std::set<void*> walked;
    pool.for_each_allocated([&](void* p) { walked.insert(p); });
    ASSERT_EQ(walked, std::set<void*>(kept.begin(), kept.end())) << size;
    // Allocate as many again: every one is a slot that was freed, each once, while the chunks
    // already mapped suffice.
    const std::size_t chunks_before = source.outstanding.size();
    std::set<void*> again;
    for (std::size_t i = 0; i < freed.size(); ++i) {
      void* p = pool.allocate();
      std::memset(p, 0x5A, size);
      ASSERT_TRUE(again.insert(p).second) << "handed out twice: " << size;
    }
    EXPECT_EQ(source.outstanding.size(), chunks_before);
    const std::set<void*> kept_set(kept.begin(), kept.end());
    for (void* p : again) ASSERT_EQ(kept_set.count(p), 0u) << "a live slot handed out: " << size;
    ASSERT_EQ(pool.live(), n);
    std::set<void*> all(kept.begin(), kept.end());
    all.insert(again.begin(), again.end());
    walked.clear();
    pool.for_each_allocated([&](void* p) { walked.insert(p); });
    ASSERT_EQ(walked, all) << "every slot live again, none still marked free: " << size;
    // Everything back, in the opposite scramble: the chunks empty and go back beyond the cache.
    for (void* p : again) pool.deallocate(p);
    for (void* p : kept) pool.deallocate(p);
    EXPECT_EQ(pool.live(), 0u);
    EXPECT_EQ(pool.stats().live, 0u);
    EXPECT_LE(source.outstanding.size(), 2u) << "the current chunk and one cached";
    EXPECT_FALSE(source.bad_return);
  }
}

TEST(FixedPool, StatsAddUp) {
  FixedPool pool(96, 8, test_options());  // stride 96
  const std::size_t per_chunk = pool.capacity_per_chunk();
  std::vector<void*> slots;
  for (std::size_t i = 0; i < per_chunk * 4; ++i) slots.push_back(pool.allocate());
  // Free all but one slot in each of the last three chunks... by freeing by chunk.
  for (std::size_t i = per_chunk; i < slots.size(); ++i) {
    if (i % per_chunk != 0) pool.deallocate(slots[i]);
  }
  PoolStats s = pool.stats();
  EXPECT_EQ(s.stride, 96u);
  EXPECT_EQ(s.live, per_chunk + 3);
  EXPECT_EQ(s.peak, per_chunk * 4);
  EXPECT_EQ(s.chunks, 4u);
  EXPECT_EQ(s.committed_bytes, 4 * pool.chunk_size());
  EXPECT_EQ(s.chunk_occupancy[8], 1u);  // the full first chunk
  EXPECT_EQ(s.chunk_occupancy[1], 3u);  // one live slot in each of the others
  EXPECT_NEAR(s.fragmentation(), 1.0 - (per_chunk + 3) * 96.0 / (4.0 * pool.chunk_size()), 1e-12);
  std::size_t visited = 0;
  pool.for_each_allocated([&](void*) { ++visited; });
  EXPECT_EQ(visited, per_chunk + 3);
  for (std::size_t i = 0; i < slots.size(); ++i) {
    if (i < per_chunk || i % per_chunk == 0) pool.deallocate(slots[i]);
  }
  EXPECT_EQ(pool.stats().live, 0u);
}

// Debug checks: a handler that records instead of aborting.
struct Fault {
  PoolError error;
  const void* pointer;
};
std::vector<Fault> g_faults;
void record_fault(PoolError error, const void* pointer, const char*) { g_faults.push_back({error, pointer}); }

class DebugChecks : public ::testing::Test {
 protected:
  void SetUp() override {
    g_faults.clear();
    previous_ = set_error_handler(&record_fault);
  }
  void TearDown() override { set_error_handler(previous_); }
  ErrorHandler previous_ = nullptr;
};

TEST_F(DebugChecks, DoubleFree) {
  FixedPool pool(32, 8, with_source(nullptr, true));
  void* keep = pool.allocate();
  void* p = pool.allocate();
  pool.deallocate(p);
  pool.deallocate(p);
  ASSERT_EQ(g_faults.size(), 1u);
  EXPECT_EQ(g_faults[0].error, PoolError::double_free);
  EXPECT_EQ(g_faults[0].pointer, p);
  EXPECT_EQ(pool.stats().live, 1u) << "the second free was ignored";
  pool.deallocate(keep);
}

TEST_F(DebugChecks, ForeignPointers) {
  FixedPool pool(32, 8, with_source(nullptr, true));
  FixedPool other(32, 8, with_source(nullptr, true));
  void* mine = pool.allocate();
  void* theirs = other.allocate();
  std::vector<char> heap(32);
  pool.deallocate(theirs);
  pool.deallocate(heap.data());
  pool.deallocate(static_cast<char*>(mine) + 8);  // inside a slot, not its start
  ASSERT_EQ(g_faults.size(), 3u);
  for (const Fault& f : g_faults) EXPECT_EQ(f.error, PoolError::foreign_pointer);
  EXPECT_EQ(pool.stats().live, 1u);
  pool.deallocate(mine);
  other.deallocate(theirs);
  EXPECT_EQ(g_faults.size(), 3u);
}

#ifdef FRAGSCOPE_POOLS_ASAN
// Under ASan a freed slot is poisoned: the faulty write itself is reported.
TEST(AsanAnnotations, AWriteIntoAFreedSlotIsReported) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        FixedPool pool(32, 8, with_source(nullptr, false));
        auto* p = static_cast<volatile char*>(pool.allocate());
        pool.deallocate(const_cast<char*>(p));
        p[20] = 'x';
      },
      "use-after-poison");
}
#else
// Under ASan the write itself is reported (the freed slot is poisoned); this checks the pool's
// own detection, which works without any tool.
TEST_F(DebugChecks, WriteAfterFree) {
  FixedPool pool(32, 8, with_source(nullptr, true));
  auto* p = static_cast<char*>(pool.allocate());
  pool.deallocate(p);
  p[20] = 'x';  // a use after free
  void* again = pool.allocate();
  ASSERT_EQ(again, p) << "the freed slot is reused first";
  ASSERT_EQ(g_faults.size(), 1u);
  EXPECT_EQ(g_faults[0].error, PoolError::write_after_free);
  pool.deallocate(again);
}
#endif

TEST_F(DebugChecks, SharedPoolInDebugModeChecksEveryCall) {
  SharedFixedPool pool(32, 8, with_source(nullptr, true));
  void* p = pool.allocate();
  std::thread([&] { pool.deallocate(p); }).join();
  pool.deallocate(p);
  ASSERT_EQ(g_faults.size(), 1u);
  EXPECT_EQ(g_faults[0].error, PoolError::double_free);
}

TEST_F(DebugChecks, LiveObjectsAtDestructionWithTheCheckPolicy) {
  const void* pool_address = nullptr;
  {
    ObjectPool<int, AtPoolDestruction::check> pool(with_source(nullptr, true));
    pool_address = &pool;
    pool.create(1);
  }
  ASSERT_EQ(g_faults.size(), 1u);
  EXPECT_EQ(g_faults[0].error, PoolError::live_at_destroy);
  EXPECT_EQ(g_faults[0].pointer, pool_address);
}

TEST(DebugChecksDeath, TheDefaultHandlerNamesTheFaultAndAborts) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");  // sanitizers run threads of their own
  EXPECT_DEATH(
      {
        FixedPool pool(32, 8, with_source(nullptr, true));
        void* p = pool.allocate();
        pool.deallocate(p);
        pool.deallocate(p);
      },
      "fragscope pools: double free of 0x[0-9a-f]+ in pool 'checked'");
}

TEST(SharedFixedPool, OrphanedCachesAfterThePoolDies) {
  // A thread outlives two pools it used; its caches of the dead pools are freed when it next
  // looks up a cache, and at its exit. ASan/LSan check there is no use after free or leak.
  std::atomic<int> step{0};
  auto pool1 = std::make_unique<SharedFixedPool>(64, 16, test_options());
  auto pool2 = std::make_unique<SharedFixedPool>(64, 16, test_options());
  std::thread worker([&] {
    pool1->deallocate(pool1->allocate());
    pool2->deallocate(pool2->allocate());
    step = 1;
    while (step != 2) std::this_thread::yield();
    SharedFixedPool pool3(64, 16, test_options());
    void* p = pool3.allocate();
    pool3.deallocate(p);
    EXPECT_EQ(pool3.stats().live, 0u);
  });
  while (step != 1) std::this_thread::yield();
  pool1.reset();
  pool2.reset();
  step = 2;
  worker.join();
}

}  // namespace
}  // namespace fragscope::pools::test
