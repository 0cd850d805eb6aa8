// A heap with a known layout, for the layout ground-truth test: 100,000 blocks of 64 bytes,
// then every block but one in eight freed (interleaved), then one 32-byte block allocated above
// everything. With `--threads N` each of N threads does the same in its own glibc arena.
// With `--mappings N` it first makes N anonymous mappings of two pages each (the second page
// read-only, so that none merge: 2N entries in smaps), all touched.
// Prints glibc's own accounting (mallinfo2) as key=value lines, then exits normally so the
// preloaded shim writes its final snapshot.
#include <malloc.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

namespace {

constexpr int kBlocks = 100000;

// Keeps the survivors alive until exit, holder included: a global vector would be destroyed
// before the shim's final snapshot and leave a hole of its own.
std::vector<std::vector<void*>>& g_kept = *new std::vector<std::vector<void*>>();

// Not a tail call, so that it is a frame of its own in the sampled stack.
void* __attribute__((noinline)) allocate_top_pinning_block() {
  void* p = std::malloc(32);
  asm volatile("" : : "r"(p) : "memory");
  return p;
}

void make_pattern(std::vector<void*>& kept) {
  std::vector<void*> all(kBlocks);  // one large block: its own mmapped segment
  for (int i = 0; i < kBlocks; ++i) {
    all[i] = std::malloc(64);
    std::memset(all[i], 1, 64);
  }
  for (int i = 0; i < kBlocks; ++i) {
    if (i % 8 == 0) kept.push_back(all[i]);
    else std::free(all[i]);
  }
  kept.push_back(allocate_top_pinning_block());
}

}  // namespace

int main(int argc, char** argv) {
  int threads = 0;
  if (argc == 3 && std::strcmp(argv[1], "--threads") == 0) threads = std::atoi(argv[2]);
  if (argc == 3 && std::strcmp(argv[1], "--mappings") == 0) {
    const std::size_t page = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
    for (int i = 0, n = std::atoi(argv[2]); i < n; ++i) {
      auto* p = static_cast<char*>(mmap(nullptr, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
      if (p == MAP_FAILED) return 1;
      std::memset(p, 1, 2 * page);
      mprotect(p + page, page, PROT_READ);
    }
  }
  // Reserve before the pattern, so nothing else is allocated among or above its blocks.
  std::printf("pattern threads=%d\n", threads);  // stdio's buffer now sits below the pattern
  g_kept.resize(threads > 0 ? threads : 1);
  for (auto& k : g_kept) k.reserve(kBlocks / 8 + 2);
  if (threads == 0) {
    make_pattern(g_kept[0]);
  } else {
    std::vector<std::thread> th;
    for (int t = 0; t < threads; ++t) th.emplace_back([t] { make_pattern(g_kept[t]); });
    for (auto& x : th) x.join();
  }
  struct mallinfo2 mi = mallinfo2();
  std::printf("arena=%zu fordblks=%zu keepcost=%zu uordblks=%zu hblkhd=%zu\n", mi.arena, mi.fordblks, mi.keepcost,
              mi.uordblks, mi.hblkhd);
  return 0;
}
