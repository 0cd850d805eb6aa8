// Uses fragscope::pools through find_package(fragscope): an object pool and a pmr resource.
#include <cstdio>
#include <memory_resource>
#include <vector>

#include "fragscope/pools/pools.hpp"

struct Point {
  double x, y;
};

int main() {
  fragscope::pools::ObjectPool<Point> points;
  auto p = points.make_unique(Point{1.0, 2.0});
  fragscope::pools::PoolResource resource;
  std::pmr::vector<int> values(&resource);
  for (int i = 0; i < 1000; ++i) values.push_back(i);
  std::printf("consumer: point (%.1f, %.1f), %zu values, %zu point live\n", p->x, p->y, values.size(), points.live());
  return points.live() == 1 && values.size() == 1000 ? 0 : 1;
}
