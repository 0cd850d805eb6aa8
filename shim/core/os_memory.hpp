// Memory for fragscope's own tables: anonymous mappings we make with a raw syscall (never through
// the hooked mmap, never from the host's heap), named "fragscope" in /proc/self/smaps so our
// overhead can be told apart from the host's, and counted so the snapshot can report it.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace fragscope::core {

/// Maps `bytes` (rounded up to whole pages) of zeroed anonymous memory named "fragscope:<tag>".
/// Returns nullptr on failure (errno is left as it was). Thread-safe; async-signal-safe.
void* os_map(std::size_t bytes, const char* tag) noexcept;

/// Unmaps memory obtained from os_map. `bytes` must be the size passed to os_map.
void os_unmap(void* p, std::size_t bytes) noexcept;

/// Reserves `bytes` (rounded up to whole pages) of address space, PROT_NONE and MAP_NORESERVE,
/// named "fragscope:<tag>"; its user makes parts of it accessible with mprotect. Not counted in
/// os_mapped_bytes (it holds no memory until used). Returns nullptr on failure; errno is kept.
void* os_reserve(std::size_t bytes, const char* tag) noexcept;

/// Bytes currently mapped through os_map (our memory overhead, virtual).
std::size_t os_mapped_bytes() noexcept;

/// Returns the system page size (cached).
std::size_t page_size() noexcept;

/// A thread-safe bump allocator over os_map'ed chunks, for small objects that live as long as
/// the process (per-thread counter blocks, directories). Never frees; never calls malloc.
class Arena {
 public:
  explicit constexpr Arena(const char* tag) noexcept : tag_(tag) {}
  /// Returns zeroed memory of `bytes` aligned to `align` (a power of two ≤ page size), or nullptr.
  void* allocate(std::size_t bytes, std::size_t align = 64) noexcept;
  /// fork() support: hold the lock across fork (prepare), release it in parent and child.
  void lock() noexcept {
    while (lock_.exchange(true, std::memory_order_acquire)) {
    }
  }
  void unlock() noexcept { lock_.store(false, std::memory_order_release); }

 private:
  const char* tag_;
  std::atomic<bool> lock_{false};
  char* cur_ = nullptr;  // guarded by lock_
  char* end_ = nullptr;  // guarded by lock_
};

}  // namespace fragscope::core
