// FixedPool: a single-threaded pool of fixed-size slots with O(1) allocate, deallocate and
// chunk lookup, that gives empty chunks back to their source. The building block of every other
// pool kind here.
//
// Memory layout. Chunks are `chunk_size` bytes, aligned to `chunk_size`, so the chunk of a slot
// is its address with the low bits cleared. A chunk starts with its header; slots follow at a
// multiple of the alignment. A new chunk is never written beyond its header: slots are handed
// out from a bump pointer first, so pages are touched only when a slot on them is used. Freed
// slots go on their chunk's free list (the link is stored in the slot), and a chunk whose last
// slot is freed becomes empty: kept for reuse up to `max_empty_chunks`, otherwise returned.
//
// Thread safety: none. One thread at a time per pool (see SharedFixedPool for threads); `stats`
// counters `live`, `peak`, `chunks` and `committed_bytes` may be read from any thread through
// fragscope's snapshot bridge.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <new>
#include <unordered_set>

#include "fragscope/pools/detail/sanitizer.hpp"
#include "fragscope/pools/options.hpp"

namespace fragscope::pools {

class FixedPool;

namespace detail {

// Per chunk. Invariant: live + |free list| + (end − bump) / stride == capacity.
struct ChunkHeader {
  void* free = nullptr;       // freed slots, linked through their first word
  char* bump = nullptr;       // first never-used slot
  char* end = nullptr;        // end of the last whole slot
  std::uint32_t live = 0;
  std::uint32_t state = 0;    // ChunkState
  ChunkHeader* prev = nullptr;  // links in the available or empty list (or the all-chunks ring)
  ChunkHeader* next = nullptr;
  ChunkHeader* all_prev = nullptr;  // every chunk of the pool, for owns / stats / destruction
  ChunkHeader* all_next = nullptr;
  FixedPool* owner = nullptr;
  std::uint64_t* allocated_bits = nullptr;  // debug mode: one bit per slot, set while live
  char* slots = nullptr;      // first slot
};

enum ChunkState : std::uint32_t { kCurrent = 1, kAvailable = 2, kFull = 3, kEmpty = 4 };

}  // namespace detail

class FixedPool {
 public:
  // A pool of slots of `slot_size` bytes aligned to `alignment` (a power of two; raised to
  // alignof(void*)). Throws std::invalid_argument for a zero size or a bad alignment or chunk
  // size. No memory is taken until the first allocation.
  explicit FixedPool(std::size_t slot_size, std::size_t alignment = alignof(std::max_align_t),
                     PoolOptions options = {});
  // Returns every chunk to its source. Slots still live become invalid.
  ~FixedPool();
  FixedPool(const FixedPool&) = delete;
  FixedPool& operator=(const FixedPool&) = delete;

  // A slot of slot_size() bytes aligned to alignment(). Throws std::bad_alloc when the chunk
  // source has no memory.
  void* allocate() {
    if (void* p = try_allocate()) return p;
    throw std::bad_alloc();
  }

  // As allocate, but returns nullptr when the chunk source has no memory.
  void* try_allocate() noexcept {
    if (debug_) [[unlikely]] return allocate_debug();
    return allocate_plain();
  }

  // Returns a slot. Requires: p came from this pool's allocate and is live (checked in debug
  // mode, which reports a double free or a foreign pointer instead of corrupting the pool).
  // nullptr is ignored.
  void deallocate(void* p) noexcept {
    if (p == nullptr) return;
    if (debug_) [[unlikely]] {
      deallocate_debug(p);
      return;
    }
    deallocate_plain(p);
  }

  // True when p points at a slot of this pool (live or free). Safe for any pointer value.
  // O(chunks) in the worst case; meant for assertions and debugging, not hot paths.
  bool owns(const void* p) const noexcept;

  // Returns every empty chunk to the source. Returns the bytes given back.
  std::size_t trim() noexcept;

  // Counters and the chunk occupancy histogram (walks the chunks: O(chunks)).
  PoolStats stats() const noexcept;

  // Calls f(void* slot) for each live slot, in no particular order. O(chunk capacity) per
  // chunk, plus a temporary bitmap. Must not allocate from or deallocate to this pool.
  template <class F>
  void for_each_allocated(F&& f) const;

  std::size_t slot_size() const noexcept { return slot_size_; }
  std::size_t stride() const noexcept { return stride_; }
  std::size_t alignment() const noexcept { return alignment_; }
  std::size_t chunk_size() const noexcept { return chunk_size_; }
  std::size_t capacity_per_chunk() const noexcept { return capacity_; }
  // Counters readable from any thread (relaxed atomics), without the rest of stats().
  std::size_t live() const noexcept { return live_.load(std::memory_order_relaxed); }
  std::size_t peak() const noexcept { return peak_.load(std::memory_order_relaxed); }
  std::size_t chunk_count() const noexcept { return chunks_.load(std::memory_order_relaxed); }
  const char* name() const noexcept { return name_; }
  bool debug() const noexcept { return debug_; }

  // The chunk a slot lies in (no check that it is ours).
  detail::ChunkHeader* chunk_of(const void* p) const noexcept {
    return reinterpret_cast<detail::ChunkHeader*>(reinterpret_cast<std::uintptr_t>(p) & ~(chunk_size_ - 1));
  }

 private:
  void* allocate_plain() noexcept {
    detail::ChunkHeader* c = current_;
    void* p = c->free;
    if (p != nullptr) {
      detail::asan_unpoison(p, stride_);
      c->free = *static_cast<void**>(p);
    } else if (c->bump != c->end) {
      p = c->bump;
      c->bump += stride_;
    } else {
      return allocate_slow();
    }
    ++c->live;
    const std::size_t live = live_.load(std::memory_order_relaxed) + 1;
    live_.store(live, std::memory_order_relaxed);
    if (live > peak_.load(std::memory_order_relaxed)) peak_.store(live, std::memory_order_relaxed);
    return p;
  }

  void deallocate_plain(void* p) noexcept {
    detail::ChunkHeader* c = chunk_of(p);
    *static_cast<void**>(p) = c->free;
    c->free = p;
    detail::asan_poison(p, stride_);
    live_.store(live_.load(std::memory_order_relaxed) - 1, std::memory_order_relaxed);
    // The current chunk emptying is the common case of a free right after an allocation: it
    // stays current, nothing to do.
    if ((--c->live == 0 && c != current_) || c->state == detail::kFull) [[unlikely]] deallocate_slow(c);
  }

  void* allocate_slow() noexcept;
  void deallocate_slow(detail::ChunkHeader* c) noexcept;
  void* allocate_debug() noexcept;
  void deallocate_debug(void* p) noexcept;
  detail::ChunkHeader* new_chunk() noexcept;
  void release_chunk(detail::ChunkHeader* c) noexcept;
  void list_push(detail::ChunkHeader*& head, detail::ChunkHeader* c) noexcept;
  void list_remove(detail::ChunkHeader*& head, detail::ChunkHeader* c) noexcept;
  void make_empty(detail::ChunkHeader* c) noexcept;
  void free_slot_bitmap(const detail::ChunkHeader* c, std::uint64_t* bits) const noexcept;

  // Hot fields first.
  detail::ChunkHeader* current_;  // where allocations come from; a static exhausted sentinel at first
  std::size_t stride_;
  std::size_t chunk_size_;
  bool debug_;
  std::atomic<std::size_t> live_{0};
  std::atomic<std::size_t> peak_{0};

  std::size_t slot_size_;
  std::size_t alignment_;
  std::size_t slots_offset_;  // from chunk start to the first slot
  std::size_t capacity_;      // slots per chunk
  std::size_t max_empty_;
  const char* name_;
  ChunkSource* source_;
  detail::ChunkHeader* available_ = nullptr;  // chunks with a free slot, not current
  detail::ChunkHeader* empty_ = nullptr;      // chunks with no live slot, kept for reuse
  detail::ChunkHeader* all_ = nullptr;        // every chunk
  std::size_t empty_count_ = 0;
  std::atomic<std::size_t> chunks_{0};
  std::unordered_set<std::uintptr_t> chunk_set_;  // chunk addresses, for owns() and debug checks
  bool published_ = false;  // registered with fragscope's shim (bridge.h)
};

template <class F>
void FixedPool::for_each_allocated(F&& f) const {
  const std::size_t words = (capacity_ + 63) / 64;
  auto* free_bits = new std::uint64_t[words];
  for (detail::ChunkHeader* c = all_; c != nullptr; c = c->all_next) {
    if (c->live == 0) continue;
    free_slot_bitmap(c, free_bits);
    const std::size_t used = static_cast<std::size_t>(c->bump - c->slots) / stride_;
    for (std::size_t i = 0; i < used; ++i) {
      if ((free_bits[i / 64] >> (i % 64) & 1) == 0) f(static_cast<void*>(c->slots + i * stride_));
    }
  }
  delete[] free_bits;
}

}  // namespace fragscope::pools
