// ObjectPool: typed objects, created and destroyed in any order in O(1), with unique_ptr
// ownership that returns objects to the pool.
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "fragscope/pools/object_pool.hpp"

struct Connection {
  Connection(int id, std::string peer) : id(id), peer(std::move(peer)) {}
  int id;
  std::string peer;
  long bytes_in = 0;
};

int main() {
  fragscope::pools::PoolOptions options;
  options.name = "connections";
  fragscope::pools::ObjectPool<Connection> pool(options);
  std::vector<fragscope::pools::ObjectPool<Connection>::unique_ptr> open;
  std::mt19937 rng(1);
  long served = 0;
  for (int i = 0; i < 200000; ++i) {
    if (open.size() < 1000 || rng() % 2 == 0) {
      open.push_back(pool.make_unique(i, "10.0.0." + std::to_string(i % 250)));
    } else {
      std::swap(open[rng() % open.size()], open.back());  // close a random connection
      served += open.back()->id;
      open.pop_back();
    }
  }
  std::printf("object_pool: %zu open connections (pool live %zu, peak %zu), served checksum %ld\n", open.size(),
              pool.live(), pool.stats().peak, served);
  open.clear();
  return pool.live() == 0 ? 0 : 1;
}
