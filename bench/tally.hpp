// tally.hpp: what every workload of the suite does with its blocks — allocate and tag them,
// check the tags when freeing into a checksum (equal under every allocator; a corrupting shim or
// allocator would change it), and count the requested bytes held, so that each workload prints
// its own live bytes and RSS / live is exact.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <new>

namespace fragscope::bench {

class Tally {
 public:
  // A block of n ≥ 1 bytes, its first and last byte tagged. Throws std::bad_alloc.
  unsigned char* take(std::size_t n, std::uint64_t tag) {
    auto* p = static_cast<unsigned char*>(std::malloc(n));
    if (p == nullptr) throw std::bad_alloc();
    p[0] = static_cast<unsigned char>(tag);
    p[n - 1] = static_cast<unsigned char>(tag >> 8);
    live_bytes_.fetch_add(n, std::memory_order_relaxed);
    return p;
  }
  // Frees a block from take(n, ...), folding its tags into the checksum (order-independent, so
  // threads may free in any interleaving).
  void give(unsigned char* p, std::size_t n) {
    checksum_.fetch_add(static_cast<std::uint64_t>(p[0]) * 257 + p[n - 1] + n, std::memory_order_relaxed);
    live_bytes_.fetch_sub(n, std::memory_order_relaxed);
    std::free(p);
  }
  std::uint64_t checksum() const { return checksum_.load(); }
  std::size_t live_bytes() const { return live_bytes_.load(); }

 private:
  std::atomic<std::uint64_t> checksum_{0};
  std::atomic<std::size_t> live_bytes_{0};
};

// VmRSS of this process in bytes (0 when unreadable), for the workloads' own last line.
inline std::size_t rss_bytes() {
  std::FILE* f = std::fopen("/proc/self/statm", "r");
  if (f == nullptr) return 0;
  unsigned long size = 0, resident = 0;
  const int n = std::fscanf(f, "%lu %lu", &size, &resident);
  std::fclose(f);
  return n == 2 ? resident * 4096 : 0;
}

}  // namespace fragscope::bench
