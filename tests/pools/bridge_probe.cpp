// Run under libfragscope.so by the pools.bridge test: keeps a named pool with a known number of
// live slots across a few snapshot intervals, so the snapshots must list it.
#include <chrono>
#include <thread>
#include <vector>

#include "fragscope/pools/fixed_pool.hpp"

int main() {
  fragscope::pools::PoolOptions options;
  options.name = "probe";
  options.debug = false;
  fragscope::pools::FixedPool pool(48, 16, options);
  std::vector<void*> slots;
  for (int i = 0; i < 1000; ++i) slots.push_back(pool.allocate());
  // Stay busy as a service does (the shim starts its reporter from a hook) for a few intervals.
  const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(600);
  while (std::chrono::steady_clock::now() < until) {
    std::vector<char> work(100);
    std::this_thread::sleep_for(std::chrono::microseconds(100));
  }
  for (void* p : slots) pool.deallocate(p);
  return 0;
}
