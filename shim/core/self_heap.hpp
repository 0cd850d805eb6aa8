// fragscope's private heap: everything fragscope's own threads (the reporter, the metrics
// endpoint) allocate through the malloc family — glibc's FILE of fmemopen, dlerror's buffer,
// whatever libc does for us — comes from here, never from the host's allocator. Under glibc the
// first malloc (or free) of a new thread gives it an arena of its own, so a single-threaded
// program measured by fragscope would show two arenas and our own advice would say "fewer
// arenas" (DESIGN.md, "Never diagnose ourselves").
//
// One reserved stretch of address space (PROT_NONE, MAP_NORESERVE, named "fragscope:self" in
// smaps), so "is this block ours?" is one subtraction and compare: every free, realloc and
// malloc_usable_size asks, whichever thread calls it, behind [[unlikely]]. Inside it, one
// sub-range per size class (powers of two, 16 to 4096 bytes, each slot aligned to its size) cut
// into 64 KiB runs with a free list each, and a sub-range for larger or more aligned blocks (page
// spans, first fit, a 16-byte header before the block). A run whose last block is freed gives
// its pages back (MADV_DONTNEED); a span is unmapped back to PROT_NONE.
//
// Why not fragscope::pools::FixedPool, as the remediation uses: a FixedPool records each new
// chunk in a std::unordered_set, through operator new — on our thread, that is this heap, from
// inside its own lock.
//
// Thread safety: any thread may call any function; one spin lock per size class and one for
// the spans, never held while calling anything else (so they are taken last across fork).
#pragma once

#include <cstddef>
#include <cstdint>

namespace fragscope::core {

struct SelfRange {
  std::uintptr_t base = 0;  // 0 until self_heap_init succeeded: self_owns() is then always false
  std::uintptr_t span = 0;
};
extern SelfRange g_self;

inline bool self_owns(const void* p) noexcept {
  return reinterpret_cast<std::uintptr_t>(p) - g_self.base < g_self.span;
}

/// Reserves the heap's address space. False when the kernel refused (the shim's threads then
/// allocate from the host's allocator, as before). Call before any thread of ours starts.
bool self_heap_init() noexcept;
inline bool self_ready() noexcept { return g_self.base != 0; }

/// The malloc family over the private heap, with glibc's semantics: nullptr and errno ENOMEM on
/// failure (errno untouched on success), calloc zeroes and checks n * m for overflow, a zero
/// size gives a unique block, an alignment that is not a power of two is rounded up to one (as
/// glibc's memalign does), realloc(p, 0) frees p and returns nullptr. All require self_ready().
void* self_malloc(std::size_t n) noexcept;
void* self_calloc(std::size_t n, std::size_t m) noexcept;
void* self_aligned(std::size_t align, std::size_t n) noexcept;
/// Requires: self_owns(p).
void self_free(void* p) noexcept;
/// Requires: p is nullptr or self_owns(p). Shrinking keeps the block in place.
void* self_realloc(void* p, std::size_t n) noexcept;
/// Requires: self_owns(p).
std::size_t self_usable(const void* p) noexcept;

/// Bytes of the heap's runs that hold blocks (or are current) and of its spans in use: at most
/// this much of it is resident. Our overhead, reported in the snapshot. Lock-free.
std::size_t self_heap_bytes() noexcept;

/// fork: every lock of the heap (taken last in prepare: nothing is called while one is held).
void self_heap_lock_all() noexcept;
void self_heap_unlock_all() noexcept;

}  // namespace fragscope::core
