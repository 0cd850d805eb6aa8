// rng.hpp: the deterministic PRNG shared by the benchmarks and workloads, so that every run
// (plain, under the shim, under heaptrack) makes exactly the same allocation calls.
#pragma once

#include <cstdint>

namespace fragscope::bench {

// splitmix64: tiny and fast, and gives the same sequence everywhere, unlike the distributions
// in <random>, whose output is implementation-defined. Not thread-safe: one per thread.
class Rng {
 public:
  explicit Rng(std::uint64_t seed) : state_(seed) {}

  std::uint64_t next() {
    std::uint64_t z = (state_ += 0x9e37'79b9'7f4a'7c15);
    z = (z ^ (z >> 30)) * 0xbf58'476d'1ce4'e5b9;
    z = (z ^ (z >> 27)) * 0x94d0'49bb'1331'11eb;
    return z ^ (z >> 31);
  }

  // Uniform in [0, n) for n > 0. Modulo bias is negligible for the small n used here.
  std::uint64_t below(std::uint64_t n) { return next() % n; }

  // Uniform in [lo, hi], lo <= hi.
  std::uint64_t between(std::uint64_t lo, std::uint64_t hi) { return lo + below(hi - lo + 1); }

 private:
  std::uint64_t state_;
};

}  // namespace fragscope::bench
