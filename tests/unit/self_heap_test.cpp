// The private heap of fragscope's own threads (shim/core/self_heap.hpp): the malloc family's
// semantics over its reserved range — every block inside the range, calloc zeroes, aligned
// requests are aligned, realloc keeps the contents, blocks are reused, frees from any thread.
#include "self_heap.hpp"

#include <gtest/gtest.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <thread>
#include <vector>

namespace fs = fragscope::core;

namespace {

class SelfHeap : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(fs::self_heap_init()); }
};

std::uintptr_t addr(const void* p) { return reinterpret_cast<std::uintptr_t>(p); }

TEST_F(SelfHeap, EverySizeIsServedInsideTheRangeWithItsUsableBytes) {
  for (std::size_t n : {0ul, 1ul, 15ul, 16ul, 17ul, 100ul, 1000ul, 4095ul, 4096ul, 4097ul, 70000ul, 3ul << 20}) {
    void* p = fs::self_malloc(n);
    ASSERT_NE(p, nullptr) << n;
    EXPECT_TRUE(fs::self_owns(p)) << n;
    EXPECT_EQ(addr(p) % 16, 0u) << n;
    EXPECT_GE(fs::self_usable(p), n) << n;
    std::memset(p, 0xab, fs::self_usable(p));  // all of it is writable
    fs::self_free(p);
  }
  int host = 0;
  EXPECT_FALSE(fs::self_owns(&host));
  EXPECT_FALSE(fs::self_owns(nullptr));
}

TEST_F(SelfHeap, CallocZeroesReusedBlocksAndRefusesOverflow) {
  std::vector<void*> dirty;
  for (int i = 0; i < 64; ++i) {
    void* p = fs::self_malloc(200);
    std::memset(p, 0xff, 200);
    dirty.push_back(p);
  }
  for (void* p : dirty) fs::self_free(p);
  for (std::size_t n : {200ul, 5000ul}) {
    auto* c = static_cast<unsigned char*>(fs::self_calloc(n / 8, 8));
    ASSERT_NE(c, nullptr);
    for (std::size_t i = 0; i < n; ++i) ASSERT_EQ(c[i], 0) << i;
    fs::self_free(c);
  }
  errno = 0;
  EXPECT_EQ(fs::self_calloc(SIZE_MAX / 2, 4), nullptr);
  EXPECT_EQ(errno, ENOMEM);
}

TEST_F(SelfHeap, AlignedRequestsAreAligned) {
  for (std::size_t al : {16ul, 32ul, 64ul, 256ul, 4096ul, 8192ul, 65536ul}) {
    for (std::size_t n : {1ul, 24ul, 100ul, 5000ul, 100000ul}) {
      void* p = fs::self_aligned(al, n);
      ASSERT_NE(p, nullptr) << al << " " << n;
      EXPECT_EQ(addr(p) % al, 0u) << al << " " << n;
      EXPECT_GE(fs::self_usable(p), n);
      std::memset(p, 1, n);
      fs::self_free(p);
    }
  }
  void* p = fs::self_aligned(48, 10);  // not a power of two: rounded up to 64, as glibc's memalign
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(addr(p) % 64, 0u);
  fs::self_free(p);
}

TEST_F(SelfHeap, ReallocKeepsTheContentsAcrossClassesAndSpans) {
  auto* p = static_cast<unsigned char*>(fs::self_realloc(nullptr, 10));
  ASSERT_NE(p, nullptr);
  for (int i = 0; i < 10; ++i) p[i] = static_cast<unsigned char>(i);
  std::size_t n = 10;
  for (std::size_t grow : {100ul, 3000ul, 50000ul, 200000ul}) {
    p = static_cast<unsigned char*>(fs::self_realloc(p, grow));
    ASSERT_NE(p, nullptr);
    for (std::size_t i = 0; i < n; ++i) ASSERT_EQ(p[i], static_cast<unsigned char>(i % 251)) << grow << " " << i;
    for (std::size_t i = n; i < grow; ++i) p[i] = static_cast<unsigned char>(i % 251);
    n = grow;
  }
  void* q = fs::self_realloc(p, 8);  // shrinking stays in place
  EXPECT_EQ(q, p);
  EXPECT_EQ(fs::self_realloc(q, 0), nullptr);  // glibc: frees, returns NULL
}

TEST_F(SelfHeap, FreedBlocksAndSpansAreReused) {
  void* a = fs::self_malloc(300);
  fs::self_free(a);
  void* b = fs::self_malloc(300);
  EXPECT_EQ(a, b);
  fs::self_free(b);
  void* big = fs::self_malloc(1 << 20);
  fs::self_free(big);
  void* big2 = fs::self_malloc(1 << 20);
  EXPECT_EQ(big, big2);
  fs::self_free(big2);
}

TEST_F(SelfHeap, ManyBlocksAcrossRunsAndThreadsStayDistinct) {
  // Several runs of 64 KiB per class, freed by other threads than the one that allocated them.
  constexpr int kThreads = 4, kBlocks = 3000;
  std::vector<std::vector<void*>> blocks(kThreads);
  std::vector<std::thread> ts;
  for (int t = 0; t < kThreads; ++t)
    ts.emplace_back([&, t] {
      for (int i = 0; i < kBlocks; ++i) {
        auto* p = static_cast<int*>(fs::self_malloc(16u << (i % 6)));
        *p = t * kBlocks + i;
        blocks[t].push_back(p);
      }
    });
  for (auto& t : ts) t.join();
  ts.clear();
  for (int t = 0; t < kThreads; ++t)
    for (int i = 0; i < kBlocks; ++i) ASSERT_EQ(*static_cast<int*>(blocks[t][i]), t * kBlocks + i);
  for (int t = 0; t < kThreads; ++t)
    ts.emplace_back([&, t] {
      for (void* p : blocks[(t + 1) % kThreads]) fs::self_free(p);
    });
  for (auto& t : ts) t.join();
  // Everything freed: the same requests fit again.
  for (int i = 0; i < kBlocks; ++i) {
    void* p = fs::self_malloc(512);
    ASSERT_NE(p, nullptr);
    fs::self_free(p);
  }
}

}  // namespace

namespace {

// The bytes the snapshot reports as the heap's (overhead.self_heap_bytes) follow its blocks: a
// freed span and the runs emptied go back.
TEST_F(SelfHeap, ItsBytesInUseFollowTheBlocks) {
  const std::size_t before = fs::self_heap_bytes();
  void* big = fs::self_malloc(1 << 20);
  EXPECT_GE(fs::self_heap_bytes(), before + (1 << 20));
  fs::self_free(big);
  EXPECT_EQ(fs::self_heap_bytes(), before);
  std::vector<void*> blocks;
  for (int i = 0; i < 2048; ++i) blocks.push_back(fs::self_malloc(1024));  // 2 MiB: 32 runs or more
  // 32 runs of 64 KiB, of which the class's current run may already have been counted in before.
  EXPECT_GE(fs::self_heap_bytes(), before + (2u << 20) - 64 * 1024);
  for (void* p : blocks) fs::self_free(p);
  EXPECT_LE(fs::self_heap_bytes(), before + 64 * 1024);  // only the class's current run stays
}

}  // namespace
