// FixedPool: a single-threaded pool of fixed-size slots with O(1) allocate, deallocate and
// chunk lookup, that gives empty chunks back to their source. The building block of every other
// pool kind here.
//
// Memory layout. Chunks are `chunk_size` bytes, aligned to `chunk_size`, so the chunk of a slot
// is its address with the low bits cleared. A chunk starts with its header; slots follow at a
// multiple of the alignment. A new chunk is never written beyond its header and its slot bitmap
// (1 bit per slot): slots are handed out from a bump pointer first, so pages are touched only
// when a slot on them is used.
//
// Free slots. Allocations come from one chunk at a time, the current one. A slot freed into the
// current chunk goes on its free list (the link is stored in the slot): the fast path, a pop and
// a push. A slot freed into any other chunk is parked: it only sets its bit in that chunk's
// bitmap and is not written, so freeing many blocks in random order (an ObjectPool whose objects
// die in any order) touches bitmaps that stay in cache instead of one cold line per block. When
// a chunk becomes current again its parked slots are handed out straight from the bitmap, a word
// (64 slots) at a time. A chunk whose last slot is freed becomes empty: kept for reuse up to
// `max_empty_chunks`; beyond that, empty chunks go back `release_batch` at a time. Debug mode
// keeps every free slot on its chunk's free list instead, so that each one is poisoned and
// checked on reuse.
//
// Thread safety: none. One thread at a time per pool (see SharedFixedPool for threads); `stats`
// counters `live`, `peak`, `chunks` and `committed_bytes` may be read from any thread through
// fragscope's snapshot bridge.
#pragma once

#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <new>
#include <unordered_set>

#include "fragscope/pools/detail/sanitizer.hpp"
#include "fragscope/pools/options.hpp"

namespace fragscope::pools {

class FixedPool;

namespace detail {

// Per chunk. Invariant: live + |free list| + parked + popcount(word) + (end − bump) / stride ==
// capacity, where parked is the number of bits set in bits() (not debug mode); for the current
// chunk, `live` is not kept up to date (FixedPool::current_live gives it).
struct ChunkHeader {
  void* free = nullptr;       // freed slots, linked through their first word
  char* bump = nullptr;       // first never-used slot
  char* end = nullptr;        // end of the last whole slot
  std::uint32_t live = 0;
  std::uint32_t state = 0;    // ChunkState
  char* slots = nullptr;      // first slot
  std::uint32_t scan = 0;     // while current: bitmap words below this one are all zero
  std::uint64_t word = 0;     // while current: parked slots taken out of the bitmap, handed out next
  char* word_base = nullptr;  // the slot of word's bit 0
  ChunkHeader* prev = nullptr;  // links in the available or empty list (or the all-chunks ring)
  ChunkHeader* next = nullptr;
  ChunkHeader* all_prev = nullptr;  // every chunk of the pool, for owns / stats / destruction
  ChunkHeader* all_next = nullptr;
  FixedPool* owner = nullptr;

  // The chunk's bitmap, the words right after the header, one bit per slot: set while the slot
  // is parked, or in debug mode set while the slot is live.
  std::uint64_t* bits() noexcept { return reinterpret_cast<std::uint64_t*>(this + 1); }
  const std::uint64_t* bits() const noexcept { return reinterpret_cast<const std::uint64_t*>(this + 1); }
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

  // The start of the chunk a slot lies in (no check that it is ours).
  void* chunk_base(const void* p) const noexcept {
    return reinterpret_cast<void*>(reinterpret_cast<std::uintptr_t>(p) & ~(chunk_size_ - 1));
  }

  // The header of the chunk a slot lies in (no check that it is ours). Headers are coloured: a
  // chunk's header sits k·64 bytes into it, k taken from the chunk's address (k < 16, one colour
  // per 4 KiB of chunk: a 4 KiB chunk has one, a 64 KiB chunk sixteen, costing 960 bytes of it).
  // Chunk-aligned addresses all fall into the same few cache sets (two of the L2's, one of the
  // L1's), so frees touching the headers of hundreds of chunks in random order would otherwise
  // miss on them; coloured, they spread over sixteen times as many sets.
  detail::ChunkHeader* chunk_of(const void* p) const noexcept {
    return header_at(reinterpret_cast<std::uintptr_t>(p) & ~(chunk_size_ - 1));
  }

 private:
  // The current chunk's live count is not kept on the fast path: it is the pool's live count
  // minus the other chunks'. Written back to the header when the chunk stops being current.
  std::size_t current_live() const noexcept { return live_.load(std::memory_order_relaxed) - others_live_; }
  std::size_t chunk_live(const detail::ChunkHeader* c) const noexcept {
    return c == current_ ? current_live() : c->live;
  }

  void set_current(detail::ChunkHeader* c) noexcept {
    if (current_ != c) {
      if (current_->slots != nullptr) {
        current_->live = static_cast<std::uint32_t>(current_live());
        others_live_ += current_->live;
      }
      if (c->slots != nullptr) others_live_ -= c->live;
    }
    current_ = c;
    // The sentinel has no chunk: 1 is no chunk's base.
    current_base_ = c->slots != nullptr ? reinterpret_cast<std::uintptr_t>(c) & ~(chunk_size_ - 1) : 1;
  }

  detail::ChunkHeader* header_at(std::uintptr_t base) const noexcept {
    return reinterpret_cast<detail::ChunkHeader*>(base + (((base >> chunk_shift_) & colour_mask_) << 6));
  }

  void* allocate_plain() noexcept {
    detail::ChunkHeader* c = current_;
    void* p = c->free;
    if (p != nullptr) {
      detail::asan_unpoison(p, stride_);
      c->free = *static_cast<void**>(p);
    } else if (c->word != 0) {
      // Parked slots, one bitmap word at a time: lowest address first.
      p = c->word_base + static_cast<std::size_t>(std::countr_zero(c->word)) * stride_;
      c->word &= c->word - 1;
      detail::asan_unpoison(p, stride_);
    } else if (c->bump != c->end) {
      p = c->bump;
      c->bump += stride_;
    } else {
      return allocate_slow();
    }
    const std::size_t live = live_.load(std::memory_order_relaxed) + 1;
    live_.store(live, std::memory_order_relaxed);
    if (live > peak_.load(std::memory_order_relaxed)) peak_.store(live, std::memory_order_relaxed);
    return p;
  }

  void deallocate_plain(void* p) noexcept {
    const std::uintptr_t base = reinterpret_cast<std::uintptr_t>(p) & ~(chunk_size_ - 1);
    live_.store(live_.load(std::memory_order_relaxed) - 1, std::memory_order_relaxed);
    if (base == current_base_) {
      // A free right after an allocation: back on the free list. The current chunk emptying
      // needs nothing either: it stays current.
      detail::ChunkHeader* c = current_;
      *static_cast<void**>(p) = c->free;
      c->free = p;
      detail::asan_poison(p, stride_);
      return;
    }
    // Another chunk: park the slot in the chunk's bitmap without writing to it. The index is an
    // exact division by the stride: a shift, and a multiply by the inverse of its odd part.
    detail::ChunkHeader* c = header_at(base);
    const std::size_t index =
        ((reinterpret_cast<std::uintptr_t>(p) - base - slots_offset_) >> stride_shift_) * stride_inverse_;
    c->bits()[index / 64] |= std::uint64_t{1} << (index % 64);
    detail::asan_poison(p, stride_);
    --others_live_;
    if (--c->live == 0 || c->state == detail::kFull) [[unlikely]] deallocate_slow(c);
  }

  std::size_t bitmap_words() const noexcept { return (capacity_ + 63) / 64; }
  void deallocate_listed(void* p) noexcept;
  void refill_from_bits(detail::ChunkHeader* c) noexcept;
  void* allocate_slow() noexcept;
  void deallocate_slow(detail::ChunkHeader* c) noexcept;
  void* allocate_debug() noexcept;
  void deallocate_debug(void* p) noexcept;
  detail::ChunkHeader* new_chunk() noexcept;
  void release_chunk(detail::ChunkHeader* c) noexcept;
  void* detach_chunk(detail::ChunkHeader* c) noexcept;
  std::size_t release_empty(std::size_t n) noexcept;
  void list_push(detail::ChunkHeader*& head, detail::ChunkHeader* c) noexcept;
  void list_remove(detail::ChunkHeader*& head, detail::ChunkHeader* c) noexcept;
  void make_empty(detail::ChunkHeader* c) noexcept;
  void free_slot_bitmap(const detail::ChunkHeader* c, std::uint64_t* bits) const noexcept;

  // Hot fields first.
  detail::ChunkHeader* current_;  // where allocations come from; a static exhausted sentinel at first
  std::uintptr_t current_base_ = 1;  // the start of current_'s chunk (1 for the sentinel)
  std::size_t others_live_ = 0;      // live slots in chunks other than current_
  std::size_t stride_;
  std::size_t chunk_size_;
  std::atomic<std::size_t> live_{0};
  std::atomic<std::size_t> peak_{0};
  std::size_t slots_offset_;          // from chunk start to the first slot
  std::uintptr_t colour_mask_;        // header colours − 1 (see chunk_of)
  std::size_t stride_inverse_;        // inverse of stride_ >> stride_shift_, modulo 2^64
  unsigned chunk_shift_;              // log2(chunk_size_)
  unsigned stride_shift_;             // trailing zero bits of stride_
  bool debug_;
  bool published_ = false;            // registered with fragscope's shim (bridge.h)
  std::uint32_t release_batch_;       // empty chunks beyond max_empty_ go back this many at a time

  std::size_t slot_size_;
  std::size_t alignment_;
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
};

template <class F>
void FixedPool::for_each_allocated(F&& f) const {
  auto* free_bits = new std::uint64_t[bitmap_words()];
  for (detail::ChunkHeader* c = all_; c != nullptr; c = c->all_next) {
    if (chunk_live(c) == 0) continue;
    free_slot_bitmap(c, free_bits);
    const std::size_t used = static_cast<std::size_t>(c->bump - c->slots) / stride_;
    for (std::size_t i = 0; i < used; ++i) {
      if ((free_bits[i / 64] >> (i % 64) & 1) == 0) f(static_cast<void*>(c->slots + i * stride_));
    }
  }
  delete[] free_bits;
}

}  // namespace fragscope::pools
