// The default chunk source: chunks mapped from the OS, aligned by over-mapping and cutting off
// the ends, and unmapped when returned. Fresh mappings are zero pages the kernel backs only when
// touched, which is why a pool never writes to a slot before handing it out.
#include <sys/mman.h>

#include <algorithm>
#include <cstdint>

#include "fragscope/pools/options.hpp"

namespace fragscope::pools {
namespace {

class OsChunkSource final : public ChunkSource {
 public:
  void* allocate_chunk(std::size_t bytes, std::size_t alignment) noexcept override {
    const std::size_t page = 4096;
    if (alignment <= page) {
      void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      return p == MAP_FAILED ? nullptr : p;
    }
    const std::size_t span = bytes + alignment - page;
    void* raw = mmap(nullptr, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED) return nullptr;
    const auto start = reinterpret_cast<std::uintptr_t>(raw);
    const std::uintptr_t aligned = (start + alignment - 1) & ~(alignment - 1);
    if (aligned > start) munmap(raw, aligned - start);
    const std::uintptr_t tail = aligned + bytes;
    if (start + span > tail) munmap(reinterpret_cast<void*>(tail), start + span - tail);
    return reinterpret_cast<void*>(aligned);
  }
  void deallocate_chunk(void* chunk, std::size_t bytes, std::size_t) noexcept override {
    munmap(chunk, bytes);
  }
  // One munmap per run of adjacent chunks: the kernel's cost is mostly per call.
  void deallocate_chunks(void* const* chunks, std::size_t n, std::size_t bytes, std::size_t alignment) noexcept override {
    constexpr std::size_t kMax = 64;
    std::uintptr_t sorted[kMax];
    while (n > 0) {
      const std::size_t k = n < kMax ? n : kMax;
      for (std::size_t i = 0; i < k; ++i) sorted[i] = reinterpret_cast<std::uintptr_t>(chunks[i]);
      std::sort(sorted, sorted + k);
      for (std::size_t i = 0; i < k;) {
        std::size_t j = i + 1;
        while (j < k && sorted[j] == sorted[j - 1] + bytes) ++j;
        munmap(reinterpret_cast<void*>(sorted[i]), (j - i) * bytes);
        i = j;
      }
      chunks += k;
      n -= k;
    }
    (void)alignment;
  }
};

}  // namespace

ChunkSource& os_chunk_source() noexcept {
  static OsChunkSource source;
  return source;
}

}  // namespace fragscope::pools
