// Run under Valgrind by the pools.valgrind test: a write into a freed slot of a debug pool must
// be reported as an invalid write (the pool marks freed slots inaccessible through Valgrind's
// mempool requests). Without Valgrind the pool's own poison check reports it instead.
#include <cstdio>

#include "fragscope/pools/fixed_pool.hpp"

int main() {
  fragscope::pools::PoolOptions options;
  options.debug = true;
  options.name = "uaf";
  fragscope::pools::FixedPool pool(64, 16, options);
  auto* keep = static_cast<char*>(pool.allocate());
  auto* p = static_cast<char*>(pool.allocate());
  pool.deallocate(p);
  p[40] = 'x';  // use after free
  std::printf("wrote after free\n");
  pool.deallocate(keep);
  return 0;
}
