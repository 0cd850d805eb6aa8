// ObjectPool, Recycler, the pmr resources and PoolAllocator with standard containers.
#include <gtest/gtest.h>

#include <list>
#include <map>
#include <memory_resource>
#include <random>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

#include "pool_kinds.hpp"

namespace fragscope::pools::test {
namespace {

struct Counted {
  static inline int alive = 0;
  explicit Counted(int v, bool fail = false) : value(v) {
    if (fail) throw std::runtime_error("constructor failed");
    ++alive;
  }
  ~Counted() { --alive; }
  int value;
  std::string payload = std::string(40, 'p');  // a heap-owning member: leaks would show in LSan
};

TEST(ObjectPool, CreateDestroyInAnyOrder) {
  Counted::alive = 0;
  ObjectPool<Counted> pool(test_options());
  std::vector<Counted*> objects;
  for (int i = 0; i < 10000; ++i) objects.push_back(pool.create(i));
  EXPECT_EQ(Counted::alive, 10000);
  std::mt19937 rng(7);
  std::shuffle(objects.begin(), objects.end(), rng);
  for (std::size_t i = 0; i < objects.size(); i += 2) pool.destroy(objects[i]);
  EXPECT_EQ(Counted::alive, 5000);
  EXPECT_EQ(pool.live(), 5000u);
  for (std::size_t i = 1; i < objects.size(); i += 2) EXPECT_TRUE(pool.owns(objects[i]));
  for (std::size_t i = 1; i < objects.size(); i += 2) pool.destroy(objects[i]);
  EXPECT_EQ(Counted::alive, 0);
}

TEST(ObjectPool, AThrowingConstructorGivesTheSlotBack) {
  ObjectPool<Counted> pool(test_options());
  EXPECT_THROW(pool.create(1, true), std::runtime_error);
  EXPECT_EQ(pool.live(), 0u);
}

TEST(ObjectPool, MakeUniqueDestroysIntoThePool) {
  Counted::alive = 0;
  ObjectPool<Counted> pool(test_options());
  {
    auto a = pool.make_unique(1);
    auto b = pool.make_unique(2);
    EXPECT_EQ(pool.live(), 2u);
    EXPECT_EQ(a->value + b->value, 3);
  }
  EXPECT_EQ(pool.live(), 0u);
  EXPECT_EQ(Counted::alive, 0);
}

TEST(ObjectPool, TheDestroyPolicyRunsDestructorsOfLiveObjects) {
  Counted::alive = 0;
  {
    ObjectPool<Counted, AtPoolDestruction::destroy> pool(test_options());
    for (int i = 0; i < 3000; ++i) {
      Counted* c = pool.create(i);
      if (i % 3 == 0) pool.destroy(c);
    }
    EXPECT_EQ(Counted::alive, 2000);
  }
  EXPECT_EQ(Counted::alive, 0);
}

struct Buffer {
  static inline int built = 0;
  Buffer() {
    ++built;
    data.reserve(4096);
  }
  void clear() { data.clear(); }
  std::vector<char> data;
};

TEST(Recycler, ReusesResetObjectsUpToTheCap) {
  Buffer::built = 0;
  Recycler<Buffer> recycler(2);
  Buffer* first = nullptr;
  {
    auto a = recycler.acquire();
    a->data.assign(100, 'x');
    first = a.get();
  }
  {
    auto b = recycler.acquire();
    EXPECT_EQ(b.get(), first) << "the released object comes back";
    EXPECT_TRUE(b->data.empty()) << "reset by clear()";
    EXPECT_GE(b->data.capacity(), 4096u) << "and kept its capacity";
  }
  EXPECT_EQ(Buffer::built, 1);
  {
    auto x = recycler.acquire();
    auto y = recycler.acquire();
    auto z = recycler.acquire();
  }
  auto s = recycler.stats();
  EXPECT_EQ(s.created, 3u);
  EXPECT_EQ(s.reused, 2u);
  EXPECT_EQ(s.cached, 2u);
  EXPECT_EQ(s.destroyed, 1u);
  recycler.shrink();
  EXPECT_EQ(recycler.stats().cached, 0u);
  EXPECT_EQ(recycler.pool_stats().live, 0u);
}

TEST(Recycler, ACustomResetHook) {
  int resets = 0;
  auto reset = [&resets](std::string& s) {
    s = "fresh";
    ++resets;
  };
  Recycler<std::string, decltype(reset)> recycler(4, reset);
  { auto s = recycler.acquire("first"); }
  auto s = recycler.acquire("ignored");
  EXPECT_EQ(*s, "fresh");
  EXPECT_EQ(resets, 1);
}

TEST(SizeClasses, SmallestFittingClassForEverySizeAndAlignment) {
  for (std::size_t alignment = 1; alignment <= 8192; alignment *= 2) {
    for (std::size_t bytes = 0; bytes <= 4200; ++bytes) {
      const std::uint32_t c = size_class_of(bytes, alignment);
      std::uint32_t expected = kNoClass;
      for (std::uint32_t i = 0; i < kClassSizes.size(); ++i) {
        if (kClassSizes[i] >= std::max<std::size_t>(bytes, 1) && kClassSizes[i] % alignment == 0) {
          expected = i;
          break;
        }
      }
      if (alignment > kMaxPooledSize) expected = kNoClass;
      ASSERT_EQ(c, expected) << bytes << " bytes aligned " << alignment;
    }
  }
}

// Counts what reaches the upstream resource.
class CountingUpstream final : public std::pmr::memory_resource {
 public:
  int allocations = 0;
  int deallocations = 0;

 private:
  void* do_allocate(std::size_t bytes, std::size_t alignment) override {
    ++allocations;
    return std::pmr::new_delete_resource()->allocate(bytes, alignment);
  }
  void do_deallocate(void* p, std::size_t bytes, std::size_t alignment) override {
    ++deallocations;
    std::pmr::new_delete_resource()->deallocate(p, bytes, alignment);
  }
  bool do_is_equal(const std::pmr::memory_resource& other) const noexcept override { return this == &other; }
};

template <class Resource>
void exercise_resource() {
  CountingUpstream upstream;
  Resource resource(test_options(), &upstream);
  for (std::size_t alignment = 1; alignment <= 4096; alignment *= 2) {
    void* p = resource.allocate(24, alignment);
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(p) % alignment, 0u) << alignment;
    resource.deallocate(p, 24, alignment);
  }
  EXPECT_EQ(upstream.allocations, 0) << "pooled sizes never reach upstream";
  void* big = resource.allocate(100000, 64);
  resource.deallocate(big, 100000, 64);
  void* overaligned = resource.allocate(16, 8192);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(overaligned) % 8192, 0u);
  resource.deallocate(overaligned, 16, 8192);
  EXPECT_EQ(upstream.allocations, 2);
  EXPECT_EQ(upstream.deallocations, 2);
  {
    std::pmr::vector<std::pmr::string> strings(&resource);
    for (int i = 0; i < 1000; ++i) strings.emplace_back(std::string(i % 300, 'a' + i % 26));
    for (int i = 0; i < 1000; ++i) ASSERT_EQ(strings[i].size(), static_cast<std::size_t>(i % 300));
  }
}

TEST(PoolResource, ServesEveryAlignmentAndDefersLargeRequests) { exercise_resource<PoolResource>(); }
TEST(SynchronizedPoolResource, ServesEveryAlignmentAndDefersLargeRequests) {
  exercise_resource<SynchronizedPoolResource>();
}

TEST(PoolAllocator, StandardContainersChurn) {
  std::mt19937 rng(3);
  std::list<int, PoolAllocator<int>> list;
  std::map<int, std::string, std::less<>, PoolAllocator<std::pair<const int, std::string>>> map;
  std::unordered_map<int, int, std::hash<int>, std::equal_to<>, PoolAllocator<std::pair<const int, int>>> hash;
  std::map<int, std::string> reference;
  for (int i = 0; i < 100000; ++i) {
    const int key = static_cast<int>(rng() % 5000);
    list.push_back(key);
    if (list.size() > 1000) list.pop_front();
    if (map.count(key) != 0) {
      map.erase(key);
      reference.erase(key);
      hash.erase(key);
    } else {
      map.emplace(key, std::to_string(key));
      reference.emplace(key, std::to_string(key));
      hash[key] = key * 2;
    }
  }
  ASSERT_EQ(map.size(), reference.size());
  ASSERT_EQ(hash.size(), reference.size());
  auto it = reference.begin();
  for (const auto& [k, v] : map) {
    ASSERT_EQ(k, it->first);
    ASSERT_EQ(v, it->second);
    ASSERT_EQ(hash.at(k), k * 2);
    ++it;
  }
  EXPECT_EQ(list.size(), 1000u);
}

TEST(PoolAllocator, OverAUnsynchronizedResource) {
  PoolResource resource(test_options());
  {
    std::list<std::string, PoolAllocator<std::string, PoolResource>> list{
        PoolAllocator<std::string, PoolResource>(resource)};
    for (int i = 0; i < 1000; ++i) list.emplace_back("item");
    const auto node_class = size_class_of(sizeof(std::string) + 2 * sizeof(void*), alignof(std::string));
    EXPECT_EQ(resource.pool(node_class).stats().live, 1000u);
  }
  for (std::uint32_t c = 0; c < kClassSizes.size(); ++c) EXPECT_EQ(resource.pool(c).stats().live, 0u);
}

}  // namespace
}  // namespace fragscope::pools::test
