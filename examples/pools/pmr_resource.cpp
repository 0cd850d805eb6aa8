// PoolResource: std::pmr containers whose nodes and strings come from size-class pools.
#include <cstdio>
#include <map>
#include <memory_resource>
#include <string>

#include "fragscope/pools/pool_resource.hpp"

int main() {
  fragscope::pools::PoolOptions options;
  options.name = "index";
  fragscope::pools::PoolResource resource(options);
  std::size_t entries = 0;
  {
    std::pmr::map<std::pmr::string, std::pmr::string> index(&resource);
    for (int i = 0; i < 50000; ++i) {
      index.emplace(std::pmr::string("key-with-some-length-" + std::to_string(i), &resource),
                    std::pmr::string(static_cast<std::size_t>(i % 200), 'v', &resource));
    }
    for (int i = 0; i < 50000; i += 2) index.erase(std::pmr::string("key-with-some-length-" + std::to_string(i), &resource));
    entries = index.size();
  }
  const std::size_t released = resource.trim();
  std::printf("pmr_resource: %zu entries, %zu bytes given back after the map was destroyed\n", entries, released);
  return entries == 25000 ? 0 : 1;
}
