// Forwarding to the real allocator: the next definition of each hooked function (dlsym
// RTLD_NEXT), so the shim sits on top of whatever allocator the process uses. dlsym itself may
// call calloc/malloc before we know where the real ones are: those calls are served from a
// static bootstrap buffer, and later frees of such blocks are recognised and ignored.
#pragma once

#include <sys/types.h>

#include <atomic>

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

/// C++ `operator new` and `operator delete`, every variant. Each is forwarded to the next
/// definition. When that is libstdc++'s (it calls malloc and free, which we record) the hook only
/// forwards; when it is an allocator's own (jemalloc, tcmalloc and mimalloc export them: they
/// never call malloc) the hook records the call itself. `record[i]` says which, per variant: a
/// library may define some and leave the rest to libstdc++ (mimalloc has no nothrow delete).
enum class CxxFn : unsigned {
  kNew, kNewArray, kNewNothrow, kNewArrayNothrow,                              // (size)
  kNewAligned, kNewArrayAligned, kNewAlignedNothrow, kNewArrayAlignedNothrow,  // (size, align)
  kDelete, kDeleteArray, kDeleteNothrow, kDeleteArrayNothrow,                  // (p)
  kDeleteSized, kDeleteArraySized,                                             // (p, size)
  kDeleteAligned, kDeleteArrayAligned, kDeleteAlignedNothrow, kDeleteArrayAlignedNothrow,  // (p, align)
  kDeleteSizedAligned, kDeleteArraySizedAligned,                               // (p, size, align)
  kCount
};
inline constexpr unsigned kCxxFns = static_cast<unsigned>(CxxFn::kCount);
/// The mangled names, in CxxFn order.
extern const char* const kCxxNames[kCxxFns];
struct CxxFunctions {
  void* next[kCxxFns] = {};     // the next definition, or null
  bool record[kCxxFns] = {};    // next is not libstdc++'s: the hook records the call
  bool any_record = false;      // some variant is an allocator's own
  void (*throw_bad_alloc)() = nullptr;  // the host's std::__throw_bad_alloc, for a new with no next
};
/// Filled by resolve_real_functions(); read-only afterwards.
extern CxxFunctions g_cxx;

/// Filled by resolve_real_functions(); read-only afterwards.
extern RealFunctions g_real;

/// Looks up every real function. Returns false if the allocator core (malloc, free, calloc,
/// realloc, malloc_usable_size) cannot be found: the shim then passes everything through.
/// Requires: the caller holds the recursion guard (dlsym allocates).
bool resolve_real_functions() noexcept;

/// The bootstrap buffer: 16-byte aligned blocks with their size stored just before them.
inline constexpr std::size_t kBootstrapBytes = 256 * 1024;
extern char g_boot[kBootstrapBytes];
void* bootstrap_alloc(std::size_t n, std::size_t align) noexcept;
inline bool is_bootstrap(const void* p) noexcept {  // inline: every free asks
  return reinterpret_cast<std::uintptr_t>(p) - reinterpret_cast<std::uintptr_t>(g_boot) < kBootstrapBytes;
}
std::size_t bootstrap_size(const void* p) noexcept;

/// Every recorded allocation and free needs the block's usable size. When the allocator
/// underneath is glibc's, it is read from the chunk header in place of a call to
/// malloc_usable_size: kChecking while the first kUsableChecks blocks are compared with the call
/// (the program's own blocks: allocating some of ours would change the heap we measure), then
/// kInline, or kCall for good after one disagreement or when malloc is not glibc's.
enum class UsableMode : int { kCall = 0, kChecking = 1, kInline = 2 };
inline constexpr unsigned kUsableChecks = 256;
extern std::atomic<UsableMode> g_usable_mode;
/// glibc's musable() for a block known to be in use (so its `inuse` test, which reads the next
/// chunk's header, is skipped): the chunk size less one header word, or two for an mmapped chunk.
inline std::size_t glibc_usable(const void* p) noexcept {
  const std::size_t head = static_cast<const std::size_t*>(p)[-1];
  return (head & ~std::size_t{7}) - ((head & 2) != 0 ? 16 : 8);
}
/// Sets g_usable_mode to kChecking when malloc, free and malloc_usable_size all come from
/// libc.so, else kCall. Requires resolve_real_functions().
void select_usable_mode() noexcept;
/// The call, and while checking, the comparison with glibc_usable.
std::size_t real_usable_slow(void* p) noexcept;
/// The usable size of live block `p` from the allocator underneath.
inline std::size_t real_usable(void* p) noexcept {
  if (g_usable_mode.load(std::memory_order_relaxed) == UsableMode::kInline) [[likely]]
    return glibc_usable(p);
  return real_usable_slow(p);
}

}  // namespace fragscope::shim
