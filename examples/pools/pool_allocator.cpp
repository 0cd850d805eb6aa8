// PoolAllocator: standard containers (std::list, std::unordered_map) over the process-wide
// synchronized pool resource, shared by two threads.
#include <cstdio>
#include <list>
#include <thread>
#include <unordered_map>

#include "fragscope/pools/pool_allocator.hpp"

template <class T>
using Alloc = fragscope::pools::PoolAllocator<T>;

int main() {
  long sums[2] = {0, 0};
  auto work = [&](int t) {
    std::list<int, Alloc<int>> queue;
    std::unordered_map<int, long, std::hash<int>, std::equal_to<>, Alloc<std::pair<const int, long>>> counts;
    for (int i = 0; i < 300000; ++i) {
      queue.push_back(i);
      if (queue.size() > 500) {
        counts[queue.front() % 1000] += queue.front();
        queue.pop_front();
      }
    }
    for (const auto& [k, v] : counts) sums[t] += v;
  };
  std::thread a(work, 0), b(work, 1);
  a.join();
  b.join();
  std::printf("pool_allocator: sums %ld %ld\n", sums[0], sums[1]);
  return sums[0] == sums[1] ? 0 : 1;
}
