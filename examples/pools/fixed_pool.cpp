// FixedPool: one slot size, one thread. A parser keeps its tokens in a pool and gives the whole
// batch back at once; the pool's stats say how well its chunks are used.
#include <cstdio>
#include <cstring>
#include <vector>

#include "fragscope/pools/fixed_pool.hpp"

struct Token {
  char text[40];
  int kind;
};

int main() {
  fragscope::pools::PoolOptions options;
  options.name = "tokens";
  fragscope::pools::FixedPool pool(sizeof(Token), alignof(Token), options);
  std::vector<Token*> tokens;
  for (int i = 0; i < 100000; ++i) {
    auto* t = static_cast<Token*>(pool.allocate());
    std::snprintf(t->text, sizeof t->text, "token-%d", i);
    t->kind = i % 7;
    tokens.push_back(t);
  }
  long kinds = 0;
  for (Token* t : tokens) kinds += t->kind;
  const auto s = pool.stats();
  std::printf("fixed_pool: %zu tokens in %zu chunks, fragmentation %.3f, kinds sum %ld\n", s.live, s.chunks,
              s.fragmentation(), kinds);
  for (Token* t : tokens) pool.deallocate(t);
  std::printf("fixed_pool: after freeing all: %zu live, %zu bytes given back by trim\n", pool.stats().live,
              pool.trim());
  return pool.stats().live == 0 ? 0 : 1;
}
