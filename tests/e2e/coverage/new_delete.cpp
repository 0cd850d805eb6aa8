// A C++ program whose heap is all operator new and delete: 100,000 blocks of 64 bytes made with
// new[], every other one deleted. Prints how many it made. Under an allocator that exports its
// own operator new (jemalloc, tcmalloc, mimalloc), those calls never reach malloc.
#include <cstdio>
#include <memory>
#include <vector>

int main() {
  constexpr int kBlocks = 100000;
  std::vector<std::unique_ptr<char[]>> blocks;
  blocks.reserve(kBlocks);
  for (int i = 0; i < kBlocks; ++i) {
    blocks.emplace_back(new char[64]);
    blocks.back()[0] = static_cast<char>(i);
  }
  for (int i = 0; i < kBlocks; i += 2) blocks[i].reset();
  std::printf("new[] %d\n", kBlocks);
  return 0;
}
