// churn.hpp: the random-replacement churn shared by wl_churn and wl_churn_mt. A working set of
// blocks where each step frees a random block and puts a new random-size block in its place:
// every size and every lifetime, in no order, the classic allocator stress pattern.
#pragma once

#include "rng.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <new>
#include <vector>

namespace fragscope::bench {

struct ChurnConfig {
  std::size_t slots = 100'000;   // blocks in the working set
  std::uint64_t iterations = 0;  // replacements after the working set is filled
  std::size_t min_size = 8;      // block sizes are uniform in [min_size, max_size]
  std::size_t max_size = 1024;
  std::uint64_t seed = 1;
};

struct ChurnResult {
  std::uint64_t checksum = 0;  // same for every allocator: proves the data survived
  std::size_t live_bytes = 0;  // requested bytes held when the churn ended
};

// Runs the churn, then frees the working set. Each block gets a tag written into its first and
// last byte and checked into the checksum when freed, so the allocator's answers are really
// used (and a corrupting shim would change the checksum). Throws std::bad_alloc on failure.
inline ChurnResult run_churn(const ChurnConfig& config) {
  struct Block {
    unsigned char* data = nullptr;
    std::size_t size = 0;
  };
  Rng rng(config.seed);
  ChurnResult result;
  std::vector<Block> blocks(config.slots);

  const auto allocate = [&](Block& block, std::uint64_t tag) {
    block.size = rng.between(config.min_size, config.max_size);
    block.data = static_cast<unsigned char*>(std::malloc(block.size));
    if (block.data == nullptr) throw std::bad_alloc();
    block.data[0] = static_cast<unsigned char>(tag);
    block.data[block.size - 1] = static_cast<unsigned char>(tag >> 8);
    result.live_bytes += block.size;
  };
  const auto release = [&](Block& block) {
    result.checksum = result.checksum * 31 + block.data[0] + block.data[block.size - 1] + block.size;
    result.live_bytes -= block.size;
    std::free(block.data);
  };

  for (std::size_t i = 0; i < blocks.size(); ++i) allocate(blocks[i], i);
  for (std::uint64_t i = 0; i < config.iterations; ++i) {
    Block& block = blocks[rng.below(blocks.size())];
    release(block);
    allocate(block, i);
  }

  const std::size_t live_at_end = result.live_bytes;
  for (Block& block : blocks) release(block);
  result.live_bytes = live_at_end;
  return result;
}

}  // namespace fragscope::bench
