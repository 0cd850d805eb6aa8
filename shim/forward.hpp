// Forwarding to the real allocator: the next definition of each hooked function (dlsym
// RTLD_NEXT), so the shim sits on top of whatever allocator the process uses. dlsym itself may
// call calloc/malloc before we know where the real ones are: those calls are served from a
// static bootstrap buffer, and later frees of such blocks are recognised and ignored.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>

namespace fragscope::shim {

struct RealFunctions {
  void* (*malloc)(std::size_t) = nullptr;
  void (*free)(void*) = nullptr;
  void* (*calloc)(std::size_t, std::size_t) = nullptr;
  void* (*realloc)(void*, std::size_t) = nullptr;
  void* (*reallocarray)(void*, std::size_t, std::size_t) = nullptr;
  int (*posix_memalign)(void**, std::size_t, std::size_t) = nullptr;
  void* (*aligned_alloc)(std::size_t, std::size_t) = nullptr;
  void* (*memalign)(std::size_t, std::size_t) = nullptr;
  void* (*valloc)(std::size_t) = nullptr;
  void* (*pvalloc)(std::size_t) = nullptr;
  std::size_t (*malloc_usable_size)(void*) = nullptr;
  void* (*mmap)(void*, std::size_t, int, int, int, off_t) = nullptr;
  int (*munmap)(void*, std::size_t) = nullptr;
  void* (*mremap)(void*, std::size_t, std::size_t, int, ...) = nullptr;
};

/// Filled by resolve_real_functions(); read-only afterwards.
extern RealFunctions g_real;

/// Looks up every real function. Returns false if the allocator core (malloc, free, calloc,
/// realloc, malloc_usable_size) cannot be found: the shim then passes everything through.
/// Requires: the caller holds the recursion guard (dlsym allocates).
bool resolve_real_functions() noexcept;

/// The bootstrap buffer: 16-byte aligned blocks with their size stored just before them.
void* bootstrap_alloc(std::size_t n, std::size_t align) noexcept;
bool is_bootstrap(const void* p) noexcept;
std::size_t bootstrap_size(const void* p) noexcept;

}  // namespace fragscope::shim
